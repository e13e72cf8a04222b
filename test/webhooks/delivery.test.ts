// Delivery outcomes against a real HTTPS receiver on loopback: what counts as success, what is retried
// and when, what stops, and what the attempt log keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import { harness, receiver, sharedCertificates, statusOf, waitFor } from './harness.js';
import { InMemoryDeliveryStore } from '../../src/webhooks/store-memory.js';
import { freePort } from '../support/free-port.js';


test('a 2xx answer delivers the exact bytes once and is logged', async () => {
  const r = await receiver();
  const h = harness();
  try {
    r.setBehaviour(() => ({ status: 204, headers: { 'x-receiver': 'yes' }, body: '' }));
    const payload = '{"event":"single_search_finished","id":"0190","result":{"email":"é@x.io","n":1.50}}';
    const d = h.enqueue(r.url, payload);
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'success');
    assert.equal(r.requests.length, 1);
    const req = r.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/hook');
    assert.equal(req.body, payload);
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['webhook-id'], d.id);
    const log = h.store.attemptLog(d.id);
    assert.equal(log.length, 1);
    assert.equal(log[0]!.statusCode, 204);
    assert.equal(log[0]!.responseHeaders?.['x-receiver'], 'yes');
    assert.equal(log[0]!.error, null);
    assert.equal(h.store.get(d.id)!.attempts, 1);
    assert.deepEqual(h.store.urlOutcomes.map((o) => [o.ok, o.gone]), [[true, false]]);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a 500 is retried with the same webhook-id until a 2xx; the response body is kept up to 32 KB', async () => {
  const r = await receiver();
  const h = harness({ retry: { schedule: '0s,20ms,20ms,20ms' } });
  try {
    const big = 'x'.repeat(40 * 1024);
    r.setBehaviour((req) => (req.index < 2 ? { status: 500, body: big } : { status: 200, body: 'thanks' }));
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'success after retries');
    assert.equal(r.requests.length, 3);
    assert.deepEqual(new Set(r.requests.map((q) => q.headers['webhook-id'])), new Set([d.id]));
    const log = h.store.attemptLog(d.id);
    assert.deepEqual(log.map((a) => [a.attemptNo, a.statusCode]), [[1, 500], [2, 500], [3, 200]]);
    assert.equal(log[0]!.responseBody!.length, 32 * 1024);
    assert.equal(log[0]!.error, 'HTTP 500');
    assert.equal(log[2]!.responseBody, 'thanks');
  } finally {
    await h.close();
    await r.close();
  }
});

test('only 2xx counts: 299 succeeds, 304 and 400 fail', async () => {
  const r = await receiver();
  const h = harness({ retry: { schedule: '0s' } });
  try {
    const statuses = [299, 304, 400];
    r.setBehaviour((req) => ({ status: Number(req.path.slice(1)) }));
    const ids = statuses.map((s) => h.enqueue(r.url.replace('/hook', `/${s}`)).id);
    await waitFor(() => ids.every((id) => ['succeeded', 'failed'].includes(statusOf(h, id)!)), 'all finished');
    assert.deepEqual(ids.map((id) => statusOf(h, id)), ['succeeded', 'failed', 'failed']);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a redirect is not followed and counts as a failure', async () => {
  const r = await receiver();
  const target = await receiver();
  const h = harness({ retry: { schedule: '0s' } });
  try {
    r.setBehaviour(() => ({ status: 307, headers: { location: target.url } }));
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'failed', 'failed');
    assert.equal(r.requests.length, 1);
    assert.equal(target.requests.length, 0);
    const [a] = h.store.attemptLog(d.id);
    assert.equal(a!.statusCode, 307);
    assert.match(a!.error!, /redirect \(307\) not followed/);
    assert.equal(a!.responseHeaders!['location'], target.url);
  } finally {
    await h.close();
    await r.close();
    await target.close();
  }
});

