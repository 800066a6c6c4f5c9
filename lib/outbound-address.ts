import { isIPv4, isIPv6 } from 'node:net';

/*
 * Where the service may send an aggregator's calls. A connection's `apiBaseUrl` is set by a company through the API,
 * so without these rules a company could make the worker call the cloud's metadata service, the database or any
 * host of the private network, and read part of the answer back in its sync view (SSRF). Pure functions only: the
 * DNS look-up and the connection live in aggregators/outbound-guard.ts.
 */

/** What an IP address is, from the IANA special-purpose registries (IPv4 RFC 6890, IPv6 RFC 6890/8190). */
export type AddressClass =
  | 'public'
  /** A cloud provider's instance metadata service (credentials live there). */
  | 'metadata'
  | 'link-local'
  | 'loopback'
  | 'private'
  /** 100.64.0.0/10, carrier-grade NAT. */
  | 'shared'
  /** 0.0.0.0/8 and ::; connecting to it reaches this host. */
  | 'unspecified'
  | 'multicast'
  /** Documentation, benchmarking, broadcast, future use and other ranges no aggregator lives in. */
  | 'reserved'
  /** Not an IP address. */
  | 'invalid';

export interface OutboundPolicy {
  /** Production: https only, and only public addresses. */
  production: boolean;
  /**
   * Hosts exempt from the public-address rule (an aggregator reached over a private link, an egress proxy). Lower
   * case, no trailing dot, IPv6 without brackets in canonical form: see `normalizeHost`.
   */
  allowHosts: readonly string[];
}

// Exact addresses of metadata services: AWS (IMDS, ECS task metadata, EKS pod identity, IMDS over IPv6), GCP and
// Azure (169.254.169.254 too), Alibaba Cloud. Most are link-local anyway; the IPv6 and Alibaba ones are not.
const METADATA_V4 = new Set(['169.254.169.254', '169.254.170.2', '169.254.170.23', '100.100.100.200']);
const METADATA_V6 = new Set(['fd00:ec2:0:0:0:0:0:254', 'fd00:ec2:0:0:0:0:0:23']);

/** The four octets of a dotted-quad IPv4 address, or undefined. */
function ipv4Octets(address: string): number[] | undefined {
  if (!isIPv4(address)) return undefined;
  return address.split('.').map(Number);
}

