// Keeps webhook deliveries from becoming a door into our own network. Two checks:
// - at request time, on the URL alone (https, no credentials, no IP literal in a blocked range);
// - at connect time, inside the socket connector: every address the name resolves to must pass the
//   address policy, and the socket connects only to those checked addresses (so DNS rebinding between
//   check and connect is impossible). Node skips the `lookup` hook for IP-literal hosts, so those are
//   checked separately, and the connected peer address is verified once more.
// The Agent built here is used explicitly for every delivery, so HTTP(S)_PROXY from the environment never
// applies.
import { isIP, type LookupFunction } from 'node:net';
import dns from 'node:dns';
import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { checkAddress, type CidrList } from '../net/address-policy.js';

export class BlockedAddressError extends Error {
  readonly code = 'ERR_OPENROW_BLOCKED_ADDRESS';
  constructor(
    message: string,
    /** which address and range, for operators and tests; kept out of the message tenants read */
    readonly detail?: string,
  ) {
    super(message);
  }
}

const stripBrackets = (h: string) => (h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h);

export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string };

/** The request-time check, also used by the API when a webhook URL is submitted. */
export function checkWebhookUrl(raw: string, allow: CidrList): UrlVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not an absolute URL' };
  }
  if (url.protocol !== 'https:') return { ok: false, reason: 'only https URLs are accepted' };
  if (url.username || url.password) return { ok: false, reason: 'URLs with credentials are not accepted' };
  const host = stripBrackets(url.hostname);
  if (!host) return { ok: false, reason: 'the URL has no host' };
  if (isIP(host)) {
    const v = checkAddress(host, allow);
    if (!v.ok) return { ok: false, reason: v.reason };
  } else if (isLocalhostName(host) && !checkAddress('127.0.0.1', allow).ok) {
    // these names always mean this machine (RFC 6761): refused now rather than at every connect for days
    return { ok: false, reason: 'localhost names are not accepted' };
  }
  return { ok: true, url };
}

function isLocalhostName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.+$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type ResolveAll = (hostname: string) => Promise<ResolvedAddress[]>;

/**
 * Asks DNS servers directly for A and AAAA: those of `servers` (OPENROW_DNS_SERVERS, "ip" or "ip:port"),
 * otherwise the system's (resolv.conf), with a timeout. Not `dns.lookup`: it runs in libuv's small thread
 * pool (4 threads) and cannot be cancelled, so a few receivers' names whose DNS never answers would hold
 * every thread and stall every other tenant's deliveries (and the rest of the process's pool work).
 * /etc/hosts is not read, which suits webhooks: receivers are public names.
 */
export function makeResolver(servers?: string[]): ResolveAll {
  const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
  if (servers?.length) resolver.setServers(servers);
  const tolerant = async (p: Promise<string[]>) => {
    try {
      return await p;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
      throw err;
    }
  };
  return async (hostname) => {
    const [v4, v6] = await Promise.all([tolerant(resolver.resolve4(hostname)), tolerant(resolver.resolve6(hostname))]);
    const all: ResolvedAddress[] = [...v4.map((address) => ({ address, family: 4 as const })), ...v6.map((address) => ({ address, family: 6 as const }))];
    if (!all.length) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
    return all;
  };
}

/** Resolves a name and accepts it only if every address passes the policy. */
export async function resolveChecked(hostname: string, allow: CidrList, resolveAll: ResolveAll): Promise<ResolvedAddress[]> {
  const addrs = await resolveAll(hostname);
  for (const a of addrs) {
    const v = checkAddress(a.address, allow);
    // which internal address a name has is not the tenant's to learn (split-horizon DNS, cluster names):
    // the delivery log, which tenants read, says only that the address is not allowed
    if (!v.ok) throw new BlockedAddressError(`${hostname} resolves to an address webhooks may not be sent to`, v.reason);
  }
  return addrs;
}

/** A `lookup` for net/tls.connect that only ever hands back checked addresses. */
export function guardedLookup(allow: CidrList, resolveAll: ResolveAll): LookupFunction {
  return (hostname, options, callback) => {
    resolveChecked(hostname, allow, resolveAll).then(
      (addrs) => {
        const wanted = options.family === 4 || options.family === 6 ? addrs.filter((a) => a.family === options.family) : addrs;
        if (!wanted.length) {
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
        } else if (options.all) {
          (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, wanted);
        } else {
          callback(null, wanted[0]!.address, wanted[0]!.family);
        }
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };
}

export interface GuardedAgentOptions {
  allow: CidrList;
  /** DNS servers to ask instead of the system resolver */
  dnsServers?: string[];
  /** extra trusted CA certificates (PEM), added to Node's roots; production uses NODE_EXTRA_CA_CERTS */
  ca?: string | string[];
  connectTimeoutMs?: number;
  /** idle keep-alive connections per origin are kept this long */
  keepAliveTimeoutMs?: number;
  /** connections per origin; the dispatcher's per-origin cap keeps actual use at or below its own value */
  connectionsPerOrigin?: number | null;
}

/** An undici Agent (one keep-alive pool per origin) whose every connection passes the address policy. */
export function createGuardedAgent(opts: GuardedAgentOptions): Agent {
  const extraCa = opts.ca === undefined ? undefined : Array.isArray(opts.ca) ? opts.ca : [opts.ca];
  const base = buildConnector({
    timeout: opts.connectTimeoutMs ?? 5000,
    lookup: guardedLookup(opts.allow, makeResolver(opts.dnsServers)),
    // one secure context for all connections: building one per connection from ~140 roots is costly
    ...(extraCa ? { secureContext: createSecureContext({ ca: [...rootCertificates, ...extraCa] }) } : {}),
  });
  const connect: buildConnector.connector = (options, callback) => {
    const host = stripBrackets(options.hostname);
    if (isIP(host)) {
      const v = checkAddress(host, opts.allow);
      if (!v.ok) {
        // an IP literal is the tenant's own input: naming its range tells them nothing new
        callback(new BlockedAddressError(`refusing to connect: ${v.reason}`), null);
        return;
      }
    }
    base({ ...options, hostname: host }, (err, socket) => {
      if (err || !socket) {
        callback(err ?? new Error('connect failed'), null);
        return;
      }
      // belt and braces: whatever path led here, the peer we actually reached must pass too
      const peer = socket.remoteAddress;
      const v = peer ? checkAddress(peer, opts.allow) : { ok: false as const, reason: 'unknown peer address' };
      if (!v.ok) {
        socket.destroy();
        callback(new BlockedAddressError('refusing connection: the receiver\'s address is one webhooks may not be sent to', v.reason), null);
        return;
      }
      callback(null, socket);
    });
  };
  return new Agent({
    connect,
    connections: opts.connectionsPerOrigin ?? null,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000,
    pipelining: 1,
  });
}
