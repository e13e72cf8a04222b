import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryKnowledgeStore } from '../../src/engines/knowledge-memory.js';
import { createPhoneEngine, type PhoneDetails, type PhoneEngineOptions, type PhoneProviderConfig } from '../../src/engines/phone/index.js';
import type { EngineOutcome, PhoneEngine, PhoneQuery, PhoneResult } from '../../src/engines/types.js';
import { hang, json, startVendorServer, type VendorServer } from './vendor-server.js';

const ctx = () => ({ attempt: 1, firstAttemptAt: Date.now() });
const LI = 'https://www.linkedin.com/in/jane-doe';

let vendors: VendorServer;
const engines: PhoneEngine[] = [];

before(async () => {
  vendors = await startVendorServer({
    '/found-mobile-fr': json(200, { data: { phone: '+33 6 12 34 56 78', country: 'FR' } }),
    '/found-us': json(200, { results: [{ number: '+1 570 555 1234' }] }),
    '/national-with-country': json(200, { data: { phone: '06 12 34 56 78', country: 'FR' } }),
    '/national-no-country': json(200, { data: { phone: '01 42 68 53 00' } }),
    '/no-number': json(200, { data: { phone: null } }),
    '/empty-results': json(200, { results: [] }),
    '/invalid-number': json(200, { data: { phone: '12345' } }),
    '/server-error': json(500, { error: 'boom' }),
    '/bad-json': json(200, '{"data": {"phone": '),
    '/hang': hang,
    '/echo-post': (req, res) => {
      const body = JSON.parse(req.body) as { first: string; last: string; domain: string };
      const known = body.first === 'Jane' && body.last === 'Doe' && body.domain === 'acme.fr';
      json(200, { results: known ? [{ number: '+33 1 42 68 53 00' }] : [] })(req, res);
    },
    '/needs-key': (req, res) => {
      if (req.headers.authorization !== 'Bearer k-123') return json(401, { error: 'unauthorized' })(req, res);
      const li = req.query.get('li');
      json(200, { data: { phone: li === LI ? '+33 6 12 34 56 78' : null } })(req, res);
    },
  });
});

after(async () => {
  for (const e of engines) await e.close?.();
  await vendors.close();
});

function provider(name: string, path: string, extra: Partial<PhoneProviderConfig> = {}): PhoneProviderConfig {
  return { name, type: 'http_json', url: `${vendors.baseUrl}${path}?li={linkedin_url}`, number_path: 'data.phone', country_path: 'data.country', ...extra };
}

function engine(opts: Partial<PhoneEngineOptions> & { providers: PhoneProviderConfig[] }): PhoneEngine {
  const e = createPhoneEngine({ knowledge: new MemoryKnowledgeStore(), env: {}, ...opts });
  engines.push(e);
  return e;
}

/** Runs one search and returns its result, asserting the engine gave a final outcome. */
async function find(e: PhoneEngine, query: PhoneQuery): Promise<PhoneResult & { details: PhoneDetails }> {
  const outcome: EngineOutcome<PhoneResult> = await e.findPhone(query, ctx());
  assert.equal(outcome.kind, 'done');
  if (outcome.kind !== 'done') throw new Error('unreachable');
  return outcome.result as PhoneResult & { details: PhoneDetails };
}

/** Requests made to the vendor server by `fn`, by path. */
async function pathsAskedDuring<T>(fn: () => Promise<T>): Promise<{ value: T; paths: string[] }> {
  const start = vendors.requests.length;
  const value = await fn();
  return { value, paths: vendors.requests.slice(start).map((r) => r.path) };
}

const outcomes = (d: PhoneDetails) => d.providers_tried.map((t) => `${t.provider}:${t.outcome}`);

