// Per-host counters (in process and over HTTP), the 421 concurrency limit, resets, and a close() that
// leaves nothing listening even with clients still connected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { promises as dnsPromises } from 'node:dns';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSandbox, loadWorld, type RunningSandbox } from '../../src/sandbox/index.js';
import { RawSmtp } from './raw-smtp.js';

const WORLD = loadWorld(`
domains:
  busy.test:
    max_connections: 2
    mailboxes: [valid]
  plain.test:
    mailboxes: [valid]
  tarpit.test:
    tarpit: true
  slow.test:
    delays_ms: {banner: 60000}
  backup.test:
    mx: [{host: dead.backup.test, preference: 1}]
hosts:
  dead.backup.test:
    refuse: true
`);

async function until(what: string, check: () => boolean): Promise<void> {
  // waits for the server side to see a close the client already saw; not a timing assertion
  for (let i = 0; i < 400 && !check(); i++) await sleep(10);
  assert.ok(check(), what);
}

function connectError(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

async function withSandbox(fn: (s: RunningSandbox) => Promise<void>, countersPort: number | null = 0) {
  const s = await startSandbox({ world: WORLD, hostAddressBase: '127.0.0.150', countersPort });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

test('counters count connections, commands, RCPTs by domain, replies by code and DATA attempts', () =>
  withSandbox(async (sandbox) => {
    const c = await RawSmtp.connect(sandbox.hosts['mx.plain.test']!, sandbox.smtpPort);
    await c.open();
    await c.cmd('RCPT TO:<valid@plain.test>');
    await c.cmd('RCPT TO:<nobody@plain.test>');
    await c.cmd('RCPT TO:<x@elsewhere.test>');
    await c.cmd('DATA');
    await c.cmd('QUIT');
    await c.waitClosed();
    await until('server saw the close', () => sandbox.counters()['mx.plain.test']!.currentConnections === 0);
    const k = sandbox.counters()['mx.plain.test']!;
    assert.equal(k.address, sandbox.hosts['mx.plain.test']);
    assert.equal(k.connections, 1);
    assert.equal(k.maxConcurrentConnections, 1);
    assert.equal(k.rcpts, 3);
    assert.deepEqual(k.rcptsByDomain, { 'plain.test': 2, 'elsewhere.test': 1 });
    assert.deepEqual(k.commands, { EHLO: 1, MAIL: 1, RCPT: 3, DATA: 1, QUIT: 1 });
    assert.deepEqual(k.replies, { '220': 1, '250': 3, '550': 1, '554': 2, '221': 1 });
    assert.equal(k.dataAttempts, 1);
    assert.equal(k.rejectedConnections, 0);
    // other hosts untouched, refusing hosts listed with zeros
    assert.equal(sandbox.counters()['mx.busy.test']!.connections, 0);
    assert.equal(sandbox.counters()['dead.backup.test']!.connections, 0);
  }));

test('connections above max_connections get 421 and are closed; the high-water mark records them', () =>
  withSandbox(async (sandbox) => {
    const addr = sandbox.hosts['mx.busy.test']!;
    const a = await RawSmtp.connect(addr, sandbox.smtpPort);
    const b = await RawSmtp.connect(addr, sandbox.smtpPort);
    assert.equal((await a.expect()).code, 220);
    assert.equal((await b.expect()).code, 220);
    const c = await RawSmtp.connect(addr, sandbox.smtpPort);
    const refused = await c.expect();
    assert.equal(refused.code, 421);
    assert.match(refused.lines[0]!, /^4\.7\.0 .*too many concurrent connections/);
    await c.waitClosed();
    let k = sandbox.counters()['mx.busy.test']!;
    assert.equal(k.connections, 3);
    assert.equal(k.maxConcurrentConnections, 3);
    assert.equal(k.rejectedConnections, 1);
    assert.equal(k.replies['421'], 1);
    a.destroy();
    await until('server saw two closes', () => sandbox.counters()['mx.busy.test']!.currentConnections === 1);
    const d = await RawSmtp.connect(addr, sandbox.smtpPort);
    assert.equal((await d.expect()).code, 220, 'below the limit again');
    k = sandbox.counters()['mx.busy.test']!;
    assert.equal(k.currentConnections, 2);
    assert.equal(k.maxConcurrentConnections, 3);

    sandbox.resetCounters();
    k = sandbox.counters()['mx.busy.test']!;
    assert.equal(k.connections, 0);
    assert.equal(k.rejectedConnections, 0);
    assert.deepEqual(k.replies, {});
    assert.equal(k.currentConnections, 2, 'the live gauge survives a reset');
    assert.equal(k.maxConcurrentConnections, 2, 'the high-water mark restarts from the live gauge');
    b.destroy();
    d.destroy();
  }));

test('GET /counters returns the same counters as JSON; DELETE /counters resets them', () =>
  withSandbox(async (sandbox) => {
    assert.ok(sandbox.countersUrl);
    assert.match(sandbox.countersUrl, /^http:\/\/127\.0\.0\.1:\d+\/counters$/);
    const c = await RawSmtp.connect(sandbox.hosts['mx.plain.test']!, sandbox.smtpPort);
    await c.open();
    await c.cmd('RCPT TO:<valid@plain.test>');
    const res = await fetch(sandbox.countersUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as Record<string, { rcpts: number; commands: Record<string, number> }>;
    assert.deepEqual(body, sandbox.counters());
    assert.equal(body['mx.plain.test']!.rcpts, 1);
    const del = await fetch(sandbox.countersUrl, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(sandbox.counters()['mx.plain.test']!.rcpts, 0);
    await c.cmd('RCPT TO:<valid@plain.test>');
    const post = await fetch(sandbox.countersUrl.replace(/\/counters$/, '/counters/reset'), { method: 'POST' });
    assert.equal(post.status, 200);
    assert.equal(sandbox.counters()['mx.plain.test']!.rcpts, 0);
    assert.equal((await fetch(sandbox.countersUrl.replace(/\/counters$/, '/other'))).status, 404);
    c.destroy();
  }));

test('no counters endpoint unless asked for', () =>
  withSandbox(async (sandbox) => {
    assert.equal(sandbox.countersUrl, null);
  }, null));

test('close() leaves no listener behind, even with clients connected, tarpitted or waiting for a slow banner', async () => {
  const sandbox = await startSandbox({ world: WORLD, hostAddressBase: '127.0.0.150', countersPort: 0 });
  const idle = await RawSmtp.connect(sandbox.hosts['mx.plain.test']!, sandbox.smtpPort);
  await idle.open();
  const tarpit = await RawSmtp.connect(sandbox.hosts['mx.tarpit.test']!, sandbox.smtpPort);
  const slow = await RawSmtp.connect(sandbox.hosts['mx.slow.test']!, sandbox.smtpPort);
  const [dnsHost, dnsPort] = sandbox.dnsServer.split(':');
  const dnsTcp = new net.Socket();
  await new Promise<void>((r) => dnsTcp.connect(Number(dnsPort), dnsHost!, r));
  dnsTcp.on('error', () => undefined);

  await sandbox.close();
  await Promise.all([idle.waitClosed(), tarpit.waitClosed(), slow.waitClosed()]);
  assert.equal(slow.received, '', 'the slow banner never came');
  for (const [host, address] of Object.entries(sandbox.hosts)) {
    assert.equal(await connectError(address, sandbox.smtpPort), 'ECONNREFUSED', `${host} still listens`);
  }
  assert.equal(await connectError(dnsHost!, Number(dnsPort)), 'ECONNREFUSED', 'DNS over TCP still listens');
  const url = new URL(sandbox.countersUrl!);
  assert.equal(await connectError(url.hostname, Number(url.port)), 'ECONNREFUSED', 'counters endpoint still listens');
  const resolver = new dnsPromises.Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([sandbox.dnsServer]);
  await assert.rejects(resolver.resolve4('mx.plain.test'), 'DNS over UDP still answers');
  await sandbox.close(); // a second close is harmless
});
