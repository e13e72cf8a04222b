// Found in review: one tenant's failures to a shared receiver host stalled the others; a 404 on one path
// held back the origin's other paths; a connection the receiver closed before answering cost a schedule
// step; Retry-After sent twice or with decimals was ignored; a 32 KB cut left half a character.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, receiver, statusOf, waitFor } from './harness.js';
import { parseRetryAfter } from '../../src/webhooks/schedule.js';
import { wholeCharacters } from '../../src/webhooks/send.js';

// the breaker opens after 10 requests at ≥ 70 % failures and stays open 30 s: far beyond these tests
const breaker = { minRequests: 10, failureRatio: 0.7, openMs: 60_000 };

test("one account's failing deliveries to a shared host do not hold back another account's", async () => {
  const r = await receiver();
  const h = harness({ breaker, retry: { schedule: '0s,1h' } });
  try {
    r.setBehaviour((req) => (req.path === '/fail' ? { status: 500 } : { status: 200 }));
    const failing = Array.from({ length: 10 }, () => h.enqueue(r.url.replace('/hook', '/fail'), undefined, 'acc_attacker'));
    await waitFor(() => failing.every((d) => h.store.get(d.id)!.attempts >= 1), 'the failing deliveries tried');
    const victim = h.enqueue(r.url, undefined, 'acc_victim');
    // before: pending with no attempt, the shared breaker open for 60 s
    await waitFor(() => statusOf(h, victim.id) === 'succeeded', 'the other account delivered', 5_000);
    // and the failing account's own breaker did open: its next delivery waits
    const next = h.enqueue(r.url.replace('/hook', '/fail'), undefined, 'acc_attacker');
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(h.store.get(next.id)!.attempts, 0);
  } finally {
    await h.close();
    await r.close();
  }
});

test('404s on one path do not open the breaker for the origin\'s other paths', async () => {
  const r = await receiver();
  const h = harness({ breaker, retry: { schedule: '0s' } });
  try {
    r.setBehaviour((req) => (req.path === '/deleted' ? { status: 404 } : { status: 200 }));
    const gone = Array.from({ length: 12 }, () => h.enqueue(r.url.replace('/hook', '/deleted')));
    await waitFor(() => gone.every((d) => statusOf(h, d.id) === 'failed'), 'the 404s failed');
    const good = h.enqueue(r.url);
    await waitFor(() => statusOf(h, good.id) === 'succeeded', 'the healthy path delivered', 5_000);
  } finally {
    await h.close();
    await r.close();
  }
});

test('a connection closed before any answer gets one immediate second try, in the same attempt', async () => {
  const r = await receiver();
  const h = harness({ retry: { schedule: '0s,1h' } });
  try {
    // the second request the receiver sees is dropped unanswered, as a kept-alive socket closed under it
    r.setBehaviour((req) => (req.index === 1 ? { destroy: true } : { status: 200 }));
    const first = h.enqueue(r.url);
    await waitFor(() => statusOf(h, first.id) === 'succeeded', 'first delivered');
    const second = h.enqueue(r.url);
    // before: "other side closed", retried an hour later
    await waitFor(() => statusOf(h, second.id) === 'succeeded', 'second delivered on its first attempt', 5_000);
    const log = h.store.attemptLog(second.id);
    assert.equal(log.length, 1);
    assert.equal(log[0]!.statusCode, 200);
    assert.equal(r.requests.length, 3);
  } finally {
    await h.close();
    await r.close();
  }
});

test('Retry-After: a header sent twice (seconds, dates or both), decimals and the three HTTP date forms; Date.parse leniency refused', () => {
  const now = Date.parse('2026-11-27T21:00:00Z');
  assert.equal(parseRetryAfter('120, 120', now), 120_000);
  assert.equal(parseRetryAfter('8, 30', now), 30_000);
  assert.equal(parseRetryAfter('5.5', now), 5_500);
  assert.equal(parseRetryAfter('Fri, 27 Nov 2026 21:01:00 GMT', now), 60_000);
  assert.equal(parseRetryAfter('Friday, 27-Nov-26 21:02:00 GMT', now), 120_000);
  assert.equal(parseRetryAfter('Fri Nov 27 21:03:00 2026', now), 180_000);
  assert.equal(parseRetryAfter('Fri, 27 Nov 2026 21:01:00 GMT, Fri, 27 Nov 2026 21:05:00 GMT', now), 300_000);
  // seconds and a date in one joined header: the longer wait, whichever form names it
  assert.equal(parseRetryAfter('600, Fri, 27 Nov 2026 21:01:00 GMT', now), 600_000);
  assert.equal(parseRetryAfter('Fri, 27 Nov 2026 21:01:00 GMT, 30', now), 60_000);
  assert.equal(parseRetryAfter('Fri, 27 Nov 2026 20:00:00 GMT, 30', now), 30_000);
  // before: read by Date.parse as dates in 2001, i.e. "retry now"
  for (const v of ['-5', '3 3', 'soon', '1.5.2']) assert.equal(parseRetryAfter(v, now), undefined, v);
});

test('a response body cut at 32 KB keeps whole characters only', async () => {
  const r = await receiver();
  const h = harness({ retry: { schedule: '0s' } });
  try {
    r.setBehaviour(() => ({ status: 500, body: `${'a'.repeat(32 * 1024 - 1)}é€tail` }));
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'failed', 'failed');
    const body = h.store.attemptLog(d.id)[0]!.responseBody!;
    assert.equal(body, 'a'.repeat(32 * 1024 - 1));
    assert.ok(!body.includes('\ufffd'));
    assert.equal(wholeCharacters(Buffer.from('aé€')).toString(), 'aé€');
    assert.equal(wholeCharacters(Buffer.from('a€').subarray(0, 3)).toString(), 'a');
  } finally {
    await h.close();
    await r.close();
  }
});
