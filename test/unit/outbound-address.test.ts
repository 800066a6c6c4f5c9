import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregatorHttpError, JsonHttpClient, SHOWN_MESSAGE_MAX, shownAggregatorMessage } from '../../aggregators/http.js';
import { createOutboundGuard, installOutboundGuard, refusedConfiguredUrls } from '../../aggregators/outbound-guard.js';
import { addressRefusal, checkUrl, classifyAddress, normalizeHost, type AddressClass, type OutboundPolicy } from '../../lib/outbound-address.js';

const PRODUCTION: OutboundPolicy = { production: true, allowHosts: [] };
const LOCAL: OutboundPolicy = { production: false, allowHosts: [] };

describe('classifyAddress', () => {
  const cases: Array<[string, AddressClass]> = [
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.63.255.255', 'public'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['100.128.0.0', 'public'],
    ['100.100.100.200', 'metadata'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['172.15.255.255', 'public'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', 'public'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['192.168.0.1', 'private'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['::ffff:0:10.0.0.1', 'private'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['64:ff9b:1::1', 'private'],
    ['2002:c0a8:0101::1', 'private'],
    ['2002:0808:0808::1', 'public'],
    ['100::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fd00:ec2::254', 'metadata'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:82a::200e', 'public'],
    ['4000::1', 'reserved'],
    ['example.com', 'invalid'],
    ['1.2.3', 'invalid'],
    ['256.1.1.1', 'invalid'],
  ];
  it.each(cases)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  const octet = fc.integer({ min: 0, max: 255 });
  const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
  const hex16 = (a: number, b: number) => ((a << 8) | b).toString(16);

  it('judges an IPv4 address carried in IPv6 (mapped, SIIT, NAT64) as that IPv4 address', () => {
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), ([a, b, c, d]) => {
        const v4 = `${a}.${b}.${c}.${d}`;
        const expected = classifyAddress(v4);
        for (const form of [`::ffff:${v4}`, `::ffff:${hex16(a, b)}:${hex16(c, d)}`, `::ffff:0:${v4}`, `64:ff9b::${v4}`, `64:ff9b::${hex16(a, b)}:${hex16(c, d)}`]) {
          expect(classifyAddress(form), form).toBe(expected);
        }
      }),
    );
  });

  it('never calls an address of a private, loopback, link-local, CGNAT, multicast or reserved range public', () => {
    const inRange = (prefix: number[], bits: number) =>
      ipv4.map((random) => {
        const r = random.split('.').map(Number);
        const fixed = [...prefix, 0, 0, 0, 0].slice(0, 4);
        const mask = (i: number) => {
          const kept = Math.max(0, Math.min(8, bits - i * 8));
          return (0xff << (8 - kept)) & 0xff;
        };
        return fixed.map((f, i) => (f & mask(i)) | ((r[i] as number) & ~mask(i) & 0xff)).join('.');
      });
    const ranges = fc.oneof(
      inRange([0], 8),
      inRange([10], 8),
      inRange([100, 64], 10),
      inRange([127], 8),
      inRange([169, 254], 16),
      inRange([172, 16], 12),
      inRange([192, 168], 16),
      inRange([198, 18], 15),
      inRange([224], 4),
      inRange([240], 4),
    );
    fc.assert(
      fc.property(ranges, (address) => {
        expect(classifyAddress(address), address).not.toBe('public');
        expect(addressRefusal(address, PRODUCTION), address).toBeDefined();
        expect(checkUrl(`https://${address}/`, PRODUCTION).ok, address).toBe(false);
      }),
    );
  });

  it('never calls an IPv6 unique-local, link-local, multicast or non-global address public', () => {
    const group = fc.integer({ min: 0, max: 0xffff });
    const v6 = (first: fc.Arbitrary<number>) => fc.tuple(first, fc.array(group, { minLength: 7, maxLength: 7 })).map(([g0, rest]) => [g0, ...rest].map((g) => g.toString(16)).join(':'));
    const special = fc.oneof(
      v6(fc.integer({ min: 0xfc00, max: 0xfdff })),
      v6(fc.integer({ min: 0xfe80, max: 0xfebf })),
      v6(fc.integer({ min: 0xff00, max: 0xffff })),
      v6(fc.integer({ min: 0x4000, max: 0xfbff })),
      v6(fc.integer({ min: 0x0000, max: 0x1fff })),
    );
    fc.assert(
      fc.property(special, (address) => {
        expect(classifyAddress(address), address).not.toBe('public');
        expect(checkUrl(`https://[${address}]/`, PRODUCTION).ok, address).toBe(false);
      }),
    );
  });

  it('refuses metadata and link-local addresses everywhere, and loopback and private ones only in production', () => {
    for (const policy of [LOCAL, PRODUCTION, { production: true, allowHosts: ['169.254.169.254'] }]) {
      expect(addressRefusal('169.254.169.254', policy, true)).toMatch(/metadata/);
      expect(addressRefusal('fe80::1', policy, true)).toMatch(/link-local/);
      expect(addressRefusal('fd00:ec2::254', policy, true)).toMatch(/metadata/);
    }
    for (const address of ['127.0.0.1', '::1', '10.0.0.1', '192.168.1.1', 'fd12::1', '100.64.0.1', '0.0.0.0']) {
      expect(addressRefusal(address, LOCAL), address).toBeUndefined();
      expect(addressRefusal(address, PRODUCTION), address).toMatch(/not a public one/);
      expect(addressRefusal(address, PRODUCTION, true), address).toBeUndefined();
    }
    expect(addressRefusal('8.8.8.8', PRODUCTION)).toBeUndefined();
  });
});

