// Idempotency-Key on the POSTs that are not searches (secret rotation, redrives): a placeholder left by a
// crashed request is taken over by the client's retry, and the request it was taken from cannot then
// overwrite the new answer.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, call, startTestOpenrow, tempStore, type TestOpenrow } from '../support/openrow.js';
import { createAccount } from '../../src/store/accounts.js';
import { IdempotencyInProgress, runIdempotent } from '../../src/store/idempotent-call.js';
import { requestHash } from '../../src/domain/submit.js';

for (const backend of BACKENDS) {
  describe(`Idempotency-Key of operations (${backend})`, () => {
    it('a placeholder not renewed for a minute is taken over by the retry; the old request cannot overwrite the answer', async () => {
      const h = await tempStore(backend);
      try {
        const { account } = await createAccount(h.store, { name: 'a', subCents: 0 });
        const idem = { key: 'live:rotate-1', requestHash: 'h1' };
        // the first request stalls (its process is about to die) with a placeholder two minutes old
        let finishFirst!: (r: { statusCode: number; body: string }) => void;
        const first = runIdempotent(h.store, account.id, idem, () => new Promise((r) => (finishFirst = r)), Date.now() - 120_000);
        for (let i = 0; i < 100 && !finishFirst; i++) await new Promise((r) => setTimeout(r, 20));
        assert.ok(finishFirst, 'the first operation started');
        // before: 409 "still being processed" for the key's whole 24 h
        const second = await runIdempotent(h.store, account.id, idem, async () => ({ statusCode: 200, body: '{"second":true}' }));
        assert.deepEqual(second, { statusCode: 200, body: '{"second":true}' });
        finishFirst({ statusCode: 200, body: '{"first":true}' });
        await first;
        // the stored answer is the retry's: the first request's write named a placeholder that is gone
        const replay = await runIdempotent(h.store, account.id, idem, async () => assert.fail('a stored answer is replayed, not run again'));
        assert.deepEqual(replay, { statusCode: 200, body: '{"second":true}' });
        // a fresh placeholder still counts as in progress
        let release!: () => void;
        const running = runIdempotent(h.store, account.id, { key: 'live:k2', requestHash: 'h2' }, () => new Promise((r) => (release = () => r({ statusCode: 200, body: '{}' }))));
        for (let i = 0; i < 100 && !release; i++) await new Promise((r) => setTimeout(r, 20));
        await assert.rejects(runIdempotent(h.store, account.id, { key: 'live:k2', requestHash: 'h2' }, async () => ({ statusCode: 200, body: '{}' })), IdempotencyInProgress);
        release();
        await running;
      } finally {
        await h.close();
      }
    });

    describe('HTTP', () => {
      let o: TestOpenrow;
      before(async () => {
        o = await startTestOpenrow(backend, { workers: false });
      });
      after(async () => o?.close());

      it('POST /webhooks/secret/rotate retried with its Idempotency-Key after a crash is answered, not refused for 24 h', async () => {
        const { accountId, key } = await o.newAccount(1);
        // what the crashed request left: its placeholder, last renewed five minutes ago
        await o.store.db
          .insertInto('idempotency')
          .values({ account_id: accountId, key: 'live:rot-42', request_hash: requestHash('/webhooks/secret/rotate', 'null'), status_code: 0, response: 'token-of-the-dead', created_at: Date.now() - 5 * 60_000 })
          .execute();
        const r = await call(o.url, 'POST', '/webhooks/secret/rotate', { key, headers: { 'idempotency-key': 'rot-42' } });
        assert.equal(r.status, 200, `${r.status} ${r.text}`);
        assert.match(r.body.secret, /^whsec_/);
        const again = await call(o.url, 'POST', '/webhooks/secret/rotate', { key, headers: { 'idempotency-key': 'rot-42' } });
        assert.equal(again.body.secret, r.body.secret);
      });
    });
  });
}
