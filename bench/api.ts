// Core API benchmark (issue 2): single POST accept rate and p99 at 50 connections against a bare Fastify
// route returning a constant, measured in the same run; and the time to accept a 5,000-item bulk.
// autocannon runs in a worker thread so the server under test keeps the main event loop to itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import autocannon from 'autocannon';
import { loadConfig } from '../src/config.js';
import { startOpenrow } from '../src/app.js';
import { createAccount, createApiKey } from '../src/store/accounts.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const CONNECTIONS = 50;

function load(url: string, opts: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string }) {
  return new Promise<autocannon.Result>((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, workers: 1, method: opts.method ?? 'GET', headers: opts.headers, body: opts.body }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

export async function runApiBench(): Promise<Record<string, number | string>> {
  // Baseline: a bare Fastify route with a constant body, same machine, same load generator.
  const bare = Fastify();
  bare.post('/x', async () => ({ message: 'ok', id: '00000000-0000-0000-0000-000000000000', credits_used: 0.25 }));
  await bare.listen({ port: 0, host: '127.0.0.1' });
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/x`;
  const base = await load(bareUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"a@b.test"}' });
  await bare.close();

  const dir = mkdtempSync(join(tmpdir(), 'openrow-bench-'));
  const config = loadConfig({ OPENROW_PORT: '0', OPENROW_DATA_DIR: dir, OPENROW_LOG_LEVEL: 'silent' });
  // No engines: the bench measures acceptance (parse, auth, reserve, insert), not verification.
  const o = await startOpenrow(config, { api: true, workers: false, engines: { live: {}, test: {} } });
  try {
    const { account } = await createAccount(o.store, { name: 'bench', subCents: 1e9 });
    const key = await createApiKey(o.store, account.id, { mode: 'live', rateLimitPerSec: 1_000_000 });
    const res = await load(`${o.url}/email/verify/single`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key.apiKey },
      body: JSON.stringify({ email: 'pam.beesly@dundermifflin.test', custom: { crm_id: 'lead_001' } }),
    });
    const non2xx = res.non2xx;

    const emails = JSON.stringify({ emails: Array.from({ length: 5000 }, (_, i) => `user${i}@bulk${i % 50}.test`) });
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const r = await fetch(`${o.url}/email/verify/bulk`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key.apiKey }, body: emails });
      await r.text();
      if (r.status !== 201) throw new Error(`bulk refused: ${r.status}`);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const out = {
      'bare route req/s': Math.round(base.requests.average),
      'bare route p99 ms': base.latency.p99,
      'single POST accepts/s': Math.round(res.requests.average),
      'single POST p99 ms': res.latency.p99,
      'single POST non-2xx': non2xx,
      'accept rate / bare (target ≥ 25 %)': `${((100 * res.requests.average) / base.requests.average).toFixed(1)} %`,
      '5,000-item bulk accept median ms (target ≤ 250)': Math.round(times[3]!),
      '5,000-item bulk accept best ms': Math.round(times[0]!),
    };
    return out;
  } finally {
    await o.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await runApiBench());
}
