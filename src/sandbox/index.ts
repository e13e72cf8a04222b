// The sandbox world: a real DNS server and real SMTP servers on loopback that behave as a world file
// says, so engines, tests, demos and test-mode keys can run the whole product with no internet.
import { emptyCounters, resetCounters as zeroCounters, snapshot } from './counters.js';
import { startCountersHttp, type RunningCountersHttp } from './counters-http.js';
import { startDnsServer } from './dns-server.js';
import { SmtpHostServer, listenOnSharedPort } from './smtp-host.js';
import { Greylist } from './smtp-session.js';
import { prepareSandboxTls, sandboxTlsMaterial } from './tls-cert.js';
import { isLoopbackV4, WorldError } from './world-load.js';
import { planWorld } from './world-plan.js';
import type { HostCounters, World } from './world-types.js';

export { loadWorld, validateWorld, WorldError } from './world-load.js';
export { builtinWorld, BUILTIN_WORLD_YAML } from './builtin-world.js';
export { planWorld } from './world-plan.js';
export type { World, HostCounters, DomainSpec, HostSpec, WorldPerson, Behaviour, DelaysMs, MxRecord } from './world-types.js';

export interface SandboxOptions {
  world: World;
  /** default '127.0.0.1' */
  dnsHost?: string;
  /** default 0 = pick a free one (UDP and TCP on the same port) */
  dnsPort?: number;
  /** default 0 = pick one port free on every host address */
  smtpPort?: number;
  /** default '127.0.0.2': MX hosts get consecutive loopback addresses from here */
  hostAddressBase?: string;
  /** default null = no HTTP endpoint; 0 = pick a free port */
  countersPort?: number | null;
  /** a silent SMTP client is dropped with 421 after this long (default 300000, as Postfix) */
  smtpIdleTimeoutMs?: number;
}

export interface RunningSandbox {
  /** 'ip:port', ready for OPENROW_DNS_SERVERS / Resolver.setServers */
  dnsServer: string;
  smtpPort: number;
  /** MX host name -> loopback address it listens on (or would, for refusing hosts) */
  hosts: Record<string, string>;
  countersUrl: string | null;
  /** keyed by MX host name */
  counters(): Record<string, HostCounters>;
  resetCounters(): void;
  /** forget greylisting history, so every pair is greylisted again (additive to the contract) */
  resetGreylist(): void;
  close(): Promise<void>;
}

export async function startSandbox(opts: SandboxOptions): Promise<RunningSandbox> {
  const base = opts.hostAddressBase ?? '127.0.0.2';
  if (!isLoopbackV4(base)) throw new WorldError([`hostAddressBase must be an IPv4 loopback address (got ${JSON.stringify(base)})`], 'sandbox options');
  const plan = planWorld(opts.world, base);
  const greylist = new Greylist();
  const counters = new Map(plan.hosts.map((h) => [h.name, emptyCounters(h.address)]));
  const servers = plan.hosts
    .filter((h) => !h.refuse)
    .map(
      (h) =>
        new SmtpHostServer({
          host: h,
          counters: counters.get(h.name)!,
          greylist,
          tlsMaterial: sandboxTlsMaterial,
          idleTimeoutMs: opts.smtpIdleTimeoutMs ?? 300_000,
        }),
    );
  // Generate the certificate before listening so the first STARTTLS is not slowed by it.
  if (plan.hosts.some((h) => h.starttls)) await prepareSandboxTls();

  const dnsHost = opts.dnsHost ?? '127.0.0.1';
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  };
  try {
    const smtpPort = await listenOnSharedPort(
      servers,
      plan.hosts.filter((h) => h.refuse).map((h) => h.address),
      opts.smtpPort ?? 0,
    );
    closers.push(async () => {
      await Promise.all(servers.map((s) => s.close()));
    });
    const dns = await startDnsServer(plan.zone, dnsHost, opts.dnsPort ?? 0);
    closers.push(() => dns.close());

    const read = () => Object.fromEntries([...counters].map(([name, c]) => [name, snapshot(c)]));
    const reset = () => counters.forEach(zeroCounters);
    let http: RunningCountersHttp | null = null;
    if (opts.countersPort !== undefined && opts.countersPort !== null) {
      http = await startCountersHttp(dnsHost, opts.countersPort, read, reset);
      closers.push(http.close);
    }
    let closing: Promise<void> | undefined;
    return {
      dnsServer: `${dnsHost.includes(':') ? `[${dnsHost}]` : dnsHost}:${dns.port}`,
      smtpPort,
      hosts: Object.fromEntries(plan.hosts.map((h) => [h.name, h.address])),
      countersUrl: http?.url ?? null,
      counters: read,
      resetCounters: reset,
      resetGreylist: () => greylist.reset(),
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    // listenOnSharedPort closes every server itself when it fails; later failures close through closers
    await closeAll();
    throw err;
  }
}

/** The world's flagged domains, for the verifier's extra disposable / free-provider lists. */
export function flaggedDomains(world: World): { disposable: string[]; freeProvider: string[] } {
  const entries = Object.entries(world.domains);
  return {
    disposable: entries.filter(([, d]) => d.disposable).map(([name]) => name),
    freeProvider: entries.filter(([, d]) => d.free_provider).map(([name]) => name),
  };
}

/** Where everything listens, for `openrow sandbox` to print. */
export function describeSandbox(sandbox: RunningSandbox, world: World): string {
  const lines = [`DNS (UDP+TCP): ${sandbox.dnsServer}`, `SMTP port: ${sandbox.smtpPort}`];
  if (sandbox.countersUrl) lines.push(`counters: ${sandbox.countersUrl}`);
  lines.push('MX hosts:');
  for (const [host, ip] of Object.entries(sandbox.hosts)) {
    lines.push(`  ${host.padEnd(28)} ${ip}:${sandbox.smtpPort}${world.hosts?.[host]?.refuse ? '  (refuses connections)' : ''}`);
  }
  lines.push(`domains: ${Object.keys(world.domains).join(', ')}`);
  return lines.join('\n');
}
