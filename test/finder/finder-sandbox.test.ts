// The finder against the sandbox world: real DNS and SMTP servers on loopback, the real verifier.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DomainSpec, World } from '../../src/sandbox/index.js';
import { PATTERNS, parseContactsCsv, parseCompaniesCsv } from '../../src/engines/finder/index.js';
import { finished, startFinderWorld, type FinderWorld } from './finder-world.js';

/** every pattern on its own domain, so that nothing learnt on one helps another */
const PATTERN_PEOPLE: Record<string, { fullname: string; local: string }> = {
  'first.last': { fullname: 'Dwight Schrute', local: 'dwight.schrute' },
  first: { fullname: 'Dwight Schrute', local: 'dwight' },
  flast: { fullname: 'Dwight Schrute', local: 'dschrute' },
  'f.last': { fullname: 'Dwight Schrute', local: 'd.schrute' },
  firstlast: { fullname: 'Dwight Schrute', local: 'dwightschrute' },
  firstl: { fullname: 'Dwight Schrute', local: 'dwights' },
  first_last: { fullname: 'Dwight Schrute', local: 'dwight_schrute' },
  last: { fullname: 'Dwight Schrute', local: 'schrute' },
  'first-last': { fullname: 'Dwight Schrute', local: 'dwight-schrute' },
  'last.first': { fullname: 'Dwight Schrute', local: 'schrute.dwight' },
  lastfirst: { fullname: 'Dwight Schrute', local: 'schrutedwight' },
  lastf: { fullname: 'Dwight Schrute', local: 'schruted' },
  'l.first': { fullname: 'Dwight Schrute', local: 's.dwight' },
  fl: { fullname: 'Dwight Schrute', local: 'ds' },
  'first.m.last': { fullname: 'Dwight K. Schrute', local: 'dwight.k.schrute' },
  last_first: { fullname: 'Dwight Schrute', local: 'schrute_dwight' },
  'last.f': { fullname: 'Dwight Schrute', local: 'schrute.d' },
  'first.l': { fullname: 'Dwight Schrute', local: 'dwight.s' },
};
const patternDomain = (p: string) => `p-${p.replace(/\./g, 'dot').replace(/_/g, 'us').replace(/-/g, 'hy')}.test`;

/** names that need transliteration, particles, hyphens or double surnames */
const HARD_NAMES: Array<{ fullname: string; local: string; country_code?: string }> = [
  { fullname: 'José Álvarez', local: 'jose.alvarez' },
  { fullname: 'Jean-Pierre van der Berg', local: 'jeanpierre.vanderberg' },
  { fullname: 'Gabriel García Márquez', local: 'gabriel.garcia', country_code: 'ES' },
  { fullname: 'Lucía Fernández López', local: 'lfernandezlopez' },
  { fullname: 'Jürgen Müller', local: 'juergen.mueller' },
  { fullname: "Seán O'Neil", local: 'soneil' },
  { fullname: 'Дмитрий Иванов', local: 'dmitriy.ivanov' },
  { fullname: 'Ahmed al-Rashid', local: 'ahmed.rashid' },
  { fullname: 'Maria de la Cruz', local: 'mdelacruz' },
  { fullname: 'Søren Strauß', local: 'soren.strauss' },
  { fullname: 'Łukasz Żółw', local: 'lukasz.zolw' },
  { fullname: 'Ana Smith-Jones', local: 'ana.smith-jones' },
  { fullname: 'Dr. Mary Jane Watson PhD', local: 'mary.watson' },
];
const hardDomain = (i: number) => `hard${i}.test`;

const DECOYS = ['info', 'sales', 'jim.halpert', 'pam.beesly'];
const domains: Record<string, DomainSpec> = {};
for (const [p, who] of Object.entries(PATTERN_PEOPLE)) domains[patternDomain(p)] = { mailboxes: [who.local, ...DECOYS] };
HARD_NAMES.forEach((h, i) => (domains[hardDomain(i)] = { mailboxes: [h.local, ...DECOYS] }));
Object.assign(domains, {
  'learn.test': { mailboxes: ['halpertj', 'beeslyp', 'scottm', 'info', 'sales'] },
  'nobody.test': { mailboxes: DECOYS },
  'nomail.test': { mx: 'null' },
  'ca-none.test': { catch_all: true },
  'ca-pattern.test': { catch_all: true },
  'ca-two.test': { catch_all: true },
  'ca-person.test': { catch_all: true },
  'ca-mixed.test': { catch_all: true },
  'dundermifflin.test': { mailboxes: ['dwight.schrute', ...DECOYS] },
  'acme.test': { mailboxes: ['wcoyote'] },
  'grey.test': { greylist_seconds: 0.4, mailboxes: ['dschrute', ...DECOYS] },
  'blocked.test': { policy_block: true, mailboxes: ['dwight.schrute'] },
} satisfies Record<string, DomainSpec>);
const WORLD: World = { domains };

