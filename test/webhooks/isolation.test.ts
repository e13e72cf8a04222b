// A slow or dead receiver must not hold up deliveries to healthy ones. Assertions are on counts and
// order of events, never on durations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, receiver, statusOf, waitFor } from './harness.js';

test('a hanging receiver holds at most its per-origin share; a healthy one gets everything meanwhile', async () => {
  const dead = await receiver();
  const healthy = await receiver();
  dead.setBehaviour(() => ({ hang: true }));
  // 6 global slots, 2 per origin: without the per-origin cap the 20 dead deliveries, claimed first,
  // would take every slot until they time out (60 s here)
  const h = harness({ concurrency: 6, perOriginConcurrency: 2, timeoutMs: 60_000, saturatedDeferMs: 50 });
  try {
    const deadIds = Array.from({ length: 20 }, () => h.enqueue(dead.url).id);
    await dead.waitForRequests(2);
    const healthyIds = Array.from({ length: 20 }, () => h.enqueue(healthy.url).id);
    await waitFor(() => healthyIds.every((id) => statusOf(h, id) === 'succeeded'), 'all healthy deliveries');
    assert.equal(healthy.requests.length, 20);
    // the dead origin never got more than its two slots, and none of its deliveries has finished
    assert.equal(dead.requests.length, 2);
    assert.equal(deadIds.filter((id) => statusOf(h, id) === 'succeeded' || statusOf(h, id) === 'failed').length, 0);
    assert.equal(h.attempts.filter((a) => a.delivery.url === dead.url).length, 0);
    const s = h.dispatcher.stats();
    assert.ok(s.released > 0, 'saturated-origin deliveries went back to the store');
    assert.ok(s.inFlight <= 2);
  } finally {
    await h.close();
    await dead.close();
    await healthy.close();
  }
  // stop(0) aborted the hanging attempts: nothing recorded for them, their rows are claimable again
  assert.equal(h.attempts.filter((a) => a.delivery.url === dead.url).length, 0);
  assert.equal(h.store.countByStatus().delivering, 0);
});

test('the breaker opens on a failing origin, parks its deliveries in the store, half-opens and recovers', async () => {
  const r = await receiver();
  const other = await receiver();
  r.setBehaviour(() => ({ status: 500 }));
  // openMs leaves room for a loaded CI machine: a probe during the checks below would be a 4th request
  const h = harness({ perOriginConcurrency: 1, retry: { schedule: '0s' }, breaker: { minRequests: 3, failureRatio: 0.7, openMs: 2000 } });
  try {
    const origin = `acc_1 ${new URL(r.url).origin}`; // breakers are kept per account and origin
    const ids = Array.from({ length: 10 }, () => h.enqueue(r.url).id);
    await waitFor(() => h.dispatcher.stats().breakers[origin] === 'open', 'breaker open');
    // three failures opened it; nothing else was sent to that origin
    assert.equal(r.requests.length, 3);
    assert.equal(ids.filter((id) => statusOf(h, id) === 'failed').length, 3);
    // other origins are unaffected while it is open
    const otherId = h.enqueue(other.url).id;
    await waitFor(() => statusOf(h, otherId) === 'succeeded', 'other origin delivered');
    assert.equal(h.dispatcher.stats().breakers[origin], 'open');
    assert.equal(r.requests.length, 3);
    // the receiver recovers; after openMs one probe goes out, succeeds, and the rest follow
    r.setBehaviour(() => ({ status: 200 }));
    await waitFor(() => ids.filter((id) => statusOf(h, id) === 'succeeded').length === 7, 'the other 7 delivered');
    assert.equal(r.requests.length, 10);
    assert.deepEqual(h.dispatcher.stats().breakers, {});
    assert.ok(h.dispatcher.stats().released >= 7);
    // nothing was attempted while the breaker was open: each delivery has exactly one attempt
    for (const id of ids) assert.equal(h.store.attemptLog(id).length, 1);
  } finally {
    await h.close();
    await r.close();
    await other.close();
  }
});

test('the attempt that opens the breaker frees its slot only once the breaker knows: the delivery parked behind it is not sent', async () => {
  const r = await receiver();
  const h = harness({ perOriginConcurrency: 1, retry: { schedule: '0s' }, breaker: { minRequests: 2, failureRatio: 1, openMs: 60_000 } });
  try {
    const origin = `acc_1 ${new URL(r.url).origin}`; // breakers are kept per account and origin
    // one success first: the origin then has a known attempt duration, so deliveries beyond its single
    // slot wait parked right behind it instead of going back to the store
    const first = h.enqueue(r.url).id;
    await waitFor(() => statusOf(h, first) === 'succeeded', 'first delivery');
    r.setBehaviour(() => ({ status: 500, delayMs: 100 }));
    for (let i = 0; i < 6; i++) h.enqueue(r.url);
    await waitFor(() => h.dispatcher.stats().breakers[origin] === 'open', 'breaker open');
    // the second failure opened it; had the slot been handed to a parked delivery first, a fourth
    // request would already be on its way
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(r.requests.length, 3);
    assert.equal(h.attempts.length, 3);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a probe that fails reopens the breaker', async () => {
  const r = await receiver();
  r.setBehaviour(() => ({ status: 503 }));
  const h = harness({ perOriginConcurrency: 1, retry: { schedule: '0s' }, breaker: { minRequests: 2, openMs: 1000 } });
  try {
    const origin = `acc_1 ${new URL(r.url).origin}`; // breakers are kept per account and origin
    const ids = Array.from({ length: 4 }, () => h.enqueue(r.url).id);
    await waitFor(() => r.requests.length === 3, 'two failures then a probe');
    await waitFor(() => ids.filter((id) => statusOf(h, id) === 'failed').length === 3, 'probe recorded');
    assert.equal(h.dispatcher.stats().breakers[origin], 'open');
    r.setBehaviour(() => ({ status: 200 }));
    await waitFor(() => ids.every((id) => statusOf(h, id) !== 'pending' && statusOf(h, id) !== 'delivering'), 'all finished');
    assert.deepEqual(ids.map((id) => statusOf(h, id)).sort(), ['failed', 'failed', 'failed', 'succeeded']);
  } finally {
    await h.close();
    await r.close();
  }
});

test('the global cap holds across many origins, however many rows a claim brings', async () => {
  // 8 receivers, 3 slots each, 6 slots overall: a claim brings at least a third of the room, so rows
  // beyond the free slots must wait parked (or go back), never start
  const receivers = await Promise.all(Array.from({ length: 8 }, () => receiver()));
  let now = 0;
  let peak = 0;
  for (const r of receivers) {
    r.setBehaviour(() => ({ status: 200, delayMs: 5 + Math.floor(Math.random() * 20) }));
    r.onRequest = () => {
      now++;
      peak = Math.max(peak, now);
    };
    r.onAnswer = () => now--;
  }
  const h = harness({ concurrency: 6, perOriginConcurrency: 3, batchSize: 18, saturatedDeferMs: 20 });
  try {
    const ids = Array.from({ length: 160 }, (_, i) => h.enqueue(receivers[i % receivers.length]!.url).id);
    await waitFor(() => ids.every((id) => statusOf(h, id) === 'succeeded'), 'all deliveries');
    assert.ok(peak <= 6, `at most 6 requests at once across all receivers, saw ${peak}`);
    assert.equal(receivers.reduce((n, r) => n + r.requests.length, 0), 160);
  } finally {
    await h.close();
    await Promise.all(receivers.map((r) => r.close()));
  }
});
