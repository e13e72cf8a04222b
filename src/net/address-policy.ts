// Which IP addresses outbound connections (webhook deliveries, SMTP probes) may reach. Only public unicast
// addresses pass, unless an operator explicitly allows a range (tests, local development). Addresses that
// wrap an IPv4 inside IPv6 (IPv4-mapped, 6to4, NAT64, Teredo) are decoded and judged by what they wrap,
// because the kernel or a relay will deliver them there.
import ipaddr from 'ipaddr.js';

export type CidrList = Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;

/** Accepts `'a/b,c/d'`, an array of such entries, or undefined. A bare address means that single host. */
export function parseCidrList(spec: string | string[] | undefined): CidrList {
  if (spec === undefined) return [];
  const entries = (Array.isArray(spec) ? spec : spec.split(',')).map((s) => s.trim()).filter(Boolean);
  return entries.map((entry) => {
    const [addr, bits, ...extra] = entry.split('/');
    const bad = () => new Error(`invalid CIDR "${entry}" (expected e.g. 127.0.0.0/8, ::1/128 or a single address)`);
    if (extra.length || addr === undefined || !isStrictAddress(addr)) throw bad();
    const ip = parseStrict(addr);
    const max = ip.kind() === 'ipv4' ? 32 : 128;
    if (bits === undefined) return [ip, max] as [ipaddr.IPv4 | ipaddr.IPv6, number];
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw bad();
    return [ip, Number(bits)] as [ipaddr.IPv4 | ipaddr.IPv6, number];
  });
}

// ipaddr.js also accepts legacy forms such as "127.1" or "0x7f000001"; configuration must be unambiguous.
function isStrictAddress(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s) || ipaddr.IPv6.isValid(s);
}

type V4Rule = [ipaddr.IPv4, number, string];
type V6Rule = [ipaddr.IPv6, number, string];

const v4 = (cidr: string, name: string): V4Rule => {
  const [ip, bits] = ipaddr.IPv4.parseCIDR(cidr);
  return [ip, bits, name];
};
const v6 = (cidr: string, name: string): V6Rule => {
  const [ip, bits] = ipaddr.IPv6.parseCIDR(cidr);
  return [ip, bits, name];
};

