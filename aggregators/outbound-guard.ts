import { promises as dns } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { addressRefusal, checkUrl, isAllowListed, type OutboundPolicy } from '../lib/outbound-address.js';

/*
 * The one way the service reaches an aggregator. A URL is checked when it is set (the API, the configuration) and
 * again on every connection: the name is resolved, each address checked, and the socket opened to the address that
 * was checked, so a name that answered a public address to the first look-up and a private one to the next (DNS
 * rebinding) reaches nothing. Redirects are not followed: the host that answers is the host that was checked.
 */

/** How long a URL's check waits for its host's addresses as it is set. */
const RESOLVE_TIMEOUT_MS = 5_000;

/**
 * The largest answer read from an aggregator. Their answers are small JSON documents (a page of slots is tens of
 * kilobytes); a host that streams more is cut off, so a broken or hostile endpoint cannot fill the worker's memory.
 */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** An answer longer than MAX_ANSWER_BYTES: the call failed, and is retried like any failed call. */
export class AnswerTooLargeError extends Error {
  constructor() {
    super(`the answer exceeded ${MAX_ANSWER_BYTES} bytes and was cut off`);
    this.name = 'AnswerTooLargeError';
  }
}

export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** An aggregator URL or address the guard will not connect to. Retrying cannot help: the configuration must change. */
export class OutboundRefusedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'OutboundRefusedError';
  }
}

export interface OutboundGuard {
  readonly policy: OutboundPolicy;
  /**
   * Why `url` may not be an aggregator's URL (checked as the API and the configuration set it), or undefined.
   * `requireResolvable` (default: in production) refuses a host name that does not resolve now.
   */
  refusal: (url: string, options?: { requireResolvable?: boolean }) => Promise<string | undefined>;
  /** fetch, for aggregator calls only: the URL and every address it resolves to are checked first. */
  fetch: (url: string, init: GuardedRequestInit) => Promise<Response>;
}

export interface GuardedRequestInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /**
   * Keep at most this many bytes of the answer and hang up on the rest (default: all of it). For callers that show
   * only a summary of the answer (the event delivery), so a receiver answering gigabytes costs nothing.
   */
  maxResponseBytes?: number;
}

