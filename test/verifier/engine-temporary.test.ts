// Temporary failures: greylisting, silent or slow servers, dropped connections, busy servers, DNS
// timeouts. A temporary answer becomes `retry` (the queue waits, the worker does not), and only
// once the retry window has passed does it become final: unknown → invalid.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSandbox, type RunningSandbox, type World } from '../../src/sandbox/index.js';
import { MemoryDomainFactsCache } from '../../src/engines/verifier/index.js';
import { final, firstAttempt, mapConcurrent, verifierFor, type Verifier } from './harness.js';

const WINDOW_MS = 30 * 60_000;
const world: World = {
  domains: {
    'grey.test': { greylist_seconds: 1, mailboxes: ['phyllis'] },
    'stubborn.test': { greylist_seconds: 3600, mailboxes: ['stanley'] },
    'tarpit.test': { tarpit: true },
    'slow.test': { delays_ms: { banner: 300, ehlo: 100 }, mailboxes: ['meredith'] },
    'dropper.test': { drop_after_rcpt: true, mailboxes: ['creed'] },
    'busy.test': { max_connections: 2, mailboxes: ['kelly', 'darryl'] },
  },
};

let sb: RunningSandbox;
let v: Verifier;
before(async () => {
  sb = await startSandbox({ world });
  v = verifierFor(sb, { stepTimeoutMs: 1000 });
});
after(async () => {
  await v.close();
  await sb.close();
});

/** an item whose retry window is over: the next temporary answer is final */
const lastAttempt = (attempt = 4) => ({ attempt, firstAttemptAt: Date.now() - WINDOW_MS });

test('greylisted address: retry with the delay the server names, then valid on attempt 2', async () => {
  const ctx = firstAttempt();
  const first = await v.verify('phyllis@grey.test', ctx);
  assert.equal(first.kind, 'retry');
  if (first.kind !== 'retry') return;
  assert.equal(first.details.greylisted, true);
  assert.equal(first.details.status, 'unknown');
  assert.equal(first.details.smtp_code, 451);
  assert.equal(first.details.smtp_enhanced, '4.7.1');
  assert.equal(first.delayMs, 1000, 'the reply said "try again in 1 seconds"');

  await sleep(first.delayMs + 100); // stands in for the queue's wait
  const second = final(await v.verify('phyllis@grey.test', { attempt: 2, firstAttemptAt: ctx.firstAttemptAt }));
  assert.equal(second.qualification, 'valid');
  assert.equal(second.details.status, 'deliverable');
  assert.equal(second.details.catch_all, false);
  assert.equal(second.details.attempts, 2);
});

test('greylisting that outlasts the retry window ends unknown → invalid', async () => {
  const r = final(await v.verify('stanley@stubborn.test', lastAttempt()));
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'unknown');
  assert.equal(r.details.greylisted, true);
  assert.match(r.details.reason, /retry window/);
});

test('tarpit (never answers): retry with the default backoff, final unknown after the window', async () => {
  const first = await v.verify('x@tarpit.test', firstAttempt());
  assert.equal(first.kind, 'retry');
  if (first.kind === 'retry') {
    assert.equal(first.delayMs, 60_000);
    assert.match(first.details.reason, /did not answer the greeting/);
  }
  const second = await v.verify('x@tarpit.test', { attempt: 2, firstAttemptAt: Date.now() - 60_000 });
  assert.equal(second.kind === 'retry' && second.delayMs, 300_000);

  const last = final(await v.verify('x@tarpit.test', lastAttempt()));
  assert.equal(last.qualification, 'invalid');
  assert.equal(last.details.status, 'unknown');
  assert.match(last.details.reason, /did not answer the greeting.*retry window/);
});

test('slow banner and replies within the step timeout: verified', async () => {
  const r = final(await v.verify('meredith@slow.test', firstAttempt()));
  assert.equal(r.qualification, 'valid');
});

test('connection dropped after RCPT: retry, then unknown', async () => {
  const first = await v.verify('creed@dropper.test', firstAttempt());
  assert.equal(first.kind, 'retry');
  if (first.kind === 'retry') assert.match(first.details.reason, /closed the connection/);
  const last = final(await v.verify('creed@dropper.test', lastAttempt()));
  assert.equal(last.details.status, 'unknown');
  assert.equal(last.qualification, 'invalid');
});

test('server refusing connections above its limit with 421: every address still answered', async () => {
  const local = verifierFor(sb, { perHostConcurrency: 5 });
  try {
    sb.resetCounters(); // mx.busy.test saw no session before this test
    const emails = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'kelly@busy.test' : `nobody${i}@busy.test`));
    const results = await mapConcurrent(emails, 10, (e) => local.verify(e, firstAttempt()));
    for (const [i, out] of results.entries()) {
      const r = final(out);
      assert.equal(r.details.status, i % 3 === 0 ? 'deliverable' : 'undeliverable', emails[i]);
    }
    const c = sb.counters()['mx.busy.test']!;
    // The first burst learns the server's limit (those beyond it get 421); after that the verifier
    // keeps to the limit instead of knocking again.
    assert.ok(c.rejectedConnections <= 3, `only the first burst is refused (got ${c.rejectedConnections})`);
    assert.ok(c.connections - c.rejectedConnections <= 2 + 3, `sessions reused (got ${JSON.stringify(c)})`);
  } finally {
    await local.close();
  }
});

test('DNS timeout: unknown, retried, final after the window', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  const port = silent.address().port;
  const blind = verifierFor(sb, { dnsServers: [`127.0.0.1:${port}`], dnsTimeoutMs: 200, domainCache: new MemoryDomainFactsCache() });
  try {
    const first = await blind.verify('pam@acme.test', firstAttempt());
    assert.equal(first.kind, 'retry');
    if (first.kind === 'retry') {
      assert.equal(first.details.status, 'unknown');
      assert.match(first.details.reason, /DNS lookup failed.*ETIMEOUT/);
    }
    const last = final(await blind.verify('pam@acme.test', lastAttempt()));
    assert.equal(last.details.status, 'unknown');
    assert.equal(last.qualification, 'invalid');
  } finally {
    await blind.close();
    silent.close();
  }
});
