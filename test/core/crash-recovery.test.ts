// Issue 2: a worker killed with SIGKILL in the middle of a bulk job loses nothing. Real processes
// (`openrow serve` with no workers, then `openrow worker` twice) over one SQLite file; the work is phone
// lookups against a real HTTP vendor on loopback that answers slowly, so the kill lands mid-batch.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawnOpenrow, type OpenrowProcess } from '../support/processes.js';
import { call, waitFor } from '../support/openrow.js';
import { openStore } from '../../src/store/db.js';

const N = 120;
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'openrow.js');

describe('crash recovery (real processes, SIGKILL)', () => {
  let dir: string;
  let vendor: Server;
  let vendorRequests = 0;
  const procs: OpenrowProcess[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'openrow-crash-'));
    vendor = createServer((req, res) => {
      vendorRequests++;
      const u = new URL(req.url ?? '/', 'http://x').searchParams.get('u') ?? '';
      const i = Number(/\/in\/person-(\d+)$/.exec(u)?.[1] ?? -1);
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        // even people have a (valid, San Francisco) number, odd ones none
        res.end(JSON.stringify({ phone: i % 2 === 0 ? `+1415237${String(1000 + i).padStart(4, '0')}` : null }));
      }, 40);
    });
    await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', () => r()));
  });

  after(async () => {
    for (const p of procs) await p.kill();
    await new Promise<void>((r) => vendor.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('finishes every item exactly once after a worker is killed mid-bulk, and credits balance', async () => {
    const port = (vendor.address() as AddressInfo).port;
    const env = {
      OPENROW_DATA_DIR: dir,
      OPENROW_PORT: '0',
      OPENROW_QUEUE_LEASE_MS: '1500',
      OPENROW_PHONE_PROVIDERS: JSON.stringify([{ name: 'vendor', type: 'http_json', url: `http://127.0.0.1:${port}/lookup?u={linkedin_url}`, number_path: 'phone', timeout_ms: 5000 }]),
    };
    const created = spawnSync(process.execPath, [BIN, 'accounts', 'create', '--name', 'crash', '--credits', '20000'], { env: { ...process.env, ...env, OPENROW_LOG_LEVEL: 'silent' }, encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    const { api_key: key, account_id: accountId } = JSON.parse(created.stdout);

    const api = await spawnOpenrow('serve', { ...env, OPENROW_WORKER_CONCURRENCY: '0' });
    procs.push(api);
    const searches = Array.from({ length: N }, (_, i) => ({ linkedin_url: `https://www.linkedin.com/in/person-${i}`, custom: { row: i } }));
    const post = await call(api.url!, 'POST', '/phone/bulk', { key, body: { searches } });
    assert.equal(post.status, 201, post.text);
    const id = post.body.id;

    const progress = async () => (await call(api.url!, 'GET', `/phone/bulk?id=${id}`, { key })).body;
    const w1 = await spawnOpenrow('worker', { ...env, OPENROW_WORKER_CONCURRENCY: '4' });
    procs.push(w1);
    await waitFor(async () => (await progress()).stats.finished >= N / 4, 60_000);
    await w1.kill('SIGKILL');
    const atKill = (await progress()).stats.finished;
    assert.ok(atKill < N, 'the kill landed before the end');

    const w2 = await spawnOpenrow('worker', { ...env, OPENROW_WORKER_CONCURRENCY: '4' });
    procs.push(w2);
    const done = await waitFor(async () => {
      const p = await progress();
      return p.general.status === 'completed' ? p : null;
    }, 90_000);

    assert.equal(done.results.length, N);
    assert.deepEqual(done.results.map((r: { index: number }) => r.index), Array.from({ length: N }, (_, i) => i));
    const found = done.results.filter((r: { qualification: string }) => r.qualification === 'found');
    assert.equal(found.length, N / 2);
    for (const r of done.results) assert.equal(r.custom.row, r.index);
    assert.equal(done.stats.credits_cost, (N / 2) * 50);
    const info = await call(api.url!, 'GET', '/account/info', { key });
    assert.equal(info.body.credits, 20000 - (N / 2) * 50);

    await api.kill('SIGTERM');
    await w2.kill('SIGTERM');
    const store = await openStore({ url: join(dir, 'openrow.sqlite'), migrate: false });
    try {
      const s = await store.db.selectFrom('searches').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(s.finished, N, 'each item counted once');
      const ledger = await store.db.selectFrom('ledger').selectAll().where('account_id', '=', accountId).execute();
      const sum = ledger.reduce((a, l) => a + l.sub_cents + l.paygo_cents, 0);
      const acct = await store.db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirstOrThrow();
      assert.equal(sum, acct.sub_cents + acct.paygo_cents, 'the ledger adds up to the balance');
      const refunds = ledger.filter((l) => l.kind === 'refund' && l.search_id === id);
      assert.equal(refunds.length, N / 2, 'one refund per not-found item, none twice');
      const retried = await store.db.selectFrom('items').select('idx').where('search_id', '=', id).where('attempts', '>', 1).execute();
      console.log(`# crash test: killed at ${atKill}/${N} finished; ${retried.length} items re-run after the kill; vendor saw ${vendorRequests} requests for ${N} items`);
    } finally {
      await store.close();
    }
  });
});
