import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { temporal as proto } from '@temporalio/proto';
import type { TemporalConfig } from '../config/index.js';
import type { Logger } from '../lib/logger.js';
import { ALL_SEARCH_ATTRIBUTES } from './search-attributes.js';

/** Connection settings shared by the client (API) and the worker; reaches any cluster, Temporal Cloud included. */
async function connectionOptions(config: TemporalConfig, address: string) {
  const tls =
    config.tls === false
      ? undefined
      : {
          ...(config.tls.serverName ? { serverNameOverride: config.tls.serverName } : {}),
          ...(config.tls.caPath ? { serverRootCACertificate: await readFile(config.tls.caPath) } : {}),
          ...(config.tls.certPath && config.tls.keyPath
            ? { clientCertPair: { crt: await readFile(config.tls.certPath), key: await readFile(config.tls.keyPath) } }
            : {}),
        };
  return {
    address,
    ...(tls ? { tls } : {}),
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
  };
}

export async function connectClient(config: TemporalConfig, address: string): Promise<{ client: Client; connection: Connection }> {
  const options: ConnectionOptions = await connectionOptions(config, address);
  const connection = await Connection.connect(options);
  return { connection, client: new Client({ connection, namespace: config.namespace }) };
}

export async function connectWorker(config: TemporalConfig, address: string): Promise<NativeConnection> {
  const options: NativeConnectionOptions = await connectionOptions(config, address);
  return NativeConnection.connect(options);
}

/** Our search attributes with their indexed value types, as the operator API takes them. */
export function searchAttributeTypes(): Record<string, proto.api.enums.v1.IndexedValueType> {
  const type = proto.api.enums.v1.IndexedValueType;
  return Object.fromEntries(
    ALL_SEARCH_ATTRIBUTES.map((key) => [
      key.name,
      key.type === 'KEYWORD_LIST' ? type.INDEXED_VALUE_TYPE_KEYWORD_LIST : type.INDEXED_VALUE_TYPE_KEYWORD,
    ]),
  );
}

/**
 * Registers our search attributes on the namespace when they are missing. On clusters where the operator API is
 * closed to us (Temporal Cloud), ops register them once in the Cloud UI; we only warn.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string, logger: Logger): Promise<void> {
  const wanted = searchAttributeTypes();
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.fromEntries(
      Object.entries(wanted).filter(([name]) => existing.customAttributes?.[name] === undefined),
    );
    if (Object.keys(missing).length === 0) return;
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    logger.info({ searchAttributes: Object.keys(missing) }, 'registered search attributes');
  } catch (error) {
    logger.warn(
      { err: error, searchAttributes: Object.keys(wanted) },
      'could not register search attributes; register them on the namespace before starting workflows',
    );
  }
}
