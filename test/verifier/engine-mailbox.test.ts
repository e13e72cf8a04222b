// Every mailbox and domain behaviour of the sandbox, verified end to end through real DNS and SMTP on
// loopback: each gets the right qualification, details.status and reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSandbox, type RunningSandbox, type World } from '../../src/sandbox/index.js';
import { MemoryKnowledgeStore } from '../../src/engines/knowledge-memory.js';
import { final, firstAttempt, verifierFor, withSandbox, type Verifier } from './harness.js';
import { MemoryDomainFactsCache, type VerifierOptions } from '../../src/engines/verifier/index.js';

const world: World = {
  domains: {
    'acme.test': { mailboxes: ['pam.beesly', 'dwight'], roles: ['info'], full: ['kevin'], disabled: ['toby'] },
    'catchall.test': { catch_all: true },
    'blocked.test': { policy_block: true, mailboxes: ['pam'] },
    'tls.test': { starttls: true, multiline: true, mailboxes: ['jim'] },
    'nullmx.test': { mx: 'null' },
    'amx.test': { mx: null, mailboxes: ['oscar'] },
    'nohost.test': { mx: null, mail_host: false, txt: ['v=spf1 -all'] },
    'backup.test': {
      mx: [
        { host: 'mx1.backup.test', preference: 10 },
        { host: 'mx2.backup.test', preference: 20 },
      ],
      mailboxes: ['angela'],
    },
    'gmail.com': { mailboxes: ['jan.levinson'] },
    'freebie.test': { free_provider: true, mailboxes: ['ryan'] },
    // DNS holds IDN names in their ASCII form; the address below is written in Unicode
    'xn--bcher-kva.test': { mailboxes: ['creed'] },
  },
  hosts: { 'mx1.backup.test': { refuse: true } },
};

let sb: RunningSandbox;
let v: Verifier;
const knowledge = new MemoryKnowledgeStore({
  contacts: [{ fullname: 'Michael Scott', company_domain: 'catchall.test', email: 'michael.scott@catchall.test' }],
});

before(async () => {
  sb = await startSandbox({ world });
  v = verifierFor(sb, { knowledge, extraFreeProviderDomains: ['freebie.test'] });
});
after(async () => {
  await v.close();
  await sb.close();
});

const check = async (email: string) => final(await v.verify(email, firstAttempt()));

test('existing mailbox: valid, deliverable, with the SMTP evidence', async () => {
  const r = await check('pam.beesly@acme.test');
  assert.equal(r.qualification, 'valid');
  assert.equal(r.details.status, 'deliverable');
  assert.equal(r.details.mx_host, 'mx.acme.test');
  assert.equal(r.details.smtp_code, 250);
  assert.equal(r.details.catch_all, false);
  assert.equal(r.details.role, false);
  assert.match(r.details.reason, /accepted/);
});

test('unknown mailbox: invalid, undeliverable, 5.1.1', async () => {
  const r = await check('nobody.here@acme.test');
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'undeliverable');
  assert.equal(r.details.smtp_code, 550);
  assert.equal(r.details.smtp_enhanced, '5.1.1');
  assert.match(r.details.reason, /no such mailbox/);
});

test('mailbox full and disabled account: undeliverable with their own reasons', async () => {
  const full = await check('kevin@acme.test');
  assert.equal(full.qualification, 'invalid');
  assert.equal(full.details.status, 'undeliverable');
  assert.equal(full.details.smtp_enhanced, '5.2.2');
  assert.match(full.details.reason, /mailbox full/);

  const disabled = await check('toby@acme.test');
  assert.equal(disabled.qualification, 'invalid');
  assert.equal(disabled.details.status, 'undeliverable');
  assert.equal(disabled.details.smtp_enhanced, '5.2.1');
  assert.match(disabled.details.reason, /disabled/);
});

test('role mailbox is flagged and still verified', async () => {
  const r = await check('info@acme.test');
  assert.equal(r.qualification, 'valid');
  assert.equal(r.details.role, true);
});

test('policy block (5.7.1 Spamhaus) is unknown, never undeliverable', async () => {
  for (const email of ['pam@blocked.test', 'nobody@blocked.test']) {
    const r = await check(email);
    assert.equal(r.qualification, 'invalid');
    assert.equal(r.details.status, 'unknown', email);
    assert.equal(r.details.smtp_enhanced, '5.7.1');
    assert.equal(r.details.policy_block, true);
    assert.match(r.details.reason, /policy.*says nothing about the mailbox/);
  }
});

test('STARTTLS offered with a self-signed certificate, multi-line replies', async () => {
  const before = sb.counters()['mx.tls.test']!.tlsUpgrades;
  const ok = await check('jim@tls.test');
  assert.equal(ok.qualification, 'valid');
  assert.equal(ok.details.tls, true);
  const no = await check('stanley@tls.test');
  assert.equal(no.details.status, 'undeliverable');
  assert.equal(no.details.smtp_enhanced, '5.1.1');
  assert.match(String(no.details.smtp_text), /User unknown.*multi-line reply/);
  assert.ok(sb.counters()['mx.tls.test']!.tlsUpgrades > before);
});

test('catch-all domain: catch_all status; valid only with independent evidence', async () => {
  const blind = await check('anyone@catchall.test');
  assert.equal(blind.qualification, 'invalid');
  assert.equal(blind.details.status, 'catch_all');
  assert.equal(blind.details.catch_all, true);
  assert.match(blind.details.reason, /no independent evidence/);

  const known = await check('michael.scott@catchall.test');
  assert.equal(known.qualification, 'valid');
  assert.equal(known.details.status, 'catch_all');
  assert.equal(known.details.evidence, 'contacts_directory');
});

