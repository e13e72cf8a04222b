// SSRF protection. Request time: the URL alone. Connect time: every resolved address, IP literals, and the
// peer actually reached. Names are served by a tiny dns2 server on loopback; the only connections opened
// go to loopback, and every other blocked range goes through the decision functions without connecting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dns2 from 'dns2';
import { checkWebhookUrl, createGuardedAgent, resolveChecked, makeResolver, BlockedAddressError, type ResolvedAddress } from '../../src/webhooks/ssrf.js';
import { parseCidrList } from '../../src/net/address-policy.js';
import { harness, receiver, sharedCertificates, statusOf, waitFor } from './harness.js';
import type { HttpsReceiver } from '../support/https-receiver.js';

const { Packet } = dns2;
const ZONE: Record<string, { a?: string[]; aaaa?: string[] }> = {
  'hooks.test': { a: ['127.0.0.1'] },
  // hex form: dns2 cannot encode a dotted-quad tail in AAAA data
  'mapped.test': { aaaa: ['::ffff:7f00:1'] },
  'metadata.test': { a: ['169.254.169.254'] },
  'mixed.test': { a: ['93.184.216.34', '10.0.0.7'] },
  'public.test': { a: ['93.184.216.34'], aaaa: ['2606:2800:220:1:248:1893:25c8:1946'] },
};
let dnsServer: ReturnType<typeof dns2.createServer>;
let dnsAddr: string;

before(async () => {
  dnsServer = dns2.createServer({
    udp: true,
    handle(request, send) {
      const response = Packet.createResponseFromRequest(request);
      for (const q of request.questions as Array<{ name: string; type: number }>) {
        const rec = ZONE[q.name.toLowerCase()];
        if (!rec) {
          (response.header as { rcode?: number }).rcode = 3; // NXDOMAIN
          continue;
        }
        const list = q.type === Packet.TYPE.A ? rec.a : q.type === Packet.TYPE.AAAA ? rec.aaaa : undefined;
        for (const address of list ?? []) response.answers.push({ name: q.name, type: q.type, class: Packet.CLASS.IN, ttl: 60, address } as (typeof response.answers)[number]);
      }
      send(response);
    },
  });
  dnsServer.on('requestError', () => {});
  const addrs = (await dnsServer.listen({ udp: { port: 0, address: '127.0.0.1' } } as never)) as unknown as { udp: { port: number } };
  dnsAddr = `127.0.0.1:${addrs.udp.port}`;
});

after(async () => {
  await dnsServer.close();
});

test('request time: only https URLs without credentials and not pointing at a blocked IP literal', () => {
  const allow = parseCidrList([]);
  const rejected: Array<[string, RegExp]> = [
    ['http://hooks.example.com/x', /only https/],
    ['ftp://hooks.example.com/x', /only https/],
    ['https://user:pass@hooks.example.com/x', /credentials/],
    ['https://user@hooks.example.com/x', /credentials/],
    ['not a url', /absolute URL/],
    ['/relative/path', /absolute URL/],
    ['https://127.0.0.1/x', /loopback/],
    ['https://[::1]/x', /loopback/],
    ['https://[::ffff:127.0.0.1]/x', /IPv4-mapped → loopback/],
    ['https://169.254.169.254/latest/meta-data', /cloud metadata/],
    ['https://10.0.0.1/x', /RFC 1918/],
    ['https://0x7f.1/x', /loopback/], // the URL parser normalises legacy forms to 127.0.0.1
    ['https://2130706433/x', /loopback/],
    ['https://[fd00::1]/x', /unique local/],
    ['https://[64:ff9b::a9fe:a9fe]/x', /NAT64 → link-local/],
    // names that always mean this machine (RFC 6761), whatever DNS says
    ['https://localhost/x', /localhost names/],
    ['https://LOCALHOST.:8443/x', /localhost names/],
    ['https://api.localhost/x', /localhost names/],
  ];
  for (const [url, why] of rejected) {
    const v = checkWebhookUrl(url, allow);
    assert.equal(v.ok, false, url);
    assert.match(!v.ok ? v.reason : '', why, url);
  }
  for (const url of ['https://hooks.example.com/x?y=1', 'https://93.184.216.34:8443/x', 'https://[2606:4700::1111]/']) {
    assert.equal(checkWebhookUrl(url, allow).ok, true, url);
  }
  assert.equal(checkWebhookUrl('https://127.0.0.1:9/x', parseCidrList('127.0.0.0/8')).ok, true);
  // an operator who allows loopback (local development) may use localhost names too
  assert.equal(checkWebhookUrl('https://localhost:9/x', parseCidrList('127.0.0.0/8')).ok, true);
  assert.equal(checkWebhookUrl('https://notlocalhost.example/x', allow).ok, true);
});

test('request time: a blocked URL fails its delivery without any connection', async () => {
  const h = harness({ allowCidrs: [] });
  try {
    const d = h.enqueue('https://[::ffff:127.0.0.1]:1/hook');
    await waitFor(() => statusOf(h, d.id) === 'failed', 'failed');
    const [a] = h.store.attemptLog(d.id);
    assert.equal(a!.errorKind, 'invalid_url');
    assert.match(a!.error!, /IPv4-mapped → loopback/);
  } finally {
    await h.close();
  }
});

