// PostgreSQL LISTEN/NOTIFY: a NOTIFY issued inside a transaction is delivered at commit, so a woken
// process always finds the rows it was told about. SQLite has no such channel; there, workers in other
// processes find work on their next poll (in-process wake-ups cover `openrow serve`).
import type pg from 'pg';
import { sql } from 'kysely';
import type { Tx } from './db.js';

export const NOTIFY_ITEMS = 'openrow_items';
export const NOTIFY_DELIVERIES = 'openrow_deliveries';

export async function notify(trx: Tx, channel: typeof NOTIFY_ITEMS | typeof NOTIFY_DELIVERIES) {
  await sql`select pg_notify(${channel}, '')`.execute(trx);
}

export async function listen(pool: pg.Pool, handlers: Record<string, () => void>, onError: (err: unknown) => void): Promise<() => Promise<void>> {
  const client = await pool.connect();
  client.on('notification', (msg) => handlers[msg.channel]?.());
  client.on('error', onError);
  for (const channel of Object.keys(handlers)) await client.query(`listen ${channel}`);
  return async () => {
    client.release(true);
  };
}
