// Webhook secrets and the delivery log as users see and steer them (list, inspect, redrive, recover).
// The dispatcher's side of the same tables lives in deliveries.ts.
import type { ExpressionBuilder } from 'kysely';
import type { OpenStore, Tx } from './db.js';
import type { Database, Mode } from './schema.js';
import { newId } from '../domain/ids.js';
import { accountOfSigner, generateWebhookSecret } from '../webhooks/sign.js';

export const SECRET_GRACE_MS = 24 * 3600 * 1000;
export const RECOVER_MAX_MS = 14 * 24 * 3600 * 1000;
export const RECOVER_MAX_COUNT = 10_000;

// Concurrent first uses or rotations must not leave two current secrets (one of them would never expire):
// on PostgreSQL they queue on the account's row; SQLite's write transactions are serial already.
async function lockAccount(store: OpenStore, trx: Tx, signer: string): Promise<void> {
  const accountId = accountOfSigner(signer);
  if (store.dialect === 'postgres') await trx.selectFrom('accounts').select('id').where('id', '=', accountId).forUpdate().execute();
}

/** The account's current secret, created on first use. */
export async function currentSecret(store: OpenStore, accountId: string): Promise<string> {
  const row = await store.db
    .selectFrom('webhook_secrets')
    .select('secret')
    .where('account_id', '=', accountId)
    .where('expires_at', 'is', null)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (row) return row.secret;
  return store.tx(async (trx) => {
    await lockAccount(store, trx, accountId);
    const again = await trx.selectFrom('webhook_secrets').select('secret').where('account_id', '=', accountId).where('expires_at', 'is', null).executeTakeFirst();
    if (again) return again.secret;
    const secret = generateWebhookSecret();
    await trx.insertInto('webhook_secrets').values({ id: newId('whs'), account_id: accountId, secret, created_at: Date.now(), expires_at: null }).execute();
    return secret;
  });
}

/** A new current secret; the old one keeps signing alongside for the grace period. */
export async function rotateSecret(store: OpenStore, accountId: string, now = Date.now()): Promise<{ secret: string; previousValidUntil: number }> {
  await currentSecret(store, accountId);
  return store.tx(async (trx) => {
    await lockAccount(store, trx, accountId);
    await trx
      .updateTable('webhook_secrets')
      .set({ expires_at: now + SECRET_GRACE_MS })
      .where('account_id', '=', accountId)
      .where('expires_at', 'is', null)
      .execute();
    const secret = generateWebhookSecret();
    await trx.insertInto('webhook_secrets').values({ id: newId('whs'), account_id: accountId, secret, created_at: now, expires_at: null }).execute();
    return { secret, previousValidUntil: now + SECRET_GRACE_MS };
  });
}

/** Current secret first, then superseded ones still in their grace period. */
export async function signingSecrets(store: OpenStore, accountId: string, now = Date.now()): Promise<string[]> {
  const rows = await store.db
    .selectFrom('webhook_secrets')
    .select(['secret', 'expires_at'])
    .where('account_id', '=', accountId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('created_at', 'desc')
    .limit(10)
    .execute();
  // the current secret first even when a rotation happened within the same millisecond
  return rows.sort((a, b) => Number(a.expires_at !== null) - Number(b.expires_at !== null)).map((r) => r.secret);
}

export interface DeliveryFilter {
  searchId?: string;
  event?: string;
  status?: string;
  since?: number;
  until?: number;
  /** the created_at and id of the last row of the previous page (parseCursor) */
  cursor?: { t: number; id: string };
  limit: number;
}

/**
 * Deliveries of the searches made with keys of this mode only: a test key sees and steers the deliveries of
 * test searches, never those of live ones (searches are never deleted, so every delivery has its search).
 */
function ofMode(accountId: string, mode: Mode) {
  return (eb: ExpressionBuilder<Database, 'webhook_deliveries'>) =>
    eb('search_id', 'in', eb.selectFrom('searches').select('id').where('account_id', '=', accountId).where('mode', '=', mode));
}

const PUBLIC_COLS = ['id', 'search_id', 'event', 'url', 'status', 'attempts', 'next_attempt_at', 'last_status_code', 'last_error', 'created_at', 'updated_at'] as const;

export function deliveryView(d: {
  id: string; search_id: string; event: string; url: string; status: string; attempts: number; next_attempt_at: number;
  last_status_code: number | null; last_error: string | null; created_at: number; updated_at: number;
}) {
  return {
    id: d.id,
    search_id: d.search_id,
    event: d.event,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? new Date(d.next_attempt_at).toISOString() : null,
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    created_at: new Date(d.created_at).toISOString(),
    updated_at: new Date(d.updated_at).toISOString(),
  };
}

// No id, search id or event holds U+0000, which PostgreSQL text cannot even be asked about (the query
// fails): a value with one matches nothing, on both databases, without a query.
const holdsNul = (v: string | undefined) => v !== undefined && v.includes('\u0000');

export async function listDeliveries(store: OpenStore, accountId: string, mode: Mode, f: DeliveryFilter) {
  if (holdsNul(f.searchId) || holdsNul(f.event)) return { data: [], next_cursor: null };
  let q = store.db.selectFrom('webhook_deliveries').select(PUBLIC_COLS).where('account_id', '=', accountId).where(ofMode(accountId, mode));
  if (f.searchId) q = q.where('search_id', '=', f.searchId);
  if (f.event) q = q.where('event', '=', f.event);
  if (f.status) q = q.where('status', '=', f.status as 'pending');
  if (f.since !== undefined) q = q.where('created_at', '>=', f.since);
  if (f.until !== undefined) q = q.where('created_at', '<', f.until);
  if (f.cursor) {
    const { t, id } = f.cursor;
    q = q.where((eb) => eb.or([eb('created_at', '<', t), eb.and([eb('created_at', '=', t), eb('id', '<', id)])]));
  }
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit + 1).execute();
  const page = rows.slice(0, f.limit);
  const last = page[page.length - 1];
  return { data: page.map(deliveryView), next_cursor: rows.length > f.limit && last ? `${last.created_at}:${last.id}` : null };
}

