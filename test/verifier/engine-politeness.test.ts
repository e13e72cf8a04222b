// Politeness and session reuse, proven by the sandbox's counters: the per-host cap, one session for
// many addresses, the catch-all probe once per domain per TTL, 452 handling, and the address guard
// that refuses a mail host outside OPENROW_SMTP_ALLOW_CIDRS without connecting.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSandbox, type RunningSandbox, type World } from '../../src/sandbox/index.js';
import { MemoryDomainFactsCache } from '../../src/engines/verifier/index.js';
import { refusedAddress } from '../../src/engines/verifier/address-guard.js';
import { parseCidrList } from '../../src/net/address-policy.js';
import { final, firstAttempt, freshCounters, mapConcurrent, verifierFor } from './harness.js';

const world: World = {
  domains: {
    'bulk.test': { mailboxes: Array.from({ length: 50 }, (_, i) => `person${i}`), delays_ms: { rcpt: 5 } },
    'slow.test': { mailboxes: ['p1', 'p2', 'p3'], delays_ms: { rcpt: 300 } },
    'wide.test': { catch_all: true },
    'strict.test': { mailboxes: ['a', 'b', 'c'] },
    'limited.test': { max_rcpts_per_session: 3, mailboxes: ['holly', 'gabe'] },
    'fenced.test': { mx: [{ host: 'mx.fenced.test', preference: 10 }], mailboxes: ['nellie'] },
  },
  hosts: { 'mx.fenced.test': { address: '127.0.0.99' } },
};

let sb: RunningSandbox;
before(async () => {
  sb = await startSandbox({ world });
});
after(async () => {
  await sb.close();
});

const host = (name: string) => sb.counters()[name]!;

test('200 addresses on one domain with 20 concurrent calls: ≤ 20 connections, never above the per-host cap', async () => {
  const v = verifierFor(sb);
  try {
    await freshCounters(sb);
    const emails = Array.from({ length: 200 }, (_, i) => (i % 4 === 0 ? `person${i % 50}@bulk.test` : `ghost${i}@bulk.test`));
    const results = await mapConcurrent(emails, 20, (e) => v.verify(e, firstAttempt()));
    results.forEach((out, i) => {
      const r = final(out);
      assert.equal(r.qualification, i % 4 === 0 ? 'valid' : 'invalid', emails[i]);
      assert.equal(r.details.status, i % 4 === 0 ? 'deliverable' : 'undeliverable');
    });
    const c = host('mx.bulk.test');
    assert.ok(c.connections <= 20, `connections: ${c.connections}`);
    assert.ok(c.maxConcurrentConnections <= 5, `default cap 5, high-water mark ${c.maxConcurrentConnections}`);
    assert.equal(c.rcpts, 201, '200 addresses and one catch-all probe');
    assert.ok((c.commands.RSET ?? 0) > 0, 'transactions are renewed with RSET');
    assert.equal(c.dataAttempts, 0);
  } finally {
    await v.close();
  }
});

test('a lower per-host cap holds under 40 concurrent calls', async () => {
  const v = verifierFor(sb, { perHostConcurrency: 2 });
  try {
    await freshCounters(sb);
    await mapConcurrent(Array.from({ length: 40 }, (_, i) => `person${i}@bulk.test`), 40, (e) => v.verify(e, firstAttempt()));
    const c = host('mx.bulk.test');
    assert.ok(c.maxConcurrentConnections <= 2, `high-water mark ${c.maxConcurrentConnections}`);
    assert.ok(c.connections <= 2, `connections ${c.connections}`);
  } finally {
    await v.close();
  }
});

test('a call given up while waiting for a session leaves the line: the next caller still gets the session', async () => {
  const v = verifierFor(sb, { perHostConcurrency: 1 });
  try {
    // the domain's catch-all answer known first: the calls below then queue for the session itself
    await v.verify('p1@slow.test', firstAttempt());
    const first = v.verify('p1@slow.test', firstAttempt());
    await sleep(100);
    const abandoned = new AbortController();
    const given = v.verify('p2@slow.test', { ...firstAttempt(), signal: abandoned.signal });
    given.catch(() => undefined);
    const next = v.verify('p3@slow.test', firstAttempt());
    await sleep(20);
    abandoned.abort(new Error('the engine call was abandoned'));
    await first;
    // before: the wake-up went to the abandoned call, and this one slept with an idle session there
    const outcome = await Promise.race([next, sleep(5000).then(() => 'still waiting' as const)]);
    assert.notEqual(outcome, 'still waiting');
  } finally {
    await v.close();
  }
});

test('sequential calls reuse one session; close() ends every session', async () => {
  const v = verifierFor(sb);
  await freshCounters(sb);
  for (const l of ['a', 'b', 'c', 'd', 'e']) final(await v.verify(`${l}@strict.test`, firstAttempt()));
  assert.equal(host('mx.strict.test').connections, 1);
  assert.equal(host('mx.strict.test').currentConnections, 1, 'the idle session stays open for the next call');
  await v.close();
  for (let i = 0; i < 100 && host('mx.strict.test').currentConnections > 0; i++) await sleep(10);
  assert.equal(host('mx.strict.test').currentConnections, 0);
  assert.equal(host('mx.strict.test').commands.QUIT, 1);
});