describe('checkUrl', () => {
  const refused = (url: string, policy = PRODUCTION) => {
    const verdict = checkUrl(url, policy);
    return verdict.ok ? undefined : verdict.reason;
  };

  it('wants https in production and http(s) everywhere', () => {
    expect(refused('http://api.partner.example/')).toMatch(/https in production/);
    expect(refused('ftp://api.partner.example/', LOCAL)).toMatch(/http\(s\)/);
    expect(refused('not a url', LOCAL)).toMatch(/valid URL/);
    expect(refused('http://127.0.0.1:4100', LOCAL)).toBeUndefined();
    expect(checkUrl('https://api.partner.example/v1', PRODUCTION)).toMatchObject({ ok: true, host: 'api.partner.example', resolve: true });
  });

  it('refuses credentials in the URL everywhere', () => {
    for (const url of ['https://user:pass@api.partner.example/', 'https://token@api.partner.example/', 'http://a:b@127.0.0.1:4100/']) {
      expect(refused(url, LOCAL), url).toMatch(/credentials/);
      expect(refused(url), url).toMatch(/credentials/);
    }
  });

  it('judges IP literals in every spelling the URL parser accepts, and localhost names, without DNS', () => {
    for (const url of [
      'https://127.0.0.1/',
      'https://2130706433/',
      'https://0x7f.1/',
      'https://0177.0.0.1/',
      'https://[::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[0:0:0:0:0:ffff:7f00:1]/',
      'https://localhost/',
      'https://LOCALHOST./',
      'https://api.localhost/',
    ]) {
      expect(refused(url), url).toMatch(/loopback/);
      expect(refused(url, LOCAL), url).toBeUndefined();
    }
    expect(refused('https://169.254.169.254/latest/meta-data/', LOCAL)).toMatch(/metadata/);
    expect(refused('http://[fd00:ec2::254]/', LOCAL)).toMatch(/metadata/);
    expect(refused('https://[fe80::1]/', LOCAL)).toMatch(/link-local/);
  });

  it('lets an allow-listed host through the public-address rule, but not through https or the metadata rule', () => {
    const policy = { production: true, allowHosts: ['10.0.0.5', 'gateway.internal', '::1'] };
    expect(refused('https://10.0.0.5/', policy)).toBeUndefined();
    expect(refused('https://[::1]/', policy)).toBeUndefined();
    expect(checkUrl('https://Gateway.Internal./x', policy)).toMatchObject({ ok: true, allowListed: true });
    expect(refused('http://10.0.0.5/', policy)).toMatch(/https/);
    expect(refused('https://10.0.0.6/', policy)).toMatch(/private/);
  });

  it('normalises allow-list hosts as URLs spell them', () => {
    expect(normalizeHost(' API.Example.COM. ')).toBe('api.example.com');
    expect(normalizeHost('[0:0:0:0:0:0:0:1]')).toBe('::1');
    expect(normalizeHost('FD00::0001')).toBe('fd00::1');
  });
});

