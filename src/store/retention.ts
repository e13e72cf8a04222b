// Retention of the webhook log: finished deliveries (succeeded or failed), with their payloads and
// attempts, are deleted once older than the retention period, account by account and in small batches,
// so that no transaction holds the database for long. "Created before the cutoff" is a range of the
// (account_id, created_at) index the delivery list already uses: no index of its own (one on a column
// that every claim and result rewrites would cost every delivery). Live deliveries are never touched,
// whatever their age, nor those redriven since the cutoff.
import type { OpenStore } from './db.js';

const BATCH = 500;

/** Deletes deliveries created and finished before `cutoffMs`; returns how many. At most `maxBatches` per account; `stopped` is asked between batches. */
export async function pruneDeliveries(store: OpenStore, cutoffMs: number, opts: { maxBatches?: number; stopped?: () => boolean } = {}): Promise<number> {
  const maxBatches = opts.maxBatches ?? 100;
  const accounts = await store.db.selectFrom('accounts').select('id').execute();
  let deleted = 0;
  for (const { id: accountId } of accounts) {
    for (let i = 0; i < maxBatches; i++) {
      if (opts.stopped?.()) return deleted;
      const { seen, removed } = await store.tx(async (trx) => {
        const rows = await trx
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('account_id', '=', accountId)
          .where('created_at', '<', cutoffMs)
          .where('status', 'in', ['succeeded', 'failed'])
          .where('updated_at', '<', cutoffMs)
          .limit(BATCH)
          .execute();
        if (!rows.length) return { seen: 0, removed: 0 };
        // the conditions again: on PostgreSQL a redrive may have committed since the select
        const gone = await trx
          .deleteFrom('webhook_deliveries')
          .where('id', 'in', rows.map((r) => r.id))
          .where('status', 'in', ['succeeded', 'failed'])
          .where('updated_at', '<', cutoffMs)
          .returning('id')
          .execute();
        const ids = gone.map((r) => r.id);
        if (ids.length) {
          await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute();
          await trx.deleteFrom('webhook_payloads').where('delivery_id', 'in', ids).execute();
        }
        return { seen: rows.length, removed: ids.length };
      });
      deleted += removed;
      if (seen < BATCH) break;
      // let other work in between batches
      await new Promise((r) => setImmediate(r));
    }
  }
  return deleted;
}
