// The sandbox's DNS server, asked by node's own resolver over UDP and by dns2's TCP client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import dns2 from 'dns2';
import { startSandbox, loadWorld, type RunningSandbox } from '../../src/sandbox/index.js';

const WORLD = loadWorld(`
domains:
  mail.test:
    mailboxes: [valid]
    a: [127.0.0.1]
    aaaa: ['::1']
    txt: ['v=spf1 -all', '${'x'.repeat(300)}']
  two.test:
    mx:
      - {host: mx-b.two.test, preference: 20}
      - {host: mx-a.two.test, preference: 10}
  implicit.test:
    mx: null
  nullmx.test:
    mx: 'null'
  bare.test:
    mx: null
    mail_host: false
  fixed.test: {}
hosts:
  mx-b.two.test:
    refuse: true
  mx.fixed.test:
    address: 127.0.0.51
`);

let sandbox: RunningSandbox;
let resolver: dnsPromises.Resolver;
before(async () => {
  sandbox = await startSandbox({ world: WORLD, hostAddressBase: '127.0.0.50' });
  resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([sandbox.dnsServer]);
});
after(() => sandbox.close());

const code = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'answered';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
};

test('MX of a domain without mx setting is mx.<domain>, whose A is its loopback address', async () => {
  assert.deepEqual(await resolver.resolveMx('mail.test'), [{ exchange: 'mx.mail.test', priority: 10 }]);
  assert.deepEqual(await resolver.resolve4('mx.mail.test'), [sandbox.hosts['mx.mail.test']]);
  assert.equal(sandbox.hosts['mx.mail.test'], '127.0.0.50');
});

test('MX records come sorted by preference, every MX host has an A record (refusing ones too)', async () => {
  const mx = await resolver.resolveMx('two.test');
  assert.deepEqual(
    mx.sort((a, b) => a.priority - b.priority),
    [
      { exchange: 'mx-a.two.test', priority: 10 },
      { exchange: 'mx-b.two.test', priority: 20 },
    ],
  );
  assert.deepEqual(await resolver.resolve4('mx-b.two.test'), [sandbox.hosts['mx-b.two.test']]);
  assert.deepEqual(await resolver.resolve4('mx-a.two.test'), [sandbox.hosts['mx-a.two.test']]);
  assert.notEqual(sandbox.hosts['mx-a.two.test'], sandbox.hosts['mx-b.two.test']);
});

test('a host with a fixed address keeps it; the others skip it', async () => {
  assert.equal(sandbox.hosts['mx.fixed.test'], '127.0.0.51');
  assert.deepEqual(await resolver.resolve4('mx.fixed.test'), ['127.0.0.51']);
  assert.equal(sandbox.hosts['mx-b.two.test'], '127.0.0.52');
  assert.equal(new Set(Object.values(sandbox.hosts)).size, Object.keys(sandbox.hosts).length);
});

test('extra A, AAAA and TXT records of a domain; long TXT split into 255-byte strings', async () => {
  assert.deepEqual(await resolver.resolve4('mail.test'), ['127.0.0.1']);
  assert.deepEqual(await resolver.resolve6('mail.test'), ['::1']);
  const txt = await resolver.resolveTxt('mail.test');
  assert.deepEqual(txt[0], ['v=spf1 -all']);
  assert.deepEqual(txt[1], ['x'.repeat(255), 'x'.repeat(45)]);
});

test('a domain with mx: null has no MX and its A record is its own mail host', async () => {
  assert.equal(await code(resolver.resolveMx('implicit.test')), 'ENODATA');
  assert.deepEqual(await resolver.resolve4('implicit.test'), [sandbox.hosts['implicit.test']]);
});

test('null MX (RFC 7505) is one MX record "0 ."', async () => {
  assert.deepEqual(await resolver.resolveMx('nullmx.test'), [{ exchange: '', priority: 0 }]);
});

test('a known name without records of a type answers NODATA; mail_host: false leaves no A', async () => {
  assert.equal(await code(resolver.resolve4('bare.test')), 'ENODATA');
  assert.equal(await code(resolver.resolveMx('bare.test')), 'ENODATA');
  assert.equal(await code(resolver.resolve6('mx.mail.test')), 'ENODATA');
  assert.equal(await code(resolver.resolveTxt('two.test')), 'ENODATA');
});

test('unknown names are NXDOMAIN, whatever the type; names are case-insensitive', async () => {
  assert.equal(await code(resolver.resolveMx('nowhere.test')), 'ENOTFOUND');
  assert.equal(await code(resolver.resolve4('sub.mail.test')), 'ENOTFOUND');
  assert.equal(await code(resolver.resolve4('example.com')), 'ENOTFOUND');
  assert.deepEqual(await resolver.resolveMx('MAIL.Test'), [{ exchange: 'mx.mail.test', priority: 10 }]);
});

test('the same answers over TCP on the same port', async () => {
  const [host, port] = sandbox.dnsServer.split(':');
  const query = dns2.TCPClient({ dns: host!, port: Number(port) });
  const mx = await query('two.test', 'MX');
  assert.deepEqual(
    mx.answers.map((a) => [a.exchange, a.priority]).sort(),
    [
      ['mx-a.two.test', 10],
      ['mx-b.two.test', 20],
    ],
  );
  const a = await query('implicit.test', 'A');
  assert.deepEqual(
    a.answers.map((r) => r.address),
    [sandbox.hosts['implicit.test']],
  );
  const nx = await query('nowhere.test', 'A');
  assert.equal(nx.header.rcode, 3);
  assert.equal(nx.answers.length, 0);
});
