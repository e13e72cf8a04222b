// Group commit, above all on SQLite. On the embedded database the cost of a write transaction (the lock, the WAL
// append, the statement round trips through the async query builder) dominates small writes. Writes
// asked for while the previous batch is being committed are therefore made together: one IMMEDIATE
// transaction, prepared statements run synchronously, and a SAVEPOINT per job so a refused job rolls back
// alone. Jobs that never refuse on purpose (`savepoints: false`) skip the savepoints: should one throw
// after all, the whole batch rolls back and is run again the careful way, a savepoint per job.
//
// Two halves: the queue (which jobs go together, when) and the commit (running a batch in a transaction).
// The commit is synchronous and needs only a connection, so it runs on the main thread's connection
// (groupCommit) or in a thread with a connection of its own (outbox-thread.ts). PostgreSQL's batched
// statements use the queue alone (batcher.ts).
import type SQLite from 'better-sqlite3';
import type { OpenStore } from './db.js';

export const MAX_BATCH = 256;

export type Outcome<R> = { ok: true; v: R } | { ok: false; err: unknown };

/** Statements prepared once per connection: the caller's, and the savepoints the careful path needs. */
export interface Prepared<S> {
  raw: SQLite.Database;
  st: S;
  savepoint: SQLite.Statement;
  release: SQLite.Statement;
  rollbackTo: SQLite.Statement;
}

export function preparer<S>(prepare: (raw: SQLite.Database) => S): (raw: SQLite.Database) => Prepared<S> {
  let cached: Prepared<S> | undefined;
  return (raw) => {
    if (cached?.raw !== raw) {
      cached = { raw, st: prepare(raw), savepoint: raw.prepare('savepoint job'), release: raw.prepare('release job'), rollbackTo: raw.prepare('rollback to job') };
    }
    return cached;
  };
}

/** Runs `fn` inside BEGIN IMMEDIATE … COMMIT on `raw`, rolled back if it throws. */
export function immediateTransaction<T>(raw: SQLite.Database, fn: () => T): T {
  raw.exec('begin immediate');
  try {
    const out = fn();
    raw.exec('commit');
    return out;
  } catch (err) {
    if (raw.inTransaction) raw.exec('rollback');
    throw err;
  }
}

/**
 * Commits one batch. `transact` opens a write transaction around its callback on some connection. Throws
 * only when the batch as a whole failed (disk full, lock timeout): then nothing of it was written.
 */
export async function commitJobs<S, J, R>(
  transact: (fn: (raw: SQLite.Database) => void) => unknown,
  prepared: (raw: SQLite.Database) => Prepared<S>,
  run: (statements: S, job: J, now: number) => R,
  jobs: J[],
  optimistic: boolean,
): Promise<Array<Outcome<R>>> {
  let outcomes: Array<Outcome<R>> = [];
  if (optimistic) {
    try {
      await transact((raw) => {
        const c = prepared(raw);
        const now = Date.now();
        for (const j of jobs) outcomes.push({ ok: true, v: run(c.st, j, now) });
      });
      return outcomes;
    } catch {
      outcomes = [];
    }
  }
  await transact((raw) => {
    const c = prepared(raw);
    const now = Date.now();
    for (const j of jobs) {
      c.savepoint.run();
      try {
        outcomes.push({ ok: true, v: run(c.st, j, now) });
        c.release.run();
      } catch (err) {
        c.rollbackTo.run();
        c.release.run();
        outcomes.push({ ok: false, err });
      }
    }
  });
  return outcomes;
}

export interface QueueOptions<J> {
  /**
   * Jobs nobody waits on in a hurry may wait this long for company, so that more of them share a
   * transaction (and its pages); a job for which `urgent` is true flushes everything queued at once.
   */
  lingerMs?: number;
  urgent?: (job: J) => boolean;
}

/**
 * The queue half: one batch is committed at a time, and everything asked for meanwhile goes into the
 * next one, so batches grow exactly as much as commits are slow.
 */
export function groupCommitQueue<J, R>(commit: (jobs: J[]) => Promise<Array<Outcome<R>>>, opts: QueueOptions<J> = {}): (job: J) => Promise<R> {
  const lingerMs = opts.lingerMs ?? 0;
  const queue: Array<{ job: J; resolve(v: R): void; reject(err: unknown): void }> = [];
  let lingerTimer: NodeJS.Timeout | null = null;
  let scheduled = false;
  let committing = false;
  /** an urgent job, a full batch or a job that has lingered long enough is waiting */
  let due = false;

  async function flush() {
    scheduled = false;
    if (committing || !queue.length) return;
    due = false;
    if (lingerTimer) {
      clearTimeout(lingerTimer);
      lingerTimer = null;
    }
    committing = true;
    const jobs = queue.splice(0, MAX_BATCH);
    try {
      const outcomes = await commit(jobs.map((j) => j.job));
      jobs.forEach((j, i) => {
        const o = outcomes[i]!;
        if (o.ok) j.resolve(o.v);
        else j.reject(o.err);
      });
    } catch (err) {
      for (const j of jobs) j.reject(err);
    } finally {
      committing = false;
      if (queue.length >= MAX_BATCH) due = true;
      if (due) schedule();
      else if (queue.length) scheduleLingering();
    }
  }

  function flushSoon() {
    due = true;
    // while a batch commits, its completion sends whatever is due
    if (!committing) schedule();
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => void flush());
  }

  function scheduleLingering() {
    if (due || lingerTimer) return;
    lingerTimer = setTimeout(() => {
      lingerTimer = null;
      flushSoon();
    }, lingerMs);
  }

  return (job: J) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ job, resolve, reject });
      if (lingerMs > 0 && queue.length < MAX_BATCH && !opts.urgent?.(job)) scheduleLingering();
      else flushSoon();
    });
}

/** Group commit on the store's own connection. */
export function groupCommit<S, J, R>(
  store: OpenStore,
  prepare: (raw: SQLite.Database) => S,
  run: (statements: S, job: J, now: number) => R,
  opts: QueueOptions<J> & { savepoints?: boolean } = {},
): (job: J) => Promise<R> {
  if (!store.rawBatch) throw new Error('group commit needs the SQLite store');
  const rawBatch = store.rawBatch;
  const prepared = preparer(prepare);
  return groupCommitQueue((jobs) => commitJobs(rawBatch, prepared, run, jobs, opts.savepoints === false), opts);
}
