// Verifier bench (issue 4): a 5,000-address bulk over 50 sandbox domains, 20 ms injected before every
// SMTP reply, verified through the engine with 50 concurrent verify() calls, against a minimal
// raw-socket prober (one connection per address, no throttle, same concurrency) in the same run.
// Run: node --import tsx bench/verifier.ts
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { startSandbox, type World } from '../src/sandbox/index.js';
import { createVerifier, MemoryDomainFactsCache } from '../src/engines/verifier/index.js';

// ---- baseline: what a minimal prober does (Reacher-like): one fresh TCP connection per address,
// banner, EHLO, MAIL FROM, RCPT TO, QUIT; no pooling, no throttle.
interface BaselineTarget {
  ip: string;
  port: number;
  address: string;
}

function probeOnce(t: BaselineTarget, heloName: string, mailFrom: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: t.ip, port: t.port });
    socket.setNoDelay(true);
    const script = [`EHLO ${heloName}`, `MAIL FROM:<${mailFrom}>`, `RCPT TO:<${t.address}>`];
    let buf = '';
    let rcptCode = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`baseline probe of ${t.address} timed out`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line[3] === '-') continue; // multi-line reply continues
        const next = script.shift();
        if (next) {
          socket.write(next + '\r\n');
        } else {
          rcptCode = Number(line.slice(0, 3));
          socket.end('QUIT\r\n');
          clearTimeout(timer);
          resolve(rcptCode);
          return;
        }
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Probe every target with `concurrency` probes in flight; returns the RCPT reply codes. */
async function runBaseline(targets: BaselineTarget[], concurrency: number, heloName: string, mailFrom: string): Promise<number[]> {
  const codes: number[] = new Array(targets.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < targets.length) {
        const i = next++;
        codes[i] = await probeOnce(targets[i]!, heloName, mailFrom, 30_000);
      }
    }),
  );
  return codes;
}

// ---- the bench
const DOMAINS = 50;
const PER_DOMAIN = 100;
const CONCURRENCY = 50;
const REPLY_DELAY_MS = 20;
const HELO = 'bench.openrow.test';
const MAIL_FROM = 'probe@bench.openrow.test';

/** Deterministic shuffle (mulberry32), so every run verifies the same sequence. */
function shuffled<T>(items: T[], seed = 42): T[] {
  const out = [...items];
  let a = seed;
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export async function runVerifierBench(): Promise<Record<string, number | string>> {
  const d = REPLY_DELAY_MS;
  const world: World = { domains: {} };
  const items: Array<{ email: string; domain: string; exists: boolean }> = [];
  for (let n = 0; n < DOMAINS; n++) {
    const domain = `bench${n}.test`;
    const mailboxes = Array.from({ length: PER_DOMAIN / 2 }, (_, i) => `employee${i}`);
    world.domains[domain] = { mailboxes, delays_ms: { banner: d, ehlo: d, helo: d, mail: d, rcpt: d, rset: d, quit: d } };
    for (let i = 0; i < PER_DOMAIN; i++) {
      const exists = i % 2 === 0;
      items.push({ email: exists ? `employee${i / 2}@${domain}` : `nobody${i}@${domain}`, domain, exists });
    }
  }
  const bulk = shuffled(items);
  const sb = await startSandbox({ world });
  try {
    // Engine
    const verifier = createVerifier({
      dnsServers: [sb.dnsServer],
      smtpPort: sb.smtpPort,
      heloName: HELO,
      mailFrom: MAIL_FROM,
      connectTimeoutMs: 5000,
      allowCidrs: ['127.0.0.0/8'],
      domainCache: new MemoryDomainFactsCache(),
      // 1 = RSET before every recipient; the default (10) renews the transaction every 10 recipients
      rcptsPerTransaction: process.env.BENCH_RCPTS_PER_TRANSACTION ? Number(process.env.BENCH_RCPTS_PER_TRANSACTION) : undefined,
    });
    let wrong = 0;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < bulk.length) {
          const item = bulk[next++]!;
          const out = await verifier.verify(item.email, { attempt: 1, firstAttemptAt: Date.now() });
          const ok = out.kind === 'done' && out.result.qualification === (item.exists ? 'valid' : 'invalid');
          if (!ok) wrong++;
        }
      }),
    );
    const engineMs = performance.now() - t0;
    await verifier.close();
    const engineCounters = Object.values(sb.counters());
    const engineConnections = engineCounters.reduce((s, c) => s + c.connections, 0);
    const engineMaxPerHost = Math.max(...engineCounters.map((c) => c.maxConcurrentConnections));
    // let the engine's QUITs land before the baseline's counters start
    for (let i = 0; i < 300 && Object.values(sb.counters()).some((c) => c.currentConnections > 0); i++) await new Promise((r) => setTimeout(r, 10));
    sb.resetCounters();

    // Baseline: same addresses, straight to the MX address (no DNS: that only favours it)
    const targets: BaselineTarget[] = bulk.map((it) => ({ ip: sb.hosts[`mx.${it.domain}`]!, port: sb.smtpPort, address: it.email }));
    const t1 = performance.now();
    const codes = await runBaseline(targets, CONCURRENCY, HELO, MAIL_FROM);
    const baselineMs = performance.now() - t1;
    const baselineWrong = codes.filter((c, i) => (c === 250) !== bulk[i]!.exists).length;
    const baselineConnections = Object.values(sb.counters()).reduce((s, c) => s + c.connections, 0);

    const engineRate = bulk.length / (engineMs / 1000);
    const baselineRate = bulk.length / (baselineMs / 1000);
    return {
      addresses: bulk.length,
      domains: DOMAINS,
      concurrency: CONCURRENCY,
      reply_delay_ms: REPLY_DELAY_MS,
      engine_wall_s: +(engineMs / 1000).toFixed(2),
      engine_addresses_per_s: Math.round(engineRate),
      engine_smtp_connections: engineConnections,
      engine_max_concurrent_per_host: engineMaxPerHost,
      engine_wrong_answers: wrong,
      baseline_wall_s: +(baselineMs / 1000).toFixed(2),
      baseline_addresses_per_s: Math.round(baselineRate),
      baseline_smtp_connections: baselineConnections,
      baseline_wrong_answers: baselineWrong,
      speedup_vs_baseline: +(engineRate / baselineRate).toFixed(2),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      target: 'engine wall ≤ 15 s, speedup ≥ 2, peak RSS < 300 MB',
    };
  } finally {
    await sb.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runVerifierBench();
  for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(32)} ${v}`);
}
