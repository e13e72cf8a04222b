// Orderings that once let the dispatcher send what it should not, or lose track of what it sent: each
// test here failed against the code before its fix. Assertions are on counts and states; the waits only
// give a wrong request the time it would need to show up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryDeliveryStore } from '../../src/webhooks/store-memory.js';
import type { AttemptRecord, NextState } from '../../src/webhooks/types.js';
import type { HttpsReceiver } from '../support/https-receiver.js';
import { harness, receiver, statusOf, waitFor } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The most requests among those selected that the receiver held unanswered at once. */
function peakOutstanding(r: HttpsReceiver, select: (index: number) => boolean) {
  const s = { now: 0, peak: 0 };
  r.onRequest = (q) => {
    if (select(q.index)) s.peak = Math.max(s.peak, ++s.now);
  };
  r.onAnswer = (q) => {
    if (select(q.index)) s.now--;
  };
  return s;
}

/** Polls until `ms` have passed, noting when the origin's breaker first left the closed state. */
async function watchBreaker(h: ReturnType<typeof harness>, origin: string, ms: number, opened: { at: number }) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (opened.at === Infinity && h.dispatcher.stats().breakers[origin]) opened.at = Date.now();
    await sleep(2);
  }
}

test('an attempt started before the breaker opened and finishing while the probe is out does not count as the probe', async () => {
  const r = await receiver();
  // two quick failures open the breaker; the third attempt (a straggler) answers after the probe left
  r.setBehaviour((q) => (q.index < 2 ? { status: 500 } : q.index === 2 ? { status: 500, delayMs: 900 } : { status: 500, delayMs: 2500 }));
  const opened = { at: Infinity };
  const probes = peakOutstanding(r, (i) => (r.requests[i]?.receivedAt ?? Date.now()) > opened.at + 200);
  const h = harness({ perOriginConcurrency: 3, concurrency: 8, saturatedDeferMs: 20, retry: { schedule: '0s,0s,0s,0s,0s,0s,0s,0s' }, breaker: { minRequests: 2, failureRatio: 1, openMs: 300 } });
  try {
    for (let i = 0; i < 3; i++) h.enqueue(r.url);
    await watchBreaker(h, `acc_1 ${new URL(r.url).origin}`, 2000, opened);
    assert.ok(opened.at < Infinity, 'the breaker opened');
    // taken as the probe's, the straggler's failure reopened the breaker and a second probe went out
    assert.equal(probes.peak, 1);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a store error after the probe was recorded does not free the next probe\'s reservation', async () => {
  const opened = { at: Infinity };
  class FailsFirstProbeWrite extends InMemoryDeliveryStore {
    failed = false;
    override async finishAttempt(id: string, owner: string, a: AttemptRecord, next: NextState) {
      if (a.startedAt > opened.at + 100 && !this.failed) {
        // the first probe's result: its write fails, slowly (a store timeout, a lost connection)
        this.failed = true;
        await sleep(600);
        throw new Error('store unavailable');
      }
      return super.finishAttempt(id, owner, a, next);
    }
  }
  const r = await receiver();
  let afterOpen = 0;
  r.setBehaviour((q) => (q.receivedAt <= opened.at + 100 || afterOpen++ === 0 ? { status: 500 } : { status: 500, delayMs: 2500 }));
  const probes = peakOutstanding(r, (i) => (r.requests[i]?.receivedAt ?? Date.now()) > opened.at + 100);
  const h = harness({ store: new FailsFirstProbeWrite(), perOriginConcurrency: 3, saturatedDeferMs: 20, retry: { schedule: '0s,0s,0s,0s,0s,0s' }, breaker: { minRequests: 2, failureRatio: 1, openMs: 200 } });
  try {
    for (let i = 0; i < 3; i++) h.enqueue(r.url);
    await watchBreaker(h, `acc_1 ${new URL(r.url).origin}`, 2000, opened);
    assert.equal((h.store as FailsFirstProbeWrite).failed, true, 'the probe\'s write failed');
    assert.equal(probes.peak, 1);
  } finally {
    await h.close();
    await r.close();
  }
});

test('stop(0) while an attempt still reads its signing secrets: nothing is sent, the delivery goes back', async () => {
  class SlowSecrets extends InMemoryDeliveryStore {
    override async signingSecrets(accountId: string, now: number) {
      await sleep(300);
      return super.signingSecrets(accountId, now);
    }
  }
  const r = await receiver();
  r.setBehaviour(() => ({ status: 200, delayMs: 1500 }));
  const h = harness({ store: new SlowSecrets() });
  try {
    const d = h.enqueue(r.url);
    await waitFor(() => h.dispatcher.stats().inFlight === 1, 'flight started');
    await h.dispatcher.stop(0);
    // before the fix the attempt sent its request after stop(0) and stop() waited for the answer
    assert.equal(r.requests.length, 0);
    assert.equal(statusOf(h, d.id), 'pending');
    assert.equal(h.store.attemptLog(d.id).length, 0);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a lease too short for one attempt is refused when the dispatcher is made', () => {
  // before, every claimed row went straight back to the store and nothing was ever sent
  assert.throws(() => harness({ leaseMs: 10_000, timeoutMs: 15_000 }), /leaseMs \(10000\) must be at least 2 × timeoutMs \+ 2000 ms/);
});

test('a row whose lease ran out while this dispatcher still holds it is not sent a second time at once', async () => {
  class SlowFirstSecrets extends InMemoryDeliveryStore {
    calls = 0;
    override async signingSecrets(accountId: string, now: number) {
      // longer than the lease: the row is claimed again by the same owner meanwhile
      if (this.calls++ === 0) await sleep(3300);
      return super.signingSecrets(accountId, now);
    }
  }
  const r = await receiver();
  r.setBehaviour(() => ({ status: 200, delayMs: 300 }));
  const outstanding = peakOutstanding(r, () => true);
  const h = harness({ store: new SlowFirstSecrets(), timeoutMs: 500, leaseMs: 3000, maxPollIntervalMs: 50 });
  try {
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'delivered', 10_000);
    await sleep(400);
    assert.equal(outstanding.peak, 1);
    assert.ok(h.dispatcher.stats().inFlight <= 1);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a success whose report to the store failed is reported again by the next one', async () => {
  class FailsFirstSuccessReport extends InMemoryDeliveryStore {
    thrown = false;
    override async urlOutcome(accountId: string, url: string, ok: boolean, gone: boolean, now: number) {
      if (ok && !this.thrown) {
        this.thrown = true;
        throw new Error('database busy');
      }
      return super.urlOutcome(accountId, url, ok, gone, now);
    }
  }
  const r = await receiver();
  const h = harness({ store: new FailsFirstSuccessReport(), retry: { schedule: '0s' } });
  try {
    r.setBehaviour(() => ({ status: 500 }));
    const a = h.enqueue(r.url).id;
    await waitFor(() => statusOf(h, a) === 'failed', 'failure');
    r.setBehaviour(() => ({ status: 200 }));
    for (let i = 0; i < 3; i++) {
      const id = h.enqueue(r.url).id;
      await waitFor(() => statusOf(h, id) === 'succeeded', 'success');
    }
    // otherwise the URL stays "failing since" and is disabled after 5 days while it receives deliveries
    await waitFor(() => h.store.urlOutcomes.some((o) => o.ok), 'a success reported after the failed write');
  } finally {
    await h.close();
    await r.close();
  }
});

test('stop() waits for the result of a URL rejected without a request', async () => {
  class SlowFinish extends InMemoryDeliveryStore {
    override async finishAttempt(id: string, owner: string, a: AttemptRecord, next: NextState) {
      await sleep(300);
      return super.finishAttempt(id, owner, a, next);
    }
  }
  const h = harness({ store: new SlowFinish() });
  const d = h.enqueue('http://plain-http.example/hook');
  await waitFor(() => h.dispatcher.stats().claimed === 1, 'claimed');
  await h.dispatcher.stop(10_000);
  assert.equal(statusOf(h, d.id), 'failed');
});

test('an attempt still connecting ends at its own timeout, not at the connect timeout', async () => {
  // accepts TCP connections and never answers the TLS handshake
  const { createServer } = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const silent = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as import('node:net').AddressInfo).port;
  const h = harness({ timeoutMs: 300, connectTimeoutMs: 4000, retry: { schedule: '0s' } });
  try {
    const d = h.enqueue(`https://127.0.0.1:${port}/hook`);
    await waitFor(() => statusOf(h, d.id) === 'failed', 'attempt recorded');
    // before, the abort waited for undici's controller, which only comes once connected: the attempt
    // ended with the connect timeout's error instead
    assert.match(h.attempts[0]!.attempt.error ?? '', /no complete response within 300 ms/);
    assert.equal(h.attempts[0]!.attempt.errorKind, 'timeout');
  } finally {
    await h.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('a URL that keeps succeeding is reported again after a while, so a failure another process reported is cleared', async () => {
  const r = await receiver();
  const h = harness({ urlSuccessReportEveryMs: 50 });
  try {
    const deliver = async () => {
      const id = h.enqueue(r.url).id;
      await waitFor(() => statusOf(h, id) === 'succeeded', 'delivered');
    };
    await deliver();
    // another dispatcher process saw this URL fail (its report reaches the shared store, not this process)
    await h.store.urlOutcome('acc_1', r.url, false, false, Date.now());
    await deliver(); // within the interval: not reported again
    await sleep(80);
    await deliver();
    await waitFor(() => h.store.urlOutcomes.length === 3, 'the success reported again');
    // before, this process reported its first success only, and the URL stayed "failing since" for ever
    assert.deepEqual(h.store.urlOutcomes.map((o) => o.ok), [true, false, true]);
  } finally {
    await h.close();
    await r.close();
  }
});