// Directory imports go through the CSV parsers the `openrow import` commands use.
const CONTACTS = parseContactsCsv(
  [
    'fullname,company_domain,email',
    'Kelly Kapoor,ca-pattern.test,k.kapoor@ca-pattern.test',
    'Ryan Howard,ca-pattern.test,r.howard@ca-pattern.test',
    'Toby Flenderson,ca-pattern.test,t.flenderson@ca-pattern.test',
    'Kelly Kapoor,ca-two.test,k.kapoor@ca-two.test',
    'Ryan Howard,ca-two.test,r.howard@ca-two.test',
    'Nora Quinn,ca-person.test,nq@ca-person.test',
    'Kelly Kapoor,ca-mixed.test,k.kapoor@ca-mixed.test',
    'Ryan Howard,ca-mixed.test,r.howard@ca-mixed.test',
    'Toby Flenderson,ca-mixed.test,t.flenderson@ca-mixed.test',
    'Oscar Martinez,ca-mixed.test,oscar.martinez@ca-mixed.test',
    'Angela Martin,ca-mixed.test,angela.martin@ca-mixed.test',
  ].join('\n'),
);
const COMPANIES = parseCompaniesCsv('name,country,domain,aliases\nDunder Mifflin,US,https://www.dundermifflin.test,DM Paper|Dunder Mifflin Paper Company\n');

let w: FinderWorld;
before(async () => {
  w = await startFinderWorld(WORLD, { contacts: CONTACTS, companies: COMPANIES });
});
after(() => w.close());

test(`a mailbox following each of the ${PATTERNS.length} patterns is found, with the pattern named`, async () => {
  for (const [pattern, who] of Object.entries(PATTERN_PEOPLE)) {
    const domain = patternDomain(pattern);
    const before = w.rcpts();
    const r = finished(await w.find({ fullname: who.fullname, company_domain: domain }));
    assert.equal(r.email, `${who.local}@${domain}`, pattern);
    assert.equal(r.qualification, 'valid');
    assert.equal(r.details.status, 'found');
    assert.equal(r.details.pattern, pattern);
    // one RCPT per probe, plus the verifier's single catch-all probe for the new domain
    assert.equal(w.rcpts() - before, (r.details.probes as number) + 1, pattern);
  }
  assert.equal(Object.keys(PATTERN_PEOPLE).length, PATTERNS.length);
});

test('names with diacritics, particles, hyphens and double surnames are found', async () => {
  for (const [i, h] of HARD_NAMES.entries()) {
    const r = finished(await w.find({ fullname: h.fullname, company_domain: hardDomain(i), country_code: h.country_code ?? 'US' }));
    assert.equal(r.email, `${h.local}@${hardDomain(i)}`, h.fullname);
    assert.equal(r.info.fullname, h.fullname, 'original spelling kept');
  }
  const r = finished(await w.find({ fullname: 'Дмитрий Иванов', company_domain: hardDomain(6) }));
  assert.deepEqual([r.info.firstname, r.info.lastname], ['Дмитрий', 'Иванов']);
});

test('a proven address teaches the domain its pattern: the next person costs one probe', async () => {
  const first = finished(await w.find({ fullname: 'Jim Halpert', company_domain: 'learn.test' }));
  assert.equal(first.email, 'halpertj@learn.test');
  assert.ok((first.details.probes as number) > 5, 'lastf is far down the prior');
  assert.deepEqual(await w.knowledge.patternStats('learn.test'), { lastf: 1 });
  assert.equal((await w.knowledge.findContactByEmail('halpertj@learn.test'))?.fullname, 'Jim Halpert');

  const before = w.rcpts();
  const second = finished(await w.find({ fullname: 'Pam Beesly', company_domain: 'learn.test' }));
  assert.equal(second.email, 'beeslyp@learn.test');
  assert.equal(second.details.probes, 1);
  assert.equal(w.rcpts() - before, 1, 'one RCPT, on the pooled session, catch-all verdict cached');
  assert.deepEqual(await w.knowledge.patternStats('learn.test'), { lastf: 2 });
});

