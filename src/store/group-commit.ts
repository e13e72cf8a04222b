// Group commit on SQLite. On the embedded database the cost of a write transaction (the lock, the WAL
// append, the statement round trips through the async query builder) dominates small writes. Writes
// asked for in the same turn of the event loop are therefore made together: one IMMEDIATE transaction,
// prepared statements run synchronously, and a SAVEPOINT per job so a refused job rolls back alone.
// Jobs that never refuse on purpose (`savepoints: false`) skip the savepoints: should one throw after
// all, the whole batch rolls back and is run again the careful way, a savepoint per job.
import type SQLite from 'better-sqlite3';
import type { OpenStore } from './db.js';

const MAX_BATCH = 256;

interface Job<J, R> {
  job: J;
  resolve(v: R): void;
  reject(err: unknown): void;
}

export function groupCommit<S, J, R>(
  store: OpenStore,
  prepare: (raw: SQLite.Database) => S,
  run: (statements: S, job: J, now: number) => R,
  opts: {
    savepoints?: boolean;
    /**
     * Jobs nobody waits on in a hurry may wait this long for company, so that more of them share a
     * transaction (and its pages); a job for which `urgent` is true flushes everything queued at once.
     */
    lingerMs?: number;
    urgent?: (job: J) => boolean;
  } = {},
): (job: J) => Promise<R> {
  const lingerMs = opts.lingerMs ?? 0;
  let lingerTimer: NodeJS.Timeout | null = null;
  const optimistic = opts.savepoints === false;
  if (!store.rawBatch) throw new Error('group commit needs the SQLite store');
  const rawBatch = store.rawBatch;
  const queue: Array<Job<J, R>> = [];
  let cached: { raw: SQLite.Database; st: S; savepoint: SQLite.Statement; release: SQLite.Statement; rollbackTo: SQLite.Statement } | undefined;
  let scheduled = false;

  async function flush() {
    scheduled = false;
    if (lingerTimer) {
      clearTimeout(lingerTimer);
      lingerTimer = null;
    }
    const jobs = queue.splice(0, MAX_BATCH);
    if (queue.length) schedule();
    let outcomes: Array<{ ok: true; v: R } | { ok: false; err: unknown }> = [];
    const statementsFor = (raw: SQLite.Database) => {
      if (cached?.raw !== raw) {
        cached = { raw, st: prepare(raw), savepoint: raw.prepare('savepoint job'), release: raw.prepare('release job'), rollbackTo: raw.prepare('rollback to job') };
      }
      return cached;
    };
    try {
      let done = false;
      if (optimistic) {
        try {
          await rawBatch((raw) => {
            const c = statementsFor(raw);
            const now = Date.now();
            for (const j of jobs) outcomes.push({ ok: true, v: run(c.st, j.job, now) });
          });
          done = true;
        } catch {
          outcomes = [];
        }
      }
      if (!done) {
        await rawBatch((raw) => {
          const c = statementsFor(raw);
          const now = Date.now();
          for (const j of jobs) {
            c.savepoint.run();
            try {
              outcomes.push({ ok: true, v: run(c.st, j.job, now) });
              c.release.run();
            } catch (err) {
              c.rollbackTo.run();
              c.release.run();
              outcomes.push({ ok: false, err });
            }
          }
        });
      }
    } catch (err) {
      // the batch itself failed (disk full, lock timeout): nothing was written for any of them
      for (const j of jobs) j.reject(err);
      return;
    }
    jobs.forEach((j, i) => {
      const o = outcomes[i]!;
      if (o.ok) j.resolve(o.v);
      else j.reject(o.err);
    });
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => void flush());
  }

  function scheduleLingering() {
    if (scheduled || lingerTimer) return;
    lingerTimer = setTimeout(() => {
      lingerTimer = null;
      schedule();
    }, lingerMs);
  }

  return (job: J) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ job, resolve, reject });
      if (lingerMs > 0 && queue.length < MAX_BATCH && !opts.urgent?.(job)) scheduleLingering();
      else schedule();
    });
}