test('directory hit by LinkedIn URL: no provider is asked', async () => {
  const knowledge = new MemoryKnowledgeStore({
    contacts: [{ fullname: 'Jane Doe', company_domain: 'acme.com', linkedin_url: LI, phone: '+1 (570) 555-1234' }],
  });
  const e = engine({ knowledge, providers: [provider('v1', '/found-mobile-fr')] });
  const { value: r, paths } = await pathsAskedDuring(() => find(e, { linkedin_url: 'fr.linkedin.com/in/Jane-Doe/?trk=x' }));
  assert.deepEqual(paths, []);
  assert.equal(r.qualification, 'found');
  assert.equal(r.number, '+15705551234');
  assert.equal(r.country, 'US');
  assert.equal(r.details.status, 'found');
  assert.equal(r.details.provider, 'directory');
  assert.equal(r.details.line_type, 'fixed_line_or_mobile');
  assert.deepEqual(outcomes(r.details), ['directory:found']);
  assert.equal(r.details.linkedin_url, LI);
});

test('directory hit by name + company domain reads a national number in the TLD country', async () => {
  const knowledge = new MemoryKnowledgeStore({
    contacts: [
      { fullname: 'Jane Doe', company_domain: 'other.com', phone: '+1 570 555 1234' },
      { fullname: 'Jane Doe', company_domain: 'acme.fr', phone: '06 12 34 56 78' },
    ],
  });
  const e = engine({ knowledge, providers: [] });
  const r = await find(e, { first_name: 'jane', last_name: 'DOE', company_domain: 'https://www.Acme.fr/' });
  assert.equal(r.number, '+33612345678');
  assert.equal(r.country, 'FR');
  assert.equal(r.details.line_type, 'mobile');
  assert.equal(r.details.company_domain, 'acme.fr');
});

test('a national number with no country anywhere is read in the default country, US', async () => {
  const knowledge = new MemoryKnowledgeStore({ contacts: [{ fullname: 'Jane Doe', company_domain: 'acme.com', phone: '(415) 234-5678' }] });
  const r = await find(engine({ knowledge, providers: [] }), { first_name: 'Jane', last_name: 'Doe', company_domain: 'acme.com' });
  // before, no default applied: a real US number came back not_found
  assert.equal(r.number, '+14152345678');
  assert.equal(r.country, 'US');
});

test('two namesakes at one company with different numbers: the directory cannot say which, the providers are asked', async () => {
  const knowledge = new MemoryKnowledgeStore({
    contacts: [
      { fullname: 'John Smith', company_domain: 'acme.com', phone: '+1 570 555 1234' },
      { fullname: 'John Smith', company_domain: 'acme.com', phone: '+1 570 555 9876' },
    ],
  });
  const withProviders = engine({ knowledge, providers: [provider('v1', '/found-mobile-fr', { url: `${vendors.baseUrl}/found-mobile-fr?n={first_name}` })] });
  const r = await find(withProviders, { first_name: 'John', last_name: 'Smith', company_domain: 'acme.com' });
  // before: whichever row came first, found and charged
  assert.deepEqual(outcomes(r.details), ['directory:ambiguous', 'v1:found']);
  assert.equal(r.number, '+33612345678');
  const alone = await find(engine({ knowledge, providers: [] }), { first_name: 'John', last_name: 'Smith', company_domain: 'acme.com' });
  assert.equal(alone.qualification, 'not_found');
  assert.match(alone.details.reason, /^no single number in the contacts directory \(namesakes\), and no phone providers are configured$/);
  // the same number twice is no ambiguity, and a LinkedIn profile names one person whatever the namesakes
  const same = new MemoryKnowledgeStore({
    contacts: [
      { fullname: 'John Smith', company_domain: 'acme.com', phone: '+1 570 555 1234', linkedin_url: LI },
      { fullname: 'John Smith', company_domain: 'acme.com', phone: '+1 (570) 555-1234' },
      { fullname: 'John Smith', company_domain: 'acme.com', phone: '+1 570 555 9876' },
    ],
  });
  const byProfile = await find(engine({ knowledge: same, providers: [] }), { linkedin_url: LI });
  assert.equal(byProfile.number, '+15705551234');
});

