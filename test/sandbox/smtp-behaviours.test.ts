// Every mail-server behaviour of the sandbox, talked to over raw sockets exactly as a prober would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { promises as dnsPromises } from 'node:dns';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSandbox, loadWorld, type RunningSandbox } from '../../src/sandbox/index.js';
import { RawSmtp } from './raw-smtp.js';

const WORLD = loadWorld(`
domains:
  ok.test:
    mailboxes: [valid, pam.beesly]
    roles: [admin]
    starttls: true
  plain.test:
    mailboxes: [valid]
  catchall.test:
    catch_all: true
  grey.test:
    greylist_seconds: 0.4
    mailboxes: [valid]
  full.test:
    full: [valid]
  disabled.test:
    disabled: [valid]
  blocked.test:
    policy_block: true
    mailboxes: [valid]
  custom-block.test:
    policy_block: 'Client {client} is on the sandbox block list'
  toomany.test:
    max_rcpts_per_session: 2
    mailboxes: [valid]
  slow.test:
    delays_ms: {banner: 300, mail: 100, rcpt: 200}
    mailboxes: [valid]
  tarpit.test:
    tarpit: true
  drop.test:
    drop_after_rcpt: true
    mailboxes: [valid]
  multi.test:
    multiline: true
    mailboxes: [valid]
  nomx.test:
    mx: null
    mailboxes: [valid]
  nullmx.test:
    mx: 'null'
  backup.test:
    mx:
      - {host: mx2.backup.test, preference: 20}
      - {host: mx1.backup.test, preference: 10}
    mailboxes: [valid]
  shared-a.test:
    mx: [{host: mx.shared.test, preference: 5}]
    mailboxes: [alice]
  shared-b.test:
    mx: [{host: mx.shared.test, preference: 5}]
    mailboxes: [bob]
    multiline: true
  hostblock-a.test:
    mx: [{host: mx.hostblock.test, preference: 10}]
    mailboxes: [valid]
  hostblock-b.test:
    mx: [{host: mx.hostblock.test, preference: 10}]
    mailboxes: [valid]
    policy_block: false
  disposable.test:
    disposable: true
    mailboxes: [valid]
  free.test:
    free_provider: true
    mailboxes: [valid]
hosts:
  mx1.backup.test:
    refuse: true
  mx.hostblock.test:
    policy_block: true
  mx.shared.test:
    multiline: false
people:
  - {fullname: Jim Halpert, domain: ok.test, email: jim.halpert@ok.test}
`);

let sandbox: RunningSandbox;
let resolver: dnsPromises.Resolver;
const open: RawSmtp[] = [];

before(async () => {
  sandbox = await startSandbox({ world: WORLD, hostAddressBase: '127.0.0.100' });
  resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([sandbox.dnsServer]);
});
after(async () => {
  for (const c of open) c.destroy();
  await sandbox.close();
});

async function connect(host: string): Promise<RawSmtp> {
  const address = sandbox.hosts[host];
  assert.ok(address, `no sandbox host ${host}`);
  const c = await RawSmtp.connect(address, sandbox.smtpPort);
  open.push(c);
  return c;
}

/** Opens a session on the domain's default MX host and answers each RCPT. */
async function rcpts(domain: string, addresses: string[], from?: string): Promise<Array<{ code: number; text: string }>> {
  const c = await connect(`mx.${domain}`);
  await c.open(from);
  const out = [];
  for (const a of addresses) {
    const r = await c.cmd(`RCPT TO:<${a}>`);
    out.push({ code: r.code, text: r.lines.join('\n') });
  }
  await c.cmd('QUIT');
  return out;
}

test('known mailboxes, roles and people are accepted; unknown ones get 550 5.1.1; local parts ignore case', async () => {
  const r = await rcpts('ok.test', ['valid@ok.test', 'Pam.Beesly@OK.test', 'admin@ok.test', 'jim.halpert@ok.test', 'nobody@ok.test']);
  assert.deepEqual(
    r.map((x) => x.code),
    [250, 250, 250, 250, 550],
  );
  assert.match(r[0]!.text, /^2\.1\.5 /);
  assert.match(r[4]!.text, /^5\.1\.1 <nobody@ok\.test>/);
});

