import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A studio backend receiving signed events, verifying every one as the Standard Webhooks specification says (written
 * here from the specification, not with the service's signer): the key is the base64 part of the `whsec_` secret,
 * the signed content `${webhook-id}.${webhook-timestamp}.${body}`, any one `v1,` signature of the header may match,
 * and the timestamp must be within 5 minutes of now. It records every request and each event it accepted.
 */
export interface ReceivedEvent {
  id: string;
  timestamp: number;
  type: string;
  body: { type: string; timestamp: string; data: Record<string, unknown> };
}

export type ReceiverMode = 'ok' | 'error' | 'throttle' | 'refuse';

export interface EventReceiver {
  url: string;
  /** Secrets it verifies with (the one shown at creation; a rotated one added). */
  secrets: string[];
  mode: ReceiverMode;
  /** Events answered 2xx, in the order they arrived. */
  accepted: ReceivedEvent[];
  /** Every request: its id, whether its signature verified, and what was answered. */
  requests: Array<{ id: string; verified: boolean; status: number | 'refused' }>;
  /** Requests whose signature did not verify (must stay empty). */
  forged(): number;
  close(): Promise<void>;
}

function verifies(secrets: readonly string[], id: string, timestamp: string, signature: string, body: string): boolean {
  return secrets.some((secret) => {
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
    return signature.split(' ').some((part) => {
      const [version, sig] = part.split(',');
      if (version !== 'v1' || sig === undefined) return false;
      const given = Buffer.from(sig, 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  });
}

export async function startEventReceiver(): Promise<EventReceiver> {
  const receiver: Omit<EventReceiver, 'url' | 'close'> = {
    secrets: [],
    mode: 'ok',
    accepted: [],
    requests: [],
    forged: () => receiver.requests.filter((r) => !r.verified).length,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      const timestamp = String(req.headers['webhook-timestamp'] ?? '');
      const signature = String(req.headers['webhook-signature'] ?? '');
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
      const verified = fresh && verifies(receiver.secrets, id, timestamp, signature, body);
      if (receiver.mode === 'refuse') {
        receiver.requests.push({ id, verified, status: 'refused' });
        req.socket.destroy();
        return;
      }
      const status = !verified ? 401 : receiver.mode === 'error' ? 500 : receiver.mode === 'throttle' ? 429 : 204;
      receiver.requests.push({ id, verified, status });
      if (status === 204) {
        const parsed = JSON.parse(body) as ReceivedEvent['body'];
        receiver.accepted.push({ id, timestamp: Number(timestamp), type: parsed.type, body: parsed });
      }
      if (status === 429) res.setHeader('Retry-After', '2');
      res.statusCode = status;
      res.end(status === 500 ? '<html><body>Internal <b>error</b> token=abcdefghijklmnopqrstuvwxyz0123456789</body></html>' : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  return Object.assign<Omit<EventReceiver, 'url' | 'close'>, Pick<EventReceiver, 'url' | 'close'>>(receiver, {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
