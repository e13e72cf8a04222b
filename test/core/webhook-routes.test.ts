// The user-facing webhook routes: global URL, secret and rotation, the delivery log, redrive and
// recovery, scoped per account; plus /metrics. Deliveries are born the real way: a search completes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, call, startTestOpenrow, waitFor, type TestOpenrow } from '../support/openrow.js';
import { claimItems, completeItem } from '../../src/queue/items-queue.js';
import { rotateSecret, signingSecrets } from '../../src/store/webhooks.js';

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

    it('redrives a delivery made for the global URL to that URL as it is now; with none, a retry is refused and a recover skips it', async () => {
      const a = await o.newAccount(10);
      const put = (url: string | null) => call(o.url, 'PUT', '/account/webhook', { key: a.key, body: { url } });
      assert.equal((await put('https://hooks.example/old')).status, 200);
      const viaGlobal = await completedSearch(a.key);
      const viaOwn = await completedSearch(a.key, 'https://hooks.example/own');
      const fail = () => o.store.db.updateTable('webhook_deliveries').set({ status: 'failed' }).where('account_id', '=', a.accountId).execute();
      const urls = async () => {
        const list = (await call(o.url, 'GET', '/webhooks/deliveries', { key: a.key })).body.data as Array<{ id: string; search_id: string; url: string; status: string }>;
        return Object.fromEntries(list.map((d) => [d.search_id === viaGlobal ? 'global' : 'own', d]));
      };
      await fail();
      // the receiver moved: "change the URL, then recover" (before: the old URL again, for ever)
      assert.equal((await put('https://hooks.example/new')).status, 200);
      const since = new Date(Date.now() - 3600_000).toISOString();
      const rec = await call(o.url, 'POST', '/webhooks/recover', { key: a.key, body: { since } });
      assert.equal(rec.body.recovered, 2);
      let now = await urls();
      assert.equal(now.global!.url, 'https://hooks.example/new');
      assert.equal(now.own!.url, 'https://hooks.example/own');
      // no global URL any more: no URL, no delivery
      await fail();
      assert.equal((await put(null)).status, 200);
      const retry = await call(o.url, 'POST', `/webhooks/deliveries/${now.global!.id}/retry`, { key: a.key });
      assert.equal(retry.status, 409);
      assert.deepEqual(retry.body, { message: 'This delivery was made for the global webhook URL, which is now unset or disabled' });
      assert.equal((await call(o.url, 'POST', '/webhooks/recover', { key: a.key, body: { since } })).body.recovered, 1);
      now = await urls();
      assert.equal(now.global!.status, 'failed');
      assert.equal(now.own!.status, 'pending');
    });

    it('shows a whsec_ secret and rotates it', async () => {
      const { key } = await o.newAccount(10);
      const s1 = await call(o.url, 'GET', '/webhooks/secret', { key });
      assert.match(s1.body.secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
      assert.equal(s1.headers.get('cache-control'), 'no-store', 'a secret is never cached');
      assert.equal((await call(o.url, 'GET', '/webhooks/secret', { key })).body.secret, s1.body.secret, 'stable until rotated');
      const rot = await call(o.url, 'POST', '/webhooks/secret/rotate', { key });
      assert.notEqual(rot.body.secret, s1.body.secret);
      assert.equal(rot.headers.get('cache-control'), 'no-store');
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
      // the count as in the list, the attempts themselves beside it
      assert.equal(shown.body.attempts, 0);
      assert.deepEqual(shown.body.attempt_log, []);
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
      // Unix seconds as a JSON number, as the README allows
      const rec = await call(o.url, 'POST', '/webhooks/recover', { key: a.key, body: { since: Math.floor(Date.now() / 1000) - 3600 } });
      assert.equal(rec.status, 202, JSON.stringify(rec.body));
      assert.equal(rec.body.recovered, 1);
      // "now minus 14 days" as the client computed it, a moment before the server reads it (400 before);
      // and JavaScript milliseconds (read as seconds before: "in the future")
      for (const since of [new Date(Date.now() - 14 * 86400_000 - 2000).toISOString(), String(Date.now() - 3600_000), Date.now() - 3600_000]) {
        const r = await call(o.url, 'POST', '/webhooks/recover', { key: a.key, body: { since } });
        assert.equal(r.status, 202, `${since}: ${JSON.stringify(r.body)}`);
      }
    });

    it('a test key sees and steers only the deliveries of test searches, has a signing secret of its own, and cannot touch the global URL', async () => {
      const a = await o.newAccount(10);
      const live = await completedSearch(a.key, 'https://hooks.example/live');
      const test = await completedSearch(a.testKey, 'https://hooks.example/test');
      const ids = async (key: string) => (await call(o.url, 'GET', '/webhooks/deliveries', { key })).body.data.map((d: { search_id: string }) => d.search_id);
      assert.deepEqual(await ids(a.testKey), [test]);
      assert.deepEqual((await ids(a.key)).sort(), [live].sort());
      const liveDelivery = (await call(o.url, 'GET', `/webhooks/deliveries?search_id=${live}`, { key: a.key })).body.data[0].id;
      assert.equal((await call(o.url, 'GET', `/webhooks/deliveries/${liveDelivery}`, { key: a.testKey })).status, 404);
      assert.equal((await call(o.url, 'POST', `/webhooks/deliveries/${liveDelivery}/retry`, { key: a.testKey })).status, 404);
      await o.store.db.updateTable('webhook_deliveries').set({ status: 'failed' }).where('account_id', '=', a.accountId).execute();
      const rec = await call(o.url, 'POST', '/webhooks/recover', { key: a.testKey, body: { since: new Date(Date.now() - 3600_000).toISOString() } });
      assert.equal(rec.body.recovered, 1, 'only the test search\'s delivery');
      assert.equal((await call(o.url, 'GET', `/webhooks/deliveries/${liveDelivery}`, { key: a.key })).body.status, 'failed');

      // test deliveries say so in their id and are signed with the test secret, which the test key reads
      // and rotates (before: signed with the live secret, which a test key could thus have Openrow use)
      const testDelivery = (await call(o.url, 'GET', `/webhooks/deliveries?search_id=${test}`, { key: a.testKey })).body.data[0].id as string;
      assert.match(testDelivery, /^msg_test_[0-9a-f]{32}$/);
      assert.match(liveDelivery, /^msg_[0-9a-f]{32}$/);
      const secret = (await call(o.url, 'GET', '/webhooks/secret', { key: a.key })).body.secret;
      const testSecret = (await call(o.url, 'GET', '/webhooks/secret', { key: a.testKey })).body.secret;
      assert.match(testSecret, /^whsec_/);
      assert.notEqual(testSecret, secret);
      const rotated = await call(o.url, 'POST', '/webhooks/secret/rotate', { key: a.testKey });
      assert.equal(rotated.status, 200);
      assert.notEqual(rotated.body.secret, testSecret);
      assert.deepEqual(await signingSecrets(o.store, `${a.accountId}/test`), [rotated.body.secret, testSecret]);
      assert.equal((await call(o.url, 'GET', '/webhooks/secret', { key: a.key })).body.secret, secret, 'the live secret is untouched');
      await call(o.url, 'PUT', '/account/webhook', { key: a.key, body: { url: 'https://hooks.example/global' } });
      const put = await call(o.url, 'PUT', '/account/webhook', { key: a.testKey, body: { url: 'https://elsewhere.example/x' } });
      assert.equal(put.status, 403);
      assert.deepEqual((await call(o.url, 'GET', '/account/info', { key: a.key })).body.webhooks, ['https://hooks.example/global']);
    });

    it('refuses bad input on the webhook routes and changes nothing', async () => {
      const a = await o.newAccount(10);
      await call(o.url, 'PUT', '/account/webhook', { key: a.key, body: { url: 'https://hooks.example/kept' } });
      for (const body of [{}, { webhook: 'https://hooks.example/typo' }]) {
        const r = await call(o.url, 'PUT', '/account/webhook', { key: a.key, body });
        assert.equal(r.status, 400);
        assert.deepEqual(r.body, { message: 'Missing url: a webhook URL, or null to clear it' });
      }
      assert.deepEqual((await call(o.url, 'GET', '/account/info', { key: a.key })).body.webhooks, ['https://hooks.example/kept']);

      const id = await completedSearch(a.key, 'https://hooks.example/a');
      // search ids are accepted in any case, as by GET /email/verify/single?id=
      assert.equal((await call(o.url, 'GET', `/webhooks/deliveries?search_id=${id.toUpperCase()}`, { key: a.key })).body.data.length, 1);
      for (const q of ['since=99999999999999999', 'until=99999999999999999', 'since=not-a-date', 'cursor=garbage', 'cursor=1.5:msg_x', 'cursor=1e21:msg_x', 'limit=0', 'limit=201']) {
        const r = await call(o.url, 'GET', `/webhooks/deliveries?${q}`, { key: a.key });
        assert.equal(r.status, 400, q);
        assert.match(r.body.message, /^Invalid (since|until|cursor|query: limit must be from 1 to 200)/, q);
      }
      await o.store.db.updateTable('webhook_deliveries').set({ status: 'failed' }).where('account_id', '=', a.accountId).execute();
      const now = Date.now();
      const bad: Array<[unknown, string]> = [
        [{ since: '99999999999999999' }, 'Invalid since: an ISO 8601 date or Unix seconds is required'],
        [{ since: 1.5 }, 'Invalid since: an ISO 8601 date or Unix seconds is required'],
        [{ since: true }, 'Invalid payload: body/since must be string,number'],
        [{ since: new Date(now + 86400_000).toISOString() }, 'since must not be in the future'],
        [{ since: new Date(now - 3600_000).toISOString(), until: new Date(now - 7200_000).toISOString() }, 'until must be after since'],
      ];
      for (const [body, message] of bad) {
        const r = await call(o.url, 'POST', '/webhooks/recover', { key: a.key, body });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.deepEqual(r.body, { message });
      }
      assert.equal((await call(o.url, 'GET', '/webhooks/deliveries?status=failed', { key: a.key })).body.data.length, 1, 'nothing was recovered');
    });

    it('Idempotency-Key on the webhook POSTs: a replay gets the first response and does nothing again', async () => {
      const a = await o.newAccount(10);
      const k = (key: string) => ({ 'idempotency-key': key });
      const r1 = await call(o.url, 'POST', '/webhooks/secret/rotate', { key: a.key, headers: k('rot-1') });
      const r2 = await call(o.url, 'POST', '/webhooks/secret/rotate', { key: a.key, headers: k('rot-1') });
      assert.equal(r1.status, 200);
      assert.deepEqual(r2.body, r1.body, 'the same secret, not a second rotation');
      assert.equal((await call(o.url, 'GET', '/webhooks/secret', { key: a.key })).body.secret, r1.body.secret);
      // the same key on another request is a conflict
      const other = await call(o.url, 'POST', '/webhooks/recover', { key: a.key, headers: k('rot-1'), body: { since: new Date(Date.now() - 3600_000).toISOString() } });
      assert.equal(other.status, 409);

      await completedSearch(a.key, 'https://hooks.example/idem');
      const id = (await call(o.url, 'GET', '/webhooks/deliveries', { key: a.key })).body.data[0].id;
      await o.store.db.updateTable('webhook_deliveries').set({ status: 'failed' }).where('id', '=', id).execute();
      const retry1 = await call(o.url, 'POST', `/webhooks/deliveries/${id}/retry`, { key: a.key, headers: k('retry-1') });
      assert.equal(retry1.status, 202);
      // delivered meanwhile; a replayed retry must not send it once more
      await o.store.db.updateTable('webhook_deliveries').set({ status: 'succeeded' }).where('id', '=', id).execute();
      const retry2 = await call(o.url, 'POST', `/webhooks/deliveries/${id}/retry`, { key: a.key, headers: k('retry-1') });
      assert.equal(retry2.status, 202);
      assert.deepEqual(retry2.body, retry1.body);
      assert.equal((await call(o.url, 'GET', `/webhooks/deliveries/${id}`, { key: a.key })).body.status, 'succeeded');
      // a failed operation does not keep the key: the same request may be tried again
      const missing = await call(o.url, 'POST', '/webhooks/deliveries/msg_00000000000000000000000000000000/retry', { key: a.key, headers: k('retry-2') });
      assert.equal(missing.status, 404);
      assert.equal((await call(o.url, 'POST', '/webhooks/deliveries/msg_00000000000000000000000000000000/retry', { key: a.key, headers: k('retry-2') })).status, 404);
    });

    it('concurrent rotations leave exactly one current secret', async () => {
      const a = await o.newAccount(10);
      const rotated = await Promise.all(Array.from({ length: 6 }, () => rotateSecret(o.store, a.accountId)));
      const current = await o.store.db.selectFrom('webhook_secrets').select('secret').where('account_id', '=', a.accountId).where('expires_at', 'is', null).execute();
      assert.equal(current.length, 1);
      assert.ok(rotated.some((r) => r.secret === current[0]!.secret));
      // after the grace period only that one signs
      assert.deepEqual(await signingSecrets(o.store, a.accountId, Date.now() + 2 * 86400_000), [current[0]!.secret]);
    });

    it('exposes Prometheus metrics', async () => {
      const disabledCount = async () => Number(/^openrow_webhook_urls_disabled (\d+)$/m.exec((await call(o.url, 'GET', '/metrics')).text)?.[1]);
      const before = await disabledCount();
      const r = await call(o.url, 'GET', '/metrics');
      assert.equal(r.status, 200);
      assert.match(r.text, /openrow_queue_items/);
      assert.match(r.text, /openrow_webhook_deliveries\{status="/);
      // an account whose global URL was disabled counts, until the URL is set again
      const a = await o.newAccount(1);
      assert.equal((await call(o.url, 'PUT', '/account/webhook', { key: a.key, body: { url: 'https://hooks.example.com/x' } })).status, 200);
      await o.store.db.updateTable('accounts').set({ webhook_disabled_at: Date.now(), webhook_disabled_reason: 'test' }).where('id', '=', a.accountId).execute();
      // a reading is shared for 5 s (the counts scan whole tables): the change shows within that
      await waitFor(async () => (await disabledCount()) === before + 1, 15_000, 250);
      assert.equal((await call(o.url, 'PUT', '/account/webhook', { key: a.key, body: { url: 'https://hooks.example.com/x' } })).status, 200);
      await waitFor(async () => (await disabledCount()) === before, 15_000, 250);
    });
  });
}
