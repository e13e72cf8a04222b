// Idempotency-Key for POSTs that are not searches (rotating the secret, redriving deliveries). A search
// stores its response in the transaction that creates it (searches.ts); these operations span several
// statements of their own, so the key is claimed first with a placeholder row: a second request with the
// same key while the first runs gets 409, one after it gets the stored response, and a failed operation
// frees the key again. The running request renews its placeholder; one not renewed for a minute was left
// by a crashed process, and the next request with that key (the client's retry) takes it over.
import { randomUUID } from 'node:crypto';
import type { OpenStore } from './db.js';
import { IDEMPOTENCY_TTL_MS, isUniqueViolation, readIdempotency, type IdempotencyRequest, type StoredResponse } from './searches.js';

/** status_code of a key whose operation is still running; its `response` holds the running request's token */
const IN_PROGRESS = 0;
const ABANDONED_AFTER_MS = 60_000;
const RENEW_EVERY_MS = ABANDONED_AFTER_MS / 4;

export class IdempotencyInProgress extends Error {
  constructor() {
    super('A request with this Idempotency-Key is still being processed');
  }
}

/** The key's stored response, `in_progress` while a live placeholder holds it, or null (free, or abandoned). */
async function stored(store: OpenStore, accountId: string, idem: IdempotencyRequest, now: number): Promise<StoredResponse | 'in_progress' | null> {
  const row = await readIdempotency(store, accountId, idem, now);
  if (!row) return null;
  if (row.status_code !== IN_PROGRESS) return { statusCode: row.status_code, body: row.response };
  return Number(row.created_at) > now - ABANDONED_AFTER_MS ? 'in_progress' : null;
}

export async function runIdempotent(
  store: OpenStore,
  accountId: string,
  idem: IdempotencyRequest | undefined,
  op: () => Promise<StoredResponse>,
  now = Date.now(),
): Promise<StoredResponse> {
  if (!idem) return op();
  const prior = await stored(store, accountId, idem, now);
  if (prior === 'in_progress') throw new IdempotencyInProgress();
  if (prior) return prior;
  const token = randomUUID();
  try {
    await store.tx(async (trx) => {
      await trx
        .deleteFrom('idempotency')
        .where('account_id', '=', accountId)
        .where('key', '=', idem.key)
        .where((eb) => eb.or([eb('created_at', '<=', now - IDEMPOTENCY_TTL_MS), eb.and([eb('status_code', '=', IN_PROGRESS), eb('created_at', '<=', now - ABANDONED_AFTER_MS)])]))
        .execute();
      await trx.insertInto('idempotency').values({ account_id: accountId, key: idem.key, request_hash: idem.requestHash, status_code: IN_PROGRESS, response: token, created_at: now }).execute();
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // another request with this key got there first
    const winner = await stored(store, accountId, idem, now);
    if (!winner || winner === 'in_progress') throw new IdempotencyInProgress();
    return winner;
  }
  // every statement on the placeholder names its token: once taken over, it is no longer ours to touch
  const ours = () => store.db.updateTable('idempotency').where('account_id', '=', accountId).where('key', '=', idem.key).where('status_code', '=', IN_PROGRESS).where('response', '=', token);
  // an operation longer than a minute is not abandoned
  const renew = setInterval(() => void ours().set({ created_at: Date.now() }).execute().catch(() => undefined), RENEW_EVERY_MS);
  renew.unref();
  let res: StoredResponse;
  try {
    res = await op();
  } catch (err) {
    await store.db.deleteFrom('idempotency').where('account_id', '=', accountId).where('key', '=', idem.key).where('status_code', '=', IN_PROGRESS).where('response', '=', token).execute();
    throw err;
  } finally {
    clearInterval(renew);
  }
  await ours().set({ status_code: res.statusCode, response: res.body }).execute();
  return res;
}
