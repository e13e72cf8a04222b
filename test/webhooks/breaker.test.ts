// The circuit breaker's state machine with explicit times (no clock, no network).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreakers } from '../../src/webhooks/breaker.js';

const O = 'https://dead.example:443';

test('opens at ≥ 70 % failures over at least 10 requests, not before', () => {
  const b = new CircuitBreakers();
  for (let i = 0; i < 9; i++) b.record(O, false, 1000 + i);
  assert.equal(b.state(O, 1010), 'closed'); // 9 requests: too few to judge
  b.record(O, false, 1010);
  assert.equal(b.state(O, 1011), 'open');
  assert.deepEqual(b.check(O, 1011), { allowed: false, retryAt: 1010 + 30_000 });
});

test('a mostly healthy origin stays closed', () => {
  const b = new CircuitBreakers();
  for (let i = 0; i < 100; i++) b.record(O, i % 3 !== 0, 1000 + i); // 34 % failures
  assert.equal(b.state(O, 2000), 'closed');
  assert.deepEqual(b.check(O, 2000), { allowed: true, probe: false });
});

test('failures outside the window are forgotten', () => {
  const b = new CircuitBreakers({ windowMs: 1000 });
  for (let i = 0; i < 9; i++) b.record(O, false, i);
  b.record(O, false, 5000); // the 9 earlier ones are out of the window
  assert.equal(b.state(O, 5001), 'closed');
});

test('half-open after 30 s: one probe at a time; success closes, failure reopens', () => {
  const b = new CircuitBreakers();
  for (let i = 0; i < 10; i++) b.record(O, false, 0);
  assert.equal(b.check(O, 29_999).allowed, false);
  assert.equal(b.state(O, 30_000), 'half-open');
  assert.deepEqual(b.check(O, 30_000, false), { allowed: true, probe: true }); // looking does not take the slot
  assert.deepEqual(b.check(O, 30_000), { allowed: true, probe: true });
  assert.equal(b.check(O, 30_001).allowed, false); // the probe is in flight
  b.record(O, false, 30_100, true);
  assert.equal(b.state(O, 30_200), 'open');
  assert.deepEqual(b.check(O, 30_200), { allowed: false, retryAt: 60_100 });
  assert.deepEqual(b.check(O, 60_100), { allowed: true, probe: true });
  b.record(O, true, 60_150, true);
  assert.equal(b.state(O, 60_200), 'closed');
  assert.deepEqual(b.snapshot(60_200), {});
});

test('a cancelled probe frees the half-open slot; origins are independent', () => {
  const b = new CircuitBreakers({ minRequests: 2, openMs: 10 });
  b.record(O, false, 0);
  b.record(O, false, 0);
  assert.equal(b.check(O, 10).allowed, true);
  b.cancelProbe(O);
  assert.equal(b.check(O, 10).allowed, true);
  assert.deepEqual(b.check('https://other.example:443', 10), { allowed: true, probe: false });
  assert.deepEqual(b.snapshot(10), { [O]: 'half-open' });
});

test('while the probe is out, an outcome that is not the probe\'s decides nothing', () => {
  const b = new CircuitBreakers({ minRequests: 2, openMs: 10 });
  b.record(O, false, 0);
  b.record(O, false, 0);
  assert.deepEqual(b.check(O, 10), { allowed: true, probe: true });
  // an attempt started before the breaker opened finishes now
  b.record(O, true, 11);
  b.record(O, false, 12);
  assert.equal(b.state(O, 13), 'half-open');
  assert.equal(b.check(O, 13).allowed, false); // the probe still holds the slot
  b.record(O, true, 14, true);
  assert.equal(b.state(O, 15), 'closed');
});