test('a URL the store reports as just disabled is reported to the operator once', async () => {
  const r = await receiver();
  // the database store answers the reason only to the call that disabled the URL
  class DisablingStore extends InMemoryDeliveryStore {
    private done = false;
    override async urlOutcome(accountId: string, url: string, ok: boolean, gone: boolean, now: number) {
      await super.urlOutcome(accountId, url, ok, gone, now);
      if (!gone || this.done) return { counted: true, disabledReason: null };
      this.done = true;
      return { counted: true, disabledReason: 'the receiver answered 410 Gone' };
    }
  }
  const disabled: Array<[string, string, string]> = [];
  const h = harness({ store: new DisablingStore(), onUrlDisabled: (...a) => disabled.push(a) });
  try {
    r.setBehaviour(() => ({ status: 410 }));
    const a = h.enqueue(r.url);
    const b = h.enqueue(r.url);
    await waitFor(() => statusOf(h, a.id) === 'failed' && statusOf(h, b.id) === 'failed', 'both failed');
    assert.deepEqual(disabled, [['acc_1', r.url, 'the receiver answered 410 Gone']]);
  } finally {
    await h.close();
    await r.close();
  }
});

test('an outcome the store did not count (a test search’s) does not stand in for the next live one', async () => {
  const r = await receiver();
  // as the database store answers: test searches' outcomes are not the global URL's
  class ModeAwareStore extends InMemoryDeliveryStore {
    override async urlOutcome(accountId: string, url: string, ok: boolean, gone: boolean, now: number, searchId?: string) {
      await super.urlOutcome(accountId, url, ok, gone, now);
      return { counted: !searchId?.startsWith('test-'), disabledReason: null };
    }
  }
  const store = new ModeAwareStore();
  const h = harness({ store, retry: { schedule: '0s' } });
  try {
    const send = async (searchId: string) => {
      const d = store.enqueue({ accountId: 'acc_1', searchId, event: 'verification_finished', url: r.url, payload: `{"id":"${searchId}"}` });
      h.dispatcher.wake();
      await waitFor(() => ['succeeded', 'failed'].includes(statusOf(h, d.id) ?? ''), searchId);
    };
    r.setBehaviour(() => ({ status: 500 }));
    await send('live-1');
    r.setBehaviour(() => ({ status: 200 }));
    await send('test-1');
    await send('live-2');
    // live failure, test success (not counted), live success: reported, or the failure streak stays open
    assert.deepEqual(store.urlOutcomes.map((o) => o.ok), [false, true, true]);
  } finally {
    await h.close();
    await r.close();
  }
});

test('410 Gone stops at once: no more attempts, the store is told the URL is gone', async () => {
  const r = await receiver();
  const h = harness({ retry: { schedule: '0s,10ms,10ms,10ms' } });
  try {
    r.setBehaviour(() => ({ status: 410 }));
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'failed', 'failed');
    assert.equal(r.requests.length, 1);
    assert.match(h.store.get(d.id)!.failedReason!, /410 Gone/);
    assert.deepEqual(h.store.urlOutcomes.map((o) => [o.url, o.ok, o.gone]), [[r.url, false, true]]);
    assert.equal(h.attempts.at(-1)!.next.status, 'failed');
  } finally {
    await h.close();
    await r.close();
  }
});

