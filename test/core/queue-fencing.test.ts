// Claims are fenced per claim, not just per worker: a run whose lease lapsed never finishes or
// reschedules an item claimed again since (even by the same worker); an item whose completion failed is
// not kept alive by the heartbeat; a stopping worker keeps the leases of what it is still finishing.
// Each test failed before its fix (found by review), on both databases.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { OpenStore } from '../../src/store/db.js';
import { createAccount } from '../../src/store/accounts.js';
import { createSearch } from '../../src/store/searches.js';
import { createWorker } from '../../src/queue/worker.js';
import { claimItems, completeItem, rescheduleItem, sweepExpiredLeases } from '../../src/queue/items-queue.js';
import { BACKENDS, tempStore } from '../support/openrow.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function newSearch(store: OpenStore, email = 'u0@q.test') {
  const { account } = await createAccount(store, { name: 'q', subCents: 10_000, paygoCents: 0 });
  const items = [{ input: { email }, raw: JSON.stringify(email), custom: null }];
  const { id } = await createSearch(
    store,
    { accountId: account.id, mode: 'live', product: 'verify', bulk: false, items, custom: null, settings: {}, webhookUrl: null, priceCents: 25 },
    () => ({ statusCode: 201, body: '{}' }),
  );
  return id;
}

const valid = (email: string, reason: string) => ({ kind: 'done' as const, result: { email, qualification: 'valid' as const, details: { status: 'deliverable', reason } } });

