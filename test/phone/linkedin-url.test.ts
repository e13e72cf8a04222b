import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeLinkedinUrl } from '../../src/engines/phone/index.js';

const CANON = 'https://www.linkedin.com/in/john-doe-42';

const accepted: [string, string][] = [
  ['https://www.linkedin.com/in/john-doe-42', CANON],
  ['http://www.linkedin.com/in/john-doe-42', CANON],
  ['https://linkedin.com/in/john-doe-42', CANON],
  ['www.linkedin.com/in/john-doe-42', CANON],
  ['linkedin.com/in/john-doe-42', CANON],
  ['//www.linkedin.com/in/john-doe-42', CANON],
  ['https://fr.linkedin.com/in/john-doe-42', CANON],
  ['https://uk.linkedin.com/in/john-doe-42/', CANON],
  ['https://m.linkedin.com/in/john-doe-42', CANON],
  ['https://www.linkedin.com/in/john-doe-42/', CANON],
  ['https://www.linkedin.com/in/john-doe-42?trk=public_profile&originalSubdomain=fr', CANON],
  ['https://www.linkedin.com/in/john-doe-42/#experience', CANON],
  ['HTTPS://WWW.LINKEDIN.COM/IN/John-Doe-42', CANON],
  ['  https://www.linkedin.com/in/john-doe-42  ', CANON],
  ['https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa', 'https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa'],
  ['https://www.linkedin.com/in/José-García', 'https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa'],
  ['https://www.linkedin.com/in/JOS%C3%89-GARC%C3%8DA', 'https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa'],
  ['https://www.linkedin.com/in/jane_doe_1', 'https://www.linkedin.com/in/jane_doe_1'],
];

const rejected: string[] = [
  '',
  '   ',
  'john-doe-42',
  'https://www.linkedin.com/company/acme',
  'https://www.linkedin.com/company/acme/',
  'https://www.linkedin.com/posts/john-doe-42_activity-7012345678901234567-abcd',
  'https://www.linkedin.com/feed/update/urn:li:activity:7012345678901234567/',
  'https://www.linkedin.com/pub/john-doe/12/345/678',
  'https://www.linkedin.com/school/mit/',
  'https://www.linkedin.com/in/',
  'https://www.linkedin.com/in/john-doe-42/details/experience/',
  'https://www.linkedin.com/in//john-doe-42',
  'https://www.linkedin.com/in/ab',
  'https://www.linkedin.com/in/john%ZZdoe',
  'https://www.linkedin.com/in/john.doe',
  'https://evil.com/in/john-doe-42',
  'https://linkedin.com.evil.com/in/john-doe-42',
  'https://evillinkedin.com/in/john-doe-42',
  'https://www.linkedin.com@evil.com/in/john-doe-42',
  'https://user:pw@www.linkedin.com/in/john-doe-42',
  'https://www.linkedin.com:8443/in/john-doe-42',
  'https://sub.fr.linkedin.com/in/john-doe-42',
  'ftp://www.linkedin.com/in/john-doe-42',
  'javascript:alert(1)//linkedin.com/in/john-doe-42',
  'https://lnkd.in/abc123',
];

test('accepted LinkedIn profile URLs normalise to one canonical form', () => {
  assert.ok(accepted.length >= 15);
  for (const [input, expected] of accepted) {
    assert.equal(normalizeLinkedinUrl(input), expected, `input: ${JSON.stringify(input)}`);
  }
});

test('company pages, posts, old /pub/ forms, sub-pages and other hosts are refused', () => {
  assert.ok(rejected.length >= 15);
  for (const input of rejected) {
    assert.equal(normalizeLinkedinUrl(input), null, `input: ${JSON.stringify(input)}`);
  }
});

test('normalisation is idempotent', () => {
  for (const [, expected] of accepted) assert.equal(normalizeLinkedinUrl(expected), expected);
});

test('non-string input is refused rather than thrown on', () => {
  assert.equal(normalizeLinkedinUrl(undefined as unknown as string), null);
  assert.equal(normalizeLinkedinUrl(42 as unknown as string), null);
});

test('control characters are refused (the URL parser would drop them and key another profile); member ids keep their case', () => {
  // before: jane\tdoe became the profile janedoe
  for (const input of ['https://www.linkedin.com/in/jane\tdoe', 'linkedin.com/in/jane\ndoe', 'linkedin.com/in/jane-doe\u0000']) {
    assert.equal(normalizeLinkedinUrl(input), null, JSON.stringify(input));
  }
  const member = 'ACoAAAbCdEfGhIjKlMnOpQrStUvWxYz0123456';
  assert.equal(normalizeLinkedinUrl(`https://www.linkedin.com/in/${member}`), `https://www.linkedin.com/in/${member}`);
  assert.equal(normalizeLinkedinUrl('https://www.linkedin.com/in/Jane-Doe'), 'https://www.linkedin.com/in/jane-doe');
});
