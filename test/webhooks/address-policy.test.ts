// The address policy decides on strings alone: nothing here opens a connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAddress, classifyAddress, isAllowedAddress, parseCidrList } from '../../src/net/address-policy.js';

const BLOCKED: Array<[string, string]> = [
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.1.2.3', 'private (RFC 1918)'],
  ['172.16.0.1', 'private (RFC 1918)'],
  ['172.31.255.255', 'private (RFC 1918)'],
  ['192.168.1.1', 'private (RFC 1918)'],
  ['169.254.169.254', 'link-local (cloud metadata)'],
  ['169.254.1.1', 'link-local'],
  ['100.64.0.1', 'CGNAT'],
  ['100.127.255.255', 'CGNAT'],
  ['0.0.0.0', 'unspecified (0/8)'],
  ['0.1.2.3', 'unspecified (0/8)'],
  ['240.0.0.1', 'reserved (240/4)'],
  ['255.255.255.255', 'broadcast'],
  ['224.0.0.251', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['192.0.2.10', 'documentation'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.9', 'documentation'],
  ['198.18.0.1', 'benchmarking'],
  ['192.0.0.8', 'IETF protocol assignments'],
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['::', 'unspecified'],
  ['fc00::1', 'unique local (fc00::/7)'],
  ['fd12:3456::1', 'unique local (fc00::/7)'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['ff02::1', 'multicast'],
  ['2001:db8::1', 'documentation'],
  ['::ffff:127.0.0.1', 'IPv4-mapped → loopback'],
  ['::ffff:7f00:1', 'IPv4-mapped → loopback'],
  ['::ffff:169.254.169.254', 'IPv4-mapped → link-local (cloud metadata)'],
  ['::ffff:10.0.0.1', 'IPv4-mapped → private (RFC 1918)'],
  ['2002:7f00:1::', '6to4 → loopback'],
  ['2002:c0a8:101::1', '6to4 → private (RFC 1918)'],
  ['64:ff9b::7f00:1', 'NAT64 → loopback'],
  ['64:ff9b::a9fe:a9fe', 'NAT64 → link-local (cloud metadata)'],
  ['64:ff9b:1::1', 'NAT64 local-use'],
  // Teredo: client 127.0.0.1 stored bit-inverted as 80ff:fffe
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo → loopback'],
  ['::127.0.0.1', 'IPv4-compatible (deprecated)'],
  ['fec0::1', 'site-local (deprecated)'],
  ['4000::1', 'not global unicast (outside 2000::/3)'],
  ['127.1', 'not an IP address'],
  ['0x7f000001', 'not an IP address'],
  ['localhost', 'not an IP address'],
  ['', 'not an IP address'],
];

const PUBLIC = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111',
  '2a00:1450:4007:80e::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2001:0:4136:e378:8000:63bf:f7f7:f7f7'];

test('every blocked range is recognised and named', () => {
  for (const [ip, range] of BLOCKED) {
    assert.deepEqual(classifyAddress(ip), { blocked: true, range }, ip);
    const verdict = checkAddress(ip, []);
    assert.equal(verdict.ok, false, ip);
  }
});

test('public unicast addresses, direct or wrapped, pass', () => {
  for (const ip of PUBLIC) {
    assert.deepEqual(classifyAddress(ip), { blocked: false }, ip);
    assert.deepEqual(checkAddress(ip, []), { ok: true }, ip);
  }
});

test('the rejection reason names the address and the range', () => {
  const v = checkAddress('169.254.169.254', []);
  assert.equal(v.ok, false);
  assert.match(!v.ok ? v.reason : '', /169\.254\.169\.254.*cloud metadata/);
});

test('allowed ranges let blocked addresses through, including IPv4-mapped forms', () => {
  const allow = parseCidrList('127.0.0.0/8, ::1/128');
  assert.equal(isAllowedAddress('127.0.0.1', allow), true);
  assert.equal(isAllowedAddress('::ffff:127.0.0.1', allow), true);
  assert.equal(isAllowedAddress('::1', allow), true);
  assert.equal(isAllowedAddress('10.0.0.1', allow), false);
  assert.deepEqual(checkAddress('::ffff:127.0.0.5', allow), { ok: true });
  assert.equal(checkAddress('10.0.0.1', allow).ok, false);
  // an IPv6-mapped allow entry matches the plain IPv4 form too
  const mapped = parseCidrList(['::ffff:10.0.0.0/104']);
  assert.equal(isAllowedAddress('10.2.3.4', mapped), true);
  assert.equal(isAllowedAddress('11.2.3.4', mapped), false);
});

test('parseCidrList accepts lists, arrays, single hosts and nothing', () => {
  assert.deepEqual(parseCidrList(undefined), []);
  assert.deepEqual(parseCidrList(''), []);
  const l = parseCidrList(['10.0.0.0/8', '::1', '192.168.0.1']);
  assert.deepEqual(l.map(([ip, bits]) => `${ip.toString()}/${bits}`), ['10.0.0.0/8', '::1/128', '192.168.0.1/32']);
});

test('parseCidrList rejects bad input with a message naming the entry', () => {
  for (const bad of ['10.0.0/8', '10.0.0.0/33', '::1/129', 'localhost', '10.0.0.0/8/1', '127.1/8', '1.2.3.4/x']) {
    assert.throws(() => parseCidrList(bad), (e: Error) => e.message.includes(`"${bad}"`), bad);
  }
});
