// The PostgreSQL write batcher: calls close in time share one run; a failing batch is retried call by
// call, so one bad row fails only its own call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batcher } from '../../src/store/batcher.js';

test('calls within the linger share one run and get their own answers, in order', async () => {
  const runs: number[][] = [];
  const double = batcher(async (xs: number[]) => (runs.push(xs), xs.map((x) => x * 2)), { lingerMs: 5 });
  assert.deepEqual(await Promise.all([1, 2, 3].map(double)), [2, 4, 6]);
  assert.deepEqual(runs, [[1, 2, 3]]);
});

test('a failing batch is run again call by call: only the bad call fails', async () => {
  const runs: number[][] = [];
  const write = batcher(
    async (xs: number[]) => {
      runs.push(xs);
      if (xs.includes(13)) throw new Error('row 13 is refused');
      return xs.map(() => true);
    },
    { lingerMs: 5 },
  );
  const results = await Promise.allSettled([7, 13, 21].map(write));
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /row 13/);
  assert.deepEqual(runs, [[7, 13, 21], [7], [13], [21]]);
});