test('after the last scheduled attempt the delivery is a dead letter, and a redrive delivers it', async () => {
  const r = await receiver();
  const h = harness({ retry: { schedule: '0s,100ms,200ms' } });
  try {
    r.setBehaviour(() => ({ status: 503 }));
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'failed', 'dead letter');
    assert.equal(r.requests.length, 3);
    assert.deepEqual(h.attempts.map((a) => a.next.status), ['pending', 'pending', 'failed']);
    assert.match(h.store.get(d.id)!.failedReason!, /no success after 3 attempts/);
    // the lead's API redrives by making the row pending and due again
    r.setBehaviour(() => ({ status: 200 }));
    assert.equal(h.store.redrive(d.id), true);
    h.dispatcher.wake();
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'redriven');
    assert.equal(r.requests.length, 4);
    assert.equal(h.store.attemptLog(d.id).at(-1)!.attemptNo, 4);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a timeout is retried, no sooner than the minimum pause after a timeout', async () => {
  const r = await receiver();
  const h = harness({ timeoutMs: 300, retry: { schedule: '0s,0s', minDelayAfterThrottleMs: 400 } });
  try {
    r.setBehaviour((req) => (req.index === 0 ? { hang: true } : { status: 200 }));
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'success after timeout');
    const first = h.attempts[0]!;
    assert.equal(first.attempt.errorKind, 'timeout');
    assert.equal(first.attempt.statusCode, null);
    assert.equal(first.next.status, 'pending');
    const finishedAt = first.attempt.startedAt + first.attempt.durationMs;
    assert.ok(first.next.status === 'pending' && first.next.nextAttemptAt >= finishedAt + 400 - 5);
    assert.ok(r.requests[1]!.receivedAt >= r.requests[0]!.receivedAt + 400);
    assert.equal(r.requests.length, 2);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a connection refused gets one immediate second try, then follows the schedule', async () => {
  const port = await freePort();
  const h = harness({ retry: { schedule: '0s,30ms' } });
  try {
    const d = h.enqueue(`https://127.0.0.1:${port}/hook`);
    await waitFor(() => statusOf(h, d.id) === 'failed', 'failed');
    const log = h.store.attemptLog(d.id);
    assert.equal(log.length, 2);
    for (const a of log) {
      assert.equal(a.errorKind, 'refused');
      assert.match(a.error!, /connection refused \(second try right after a refused connection\)/);
    }
    assert.deepEqual(h.attempts.map((a) => a.next.status), ['pending', 'failed']);
  } finally {
    await h.close();
  }
});

test('a connection refused, then the receiver comes up on that port: delivered on the retry', async () => {
  const certs = sharedCertificates();
  const got: string[] = [];
  const srv = createHttpsServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      got.push(b);
      res.end('ok');
    });
  });
  const port = await freePort();
  const h = harness({ retry: { schedule: '0s,300ms' } });
  try {
    const d = h.enqueue(`https://127.0.0.1:${port}/hook`);
    await waitFor(() => h.attempts.length === 1, 'first attempt');
    assert.equal(h.attempts[0]!.attempt.errorKind, 'refused');
    // the port was free a moment ago; if another process took it meanwhile, listen fails and says so
    await new Promise<void>((res, rej) => {
      srv.once('error', rej);
      srv.listen(port, '127.0.0.1', () => res());
    });
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'delivered once the receiver is up');
    assert.deepEqual(got, [d.payload]);
  } finally {
    await h.close();
    srv.closeAllConnections();
    await new Promise<void>((res) => (srv.listening ? srv.close(() => res()) : res()));
  }
});

test('429 with Retry-After waits at least that long, even when the schedule says sooner', async () => {
  const r = await receiver();
  const h = harness({ retry: { schedule: '0s,10ms', minDelayAfterThrottleMs: 100 } });
  try {
    r.setBehaviour((req) => (req.index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 202 }));
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'success after 429');
    assert.equal(r.requests.length, 2);
    const first = h.attempts[0]!;
    assert.equal(first.attempt.statusCode, 429);
    assert.equal(first.attempt.responseHeaders!['retry-after'], '1');
    assert.ok(first.next.status === 'pending' && first.next.nextAttemptAt >= first.attempt.startedAt + 1000);
    assert.ok(r.requests[1]!.receivedAt >= r.requests[0]!.receivedAt + 1000);
  } finally {
    await h.close();
    await r.close();
  }
});

test('proxy variables in the environment are ignored', async () => {
  const r = await receiver();
  const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, https_proxy: process.env.https_proxy };
  process.env.HTTPS_PROXY = 'http://127.0.0.1:9';
  process.env.https_proxy = 'http://127.0.0.1:9';
  const h = harness();
  try {
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'delivered directly');
    assert.equal(r.requests.length, 1);
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    await h.close();
    await r.close();
  }
});
