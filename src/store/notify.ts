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

const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 30_000;

/**
 * Listens on the handlers' channels on a connection of its own. A lost connection (a restart, a
 * failover, a terminated backend) is replaced, with a growing pause between tries, and every handler
 * is called once it is back: what was notified meanwhile is found then, not on the next poll.
 */
export async function listen(pool: pg.Pool, handlers: Record<string, () => void>, onError: (err: unknown) => void): Promise<() => Promise<void>> {
  /** the connection listening now, and how to let it go */
  let current: { client: pg.PoolClient; drop: () => void } | null = null;
  let stopped = false;
  let started = false;
  let retry: NodeJS.Timeout | null = null;
  let delay = RECONNECT_FIRST_MS;

  /** true once listening; false when stopped (or lost) meanwhile */
  async function connect(): Promise<boolean> {
    const c = await pool.connect();
    let released = false;
    const drop = (err?: Error) => {
      if (released) return;
      released = true;
      if (current?.client === c) current = null;
      // a broken connection is destroyed, not returned to the pool
      c.release(err ?? true);
    };
    c.on('notification', (msg) => handlers[msg.channel]?.());
    c.on('error', (err) => {
      if (released) return; // a connection already let go: its replacement is someone else's business
      onError(err);
      drop(err);
      if (started) reconnectSoon();
    });
    try {
      for (const channel of Object.keys(handlers)) await c.query(`listen ${channel}`);
    } catch (err) {
      drop(err as Error);
      throw err;
    }
    if (stopped || released) {
      drop();
      return false;
    }
    current = { client: c, drop: () => drop() };
    return true;
  }

  function reconnectSoon() {
    if (stopped || retry || current) return;
    retry = setTimeout(async () => {
      retry = null;
      let back: boolean;
      try {
        back = await connect();
      } catch (err) {
        onError(err);
        delay = Math.min(RECONNECT_MAX_MS, delay * 2);
        reconnectSoon();
        return;
      }
      if (!back || stopped) return;
      delay = RECONNECT_FIRST_MS;
      for (const handler of Object.values(handlers)) {
        try {
          handler();
        } catch (err) {
          onError(err);
        }
      }
    }, delay);
    retry.unref();
  }

  // a failure here rejects, and nothing is left running
  if (!(await connect())) throw new Error('the LISTEN connection was lost while it started');
  started = true;
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    retry = null;
    current?.drop();
  };
}