for (const backend of BACKENDS) {
  describe(`queue fencing (${backend})`, () => {
    let h: Awaited<ReturnType<typeof tempStore>>;
    before(async () => {
      h = await tempStore(backend);
    });
    after(async () => h.close());

    /** Waits (at most 10 s) for the search's item to be finished, whatever its outcome. */
    async function untilDone(searchId: string, what: string) {
      const until = Date.now() + 10_000;
      while ((await h.store.db.selectFrom('items').select('state').where('search_id', '=', searchId).executeTakeFirstOrThrow()).state !== 'done') {
        assert.ok(Date.now() < until, what);
        await sleep(20);
      }
    }

    async function staleAndFresh(owner: string) {
      const id = await newSearch(h.store);
      const t0 = Date.now();
      const [stale] = (await claimItems(h.store, { owner, products: ['verify'], limit: 10, leaseMs: 1000, now: t0 })).filter((c) => c.search_id === id);
      // the lease lapses, a sweeper returns the item, the same worker claims it again
      assert.ok((await sweepExpiredLeases(h.store, t0 + 5000)) >= 1);
      const [fresh] = (await claimItems(h.store, { owner, products: ['verify'], limit: 10, leaseMs: 60_000, now: t0 + 5000 })).filter((c) => c.search_id === id);
      assert.equal(fresh!.attempts, 2);
      return { id, stale: stale!, fresh: fresh! };
    }

    it('a lapsed run of the same worker cannot reschedule an item claimed again since', async () => {
      const { id, stale } = await staleAndFresh('w1');
      assert.equal(await rescheduleItem(h.store, stale, 'w1', 60_000, { status: 'unknown', reason: 'stale greylist' }), false);
      const row = await h.store.db.selectFrom('items').select(['state', 'attempts']).where('search_id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { state: 'running', attempts: 2 });
    });

    it('a lapsed run of the same worker cannot finish an item claimed again since; the current run can', async () => {
      const { stale, fresh } = await staleAndFresh('w2');
      const ok = { result: valid('u0@q.test', 'x').result, qualification: 'valid', charged: true };
      assert.equal(await completeItem(h.store, stale, 'w2', ok), null);
      assert.ok(await completeItem(h.store, fresh, 'w2', ok));
    });

    it('an item whose completion failed is not kept alive by the heartbeat: it is swept and finished', async () => {
      const real = h.store;
      let failNextTx = false;
      // failure injection: the next transaction fails once, as on SQLITE_BUSY or a lost connection
      const store: OpenStore = { ...real, tx: (fn) => (failNextTx ? ((failNextTx = false), Promise.reject(new Error('transient db error'))) : real.tx(fn)) };
      const a = await newSearch(real, 'fails@q.test'); // finishes at once, but its completion hits the error
      await newSearch(real, 'busy@q.test'); // keeps the worker busy meanwhile, so its heartbeat runs
      let releaseBusy!: () => void;
      const busy = new Promise<void>((r) => (releaseBusy = r));
      let calls = 0;
      const w = createWorker({
        store,
        concurrency: 4,
        leaseMs: 600,
        pollMs: 50,
        log: { error: () => undefined },
        engines: {
          live: {
            verifier: {
              async verify(email) {
                if (email === 'busy@q.test') {
                  await busy;
                  return valid(email, 'busy');
                }
                if (calls++ === 0) failNextTx = true;
                return valid(email, calls === 1 ? 'first' : 'again');
              },
            },
          },
          test: {},
        },
      });
      w.start();
      try {
        const done = async () => (await real.db.selectFrom('items').select('state').where('search_id', '=', a).executeTakeFirstOrThrow()).state === 'done';
        const until = Date.now() + 20_000;
        while (!(await done())) {
          // before the fix the busy worker's heartbeat renewed its lease for as long as it stayed busy
          assert.ok(Date.now() < until, 'the item whose completion failed was never finished');
          await sleep(50);
        }
      } finally {
        releaseBusy();
        await w.stop();
      }
    });

    it('an item whose engine keeps failing is finished as undetermined and refunded once the window has passed', async () => {
      const id = await newSearch(h.store, 'boom@q.test');
      let calls = 0;
      const w = createWorker({
        store: h.store,
        concurrency: 2,
        leaseMs: 5000,
        pollMs: 20,
        engineFailureWindowMs: 300,
        log: { error: () => undefined },
        engines: {
          live: {
            verifier: {
              async verify() {
                calls++;
                throw new Error('boom');
              },
            },
          },
          test: {},
        },
      });
      w.start();
      try {
        const until = Date.now() + 20_000;
        for (;;) {
          const row = await h.store.db.selectFrom('items').select('state').where('search_id', '=', id).executeTakeFirstOrThrow();
          if (row.state === 'done') break;
          // before, it was requeued with a backoff for ever: the search never completed, nothing was refunded
          assert.ok(Date.now() < until, `still ${row.state} after ${calls} engine calls`);
          // the backoff is not what this test waits for
          await h.store.db.updateTable('items').set({ run_at: 0 }).where('search_id', '=', id).where('state', '=', 'queued').execute();
          await sleep(20);
        }
      } finally {
        await w.stop();
      }
      assert.ok(calls >= 2, 'retried before giving up');
      const item = await h.store.db.selectFrom('items').select(['qualification', 'charged_cents', 'result']).where('search_id', '=', id).executeTakeFirstOrThrow();
      assert.equal(item.qualification, 'invalid');
      assert.equal(item.charged_cents, 0);
      const result = JSON.parse(item.result!) as { email: string; details: { status: string; reason: string } };
      assert.equal(result.email, 'boom@q.test');
      assert.equal(result.details.status, 'unknown');
      assert.match(result.details.reason, /the verify engine failed on every attempt: boom/);
      const search = await h.store.db.selectFrom('searches').select(['status', 'refunded_sub_cents']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(search.status, 'completed');
      assert.equal(Number(search.refunded_sub_cents), 25);
    });

    it('an engine call that never settles is abandoned at its deadline (signal aborted), then given up as undetermined', async () => {
      const id = await newSearch(h.store, 'hang@q.test');
      const signals: AbortSignal[] = [];
      const w = createWorker({
        store: h.store,
        concurrency: 2,
        leaseMs: 5000,
        pollMs: 20,
        engineCallTimeoutMs: 150,
        engineFailureWindowMs: 0,
        log: { error: () => undefined },
        engines: {
          live: {
            verifier: {
              // before: awaited for ever, its slot held and its lease renewed by the heartbeat
              verify: (_email, ctx) => {
                signals.push(ctx.signal!);
                return new Promise(() => undefined);
              },
            },
          },
          test: {},
        },
      });
      w.start();
      try {
        await untilDone(id, 'the hanging call was never abandoned');
      } finally {
        await w.stop();
      }
      assert.equal(signals.length, 1);
      assert.equal(signals[0]!.aborted, true);
      const item = await h.store.db.selectFrom('items').select(['charged_cents', 'result']).where('search_id', '=', id).executeTakeFirstOrThrow();
      assert.equal(item.charged_cents, 0);
      assert.match(JSON.parse(item.result!).details.reason, /the verify engine failed on every attempt: the engine call took more than 150 ms and was abandoned/);
    });

    it('an item started over and over without finishing (its run kills the process) is given up past the window, not run again', async () => {
      const id = await newSearch(h.store, 'crash@q.test');
      // as 51 crashed runs left it: claimed 51 times, first an hour ago, its last lease lapsed
      await h.store.db.updateTable('items').set({ attempts: 51, first_attempt_at: Date.now() - 3600_000 }).where('search_id', '=', id).execute();
      let calls = 0;
      const w = createWorker({
        store: h.store,
        concurrency: 2,
        leaseMs: 5000,
        pollMs: 20,
        log: { error: () => undefined },
        engines: { live: { verifier: { verify: async (email) => (calls++, valid(email, 'ran')) } }, test: {} },
      });
      w.start();
      try {
        await untilDone(id, 'never finished');
      } finally {
        await w.stop();
      }
      // before: run a 52nd time, and a 53rd after the next crash
      assert.equal(calls, 0);
      const item = await h.store.db.selectFrom('items').select(['charged_cents', 'result']).where('search_id', '=', id).executeTakeFirstOrThrow();
      assert.equal(item.charged_cents, 0);
      assert.match(JSON.parse(item.result!).details.reason, /started 52 times without finishing, and given up/);
    });

    it('a stopping worker keeps the leases of the items it is still finishing', async () => {
      const id = await newSearch(h.store);
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const w = createWorker({
        store: h.store,
        concurrency: 2,
        leaseMs: 600,
        pollMs: 50,
        engines: {
          live: {
            verifier: {
              async verify(email) {
                started();
                await sleep(2500);
                return valid(email, 'slow');
              },
            },
          },
          test: {},
        },
      });
      w.start();
      await running;
      const stopping = w.stop();
      // two leases later another process's sweeper and claimer run
      await sleep(1200);
      await sweepExpiredLeases(h.store);
      const other = (await claimItems(h.store, { owner: 'other-process', products: ['verify'], limit: 10, leaseMs: 60_000 })).filter((c) => c.search_id === id);
      await stopping;
      assert.equal(other.length, 0, 'an item still being finished was handed to another worker');
      const row = await h.store.db.selectFrom('items').select('state').where('search_id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.state, 'done');
    });
  });
}
