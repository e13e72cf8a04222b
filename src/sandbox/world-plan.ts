// Turns a validated world into what the servers need: each MX host with its loopback address, its
// session behaviour and the recipient policy of every domain it serves, and the DNS zone.
import { WorldError } from './world-load.js';
import { DELAY_STEPS, type Behaviour, type DelayStep, type DomainSpec, type MxRecord, type World } from './world-types.js';

export type SessionStep = Exclude<DelayStep, 'rcpt'>;
const SESSION_STEPS = DELAY_STEPS.filter((s): s is SessionStep => s !== 'rcpt');

/** What one recipient domain gets at one host: the domain's own value where it sets one, else the host's. */
export interface RecipientPolicy {
  domain: string;
  mailboxes: Set<string>;
  full: Set<string>;
  disabled: Set<string>;
  catchAll: boolean;
  greylistSeconds: number;
  policyBlock: string | null;
  rcptReply: string | null;
  maxRcptsPerSession: number | null;
  dropAfterRcpt: boolean;
  rcptDelayMs: number;
  multiline: boolean;
}

export interface HostPlan {
  name: string;
  address: string;
  refuse: boolean;
  tarpit: boolean;
  maxConnections: number | null;
  starttls: boolean;
  multiline: boolean;
  delays: Record<SessionStep, number>;
  /** recipient domain -> policy */
  domains: Map<string, RecipientPolicy>;
}

export interface NameRecords {
  /** undefined: no MX; 'null': RFC 7505 null MX */
  mx?: MxRecord[] | 'null';
  a: string[];
  aaaa: string[];
  txt: string[];
}

export interface WorldPlan {
  hosts: HostPlan[];
  /** lower-case name -> records; a name absent here is NXDOMAIN */
  zone: Map<string, NameRecords>;
}

const DEFAULT_BLOCK_TEXT = 'Service unavailable; Client host [{client}] blocked using Spamhaus; https://www.spamhaus.org/query/ip/{client}';

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}
function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** MX records of a domain as the world gives them (absent mx means one default MX host). */
function mxOf(name: string, spec: DomainSpec): MxRecord[] | 'null' | null {
  if (spec.mx === undefined) return [{ host: `mx.${name}`, preference: 10 }];
  return spec.mx;
}

