// Retention of the webhook log: finished deliveries (succeeded or failed), with their payloads and
// attempts, are deleted once older than the retention period, in small batches so that no transaction
// holds the database for long. Delivery ids are time-ordered (UUIDv7), so "created before the cutoff" is
// a range of the primary key and needs no index of its own (an index on a timestamp that every claim
// and result rewrites would cost every delivery). Live deliveries are never touched, whatever their age.
import type { OpenStore } from './db.js';
import { idBoundaryAt } from '../domain/ids.js';

const BATCH = 500;

/** Deletes deliveries created and finished before `cutoffMs`; returns how many. Stops after `maxBatches`. */
export async function pruneDeliveries(store: OpenStore, cutoffMs: number, maxBatches = 100): Promise<number> {
  const boundary = idBoundaryAt('msg', cutoffMs);
  let deleted = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await store.tx(async (trx) => {
      const rows = await trx
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('id', '<', boundary)
        .where('status', 'in', ['succeeded', 'failed'])
        .where('created_at', '<', cutoffMs)
        // a redelivery asked for lately keeps its delivery, however old
        .where('updated_at', '<', cutoffMs)
        .orderBy('id')
        .limit(BATCH)
        .execute();
      const ids = rows.map((r) => r.id);
      if (!ids.length) return 0;
      await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute();
      await trx.deleteFrom('webhook_payloads').where('delivery_id', 'in', ids).execute();
      await trx.deleteFrom('webhook_deliveries').where('id', 'in', ids).execute();
      return ids.length;
    });
    deleted += n;
    if (n < BATCH) break;
    // let other work in between batches
    await new Promise((r) => setImmediate(r));
  }
  return deleted;
}
