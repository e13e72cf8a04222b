// Many small writes as one statement, for PostgreSQL: calls made within a few milliseconds of each other
// are handed together to `run`, which answers each in order (one round trip and one commit for all,
// where each alone paid a transaction of several round trips). The queue is group commit's
// (group-commit.ts); what differs is the failure path: should a batch fail, each call is run again
// alone, so one bad row fails only its own call.
import { groupCommitQueue, type Outcome } from './group-commit.js';

export function batcher<J, R>(run: (jobs: J[]) => Promise<R[]>, opts: { lingerMs: number }): (job: J) => Promise<R> {
  return groupCommitQueue(async (jobs: J[]): Promise<Array<Outcome<R>>> => {
    try {
      return (await run(jobs)).map((v) => ({ ok: true, v }));
    } catch (err) {
      if (jobs.length === 1) throw err;
      return Promise.all(
        jobs.map((j) => run([j]).then((r): Outcome<R> => ({ ok: true, v: r[0]! }), (e: unknown): Outcome<R> => ({ ok: false, err: e }))),
      );
    }
  }, opts);
}