/** The eight 16-bit groups of an IPv6 address (zone id ignored, embedded dotted IPv4 read), or undefined. */
export function ipv6Groups(address: string): number[] | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!isIPv6(bare)) return undefined;
  let text = bare.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const octets = ipv4Octets(dotted[1] as string);
    if (!octets) return undefined;
    const [a, b, c, d] = octets as [number, number, number, number];
    text = `${text.slice(0, -dotted[0].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const front = parse(head);
  if (tail === undefined) return front.length === 8 ? front : undefined;
  const back = parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

function classifyV4(octets: number[]): AddressClass {
  const [a, b, c, d] = octets as [number, number, number, number];
  const address = `${a}.${b}.${c}.${d}`;
  if (METADATA_V4.has(address)) return 'metadata';
  if (a === 0) return 'unspecified';
  if (a === 10) return 'private';
  if (a === 100 && b >= 64 && b <= 127) return 'shared';
  if (a === 127) return 'loopback';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 172 && b >= 16 && b <= 31) return 'private';
  if (a === 192 && b === 0 && c === 0) return 'reserved'; // IETF protocol assignments
  if (a === 192 && b === 0 && c === 2) return 'reserved'; // TEST-NET-1
  if (a === 192 && b === 88 && c === 99) return 'reserved'; // 6to4 relay anycast, deprecated
  if (a === 192 && b === 168) return 'private';
  if (a === 198 && (b === 18 || b === 19)) return 'reserved'; // benchmarking
  if (a === 198 && b === 51 && c === 100) return 'reserved'; // TEST-NET-2
  if (a === 203 && b === 0 && c === 113) return 'reserved'; // TEST-NET-3
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved'; // future use and 255.255.255.255
  return 'public';
}

function v4Of(high: number, low: number): number[] {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff];
}

function classifyV6(g: number[]): AddressClass {
  const canonical = g.map((x) => x.toString(16)).join(':');
  if (METADATA_V6.has(canonical)) return 'metadata';
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(8)) return 'unspecified';
  if (zeroTo(7) && g7 === 1) return 'loopback';
  // An IPv4 address carried in IPv6 reaches that IPv4 host: judged as that host. Mapped (::ffff:a.b.c.d), the
  // SIIT form (::ffff:0:a.b.c.d), NAT64's well-known prefix (64:ff9b::/96) and 6to4 (2002:aabb:ccdd::/48).
  if (zeroTo(5) && g5 === 0xffff) return classifyV4(v4Of(g6, g7));
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return classifyV4(v4Of(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyV4(v4Of(g6, g7));
  if (g0 === 0x2002) return classifyV4(v4Of(g1, g2));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'private'; // local-use NAT64 (RFC 8215)
  if (zeroTo(6)) return 'reserved'; // IPv4-compatible, deprecated
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return 'reserved'; // discard-only
  if (g0 === 0x2001 && g1 <= 0x1ff) return 'reserved'; // IETF protocol assignments, Teredo, ORCHID
  if (g0 === 0x2001 && g1 === 0xdb8) return 'reserved'; // documentation
  if (g0 === 0x3fff && g1 <= 0x0fff) return 'reserved'; // documentation (RFC 9637)
  if ((g0 & 0xfe00) === 0xfc00) return 'private'; // unique local
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local';
  if ((g0 & 0xffc0) === 0xfec0) return 'private'; // site-local, deprecated
  if ((g0 & 0xff00) === 0xff00) return 'multicast';
  if ((g0 & 0xe000) === 0x2000) return 'public'; // global unicast
  return 'reserved';
}

/** What an IPv4 or IPv6 address (brackets and zone id allowed) is; 'invalid' when it is not an IP address. */
export function classifyAddress(address: string): AddressClass {
  const v4 = ipv4Octets(address);
  if (v4) return classifyV4(v4);
  const v6 = ipv6Groups(address);
  return v6 ? classifyV6(v6) : 'invalid';
}

const DESCRIBED: Record<Exclude<AddressClass, 'public'>, string> = {
  metadata: "a cloud metadata service's address",
  'link-local': 'a link-local address',
  loopback: 'a loopback address',
  private: 'a private-network address',
  shared: 'a carrier-grade NAT address',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  reserved: 'a reserved or documentation address',
  invalid: 'not an IP address',
};

/**
 * Why the service must not connect to this address (what the address is, e.g. "a loopback address, not a public
 * one"), or undefined when it may. Metadata and link-local addresses are
 * refused everywhere and whatever the allow-list says: no aggregator lives there, and the cloud's credentials do.
 * Outside production every other address is allowed (the sandboxes listen on loopback); in production only public
 * ones, unless the host that resolved to it is allow-listed.
 */
export function addressRefusal(address: string, policy: OutboundPolicy, allowListed = false): string | undefined {
  const kind = classifyAddress(address);
  if (kind === 'public') return undefined;
  if (kind === 'metadata' || kind === 'link-local' || kind === 'invalid') return DESCRIBED[kind];
  if (!policy.production || allowListed) return undefined;
  return `${DESCRIBED[kind]}, not a public one`;
}

/** A host as the allow-list and the URL parser spell it: lower case, no trailing dot, IPv6 canonical and bare. */
export function normalizeHost(host: string): string {
  const trimmed = host.trim().toLowerCase().replace(/\.$/, '');
  const bare = trimmed.replace(/^\[|\]$/g, '');
  if (isIPv6(bare)) return new URL(`http://[${bare}]/`).hostname.replace(/^\[|\]$/g, '');
  try {
    return new URL(`http://${trimmed}/`).hostname.replace(/\.$/, '');
  } catch {
    return trimmed;
  }
}

export function isAllowListed(host: string, policy: OutboundPolicy): boolean {
  return policy.allowHosts.includes(normalizeHost(host));
}

/** The host of a parsed URL, bare (no IPv6 brackets, no trailing dot). */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

/** Names that always mean this host (RFC 6761), whatever DNS says. */
function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

export type UrlVerdict =
  | { ok: false; reason: string }
  /** `resolve`: the host is a name whose addresses must still be looked up and checked (`addressRefusal`). */
  | { ok: true; url: URL; host: string; allowListed: boolean; resolve: boolean };

/**
 * The checks an aggregator URL takes before any DNS look-up: http(s) only, https in production, no credentials in
 * the URL (they would be sent to whatever host it names, and stored and shown in the clear), and an IP literal or a
 * localhost name judged by `addressRefusal`.
 */
export function checkUrl(raw: string, policy: OutboundPolicy): UrlVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'is not a valid URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'must be an http(s) URL' };
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'must not carry credentials (user:password@); the API token goes in credentials.apiToken' };
  }
  if (policy.production && url.protocol !== 'https:') return { ok: false, reason: 'must use https in production' };
  const host = hostOf(url);
  const allowListed = isAllowListed(host, policy);
  const literal = classifyAddress(host) !== 'invalid' ? host : isLocalhostName(host) ? '127.0.0.1' : undefined;
  if (literal !== undefined) {
    const refusal = addressRefusal(literal, policy, allowListed);
    if (refusal !== undefined) return { ok: false, reason: `must not point at ${host}, ${refusal}` };
    return { ok: true, url, host, allowListed, resolve: false };
  }
  return { ok: true, url, host, allowListed, resolve: true };
}
