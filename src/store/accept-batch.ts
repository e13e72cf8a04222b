// Accepting searches on SQLite through group commit (group-commit.ts): every POST is one write
// transaction, and on the embedded database the transaction is most of the request's cost. A refused
// request (short balance, idempotency conflict) rolls back alone. The SQL mirrors createSearch in
// searches.ts, which PostgreSQL uses.
import { fairPlace } from '../domain/fair-order.js';
import type SQLite from 'better-sqlite3';
import type { OpenStore } from './db.js';
import { planReservation, type Reservation } from './accounts.js';
import { IDEMPOTENCY_TTL_MS, IdempotencyConflict, type IdempotencyRequest, type NewSearch, type StoredResponse } from './searches.js';
import { newSearchId } from '../domain/ids.js';
import { groupCommit } from './group-commit.js';

interface Job {
  s: NewSearch;
  respond: (id: string, r: Reservation) => StoredResponse;
  idem?: IdempotencyRequest;
}

function statements(raw: SQLite.Database) {
  return {
    idemDeleteStale: raw.prepare('delete from idempotency where account_id = ? and key = ? and created_at <= ?'),
    idemGet: raw.prepare('select request_hash, status_code, response from idempotency where account_id = ? and key = ?'),
    idemPut: raw.prepare('insert into idempotency (account_id, key, request_hash, status_code, response, created_at) values (?, ?, ?, ?, ?, ?)'),
    balances: raw.prepare('select sub_cents, paygo_cents, test_cents from accounts where id = ?'),
    setLive: raw.prepare('update accounts set sub_cents = ?, paygo_cents = ? where id = ?'),
    setTest: raw.prepare('update accounts set test_cents = ? where id = ?'),
    search: raw.prepare(
      `insert into searches (id, account_id, product, bulk, mode, status, requested, finished, custom, settings, webhook_url, price_cents,
        reserved_sub_cents, reserved_paygo_cents, reserved_test_cents, refunded_sub_cents, refunded_paygo_cents, refunded_test_cents, created_at, completed_at)
       values (?, ?, ?, ?, ?, 'ongoing', ?, 0, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, null)`,
    ),
    item: raw.prepare(
      `insert into items (search_id, idx, product, mode, input, raw, custom, state, run_at, sort_at, attempts, charged_cents)
       values (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, 0, 0)`,
    ),
    ledger: raw.prepare(
      `insert into ledger (account_id, search_id, kind, mode, sub_cents, paygo_cents, test_cents, note, created_at)
       values (?, ?, 'reserve', ?, ?, ?, ?, null, ?)`,
    ),
  };
}

type Statements = ReturnType<typeof statements>;

function acceptOne(st: Statements, job: Job, now: number) {
  const { s, idem } = job;
  if (idem) {
    st.idemDeleteStale.run(s.accountId, idem.key, now - IDEMPOTENCY_TTL_MS);
    const prior = st.idemGet.get(s.accountId, idem.key) as { request_hash: string; status_code: number; response: string } | undefined;
    if (prior) {
      if (prior.request_hash !== idem.requestHash) throw new IdempotencyConflict();
      return { id: '', response: { statusCode: prior.status_code, body: prior.response }, replayed: true };
    }
  }
  const total = s.priceCents * s.items.length;
  const bal = st.balances.get(s.accountId) as { sub_cents: number; paygo_cents: number; test_cents: number } | undefined;
  if (!bal) throw new Error(`no such account: ${s.accountId}`);
  const r = planReservation(bal, s.mode, total);
  if (s.mode === 'test') st.setTest.run(bal.test_cents - r.fromTest, s.accountId);
  else st.setLive.run(bal.sub_cents - r.fromSub, bal.paygo_cents - r.fromPaygo, s.accountId);
  const id = newSearchId();
  st.search.run(id, s.accountId, s.product, s.bulk ? 1 : 0, s.mode, s.items.length, s.custom, JSON.stringify(s.settings ?? {}), s.webhookUrl, s.priceCents, r.fromSub, r.fromPaygo, r.fromTest, now);
  for (let i = 0; i < s.items.length; i++) {
    const it = s.items[i]!;
    st.item.run(id, i, s.product, s.mode, JSON.stringify(it.input), it.raw, it.custom, now, fairPlace(now, i));
  }
  st.ledger.run(s.accountId, id, s.mode, -r.fromSub, -r.fromPaygo, -r.fromTest, now);
  const response = job.respond(id, r);
  if (idem) st.idemPut.run(s.accountId, idem.key, idem.requestHash, response.statusCode, response.body, now);
  return { id, response, replayed: false };
}

export function createSqliteAcceptor(store: OpenStore) {
  const accept = groupCommit(store, statements, acceptOne);
  return (s: NewSearch, respond: Job['respond'], idem?: IdempotencyRequest) => accept({ s, respond, idem });
}
