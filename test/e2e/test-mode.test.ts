// Test mode (issue 3): a test key runs every product against the built-in sandbox world started in
// process, spends the test balance, and delivers webhooks like a live key; its engines can reach
// nothing but the sandbox.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call, startTestOpenrow, waitFor, type TestOpenrow } from '../support/openrow.js';
import { startHttpsReceiver, type HttpsReceiver } from '../support/https-receiver.js';
import { Webhook } from 'standardwebhooks';

describe('test mode against the built-in sandbox world', () => {
  let o: TestOpenrow;
  let rx: HttpsReceiver;
  let key: string;
  let testKey: string;

  before(async () => {
    rx = await startHttpsReceiver();
    o = await startTestOpenrow('sqlite', { webhookCa: rx.caPem, env: { OPENROW_WEBHOOK_ALLOW_CIDRS: '127.0.0.1/32', OPENROW_RATE_LIMIT_PER_SEC: '1000' } });
    ({ key, testKey } = await o.newAccount(5));
  });
  after(async () => {
    await o?.close();
    await rx.close();
  });

  async function result(path: string, id: string, k = testKey) {
    return waitFor(async () => {
      const r = await call(o.url, 'GET', `${path}?id=${id}`, { key: k });
      const done = r.status === 200 && (r.body.qualification !== 'ongoing' && r.body.general?.status !== 'ongoing');
      return done ? r.body : null;
    }, 60_000, 50);
  }

  it('verifies the documented addresses', async () => {
    const cases: Array<[string, string, string]> = [
      ['valid@deliverable.test', 'valid', 'deliverable'],
      ['nobody@undeliverable.test', 'invalid', 'undeliverable'],
      ['anyone@catchall.test', 'invalid', 'catch_all'],
      ['someone@disposable.test', 'invalid', 'disposable'],
      ['andy.bernard@greylist.test', 'valid', 'deliverable'],
      ['someone@nullmx.test', 'invalid', 'undeliverable'],
      ['pam@not-in-the-world.com', 'invalid', 'undeliverable'],
      // echoed as sent (trimmed before), verified without the spaces
      [' valid@deliverable.test ', 'valid', 'deliverable'],
    ];
    const ids = await Promise.all(cases.map(async ([email]) => (await call(o.url, 'POST', '/email/verify/single', { key: testKey, body: { email } })).body.id));
    for (let i = 0; i < cases.length; i++) {
      const body = await result('/email/verify/single', ids[i]);
      assert.equal(body.qualification, cases[i]![1], `${cases[i]![0]}: ${JSON.stringify(body.details)}`);
      assert.equal(body.details.status, cases[i]![2], cases[i]![0]);
      assert.equal(body.email, cases[i]![0]);
      // API.md's single result lists custom: sent without one, the key is there, null
      assert.ok('custom' in body && body.custom === null, JSON.stringify(body));
    }
    const greylisted = await result('/email/verify/single', ids[4]);
    assert.ok(greylisted.details.attempts >= 2 || greylisted.details.greylisted, 'the greylisted address was retried through the queue');
  });

  it('finds emails with several patterns, and answers not found with a refund', async () => {
    const people = [
      { fullname: 'Michael Scott', company_domain: 'acme.test', email: 'michael.scott@acme.test' },
      { fullname: 'Homer Simpson', company_name: 'Globex', email: 'hsimpson@globex.test' },
      { fullname: 'Peter Gibbons', company_domain: 'initech.test', email: 'peter@initech.test' },
      { fullname: 'José García', company_domain: 'acme.test', email: 'jose.garcia@acme.test' },
      { fullname: 'Toby Flenderson', company_domain: 'undeliverable.test', email: null },
    ];
    const post = await call(o.url, 'POST', '/email/find/bulk', { key: testKey, body: { searches: people.map(({ email: _e, ...p }) => p), settings: { webhook: rx.url } } });
    assert.equal(post.status, 201, post.text);
    const body = await result('/email/find/bulk', post.body.id);
    assert.deepEqual(body.results.map((r: { email: string | null }) => r.email), people.map((p) => p.email));
    assert.deepEqual(body.stats, { finished: 5, requested: 5, valid: 4, credits_cost: { initial: 5, refunded: 1, final: 4 } });
    assert.equal(body.results[3].info.fullname, 'José García', 'original spelling kept');
    const hook = await waitFor(async () => rx.requests.find((r) => JSON.parse(r.body).id === post.body.id), 20_000);
    // a test search's webhook says it is one
    assert.deepEqual(JSON.parse(hook.body), { event: 'bulk_search_finished', id: post.body.id, credits: { cost: 4 }, mode: 'test' });
    // signed with the test-mode secret only: a receiver checking the live one refuses it
    const headers = { 'webhook-id': String(hook.headers['webhook-id']), 'webhook-timestamp': String(hook.headers['webhook-timestamp']), 'webhook-signature': String(hook.headers['webhook-signature']) };
    assert.match(headers['webhook-id'], /^msg_test_/);
    const testSecret = (await call(o.url, 'GET', '/webhooks/secret', { key: testKey })).body.secret;
    const liveSecret = (await call(o.url, 'GET', '/webhooks/secret', { key })).body.secret;
    assert.doesNotThrow(() => new Webhook(testSecret).verify(hook.body, headers));
    assert.throws(() => new Webhook(liveSecret).verify(hook.body, headers));
  });

  it('echoes raw_params as sent, custom cut out of the text rather than the item parsed and serialized again', async () => {
    const raw = '{"searches":[{"fullname":"Michael Scott", "company_domain":"acme.test","big":12345678901234567890123,"f":1.50,"custom":{"n":1.0}}]}';
    const post = await call(o.url, 'POST', '/email/find/bulk', { key: testKey, raw });
    assert.equal(post.status, 201, post.text);
    await result('/email/find/bulk', post.body.id);
    const get = await call(o.url, 'GET', `/email/find/bulk?id=${post.body.id}`, { key: testKey });
    // before: "big":1.2345678901234568e+22,"f":1.5
    assert.ok(get.text.includes('"raw_params":{"fullname":"Michael Scott","company_domain":"acme.test","big":12345678901234567890123,"f":1.50}'), get.text);
    assert.ok(get.text.includes('"custom":{"n":1.0}'), get.text);
  });

  it('returns a batch’s own custom with its results and in its webhook, for every product', async () => {
    const posts: Array<[string, Record<string, unknown>]> = [
      ['/email/find/bulk', { searches: [{ fullname: 'Michael Scott', company_domain: 'acme.test' }] }],
      ['/email/verify/bulk', { emails: ['valid@deliverable.test'] }],
      ['/phone/bulk', { searches: [{ linkedin_url: 'https://www.linkedin.com/in/michael-scott-sandbox' }] }],
    ];
    for (const [path, body] of posts) {
      // byte for byte: the spacing and the 1.50 survive
      const raw = JSON.stringify({ ...body, settings: { webhook: rx.url } }).replace(/}$/, ', "custom": {"batch" : 1.50}}');
      const post = await call(o.url, 'POST', path, { key: testKey, raw });
      assert.equal(post.status, 201, post.text);
      const done = await result(path, post.body.id);
      const got = await call(o.url, 'GET', `${path}?id=${post.body.id}`, { key: testKey });
      assert.ok(got.text.includes('"custom":{"batch" : 1.50}'), got.text);
      assert.deepEqual(done.custom, { batch: 1.5 });
      const hook = await waitFor(async () => rx.requests.find((r) => JSON.parse(r.body).id === post.body.id), 20_000);
      assert.ok(hook.body.endsWith(',"custom":{"batch" : 1.50},"mode":"test"}'), hook.body);
    }
  });

  it('answers null company_domain when the company cannot be resolved, and gender by the person’s country', async () => {
    const post = await call(o.url, 'POST', '/email/find/single', {
      key: testKey,
      body: { fullname: 'Michael Scott', company_name: 'Nonexistent Corporation Nowhere', settings: { retrieve_gender: true } },
    });
    assert.equal(post.status, 200, post.text);
    const body = await result('/email/find/single', post.body.id);
    assert.equal(body.qualification, 'invalid');
    assert.deepEqual(body.info, { company_domain: null, fullname: 'Michael Scott', firstname: 'Michael', lastname: 'Scott', gender: 'male' });
  });

  it('keeps test searches away from the live global webhook URL and its health', async () => {
    const acct = await o.newAccount(5);
    assert.equal((await call(o.url, 'PUT', '/account/webhook', { key: acct.key, body: { url: rx.url } })).status, 200);
    // a test key sees the test side only
    const info = await call(o.url, 'GET', '/account/info', { key: acct.testKey });
    assert.deepEqual(info.body, { credits: 1_000_000, webhooks: [], balances: { test: 1_000_000 }, mode: 'test' });
    // a test search naming no URL sends nothing: the global URL receives live results only
    const quiet = await call(o.url, 'POST', '/email/verify/single', { key: acct.testKey, body: { email: 'valid@deliverable.test' } });
    await result('/email/verify/single', quiet.body.id, acct.testKey);
    // one naming the live URL itself is delivered, marked as a test; its 410 leaves the live URL alone
    rx.setBehaviour(() => ({ status: 410 }));
    try {
      const named = await call(o.url, 'POST', '/email/verify/single', { key: acct.testKey, body: { email: 'valid@deliverable.test', settings: { webhook: rx.url } } });
      const hook = await waitFor(async () => rx.requests.find((r) => JSON.parse(r.body).id === named.body.id), 20_000);
      assert.equal(JSON.parse(hook.body).mode, 'test');
      await waitFor(async () => (await call(o.url, 'GET', `/webhooks/deliveries?search_id=${named.body.id}`, { key: acct.testKey })).body.data[0]?.status === 'failed');
    } finally {
      rx.setBehaviour(() => undefined);
    }
    assert.equal(rx.requests.filter((r) => JSON.parse(r.body).id === quiet.body.id).length, 0);
    assert.deepEqual((await call(o.url, 'GET', `/webhooks/deliveries?search_id=${quiet.body.id}`, { key: acct.testKey })).body.data, []);
    const live = await call(o.url, 'GET', '/account/info', { key: acct.key });
    assert.deepEqual(live.body.webhooks, [rx.url], 'the live URL is still enabled');
    assert.equal(live.body.webhook_disabled, undefined);
  });

  it('finds the phone of a documented LinkedIn profile', async () => {
    const post = await call(o.url, 'POST', '/phone/single', { key: testKey, body: { linkedin_url: 'https://fr.linkedin.com/in/michael-scott-sandbox/' } });
    const body = await result('/phone/single', post.body.id);
    assert.equal(body.qualification, 'found');
    assert.equal(body.number, '+15705551234');
    assert.equal(body.country, 'US');
  });

  it('spends only the test balance', async () => {
    const info = await call(o.url, 'GET', '/account/info', { key });
    assert.equal(info.body.credits, 5, 'the live balance is untouched by test searches');
    const test = await call(o.url, 'GET', '/account/info', { key: testKey });
    assert.ok(test.body.credits < 1_000_000);
  });

  it('never routes a live key to the sandbox', async () => {
    // The live engines resolve through OPENROW_DNS_SERVERS (here a loopback port nothing answers), so
    // the sandbox's names mean nothing to them: no live answer can come from the sandbox world.
    const post = await call(o.url, 'POST', '/email/verify/single', { key, body: { email: 'valid@deliverable.test' } });
    await new Promise((r) => setTimeout(r, 1500));
    const r = await call(o.url, 'GET', `/email/verify/single?id=${post.body.id}`, { key });
    assert.notEqual(r.body.qualification, 'valid');
    if (r.status === 200) assert.notEqual(r.body.details.status, 'deliverable');
  });
});