test('the company domain is read as the directory stores it (IDN, www2., a URL), and names in either Unicode form, or without accents, match', async () => {
  const knowledge = new MemoryKnowledgeStore({
    contacts: [
      { fullname: 'Jürgen Müller', company_domain: 'xn--bckerei-mller-bfb28a.de', phone: '+49 30 12345678' },
      { fullname: 'Jane Doe', company_domain: 'acme.no', phone: '+47 22 12 34 56' },
    ],
  });
  const e = engine({ knowledge, providers: [] });
  // before: the raw IDN, www2. and the decomposed name each missed the directory
  const idn = await find(e, { first_name: 'Jürgen'.normalize('NFD'), last_name: 'Müller', company_domain: 'Bäckerei-Müller.de' });
  assert.equal(idn.number, '+493012345678');
  assert.equal(idn.details.company_domain, 'xn--bckerei-mller-bfb28a.de');
  const folded = await find(e, { first_name: 'Jurgen', last_name: 'Muller', company_domain: 'xn--bckerei-mller-bfb28a.de' });
  assert.equal(folded.number, '+493012345678');
  const www2 = await find(e, { first_name: 'Jane', last_name: 'Doe', company_domain: 'https://www2.acme.no/' });
  assert.equal(www2.number, '+4722123456');
});

test('company name is resolved to a domain through the injected resolver before the directory is asked', async () => {
  const knowledge = new MemoryKnowledgeStore({ contacts: [{ fullname: 'Jane Doe', company_domain: 'acme.fr', phone: '+33142685300' }] });
  const asked: [string, string][] = [];
  const e = engine({
    knowledge,
    providers: [],
    defaultCountry: 'FR',
    resolveCompanyDomain: async (name, country) => {
      asked.push([name, country]);
      return name === 'Acme' ? 'acme.fr' : null;
    },
  });
  const r = await find(e, { first_name: 'Jane', last_name: 'Doe', company_name: 'Acme' });
  assert.deepEqual(asked, [['Acme', 'FR']]);
  assert.equal(r.number, '+33142685300');
  assert.equal(r.details.line_type, 'fixed_line');
  assert.equal(r.details.company_domain_resolved, 'acme.fr');
});

test('an invalid directory number is discarded and the providers are asked', async () => {
  const knowledge = new MemoryKnowledgeStore({ contacts: [{ fullname: 'Jane Doe', company_domain: 'acme.com', linkedin_url: LI, phone: '555-12' }] });
  const e = engine({ knowledge, providers: [provider('v1', '/found-mobile-fr')] });
  const r = await find(e, { linkedin_url: LI });
  assert.equal(r.number, '+33612345678');
  assert.deepEqual(outcomes(r.details), ['directory:invalid_number', 'v1:found']);
  assert.equal(r.details.providers_tried[0].value, '555-12');
});

test('a provider on a real HTTP server is hit with its URL template and env-based auth header', async () => {
  const e = engine({
    env: { VENDOR_KEY: 'k-123' },
    providers: [provider('keyed', '/needs-key', { headers: { Authorization: 'Bearer ${VENDOR_KEY}' }, cost: 0.25 })],
  });
  const start = vendors.requests.length;
  const r = await find(e, { linkedin_url: 'https://www.linkedin.com/in/jane-doe/' });
  const req = vendors.requests[start];
  assert.equal(req.path, '/needs-key');
  assert.equal(req.query.get('li'), LI);
  assert.equal(req.headers.authorization, 'Bearer k-123');
  assert.equal(r.qualification, 'found');
  assert.equal(r.number, '+33612345678');
  assert.equal(r.country, 'FR');
  assert.equal(r.details.provider, 'keyed');
  assert.equal(r.details.line_type, 'mobile');
  assert.deepEqual(r.details.providers_tried, [
    { provider: 'directory', outcome: 'no_number' },
    { provider: 'keyed', outcome: 'found', http_status: 200, cost: 0.25 },
  ]);
});

test('providers are asked in configured order and the waterfall stops at the first valid number', async () => {
  const e = engine({
    providers: [
      provider('a-none', '/no-number'),
      provider('b-empty', '/empty-results', { number_path: 'results[0].number' }),
      provider('c-found', '/found-us', { number_path: 'results[0].number', country_path: undefined }),
      provider('d-never', '/found-mobile-fr'),
    ],
  });
  const { value: r, paths } = await pathsAskedDuring(() => find(e, { linkedin_url: LI }));
  assert.deepEqual(paths, ['/no-number', '/empty-results', '/found-us']);
  assert.equal(r.number, '+15705551234');
  assert.equal(r.country, 'US');
  assert.equal(r.details.provider, 'c-found');
  assert.deepEqual(outcomes(r.details), ['directory:no_number', 'a-none:no_number', 'b-empty:no_number', 'c-found:found']);
});

