// Free test-mode work shares the workers with live work: it never takes more than a quarter of them. And
// one search's backlog does not hold up the searches accepted after it (src/domain/fair-order.ts).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { OpenStore } from '../../src/store/db.js';
import { createAccount } from '../../src/store/accounts.js';
import { createSearch } from '../../src/store/searches.js';
import { createWorker } from '../../src/queue/worker.js';
import { claimItems, rescheduleItem, sweepExpiredLeases } from '../../src/queue/items-queue.js';
import type { Mode } from '../../src/store/schema.js';
import { BACKENDS, tempStore, waitFor } from '../support/openrow.js';

async function verifySearch(store: OpenStore, accountId: string, mode: Mode, emails: string[]) {
  const items = emails.map((email) => ({ input: { email }, raw: JSON.stringify(email), custom: null }));
  const { id } = await createSearch(
    store,
    { accountId, mode, product: 'verify', bulk: emails.length > 1, items, custom: null, settings: {}, webhookUrl: null, priceCents: 25 * emails.length },
    () => ({ statusCode: 201, body: '{}' }),
  );
  return id;
}

const done = (email: string) => ({ kind: 'done' as const, result: { email, qualification: 'valid' as const, details: { status: 'deliverable', reason: 'test' } } });

for (const backend of BACKENDS) {
  describe(`worker fairness (${backend})`, () => {
    let h: Awaited<ReturnType<typeof tempStore>>;
    before(async () => {
      h = await tempStore(backend);
    });
    after(async () => h.close());

    it('runs at most a quarter of its slots on test items, so live work never waits behind them', async () => {
      const store = h.store;
      const { account } = await createAccount(store, { name: 'fair', subCents: 100_000 });
      let release!: () => void;
      const stuck = new Promise<void>((r) => (release = r));
      let testRunning = 0;
      let testMax = 0;
      const w = createWorker({
        store,
        concurrency: 8,
        pollMs: 20,
        log: { error: () => undefined },
        engines: {
          live: { verifier: { verify: async (email) => done(email) } },
          test: {
            verifier: {
              async verify(email) {
                testMax = Math.max(testMax, ++testRunning);
                await stuck; // a tarpit: nothing answers
                testRunning--;
                return done(email);
              },
            },
          },
        },
      });
      w.start();
      try {
        const flood = await verifySearch(store, account.id, 'test', Array.from({ length: 40 }, (_, i) => `t${i}@tarpit.test`));
        await waitFor(async () => testRunning === 2, 10_000, 10);
        const live = await verifySearch(store, account.id, 'live', ['real@example.com']);
        await waitFor(async () => (await store.db.selectFrom('searches').select('status').where('id', '=', live).executeTakeFirstOrThrow()).status === 'completed', 10_000, 10);
        assert.equal(testMax, 2, 'a quarter of 8 slots');
        release();
        await waitFor(async () => (await store.db.selectFrom('searches').select('status').where('id', '=', flood).executeTakeFirstOrThrow()).status === 'completed', 20_000, 20);
        assert.equal(testMax, 2);
      } finally {
        release();
        await w.stop();
      }
    });

    it('a retry takes its place by when it is due, and an item whose worker died goes back in line by then', async () => {
      const store = h.store;
      const { account } = await createAccount(store, { name: 'order', subCents: 100_000 });
      const first = await verifySearch(store, account.id, 'live', ['grey@x.test', 'crash@x.test']);
      const t0 = Date.now();
      const [grey, crash] = (await claimItems(store, { owner: 'w1', products: ['verify'], modes: ['live'], limit: 100, leaseMs: 1000, now: t0 }))
        .filter((r) => r.search_id === first)
        .sort((a, b) => a.idx - b.idx);
      assert.ok(grey && crash);
      // grey is greylisted for a minute; crash's worker dies, and its lease is swept 1.5 s later
      assert.equal(await rescheduleItem(store, grey, 'w1', 60_000, { status: 'unknown', reason: 'greylisted' }, t0), true);
      assert.equal(await sweepExpiredLeases(store, t0 + 1500), 1);
      const bulk = await verifySearch(store, account.id, 'live', Array.from({ length: 4 }, (_, i) => `b${i}@x.test`));
      // one claim at a time, as a worker with one free slot makes them
      const sequence = async (now: number) => {
        const out: string[] = [];
        for (;;) {
          const [got] = (await claimItems(store, { owner: 'w2', products: ['verify'], modes: ['live'], limit: 1, leaseMs: 60_000, now })).filter((r) => r.search_id === first || r.search_id === bulk);
          if (!got) return out;
          out.push(`${got.search_id === first ? 'first' : 'bulk'}:${got.idx}`);
        }
      };
      // grey is not due, whatever its place; crash is back in line by its sweep (t0 + 1.5 s), behind the
      // bulk's items placed before that (before: it kept its first place, and came out ahead of them)
      assert.deepEqual(await sequence(t0 + 3000), ['bulk:0', 'bulk:1', 'first:1', 'bulk:2', 'bulk:3']);
      // due a minute later, grey is claimed then
      assert.deepEqual(await sequence(t0 + 61_000), ['first:0']);
    });

    it("a bulk's retries keep their places among the bulk's items, so a search accepted after they came due goes between", async () => {
      const store = h.store;
      const { account } = await createAccount(store, { name: 'grey-bulk', subCents: 100_000 });
      const bulk = await verifySearch(store, account.id, 'live', Array.from({ length: 6 }, (_, i) => `g${i}@grey.test`));
      const t0 = Date.now();
      const claimed = (await claimItems(store, { owner: 'w1', products: ['verify'], modes: ['live'], limit: 100, leaseMs: 60_000, now: t0 })).filter((r) => r.search_id === bulk);
      assert.equal(claimed.length, 6);
      // all greylisted for 2 s at once; a single is accepted once they are due again
      for (const item of claimed) assert.equal(await rescheduleItem(store, item, 'w1', 2_000, { status: 'unknown', reason: 'greylisted' }, t0), true);
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + 2_200 - Date.now())));
      const single = await verifySearch(store, account.id, 'live', ['s@x.test']);
      const order: string[] = [];
      for (;;) {
        const [got] = (await claimItems(store, { owner: 'w2', products: ['verify'], modes: ['live'], limit: 1, leaseMs: 60_000 })).filter((r) => r.search_id === bulk || r.search_id === single);
        if (!got) break;
        order.push(got.search_id === bulk ? `bulk:${got.idx}` : 'single');
      }
      // before: the six came due as one block (each placed at its due time) and all went ahead of the
      // single; now only those whose place had passed by then do
      assert.deepEqual(order, ['bulk:0', 'bulk:1', 'bulk:2', 'single', 'bulk:3', 'bulk:4', 'bulk:5']);
    });

    it("another account's single is not queued behind a whole bulk accepted before it", async () => {
      const store = h.store;
      const { account: a } = await createAccount(store, { name: 'bulk', subCents: 100_000 });
      const { account: b } = await createAccount(store, { name: 'single', subCents: 100_000 });
      const order: string[] = [];
      const w = createWorker({
        store,
        concurrency: 1,
        pollMs: 20,
        log: { error: () => undefined },
        engines: {
          live: {
            verifier: {
              async verify(email) {
                order.push(email);
                await new Promise((r) => setTimeout(r, 5));
                return done(email);
              },
            },
          },
          test: {},
        },
      });
      // both accepted before the worker starts: all of the bulk is due before the single
      const bulk = await verifySearch(store, a.id, 'live', Array.from({ length: 40 }, (_, i) => `a${i}@bulk.example`));
      await new Promise((r) => setTimeout(r, 5));
      const single = await verifySearch(store, b.id, 'live', ['b@single.example']);
      w.start();
      try {
        await waitFor(async () => (await store.db.selectFrom('searches').select('status').where('id', '=', single).executeTakeFirstOrThrow()).status === 'completed', 10_000, 10);
        // before: the single ran 41st, after every item of the bulk
        assert.ok(order.indexOf('b@single.example') <= 1, `the single ran at position ${order.indexOf('b@single.example') + 1}: ${order.join(' ')}`);
        await waitFor(async () => (await store.db.selectFrom('searches').select('status').where('id', '=', bulk).executeTakeFirstOrThrow()).status === 'completed', 20_000, 20);
        // the bulk itself still runs in its own order
        assert.deepEqual(order.filter((e) => e.startsWith('a')), Array.from({ length: 40 }, (_, i) => `a${i}@bulk.example`));
      } finally {
        await w.stop();
      }
    });
  });
}
