// The dispatcher's store over SQLite and PostgreSQL: leases that never hand a row to two dispatchers,
// fenced attempt records, release, due-time lookups, and the auto-disable of failing global URLs.
import { describe, it, before, after } from 'node:test';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import type { OpenStore } from '../../src/store/db.js';
import { DbDeliveryStore, DISABLE_AFTER_MS, insertDeliveries } from '../../src/store/deliveries.js';
import { createAccount, getAccount, setGlobalWebhook } from '../../src/store/accounts.js';
import { rotateSecret } from '../../src/store/webhooks.js';
import { BACKENDS, tempStore } from '../support/openrow.js';
import type { AttemptRecord } from '../../src/webhooks/types.js';

const attempt = (n: number, now: number, status: number | null = 500): AttemptRecord => ({
  attemptNo: n,
  startedAt: now,
  durationMs: 12,
  statusCode: status,
  responseHeaders: status ? { 'content-type': 'text/plain' } : null,
  responseBody: status ? 'nope' : null,
  error: status ? null : 'connection refused',
  errorKind: status ? null : 'refused',
});

for (const backend of BACKENDS) {
  describe(`delivery store (${backend})`, () => {
    let store: OpenStore;
    let ds: DbDeliveryStore;
    let handle: Awaited<ReturnType<typeof tempStore>>;
    before(async () => {
      handle = await tempStore(backend);
      store = handle.store;
      ds = new DbDeliveryStore(store);
    });
    after(async () => handle.close());

    async function addDeliveries(accountId: string, n: number, url: string, at = Date.now()) {
      const rows = Array.from({ length: n }, (_, i) => ({
        id: `msg_${randomBytes(8).toString('hex')}`,
        account_id: accountId,
        search_id: `s${i}`,
        event: 'verification_finished',
        url,
        payload: `{"i":${i}}`,
        status: 'pending' as const,
        attempts: 0,
        next_attempt_at: at,
        lease_owner: null,
        lease_expires_at: null,
        last_status_code: null,
        last_error: null,
        created_at: at,
        updated_at: at,
      }));
      await store.tx((trx) => insertDeliveries(trx, rows));
      return rows.map((r) => r.id);
    }

    it('leases each due delivery to one dispatcher, and takes back expired leases', async () => {
      const { account } = await createAccount(store, { name: 'd', subCents: 0 });
      const ids = await addDeliveries(account.id, 30, 'https://a.example/h');
      const now = Date.now();
      const claims = await Promise.all(['x', 'y', 'z'].map((o) => ds.claimDue(now, 20, o, 60_000)));
      const got = claims.flat().map((d) => d.id).filter((id) => ids.includes(id));
      assert.equal(got.length, 30);
      assert.equal(new Set(got).size, 30);
      assert.equal((await ds.claimDue(now, 100, 'w', 60_000)).filter((d) => ids.includes(d.id)).length, 0, 'nothing left while leased');
      const later = (await ds.claimDue(now + 61_000, 100, 'w', 60_000)).filter((d) => ids.includes(d.id));
      assert.equal(later.length, 30, 'expired leases are claimable again');
    });

    it('records attempts fenced by the lease owner, and releases', async () => {
      const { account } = await createAccount(store, { name: 'd', subCents: 0 });
      const [id] = await addDeliveries(account.id, 1, 'https://b.example/h');
      const now = Date.now();
      const [d] = (await ds.claimDue(now, 100, 'owner-1', 60_000)).filter((x) => x.id === id);
      assert.ok(d);
      assert.equal(await ds.finishAttempt(id!, 'someone-else', attempt(1, now), { status: 'pending', nextAttemptAt: now + 5000 }), false);
      assert.equal(await ds.finishAttempt(id!, 'owner-1', attempt(1, now), { status: 'pending', nextAttemptAt: now + 5000 }), true);
      const row = await store.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id!).executeTakeFirstOrThrow();
      assert.equal(row.status, 'pending');
      assert.equal(row.attempts, 1);
      assert.equal(row.last_status_code, 500);
      const log = await store.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', id!).execute();
      assert.equal(log.length, 1);
      assert.equal(log[0]!.response_body, 'nope');
      assert.ok((await ds.nextDueAt())! <= now + 5000);
      const [again] = (await ds.claimDue(now + 5000, 100, 'owner-2', 60_000)).filter((x) => x.id === id);
      assert.equal(again!.attempts, 1);
      assert.equal(await ds.release(id!, 'owner-2', now + 9000), true);
      assert.equal((await store.db.selectFrom('webhook_deliveries').select('status').where('id', '=', id!).executeTakeFirstOrThrow()).status, 'pending');
    });

    it('records results finishing together, one with NUL bytes in its body, each on its own', async () => {
      const { account } = await createAccount(store, { name: 'd', subCents: 0 });
      const ids = await addDeliveries(account.id, 3, 'https://c.example/h');
      const now = Date.now();
      await ds.claimDue(now, 100, 'owner-n', 60_000);
      const bodies = ['ok', 'bad\u0000body', 'fine'];
      const kept = await Promise.all(
        ids.map((id, i) => ds.finishAttempt(id, 'owner-n', { ...attempt(1, now), statusCode: 200, error: null, responseBody: bodies[i]! }, { status: 'succeeded' })),
      );
      assert.deepEqual(kept, [true, true, true]);
      const rows = await store.db.selectFrom('webhook_deliveries').select(['id', 'status']).where('id', 'in', ids).execute();
      assert.ok(rows.every((r) => r.status === 'succeeded'));
      const log = await store.db.selectFrom('webhook_attempts').select(['delivery_id', 'response_body']).where('delivery_id', 'in', ids).execute();
      assert.equal(log.find((l) => l.delivery_id === ids[1])!.response_body, 'badbody', 'NUL bytes dropped (PostgreSQL text cannot hold them)');
    });

    it('takes back expired leases at most once a second, and says when in nextDueAt', async () => {
      // a store of its own: nextDueAt looks at every row
      const own = await tempStore(backend);
      try {
        const s = new DbDeliveryStore(own.store);
        const { account } = await createAccount(own.store, { name: 'd', subCents: 0 });
        const t0 = Date.now();
        await own.store.tx((trx) =>
          insertDeliveries(trx, [{ id: 'msg_x', account_id: account.id, search_id: 's', event: 'verification_finished', url: 'https://x.example/h', payload: '{}', status: 'pending', attempts: 0, next_attempt_at: t0 - 1000, lease_owner: null, lease_expires_at: null, last_status_code: null, last_error: null, created_at: t0, updated_at: t0 }]),
        );
        assert.deepEqual((await s.claimDue(t0, 10, 'a', 10_000)).map((d) => d.id), ['msg_x']);
        // a claim 200 ms before the lease ends looks for expired leases (none yet) ...
        assert.deepEqual(await s.claimDue(t0 + 9800, 10, 'b', 10_000), []);
        // ... so the next look is a second later, not when the lease ends: waking then would claim in vain
        assert.equal(await s.nextDueAt(), t0 + 10_800);
        assert.deepEqual(await s.claimDue(t0 + 10_100, 10, 'b', 10_000), [], 'expired, but not looked for yet');
        const back = await s.claimDue(t0 + 10_800, 10, 'b', 10_000);
        assert.deepEqual(back.map((d) => d.id), ['msg_x']);
        assert.equal(await s.finishAttempt('msg_x', 'a', attempt(1, t0), { status: 'succeeded' }), false, 'the old owner lost it');
      } finally {
        await own.close();
      }
    });

    it('records a result whose texts hold lone UTF-16 surrogates, as U+FFFD', async () => {
      const { account } = await createAccount(store, { name: 'd', subCents: 0 });
      const [id] = await addDeliveries(account.id, 1, 'https://s.example/h');
      const now = Date.now();
      await ds.claimDue(now, 100, 'owner-s', 60_000);
      const broken = `cut \ud83d here \"quoted\" \\ and \udc00 and a pair \ud83d\ude00`;
      const kept = await ds.finishAttempt(id!, 'owner-s', { ...attempt(1, now, null), error: broken }, { status: 'failed', gone: false, reason: broken });
      assert.equal(kept, true);
      const row = await store.db.selectFrom('webhook_deliveries').select(['status', 'last_error']).where('id', '=', id!).executeTakeFirstOrThrow();
      assert.equal(row.status, 'failed');
      assert.equal(row.last_error, `cut \ufffd here \"quoted\" \\ and \ufffd and a pair \u{1f600}`);
      const log = await store.db.selectFrom('webhook_attempts').select('error').where('delivery_id', '=', id!).executeTakeFirstOrThrow();
      assert.equal(log.error, row.last_error);
    });

    it('signs with the current secret and, during the grace period, the previous one', async () => {
      const { account } = await createAccount(store, { name: 'd', subCents: 0 });
      const first = await ds.signingSecrets(account.id, Date.now());
      assert.equal(first.length, 1, 'a secret is created on first use');
      const { secret } = await rotateSecret(store, account.id);
      const both = await ds.signingSecrets(account.id, Date.now());
      assert.deepEqual(both, [secret, first[0]]);
      assert.deepEqual(await ds.signingSecrets(account.id, Date.now() + 25 * 3600 * 1000), [secret], 'the old one expires after 24 h');
    });

    it('disables a global URL failing for 5 days, or answering 410, and resets on success', async () => {
      const { account } = await createAccount(store, { name: 'd', subCents: 0 });
      const url = 'https://c.example/h';
      await setGlobalWebhook(store, account.id, url);
      const t0 = Date.now();
      assert.equal((await ds.urlOutcome(account.id, url, false, false, t0)).disabledReason, null);
      assert.equal((await ds.urlOutcome(account.id, url, true, false, t0 + 1000)).disabledReason, null);
      assert.equal((await ds.urlOutcome(account.id, url, false, false, t0 + 2000)).disabledReason, null);
      assert.equal((await ds.urlOutcome(account.id, url, false, false, t0 + 2000 + DISABLE_AFTER_MS - 1)).disabledReason, null);
      assert.equal((await getAccount(store, account.id))!.webhook_disabled_at, null, 'the success reset the streak');
      // the call that disables says why, once: later failures (another process's, say) report nothing
      assert.equal((await ds.urlOutcome(account.id, url, false, false, t0 + 2000 + DISABLE_AFTER_MS)).disabledReason, 'failing for 5 days with no successful delivery');
      assert.equal((await ds.urlOutcome(account.id, url, false, true, t0 + 3000 + DISABLE_AFTER_MS)).disabledReason, null);
      const a = (await getAccount(store, account.id))!;
      assert.ok(a.webhook_disabled_at);
      assert.match(a.webhook_disabled_reason!, /5 days/);
      // an explicit 410 disables at once; a per-request URL that is not the global one is left alone
      const { account: b } = await createAccount(store, { name: 'e', subCents: 0 });
      await setGlobalWebhook(store, b.id, url);
      assert.equal((await ds.urlOutcome(b.id, 'https://other.example/x', false, true, t0)).disabledReason, null);
      assert.equal((await getAccount(store, b.id))!.webhook_disabled_at, null);
      assert.equal((await ds.urlOutcome(b.id, url, false, true, t0)).disabledReason, 'the receiver answered 410 Gone');
      assert.match((await getAccount(store, b.id))!.webhook_disabled_reason!, /410/);
    });
  });
}