test('an idle pooled session is closed (QUIT) after the idle time', async () => {
  const v = verifierFor(sb, { sessionIdleMs: 50 });
  try {
    await freshCounters(sb);
    final(await v.verify('a@strict.test', firstAttempt()));
    for (let i = 0; i < 300 && host('mx.strict.test').currentConnections > 0; i++) await sleep(10);
    assert.equal(host('mx.strict.test').currentConnections, 0);
    assert.equal(host('mx.strict.test').commands.QUIT, 1);
    // the next call simply opens a new session
    final(await v.verify('b@strict.test', firstAttempt()));
    assert.equal(host('mx.strict.test').connections, 2);
  } finally {
    await v.close();
  }
});

test('catch-all probe runs once per domain per TTL, shared by concurrent calls', async () => {
  let now = Date.now();
  const cache = new MemoryDomainFactsCache(() => now);
  const v = verifierFor(sb, { domainCache: cache, catchAllTtlMs: 60_000 });
  try {
    await freshCounters(sb);
    const wide = await mapConcurrent(Array.from({ length: 20 }, (_, i) => `someone${i}@wide.test`), 20, (e) => v.verify(e, firstAttempt()));
    for (const out of wide) assert.equal(final(out).details.status, 'catch_all');
    assert.equal(host('mx.wide.test').rcpts, 1, 'one probe, and no RCPT at all once the domain is known catch-all');

    const strict = await mapConcurrent(['a', 'b', 'c', 'x', 'y'], 5, (l) => v.verify(`${l}@strict.test`, firstAttempt()));
    assert.deepEqual(strict.map((o) => final(o).details.status), ['deliverable', 'deliverable', 'deliverable', 'undeliverable', 'undeliverable']);
    assert.equal(host('mx.strict.test').rcpts, 6, 'five addresses and one probe');

    now += 61_000; // the TTL has passed: the verdict is probed again, once
    await mapConcurrent(Array.from({ length: 5 }, (_, i) => `later${i}@wide.test`), 5, (e) => v.verify(e, firstAttempt()));
    assert.equal(host('mx.wide.test').rcpts, 2);
  } finally {
    await v.close();
  }
});

test('452 4.5.3 too many recipients: a fresh session takes over, answers stay right', async () => {
  const v = verifierFor(sb);
  try {
    await freshCounters(sb);
    const emails = Array.from({ length: 12 }, (_, i) => (i % 2 ? 'holly@limited.test' : `nobody${i}@limited.test`));
    for (const [i, e] of emails.entries()) {
      const r = final(await v.verify(e, firstAttempt()));
      assert.equal(r.details.status, i % 2 ? 'deliverable' : 'undeliverable', e);
    }
    const c = host('mx.limited.test');
    // 13 RCPTs answered (12 + probe) at ≤ 3 per session
    assert.ok(c.connections >= 5, `connections ${c.connections}`);
    assert.ok((c.replies['452'] ?? 0) > 0);
  } finally {
    await v.close();
  }
});

test('mail host outside OPENROW_SMTP_ALLOW_CIDRS: refused with the reason, no connection at all', async () => {
  const allowed = sb.hosts['mx.strict.test']!;
  const told: unknown[] = [];
  const v = verifierFor(sb, { allowCidrs: [`${allowed}/32`], onBlockedAddress: (e) => told.push(e) });
  try {
    await freshCounters(sb);
    const r = final(await v.verify('nellie@fenced.test', firstAttempt()));
    assert.equal(r.qualification, 'invalid');
    assert.equal(r.details.status, 'unknown');
    assert.equal(r.details.blocked_address, true);
    assert.match(r.details.reason, /not connect to.*OPENROW_SMTP_ALLOW_CIDRS/i);
    // which internal address the name has is for the operator's log, not the tenant's result
    assert.ok(!JSON.stringify(r).includes('127.0.0.99'), JSON.stringify(r.details));
    assert.deepEqual(told, [{ domain: 'fenced.test', mxHost: 'mx.fenced.test', ip: '127.0.0.99', range: 'loopback' }]);
    assert.equal(host('mx.fenced.test').connections, 0);

    const ok = final(await v.verify('a@strict.test', firstAttempt()));
    assert.equal(ok.qualification, 'valid', 'an allowed host is still probed');
  } finally {
    await v.close();
  }
});

test('address guard refuses private, link-local and metadata addresses (pure check, no traffic)', () => {
  const none = parseCidrList([]);
  assert.equal(refusedAddress('mx', ['10.0.0.5'], none)?.ip, '10.0.0.5');
  assert.equal(refusedAddress('mx', ['93.184.216.34', '169.254.169.254'], none)?.ip, '169.254.169.254');
  assert.equal(refusedAddress('mx', ['::ffff:127.0.0.1'], none)?.ip, '::ffff:127.0.0.1');
  assert.equal(refusedAddress('mx', ['93.184.216.34'], none), undefined);
  assert.equal(refusedAddress('mx', ['10.0.0.5'], parseCidrList(['10.0.0.0/8'])), undefined);
});
