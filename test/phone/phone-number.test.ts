import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNumber, countryOfDomain } from '../../src/engines/phone/phone-number.js';
import { parseJsonPath, readJsonPath } from '../../src/engines/phone/json-path.js';
import { TokenBucket } from '../../src/engines/phone/rate-limit.js';
import { MissingTemplateValueError, renderBody, renderUrl } from '../../src/engines/phone/template.js';

test('international numbers are returned as E.164 with their country and line type', () => {
  assert.deepEqual(checkNumber('+33 6 12 34 56 78'), { valid: true, number: { e164: '+33612345678', country: 'FR', line_type: 'mobile' } });
  assert.deepEqual(checkNumber('+1 (570) 555-1234'), { valid: true, number: { e164: '+15705551234', country: 'US', line_type: 'fixed_line_or_mobile' } });
  assert.deepEqual(checkNumber('+1 604 555 5555'), { valid: true, number: { e164: '+16045555555', country: 'CA', line_type: 'fixed_line_or_mobile' } });
});

test('national numbers need a default country to be read', () => {
  assert.deepEqual(checkNumber('01 42 68 53 00', 'FR'), { valid: true, number: { e164: '+33142685300', country: 'FR', line_type: 'fixed_line' } });
  assert.equal(checkNumber('01 42 68 53 00').valid, false);
  assert.equal(checkNumber('(570) 555-1234', 'US').valid, true);
});

test('digits-only E.164 without the plus sign and numeric JSON values are understood', () => {
  const a = checkNumber('33612345678');
  assert.equal(a.valid && a.number.e164, '+33612345678');
  const b = checkNumber(33612345678);
  assert.equal(b.valid && b.number.e164, '+33612345678');
  // a national number stays national when a default country is known
  const c = checkNumber('0612345678', 'FR');
  assert.equal(c.valid && c.number.e164, '+33612345678');
});

test('invalid values are refused with a reason', () => {
  for (const bad of ['12345', '+33 1 23', 'call me maybe', '', '+999 123 456 789', null, {}, ['+33612345678'], true, 1.5, -3]) {
    const r = checkNumber(bad, 'US');
    assert.equal(r.valid, false, JSON.stringify(bad));
    assert.ok(!r.valid && r.reason.length > 0);
  }
});

test('a number inside other text, a non-geographic number and a premium-rate line are not a person\'s phone', () => {
  // before: all three came back valid ("found"), the first two with the number picked out of the text
  for (const [bad, reason] of [
    ['+15705551234abc', /holds other text/],
    ['unknown, try +1 570 555 1234', /holds other text/],
    ['+800 1234 5678', /non-geographic/],
    ['+1 900 555 0123', /premium-rate/],
  ] as const) {
    const r = checkNumber(bad, 'US');
    assert.equal(r.valid, false, bad);
    assert.match(!r.valid ? r.reason : '', reason, bad);
  }
  // the usual punctuation and an extension are still numbers
  for (const ok of ['+1 (570) 555-1234', '+1.570.555.1234', '+1 570 555 1234 ext. 12', '+1 570/555 1234 x12']) assert.equal(checkNumber(ok, 'US').valid, true, ok);
  // and the usual other spellings: tel: URIs, Unicode dashes, RFC 3966 extensions, invisible marks
  for (const ok of ['tel:+15705551234', '+1 570\u2013555\u20131234', '+1 570 555 1234;ext=12', '\u200e+1 570 555 1234\u200e']) {
    const r = checkNumber(ok, 'US');
    assert.equal(r.valid && r.number.e164, '+15705551234', ok);
  }
});

test('company domain TLDs give a country, generic and vanity TLDs do not', () => {
  assert.equal(countryOfDomain('acme.fr'), 'FR');
  assert.equal(countryOfDomain('acme.co.uk'), 'GB');
  assert.equal(countryOfDomain('ACME.DE.'), 'DE');
  assert.equal(countryOfDomain('acme.com'), undefined);
  assert.equal(countryOfDomain('acme.io'), undefined);
  assert.equal(countryOfDomain('acme.ai'), undefined);
  assert.equal(countryOfDomain('fr'), undefined);
  assert.equal(countryOfDomain(undefined), undefined);
});

test('JSON paths read nested fields and array items, and refuse malformed paths', () => {
  const doc = { data: { phone: '+1', list: [{ number: 'a' }, { number: 'b' }], 'phone-number': 'x' }, results: [{ n: 1 }] };
  assert.equal(readJsonPath(doc, parseJsonPath('data.phone')), '+1');
  assert.equal(readJsonPath(doc, parseJsonPath('data.list[1].number')), 'b');
  assert.equal(readJsonPath(doc, parseJsonPath('data["phone-number"]')), 'x');
  assert.equal(readJsonPath(doc, parseJsonPath('results[0].n')), 1);
  assert.equal(readJsonPath([{ phone: 'p' }], parseJsonPath('[0].phone')), 'p');
  assert.equal(readJsonPath(doc, parseJsonPath('data.missing.deeper')), undefined);
  assert.equal(readJsonPath(doc, parseJsonPath('data.list.number')), undefined);
  assert.equal(readJsonPath(doc, parseJsonPath('data.toString')), undefined);
  for (const bad of ['', '.data', 'data..phone', 'data.', 'data[x]', 'data[0]phone', 'data phone']) {
    assert.throws(() => parseJsonPath(bad), Error, bad);
  }
});

test('token bucket: bursts up to its rate, then refuses until time refills it', () => {
  let now = 0;
  const bucket = new TokenBucket(2, () => now);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  now += 499;
  assert.equal(bucket.tryTake(), false);
  now += 1;
  assert.equal(bucket.tryTake(), true);
  now += 60_000; // never more than the burst capacity
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  assert.throws(() => new TokenBucket(0));
});

test('templates URL-encode search values in URLs, keep them raw in bodies, and read the environment', () => {
  const values = { linkedin_url: 'https://www.linkedin.com/in/a-b', first_name: 'Zoë & co' };
  assert.equal(
    renderUrl('http://h/x?u={linkedin_url}&n={first_name}&k=${KEY}', values, { KEY: 'a/b' }),
    'http://h/x?u=https%3A%2F%2Fwww.linkedin.com%2Fin%2Fa-b&n=Zo%C3%AB%20%26%20co&k=a%2Fb',
  );
  assert.deepEqual(renderBody({ q: { url: '{linkedin_url}' }, list: ['{first_name}', 3] }, values, {}), {
    q: { url: 'https://www.linkedin.com/in/a-b' },
    list: ['Zoë & co', 3],
  });
  assert.throws(() => renderUrl('http://h/{last_name}', values, {}), MissingTemplateValueError);
});
