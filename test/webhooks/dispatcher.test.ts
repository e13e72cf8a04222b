// The dispatcher's own life cycle: woken at once, sleeping until the next due time, draining on stop, and
// taking over deliveries whose lease ran out. Plus the memory store's claim/lease/fence semantics, which
// the database store must share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryDeliveryStore } from '../../src/webhooks/store-memory.js';
import type { AttemptRecord } from '../../src/webhooks/types.js';
import { harness, receiver, statusOf, waitFor } from './harness.js';

const attempt = (n: number): AttemptRecord => ({
  attemptNo: n, startedAt: 0, durationMs: 1, statusCode: 500, responseHeaders: {}, responseBody: '', error: 'HTTP 500', errorKind: null,
});
const input = (i: number, nextAttemptAt?: number) => ({ accountId: 'a', searchId: `s${i}`, event: 'e', url: 'https://x.example/h', payload: '{}', nextAttemptAt });

test('memory store: disjoint claims, oldest due first, leases expire, results are fenced by owner', async () => {
  const s = new InMemoryDeliveryStore({ now: () => 1000 });
  const ids = [3, 1, 2].map((t) => s.enqueue(input(t, t * 100)).id);
  assert.equal(await s.nextDueAt(), 100);
  const a = await s.claimDue(150, 10, 'A', 1000);
  assert.deepEqual(a.map((d) => [d.id, d.status, d.attempts]), [[ids[1], 'delivering', 0]]);
  assert.equal(s.get(ids[1]!)!.leaseOwner, 'A');
  const b = await s.claimDue(1000, 10, 'B', 1000);
  assert.deepEqual(b.map((d) => d.id), [ids[2], ids[0]]); // oldest due first; A's row is not offered again
  assert.equal(await s.nextDueAt(), 1150); // A's lease expiry
  // A's lease expires: C takes the row over, and A's late result is refused
  const c = await s.claimDue(1150, 10, 'C', 1000);
  assert.deepEqual(c.map((d) => d.id), [ids[1]]);
  assert.equal(await s.finishAttempt(ids[1]!, 'A', attempt(1), { status: 'succeeded' }), false);
  assert.equal(await s.finishAttempt(ids[1]!, 'C', attempt(1), { status: 'pending', nextAttemptAt: 5000 }), true);
  assert.equal(s.get(ids[1]!)!.status, 'pending');
  assert.equal(s.get(ids[1]!)!.attempts, 1);
  // release gives a row back without an attempt
  assert.equal(await s.release(ids[2]!, 'B', 4000), true);
  assert.equal(await s.release(ids[2]!, 'B', 4000), false);
  assert.equal(s.get(ids[2]!)!.attempts, 0);
  assert.equal(await s.finishAttempt(ids[0]!, 'B', attempt(1), { status: 'failed', gone: true, reason: '410' }), true);
  assert.equal(await s.nextDueAt(), 4000);
  assert.deepEqual((await s.claimDue(4999, 10, 'D', 1000)).map((d) => d.id), [ids[2]]);
  assert.deepEqual(s.countByStatus(), { pending: 1, delivering: 1, succeeded: 0, failed: 1 });
});

test('wake() delivers at once, without waiting for a poll', async () => {
  const r = await receiver();
  // with a 10-minute poll interval only wake() can explain a delivery within the test
  const h = harness({ maxPollIntervalMs: 600_000 });
  try {
    await new Promise((res) => setTimeout(res, 20)); // let the first, empty, claim go to sleep
    const d = h.enqueue(r.url); // enqueue() calls wake()
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'delivered');
    assert.equal(r.requests.length, 1);
  } finally {
    await h.close();
    await r.close();
  }
});

test('without wake() it sleeps exactly until the next due delivery', async () => {
  const r = await receiver();
  const store = new InMemoryDeliveryStore();
  const due = store.enqueue({ ...input(1, Date.now() + 300), url: r.url });
  const h = harness({ store, maxPollIntervalMs: 600_000 });
  try {
    await waitFor(() => statusOf(h, due.id) === 'succeeded', 'delivered when due');
    assert.ok(r.requests[0]!.receivedAt >= due.nextAttemptAt);
  } finally {
    await h.close();
    await r.close();
  }
});

test('stop() lets attempts in flight finish and records them', async () => {
  const r = await receiver();
  r.setBehaviour(() => ({ status: 200, delayMs: 200 }));
  const h = harness();
  try {
    const d = h.enqueue(r.url);
    await r.waitForRequests(1);
    assert.equal(h.dispatcher.stats().inFlight, 1);
    await h.dispatcher.stop(10_000);
    assert.equal(statusOf(h, d.id), 'succeeded');
    assert.equal(h.dispatcher.stats().running, false);
    // stopped: new work is not picked up
    const later = h.store.enqueue({ ...input(9), url: r.url });
    h.dispatcher.wake();
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(statusOf(h, later.id), 'pending');
  } finally {
    await h.close();
    await r.close();
  }
});

test('a delivery leased by a dispatcher that died is taken over when its lease expires', async () => {
  const r = await receiver();
  const store = new InMemoryDeliveryStore();
  const d = store.enqueue({ ...input(1), url: r.url });
  // the "crashed" dispatcher claimed it with a short lease and never came back
  assert.equal((await store.claimDue(Date.now(), 10, 'crashed', 200)).length, 1);
  const h = harness({ store, maxPollIntervalMs: 600_000 });
  try {
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'taken over');
    assert.equal(r.requests.length, 1);
    assert.equal(await store.finishAttempt(d.id, 'crashed', attempt(1), { status: 'succeeded' }), false);
  } finally {
    await h.close();
    await r.close();
  }
});

test('many deliveries to one origin over keep-alive: all arrive exactly once', async () => {
  const r = await receiver();
  const h = harness({ perOriginConcurrency: 8, concurrency: 16 });
  try {
    const ids = Array.from({ length: 300 }, () => h.enqueue(r.url).id);
    await waitFor(() => ids.every((id) => statusOf(h, id) === 'succeeded'), 'all delivered');
    assert.equal(r.requests.length, 300);
    assert.equal(new Set(r.requests.map((q) => q.headers['webhook-id'])).size, 300);
    assert.equal(h.dispatcher.stats().succeeded, 300);
    // keep-alive: a handful of connections carried all 300 (8 at a time; a next attempt may start in the
    // tick where the last one's connection is not yet back in undici's pool, and open another)
    assert.ok(r.connectionCount <= 16, `${r.connectionCount} connections`);
  } finally {
    await h.close();
    await r.close();
  }
});
