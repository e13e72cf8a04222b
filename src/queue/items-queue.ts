// The durable job queue: item rows in the same database as everything else. Read top to bottom:
// claim → (engine runs, lease extended) → complete | reschedule; the sweeper returns expired leases.
import { sql } from 'kysely';
import type { OpenStore, Tx } from '../store/db.js';
import type { ItemsTable, Mode, Product, SearchesTable } from '../store/schema.js';
import { creditBack } from '../store/accounts.js';
import { webhookPayload, type ItemRow } from '../domain/views.js';
import { stringifyWithRaw } from '../domain/raw-json.js';
import { newId } from '../domain/ids.js';
import { TEST_DELIVERY_PREFIX } from '../webhooks/sign.js';
import { notify, NOTIFY_DELIVERIES } from '../store/notify.js';
import { insertDeliveries } from '../store/deliveries.js';

export type ClaimedItem = Pick<ItemsTable, 'search_id' | 'idx' | 'product' | 'mode' | 'input' | 'attempts' | 'first_attempt_at'>;

/**
 * Claims up to `limit` due items of the given products for `owner`, in their fair order (src/domain/fair-order.ts).
 * Two kinds of queued items, each read through a partial index of its own, so that neither read walks rows
 * that are not due: items never run yet (always due; by their place) and items run before (retries, and
 * items whose worker died; due ones only, by due time, then place). The first `limit` of both, by place, are taken.
 * PostgreSQL: FOR UPDATE SKIP LOCKED lets many workers claim disjoint batches without waiting.
 * SQLite: the store's BEGIN IMMEDIATE serialises claimers; UPDATE … RETURNING claims in one statement.
 */
export async function claimItems(
  store: OpenStore,
  opts: { owner: string; products: Product[]; modes?: Mode[]; limit: number; leaseMs: number; now?: number },
): Promise<ClaimedItem[]> {
  if (!opts.products.length || opts.limit <= 0) return [];
  const pg = store.dialect === 'postgres';
  const lock = pg ? sql`for update skip locked` : sql``;
  // SQLite's planner would otherwise take items_claim for a single product and sort the whole backlog
  const fresh = pg ? sql`` : sql`indexed by items_fresh`;
  const again = pg ? sql`` : sql`indexed by items_again`;
  const products = sql.join(opts.products.map((p) => sql`${p}`));
  const modes = sql.join((opts.modes ?? ['live', 'test']).map((m) => sql`${m}`));
  return store.tx(async (trx) => {
    // the lease starts once the write lock (or a pool connection) is ours: a claim that waited for it
    // must not hand out a lease already partly, or wholly, spent
    const now = opts.now ?? Date.now();
    const res = await sql<ClaimedItem>`
      update items
         set state = 'running',
             lease_owner = ${opts.owner},
             lease_expires_at = ${now + opts.leaseMs},
             attempts = attempts + 1,
             first_attempt_at = coalesce(first_attempt_at, ${now})
       where (search_id, idx) in (
             select search_id, idx from (
               select * from (
                 select search_id, idx, sort_at from items ${fresh}
                  where state = 'queued' and attempts = 0 and mode in (${modes}) and product in (${products}) and run_at <= ${now}
                  order by sort_at
                  limit ${opts.limit}
                  ${lock}) never_run
               union all
               select * from (
                 select search_id, idx, sort_at from items ${again}
                  where state = 'queued' and attempts > 0 and mode in (${modes}) and product in (${products}) and run_at <= ${now}
                  order by run_at, sort_at
                  limit ${opts.limit}
                  ${lock}) run_before
             ) due
             order by sort_at
             limit ${opts.limit})
      returning search_id, idx, product, mode, input, attempts, first_attempt_at`.execute(trx);
    return res.rows;
  });
}

/**
 * Keeps alive the leases of the items this worker's engines are working on, and of those only: an item
 * it lost track of (its completion failed) lapses and is swept back to the queue, instead of being held
 * for as long as the worker stays busy.
 */
