import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, errorFields } from '../../lib/logger.js';
import { hashApiKey, newApiKey, SecretBox } from '../../lib/secrets.js';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32).toString('base64'));

  it('round-trips and never contains the plaintext', () => {
    const sealed = box.sealJson({ apiToken: 'tok-123', webhookSecret: 'whsec' });
    expect(sealed).not.toContain('tok-123');
    expect(box.openJson(sealed)).toEqual({ apiToken: 'tok-123', webhookSecret: 'whsec' });
    expect(box.seal('same')).not.toBe(box.seal('same'));
  });

  it('detects tampering and a wrong key', () => {
    const sealed = Buffer.from(box.seal('secret'), 'base64');
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 1;
    expect(() => box.open(sealed.toString('base64'))).toThrow();
    const other = new SecretBox(randomBytes(32).toString('base64'));
    expect(() => other.open(box.seal('secret'))).toThrow();
  });
});

describe('API keys', () => {
  it('are random, prefixed, and stored only as a hash', () => {
    const a = newApiKey();
    const b = newApiKey();
    expect(a.key).not.toBe(b.key);
    expect(a.key.startsWith(a.prefix)).toBe(true);
    expect(a.hash).toBe(hashApiKey(a.key));
    expect(a.hash).not.toContain(a.key);
  });
});

describe('logger', () => {
  it('redacts credentials wherever they appear in a log object', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger('info', sink);
    logger.info({ connection: { apiToken: 'tok-secret', webhookSecret: 'wh-secret' }, password: 'pw', req: { headers: { authorization: 'Bearer k' } } }, 'x');
    const out = lines.join('');
    expect(out).not.toMatch(/tok-secret|wh-secret|"pw"|Bearer k/);
    expect(out).toContain('[redacted]');
  });
});

describe('errors in logs', () => {
  // A pg error as the driver raises it: message and code, and the client it came from with all its internals.
  const graph = () => {
    const client = { connectionParameters: { host: 'db', port: 5432 }, queryQueue: Array.from({ length: 200 }, (_, i) => ({ text: `select ${i}` })) };
    return Object.assign(new Error('Connection terminated unexpectedly'), { code: '57P01', client });
  };
  const capture = () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return { logger: createLogger('info', sink), lines };
  };

  it('are logged with their message and code only, whether passed through errorFields or as err', () => {
    const { logger, lines } = capture();
    logger.warn(errorFields(graph()), 'a PostgreSQL connection was lost');
    logger.warn({ err: graph() }, 'lifecycle relay failed');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.length).toBeLessThan(400);
      expect(line).toContain('Connection terminated unexpectedly');
      expect(line).toContain('57P01');
      expect(line).not.toContain('queryQueue');
    }
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ error: 'Connection terminated unexpectedly', code: '57P01' });
    expect(JSON.parse(lines[1] ?? '{}')).toMatchObject({ err: { error: 'Connection terminated unexpectedly', code: '57P01' } });
  });

  it('reads what is not an Error too', () => {
    expect(errorFields('plain text')).toEqual({ error: 'plain text' });
    expect(errorFields({ code: 'ECONNREFUSED' })).toEqual({ error: '{"code":"ECONNREFUSED"}', code: 'ECONNREFUSED' });
    expect(errorFields(undefined)).toEqual({ error: 'undefined' });
  });
});
