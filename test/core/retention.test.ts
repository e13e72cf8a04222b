// Retention of the webhook log: finished deliveries older than the period go, with their payloads and
// attempts; live ones and recently redriven ones stay, whatever their age (both databases).
import { describe, it, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { OpenStore } from '../../src/store/db.js';
import { insertDeliveries, type NewDelivery } from '../../src/store/deliveries.js';
import { pruneDeliveries } from '../../src/store/retention.js';
import { createAccount } from '../../src/store/accounts.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { BACKENDS, tempStore } from '../support/openrow.js';

const DAY = 24 * 3600 * 1000;

// random ids, as deliveries written before ids were time-ordered have: retention must not rely on their order
const anyId = () => `msg_${randomBytes(16).toString('hex')}`;

let accountId = '';

function delivery(id: string, status: NewDelivery['status'], createdAt: number, updatedAt = createdAt): NewDelivery {
  return {
    id, account_id: accountId, search_id: `s_${id}`, event: 'verification_finished', url: 'https://hooks.example/h',
    payload: `{"id":"${id}"}`, status, attempts: status === 'pending' ? 0 : 1, next_attempt_at: updatedAt,
    lease_owner: null, lease_expires_at: null, last_status_code: null, last_error: null, created_at: createdAt, updated_at: updatedAt,
  };
}

test('OPENROW_WEBHOOK_RETENTION_DAYS: 0 keeps everything; below the 14-day recover window is refused', () => {
  assert.equal(loadConfig({}).webhooks.retentionDays, 30);
  assert.equal(loadConfig({ OPENROW_WEBHOOK_RETENTION_DAYS: '0' }).webhooks.retentionDays, 0);
  assert.throws(() => loadConfig({ OPENROW_WEBHOOK_RETENTION_DAYS: '7' }), (e: unknown) => e instanceof ConfigError && /at least 14/.test(e.message));
});

for (const backend of BACKENDS) {
  describe(`webhook log retention (${backend})`, () => {
    let store: OpenStore;
    let handle: Awaited<ReturnType<typeof tempStore>>;
    before(async () => {
      handle = await tempStore(backend);
      store = handle.store;
      accountId = (await createAccount(store, { name: 'retention', subCents: 0 })).account.id;
    });
    after(async () => handle.close());

    const count = async (table: 'webhook_deliveries' | 'webhook_payloads' | 'webhook_attempts') =>
      Number((await store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

    it('deletes finished deliveries older than the cutoff with their payloads and attempts, and nothing else', async () => {
      const now = Date.now();
      const old = now - 40 * DAY;
      const rows = {
        oldSucceeded: delivery(anyId(), 'succeeded', old),
        oldFailed: delivery(anyId(), 'failed', old + 1),
        oldPending: delivery(anyId(), 'pending', old + 2),
        oldRedrivenLately: delivery(anyId(), 'failed', old + 3, now - DAY),
        recent: delivery(anyId(), 'succeeded', now - DAY),
      };
      await store.tx((trx) => insertDeliveries(trx, Object.values(rows)));
      await store.db
        .insertInto('webhook_attempts')
        .values(Object.values(rows).filter((r) => r.status !== 'pending').map((r) => ({ delivery_id: r.id, attempt_no: 1, started_at: r.updated_at, duration_ms: 3, status_code: 200, response_headers: null, response_body: 'ok', error: null })))
        .execute();

      assert.equal(await pruneDeliveries(store, now - 30 * DAY), 2);
      const left = (await store.db.selectFrom('webhook_deliveries').select('id').execute()).map((r) => r.id).sort();
      assert.deepEqual(left, [rows.oldPending.id, rows.oldRedrivenLately.id, rows.recent.id].sort());
      const payloads = (await store.db.selectFrom('webhook_payloads').select('delivery_id').execute()).map((r) => r.delivery_id).sort();
      assert.deepEqual(payloads, left);
      const attempts = (await store.db.selectFrom('webhook_attempts').select('delivery_id').execute()).map((r) => r.delivery_id).sort();
      assert.deepEqual(attempts, [rows.oldRedrivenLately.id, rows.recent.id].sort());
      assert.equal(await pruneDeliveries(store, now - 30 * DAY), 0, 'a second run finds nothing more');
    });

    it('works through a large backlog in batches', async () => {
      const before = await count('webhook_deliveries');
      const old = Date.now() - 60 * DAY;
      const rows = Array.from({ length: 1234 }, (_, i) => delivery(anyId(), 'succeeded', old + i));
      for (let i = 0; i < rows.length; i += 400) await store.tx((trx) => insertDeliveries(trx, rows.slice(i, i + 400)));
      assert.equal(await pruneDeliveries(store, Date.now() - 30 * DAY), 1234);
      assert.equal(await count('webhook_deliveries'), before);
      assert.equal(await count('webhook_payloads'), before);
    });
  });
}