test('banner, multi-line EHLO with STARTTLS and enhanced status codes, HELO, NOOP, VRFY, RSET, DATA, QUIT', async () => {
  const c = await connect('mx.ok.test');
  const banner = await c.expect();
  assert.equal(banner.code, 220);
  assert.match(banner.lines[0]!, /^mx\.ok\.test ESMTP/);
  const ehlo = await c.cmd('EHLO client.test');
  assert.equal(ehlo.code, 250);
  assert.ok(ehlo.lines.length > 1 && ehlo.raw.startsWith('250-'));
  assert.ok(ehlo.lines.includes('STARTTLS'));
  assert.ok(ehlo.lines.includes('ENHANCEDSTATUSCODES'));
  assert.equal((await c.cmd('HELO client.test')).code, 250);
  assert.equal((await c.cmd('NOOP')).code, 250);
  const vrfy = await c.cmd('VRFY valid');
  assert.equal(vrfy.code, 252);
  assert.equal((await c.cmd('MAIL FROM:<probe@client.test>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<valid@ok.test>')).code, 250);
  assert.equal((await c.cmd('RSET')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<valid@ok.test>')).code, 503, 'RSET forgets the sender');
  assert.equal((await c.cmd('DATA')).code, 554);
  const quit = await c.cmd('QUIT');
  assert.equal(quit.code, 221);
  await c.waitClosed();
});

test('protocol errors: MAIL before EHLO, nested MAIL, bad syntax, unknown verb, STARTTLS not offered', async () => {
  const c = await connect('mx.plain.test');
  await c.expect();
  assert.equal((await c.cmd('MAIL FROM:<a@b.test>')).code, 503);
  const ehlo = await c.cmd('EHLO client.test');
  assert.ok(!ehlo.lines.includes('STARTTLS'));
  assert.equal((await c.cmd('EHLO')).code, 501);
  assert.equal((await c.cmd('STARTTLS')).code, 502);
  assert.equal((await c.cmd('MAIL FROM:a@b.test')).code, 501);
  assert.equal((await c.cmd('MAIL FROM:<>')).code, 250, 'the null sender is allowed');
  assert.equal((await c.cmd('MAIL FROM:<a@b.test>')).code, 503);
  const bad = await c.cmd('RCPT TO:<no-at-sign>');
  assert.equal(bad.code, 501);
  assert.match(bad.lines[0]!, /^5\.1\.3/);
  assert.equal((await c.cmd('HELP')).code, 502);
  c.destroy();
});

test('STARTTLS upgrades to TLS (self-signed); EHLO again no longer offers it; probing works over TLS', async () => {
  const before = sandbox.counters()['mx.ok.test']!.tlsUpgrades;
  const c = await connect('mx.ok.test');
  await c.expect();
  await c.cmd('EHLO client.test');
  const ready = await c.cmd('STARTTLS');
  assert.equal(ready.code, 220);
  const secure = await c.upgrade();
  assert.equal(secure.encrypted, true);
  assert.ok(secure.getPeerCertificate().subject, 'the server presents a certificate');
  assert.equal((await c.cmd('MAIL FROM:<a@b.test>')).code, 503, 'state is reset by STARTTLS: EHLO again first');
  const ehlo = await c.cmd('EHLO client.test');
  assert.ok(!ehlo.lines.includes('STARTTLS'));
  assert.equal((await c.cmd('MAIL FROM:<a@b.test>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<valid@ok.test>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<nobody@ok.test>')).code, 550);
  assert.equal((await c.cmd('STARTTLS')).code, 503);
  assert.equal((await c.cmd('QUIT')).code, 221);
  await c.waitClosed();
  assert.equal(sandbox.counters()['mx.ok.test']!.tlsUpgrades, before + 1);
});

test('catch-all accepts any local part', async () => {
  const r = await rcpts('catchall.test', ['valid@catchall.test', 'x7q9zz-random@catchall.test']);
  assert.deepEqual(
    r.map((x) => x.code),
    [250, 250],
  );
});

test('greylisting: 451 4.7.1 for a new sender/recipient pair until the delay has passed, then the real answer', async () => {
  const first = await rcpts('grey.test', ['valid@grey.test', 'nobody@grey.test'], 'a@sender.test');
  assert.deepEqual(
    first.map((x) => x.code),
    [451, 451],
  );
  assert.match(first[0]!.text, /^4\.7\.1 .*Greylisted/);
  const tooEarly = await rcpts('grey.test', ['valid@grey.test'], 'a@sender.test');
  assert.equal(tooEarly[0]!.code, 451, 'a retry before the delay is still greylisted');
  const otherSender = await rcpts('grey.test', ['valid@grey.test'], 'b@sender.test');
  assert.equal(otherSender[0]!.code, 451, 'another sender is another pair');
  await sleep(500);
  const later = await rcpts('grey.test', ['valid@grey.test', 'nobody@grey.test'], 'a@sender.test');
  assert.deepEqual(
    later.map((x) => x.code),
    [250, 550],
  );
  sandbox.resetGreylist();
  const afterReset = await rcpts('grey.test', ['valid@grey.test'], 'a@sender.test');
  assert.equal(afterReset[0]!.code, 451);
});

test('mailbox full is 552 5.2.2, disabled is 550 5.2.1; other addresses there are unknown', async () => {
  const full = await rcpts('full.test', ['valid@full.test', 'other@full.test']);
  assert.equal(full[0]!.code, 552);
  assert.match(full[0]!.text, /^5\.2\.2 /);
  assert.match(full[1]!.text, /^5\.1\.1 /);
  const disabled = await rcpts('disabled.test', ['valid@disabled.test', 'other@disabled.test']);
  assert.equal(disabled[0]!.code, 550);
  assert.match(disabled[0]!.text, /^5\.2\.1 /);
  assert.match(disabled[1]!.text, /^5\.1\.1 /);
});

test('policy block: 554 5.7.1 blocked using Spamhaus with our IP, whatever the mailbox; custom text', async () => {
  const r = await rcpts('blocked.test', ['valid@blocked.test', 'nobody@blocked.test']);
  for (const x of r) {
    assert.equal(x.code, 554);
    assert.match(x.text, /^5\.7\.1 .*Client host \[127\.0\.0\.1\] blocked using Spamhaus/);
  }
  const custom = await rcpts('custom-block.test', ['x@custom-block.test']);
  assert.equal(custom[0]!.code, 554);
  assert.equal(custom[0]!.text, '5.7.1 Client 127.0.0.1 is on the sandbox block list');
});

test('host settings apply to every domain it serves unless the domain sets its own', async () => {
  const c = await connect('mx.hostblock.test');
  await c.open();
  assert.equal((await c.cmd('RCPT TO:<valid@hostblock-a.test>')).code, 554);
  assert.equal((await c.cmd('RCPT TO:<valid@hostblock-b.test>')).code, 250);
  c.destroy();
});

test('452 4.5.3 Too many recipients after K answered RCPTs in one session (RSET does not reset it)', async () => {
  const c = await connect('mx.toomany.test');
  await c.open();
  assert.equal((await c.cmd('RCPT TO:<valid@toomany.test>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<nobody@toomany.test>')).code, 550);
  const third = await c.cmd('RCPT TO:<valid@toomany.test>');
  assert.equal(third.code, 452);
  assert.equal(third.lines[0], '4.5.3 Too many recipients');
  await c.cmd('RSET');
  await c.cmd('MAIL FROM:<a@b.test>');
  assert.equal((await c.cmd('RCPT TO:<valid@toomany.test>')).code, 452);
  c.destroy();
  const fresh = await rcpts('toomany.test', ['valid@toomany.test']);
  assert.equal(fresh[0]!.code, 250, 'a new session starts counting again');
});

test('slow banner and slow replies wait at least the configured delay', async () => {
  const started = performance.now();
  const c = await connect('mx.slow.test');
  assert.equal((await c.expect()).code, 220);
  assert.ok(performance.now() - started >= 295, 'banner came before its 300 ms delay');
  await c.cmd('EHLO client.test');
  let t = performance.now();
  assert.equal((await c.cmd('MAIL FROM:<a@b.test>')).code, 250);
  assert.ok(performance.now() - t >= 95, 'MAIL reply came before its 100 ms delay');
  t = performance.now();
  assert.equal((await c.cmd('RCPT TO:<valid@slow.test>')).code, 250);
  assert.ok(performance.now() - t >= 195, 'RCPT reply came before its 200 ms delay');
  c.destroy();
});

test('tarpit: the connection is accepted and nothing is ever said', async () => {
  const before = sandbox.counters()['mx.tarpit.test']!.connections;
  const c = await connect('mx.tarpit.test');
  c.send('EHLO client.test');
  await sleep(400);
  assert.equal(c.received, '');
  assert.equal(c.closed, false);
  const counters = sandbox.counters()['mx.tarpit.test']!;
  assert.equal(counters.connections, before + 1);
  assert.equal(counters.commands.EHLO, undefined, 'a tarpit does not even read commands');
  c.destroy();
});

test('drop after RCPT: the connection closes instead of a reply', async () => {
  const c = await connect('mx.drop.test');
  await c.open();
  c.send('RCPT TO:<valid@drop.test>');
  assert.equal(await c.read(), null);
  assert.equal(c.closed, true);
});

test('multi-line banner and replies', async () => {
  const c = await connect('mx.multi.test');
  const banner = await c.expect();
  assert.equal(banner.code, 220);
  assert.ok(banner.lines.length >= 2);
  assert.match(banner.raw, /^220-/);
  await c.cmd('EHLO client.test');
  await c.cmd('MAIL FROM:<a@b.test>');
  const ok = await c.cmd('RCPT TO:<valid@multi.test>');
  assert.equal(ok.code, 250);
  assert.ok(ok.lines.length >= 2);
  const ko = await c.cmd('RCPT TO:<nobody@multi.test>');
  assert.equal(ko.code, 550);
  assert.match(ko.raw, /^550-5\.1\.1 .*\r\n550 5\.1\.1 /);
  c.destroy();
});

test('several domains on one host are told apart by the RCPT domain; others are relay-denied', async () => {
  const c = await connect('mx.shared.test');
  const banner = await c.expect();
  assert.equal(banner.lines.length, 1, 'the host says multiline: false for its session');
  await c.cmd('EHLO client.test');
  await c.cmd('MAIL FROM:<a@b.test>');
  const alice = await c.cmd('RCPT TO:<alice@shared-a.test>');
  assert.equal(alice.code, 250);
  assert.equal(alice.lines.length, 1);
  assert.equal((await c.cmd('RCPT TO:<bob@shared-a.test>')).code, 550);
  const bob = await c.cmd('RCPT TO:<bob@shared-b.test>');
  assert.equal(bob.code, 250);
  assert.ok(bob.lines.length >= 2, 'shared-b.test asked for multi-line replies to its recipients');
  const relay = await c.cmd('RCPT TO:<valid@ok.test>');
  assert.equal(relay.code, 554);
  assert.match(relay.lines[0]!, /Relay access denied/);
  c.destroy();
  const counts = sandbox.counters()['mx.shared.test']!;
  assert.equal(counts.rcptsByDomain['shared-a.test'], 2);
  assert.equal(counts.rcptsByDomain['shared-b.test'], 1);
  assert.equal(counts.rcptsByDomain['ok.test'], 1);
});

test('no MX but an A record: the SMTP server listens on that address', async () => {
  await assert.rejects(resolver.resolveMx('nomx.test'), { code: 'ENODATA' });
  const [address] = await resolver.resolve4('nomx.test');
  assert.equal(address, sandbox.hosts['nomx.test']);
  const c = await RawSmtp.connect(address!, sandbox.smtpPort);
  open.push(c);
  await c.open();
  assert.equal((await c.cmd('RCPT TO:<valid@nomx.test>')).code, 250);
  c.destroy();
});

test('null MX domain has no mail host in the sandbox', async () => {
  assert.deepEqual(await resolver.resolveMx('nullmx.test'), [{ exchange: '', priority: 0 }]);
  assert.equal(sandbox.hosts['nullmx.test'], undefined);
  assert.equal(sandbox.hosts['mx.nullmx.test'], undefined);
});

test('first MX refuses connections, the second one works', async () => {
  const mx = (await resolver.resolveMx('backup.test')).sort((a, b) => a.priority - b.priority);
  assert.deepEqual(
    mx.map((r) => r.exchange),
    ['mx1.backup.test', 'mx2.backup.test'],
  );
  const [first] = await resolver.resolve4(mx[0]!.exchange);
  await assert.rejects(
    new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: first!, port: sandbox.smtpPort });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    }),
    { code: 'ECONNREFUSED' },
  );
  const [second] = await resolver.resolve4(mx[1]!.exchange);
  const c = await RawSmtp.connect(second!, sandbox.smtpPort);
  open.push(c);
  await c.open();
  assert.equal((await c.cmd('RCPT TO:<valid@backup.test>')).code, 250);
  c.destroy();
});

test('disposable and free-provider domains behave like normal mail domains', async () => {
  for (const d of ['disposable.test', 'free.test']) {
    const r = await rcpts(d, [`valid@${d}`, `nobody@${d}`]);
    assert.deepEqual(
      r.map((x) => x.code),
      [250, 550],
    );
  }
});
