import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CsvImportError, genderOf, parseCompaniesCsv, parseContactsCsv, parseContactsCsvReport } from '../../src/engines/finder/index.js';

test('contacts CSV: header in any case and order, quoted fields, BOM, domains normalised', () => {
  const text = '\uFEFFEmail,FullName,Company_Domain,Phone,LinkedIn_URL\n' +
    'dwight.schrute@dundermifflin.com,Dwight Schrute,https://www.DunderMifflin.com,+15705551234,https://linkedin.com/in/dwight\n' +
    '"",\"Beesly, Pam\",dundermifflin.com,,\n\n';
  assert.deepEqual(parseContactsCsv(text), [
    { fullname: 'Dwight Schrute', company_domain: 'dundermifflin.com', email: 'dwight.schrute@dundermifflin.com', phone: '+15705551234', linkedin_url: 'https://linkedin.com/in/dwight' },
    { fullname: 'Beesly, Pam', company_domain: 'dundermifflin.com', email: null, phone: null, linkedin_url: null },
  ]);
});

test('contacts CSV: bad rows are reported with their line numbers', () => {
  const text = 'fullname,company_domain,email\nAnn Lee,acme.com,ann@acme.com\n,acme.com,\nBob Roe,not a domain,\nCy Doe,acme.com,nope\n';
  const r = parseContactsCsvReport(text);
  assert.equal(r.rows.length, 1);
  assert.deepEqual(r.errors.map((e) => e.line), [3, 4, 5]);
  assert.throws(() => parseContactsCsv(text), (e: unknown) => e instanceof CsvImportError && e.errors.length === 3 && /line 3/.test(e.message));
});

test('companies CSV: aliases split on | or ;, country upper-cased or null', () => {
  const text = 'name,country,domain,aliases\nDunder Mifflin,us,dundermifflin.com,DM|Dunder Mifflin Paper; DMI\nAcme,,ACME.test,\n';
  assert.deepEqual(parseCompaniesCsv(text), [
    { name: 'Dunder Mifflin', country: 'US', domain: 'dundermifflin.com', aliases: ['DM', 'Dunder Mifflin Paper', 'DMI'] },
    { name: 'Acme', country: null, domain: 'acme.test', aliases: [] },
  ]);
  assert.throws(() => parseCompaniesCsv('name,country,domain\nX,USA,x.com\n'), CsvImportError);
  assert.throws(() => parseCompaniesCsv('name,country,domain\nX,US,\n'), CsvImportError);
});

test('gender from the country’s name list, else only when every list agrees', () => {
  assert.equal(genderOf('Dwight'), 'male');
  assert.equal(genderOf('Mary'), 'female');
  // a compound name not in the lists is read by its first part: Jean is a man's name in English
  assert.equal(genderOf('Jean-Pierre', 'US'), 'male');
  assert.equal(genderOf('Andrea'), undefined, 'female in English, male in Italian');
  assert.equal(genderOf('Andrea', 'US'), 'female');
  assert.equal(genderOf('Andrea', 'it'), 'male');
  // the package's French list calls these female: it is not read
  // (it lists most names under both genders, the female entry last: its Map keeps that one)
  for (const name of ['Michael', 'Robert', 'Thomas', 'Daniel', 'Paul', 'Kevin', 'Pierre', 'Jacques']) assert.equal(genderOf(name), 'male', name);
  assert.equal(genderOf('Gilles', 'US'), undefined, 'in the French list only, read through getGender’s fallback before');
  assert.equal(genderOf('Michael', 'FR'), 'male', 'a country without a list of its own: every list agrees');
  assert.equal(genderOf('Alex'), undefined);
  assert.equal(genderOf('Zzyzx'), undefined);
  assert.equal(genderOf(''), undefined);
});
