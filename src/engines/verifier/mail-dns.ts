// Where a domain's mail goes: MX by preference (RFC 5321 §5.1), the implicit MX (A/AAAA of the
// domain) when there is no MX, RFC 7505 null MX, and the addresses of each mail host. Answers are
// cached briefly in process (with one lookup in flight per name) because a bulk asks the same
// domain thousands of times; failures are never cached.
import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';

export interface MxHost {
  exchange: string;
  priority: number;
}

export type MailHosts =
  /** hosts sorted by preference; `implicit` when they come from the A/AAAA fallback */
  | { kind: 'hosts'; hosts: MxHost[]; implicit: boolean }
  | { kind: 'null_mx' }
  | { kind: 'nxdomain' }
  /** the domain exists but has neither MX nor A/AAAA */
  | { kind: 'no_mail_host' }
  /** timeout, SERVFAIL, refused…: nothing can be concluded */
  | { kind: 'dns_error'; code: string; message: string };

export type HostAddresses = { ok: true; addresses: string[] } | { ok: false; code: string; message: string };

export interface MailDns {
  mailHosts(domain: string): Promise<MailHosts>;
  /** A and AAAA of a mail host (an IP literal is returned as is) */
  addresses(host: string): Promise<HostAddresses>;
}

export interface MailDnsOptions {
  timeoutMs?: number;
  tries?: number;
  cacheTtlMs?: number;
}

const NO_ANSWER = new Set(['ENODATA', 'ENOTFOUND']);
const MAX_CACHED_NAMES = 50_000;

type Lookup<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

async function attempt<T>(p: Promise<T>): Promise<Lookup<T>> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, code: e.code ?? 'EUNKNOWN', message: e.message };
  }
}

class TtlCache<T> {
  private entries = new Map<string, { value: T; expires: number }>();
  private inflight = new Map<string, Promise<T>>();
  constructor(private readonly ttlMs: number) {}

  /** a long-running worker sees millions of domains: drop expired names, then the oldest */
  private evict() {
    const now = Date.now();
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
    for (const k of this.entries.keys()) {
      if (this.entries.size < MAX_CACHED_NAMES * 0.9) break;
      this.entries.delete(k);
    }
  }

  get(key: string, load: () => Promise<T>, cacheable: (v: T) => boolean): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > Date.now()) return Promise.resolve(hit.value);
    const running = this.inflight.get(key);
    if (running) return running;
    const p = load()
      .then((value) => {
        if (this.ttlMs > 0 && cacheable(value)) {
          if (this.entries.size >= MAX_CACHED_NAMES) this.evict();
          this.entries.set(key, { value, expires: Date.now() + this.ttlMs });
        }
        return value;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}

/** `dnsServers`: 'ip:port' list (OPENROW_DNS_SERVERS); undefined uses the system's resolvers. */
export function createMailDns(dnsServers?: string[], opts: MailDnsOptions = {}): MailDns {
  const resolver = new dnsPromises.Resolver({ timeout: opts.timeoutMs ?? 5000, tries: opts.tries ?? 2 });
  if (dnsServers && dnsServers.length > 0) resolver.setServers(dnsServers);
  const ttl = opts.cacheTtlMs ?? 5 * 60_000;
  const hostsCache = new TtlCache<MailHosts>(ttl);
  const addrCache = new TtlCache<HostAddresses>(ttl);

  async function lookupAddresses(host: string): Promise<HostAddresses> {
    if (net.isIP(host)) return { ok: true, addresses: [host] };
    const [v4, v6] = await Promise.all([attempt(resolver.resolve4(host)), attempt(resolver.resolve6(host))]);
    const addresses = [...(v4.ok ? v4.value : []), ...(v6.ok ? v6.value : [])];
    if (addresses.length > 0) return { ok: true, addresses };
    const hard = [v4, v6].find((r) => !r.ok && !NO_ANSWER.has(r.code));
    if (hard && !hard.ok) return { ok: false, code: hard.code, message: hard.message };
    const nx = !v4.ok && v4.code === 'ENOTFOUND';
    return nx ? { ok: false, code: 'ENOTFOUND', message: `${host} does not exist` } : { ok: true, addresses: [] };
  }

  async function lookupMailHosts(domain: string): Promise<MailHosts> {
    const mx = await attempt(resolver.resolveMx(domain));
    if (mx.ok) {
      const records = mx.value.map((r) => ({ exchange: r.exchange.replace(/\.$/, '').toLowerCase(), priority: r.priority }));
      const real = records.filter((r) => r.exchange !== '');
      // RFC 7505: a lone MX "." means the domain accepts no mail at all.
      if (real.length === 0 && records.length > 0) return { kind: 'null_mx' };
      if (real.length > 0) {
        // Equal preferences in a fixed order, where RFC 5321 §5.1 suggests a random pick to spread mail: a
        // verifier sends no mail, and one host asked every time keeps one pooled session and one catch-all
        // answer (which belongs to the host that gave it) instead of a session and a probe per host.
        real.sort((a, b) => a.priority - b.priority || a.exchange.localeCompare(b.exchange));
        return { kind: 'hosts', hosts: real, implicit: false };
      }
    } else if (mx.code === 'ENOTFOUND') {
      return { kind: 'nxdomain' };
    } else if (!NO_ANSWER.has(mx.code)) {
      return { kind: 'dns_error', code: mx.code, message: `MX lookup of ${domain} failed: ${mx.code}` };
    }
    // No MX: RFC 5321 §5.1 says the domain itself is the mail host when it has an address.
    const addr = await lookupAddresses(domain);
    if (!addr.ok) {
      if (addr.code === 'ENOTFOUND') return { kind: 'nxdomain' };
      return { kind: 'dns_error', code: addr.code, message: `A/AAAA lookup of ${domain} failed: ${addr.code}` };
    }
    if (addr.addresses.length === 0) return { kind: 'no_mail_host' };
    return { kind: 'hosts', hosts: [{ exchange: domain, priority: 0 }], implicit: true };
  }

  return {
    mailHosts: (domain) => hostsCache.get(domain.toLowerCase(), () => lookupMailHosts(domain.toLowerCase()), (v) => v.kind !== 'dns_error'),
    addresses: (host) => addrCache.get(host.toLowerCase(), () => lookupAddresses(host.toLowerCase()), (v) => v.ok),
  };
}
