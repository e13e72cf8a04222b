// The SQLite outbox's own floor: the statements the outbox thread runs per delivery (claim with its
// payload, result + attempt row, commit), in a tight loop on one connection, batches of 27 as the
// dispatcher makes them at concurrency 32. No HTTP, no threads, no messages: what is left of a
// delivery's cost once everything around the database is taken away (compare with the outbox thread's
// CPU per delivery printed by `npm run bench -- webhooks-db`). Run twice: without WAL checkpoints, and
// checkpointing every 1,000 pages in the loop (work the checkpoint thread does in `openrow serve`).
// Run: npm run bench -- outbox-sql   (BENCH_OUTBOX_N to change the size)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { openStore } from '../src/store/db.js';
import { insertDeliveries } from '../src/store/deliveries.js';
import { finishValues, runOutboxJob, sqliteOutbox } from '../src/store/outbox-sqlite.js';
import { immediateTransaction } from '../src/store/group-commit.js';
import { newDeliveryRow } from './webhooks-db.js';
import type { Delivery } from '../src/webhooks/types.js';

const N = Number(process.env.BENCH_OUTBOX_N ?? 20_000);
const BATCH = 27;
const PAYLOAD = JSON.stringify({ event: 'single_search_finished', id: '0190f5c2-7b1a-7c3e-9d4f-2a6b8c0d1e2f', result: { email: 'dwight.schrute@dundermifflin.com', qualification: 'valid', pad: 'x'.repeat(400) } });
const HEADERS = { 'content-type': 'text/plain', date: new Date().toUTCString(), connection: 'keep-alive', 'keep-alive': 'timeout=5', 'content-length': '2' };

async function outboxFile(dir: string, name: string, n: number): Promise<string> {
  const file = join(dir, name);
  const s = await openStore({ url: file, backgroundCheckpoints: false });
  const now = Date.now();
  const rows = Array.from({ length: n }, (_, i) =>
    newDeliveryRow({ accountId: 'acc_bench', searchId: `search-${i}`, event: 'single_search_finished', url: 'https://127.0.0.1:9/hook', payload: PAYLOAD }, now),
  );
  await s.tx(async (trx) => {
    for (let i = 0; i < rows.length; i += 500) await insertDeliveries(trx, rows.slice(i, i + 500));
  });
  await s.close();
  return file;
}

/** µs per delivery of each step; the previous batch's results commit with the next claim, as in the thread. */
function run(file: string, n: number, autocheckpointPages: number) {
  const raw = new SQLite(file);
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma(`wal_autocheckpoint = ${autocheckpointPages}`);
  const st = sqliteOutbox(raw);
  const t = { claim: 0, finish: 0, commit: 0 };
  let inFlight: Delivery[] = [];
  let delivered = 0;
  const t0 = performance.now();
  for (;;) {
    let claimed: Delivery[] = [];
    let commitStart = 0;
    immediateTransaction(raw, () => {
      let s = performance.now();
      for (const d of inFlight) {
        const v = finishValues({ attemptNo: 1, startedAt: Date.now(), durationMs: 2, statusCode: 200, responseHeaders: HEADERS, responseBody: 'ok', error: null, errorKind: null }, { status: 'succeeded' });
        if (runOutboxJob(st, { kind: 'finish', id: d.id, owner: 'bench', v }) !== true) throw new Error('a result was refused');
      }
      t.finish += performance.now() - s;
      s = performance.now();
      claimed = runOutboxJob(st, { kind: 'claim', now: Date.now(), limit: BATCH, owner: 'bench', leaseMs: 60_000, sweep: false }) as Delivery[];
      t.claim += performance.now() - s;
      commitStart = performance.now();
    });
    t.commit += performance.now() - commitStart;
    delivered += inFlight.length;
    inFlight = claimed;
    if (!inFlight.length) break;
  }
  const total = performance.now() - t0;
  raw.close();
  if (delivered !== n) throw new Error(`delivered ${delivered} of ${n}`);
  const us = (ms: number) => Math.round((ms * 1000 * 100) / n) / 100;
  return { claim: us(t.claim), finish: us(t.finish), commit: us(t.commit), total: us(total) };
}

const dir = mkdtempSync(join(tmpdir(), 'openrow-outbox-sql-'));
try {
  console.log(`outbox statements alone, ${N} deliveries, batches of ${BATCH}, µs per delivery`);
  // not reported: the first run of anything in a process is slower (JIT)
  run(await outboxFile(dir, 'warm-up.sqlite', 2000), 2000, 0);
  for (const [label, pages] of [['no checkpoints', 0], ['checkpoint every 1,000 pages', 1000]] as const) {
    const r = run(await outboxFile(dir, `${pages}.sqlite`, N), N, pages);
    console.log(`  ${label}: claim ${r.claim}, result + attempt row ${r.finish}, commit ${r.commit}; total ${r.total}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