test('a person with no mailbox is invalid after every candidate was rejected', async () => {
  const before = w.rcpts();
  const r = finished(await w.find({ fullname: 'Oscar Nobody', company_domain: 'nobody.test' }));
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.email, null);
  assert.equal(r.details.status, 'not_found');
  assert.equal((r.details.rejected as string[]).length, r.details.probes);
  assert.equal(w.rcpts() - before, (r.details.probes as number) + 1);
  assert.deepEqual(await w.knowledge.patternStats('nobody.test'), {});
});

test('a domain that accepts no mail is invalid without any SMTP probe', async () => {
  const before = w.rcpts();
  const r = finished(await w.find({ fullname: 'Dwight Schrute', company_domain: 'nomail.test' }));
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'not_found');
  assert.match(r.details.reason, /null MX/);
  assert.equal(w.rcpts(), before);
});

test('catch-all domain with no evidence: invalid + catch_all, after a single probe', async () => {
  const r = finished(await w.find({ fullname: 'Nora Quinn', company_domain: 'ca-none.test' }));
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.email, null);
  assert.equal(r.details.status, 'catch_all');
  assert.equal(r.details.catch_all, true);
  assert.equal(r.details.probes, 1);
});

test('catch-all domain whose pattern three directory entries prove: valid, evidence named', async () => {
  const r = finished(await w.find({ fullname: 'Nora Quinn', company_domain: 'ca-pattern.test' }));
  assert.equal(r.qualification, 'valid');
  assert.equal(r.email, 'n.quinn@ca-pattern.test');
  assert.equal(r.details.status, 'catch_all');
  assert.deepEqual(r.details.evidence, { type: 'pattern', pattern: 'f.last', confirmations: 3, threshold: 3 });
  assert.equal(r.details.probes, 1);
  // an unproven answer teaches nothing: the evidence stays independent
  assert.deepEqual(await w.knowledge.patternStats('ca-pattern.test'), {});
});

test('catch-all domain: two confirmations are below the threshold, a split pattern is no evidence', async () => {
  const two = finished(await w.find({ fullname: 'Nora Quinn', company_domain: 'ca-two.test' }));
  assert.equal(two.qualification, 'invalid');
  assert.equal(two.details.status, 'catch_all');
  assert.match(two.details.reason, /2 confirmation\(s\), fewer than 3/);
  const mixed = finished(await w.find({ fullname: 'Nora Quinn', company_domain: 'ca-mixed.test' }));
  assert.equal(mixed.qualification, 'invalid', 'f.last 3 vs first.last 2: no pattern dominates');
  assert.match(mixed.details.reason, /no single pattern dominates/);
});

test('catch-all domain, the person is in the contacts directory: valid with that evidence', async () => {
  const r = finished(await w.find({ fullname: 'Nora Quinn', company_domain: 'ca-person.test' }));
  assert.equal(r.qualification, 'valid');
  assert.equal(r.email, 'nq@ca-person.test');
  assert.deepEqual(r.details.evidence, { type: 'contacts_directory', email: 'nq@ca-person.test' });
});

test('company_name resolves through the company directory (by alias) and through the DNS heuristic', async () => {
  const byAlias = finished(await w.find({ fullname: 'Dwight Schrute', company_name: 'DM Paper' }));
  assert.equal(byAlias.email, 'dwight.schrute@dundermifflin.test');
  assert.equal(byAlias.details.domain_source, 'company_directory');
  assert.equal(byAlias.info.company_domain, 'dundermifflin.test');
  const bySuffixless = finished(await w.find({ fullname: 'Dwight Schrute', company_name: 'Dunder Mifflin, Inc.' }));
  assert.equal(bySuffixless.details.domain_source, 'company_directory');

  const byDns = finished(await w.find({ fullname: 'Wile E. Coyote', company_name: 'Acme Inc' }));
  assert.equal(byDns.email, 'wcoyote@acme.test');
  assert.equal(byDns.details.domain_source, 'dns_heuristic');

  const none = finished(await w.find({ fullname: 'Wile E. Coyote', company_name: 'Nowhere Widgets Ltd' }));
  assert.equal(none.qualification, 'invalid');
  assert.equal(none.details.status, 'unknown');
  assert.deepEqual(none.details.domains_tried, ['nowherewidgets.test', 'nowhere-widgets.test']);
});