describe('shownAggregatorMessage', () => {
  it('strips markup, control characters and terminal escapes, and redacts credentials', () => {
    const shown = shownAggregatorMessage(
      '<html><script>alert(1)</script><style>p{}</style><!-- x --><h1>Bad&nbsp;request</h1>\u001b[31m\r\nnext\u202eline ' +
        'Authorization: Bearer abc.def-123 token=s3cr3t "apiKey": "k-42" eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig ' +
        'Zx9kQ2mP7rT4vW8yB3nF6hJ1cL5 0123456789abcdef0123456789abcdef session 3f2a6c1e-8b9d-4e7f-a1b2-c3d4e5f60718',
    );
    expect(shown).toBe(
      'Bad request next line Authorization: Bearer [redacted] token=[redacted] "apiKey": "[redacted]" [redacted] [redacted] [redacted] ' +
        'session 3f2a6c1e-8b9d-4e7f-a1b2-c3d4e5f60718',
    );
  });

  it('is at most SHOWN_MESSAGE_MAX characters, with no markup or control characters, whatever the answer', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 3_000 }), (text) => {
        const shown = shownAggregatorMessage(text);
        expect([...shown].length).toBeLessThanOrEqual(SHOWN_MESSAGE_MAX);
        expect(shown).not.toMatch(/[<>\p{Cc}\p{Cf}]/u);
        expect(shownAggregatorMessage(shown)).toBe(shown);
      }),
    );
  });

  it('reads only the start of a huge answer, so its size cannot hold the worker for minutes, and shows no part of a key cut at the edge', () => {
    // A quarter of a megabyte of one letter took the patterns about 50 s (64 KB: 3 s; the time grows with the square).
    // Cut inside its one word, nothing of it is shown.
    expect(shownAggregatorMessage('x'.repeat(256 * 1024))).toBe('');
    expect(shownAggregatorMessage(`Gateway timeout ${'x'.repeat(256 * 1024)}`)).toBe('Gateway timeout');
    expect(shownAggregatorMessage('<a'.repeat(2 * 1024 * 1024))).toBe('');
    const key = 'Aa1' + 'k'.repeat(60);
    // Markup up to just before the edge, then a key straddling it: what is left of the key must not show.
    const straddling = '<b>'.repeat(Math.floor((8 * 1024 - 20) / 3)) + ' ' + key + ' tail';
    expect(shownAggregatorMessage(straddling)).not.toContain('Aa1k');
  }, 5_000);

  it('never shows an opaque key placed anywhere in the answer', () => {
    const keyChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
    const key = fc.array(keyChar, { minLength: 21, maxLength: 60 }).map((chars) => `Aa1${chars.join('')}`);
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), key, fc.string({ maxLength: 80 }), (before, secret, after) => {
        expect(shownAggregatorMessage(`${before} ${secret} ${after}`)).not.toContain(secret.slice(0, 12));
      }),
    );
  });
});