export function createOutboundGuard(policy: OutboundPolicy, resolve: Resolver = systemResolver): OutboundGuard {
  async function refusal(raw: string, options: { requireResolvable?: boolean } = {}): Promise<string | undefined> {
    const verdict = checkUrl(raw, policy);
    if (!verdict.ok) return verdict.reason;
    if (!verdict.resolve) return undefined;
    let addresses: Array<{ address: string }>;
    let timer: NodeJS.Timeout | undefined;
    try {
      // A request must not wait on a resolver that does not answer; the connection checks again anyway.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('no answer'), { code: 'ETIMEOUT' })), RESOLVE_TIMEOUT_MS);
      });
      addresses = await Promise.race([resolve(verdict.host), late]);
    } catch (error) {
      // In production a URL nobody can reach is refused as it is set rather than found out by the first sync;
      // locally a name may well only exist later (a sandbox, a container). Either way the connection checks again.
      if (!(options.requireResolvable ?? policy.production)) return undefined;
      return `its host ${verdict.host} does not resolve (${error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error)})`;
    } finally {
      clearTimeout(timer);
    }
    for (const { address } of addresses) {
      const refused = addressRefusal(address, policy, verdict.allowListed);
      if (refused !== undefined) return `must not point at ${verdict.host}: it resolves to ${address}, ${refused}`;
    }
    return undefined;
  }

  /**
   * The socket's own look-up: resolve, refuse if any answer is not allowed (the connection may pick any of them),
   * and hand back only checked addresses.
   */
  const lookup = ((hostname: string, options: { all?: boolean; family?: number }, callback: (...args: unknown[]) => void) => {
    const allowListed = isAllowListed(hostname, policy);
    resolve(hostname).then(
      (answers) => {
        const wanted = options.family === 4 || options.family === 6 ? answers.filter((a) => a.family === options.family) : answers;
        for (const { address } of answers) {
          const refused = addressRefusal(address, policy, allowListed);
          if (refused !== undefined) {
            callback(new OutboundRefusedError(`${hostname} resolves to ${address}, ${refused}`));
            return;
          }
        }
        const first = wanted[0];
        if (first === undefined) {
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
          return;
        }
        if (options.all) callback(null, wanted.map(({ address, family }) => ({ address, family })));
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error),
    );
  }) as unknown as LookupFunction;

  // Agents of their own, so a pooled socket is only ever one this guard opened (keep-alive reuses a checked address).
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  function guardedFetch(raw: string, init: GuardedRequestInit): Promise<Response> {
    const verdict = checkUrl(raw, policy);
    if (!verdict.ok) return Promise.reject(new OutboundRefusedError(`the URL ${verdict.reason}`));
    const { url } = verdict;
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolvePromise, reject) => {
      const request = transport.request(url, {
        method: init.method,
        headers: init.headers,
        agent: agents[url.protocol as 'http:' | 'https:'],
        lookup,
        ...(init.signal ? { signal: init.signal } : {}),
      });
      request.on('error', reject);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
          }
          const status = response.statusCode ?? 502;
          const empty = status === 204 || status === 205 || status === 304 || init.method === 'HEAD';
          resolvePromise(new Response(empty ? null : Buffer.concat(chunks), { status, statusText: response.statusMessage ?? '', headers }));
        };
        response.on('data', (chunk: Buffer) => {
          if (finished) return;
          // Without a cap of the caller's, the whole answer is wanted (an aggregator's JSON): past MAX_ANSWER_BYTES the
          // call fails. With one (a delivery needs only the status and a few words of the body), the rest is dropped.
          if (init.maxResponseBytes === undefined && kept + chunk.length > MAX_ANSWER_BYTES) {
            finished = true;
            reject(new AnswerTooLargeError());
            request.destroy();
            return;
          }
          const room = init.maxResponseBytes === undefined ? chunk.length : init.maxResponseBytes - kept;
          chunks.push(room >= chunk.length ? chunk : chunk.subarray(0, Math.max(room, 0)));
          kept += Math.min(chunk.length, Math.max(room, 0));
          if (init.maxResponseBytes !== undefined && kept >= init.maxResponseBytes) {
            finish();
            response.destroy();
          }
        });
        response.on('error', (error) => {
          if (!finished) reject(error);
        });
        response.on('aborted', () => {
          if (!finished) reject(Object.assign(new Error('the answer was cut off'), { name: 'AbortError' }));
        });
        response.on('end', finish);
      });
      request.end(init.body);
    });
  }

  return { policy, refusal, fetch: guardedFetch };
}

/*
 * The process's guard. The API and the worker read it when they check or call an aggregator URL; start-up installs
 * it from the configuration (bin/service.ts). Until then it is the guard of a development machine: loopback and
 * private addresses allowed, metadata and link-local ones refused.
 */
let installed: OutboundGuard = createOutboundGuard({ production: false, allowHosts: [] });

export function installOutboundGuard(guard: OutboundGuard): void {
  installed = guard;
}

export function outboundGuard(): OutboundGuard {
  return installed;
}

/**
 * The configured aggregator URLs whose host resolves to an address the guard refuses, as `VARIABLE: why` lines for
 * a start-up refusal. A name that does not resolve right now does not stop the start (DNS may be down for a moment;
 * every call checks again).
 */
export async function refusedConfiguredUrls(urls: Record<string, string>, guard: OutboundGuard): Promise<string[]> {
  const refused = await Promise.all(
    Object.entries(urls).map(async ([variable, url]) => {
      const why = await guard.refusal(url, { requireResolvable: false });
      return why === undefined ? [] : [`${variable}: ${why}`];
    }),
  );
  return refused.flat();
}
