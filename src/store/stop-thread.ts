// How a helper thread with a database connection of its own is stopped (the WAL checkpointer, the outbox
// thread): asked first, so it closes its connection cleanly, then ended whatever it answered.
import type { Worker } from 'node:worker_threads';

/** Posts `request`, waits up to `graceMs` for `{ stopped: true }` or the thread's exit, then terminates it. */
export async function stopThread(worker: Worker, request: unknown, graceMs: number): Promise<void> {
  // the process stays up for the answer
  worker.ref();
  const answered = new Promise<void>((resolve) => {
    worker.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'stopped' in m) resolve();
    });
    worker.once('exit', () => resolve());
  });
  worker.postMessage(request);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([answered, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  await worker.terminate();
}
