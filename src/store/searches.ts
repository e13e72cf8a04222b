// Searches and their items: creation (with the credit reservation, in one transaction) and reads.
import { fairPlace } from '../domain/fair-order.js';
import type { OpenStore } from './db.js';
import type { Mode, Product, SearchesTable, ItemsTable } from './schema.js';
import { InsufficientBalance, reserveCredits, type Reservation } from './accounts.js';
import { newSearchId } from '../domain/ids.js';
import { createSqliteAcceptor } from './accept-batch.js';
import { notify, NOTIFY_ITEMS } from './notify.js';
import { sharedReading, type SharedReading } from './shared-reading.js';

export interface NewItem {
  /** what the engine needs */
  input: unknown;
  /** the item as the client sent it, JSON text */
  raw: string;
  /** the item's own `custom`, raw JSON text */
  custom: string | null;
}

export interface NewSearch {
  accountId: string;
  mode: Mode;
  product: Product;
  bulk: boolean;
  items: NewItem[];
  custom: string | null;
  settings: unknown;
  webhookUrl: string | null;
  priceCents: number;
}

export interface IdempotencyRequest {
  key: string;
  requestHash: string;
}

export interface StoredResponse {
  statusCode: number;
  body: string;
}

export class IdempotencyConflict extends Error {
  constructor() {
    super('Idempotency-Key reused with a different payload');
  }
}

const ITEM_CHUNK = 500;

const acceptors = new WeakMap<OpenStore, ReturnType<typeof createSqliteAcceptor>>();

/** The key's row within its lifetime, or null; a row written for another request body is a conflict. */
export async function readIdempotency(store: OpenStore, accountId: string, req: IdempotencyRequest, now = Date.now()) {
  const row = await store.db
    .selectFrom('idempotency')
    .select(['request_hash', 'status_code', 'response', 'created_at'])
    .where('account_id', '=', accountId)
    .where('key', '=', req.key)
    .where('created_at', '>', now - IDEMPOTENCY_TTL_MS)
    .executeTakeFirst();
  if (row && row.request_hash !== req.requestHash) throw new IdempotencyConflict();
  return row ?? null;
}

export async function findIdempotent(
  store: OpenStore,
  accountId: string,
  req: IdempotencyRequest,
  now = Date.now(),
): Promise<StoredResponse | null> {
  const row = await readIdempotency(store, accountId, req, now);
  return row ? { statusCode: row.status_code, body: row.response } : null;
}

export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

/**
 * Reserves the maximum cost, writes the search, its items and the ledger entry, and (when asked) the
 * idempotent response — all in one transaction, so a failure leaves no trace and no charge.
 */