/** The opaque cursor `next_cursor` hands out, or null when `v` is not one. */
export function parseCursor(v: string): { t: number; id: string } | null {
  const m = /^(\d{1,16}):([A-Za-z0-9_]{1,64})$/.exec(v);
  return m ? { t: Number(m[1]), id: m[2]! } : null;
}

export async function getDelivery(store: OpenStore, accountId: string, mode: Mode, id: string) {
  if (holdsNul(id)) return undefined;
  const d = await store.db.selectFrom('webhook_deliveries').selectAll().where('account_id', '=', accountId).where('id', '=', id).where(ofMode(accountId, mode)).executeTakeFirst();
  if (!d) return undefined;
  const payload = await store.db.selectFrom('webhook_payloads').select('payload').where('delivery_id', '=', id).executeTakeFirst();
  const attempts = await store.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', id).orderBy('attempt_no').execute();
  return {
    ...deliveryView(d),
    payload: payload?.payload ?? null,
    // beside `attempts`, the count the list shows too: one field, one type, in the list and here
    attempt_log: attempts.map((a) => ({
      attempt: a.attempt_no,
      started_at: new Date(a.started_at).toISOString(),
      duration_ms: a.duration_ms,
      status_code: a.status_code,
      response_headers: a.response_headers ? JSON.parse(a.response_headers) : null,
      response_body: a.response_body,
      error: a.error,
    })),
  };
}

/**
 * Where a redriven delivery goes: the URL its search named, or else (it was made for the account's global
 * URL) that URL as it is now, so that "change the URL, then recover" works; null when the account has
 * none any more, or it is disabled: no URL, no delivery.
 */
function redriveUrl(r: { own: string | null; global: string | null; disabled: number | null }): string | null {
  return r.own ?? (r.disabled ? null : r.global);
}

function redriveRows(store: OpenStore, accountId: string, mode: Mode) {
  return store.db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('searches as s', 's.id', 'd.search_id')
    .innerJoin('accounts as a', 'a.id', 'd.account_id')
    .select(['d.id as id', 'd.url as url', 's.webhook_url as own', 'a.webhook_url as global', 'a.webhook_disabled_at as disabled'])
    .where('d.account_id', '=', accountId)
    .where('s.account_id', '=', accountId)
    .where('s.mode', '=', mode);
}

export type RetryOutcome = 'scheduled' | 'not_found' | 'in_flight' | 'no_url';

/** Manual redelivery: due now, whatever state it ended in (a delivery in flight is left alone). */
export async function retryDelivery(store: OpenStore, accountId: string, mode: Mode, id: string, now = Date.now()): Promise<RetryOutcome> {
  if (holdsNul(id)) return 'not_found';
  const row = await redriveRows(store, accountId, mode).where('d.id', '=', id).executeTakeFirst();
  if (!row) return 'not_found';
  const url = redriveUrl(row);
  if (!url) return 'no_url';
  const res = await store.db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', url, next_attempt_at: now, lease_owner: null, lease_expires_at: null, updated_at: now })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .where('status', '!=', 'delivering')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1 ? 'scheduled' : 'in_flight';
}

/**
 * Re-sends every failed delivery created in [since, until), up to 14 days back and 10,000 deliveries;
 * one made for the global URL goes to it as it is now, and is left failed when there is none.
 */
export async function recoverFailed(store: OpenStore, accountId: string, mode: Mode, since: number, until: number, now = Date.now()): Promise<number> {
  const rows = await redriveRows(store, accountId, mode)
    .where('d.status', '=', 'failed')
    .where('d.created_at', '>=', since)
    .where('d.created_at', '<', until)
    .orderBy('d.created_at')
    .limit(RECOVER_MAX_COUNT)
    .execute();
  // grouped by destination: in practice one URL per search's own URL, and the global one
  const byUrl = new Map<string, string[]>();
  for (const r of rows) {
    const url = redriveUrl(r);
    if (!url) continue;
    const ids = byUrl.get(url) ?? [];
    ids.push(r.id);
    byUrl.set(url, ids);
  }
  let n = 0;
  for (const [url, ids] of byUrl) {
    for (let i = 0; i < ids.length; i += 500) {
      const res = await store.db
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', url, next_attempt_at: now, lease_owner: null, lease_expires_at: null, updated_at: now })
        .where('id', 'in', ids.slice(i, i + 500))
        .where('status', '=', 'failed')
        .executeTakeFirst();
      n += Number(res.numUpdatedRows);
    }
  }
  return n;
}