// Most specific entries first: the first match names the range.
const BLOCKED_V4: V4Rule[] = [
  v4('169.254.169.254/32', 'link-local (cloud metadata)'),
  v4('255.255.255.255/32', 'broadcast'),
  v4('0.0.0.0/8', 'unspecified (0/8)'),
  v4('10.0.0.0/8', 'private (RFC 1918)'),
  v4('100.64.0.0/10', 'CGNAT'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link-local'),
  v4('172.16.0.0/12', 'private (RFC 1918)'),
  v4('192.0.0.0/24', 'IETF protocol assignments'),
  v4('192.0.2.0/24', 'documentation'),
  v4('192.88.99.0/24', '6to4 relay anycast (deprecated)'),
  v4('192.168.0.0/16', 'private (RFC 1918)'),
  v4('198.18.0.0/15', 'benchmarking'),
  v4('198.51.100.0/24', 'documentation'),
  v4('203.0.113.0/24', 'documentation'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved (240/4)'),
];

const BLOCKED_V6: V6Rule[] = [
  v6('::/128', 'unspecified'),
  v6('::1/128', 'loopback'),
  v6('::/96', 'IPv4-compatible (deprecated)'),
  v6('64:ff9b:1::/48', 'NAT64 local-use'),
  v6('100::/64', 'discard-only'),
  v6('2001:db8::/32', 'documentation'),
  v6('3fff::/20', 'documentation'),
  v6('2001:2::/48', 'benchmarking'),
  v6('fc00::/7', 'unique local (fc00::/7)'),
  v6('fe80::/10', 'link-local'),
  v6('fec0::/10', 'site-local (deprecated)'),
  v6('ff00::/8', 'multicast'),
];

const MAPPED = ipaddr.IPv6.parseCIDR('::ffff:0:0/96');
const SIIT = ipaddr.IPv6.parseCIDR('::ffff:0:0:0/96');
const NAT64 = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
const SIX_TO_FOUR = ipaddr.IPv6.parseCIDR('2002::/16');
const TEREDO = ipaddr.IPv6.parseCIDR('2001::/32');
const IETF_V6 = ipaddr.IPv6.parseCIDR('2001::/23');
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

const ipv4FromWords = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);

function parseAny(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (!isStrictAddress(bare)) return undefined;
  return parseStrict(bare);
}

// ipaddr.js turns any IPv6 with a dotted-quad tail into ::ffff:a.b.c.d (so "::127.0.0.1" would read as
// IPv4-mapped); rewriting the tail as two hex groups first keeps the address exactly as written.
function parseStrict(s: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const tail = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(%.*)?$/.exec(s);
  if (!tail || !s.includes(':')) return ipaddr.parse(s);
  const [, head, a, b, c, d, zone] = tail;
  const hex = (x: string, y: string) => ((Number(x) << 8) | Number(y)).toString(16);
  return ipaddr.parse(`${head}${hex(a!, b!)}:${hex(c!, d!)}${zone ?? ''}`);
}

function classifyV4(ip: ipaddr.IPv4): { blocked: boolean; range?: string } {
  for (const [net, bits, name] of BLOCKED_V4) if (ip.match(net, bits)) return { blocked: true, range: name };
  return { blocked: false };
}

/** The IPv4 address an IPv6 address hands traffic to, with the name of the wrapping. */
function embeddedV4(ip: ipaddr.IPv6): { wrapper: string; inner: ipaddr.IPv4 } | undefined {
  const p = ip.parts;
  if (ip.match(MAPPED)) return { wrapper: 'IPv4-mapped', inner: ipv4FromWords(p[6]!, p[7]!) };
  if (ip.match(SIIT)) return { wrapper: 'IPv4-translated', inner: ipv4FromWords(p[6]!, p[7]!) };
  if (ip.match(NAT64)) return { wrapper: 'NAT64', inner: ipv4FromWords(p[6]!, p[7]!) };
  if (ip.match(SIX_TO_FOUR)) return { wrapper: '6to4', inner: ipv4FromWords(p[1]!, p[2]!) };
  // Teredo stores the client's IPv4 bit-inverted in the last 32 bits.
  if (ip.match(TEREDO)) return { wrapper: 'Teredo', inner: ipv4FromWords(p[6]! ^ 0xffff, p[7]! ^ 0xffff) };
  return undefined;
}

/**
 * Whether an address is off-limits for outbound connections, and the name of its range.
 * Anything that is not a valid, strictly written address is blocked.
 */
export function classifyAddress(ip: string): { blocked: boolean; range?: string } {
  const addr = parseAny(ip);
  if (!addr) return { blocked: true, range: 'not an IP address' };
  if (addr.kind() === 'ipv4') return classifyV4(addr as ipaddr.IPv4);
  const a6 = addr as ipaddr.IPv6;
  const wrapped = embeddedV4(a6);
  if (wrapped) {
    const inner = classifyV4(wrapped.inner);
    return inner.blocked ? { blocked: true, range: `${wrapped.wrapper} → ${inner.range}` } : { blocked: false };
  }
  for (const [net, bits, name] of BLOCKED_V6) if (a6.match(net, bits)) return { blocked: true, range: name };
  if (a6.match(IETF_V6)) return { blocked: true, range: 'IETF protocol assignments' };
  // Everything outside 2000::/3 is unassigned or special-purpose today.
  if (!a6.match(GLOBAL_UNICAST_V6)) return { blocked: true, range: 'not global unicast (outside 2000::/3)' };
  return { blocked: false };
}

/** True if the address falls inside one of the allowed ranges; IPv4-mapped IPv6 matches IPv4 ranges and back. */
export function isAllowedAddress(ip: string, allow: CidrList): boolean {
  if (!allow.length) return false;
  const addr = parseAny(ip);
  if (!addr) return false;
  const forms: Array<ipaddr.IPv4 | ipaddr.IPv6> = [addr];
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) forms.push((addr as ipaddr.IPv6).toIPv4Address());
  if (addr.kind() === 'ipv4') forms.push((addr as ipaddr.IPv4).toIPv4MappedAddress());
  return allow.some(([net, bits]) => forms.some((f) => f.kind() === net.kind() && f.match(net, bits)));
}

/** Public unicast, or inside an operator-allowed range. */
export function checkAddress(ip: string, allow: CidrList): { ok: true } | { ok: false; reason: string } {
  if (isAllowedAddress(ip, allow)) return { ok: true };
  const c = classifyAddress(ip);
  if (c.blocked) return { ok: false, reason: `address ${ip} is in a blocked range (${c.range})` };
  return { ok: true };
}