test('null MX (RFC 7505): undeliverable without any connection', async () => {
  const r = await check('x@nullmx.test');
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'undeliverable');
  assert.match(r.details.reason, /null MX/);
});

test('no MX but an A record: the domain itself is the mail host', async () => {
  const r = await check('oscar@amx.test');
  assert.equal(r.qualification, 'valid');
  assert.equal(r.details.mx_host, 'amx.test');
  assert.equal(r.details.mx_implicit, true);
});

test('no MX and no address: undeliverable', async () => {
  const r = await check('x@nohost.test');
  assert.equal(r.details.status, 'undeliverable');
  assert.match(r.details.reason, /no MX record and no address/);
});

test('NXDOMAIN: undeliverable', async () => {
  const r = await check('x@does-not-exist.test');
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'undeliverable');
  assert.match(r.details.reason, /NXDOMAIN/);
});

test('first MX refuses connections: the second MX answers', async () => {
  const r = await check('angela@backup.test');
  assert.equal(r.qualification, 'valid');
  assert.equal(r.details.mx_host, 'mx2.backup.test');
});

test('free provider and disposable domains are flagged', async () => {
  const gmail = await check('jan.levinson@gmail.com');
  assert.equal(gmail.qualification, 'valid');
  assert.equal(gmail.details.free_provider, true);
  const listed = await check('ryan@freebie.test');
  assert.equal(listed.details.free_provider, true);

  const before = JSON.stringify(sb.counters());
  const disposable = await check('temp@mailinator.com');
  assert.equal(disposable.qualification, 'invalid');
  assert.equal(disposable.details.status, 'disposable');
  assert.equal(disposable.details.disposable, true);
  assert.equal(JSON.stringify(sb.counters()), before, 'no SMTP traffic for a disposable address');
});

test('IDN domain is probed in punycode', async () => {
  const r = await check('creed@bücher.test');
  assert.equal(r.qualification, 'valid');
  assert.equal(r.details.domain, 'xn--bcher-kva.test');
  assert.equal(r.email, 'creed@bücher.test', 'the result names the address as given');
});

test('bad syntax and typo suggestion', async () => {
  const r = await check('pam..beesly@acme.test');
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'undeliverable');
  assert.match(r.details.reason, /syntax/);
  const typo = await check('jan.levinson@gmial.com');
  assert.equal(typo.details.typo_suggestion, 'jan.levinson@gmail.com');
  // typo domains of big providers are mostly registered by throw-away mail services
  assert.equal(typo.details.status, 'disposable');
  const fine = await check('pam.beesly@acme.test');
  assert.equal(fine.details.typo_suggestion, null);
});

test('never sends DATA', async () => {
  for (const c of Object.values(sb.counters())) assert.equal(c.dataAttempts, 0);
});

/** One verification in a world of its own: a sandbox and a verifier started and closed around it. */
async function verifyIn(world: World, email: string, over: Partial<VerifierOptions> = {}) {
  return withSandbox(world, async (s) => {
    const sv = verifierFor(s, over);
    try {
      return { out: await sv.verify(email, firstAttempt()), counters: s.counters() };
    } finally {
      await sv.close();
    }
  });
}

test('a catch-all answer learnt on one mail host is never applied to another (a backup MX that takes every recipient)', async () => {
  const world = (primaryDown: boolean): World => ({
    domains: { 'relay.test': { mx: [{ host: 'mx1.relay.test', preference: 10 }, { host: 'mx2.relay.test', preference: 20 }], mailboxes: ['real'] } },
    hosts: { 'mx2.relay.test': { catch_all: true }, ...(primaryDown ? { 'mx1.relay.test': { refuse: true } } : {}) },
  });
  // one cache for both days, as the database-backed one is in production
  const domainCache = new MemoryDomainFactsCache();
  // day 1: the primary rejects unknown addresses (catch_all false, learnt on mx1)
  assert.equal(final((await verifyIn(world(false), 'real@relay.test', { domainCache })).out).details.status, 'deliverable');
  // later the primary is down and the backup accepts anything: before, this came back valid, "by mx2,
  // which rejects unknown addresses", a claim nothing had tested
  const r = final((await verifyIn(world(true), 'no.such.person@relay.test', { domainCache })).out);
  assert.equal(r.details.mx_host, 'mx2.relay.test');
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'catch_all');
});

test('a 421 naming a wait ("try again in 300 seconds") reschedules after that wait, not our default', async () => {
  const { out } = await verifyIn(
    { domains: { 'throttled.test': { mailboxes: ['pam'], rcpt_reply: '421 4.7.0 Too many messages from you, try again in 300 seconds' } } },
    'pam@throttled.test',
  );
  assert.equal(out.kind, 'retry');
  // before, the 421's text was dropped and the default 60 s applied
  if (out.kind === 'retry') assert.equal(out.delayMs, 300_000);
});

test('a 452 naming a wait is a rate limit: no more fresh sessions, rescheduled after that wait', async () => {
  const { out, counters } = await verifyIn(
    { domains: { 'busy.test': { mailboxes: ['pam'], rcpt_reply: '452 4.5.3 Too many recipients, try again in 600 seconds' } } },
    'pam@busy.test',
  );
  assert.equal(out.kind, 'retry');
  if (out.kind === 'retry') assert.equal(out.delayMs, 600_000);
  // before: three sessions per address, each answered the same, and a 60 s default
  assert.equal(counters['mx.busy.test']!.connections, 1);
});
