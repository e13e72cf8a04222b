// Opens the database (embedded SQLite by default, PostgreSQL when a postgres:// URL is given) and
// provides the one transaction primitive every write path uses.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { migrateToLatest, type SqlDialect } from './migrations.js';
import { SAFETY_NET_AUTOCHECKPOINT_PAGES, startCheckpointer, type Checkpointer } from './checkpointer.js';
import { immediateTransaction } from './group-commit.js';
import { isPostgresUrl } from './database-url.js';

// int8 columns (money, epoch ms) come back as strings by default; every value we store fits a double.
pg.types.setTypeParser(20, (v) => Number(v));

export type Db = Kysely<Database>;
export type Tx = Transaction<Database> | Kysely<Database>;

export interface OpenStore {
  db: Db;
  dialect: SqlDialect;
  /** Runs fn in a write transaction (SQLite: BEGIN IMMEDIATE, so concurrent processes queue instead of failing). */
  tx<T>(fn: (trx: Tx) => Promise<T>): Promise<T>;
  /** A PostgreSQL pool for LISTEN/NOTIFY, when on PostgreSQL. */
  pgPool?: pg.Pool;
  /**
   * SQLite only: runs a synchronous batch on the raw connection inside one IMMEDIATE transaction,
   * holding Kysely's connection lock so no other statement can interleave. Hot paths use it for
   * group commit (see accept-batch.ts).
   */
  rawBatch?<T>(fn: (raw: SQLite.Database) => T): Promise<T>;
  /** SQLite database file (none for ':memory:'), for threads that open connections of their own */
  sqliteFile?: { path: string; autocheckpointPages: number; synchronous: 'NORMAL' | 'FULL' };
  /**
   * SQLite only: runs fn while this connection runs nothing else (Kysely's connection lock). A thread that
   * writes through a connection of its own does so inside it: the main thread's statements then wait for
   * it in the event loop instead of sleeping in SQLite's busy handler, which blocks the thread.
   */
  holdConnection?<T>(fn: () => Promise<T>): Promise<T>;
  /** Stops a helper started on this store (a thread with its own connection) before the store closes. */
  onClose(stop: () => Promise<void>): void;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** postgres://… or a SQLite file path (':memory:' allowed) */
  url: string;
  /** PostgreSQL schema to use (created if missing); tests use one per run */
  pgSchema?: string;
  migrate?: boolean;
  poolSize?: number;
  /**
   * SQLite: `normal` (default) makes a commit durable against a crash of the process, `full` against a
   * crash of the machine too (an fsync per commit; with WAL, `normal` may lose the last commits to a power
   * loss or an OS crash, never corrupt the file)
   */
  sqliteSync?: 'normal' | 'full';
  /** SQLite file: checkpoint the WAL from a worker thread instead of inside commits (default true) */
  backgroundCheckpoints?: boolean;
  /** PostgreSQL: an idle pooled connection the server closed (restart, failover, idle timeout); default: a process warning */
  onConnectionError?: (err: Error) => void;
}

export { isPostgresUrl };

export async function openStore(opts: OpenStoreOptions): Promise<OpenStore> {
  const store = isPostgresUrl(opts.url) ? await openPostgres(opts) : openSqlite(opts);
  if (opts.migrate !== false) {
    try {
      await migrateStore(store);
    } catch (err) {
      // nothing of a store that cannot start stays open (connections, the checkpoint thread)
      await store.close().catch(() => undefined);
      throw err;
    }
  }
  return store;
}

/**
 * Applies every pending migration. On PostgreSQL the migrator locks itself; on SQLite it does not (its
 * lock is a no-op there), and two processes starting together on a new file (`serve` and `worker`) both
 * ran the first migration: one failed with "table already exists". There, a lock file beside the database
 * serializes them: SQLite's own file locking, released by the system should the holder die.
 */
