// SOCKS5 egress (OPENROW_SMTP_PROXY) through a real proxy hop, and the doctor's diagnosis of the
// sandbox: reachable SMTP, working DNS, and what is wrong with reverse DNS and the HELO name.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSandbox, type RunningSandbox, type World } from '../../src/sandbox/index.js';
import { runDoctor } from '../../src/engines/verifier/index.js';
import { final, firstAttempt, verifierFor } from './harness.js';
import { startSocks5Server, type Socks5Server } from './socks5-server.js';

const world: World = {
  domains: {
    'acme.test': { mailboxes: ['pam'], starttls: true },
    'closed.test': { mx: [{ host: 'mx.closed.test', preference: 10 }] },
  },
  hosts: { 'mx.closed.test': { refuse: true } },
};

let sb: RunningSandbox;
let proxy: Socks5Server;
before(async () => {
  sb = await startSandbox({ world });
  proxy = await startSocks5Server();
});
after(async () => {
  await proxy.close();
  await sb.close();
});

test('SOCKS5 proxy: the probe goes through the proxy, STARTTLS included', async () => {
  const v = verifierFor(sb, { proxy: proxy.url });
  try {
    const ok = final(await v.verify('pam@acme.test', firstAttempt()));
    assert.equal(ok.qualification, 'valid');
    assert.equal(ok.details.tls, true);
    const no = final(await v.verify('nobody@acme.test', firstAttempt()));
    assert.equal(no.details.status, 'undeliverable');
    assert.deepEqual(proxy.connects, [`${sb.hosts['mx.acme.test']}:${sb.smtpPort}`], 'one proxied session, reused');
  } finally {
    await v.close();
  }
});

test('SOCKS5 proxy that is down: temporary, with the proxy named in the reason', async () => {
  const v = verifierFor(sb, { proxy: 'socks5://127.0.0.1:1' });
  try {
    const out = await v.verify('pam@acme.test', firstAttempt());
    assert.equal(out.kind, 'retry');
    if (out.kind === 'retry') assert.match(out.details.reason, /SOCKS5 proxy/);
  } finally {
    await v.close();
  }
});

const doctorBase = () => ({
  dnsServers: [sb.dnsServer],
  smtpPort: sb.smtpPort,
  mailFrom: 'probe@verifier.openrow.test',
  connectTimeoutMs: 2000,
  stepTimeoutMs: 3000,
  allowCidrs: ['127.0.0.0/8'],
});

test('doctor: DNS and SMTP fine; no PTR and an unresolvable HELO name are explained with a fix', async () => {
  const report = await runDoctor({ ...doctorBase(), heloName: 'verifier.openrow.test', probeDomain: 'acme.test' });
  const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
  assert.equal(byName.dns!.ok, true);
  assert.equal(byName.smtp_port!.ok, true);
  assert.match(byName.smtp_port!.detail, /STARTTLS done/);
  assert.equal(report.egressIp, '127.0.0.1');
  assert.equal(byName.reverse_dns!.ok, false);
  assert.match(byName.reverse_dns!.fix!, /PTR/);
  assert.equal(byName.helo_name!.ok, false);
  assert.match(byName.helo_name!.detail, /does not resolve to 127\.0\.0\.1/);
  assert.equal(report.ok, false);
});

test('doctor: port 25 unreachable and a bad HELO name say what to fix', async () => {
  const report = await runDoctor({ ...doctorBase(), heloName: 'localhost', probeDomain: 'closed.test' });
  const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
  assert.equal(byName.smtp_port!.ok, false);
  assert.match(byName.smtp_port!.fix!, /OPENROW_SMTP_PROXY/);
  assert.equal(byName.reverse_dns!.ok, null);
  assert.equal(byName.helo_name!.ok, false);
  assert.match(byName.helo_name!.detail, /not a fully qualified/);
});

test('doctor: DNS that knows nothing, and a mail host outside the allowed ranges', async () => {
  const nothing = await runDoctor({ ...doctorBase(), heloName: 'verifier.openrow.test', probeDomain: 'nowhere.test' });
  assert.equal(nothing.checks.find((c) => c.name === 'dns')!.ok, false);
  assert.match(nothing.checks.find((c) => c.name === 'dns')!.fix!, /OPENROW_DNS_SERVERS/);

  const fenced = await runDoctor({ ...doctorBase(), allowCidrs: [], heloName: 'verifier.openrow.test', probeDomain: 'acme.test' });
  const smtp = fenced.checks.find((c) => c.name === 'smtp_port')!;
  assert.equal(smtp.ok, false);
  assert.match(smtp.detail, /loopback/i);
  assert.equal(sb.counters()['mx.closed.test']!.connections, 0);
});
