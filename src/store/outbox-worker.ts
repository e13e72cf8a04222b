// The outbox thread's body (see outbox-thread.ts): a connection of its own to the database file, and one
// group-committed batch of outbox jobs per message, answered with each job's outcome.
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { commitJobs, immediateTransaction, preparer } from './group-commit.js';
import { decodeJobs, encodeOutcomes, errorToWire, runOutboxJob, sqliteOutbox } from './outbox-sqlite.js';

export interface OutboxWorkerData {
  file: string;
  /** the main connection's wal_autocheckpoint: checkpoints belong to the checkpoint thread when it runs */
  autocheckpointPages: number;
  /** the main connection's synchronous setting (OPENROW_SQLITE_SYNC): outbox commits are as durable as the others */
  synchronous: 'NORMAL' | 'FULL';
}

/** jobs and outcomes travel flat (encodeJobs, encodeOutcomes in outbox-sqlite.ts) */
export type OutboxRequest = { batch: number; jobs: unknown[] } | { stop: true } | { crash: true };
export type OutboxReply = { batch: number; outcomes: unknown[] } | { batch: number; error: unknown } | { ready: true } | { stopped: true };

const { file, autocheckpointPages, synchronous } = workerData as OutboxWorkerData;
const raw = new SQLite(file);
raw.pragma('busy_timeout = 10000');
raw.pragma(`synchronous = ${synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
raw.pragma('foreign_keys = ON');
raw.pragma(`wal_autocheckpoint = ${autocheckpointPages}`);
const prepared = preparer(sqliteOutbox);
const port = parentPort!;
port.postMessage({ ready: true } satisfies OutboxReply);

port.on('message', async (m: OutboxRequest) => {
  if ('crash' in m) throw new Error('the outbox thread was asked to crash');
  if ('stop' in m) {
    raw.close();
    port.postMessage({ stopped: true } satisfies OutboxReply);
    return;
  }
  let reply: OutboxReply;
  try {
    const outcomes = await commitJobs((fn) => immediateTransaction(raw, () => fn(raw)), prepared, runOutboxJob, decodeJobs(m.jobs), true);
    reply = { batch: m.batch, outcomes: encodeOutcomes(outcomes) };
  } catch (error) {
    reply = { batch: m.batch, error: errorToWire(error) };
  }
  port.postMessage(reply);
});
