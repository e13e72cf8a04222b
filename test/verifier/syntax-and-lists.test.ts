import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEmailAddress } from '../../src/engines/verifier/syntax.js';
import { isDisposableDomain, isFreeProviderDomain, isRoleLocalPart, typoSuggestion } from '../../src/engines/verifier/lists.js';

test('accepts ordinary, tagged, quoted and IDN addresses', () => {
  const plain = parseEmailAddress('Pam.Beesly@DunderMifflin.com');
  assert.ok(plain.ok);
  assert.equal(plain.local, 'Pam.Beesly');
  assert.equal(plain.asciiDomain, 'dundermifflin.com');
  assert.equal(plain.address, 'Pam.Beesly@dundermifflin.com');

  assert.ok(parseEmailAddress("o'neil+news@example.org").ok);
  assert.ok(parseEmailAddress('"john doe"@example.org').ok);

  const idn = parseEmailAddress('jose@bücher.example');
  assert.ok(idn.ok);
  assert.equal(idn.asciiDomain, 'xn--bcher-kva.example');
  assert.equal(idn.domain, 'bücher.example');
  assert.equal(idn.utf8Local, false);

  const utf8 = parseEmailAddress('josé@example.org');
  assert.ok(utf8.ok);
  assert.equal(utf8.utf8Local, true);
});

test('rejects malformed addresses with a reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['no-at-sign.example.com', /missing @/],
    ['@example.com', /empty local/],
    ['a..b@example.com', /double dot/],
    ['.a@example.com', /leading/],
    ['a b@example.com', /not allowed unquoted/],
    ['a@localhost', /two labels/],
    ['a@-bad-.example', /label/],
    ['a@exa_mple.com', /label|host name/],
    ['a@[127.0.0.1]', /literals/],
    ['a@example.123', /numeric|host name/],
    ['"unterminated@example.com', /quoted/],
    [`${'x'.repeat(65)}@example.com`, /local part longer than 64/],
    [`a@${'x'.repeat(64)}.com`, /label|host name/],
    [`${'a'.repeat(64)}@${Array(8).fill('b'.repeat(30)).join('.')}.com`, /address longer than 254/],
  ];
  for (const [input, reason] of cases) {
    const r = parseEmailAddress(input);
    assert.equal(r.ok, false, input);
    if (!r.ok) assert.match(r.reason, reason, input);
  }
});

test('list checks: disposable (with subdomains), free providers, role accounts', () => {
  assert.equal(isDisposableDomain('mailinator.com'), true);
  assert.equal(isDisposableDomain('eu.mailinator.com'), true);
  assert.equal(isDisposableDomain('dundermifflin.com'), false);
  assert.equal(isFreeProviderDomain('gmail.com'), true);
  assert.equal(isFreeProviderDomain('dundermifflin.com'), false);
  assert.equal(isRoleLocalPart('Sales+EU'), true);
  assert.equal(isRoleLocalPart('postmaster'), true);
  assert.equal(isRoleLocalPart('pam.beesly'), false);
});

test('typo suggestion for misspelt popular providers only', () => {
  assert.equal(typoSuggestion('john@gmial.com'), 'john@gmail.com');
  assert.equal(typoSuggestion('john@hotmial.com'), 'john@hotmail.com');
  assert.equal(typoSuggestion('john@gmail.com'), undefined);
});

test('no typo suggestion for company domains with unfamiliar TLDs', () => {
  assert.equal(typoSuggestion('pam@dundermifflin.test'), undefined);
  assert.equal(typoSuggestion('x@gmail.con'), 'x@gmail.com');
});

test('half a surrogate pair (valid JSON: "\\ud800") is refused as syntax, and the typo checker does not throw on it', () => {
  // before: the spell checker's encodeURI threw, and the queue retried the item for 30 minutes
  const r = parseEmailAddress('\ud800@deliverable.test');
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /surrogate/);
  assert.equal(typoSuggestion('\udc00x@gmial.com'), undefined);
  assert.ok(parseEmailAddress('jos\u00e9@example.org').ok);
});
