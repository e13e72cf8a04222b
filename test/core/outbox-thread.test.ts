// The SQLite outbox's thread (src/store/outbox-thread.ts): its own connection writing beside the main
// one, a job that fails rolling back alone, and a new thread after the old one died.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { OpenStore } from '../../src/store/db.js';
import { insertDeliveries } from '../../src/store/deliveries.js';
import { finishValues, type OutboxJob } from '../../src/store/outbox-sqlite.js';
import { startOutboxThread, type OutboxThread } from '../../src/store/outbox-thread.js';
import { createAccount } from '../../src/store/accounts.js';
import { tempStore } from '../support/openrow.js';
import type { Delivery } from '../../src/webhooks/types.js';

describe('SQLite outbox thread', () => {
  let handle: Awaited<ReturnType<typeof tempStore>>;
  let store: OpenStore;
  let thread: OutboxThread;
  let accountId: string;
  before(async () => {
    handle = await tempStore('sqlite');
    store = handle.store;
    thread = startOutboxThread({ file: store.sqliteFile!.path, autocheckpointPages: store.sqliteFile!.autocheckpointPages, synchronous: store.sqliteFile!.synchronous });
    accountId = (await createAccount(store, { name: 't', subCents: 0 })).account.id;
  });
  after(async () => {
    await thread.stop();
    await handle.close();
  });

  async function add(n: number, tag: string, at = Date.now()): Promise<string[]> {
    const rows = Array.from({ length: n }, (_, i) => ({
      id: `msg_${randomBytes(8).toString('hex')}`, account_id: accountId, search_id: `${tag}-${i}`, event: 'verification_finished',
      url: 'https://a.example/h', payload: `{"tag":"${tag}","i":${i}}`, status: 'pending' as const, attempts: 0, next_attempt_at: at,
      lease_owner: null, lease_expires_at: null, last_status_code: null, last_error: null, created_at: at, updated_at: at,
    }));
    await store.tx((trx) => insertDeliveries(trx, rows));
    return rows.map((r) => r.id);
  }

  const claim = (owner: string, limit = 1000, now = Date.now()): OutboxJob => ({ kind: 'claim', now, limit, owner, leaseMs: 60_000, sweep: true });
  const ok = (id: string, owner: string): OutboxJob => {
    const now = Date.now();
    return { kind: 'finish', id, owner, v: finishValues({ attemptNo: 1, startedAt: now, durationMs: 3, statusCode: 200, responseHeaders: { 'x-a': '1' }, responseBody: 'ok', error: null, errorKind: null }, { status: 'succeeded' }) };
  };
  const values = <T>(outcomes: Array<{ ok: boolean; v?: unknown; err?: unknown }>) =>
    outcomes.map((o) => {
      if (!o.ok) throw o.err;
      return o.v as T;
    });

  it('claims rows with their payloads and records results, while the main connection writes too', async () => {
    const ids = await add(40, 'a');
    const [rows] = values<Delivery[]>(await thread.commit([claim('t1')]));
    const mine = rows!.filter((d) => ids.includes(d.id));
    assert.equal(mine.length, 40);
    assert.match(mine[0]!.payload, /"tag":"a"/);
    assert.equal(mine[0]!.accountId, accountId);
    assert.equal(mine[0]!.status, 'delivering');

    // the main connection writes new deliveries while the thread commits results: both go through
    const [results, more] = await Promise.all([
      Promise.all(mine.map((d, i) => thread.commit([ok(d.id, i % 2 ? 't1' : 'not-the-owner')]))),
      Promise.all(Array.from({ length: 20 }, (_, i) => add(5, `b${i}`))),
    ]);
    assert.deepEqual(results.map((r) => values<boolean>(r)[0]), mine.map((_, i) => i % 2 === 1), 'fenced by the lease owner');
    assert.equal(more.flat().length, 100);
    const done = await store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('id', 'in', ids).where('status', '=', 'succeeded').executeTakeFirstOrThrow();
    assert.equal(Number(done.n), 20);
    const log = await store.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', ids).execute();
    assert.equal(log.length, 20);
    assert.equal(log[0]!.response_headers, '{"x-a":"1"}');
  });

  it('fails one job alone when it breaks a constraint', async () => {
    const [a, b] = await add(2, 'c', Date.now() - 1000);
    await thread.commit([claim('t2')]);
    const broken = ok(a!, 't2') as Extract<OutboxJob, { kind: 'finish' }>;
    // attempts is NOT NULL: this job throws inside the batch, the other must still be written
    const outcomes = await thread.commit([{ ...broken, v: { ...broken.v, attempts: null as unknown as number } }, ok(b!, 't2')]);
    assert.equal(outcomes[0]!.ok, false);
    assert.match(String((outcomes[0] as { err: Error }).err.message), /NOT NULL/);
    assert.deepEqual(outcomes[1], { ok: true, v: true });
    const rows = await store.db.selectFrom('webhook_deliveries').select(['id', 'status']).where('id', 'in', [a!, b!]).execute();
    assert.equal(rows.find((r) => r.id === a)!.status, 'delivering', 'the failed job left no trace');
    assert.equal(rows.find((r) => r.id === b)!.status, 'succeeded');
  });

  it('starts a new thread after the old one died; a batch it never answered is rejected, not lost silently', async () => {
    const [id] = await add(1, 'd', Date.now() - 1000);
    const claimLater = () => thread.commit([claim('t4', 1000, Date.now() + 61_000)]).then((o) => values<Delivery[]>(o)[0]!, (err: Error) => err);
    thread.crash();
    // sent to the dying thread: rejected when it dies, never left hanging
    const first = await claimLater();
    // sent right after that rejection, before the dead thread's exit may even be reported: a new
    // thread's batch is its own, the old thread's last events do not touch it
    const second = first instanceof Error ? await claimLater() : first;
    assert.ok(Array.isArray(second), `the new thread answered (${String(second)})`);
    assert.ok([first, second].some((r) => Array.isArray(r) && r.some((d) => d.id === id)), 'the delivery was claimed by one of them');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(Array.isArray(values<Delivery[]>(await thread.commit([claim('t5')]))[0]), 'and it keeps answering once the old one is gone');
  });

  it('refuses work once stopped', async () => {
    await thread.stop();
    await assert.rejects(thread.commit([claim('t6')]), /stopped/);
  });
});