test('company_domain in URL form; gender only on request, read for the person’s country', async () => {
  const r = finished(await w.find({ first_name: 'Dwight', last_name: 'Schrute', company_domain: 'https://www.DunderMifflin.test/about', retrieve_gender: true }));
  assert.equal(r.email, 'dwight.schrute@dundermifflin.test');
  assert.deepEqual(r.info, { fullname: 'Dwight Schrute', firstname: 'Dwight', lastname: 'Schrute', company_domain: 'dundermifflin.test', gender: 'male' });
  const noGender = finished(await w.find({ fullname: 'Dwight Schrute', company_domain: 'dundermifflin.test' }));
  assert.equal(noGender.info.gender, undefined);
  // Andrea: a woman's name in the US (the default country), a man's in Italy
  const us = finished(await w.find({ fullname: 'Andrea Schrute', company_domain: 'dundermifflin.test', retrieve_gender: true }));
  assert.equal(us.info.gender, 'female');
  const it = finished(await w.find({ fullname: 'Andrea Schrute', company_domain: 'dundermifflin.test', retrieve_gender: true, country_code: 'IT' }));
  assert.equal(it.info.gender, 'male');
  const unknown = finished(await w.find({ fullname: 'Zzyzx Schrute', company_domain: 'dundermifflin.test', retrieve_gender: true }));
  assert.equal(unknown.info.gender, undefined);
});

test('greylisting: the first run asks for a retry having started every clock, the re-run finds', async () => {
  const first = await w.find({ fullname: 'Dwight Schrute', company_domain: 'grey.test' });
  assert.equal(first.kind, 'retry');
  assert.equal(first.details.greylisted, true);
  assert.ok((first.details.probes as number) > 3);
  await sleep(600); // the world's greylisting window is 0.4 s from each pair's first attempt
  const again = finished(await w.find({ fullname: 'Dwight Schrute', company_domain: 'grey.test' }, 2));
  assert.equal(again.email, 'dschrute@grey.test');
  assert.equal(again.details.probes, 3);
});

test('a server that blocks us says nothing: unknown, no further probes', async () => {
  const r = finished(await w.find({ fullname: 'Dwight Schrute', company_domain: 'blocked.test' }));
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'unknown');
  assert.equal(r.details.probes, 1);
});

test('a webmail domain proves nothing about a person: unknown, no DNS or SMTP spent', async () => {
  const before = w.rcpts();
  const r = finished(await w.find({ fullname: 'Dwight Schrute', company_domain: 'gmail.com' }));
  assert.equal(r.qualification, 'invalid');
  assert.equal(r.details.status, 'unknown');
  assert.match(r.details.reason, /free email provider/);
  assert.equal(r.details.probes, 0);
  assert.equal(w.rcpts(), before);
});

test("catch-all domain: a colleague's directory address is never this person's (Kelly Kapoor's k.kapoor@ for Kim Kapoor)", async () => {
  const cw = await startFinderWorld(
    { domains: { 'ca-namesake.test': { catch_all: true } } },
    { contacts: [{ fullname: 'Kelly Kapoor', company_domain: 'ca-namesake.test', email: 'k.kapoor@ca-namesake.test', phone: null, linkedin_url: null }] },
  );
  try {
    const r = finished(await cw.find({ fullname: 'Kim Kapoor', company_domain: 'ca-namesake.test' }));
    // before: k.kapoor@ came back valid, "this person's address in the contacts directory"
    assert.equal(r.qualification, 'invalid');
    assert.equal(r.details.status, 'catch_all');
    assert.equal(r.details.evidence, undefined);
  } finally {
    await cw.close();
  }
});

test("a full mailbox is this person's, not a reason to try the next pattern (Jane Doe's full jane.doe@ against John's jdoe@)", async () => {
  const fw = await startFinderWorld({ domains: { 'full-mailbox.test': { mailboxes: ['jdoe', 'info'], full: ['jane.doe'] } } });
  try {
    const r = finished(await fw.find({ fullname: 'Jane Doe', company_domain: 'full-mailbox.test' }));
    // before: jane.doe@ counted as rejected, and jdoe@ (John Doe's) came back valid as hers
    assert.equal(r.email, null);
    assert.equal(r.qualification, 'invalid');
    assert.equal(r.details.status, 'mailbox_full');
    assert.match(r.details.reason, /^jane\.doe@full-mailbox\.test exists but its mailbox is full/);
    assert.equal(r.details.probes, 1);
  } finally {
    await fw.close();
  }
});