describe('the outbound guard on a real socket', () => {
  let server: Server;
  let port: number;
  const seen: Array<{ host: string | undefined; path: string | undefined }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ host: req.headers.host, path: req.url });
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
        return;
      }
      if (req.url === '/error') {
        res.writeHead(500, { 'content-type': 'text/html' }).end(`<html><body><h1>Internal error</h1>${'<p>trace line</p>'.repeat(500)}</body></html>`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    installOutboundGuard(createOutboundGuard(LOCAL));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const client = (baseUrl: string) => new JsonHttpClient({ aggregator: 'workit', baseUrl, timeoutMs: 2_000 });

  it('connects to the address it checked, under the name it was given', async () => {
    let asked = 0;
    installOutboundGuard(
      createOutboundGuard(LOCAL, () => {
        asked += 1;
        return Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
      }),
    );
    const response = await client(`http://partner.test:${port}`).request({ method: 'GET', path: '/ok', operation: 'health' });
    expect(response.body).toEqual({ ok: true });
    expect(seen.at(-1)).toEqual({ host: `partner.test:${port}`, path: '/ok' });
    expect(asked).toBe(1);
  });

  it('refuses, for good, a name that resolves to a refused address, before any byte is sent', async () => {
    installOutboundGuard(
      createOutboundGuard({ production: true, allowHosts: [] }, () =>
        Promise.resolve([
          { address: '93.184.215.14', family: 4 },
          { address: '127.0.0.1', family: 4 },
        ]),
      ),
    );
    const calls = seen.length;
    const error = await client(`https://partner.test:${port}`).request({ method: 'GET', path: '/ok', operation: 'health' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregatorHttpError);
    expect(error).toMatchObject({ retryable: false, status: undefined });
    expect((error as Error).message).toBe('workit health failed: refused to connect: partner.test resolves to 127.0.0.1, a loopback address, not a public one');
    expect(seen.length).toBe(calls);
  });

  it('refuses the cloud metadata service even outside production', async () => {
    installOutboundGuard(createOutboundGuard(LOCAL, () => Promise.resolve([{ address: '169.254.169.254', family: 4 }])));
    await expect(client('http://metadata.google.internal').request({ method: 'GET', path: '/', operation: 'health' })).rejects.toThrow(/metadata/);
    await expect(client('http://169.254.169.254').request({ method: 'GET', path: '/', operation: 'health' })).rejects.toThrow(/metadata/);
  });

  it('does not follow a redirect, and shows an error page as a short clean message', async () => {
    installOutboundGuard(createOutboundGuard(LOCAL));
    const redirect = await client(`http://127.0.0.1:${port}`).request({ method: 'GET', path: '/redirect', operation: 'health' }).catch((e: unknown) => e);
    expect(redirect).toMatchObject({ status: 302, retryable: false });
    expect(seen.filter((s) => s.path === '/latest/meta-data/')).toEqual([]);
    const failed = (await client(`http://127.0.0.1:${port}`).request({ method: 'GET', path: '/error', operation: 'health' }).catch((e: unknown) => e)) as AggregatorHttpError;
    expect(failed.aggregatorMessage.startsWith('Internal error trace line')).toBe(true);
    expect([...failed.aggregatorMessage].length).toBeLessThanOrEqual(SHOWN_MESSAGE_MAX);
    expect(JSON.stringify(failed)).not.toContain('<p>');
  });

  it('names the variable of a configured URL that resolves to a refused address', async () => {
    const guard = createOutboundGuard({ production: true, allowHosts: [] }, (host) =>
      host === 'down.example'
        ? Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }))
        : Promise.resolve([{ address: host === 'wellhub.example' ? '10.0.0.3' : '93.184.215.14', family: 4 }]),
    );
    expect(
      await refusedConfiguredUrls(
        { WELLHUB_API_URL: 'https://wellhub.example/', CLASSPASS_API_URL: 'https://classpass.example/', ONEFIT_API_URL: 'https://down.example/' },
        guard,
      ),
    ).toEqual(['WELLHUB_API_URL: must not point at wellhub.example: it resolves to 10.0.0.3, a private-network address, not a public one']);
  });
});