export async function extendLeases(store: OpenStore, owner: string, items: ClaimedItem[], leaseMs: number, now = Date.now()) {
  // chunks keep the OR chain well under SQLite's expression depth limit
  for (let i = 0; i < items.length; i += 200) {
    const chunk = items.slice(i, i + 200);
    await store.db
      .updateTable('items')
      .set({ lease_expires_at: now + leaseMs })
      .where('state', '=', 'running')
      .where('lease_owner', '=', owner)
      .where((eb) => eb.or(chunk.map((it) => eb.and([eb('search_id', '=', it.search_id), eb('idx', '=', it.idx), eb('attempts', '=', it.attempts)]))))
      .execute();
  }
}

/** Returns items whose worker died (lease expired) to the queue. */
export async function sweepExpiredLeases(store: OpenStore, now = Date.now()): Promise<number> {
  const res = await store.db
    .updateTable('items')
    // back in line by now: an item whose run killed its process must not be first again at every restart
    .set({ state: 'queued', lease_owner: null, lease_expires_at: null, run_at: now, sort_at: now })
    .where('state', '=', 'running')
    .where('lease_expires_at', '<', now)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** A temporary failure (greylisting…): back to the queue after `delayMs`; the worker never sleeps. */
export async function rescheduleItem(store: OpenStore, item: ClaimedItem, owner: string, delayMs: number, details: unknown, now = Date.now()) {
  const res = await store.db
    .updateTable('items')
    // A retry keeps its place, or takes one by when it is due if that is later: the items of a bulk
    // greylisted all at once come due together, and would otherwise go as one block ahead of every search
    // accepted after them; each keeps its place among its bulk's, a search accepted meanwhile goes between.
    .set({
      state: 'queued',
      run_at: now + delayMs,
      sort_at: store.dialect === 'postgres' ? sql`greatest(sort_at, ${now + delayMs})` : sql`max(sort_at, ${now + delayMs})`,
      lease_owner: null,
      lease_expires_at: null,
      result: JSON.stringify({ pending: details }),
    })
    .where('search_id', '=', item.search_id)
    .where('idx', '=', item.idx)
    .where('state', '=', 'running')
    .where('lease_owner', '=', owner)
    // every claim counts an attempt: a run whose lease lapsed and whose item the same worker claimed
    // again is not the current one
    .where('attempts', '=', item.attempts)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

interface CompletionEffects {
  completedSearch: boolean;
  webhookQueued: boolean;
}

/**
 * Finishes one item: its result, its refund when not charged, the search's progress, and — when it
 * was the last item — the search's completion and its webhook outbox row, in ONE transaction. The
 * update is fenced by the lease owner and the claim's attempt number, so a re-claimed item is never
 * finished twice, nor by a run whose lease had lapsed.
 */
export async function completeItem(
  store: OpenStore,
  item: ClaimedItem,
  owner: string,
  outcome: { result: unknown; qualification: string; charged: boolean },
  now = Date.now(),
): Promise<CompletionEffects | null> {
  return store.tx(async (trx) => {
    // read once, and on PostgreSQL locked: the refund below writes amounts computed from this read
    const read = trx.selectFrom('searches').selectAll().where('id', '=', item.search_id);
    const search = await (store.dialect === 'postgres' ? read.forUpdate() : read).executeTakeFirstOrThrow();
    const charged = outcome.charged ? search.price_cents : 0;
    const res = await trx
      .updateTable('items')
      .set({ state: 'done', result: JSON.stringify(outcome.result), qualification: outcome.qualification, charged_cents: charged, finished_at: now, lease_owner: null, lease_expires_at: null })
      .where('search_id', '=', item.search_id)
      .where('idx', '=', item.idx)
      .where('state', '=', 'running')
      .where('lease_owner', '=', owner)
      .where('attempts', '=', item.attempts)
      .executeTakeFirst();
    // lease lost: another claim (another worker's, or this worker's again after its lease lapsed) owns it now
    if (Number(res.numUpdatedRows) !== 1) return null;

    if (!outcome.charged) Object.assign(search, await refundOne(trx, search, now));

    const progressed = await trx
      .updateTable('searches')
      .set((eb) => ({ finished: eb('finished', '+', 1) }))
      .where('id', '=', search.id)
      .returning(['finished', 'requested'])
      .executeTakeFirstOrThrow();
    if (progressed.finished < progressed.requested) return { completedSearch: false, webhookQueued: false };

    await trx.updateTable('searches').set({ status: 'completed', completed_at: now }).where('id', '=', search.id).execute();
    const webhookQueued = await queueWebhook(store, trx, { ...search, finished: progressed.finished, status: 'completed', completed_at: now }, now);
    return { completedSearch: true, webhookQueued };
  });
}

/** Refunds one item's price, returning credits to the balance they came from (paygo first, as it was taken last); returns the search's new refunded amounts. */
async function refundOne(trx: Tx, search: SearchesTable, now: number) {
  let left = search.price_cents;
  const fromTest = Math.min(left, search.reserved_test_cents - search.refunded_test_cents);
  left -= fromTest;
  const fromPaygo = Math.min(left, search.reserved_paygo_cents - search.refunded_paygo_cents);
  left -= fromPaygo;
  const fromSub = Math.min(left, search.reserved_sub_cents - search.refunded_sub_cents);
  const refunded = {
    refunded_sub_cents: search.refunded_sub_cents + fromSub,
    refunded_paygo_cents: search.refunded_paygo_cents + fromPaygo,
    refunded_test_cents: search.refunded_test_cents + fromTest,
  };
  if (fromTest + fromPaygo + fromSub === 0) return refunded;
  await creditBack(trx, search.account_id, { fromSub, fromPaygo, fromTest });
  await trx.updateTable('searches').set(refunded).where('id', '=', search.id).execute();
  await trx
    .insertInto('ledger')
    .values({ account_id: search.account_id, search_id: search.id, kind: 'refund', mode: search.mode as 'live' | 'test', sub_cents: fromSub, paygo_cents: fromPaygo, test_cents: fromTest, note: null, created_at: now })
    .execute();
  return refunded;
}

/** The transactional outbox: the delivery row is born in the transaction that completes the search. */
async function queueWebhook(store: OpenStore, trx: Tx, search: SearchesTable, now: number): Promise<boolean> {
  const account = await trx.selectFrom('accounts').select(['webhook_url', 'webhook_disabled_at']).where('id', '=', search.account_id).executeTakeFirstOrThrow();
  // The account's global URL receives live results only: a test search reaches a URL its request names
  // (a test key must not send sandbox results, however signed, to the live receiver, nor wear its health)
  const url = search.webhook_url ?? (search.mode === 'live' && !account.webhook_disabled_at ? account.webhook_url : null);
  if (!url) return false;
  const items: ItemRow[] = search.bulk
    ? []
    : await trx.selectFrom('items').select(['idx', 'raw', 'custom', 'result', 'qualification', 'charged_cents', 'state']).where('search_id', '=', search.id).orderBy('idx').execute();
  const { event, body } = webhookPayload(search, items);
  await insertDeliveries(trx, [
    {
      id: newId(search.mode === 'test' ? TEST_DELIVERY_PREFIX.slice(0, -1) : 'msg'),
      account_id: search.account_id,
      search_id: search.id,
      event,
      url,
      payload: stringifyWithRaw(body),
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      lease_owner: null,
      lease_expires_at: null,
      last_status_code: null,
      last_error: null,
      created_at: now,
      updated_at: now,
    },
  ]);
  if (store.dialect === 'postgres') await notify(trx, NOTIFY_DELIVERIES);
  return true;
}
