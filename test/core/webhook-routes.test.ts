// The user-facing webhook routes: global URL, secret and rotation, the delivery log, redrive and
// recovery, scoped per account; plus /metrics. Deliveries are born the real way: a search completes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, call, startTestOpenrow, type TestOpenrow } from '../support/openrow.js';
import { claimItems, completeItem } from '../../src/queue/items-queue.js';

for (const backend of BACKENDS) {
  describe(`webhook routes (${backend})`, () => {
    let o: TestOpenrow;
    before(async () => {
      // no workers: this file completes searches itself and inspects the outbox without a dispatcher draining it
      o = await startTestOpenrow(backend, { workers: false, env: { OPENROW_RATE_LIMIT_PER_SEC: '1000' } });
    });
    after(async () => o?.close());

    async function completedSearch(key: string, webhook?: string) {
      const r = await call(o.url, 'POST', '/email/verify/single', { key, body: { email: 'pam@x.test', ...(webhook ? { settings: { webhook } } : {}) } });
      assert.equal(r.status, 200);
      const [item] = (await claimItems(o.store, { owner: 't', products: ['verify'], limit: 1000, leaseMs: 60_000 })).filter((i) => i.search_id === r.body.id);
      await completeItem(o.store, item!, 't', { result: { email: 'pam@x.test', qualification: 'valid', details: { status: 'deliverable', reason: 'accepted' } }, qualification: 'valid', charged: true });
      return r.body.id as string;
    }

    it('sets and clears the global webhook URL, refusing non-https', async () => {
      const { key } = await o.newAccount(10);
      let r = await call(o.url, 'PUT', '/account/webhook', { key, body: { url: 'http://plain.example/x' } });
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, { message: 'Invalid webhook: an https URL is required' });
      r = await call(o.url, 'PUT', '/account/webhook', { key, body: { url: 'https://hooks.example/enrow' } });
      assert.equal(r.status, 200);
      assert.deepEqual((await call(o.url, 'GET', '/account/info', { key })).body.webhooks, ['https://hooks.example/enrow']);
      r = await call(o.url, 'PUT', '/account/webhook', { key, body: { url: null } });
      assert.deepEqual((await call(o.url, 'GET', '/account/info', { key })).body.webhooks, []);
    });

    it('shows a whsec_ secret and rotates it', async () => {
      const { key } = await o.newAccount(10);
      const s1 = await call(o.url, 'GET', '/webhooks/secret', { key });
      assert.match(s1.body.secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
      assert.equal((await call(o.url, 'GET', '/webhooks/secret', { key })).body.secret, s1.body.secret, 'stable until rotated');
      const rot = await call(o.url, 'POST', '/webhooks/secret/rotate', { key });
      assert.notEqual(rot.body.secret, s1.body.secret);
      assert.ok(Date.parse(rot.body.previous_secret_valid_until) > Date.now() + 23 * 3600 * 1000);
    });

    it('lists, shows, redrives and recovers deliveries of the caller only', async () => {
      const a = await o.newAccount(10);
      const b = await o.newAccount(10);
      const id1 = await completedSearch(a.key, 'https://hooks.example/a');
      await completedSearch(a.key, 'https://hooks.example/a2');
      await completedSearch(b.key, 'https://hooks.example/b');
      const list = await call(o.url, 'GET', '/webhooks/deliveries?limit=1', { key: a.key });
      assert.equal(list.status, 200);
      assert.equal(list.body.data.length, 1);
      assert.ok(list.body.next_cursor);
      const page2 = await call(o.url, 'GET', `/webhooks/deliveries?limit=1&cursor=${encodeURIComponent(list.body.next_cursor)}`, { key: a.key });
      assert.equal(page2.body.data.length, 1);
      assert.notEqual(page2.body.data[0].id, list.body.data[0].id);
      const bySearch = await call(o.url, 'GET', `/webhooks/deliveries?search_id=${id1}`, { key: a.key });
      assert.equal(bySearch.body.data.length, 1);
      assert.equal(bySearch.body.data[0].event, 'verification_finished');
      const deliveryId = bySearch.body.data[0].id;
      assert.equal((await call(o.url, 'GET', `/webhooks/deliveries?search_id=${id1}`, { key: b.key })).body.data.length, 0);

      const shown = await call(o.url, 'GET', `/webhooks/deliveries/${deliveryId}`, { key: a.key });
      assert.equal(shown.status, 200);
      assert.equal(JSON.parse(shown.body.payload).id, id1);
      assert.deepEqual(shown.body.attempts, []);
      assert.equal((await call(o.url, 'GET', `/webhooks/deliveries/${deliveryId}`, { key: b.key })).status, 404);
      assert.equal((await call(o.url, 'POST', `/webhooks/deliveries/${deliveryId}/retry`, { key: b.key })).status, 404);

      await o.store.db.updateTable('webhook_deliveries').set({ status: 'failed' }).where('account_id', '=', a.accountId).execute();
      const failed = await call(o.url, 'GET', '/webhooks/deliveries?status=failed', { key: a.key });
      assert.equal(failed.body.data.length, 2);
      const retry = await call(o.url, 'POST', `/webhooks/deliveries/${deliveryId}/retry`, { key: a.key });
      assert.equal(retry.status, 202);
      assert.equal((await call(o.url, 'GET', `/webhooks/deliveries/${deliveryId}`, { key: a.key })).body.status, 'pending');
      const tooOld = await call(o.url, 'POST', '/webhooks/recover', { key: a.key, body: { since: new Date(Date.now() - 15 * 86400_000).toISOString() } });
      assert.equal(tooOld.status, 400);
      const rec = await call(o.url, 'POST', '/webhooks/recover', { key: a.key, body: { since: new Date(Date.now() - 3600_000).toISOString() } });
      assert.equal(rec.status, 202);
      assert.equal(rec.body.recovered, 1);
    });

    it('exposes Prometheus metrics', async () => {
      const r = await call(o.url, 'GET', '/metrics');
      assert.equal(r.status, 200);
      assert.match(r.text, /openrow_queue_items/);
      assert.match(r.text, /openrow_webhook_deliveries\{status="/);
    });
  });
}
