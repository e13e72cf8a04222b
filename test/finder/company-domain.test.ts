import { test } from 'node:test';
import assert from 'node:assert/strict';
import { companyDomainGuesses, companyNameWords, normalizeCompanyDomain, tldsForCountry } from '../../src/engines/finder/index.js';

test('company_domain forms of API.md normalise to the bare domain', () => {
  for (const input of ['acme.com', 'www.acme.com', 'https://www.acme.com/about', 'ACME.COM', 'http://Acme.com:8080/x?y=1#z', 'acme.com.', ' jane@acme.com ']) {
    assert.equal(normalizeCompanyDomain(input), 'acme.com', input);
  }
  assert.equal(normalizeCompanyDomain('münchen.de'), 'xn--mnchen-3ya.de');
  assert.equal(normalizeCompanyDomain('https://www.Bücher.example/'), 'xn--bcher-kva.example');
  assert.equal(normalizeCompanyDomain('shop.acme.co.uk'), 'shop.acme.co.uk');
});

test('things that are not domains are refused', () => {
  for (const input of ['', 'acme', 'localhost', '1.2.3.4', 'http://[::1]/', 'acme..com', 'acme.123', '-acme.com', 'a b.com']) {
    assert.equal(normalizeCompanyDomain(input), null, input);
  }
});

test('legal suffixes are stripped from the end of company names', () => {
  assert.deepEqual(companyNameWords('Acme Inc'), ['acme']);
  assert.deepEqual(companyNameWords('Acme, Inc.'), ['acme']);
  assert.deepEqual(companyNameWords('Siemens AG'), ['siemens']);
  assert.deepEqual(companyNameWords('Müller Bau GmbH & Co. KG'), ['muller', 'bau']);
  assert.deepEqual(companyNameWords('Société Générale SA'), ['societe', 'generale']);
  assert.deepEqual(companyNameWords('Philips N.V.'), ['philips']);
  assert.deepEqual(companyNameWords('Co'), ['co'], 'a name is never emptied');
});

test('domain guesses: joined and hyphenated slugs on the given TLDs, in order', () => {
  assert.deepEqual(companyDomainGuesses('Acme Inc', ['test']), ['acme.test']);
  assert.deepEqual(companyDomainGuesses('Dunder Mifflin LLC', ['fr', 'com']), ['dundermifflin.fr', 'dunder-mifflin.fr', 'dundermifflin.com', 'dunder-mifflin.com']);
  assert.deepEqual(companyDomainGuesses('Ernst & Young', ['com']), ['ernstandyoung.com', 'ernst-and-young.com', 'ernstyoung.com', 'ernst-young.com']);
  assert.deepEqual(companyDomainGuesses('!!!', ['com']), []);
});

test('country TLDs, .com always included', () => {
  assert.deepEqual(tldsForCountry('US'), ['com']);
  assert.deepEqual(tldsForCountry(undefined), ['com']);
  assert.deepEqual(tldsForCountry('fr'), ['fr', 'com']);
  assert.deepEqual(tldsForCountry('GB'), ['co.uk', 'com', 'uk']);
});
