// Idempotency-Key for POSTs that are not searches (rotating the secret, redriving deliveries). A search
// stores its response in the transaction that creates it (searches.ts); these operations span several
// statements of their own, so the key is claimed first with a placeholder row: a second request with the
// same key while the first runs gets 409, one after it gets the stored response, and a failed operation
// frees the key again. A placeholder left by a crashed process stops counting after a minute.
import type { OpenStore } from './db.js';
import { findIdempotent, IDEMPOTENCY_TTL_MS, isUniqueViolation, type IdempotencyRequest, type StoredResponse } from './searches.js';

/** status_code of a key whose operation is still running */
const IN_PROGRESS = 0;
const ABANDONED_AFTER_MS = 60_000;

export class IdempotencyInProgress extends Error {
  constructor() {
    super('A request with this Idempotency-Key is still being processed');
  }
}

export async function runIdempotent(
  store: OpenStore,
  accountId: string,
  idem: IdempotencyRequest | undefined,
  op: () => Promise<StoredResponse>,
  now = Date.now(),
): Promise<StoredResponse> {
  if (!idem) return op();
  const prior = await findIdempotent(store, accountId, idem, now);
  if (prior?.statusCode === IN_PROGRESS) throw new IdempotencyInProgress();
  if (prior) return prior;
  try {
    await store.tx(async (trx) => {
      await trx
        .deleteFrom('idempotency')
        .where('account_id', '=', accountId)
        .where('key', '=', idem.key)
        .where((eb) => eb.or([eb('created_at', '<=', now - IDEMPOTENCY_TTL_MS), eb.and([eb('status_code', '=', IN_PROGRESS), eb('created_at', '<=', now - ABANDONED_AFTER_MS)])]))
        .execute();
      await trx.insertInto('idempotency').values({ account_id: accountId, key: idem.key, request_hash: idem.requestHash, status_code: IN_PROGRESS, response: '', created_at: now }).execute();
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // another request with this key got there first
    const winner = await findIdempotent(store, accountId, idem, now);
    if (!winner || winner.statusCode === IN_PROGRESS) throw new IdempotencyInProgress();
    return winner;
  }
  let res: StoredResponse;
  try {
    res = await op();
  } catch (err) {
    await store.db.deleteFrom('idempotency').where('account_id', '=', accountId).where('key', '=', idem.key).where('status_code', '=', IN_PROGRESS).execute();
    throw err;
  }
  await store.db
    .updateTable('idempotency')
    .set({ status_code: res.statusCode, response: res.body })
    .where('account_id', '=', accountId)
    .where('key', '=', idem.key)
    .execute();
  return res;
}
