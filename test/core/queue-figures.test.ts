// The backlog figures behind a bulk POST's estimated_duration: counted at most once a second, however
// many bulk POSTs arrive together.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAccount } from '../../src/store/accounts.js';
import { createSearch, queueFigures } from '../../src/store/searches.js';
import { BACKENDS, tempStore } from '../support/openrow.js';

for (const backend of BACKENDS) {
  describe(`queue figures (${backend})`, () => {
    let h: Awaited<ReturnType<typeof tempStore>>;
    before(async () => {
      h = await tempStore(backend);
    });
    after(async () => h.close());

    it('shares one reading a second, then counts again', async () => {
      const { account } = await createAccount(h.store, { name: 'fig', subCents: 100_000 });
      const bulk = async (n: number) => {
        const items = Array.from({ length: n }, (_, i) => ({ input: { email: `u${i}@x.test` }, raw: JSON.stringify(`u${i}@x.test`), custom: null }));
        await createSearch(h.store, { accountId: account.id, mode: 'live', product: 'verify', bulk: true, items, custom: null, settings: {}, webhookUrl: null, priceCents: 25 * n }, () => ({ statusCode: 201, body: '{}' }));
      };
      const t0 = Date.now();
      await bulk(3);
      assert.equal((await queueFigures(h.store, 'verify', 'live', t0)).waiting, 3);
      await bulk(4);
      assert.equal((await queueFigures(h.store, 'verify', 'live', t0 + 500)).waiting, 3, 'the reading of half a second ago');
      assert.equal((await queueFigures(h.store, 'verify', 'live', t0 + 1000)).waiting, 7, 'a second later: counted again');
      assert.equal((await queueFigures(h.store, 'find', 'live', t0 + 1000)).waiting, 0, 'each product its own');
      assert.equal((await queueFigures(h.store, 'verify', 'test', t0 + 1000)).waiting, 0, 'each mode its own: test traffic is not a live backlog');
    });

    it('measures the rate over the time work was actually finished in, at least a minute', async () => {
      const { account } = await createAccount(h.store, { name: 'rate', subCents: 100_000 });
      const items = Array.from({ length: 6 }, (_, i) => ({ input: { fullname: `P ${i}`, company_domain: 'x.test' }, raw: '{}', custom: null }));
      const { id } = await createSearch(h.store, { accountId: account.id, mode: 'live', product: 'find', bulk: true, items, custom: null, settings: {}, webhookUrl: null, priceCents: 600 }, () => ({ statusCode: 201, body: '{}' }));
      const now = Date.now() + 5000; // past the cache of the test before
      // six items finished over the last two minutes: 3 a minute, not 6 per 10 minutes
      await h.store.db.updateTable('items').set({ state: 'done', finished_at: now - 120_000 }).where('search_id', '=', id).where('idx', '<', 3).execute();
      await h.store.db.updateTable('items').set({ state: 'done', finished_at: now - 1000 }).where('search_id', '=', id).where('idx', '>=', 3).execute();
      const f = await queueFigures(h.store, 'find', 'live', now);
      assert.equal(f.waiting, 0);
      assert.ok(Math.abs(f.perMinute - 3) < 0.01, `perMinute ${f.perMinute}`);
    });
  });
}