export function planWorld(world: World, hostAddressBase = '127.0.0.2'): WorldPlan {
  const hostSpecs = world.hosts ?? {};
  const problems: string[] = [];

  // Which hosts exist and which domains each serves, in order of first appearance so addresses read naturally.
  const served = new Map<string, string[]>();
  const serve = (host: string, domain?: string) => {
    if (!served.has(host)) served.set(host, []);
    if (domain && !served.get(host)!.includes(domain)) served.get(host)!.push(domain);
  };
  for (const [name, spec] of Object.entries(world.domains)) {
    const mx = mxOf(name, spec);
    if (Array.isArray(mx)) for (const r of mx) serve(r.host, name);
    else if (mx === null && spec.mail_host !== false) serve(name, name);
  }
  for (const host of Object.keys(hostSpecs)) serve(host);

  // Fixed addresses first, then consecutive ones from the base, skipping those taken.
  const taken = new Set(Object.values(hostSpecs).flatMap((h) => (h.address ? [h.address] : [])));
  let next = ipToInt(hostAddressBase);
  const addressOf = new Map<string, string>();
  for (const host of served.keys()) {
    const fixed = hostSpecs[host]?.address;
    if (fixed) {
      addressOf.set(host, fixed);
      continue;
    }
    while (taken.has(intToIp(next))) next++;
    if (next > ipToInt('127.255.255.254')) throw new WorldError([`no loopback address left for host ${host} after ${hostAddressBase}`], 'world');
    addressOf.set(host, intToIp(next));
    taken.add(intToIp(next));
    next++;
  }

  const hosts: HostPlan[] = [];
  for (const [host, domains] of served) {
    const own: Behaviour = hostSpecs[host] ?? {};
    // A session-level setting is known before any recipient: the host's own value, else the value the
    // domains it serves agree on. Disagreeing domains are an error rather than a silent pick.
    const sessionValue = <T>(label: string, read: (b: Behaviour) => T | undefined, fallback: T): T => {
      const mine = read(own);
      if (mine !== undefined) return mine;
      const fromDomains = domains.map((d) => [d, read(world.domains[d]!)] as const).filter(([, v]) => v !== undefined);
      const distinct = [...new Set(fromDomains.map(([, v]) => JSON.stringify(v)))];
      if (distinct.length > 1) {
        problems.push(`host ${host} serves domains with different ${label} (${fromDomains.map(([d, v]) => `${d}: ${JSON.stringify(v)}`).join(', ')}); set hosts["${host}"].${label}`);
      }
      return fromDomains.length > 0 ? (fromDomains[0]![1] as T) : fallback;
    };
    const delays = Object.fromEntries(SESSION_STEPS.map((step) => [step, sessionValue(`delays_ms.${step}`, (b) => b.delays_ms?.[step], 0)])) as Record<SessionStep, number>;
    const policies = new Map<string, RecipientPolicy>();
    for (const d of domains) {
      const spec = world.domains[d]!;
      const pick = <K extends keyof Behaviour>(k: K): Behaviour[K] => (spec[k] !== undefined ? spec[k] : own[k]);
      const block = pick('policy_block');
      const people = (world.people ?? []).flatMap((p) => (p.email && p.domain === d ? [p.email.split('@')[0]!] : []));
      policies.set(d, {
        domain: d,
        mailboxes: new Set([...(spec.mailboxes ?? []), ...(spec.roles ?? []), ...people]),
        full: new Set(spec.full ?? []),
        disabled: new Set(spec.disabled ?? []),
        catchAll: pick('catch_all') ?? false,
        greylistSeconds: pick('greylist_seconds') ?? 0,
        policyBlock: block === true ? DEFAULT_BLOCK_TEXT : typeof block === 'string' ? block : null,
        rcptReply: pick('rcpt_reply') ?? null,
        maxRcptsPerSession: pick('max_rcpts_per_session') ?? null,
        dropAfterRcpt: pick('drop_after_rcpt') ?? false,
        rcptDelayMs: spec.delays_ms?.rcpt ?? own.delays_ms?.rcpt ?? 0,
        multiline: pick('multiline') ?? false,
      });
    }
    hosts.push({
      name: host,
      address: addressOf.get(host)!,
      refuse: hostSpecs[host]?.refuse ?? false,
      tarpit: sessionValue('tarpit', (b) => b.tarpit, false),
      maxConnections: sessionValue<number | null>('max_connections', (b) => b.max_connections, null),
      starttls: sessionValue('starttls', (b) => b.starttls, false),
      multiline: sessionValue('multiline', (b) => b.multiline, false),
      delays,
      domains: policies,
    });
  }
  if (problems.length > 0) throw new WorldError(problems, 'world');

  const zone = new Map<string, NameRecords>();
  const at = (name: string) => {
    if (!zone.has(name)) zone.set(name, { a: [], aaaa: [], txt: [] });
    return zone.get(name)!;
  };
  for (const h of hosts) at(h.name).a.push(h.address);
  for (const [name, spec] of Object.entries(world.domains)) {
    const rec = at(name);
    const mx = mxOf(name, spec);
    if (mx !== null) rec.mx = mx === 'null' ? 'null' : [...mx].sort((x, y) => x.preference - y.preference);
    rec.a.push(...(spec.a ?? []).filter((ip) => !rec.a.includes(ip)));
    rec.aaaa.push(...(spec.aaaa ?? []));
    rec.txt.push(...(spec.txt ?? []));
  }
  return { hosts, zone };
}