test('connect time: a name resolving to loopback outside the allowed ranges is refused before connecting', async () => {
  const r = await receiver();
  const blocked = harness({ allowCidrs: [], dnsServers: [dnsAddr], retry: { schedule: '0s' } });
  const allowed = harness({ allowCidrs: '127.0.0.0/8', dnsServers: [dnsAddr], retry: { schedule: '0s' } });
  try {
    const url = `https://hooks.test:${r.port}/hook`;
    const d = blocked.enqueue(url);
    await waitFor(() => statusOf(blocked, d.id) === 'failed', 'blocked delivery finished');
    const [a] = blocked.store.attemptLog(d.id);
    assert.equal(a!.errorKind, 'blocked');
    assert.match(a!.error!, /hooks\.test resolves to an address webhooks may not be sent to/);
    // the delivery log is the tenant's to read: it does not tell which internal address the name has
    assert.doesNotMatch(a!.error!, /127\.0\.0\.1|loopback/);
    assert.equal(r.requests.length, 0);
    // control: the same name through the same DNS server, with loopback allowed, is delivered
    const ok = allowed.enqueue(url);
    await waitFor(() => statusOf(allowed, ok.id) === 'succeeded', 'allowed delivery');
    assert.equal(r.requests.length, 1);
    assert.equal(r.requests[0]!.headers.host, `hooks.test:${r.port}`);
  } finally {
    await blocked.close();
    await allowed.close();
    await r.close();
  }
});

test('connect time: names resolving to IPv4-mapped loopback or cloud metadata are refused', async () => {
  const resolveAll = makeResolver([dnsAddr]);
  for (const [name, why] of [['mapped.test', /IPv4-mapped → loopback/], ['metadata.test', /cloud metadata/], ['mixed.test', /10\.0\.0\.7.*RFC 1918/]] as const) {
    await assert.rejects(resolveChecked(name, [], resolveAll), (e: Error) => e instanceof BlockedAddressError && why.test(e.detail ?? ''), name);
  }
  // every address must pass: the public one of mixed.test does not make it acceptable; a fully public name does
  assert.deepEqual(
    (await resolveChecked('public.test', [], resolveAll)).map((a) => a.address).sort(),
    ['2606:2800:220:1:248:1893:25c8:1946', '93.184.216.34'],
  );
  await assert.rejects(resolveChecked('nowhere.test', [], resolveAll), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
});

test('connect time: the guarded agent refuses IP-literal hosts the lookup hook never sees', async () => {
  const r = await receiver();
  const agent = createGuardedAgent({ allow: [], ca: sharedCertificates().caPem });
  try {
    for (const origin of [`https://[::ffff:127.0.0.1]:${r.port}`, `https://127.0.0.1:${r.port}`, `https://[::1]:${r.port}`]) {
      await assert.rejects(
        agent.request({ origin, path: '/hook', method: 'POST', body: '{}' }),
        (e: Error & { code?: string }) => e.code === 'ERR_OPENROW_BLOCKED_ADDRESS' && /refusing to connect/.test(e.message),
        origin,
      );
    }
    assert.equal(r.requests.length, 0);
  } finally {
    await agent.destroy();
    await r.close();
  }
});

test('a redirect to a blocked address is never followed', async () => {
  const r: HttpsReceiver = await receiver();
  const h = harness({ retry: { schedule: '0s' } });
  try {
    r.setBehaviour(() => ({ status: 302, headers: { location: 'https://169.254.169.254/latest/meta-data/' } }));
    const d = h.enqueue(r.url);
    await waitFor(() => statusOf(h, d.id) === 'failed', 'failed');
    assert.equal(r.requests.length, 1);
    const log = h.store.attemptLog(d.id);
    assert.equal(log.length, 1);
    assert.equal(log[0]!.statusCode, 302);
    assert.match(log[0]!.error!, /redirect \(302\) not followed/);
  } finally {
    await h.close();
    await r.close();
  }
});

test('every blocked range is refused by both decision points, without connecting', async () => {
  const samples = ['0.0.0.0', '10.9.8.7', '100.64.1.1', '127.0.0.1', '169.254.169.254', '172.20.0.1', '192.168.0.10', '192.0.2.1',
    '198.51.100.1', '203.0.113.1', '198.18.5.5', '224.0.0.1', '240.1.2.3', '255.255.255.255', '::', '::1', 'fc00::1', 'fe80::1',
    'ff02::1', '2001:db8::1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '2002:a00:1::1', '64:ff9b::c0a8:1', '2001:0:4136:e378:8000:63bf:80ff:fffe'];
  for (const ip of samples) {
    const host = ip.includes(':') ? `[${ip}]` : ip;
    assert.equal(checkWebhookUrl(`https://${host}/hook`, []).ok, false, `request time ${ip}`);
    // connect time: a name whose only address is this one (resolution stubbed as data, nothing is sent)
    const resolveAll = async (): Promise<ResolvedAddress[]> => [{ address: ip, family: ip.includes(':') ? 6 : 4 }];
    await assert.rejects(resolveChecked('example.invalid', [], resolveAll), BlockedAddressError, `connect time ${ip}`);
  }
});