test('a provider that times out is recorded and the next one answers', async () => {
  const e = engine({ providers: [provider('slow', '/hang', { timeout_ms: 150 }), provider('fast', '/found-mobile-fr')] });
  const r = await find(e, { linkedin_url: LI });
  assert.equal(r.number, '+33612345678');
  assert.deepEqual(outcomes(r.details), ['directory:no_number', 'slow:timeout', 'fast:found']);
  assert.match(r.details.providers_tried[1].error ?? '', /no answer within 150 ms/);
});

test('HTTP errors, bad JSON and unreachable providers are recorded and the next one answers', async () => {
  // a port that was just free: connecting to it is refused
  const closed = await startVendorServer({});
  const deadUrl = `${closed.baseUrl}/x?li={linkedin_url}`;
  await closed.close();
  const e = engine({
    providers: [
      provider('err500', '/server-error'),
      provider('garbled', '/bad-json'),
      { ...provider('dead', '/x'), url: deadUrl },
      provider('good', '/found-mobile-fr'),
    ],
  });
  const r = await find(e, { linkedin_url: LI });
  assert.equal(r.qualification, 'found');
  assert.equal(r.details.provider, 'good');
  assert.deepEqual(outcomes(r.details), ['directory:no_number', 'err500:error', 'garbled:error', 'dead:error', 'good:found']);
  const [, err500, garbled, dead] = r.details.providers_tried;
  assert.equal(err500.http_status, 500);
  assert.equal(err500.error, 'HTTP 500');
  assert.equal(garbled.error, 'response is not valid JSON');
  assert.match(dead.error ?? '', /ECONNREFUSED/);
});

test('an invalid number from a provider is discarded and the next provider is used', async () => {
  const e = engine({ providers: [provider('liar', '/invalid-number'), provider('honest', '/found-mobile-fr')] });
  const r = await find(e, { linkedin_url: LI });
  assert.equal(r.number, '+33612345678');
  assert.equal(r.details.provider, 'honest');
  assert.deepEqual(outcomes(r.details), ['directory:no_number', 'liar:invalid_number', 'honest:found']);
  assert.equal(r.details.providers_tried[1].value, '12345');
  assert.match(r.details.providers_tried[1].error ?? '', /not a valid/);
});

test("national numbers are read in the provider's country, else the company domain's country", async () => {
  const e1 = engine({ providers: [provider('fr-vendor', '/national-with-country')] });
  const r1 = await find(e1, { linkedin_url: LI });
  assert.equal(r1.number, '+33612345678');

  const e2 = engine({ providers: [provider('tld', '/national-no-country', { url: `${vendors.baseUrl}/national-no-country?d={company_domain}` })] });
  const r2 = await find(e2, { first_name: 'Jane', last_name: 'Doe', company_domain: 'acme.fr' });
  assert.equal(r2.number, '+33142685300');
  assert.equal(r2.country, 'FR');

  // no country known at all: the national number cannot be read, so it is not "found"
  const r3 = await find(e2, { first_name: 'Jane', last_name: 'Doe', company_domain: 'acme.com' });
  assert.equal(r3.qualification, 'not_found');
  assert.deepEqual(outcomes(r3.details), ['directory:no_number', 'tld:invalid_number']);
});

test('POST providers receive the rendered JSON body; providers lacking an input are skipped', async () => {
  const e = engine({
    providers: [
      provider('li-only', '/found-us'), // needs {linkedin_url}, which a name search does not have
      {
        name: 'by-name',
        type: 'http_json',
        method: 'POST',
        url: `${vendors.baseUrl}/echo-post`,
        body: { first: '{first_name}', last: '{last_name}', domain: '{company_domain}' },
        number_path: 'results[0].number',
      },
    ],
  });
  const start = vendors.requests.length;
  const r = await find(e, { first_name: 'Jane', last_name: 'Doe', company_domain: 'acme.fr' });
  assert.deepEqual(vendors.paths().slice(start), ['/echo-post']);
  assert.equal(vendors.requests[start].method, 'POST');
  assert.equal(vendors.requests[start].headers['content-type'], 'application/json');
  assert.equal(r.number, '+33142685300');
  assert.deepEqual(outcomes(r.details), ['directory:no_number', 'li-only:skipped', 'by-name:found']);
  assert.equal(r.details.providers_tried[1].error, 'search has no linkedin_url');
});