export async function createSearch(
  store: OpenStore,
  s: NewSearch,
  respond: (id: string, reservation: Reservation) => StoredResponse,
  idem?: IdempotencyRequest,
): Promise<{ id: string; response: StoredResponse; replayed: boolean }> {
  if (store.rawBatch) {
    let accept = acceptors.get(store);
    if (!accept) acceptors.set(store, (accept = createSqliteAcceptor(store)));
    return accept(s, respond, idem);
  }
  const id = newSearchId();
  const now = Date.now();
  const total = s.priceCents * s.items.length;
  try {
    return await store.tx(async (trx) => {
      if (idem) {
        // Expired keys may be reused: clear the stale row so the insert below can take its place.
        await trx.deleteFrom('idempotency').where('account_id', '=', s.accountId).where('key', '=', idem.key).where('created_at', '<=', now - IDEMPOTENCY_TTL_MS).execute();
      }
      const r = await reserveCredits(trx, s.accountId, s.mode, total, { lockRow: store.dialect === 'postgres' });
      await trx
        .insertInto('searches')
        .values({
          id,
          account_id: s.accountId,
          product: s.product,
          bulk: s.bulk ? 1 : 0,
          mode: s.mode,
          status: 'ongoing',
          requested: s.items.length,
          finished: 0,
          custom: s.custom,
          settings: JSON.stringify(s.settings ?? {}),
          webhook_url: s.webhookUrl,
          price_cents: s.priceCents,
          reserved_sub_cents: r.fromSub,
          reserved_paygo_cents: r.fromPaygo,
          reserved_test_cents: r.fromTest,
          refunded_sub_cents: 0,
          refunded_paygo_cents: 0,
          refunded_test_cents: 0,
          created_at: now,
          completed_at: null,
        })
        .execute();
      for (let start = 0; start < s.items.length; start += ITEM_CHUNK) {
        const rows: ItemsTable[] = s.items.slice(start, start + ITEM_CHUNK).map((it, i) => ({
          search_id: id,
          idx: start + i,
          product: s.product,
          mode: s.mode,
          input: JSON.stringify(it.input),
          raw: it.raw,
          custom: it.custom,
          state: 'queued',
          run_at: now,
          sort_at: fairPlace(now, start + i),
          attempts: 0,
          first_attempt_at: null,
          lease_owner: null,
          lease_expires_at: null,
          result: null,
          qualification: null,
          charged_cents: 0,
          finished_at: null,
        }));
        await trx.insertInto('items').values(rows).execute();
      }
      await trx
        .insertInto('ledger')
        .values({ account_id: s.accountId, search_id: id, kind: 'reserve', mode: s.mode, sub_cents: -r.fromSub, paygo_cents: -r.fromPaygo, test_cents: -r.fromTest, note: null, created_at: now })
        .execute();
      const response = respond(id, r);
      if (store.dialect === 'postgres') await notify(trx, NOTIFY_ITEMS);
      if (idem) {
        await trx
          .insertInto('idempotency')
          .values({ account_id: s.accountId, key: idem.key, request_hash: idem.requestHash, status_code: response.statusCode, response: response.body, created_at: now })
          .execute();
      }
      return { id, response, replayed: false };
    });
  } catch (err) {
    // Two requests with the same key raced: the loser's transaction rolled back on the primary key;
    // answer it with the winner's response (or the conflict).
    // On PostgreSQL the loser may instead find the balance spent by the winner: same answer.
    if (idem && (isUniqueViolation(err) || err instanceof InsufficientBalance)) {
      const prior = await findIdempotent(store, s.accountId, idem, now);
      if (prior) return { id: '', response: prior, replayed: true };
    }
    throw err;
  }
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint/.test(e?.message ?? '');
}

export async function getSearch(store: OpenStore, accountId: string, id: string): Promise<SearchesTable | undefined> {
  return store.db.selectFrom('searches').selectAll().where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
}

export async function getItems(store: OpenStore, searchId: string) {
  return store.db
    .selectFrom('items')
    .select(['idx', 'raw', 'custom', 'result', 'qualification', 'charged_cents', 'state'])
    .where('search_id', '=', searchId)
    .orderBy('idx')
    .execute();
}

// Items waiting for a product, and the rate at which that product finished items recently. Both counts scan the backlog: bulk POSTs arriving together (any accounts, any keys) share one reading a
// second, so a large backlog is not counted again for each of them. An estimate in whole minutes loses
// nothing by being a second old.
type QueueFigures = { waiting: number; perMinute: number };
const figuresReadings = new WeakMap<OpenStore, Map<string, SharedReading<QueueFigures>>>();

/** The backlog and the rate of one product in one mode: a live bulk's estimate is not the test traffic's. */
export function queueFigures(store: OpenStore, product: Product, mode: Mode, now = Date.now()): Promise<QueueFigures> {
  let readings = figuresReadings.get(store);
  if (!readings) figuresReadings.set(store, (readings = new Map()));
  const key = `${product}:${mode}`;
  let reading = readings.get(key);
  if (!reading) readings.set(key, (reading = sharedReading(1000, (at) => countQueue(store, product, mode, at))));
  return reading(now);
}

async function countQueue(store: OpenStore, product: Product, mode: Mode, now: number): Promise<QueueFigures> {
  const windowMs = 10 * 60 * 1000;
  const [waiting, done] = await Promise.all([
    store.db.selectFrom('items').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '!=', 'done').where('product', '=', product).where('mode', '=', mode).executeTakeFirstOrThrow(),
    store.db
      .selectFrom('items')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('finished_at').as('first')])
      .where('product', '=', product)
      .where('mode', '=', mode)
      .where('finished_at', '>', now - windowMs)
      .executeTakeFirstOrThrow(),
  ]);
  // the rate over the time the window actually saw work (a server busy for 20 s finished its items in
  // 20 s, not in 10 minutes), at least a minute so that a few fast items do not promise the moon
  const busyMs = done.first === null || done.first === undefined ? windowMs : Math.max(60_000, now - Number(done.first));
  return { waiting: Number(waiting.n), perMinute: Number(done.n) / (busyMs / 60000) };
}