export async function migrateStore(store: OpenStore): Promise<string[]> {
  if (!store.sqliteFile) return migrateToLatest(store.db, store.dialect);
  const lock = new SQLite(`${store.sqliteFile.path}.migrate-lock`);
  try {
    // the second process waits here (synchronously: it has nothing else to do yet) for the first one's migrations
    lock.pragma('busy_timeout = 300000');
    lock.exec('begin exclusive');
    return await migrateToLatest(store.db, store.dialect);
  } finally {
    if (lock.inTransaction) lock.exec('commit');
    lock.close();
  }
}

function openSqlite(opts: OpenStoreOptions): OpenStore {
  if (opts.url !== ':memory:') mkdirSync(dirname(opts.url), { recursive: true });
  const database = new SQLite(opts.url);
  database.pragma('journal_mode = WAL');
  const synchronous = opts.sqliteSync === 'full' ? 'FULL' : 'NORMAL';
  database.pragma(`synchronous = ${synchronous}`);
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  let checkpointer: Checkpointer | undefined;
  const helpers = closeHooks();
  if (opts.url !== ':memory:' && opts.backgroundCheckpoints !== false) {
    database.pragma(`wal_autocheckpoint = ${SAFETY_NET_AUTOCHECKPOINT_PAGES}`);
    checkpointer = startCheckpointer(opts.url, { onError: (message) => process.emitWarning(`background WAL checkpoint failed: ${message}`) });
  }
  // Kysely prepares every statement afresh; the same few statements run thousands of times a second,
  // so keep their compiled form (better-sqlite3 statements are reusable and run synchronously).
  const statements = new Map<string, SQLite.Statement>();
  const prepare = database.prepare.bind(database);
  database.prepare = ((source: string) => {
    let st = statements.get(source);
    if (!st) {
      st = prepare(source);
      if (statements.size < 2000) statements.set(source, st);
    }
    return st;
  }) as typeof database.prepare;
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return {
    db,
    dialect: 'sqlite',
    // Kysely's own SQLite transactions start DEFERRED; a deferred reader that later writes can fail with
    // SQLITE_BUSY when another process wrote meanwhile. IMMEDIATE takes the write lock up front, and
    // busy_timeout makes a second process wait for it.
    tx: (fn) =>
      db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const out = await fn(conn);
          await sql`commit`.execute(conn);
          return out;
        } catch (err) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw err;
        }
      }),
    rawBatch: (fn) => db.connection().execute(async () => immediateTransaction(database, () => fn(database))),
    holdConnection: (fn) => db.connection().execute(() => fn()),
    sqliteFile: opts.url === ':memory:' ? undefined : { path: opts.url, autocheckpointPages: database.pragma('wal_autocheckpoint', { simple: true }) as number, synchronous },
    onClose: helpers.add,
    close: async () => {
      await helpers.run();
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

async function openPostgres(opts: OpenStoreOptions): Promise<OpenStore> {
  const schema = opts.pgSchema;
  if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    options: schema ? `-c search_path=${schema}` : undefined,
  });
  // An idle client the server disconnects (a restart, a failover, idle_session_timeout) is emitted as an
  // 'error' on the pool: unhandled, that event ended the process. The pool drops the client by itself
  // and the next query opens a new connection.
  pool.on('error', opts.onConnectionError ?? ((err) => process.emitWarning(`PostgreSQL connection lost: ${err.message}`)));
  // a checked-out client (a Kysely transaction between statements) has no pool listener: its query fails anyway
  pool.on('connect', (client) => client.on('error', () => undefined));
  if (schema) await pool.query(`create schema if not exists ${schema}`);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const helpers = closeHooks();
  return {
    db,
    dialect: 'postgres',
    tx: (fn) => db.transaction().execute(fn),
    pgPool: pool,
    onClose: helpers.add,
    close: async () => {
      await helpers.run();
      await db.destroy();
    },
  };
}

/** Helpers to stop before a store closes; one added after the store closed is stopped at once. */
function closeHooks() {
  const stops: Array<() => Promise<void>> = [];
  let closed = false;
  return {
    add: (stop: () => Promise<void>) => {
      if (closed) void stop().catch(() => undefined);
      else stops.push(stop);
    },
    run: async () => {
      closed = true;
      await Promise.allSettled(stops.splice(0).map((stop) => stop()));
    },
  };
}