test('not found when every source answered without a number', async () => {
  const e = engine({ providers: [provider('a', '/no-number'), provider('b', '/invalid-number')] });
  const r = await find(e, { linkedin_url: LI });
  assert.deepEqual({ number: r.number, country: r.country, qualification: r.qualification }, { number: null, country: null, qualification: 'not_found' });
  assert.equal(r.details.status, 'not_found');
  assert.equal(r.details.provider, null);
  assert.equal(r.details.line_type, null);
  assert.deepEqual(outcomes(r.details), ['directory:no_number', 'a:no_number', 'b:invalid_number']);
  assert.match(r.details.reason, /2 provider\(s\) that answered/);
});

test('every provider failed: asked again later, then unknown (not a confirmed not_found) once the retry window is over', async () => {
  const e = engine({ providers: [provider('a', '/server-error'), provider('b', '/bad-json')], retryWindowMs: 60_000, random: () => 0 });
  // before: a final not_found at once, refunded and never asked again
  const first = await e.findPhone({ linkedin_url: LI }, { attempt: 1, firstAttemptAt: Date.now() });
  assert.equal(first.kind, 'retry');
  if (first.kind !== 'retry') return;
  assert.equal(first.delayMs, 5_000);
  assert.equal(first.details.status, 'unknown');
  assert.match(first.details.reason, /every provider asked failed/);
  const second = await e.findPhone({ linkedin_url: LI }, { attempt: 2, firstAttemptAt: Date.now() - 10_000 });
  assert.equal(second.kind === 'retry' && second.delayMs, 30_000);
  // the window is over: final, undetermined
  const last = await e.findPhone({ linkedin_url: LI }, { attempt: 3, firstAttemptAt: Date.now() - 59_000 });
  assert.equal(last.kind, 'done');
  if (last.kind !== 'done') return;
  assert.equal(last.result.qualification, 'not_found');
  assert.equal(last.result.number, null);
  const details = last.result.details as PhoneDetails;
  assert.equal(details.status, 'unknown');
  assert.match(details.reason, /not confirmed; still so after 1 min of retries$/);
  assert.deepEqual(outcomes(details), ['directory:no_number', 'a:error', 'b:error']);
});

test('one provider said no number while another failed: a not_found (the one that answered had none)', async () => {
  const e = engine({ providers: [provider('a', '/server-error'), provider('b', '/no-number')] });
  const r = await find(e, { linkedin_url: LI });
  assert.equal(r.details.status, 'not_found');
  assert.match(r.details.reason, /1 provider\(s\) that answered; 1 provider\(s\) failed/);
});

test('the only provider over its local rate limit: asked again once its bucket has refilled', async () => {
  let now = 0;
  const e = engine({ now: () => now, random: () => 0, providers: [provider('limited', '/found-mobile-fr', { rate_limit_per_sec: 2 })] });
  assert.equal((await find(e, { linkedin_url: LI })).details.provider, 'limited');
  assert.equal((await find(e, { linkedin_url: LI })).details.provider, 'limited');
  now += 100;
  const third = await e.findPhone({ linkedin_url: LI }, ctx());
  // before: a final not_found, although the vendor knows the number
  assert.equal(third.kind, 'retry');
  assert.equal(third.kind === 'retry' && third.delayMs, 400);
  assert.deepEqual(third.kind === 'retry' && outcomes(third.details as PhoneDetails), ['directory:no_number', 'limited:rate_limited']);
  // more searches turned away meanwhile are each given the next slot, one token's time apart (before: all
  // of them came back within a second, to be turned away again)
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    const o = await e.findPhone({ linkedin_url: LI }, ctx());
    delays.push(o.kind === 'retry' ? o.delayMs : -1);
  }
  assert.deepEqual(delays, [900, 1400, 1900]);
  // the first slot has come: its token is kept for the search that waited for it (it comes back a little
  // late), not taken by a search arriving fresh (before: the fresh one took it, the waiting one was turned
  // away again, and could be so until its window closed)
  now += 450;
  const fresh = await e.findPhone({ linkedin_url: LI }, ctx());
  assert.equal(fresh.kind, 'retry');
  const back = await e.findPhone({ linkedin_url: LI }, { attempt: 2, firstAttemptAt: Date.now() });
  assert.equal(back.kind === 'done' && (back.result.details as PhoneDetails).provider, 'limited');
});

