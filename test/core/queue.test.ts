// The durable queue on both databases: disjoint claims, leases, the sweeper, fencing, retries, and the
// one-transaction completion (result + refund + progress + webhook outbox row).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { OpenStore } from '../../src/store/db.js';
import { createAccount, getAccount, grantCredits, setGlobalWebhook } from '../../src/store/accounts.js';
import { createSearch } from '../../src/store/searches.js';
import { claimItems, completeItem, rescheduleItem, sweepExpiredLeases } from '../../src/queue/items-queue.js';
import { BACKENDS, tempStore } from '../support/openrow.js';

for (const backend of BACKENDS) {
  describe(`queue (${backend})`, () => {
    let store: OpenStore;
    let handle: Awaited<ReturnType<typeof tempStore>>;
    before(async () => {
      handle = await tempStore(backend);
      store = handle.store;
    });
    after(async () => handle.close());

    const payloadOf = async (deliveryId: string) =>
      (await store.db.selectFrom('webhook_payloads').select('payload').where('delivery_id', '=', deliveryId).executeTakeFirstOrThrow()).payload;

    async function newSearch(n: number, opts: { webhook?: string | null; credits?: number } = {}) {
      const { account } = await createAccount(store, { name: 'q', subCents: (opts.credits ?? 100) * 100 });
      const items = Array.from({ length: n }, (_, i) => ({ input: { email: `u${i}@q.test` }, raw: JSON.stringify(`u${i}@q.test`), custom: null }));
      const { id } = await createSearch(
        store,
        { accountId: account.id, mode: 'live', product: 'verify', bulk: n > 1, items, custom: '{"k": 1.50}', settings: {}, webhookUrl: opts.webhook ?? null, priceCents: 25 },
        () => ({ statusCode: 201, body: '{}' }),
      );
      return { id, accountId: account.id };
    }

    it('keeps a ledger that adds up to every balance, test balance and mixed grants included', async () => {
      const store = handle.store;
      const { account } = await createAccount(store, { name: 'ledger', subCents: 1000, paygoCents: 250 });
      await grantCredits(store, account.id, { subCents: 75, testCents: 500 }, 'mixed');
      await grantCredits(store, account.id, { paygoCents: 30 });
      const acct = (await getAccount(store, account.id))!;
      const rows = await store.db.selectFrom('ledger').selectAll().where('account_id', '=', account.id).execute();
      const sum = (k: 'sub_cents' | 'paygo_cents' | 'test_cents') => rows.reduce((s, l) => s + Number(l[k]), 0);
      assert.deepEqual([sum('sub_cents'), sum('paygo_cents'), sum('test_cents')], [acct.sub_cents, acct.paygo_cents, acct.test_cents]);
      // each row's mode says which balance it moved
      for (const l of rows) assert.equal(l.mode, Number(l.test_cents) ? 'test' : 'live', JSON.stringify(l));
    });

    it('gives concurrent claimers disjoint items', async () => {
      const { id } = await newSearch(60);
      const claims = await Promise.all(
        ['a', 'b', 'c'].map((owner) => claimItems(store, { owner, products: ['verify'], limit: 25, leaseMs: 60_000 })),
      );
      const mine = claims.flat().filter((c) => c.search_id === id);
      const keys = mine.map((c) => c.idx);
      assert.equal(new Set(keys).size, keys.length, 'no item claimed twice');
      assert.equal(keys.length, 60);
      for (const c of mine) assert.equal(c.attempts, 1);
    });

    it('completes items, refunds the uncharged, and writes the outbox row with the completion', async () => {
      const { id, accountId } = await newSearch(3, { webhook: 'https://hooks.example/x', credits: 1 });
      const claimed = (await claimItems(store, { owner: 'w', products: ['verify'], limit: 100, leaseMs: 60_000 })).filter((c) => c.search_id === id);
      assert.equal(claimed.length, 3);
      const acct0 = await getAccount(store, accountId);
      assert.equal(acct0!.sub_cents, 25);
      // verify charges every check; refund path exercised with charged=false on one item
      const outcomes = [true, false, true];
      for (let i = 0; i < 3; i++) {
        const eff = await completeItem(store, claimed[i]!, 'w', { result: { email: `u${i}@q.test`, qualification: outcomes[i] ? 'valid' : 'invalid', details: { status: 'x', reason: 'y' } }, qualification: outcomes[i] ? 'valid' : 'invalid', charged: outcomes[i]! });
        assert.equal(eff?.completedSearch, i === 2);
        const deliveries = await store.db.selectFrom('webhook_deliveries').selectAll().where('search_id', '=', id).execute();
        assert.equal(deliveries.length, i === 2 ? 1 : 0, 'the outbox row appears exactly when the search completes');
      }
      const acct = await getAccount(store, accountId);
      assert.equal(acct!.sub_cents, 50, 'one refund of 0.25');
      const ledger = await store.db.selectFrom('ledger').selectAll().where('account_id', '=', accountId).orderBy('id').execute();
      const sum = ledger.reduce((s, l) => s + l.sub_cents + l.paygo_cents, 0);
      assert.equal(sum, acct!.sub_cents + acct!.paygo_cents, 'the ledger adds up to the balance');
      const [d] = await store.db.selectFrom('webhook_deliveries').selectAll().where('search_id', '=', id).execute();
      assert.equal(d!.event, 'bulk_verification_finished');
      assert.equal(d!.url, 'https://hooks.example/x');
      // the batch's own custom comes back too (API.md: custom is returned as given)
      assert.deepEqual(JSON.parse(await payloadOf(d!.id)), { event: 'bulk_verification_finished', id, credits: { cost: 0.5 }, custom: { k: 1.5 } });
      const s = await store.db.selectFrom('searches').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(s.status, 'completed');
      assert.equal(s.finished, 3);
    });

    it('uses the global webhook URL when the request had none, and none when neither exists', async () => {
      const a = await newSearch(1);
      await setGlobalWebhook(store, a.accountId, 'https://global.example/hook');
      const [c] = (await claimItems(store, { owner: 'g', products: ['verify'], limit: 100, leaseMs: 60_000 })).filter((x) => x.search_id === a.id);
      await completeItem(store, c!, 'g', { result: { email: 'u0@q.test', qualification: 'valid', details: { status: 'deliverable', reason: 'r' } }, qualification: 'valid', charged: true });
      const [d] = await store.db.selectFrom('webhook_deliveries').selectAll().where('search_id', '=', a.id).execute();
      assert.equal(d!.url, 'https://global.example/hook');
      assert.equal(d!.event, 'verification_finished');
      assert.ok((await payloadOf(d!.id)).includes('"custom":{"k": 1.50}'), 'custom spliced verbatim into the payload');

      const b = await newSearch(1);
      const [cb] = (await claimItems(store, { owner: 'g', products: ['verify'], limit: 100, leaseMs: 60_000 })).filter((x) => x.search_id === b.id);
      await completeItem(store, cb!, 'g', { result: { email: 'u0@q.test', qualification: 'valid', details: { status: 'deliverable', reason: 'r' } }, qualification: 'valid', charged: true });
      assert.equal((await store.db.selectFrom('webhook_deliveries').selectAll().where('search_id', '=', b.id).execute()).length, 0);
    });

    it('requeues expired leases, and fences out the worker that lost its lease', async () => {
      const { id } = await newSearch(1);
      const [first] = (await claimItems(store, { owner: 'dead', products: ['verify'], limit: 100, leaseMs: 1000 })).filter((x) => x.search_id === id);
      assert.ok(first);
      assert.equal(await sweepExpiredLeases(store), 0, 'a live lease is left alone');
      assert.ok((await sweepExpiredLeases(store, Date.now() + 5000)) >= 1);
      const [second] = (await claimItems(store, { owner: 'alive', products: ['verify'], limit: 100, leaseMs: 60_000, now: Date.now() + 5000 })).filter((x) => x.search_id === id);
      assert.ok(second);
      assert.equal(second!.attempts, 2);
      const ok = { result: { email: 'u0@q.test', qualification: 'valid', details: { status: 'deliverable', reason: 'r' } }, qualification: 'valid', charged: true };
      assert.equal(await completeItem(store, first!, 'dead', ok), null, 'the old owner cannot finish it');
      assert.ok(await completeItem(store, second!, 'alive', ok));
      const s = await store.db.selectFrom('searches').select(['finished']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(s.finished, 1);
    });

    it('reschedules a temporary failure without holding a worker', async () => {
      const { id } = await newSearch(1);
      const [c] = (await claimItems(store, { owner: 'r', products: ['verify'], limit: 100, leaseMs: 60_000 })).filter((x) => x.search_id === id);
      assert.ok(await rescheduleItem(store, c!, 'r', 60_000, { status: 'unknown', reason: 'greylisted' }));
      const now = (await claimItems(store, { owner: 'r', products: ['verify'], limit: 100, leaseMs: 60_000 })).filter((x) => x.search_id === id);
      assert.equal(now.length, 0, 'not due yet');
      const later = (await claimItems(store, { owner: 'r', products: ['verify'], limit: 100, leaseMs: 60_000, now: Date.now() + 61_000 })).filter((x) => x.search_id === id);
      assert.equal(later.length, 1);
      assert.equal(later[0]!.attempts, 2);
    });
  });
}
