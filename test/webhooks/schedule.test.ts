// The retry decisions, as pure functions of the attempt's outcome (no network, no clock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RETRY_POLICY, STANDARD_SCHEDULE_MS, nextState, parseRetryAfter, parseRetrySchedule, type RetryPolicy } from '../../src/webhooks/schedule.js';

const NOW = 1_800_000_000_000;
const H = 3600_000;
const noJitter: RetryPolicy = { ...DEFAULT_RETRY_POLICY, jitter: 0 };
const failed500 = (attemptNo: number) => ({ attemptNo, statusCode: 500, errorKind: null });
const delayOf = (s: ReturnType<typeof nextState>) => (s.status === 'pending' ? s.nextAttemptAt - NOW : NaN);

test('the standard schedule: 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h', () => {
  assert.deepEqual(STANDARD_SCHEDULE_MS, [0, 5000, 300_000, 1_800_000, 2 * H, 5 * H, 10 * H, 14 * H, 20 * H, 24 * H]);
  // after attempt n the next waits schedule[n]; after the 10th there is none
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => delayOf(nextState(failed500(n), noJitter, NOW))), STANDARD_SCHEDULE_MS.slice(1));
  const last = nextState(failed500(10), noJitter, NOW);
  assert.deepEqual(last, { status: 'failed', gone: false, reason: 'no success after 10 attempts' });
});

test('jitter stays within ±20 % of the scheduled delay', () => {
  assert.equal(delayOf(nextState(failed500(2), DEFAULT_RETRY_POLICY, NOW, () => 0)), 240_000);
  assert.equal(delayOf(nextState(failed500(2), DEFAULT_RETRY_POLICY, NOW, () => 0.5)), 300_000);
  assert.equal(delayOf(nextState(failed500(2), DEFAULT_RETRY_POLICY, NOW, () => 0.999999)), 360_000);
});

test('2xx succeeds, 410 stops as gone, everything else is retried', () => {
  for (const s of [200, 201, 202, 204, 299]) assert.deepEqual(nextState({ attemptNo: 1, statusCode: s, errorKind: null }, noJitter, NOW), { status: 'succeeded' });
  assert.deepEqual(nextState({ attemptNo: 1, statusCode: 410, errorKind: null }, noJitter, NOW), { status: 'failed', gone: true, reason: 'receiver answered 410 Gone' });
  for (const s of [301, 302, 400, 401, 404, 500, 503]) assert.equal(nextState({ attemptNo: 1, statusCode: s, errorKind: null }, noJitter, NOW).status, 'pending', String(s));
  for (const k of ['refused', 'dns', 'tls', 'network', 'blocked'] as const) assert.equal(nextState({ attemptNo: 1, statusCode: null, errorKind: k }, noJitter, NOW).status, 'pending', k);
});

test('Retry-After is honoured: never earlier than the schedule, capped at 10 h', () => {
  const at = (retryAfter: string, attemptNo = 1) => delayOf(nextState({ attemptNo, statusCode: 503, errorKind: null, retryAfter }, noJitter, NOW));
  assert.equal(at('120'), 120_000); // later than the 5 s of the schedule
  assert.equal(at('1', 2), 300_000); // earlier than the schedule's 5 min: the schedule wins
  assert.equal(at(String(48 * 3600)), 10 * H); // capped
  assert.equal(at(String(48 * 3600), 6), 10 * H); // the 10 h of the schedule itself
  assert.equal(at(new Date(NOW + 90_000).toUTCString()), 90_000); // HTTP date
  assert.equal(at('soon'), 5000); // unreadable: ignored
});

test('at least 60 s after a timeout or a 429', () => {
  assert.equal(delayOf(nextState({ attemptNo: 1, statusCode: 429, errorKind: null }, noJitter, NOW)), 60_000);
  assert.equal(delayOf(nextState({ attemptNo: 1, statusCode: null, errorKind: 'timeout' }, noJitter, NOW)), 60_000);
  assert.equal(delayOf(nextState({ attemptNo: 1, statusCode: 429, errorKind: null, retryAfter: '5' }, noJitter, NOW)), 60_000);
  assert.equal(delayOf(nextState({ attemptNo: 3, statusCode: 429, errorKind: null }, noJitter, NOW)), 1_800_000);
  assert.equal(delayOf(nextState({ attemptNo: 1, statusCode: 500, errorKind: null }, noJitter, NOW)), 5000);
});

test('parseRetrySchedule reads the OPENROW_WEBHOOK_RETRY_SCHEDULE syntax', () => {
  assert.deepEqual(parseRetrySchedule('0s,1s,2s'), [0, 1000, 2000]);
  assert.deepEqual(parseRetrySchedule('5m'), [300_000]);
  assert.deepEqual(parseRetrySchedule(' 0s, 100ms ,2h,1d,1.5s'), [0, 100, 7_200_000, 86_400_000, 1500]);
  for (const bad of ['', '5', '1s,,2s', '5 minutes', '-1s', '1w']) assert.throws(() => parseRetrySchedule(bad), /invalid retry schedule/, bad);
});

test('parseRetryAfter: seconds, HTTP dates, garbage', () => {
  assert.equal(parseRetryAfter('30', NOW), 30_000);
  assert.equal(parseRetryAfter(new Date(NOW - 5000).toUTCString(), NOW), 0);
  assert.equal(parseRetryAfter(undefined, NOW), undefined);
  assert.equal(parseRetryAfter('later', NOW), undefined);
});