test("a search is timed by the rate limit of the provider that turned it away, not by another's", async () => {
  let now = 0;
  const e = engine({
    now: () => now,
    random: () => 0,
    providers: [
      provider('by-profile', '/found-mobile-fr', { rate_limit_per_sec: 1 }),
      // asks for names only: a LinkedIn-only search skips it
      provider('by-name', '/echo-post', { method: 'POST', body: { first: '{first_name}', last: '{last_name}', domain: '{company_domain}' }, number_path: 'results[0].number', rate_limit_per_sec: 100 }),
    ],
  });
  assert.equal((await find(e, { linkedin_url: LI })).details.provider, 'by-profile');
  const turned = await e.findPhone({ linkedin_url: LI }, ctx());
  // before: 0 ms, the free slot of the name provider it never asked
  assert.equal(turned.kind === 'retry' && turned.delayMs, 1000);
  assert.deepEqual(turned.kind === 'retry' && outcomes(turned.details as PhoneDetails), ['directory:no_number', 'by-profile:rate_limited', 'by-name:skipped']);
});

test('not found without providers configured, and for unusable input', async () => {
  const e = engine({ providers: [] });
  const r = await find(e, { linkedin_url: LI });
  assert.equal(r.qualification, 'not_found');
  assert.match(r.details.reason, /no phone providers are configured/);
  const bad = await find(e, { linkedin_url: 'https://www.linkedin.com/company/acme' });
  assert.match(bad.details.reason, /invalid linkedin_url/);
  assert.deepEqual(bad.details.providers_tried, []);
  const missing = await find(e, { first_name: 'Jane', last_name: 'Doe' });
  assert.match(missing.details.reason, /missing input/);
});

test('a rate-limited provider is skipped (recorded), not waited for', async () => {
  let now = 0;
  const e = engine({
    now: () => now,
    providers: [provider('limited', '/found-mobile-fr', { rate_limit_per_sec: 1 }), provider('backup', '/found-us', { number_path: 'results[0].number' })],
  });
  const first = await find(e, { linkedin_url: LI });
  assert.equal(first.details.provider, 'limited');
  const { value: second, paths } = await pathsAskedDuring(() => find(e, { linkedin_url: LI }));
  assert.deepEqual(paths, ['/found-us']);
  assert.equal(second.details.provider, 'backup');
  assert.equal(second.number, '+15705551234');
  assert.deepEqual(outcomes(second.details), ['directory:no_number', 'limited:rate_limited', 'backup:found']);
  now += 1000; // a second later the bucket has refilled
  const third = await find(e, { linkedin_url: LI });
  assert.equal(third.details.provider, 'limited');
});

test('a failing store is an engine error, never "not found"', async () => {
  class BrokenStore extends MemoryKnowledgeStore {
    override async findContactByLinkedin(): Promise<undefined> {
      throw new Error('database is locked');
    }
  }
  const e = engine({ knowledge: new BrokenStore(), providers: [provider('v1', '/found-mobile-fr')] });
  await assert.rejects(e.findPhone({ linkedin_url: LI }, ctx()), /database is locked/);
});

test("the caller's abort (worker shutdown) stops the search instead of recording a result", async () => {
  const e = engine({ providers: [provider('slow', '/hang', { timeout_ms: 60_000 })] });
  const controller = new AbortController();
  const running = e.findPhone({ linkedin_url: LI }, { ...ctx(), signal: controller.signal });
  // abort once the vendor has the request in hand
  const start = vendors.requests.length;
  while (vendors.requests.length === start) await new Promise((r) => setImmediate(r));
  controller.abort(new Error('shutting down'));
  await assert.rejects(running, /shutting down/);
});
