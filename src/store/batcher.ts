// Many small writes as one statement, for PostgreSQL: calls made within a few milliseconds of each other
// are handed together to `run`, which answers each in order (one round trip and one commit for all,
// where each alone paid a transaction of several round trips). SQLite has group-commit.ts instead.
// Should a batch fail, each call is run again alone, so one bad row fails only its own call.
const MAX_BATCH = 256;

export function batcher<J, R>(run: (jobs: J[]) => Promise<R[]>, opts: { lingerMs: number }): (job: J) => Promise<R> {
  let queue: Array<{ job: J; resolve(v: R): void; reject(err: unknown): void }> = [];
  let timer: NodeJS.Timeout | null = null;

  function flush() {
    if (timer) clearTimeout(timer);
    timer = null;
    const batch = queue;
    queue = [];
    run(batch.map((b) => b.job)).then(
      (results) => batch.forEach((b, i) => b.resolve(results[i]!)),
      (err) => {
        if (batch.length === 1) return batch[0]!.reject(err);
        for (const b of batch) run([b.job]).then((r) => b.resolve(r[0]!), b.reject);
      },
    );
  }

  return (job: J) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ job, resolve, reject });
      if (queue.length >= MAX_BATCH) flush();
      else if (!timer) timer = setTimeout(flush, opts.lingerMs);
    });
}
