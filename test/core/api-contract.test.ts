// The HTTP contract of API.md, against the real server on a loopback port, on SQLite and PostgreSQL.
// Engines are left out here (items stay queued: `ongoing`); completion is covered by queue and engine tests.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, call, startTestOpenrow, type TestOpenrow } from '../support/openrow.js';
import { revokeApiKey, createApiKey } from '../../src/store/accounts.js';
import { isLocalScrape } from '../../src/api/routes/metrics.js';

const NO_ENGINES = { live: {}, test: {} };

for (const backend of BACKENDS) {
  describe(`API contract (${backend})`, () => {
    let o: TestOpenrow;
    let key: string;
    let accountId: string;
    before(async () => {
      o = await startTestOpenrow(backend, { engines: NO_ENGINES, env: { OPENROW_RATE_LIMIT_PER_SEC: '1000' } });
      ({ key, accountId } = await o.newAccount(1000));
    });
    after(async () => o?.close());

    async function traces(acct = accountId) {
      const db = o.store.db;
      const [s, l, a] = await Promise.all([
        db.selectFrom('searches').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', acct).executeTakeFirstOrThrow(),
        db.selectFrom('ledger').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', acct).executeTakeFirstOrThrow(),
        db.selectFrom('accounts').select(['sub_cents', 'paygo_cents']).where('id', '=', acct).executeTakeFirstOrThrow(),
      ]);
      return { searches: Number(s.n), ledger: Number(l.n), sub: a.sub_cents, paygo: a.paygo_cents };
    }

    async function expectError(method: string, path: string, opts: Parameters<typeof call>[3], status: number, message: string) {
      const before = await traces();
      const r = await call(o.url, method, path, opts);
      assert.equal(r.status, status, `${path}: ${r.text}`);
      assert.deepEqual(r.body, { message });
      assert.deepEqual(await traces(), before, 'a refused request leaves no trace');
    }

    it('authenticates with x-api-key', async () => {
      await expectError('GET', '/account/info', {}, 401, 'No apikey found in the x-api-key headers');
      await expectError('GET', '/account/info', { key: 'or_live_nope' }, 401, 'This apikey is not valid');
      await expectError('POST', '/email/verify/single', { body: { email: 'a@b.test' } }, 401, 'No apikey found in the x-api-key headers');
      const extra = await createApiKey(o.store, accountId, { mode: 'live' });
      assert.equal((await call(o.url, 'GET', '/account/info', { key: extra.apiKey })).status, 200);
      // a printed prefix shared by two keys (of any accounts) revokes neither: the id is needed
      const other = await createApiKey(o.store, (await o.newAccount(1)).accountId, { mode: 'live' });
      await o.store.db.updateTable('api_keys').set({ prefix: 'or_live_Abcd' }).where('id', 'in', [extra.keyId, other.keyId]).execute();
      await assert.rejects(revokeApiKey(o.store, 'or_live_Abcd'), /2 keys share the prefix or_live_Abcd/);
      assert.equal((await call(o.url, 'GET', '/account/info', { key: other.apiKey })).status, 200);
      assert.ok(await revokeApiKey(o.store, extra.keyId));
      // a leaked key, pasted whole, revokes that key alone (its prefix is shared: only the hash tells it apart)
      assert.ok(await revokeApiKey(o.store, other.apiKey));
      assert.equal(await revokeApiKey(o.store, other.apiKey), false, 'already revoked');
      // valid keys are cached for at most one second (src/api/auth.ts)
      await new Promise((r) => setTimeout(r, 1100));
      await expectError('GET', '/account/info', { key: extra.apiKey }, 401, 'This apikey is not valid');
      await expectError('GET', '/account/info', { key: other.apiKey }, 401, 'This apikey is not valid');
      assert.equal((await call(o.url, 'GET', '/account/info', { key })).status, 200, 'the account’s first key is untouched');
    });

    it('answers account info', async () => {
      const r = await call(o.url, 'GET', '/account/info', { key });
      assert.equal(r.status, 200);
      assert.equal(r.body.credits, 1000);
      assert.deepEqual(r.body.webhooks, []);
    });

    it('refuses malformed bodies with the exact messages and no trace', async () => {
      const p = '/email/find/single';
      await expectError('POST', p, { key, raw: '{"fullname": ' }, 400, 'Invalid JSON input');
      await expectError('POST', p, { key, raw: '' }, 400, 'Missing payload');
      await expectError('POST', p, { key, raw: '', headers: { 'content-type': 'text/plain' } }, 400, 'Missing payload');
      await expectError('POST', p, { key, body: { company_domain: 'acme.test' } }, 400, 'input payload is missing fullname');
      await expectError('POST', p, { key, body: { fullname: 'Dwight Schrute' } }, 400, 'both company_domain and company_name are absent, input payload needs at least one of them');
      // a value of the wrong type is as good as absent: API.md's message, not a schema error (with a
      // 0-based path) that a client parsing "n°X of Y" cannot use
      await expectError('POST', p, { key, body: { fullname: 42, company_domain: 'acme.test' } }, 400, 'input payload is missing fullname');
      await expectError('POST', '/email/find/bulk', { key, body: { searches: [{ fullname: 'Jim Halpert', company_domain: 'acme.test' }, { fullname: 5, company_domain: 'acme.test' }] } }, 400, 'Missing mandatory property on search n°2 of 2');
      await expectError('POST', '/email/verify/single', { key, body: { email: 5 } }, 400, 'input payload is missing email');
      const r2 = await call(o.url, 'POST', '/email/verify/bulk', { key, body: { emails: 'x' } });
      assert.equal(r2.status, 400);
      assert.match(r2.body.message, /emails must be array/);
      await expectError('POST', '/email/find/bulk', { key, body: { searches: [{ fullname: 'A B', company_domain: 'a.test' }, { fullname: 'C D' }] } }, 400, 'Missing mandatory property on search n°2 of 2');
      const many = Array.from({ length: 5001 }, (_, i) => `u${i}@a.test`);
      await expectError('POST', '/email/verify/bulk', { key, body: { emails: many } }, 400, 'A bulk request holds at most 5000 items');
      await expectError('POST', '/phone/single', { key, body: { linkedin_url: 'https://www.linkedin.com/company/acme' } }, 400, 'Invalid linkedin_url');
      await expectError('POST', '/phone/single', { key, body: { first_name: 'Jim' } }, 400, 'Missing mandatory property: linkedin_url or first_name, last_name and company');
      await expectError('POST', '/phone/bulk', { key, body: { searches: [] } }, 400, 'At least 1 phone search must be present in the payload');
      for (const webhook of ['http://example.test/hook', 'https://user:pw@example.test/hook', 'not a url', 'ftp://x.test/', 'https://10.0.0.5/hook', 'https://169.254.169.254/latest', 'https://[::ffff:127.0.0.1]/x', 'https://127.0.0.1:8443/x']) {
        await expectError('POST', '/email/verify/single', { key, body: { email: 'a@b.test', settings: { webhook } } }, 400, 'Invalid webhook: an https URL is required');
      }
    });

    it('takes null for a field left out, as clients written for Enrow send it', async () => {
      const ok = async (path: string, body: unknown) => {
        const r = await call(o.url, 'POST', path, { key, body });
        assert.ok(r.status === 200 || r.status === 201, `${path} ${JSON.stringify(body)}: ${r.text}`);
      };
      await ok('/email/find/single', { fullname: 'Pam Beesly', company_domain: 'x.test', company_name: null });
      await ok('/email/find/single', { fullname: null, first_name: 'Pam', last_name: 'Beesly', company_domain: 'x.test' });
      await ok('/phone/single', { linkedin_url: null, first_name: 'Pam', last_name: 'Beesly', company_domain: 'x.test' });
      // a blank one too, as every other blank field (before: 400 Invalid linkedin_url)
      await ok('/phone/single', { linkedin_url: '  ', first_name: 'Pam', last_name: 'Beesly', company_domain: 'x.test' });
      await expectError('POST', '/email/verify/single', { key, body: { email: null } }, 400, 'input payload is missing email');
      await expectError('POST', '/email/verify/bulk', { key, body: { emails: ['a@b.test', null] } }, 400, 'Missing mandatory property on search n°2 of 2');
      await expectError('POST', '/email/find/bulk', { key, body: { searches: [null] } }, 400, 'Missing mandatory property on search n°1 of 1');
      // null settings and null options in them are absent too
      await ok('/email/find/single', { fullname: 'Pam Beesly', company_domain: 'x.test', settings: null });
      await ok('/email/find/single', { fullname: 'Pam Beesly', company_name: 'Dunder', settings: { country_code: null, retrieve_gender: null, webhook: null } });
      await ok('/email/verify/single', { email: 'a@b.test', settings: null });
      await expectError('POST', '/email/find/bulk', { key, body: { searches: null } }, 400, 'input payload is missing searches');
      await expectError('POST', '/email/verify/bulk', { key, body: { emails: null } }, 400, 'input payload is missing emails');
      await expectError('POST', '/phone/bulk', { key, body: { searches: null } }, 400, 'At least 1 phone search must be present in the payload');
      // a URL longer than 2,048 characters is refused: each delivery would copy it
      await expectError('POST', '/email/verify/single', { key, body: { email: 'a@b.test', settings: { webhook: `https://hooks.example.com/${'x'.repeat(2030)}` } } }, 400, 'Invalid webhook: an https URL is required');
      const longPut = await call(o.url, 'PUT', '/account/webhook', { key, body: { url: `https://hooks.example.com/${'x'.repeat(2030)}` } });
      assert.deepEqual([longPut.status, longPut.body], [400, { message: 'Invalid webhook: an https URL is required' }]);
      // a single search's body is bounded well below a bulk's
      const big = await call(o.url, 'POST', '/email/verify/single', { key, body: { email: 'a@b.test', custom: 'x'.repeat(1024 * 1024) } });
      assert.deepEqual([big.status, big.body], [413, { message: 'Payload too large' }]);
      // a webhook that is no string gets API.md's message, not a schema error
      for (const webhook of [5, true, {}, ['https://hooks.example.com/x']]) {
        await expectError('POST', '/email/verify/single', { key, body: { email: 'a@b.test', settings: { webhook } } }, 400, 'Invalid webhook: an https URL is required');
      }
    });

    it('answers a request the HTTP parser refuses in the same error shape, and closes the connection', async () => {
      const { connect } = await import('node:net');
      const u = new URL(o.url);
      // a request line that is no HTTP: the routes never see it
      const answer = await new Promise<string>((resolve, reject) => {
        const s = connect(Number(u.port), u.hostname, () => {
          s.write(`GARBAGE\r\nx-api-key: ${key}\r\n\r\n`);
        });
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('close', () => resolve(got));
        s.on('error', reject);
      });
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.ok(answer.endsWith('\r\n\r\n{"message":"Malformed HTTP request"}'), answer);
    });

    it('answers a path the router refuses in the same error shape, without echoing it; a trailing slash is the same path', async () => {
      await expectError('GET', '/webhooks/deliveries/%ff', { key }, 400, 'Invalid URL: the path is not valid percent-encoding');
      await expectError('GET', `/webhooks/deliveries/${'x'.repeat(5000)}`, { key }, 414, 'Request path too long');
      const info = await call(o.url, 'GET', '/account/info/', { key });
      assert.equal(info.status, 200, info.text);
    });

    it('ignores unknown fields', async () => {
      const r = await call(o.url, 'POST', '/email/verify/single', { key, body: { email: 'a@b.test', surprise: { deep: true } } });
      assert.equal(r.status, 200);
    });

    it('answers each POST with the documented body', async () => {
      const f = await call(o.url, 'POST', '/email/find/single', { key, body: { fullname: 'Dwight Schrute', company_domain: 'dundermifflin.test' } });
      assert.equal(f.status, 200);
      assert.deepEqual(Object.keys(f.body), ['message', 'id', 'credits_used']);
      assert.equal(f.body.message, 'Single search operating');
      assert.equal(f.body.credits_used, 1);
      assert.match(f.body.id, /^[0-9a-f-]{36}$/);

      const fp = await call(o.url, 'POST', '/email/find/single', { key, body: { first_name: 'Dwight', last_name: 'Schrute', company_name: 'Dunder Mifflin' } });
      assert.equal(fp.status, 200);

      const v = await call(o.url, 'POST', '/email/verify/single', { key, body: { email: 'pam.beesly@dundermifflin.test' } });
      assert.equal(v.status, 200);
      assert.deepEqual(v.body, { message: 'Single verification operating', id: v.body.id, credits_used: 0.25, credits: { amount: 0.25, source: 'sub', split: { fromPaygo: 0, fromSub: 0.25 } } });

      const p = await call(o.url, 'POST', '/phone/single', { key, body: { linkedin_url: 'https://www.linkedin.com/in/michael-scott' } });
      assert.equal(p.status, 201);
      assert.deepEqual(p.body, { message: 'Single search operating', id: p.body.id, credits_used: 50, credits: { amount: 50, source: 'sub', split: { fromPaygo: 0, fromSub: 50 } } });

      const fb = await call(o.url, 'POST', '/email/find/bulk', { key, body: { searches: [{ fullname: 'A B', company_domain: 'a.test' }, { first_name: 'C', last_name: 'D', company_name: 'E' }, { fullname: 'F G', company_domain: 'h.test' }] } });
      assert.equal(fb.status, 201);
      assert.deepEqual(fb.body, { message: 'Bulk search operating', id: fb.body.id, credits_used: 3, estimated_duration: fb.body.estimated_duration });
      assert.ok(Number.isInteger(fb.body.estimated_duration) && fb.body.estimated_duration >= 1);

      const vb = await call(o.url, 'POST', '/email/verify/bulk', { key, body: { emails: ['a@a.test', 'b@a.test'] } });
      assert.equal(vb.status, 201);
      assert.equal(vb.body.message, 'Bulk verification operating');
      assert.equal(vb.body.credits_used, 0.5);

      const pb = await call(o.url, 'POST', '/phone/bulk', { key, body: { searches: [{ linkedin_url: 'linkedin.com/in/x-y' }] } });
      assert.equal(pb.status, 201);
      assert.equal(pb.body.message, 'Bulk search operating');
      assert.equal(pb.body.credits_used, 50);
    });

    it('answers GETs: ongoing forms, missing and foreign ids', async () => {
      const { key: otherKey } = await o.newAccount(10);
      const v = await call(o.url, 'POST', '/email/verify/single', { key, body: { email: 'a@b.test', custom: { crm_id: 'lead_001' } } });
      const id = v.body.id;
      let r = await call(o.url, 'GET', `/email/verify/single?id=${id}`, { key });
      assert.equal(r.status, 202);
      assert.deepEqual(r.body, { qualification: 'ongoing' });
      await expectError('GET', '/email/verify/single', { key }, 400, 'Missing id in the query params');
      await expectError('GET', `/email/verify/single?id=${id}`, { key: otherKey }, 404, 'Search not found');
      await expectError('GET', '/email/verify/single?id=not-a-uuid', { key }, 404, 'Search not found');
      await expectError('GET', `/email/find/single?id=${id}`, { key }, 404, 'Search not found');
      await expectError('GET', `/email/verify/bulk?id=${id}`, { key }, 404, 'Bulk search not found');

      const fb = await call(o.url, 'POST', '/email/find/bulk', { key, body: { searches: [{ fullname: 'A B', company_domain: 'a.test' }] } });
      r = await call(o.url, 'GET', `/email/find/bulk?id=${fb.body.id}`, { key });
      assert.equal(r.status, 202);
      assert.deepEqual(r.body, { general: { id: fb.body.id, status: 'ongoing' }, stats: { requested: 1, finished: 0 } });

      const pb = await call(o.url, 'POST', '/phone/bulk', { key, body: { searches: [{ linkedin_url: 'https://linkedin.com/in/abc' }] } });
      r = await call(o.url, 'GET', `/phone/bulk?id=${pb.body.id}`, { key });
      assert.equal(r.status, 200, 'API.md: phone bulk GET answers 200 while ongoing');
      assert.deepEqual(r.body, { general: { id: pb.body.id, status: 'ongoing' }, stats: { finished: 0, requested: 1 } });

      const ps = await call(o.url, 'POST', '/phone/single', { key, raw: '{"linkedin_url":"https://www.linkedin.com/in/abc","custom": {"n": 1.0, "big": 12345678901234567890}}' });
      r = await call(o.url, 'GET', `/phone/single?id=${ps.body.id}`, { key });
      assert.equal(r.status, 202);
      assert.ok(r.text.includes('"custom":{"n": 1.0, "big": 12345678901234567890}'), `custom kept byte-for-byte: ${r.text}`);
    });

    it('reserves credits exactly and refuses 0.25 short with no trace', async () => {
      const { key: k, accountId: a } = await o.newAccount(0.75);
      const before = await traces(a);
      const r = await call(o.url, 'POST', '/email/verify/bulk', { key: k, body: { emails: ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test'] } });
      assert.equal(r.status, 422);
      assert.deepEqual(r.body, { message: 'Insufficient balance' });
      assert.deepEqual(await traces(a), before);
      const ok = await call(o.url, 'POST', '/email/verify/bulk', { key: k, body: { emails: ['a@x.test', 'b@x.test', 'c@x.test'] } });
      assert.equal(ok.status, 201);
      assert.equal((await traces(a)).sub, 0);
    });

    it('splits reservations between sub and paygo', async () => {
      const { key: k } = await o.newAccount(0.25, 100);
      const r = await call(o.url, 'POST', '/phone/single', { key: k, body: { linkedin_url: 'https://www.linkedin.com/in/someone' } });
      assert.deepEqual(r.body.credits, { amount: 50, source: 'mixed', split: { fromPaygo: 49.75, fromSub: 0.25 } });
      const r2 = await call(o.url, 'POST', '/email/verify/single', { key: k, body: { email: 'x@y.test' } });
      assert.deepEqual(r2.body.credits, { amount: 0.25, source: 'paygo', split: { fromPaygo: 0.25, fromSub: 0 } });
      const info = await call(o.url, 'GET', '/account/info', { key: k });
      assert.equal(info.body.credits, 50);
    });

    it('never drives a balance below zero under concurrent POSTs', async () => {
      const { key: k, accountId: a } = await o.newAccount(2.5);
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => call(o.url, 'POST', '/email/verify/single', { key: k, body: { email: `u${i}@race.test` } })));
      const ok = results.filter((r) => r.status === 200).length;
      const short = results.filter((r) => r.status === 422).length;
      assert.equal(ok, 10);
      assert.equal(short, 15);
      const t = await traces(a);
      assert.equal(t.sub, 0);
      assert.equal(t.searches, 10);
    });

    it('replays Idempotency-Key responses and charges once', async () => {
      const { key: k, accountId: a } = await o.newAccount(10);
      const headers = { 'idempotency-key': 'order-42' };
      const body = { email: 'idem@x.test' };
      const first = await call(o.url, 'POST', '/email/verify/single', { key: k, body, headers });
      const again = await call(o.url, 'POST', '/email/verify/single', { key: k, body, headers });
      assert.equal(first.status, 200);
      assert.equal(again.status, 200);
      assert.equal(again.text, first.text);
      assert.equal((await traces(a)).searches, 1);
      assert.equal((await traces(a)).sub, 975);
      const conflict = await call(o.url, 'POST', '/email/verify/single', { key: k, body: { email: 'other@x.test' }, headers });
      assert.equal(conflict.status, 409);
      assert.deepEqual(conflict.body, { message: 'Idempotency-Key reused with a different payload' });
      const racing = await Promise.all(Array.from({ length: 5 }, () => call(o.url, 'POST', '/email/verify/single', { key: k, body: { email: 'r@x.test' }, headers: { 'idempotency-key': 'race-1' } })));
      assert.equal(new Set(racing.map((r) => r.text)).size, 1);
      assert.equal((await traces(a)).searches, 2);
    });

    it('refuses deep nesting, over-long Idempotency-Keys and control characters in webhook URLs, with no trace', async () => {
      // a body JSON.parse takes but storing it (JSON.stringify) could not: a 500, or a search stuck for ever
      const deep = `{"email":"a@b.test","settings":{"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
      await expectError('POST', '/email/verify/single', { key, raw: deep }, 400, 'Invalid JSON input');
      const nested64 = `{"email":"a@b.test","custom":${'['.repeat(60)}1${']'.repeat(60)}}`;
      assert.equal((await call(o.url, 'POST', '/email/verify/single', { key, raw: nested64 })).status, 200, 'reasonable nesting passes');
      // brackets inside strings are not nesting
      assert.equal((await call(o.url, 'POST', '/email/verify/single', { key, body: { email: 'a@b.test', custom: '['.repeat(500) } })).status, 200);
      await expectError('POST', '/email/verify/single', { key, body: { email: 'a@b.test' }, headers: { 'idempotency-key': 'k'.repeat(256) } }, 400, 'Invalid Idempotency-Key: at most 255 characters');
      await expectError('POST', '/email/verify/single', { key, body: { email: 'a@b.test', settings: { webhook: 'https://example.com/a\u0000b' } } }, 400, 'Invalid webhook: an https URL is required');
      const put = await call(o.url, 'PUT', '/account/webhook', { key, body: { url: 'https://example.com/a\u0000b' } });
      assert.equal(put.status, 400);
      // accepted and stored as typed before: a URL the parser reads as host "path", and one with a space before it
      for (const webhook of ['https:///path', ' https://example.com/hook', 'https://example.com/hook ', 'https:/\\example.com/x']) {
        await expectError('POST', '/email/verify/single', { key, body: { email: 'a@b.test', settings: { webhook } } }, 400, 'Invalid webhook: an https URL is required');
        await expectError('PUT', '/account/webhook', { key, body: { url: webhook } }, 400, 'Invalid webhook: an https URL is required');
      }
      // custom is bookkeeping, not storage: a megabyte of it per free test search filled disks
      const big = 'x'.repeat(64 * 1024);
      await expectError('POST', '/email/verify/single', { key, body: { email: 'a@b.test', custom: big } }, 400, 'custom may hold at most 64 KB of JSON');
      await expectError('POST', '/email/find/bulk', { key, body: { searches: [{ fullname: 'Jim Halpert', company_domain: 'acme.test', custom: big }] } }, 400, 'custom may hold at most 64 KB of JSON on search n°1 of 1');
      assert.equal((await call(o.url, 'POST', '/email/verify/single', { key, body: { email: 'a@b.test', custom: 'x'.repeat(60 * 1024) } })).status, 200);
      // the global URL's type errors get API.md's message too, as settings.webhook's do
      await expectError('PUT', '/account/webhook', { key, body: { url: 5 } }, 400, 'Invalid webhook: an https URL is required');
    });

    it('keeps Idempotency-Keys of test and live keys apart', async () => {
      const { key: live, testKey, accountId: a } = await o.newAccount(10);
      const headers = { 'idempotency-key': 'same-key' };
      const body = { email: 'modes@x.test' };
      const l = await call(o.url, 'POST', '/email/verify/single', { key: live, body, headers });
      const t = await call(o.url, 'POST', '/email/verify/single', { key: testKey, body, headers });
      assert.equal(l.status, 200);
      assert.equal(t.status, 200);
      assert.notEqual(t.body.id, l.body.id, 'the test key made a test search of its own');
      assert.equal((await call(o.url, 'GET', `/email/verify/single?id=${t.body.id}`, { key: testKey })).status, 202);
      assert.equal((await traces(a)).searches, 2);
    });

    it('answers racing duplicates with the winner\'s response even when the winner spent the whole balance', async () => {
      const { key: k, accountId: a } = await o.newAccount(0.25);
      const racing = await Promise.all(Array.from({ length: 8 }, () => call(o.url, 'POST', '/email/verify/single', { key: k, body: { email: 'last@x.test' }, headers: { 'idempotency-key': 'last-quarter' } })));
      assert.deepEqual(racing.map((r) => r.status), Array(8).fill(200));
      assert.equal(new Set(racing.map((r) => r.text)).size, 1);
      assert.equal((await traces(a)).searches, 1);
    });

    it('accepts a 5,000-item bulk and refuses a 50 MB body', async () => {
      const { key: k } = await o.newAccount(2000);
      const emails = Array.from({ length: 5000 }, (_, i) => `user${i}@bulk.test`);
      const r = await call(o.url, 'POST', '/email/verify/bulk', { key: k, body: { emails } });
      assert.equal(r.status, 201);
      assert.equal(r.body.credits_used, 1250);
      const huge = JSON.stringify({ emails: ['x@y.test'], custom: 'x'.repeat(50 * 1024 * 1024) });
      const big = await call(o.url, 'POST', '/email/verify/bulk', { key: k, raw: huge });
      assert.equal(big.status, 413);
    });

    it('keeps test mode apart: a separate balance, and ids invisible across modes', async () => {
      const { key: live, testKey } = await o.newAccount(10);
      const t = await call(o.url, 'POST', '/email/verify/single', { key: testKey, body: { email: 'valid@deliverable.test' } });
      assert.equal(t.status, 200);
      assert.equal((await call(o.url, 'GET', '/account/info', { key: live })).body.credits, 10, 'live balance untouched');
      const info = await call(o.url, 'GET', '/account/info', { key: testKey });
      assert.equal(info.body.mode, 'test');
      assert.equal(info.body.credits, 1_000_000 - 0.25);
      assert.equal((await call(o.url, 'GET', `/email/verify/single?id=${t.body.id}`, { key: live })).status, 404);
      assert.equal((await call(o.url, 'GET', `/email/verify/single?id=${t.body.id}`, { key: testKey })).status, 202);
    });

    it('serves health, readiness and the OpenAPI document', async () => {
      assert.equal((await call(o.url, 'GET', '/healthz')).status, 200);
      assert.equal((await call(o.url, 'GET', '/readyz')).status, 200);
      const doc = await call(o.url, 'GET', '/openapi.json');
      assert.equal(doc.status, 200);
      for (const path of ['/email/find/single', '/email/find/bulk', '/email/verify/single', '/email/verify/bulk', '/phone/single', '/phone/bulk', '/account/info']) {
        assert.ok(doc.body.paths[path], `openapi has ${path}`);
      }
      assert.match(doc.body.paths['/email/find/single'].post.requestBody.content['application/json'].schema.properties.fullname.description, /^string/);
      // what each route answers (only "200 Default Response" before), id required, Idempotency-Key where it acts
      const paths = doc.body.paths;
      assert.deepEqual(Object.keys(paths['/email/verify/single'].post.responses), ['200', '400', '401', '409', '413', '422', '429']);
      assert.ok(paths['/phone/single'].post.responses['201'] && paths['/email/find/bulk'].post.responses['201']);
      assert.ok(paths['/email/find/single'].get.responses['202'] && paths['/email/find/single'].get.responses['404']);
      assert.equal(paths['/email/find/single'].get.parameters.find((p: { name: string }) => p.name === 'id').required, true);
      assert.ok(!paths['/email/find/single'].get.parameters.some((p: { name: string }) => p.name === 'idempotency-key'));
      assert.ok(paths['/email/find/single'].post.parameters.some((p: { name: string }) => p.name === 'idempotency-key'));
      // the finder's options are the finder's
      assert.ok(paths['/email/find/single'].post.requestBody.content['application/json'].schema.properties.settings.properties.country_code);
      assert.ok(!paths['/email/verify/single'].post.requestBody.content['application/json'].schema.properties.settings.properties.country_code);
    });
  });
}

describe('rate limiting', () => {
  it('answers 429 with Retry-After and X-RateLimit-Reset past 10 POST/s, per key, with overrides', async () => {
    const o = await startTestOpenrow('sqlite', { engines: NO_ENGINES });
    try {
      const { key, accountId } = await o.newAccount(100);
      const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => call(o.url, 'POST', '/email/verify/single', { key, body: { email: `r${i}@x.test` } })));
      const limited = burst.filter((r) => r.status === 429);
      assert.ok(limited.length >= 2, `got ${burst.map((r) => r.status)}`);
      assert.deepEqual(limited[0]!.body, { message: 'Rate limit exceeded' });
      assert.ok(Number(limited[0]!.headers.get('retry-after')) >= 1);
      assert.ok(limited[0]!.headers.get('x-ratelimit-reset') !== null);
      // GETs are not limited
      const gets = await Promise.all(Array.from({ length: 15 }, () => call(o.url, 'GET', '/account/info', { key })));
      assert.ok(gets.every((r) => r.status === 200));
      const fast = await createApiKey(o.store, accountId, { mode: 'live', rateLimitPerSec: 100 });
      const burst2 = await Promise.all(Array.from({ length: 20 }, (_, i) => call(o.url, 'POST', '/email/verify/single', { key: fast.apiKey, body: { email: `f${i}@x.test` } })));
      assert.ok(burst2.every((r) => r.status === 200), `override: ${burst2.map((r) => r.status)}`);
      // one counter per key across every POST endpoint: 12 POSTs spread over six endpoints are 12, not 2 each
      const spread = await createApiKey(o.store, accountId, { mode: 'live' });
      const endpoints: Array<[string, unknown]> = [
        ['/email/verify/single', { email: 'spread@x.test' }],
        ['/email/verify/bulk', { emails: ['spread@x.test'] }],
        ['/email/find/single', { fullname: 'Pam Beesly', company_domain: 'x.test' }],
        ['/email/find/bulk', { searches: [{ fullname: 'Pam Beesly', company_domain: 'x.test' }] }],
        ['/phone/single', { linkedin_url: 'https://www.linkedin.com/in/pam-beesly' }],
        ['/phone/bulk', { searches: [{ linkedin_url: 'https://www.linkedin.com/in/pam-beesly' }] }],
      ];
      const across = await Promise.all(Array.from({ length: 12 }, (_, i) => call(o.url, 'POST', endpoints[i % 6]![0], { key: spread.apiKey, body: endpoints[i % 6]![1] })));
      assert.ok(across.filter((r) => r.status === 429).length >= 2, `across endpoints: ${across.map((r) => r.status)}`);
      // counted before the body is read: malformed bodies count, and past the limit are not even parsed;
      // PUT /account/webhook shares the counter
      const raw = await createApiKey(o.store, accountId, { mode: 'live' });
      const junk = await Promise.all(Array.from({ length: 12 }, () => call(o.url, 'POST', '/email/verify/single', { key: raw.apiKey, raw: '{bad' })));
      assert.ok(junk.filter((r) => r.status === 429).length >= 2, `malformed bodies: ${junk.map((r) => r.status)}`);
      assert.ok(junk.filter((r) => r.status === 400).length >= 1);
      const puts = await createApiKey(o.store, accountId, { mode: 'live' });
      const put = await Promise.all(Array.from({ length: 12 }, () => call(o.url, 'PUT', '/account/webhook', { key: puts.apiKey, body: { url: null } })));
      assert.ok(put.filter((r) => r.status === 429).length >= 2, `PUT /account/webhook: ${put.map((r) => r.status)}`);
    } finally {
      await o?.close();
    }
  });
});

describe('metrics token', () => {
  it('without a token, answers scrapes from this machine only (not relayed by a proxy)', async () => {
    const o = await startTestOpenrow('sqlite', { engines: NO_ENGINES });
    try {
      assert.equal((await call(o.url, 'GET', '/metrics')).status, 200);
      // before: anyone who could reach the server read its queue depths and delivery counts
      const proxied: Array<Record<string, string>> = [{ 'x-forwarded-for': '203.0.113.7' }, { forwarded: 'for=203.0.113.7' }, { 'x-real-ip': '203.0.113.7' }, { via: '1.1 proxy' }];
      for (const relayed of proxied) {
        const r = await call(o.url, 'GET', '/metrics', { headers: relayed });
        assert.equal(r.status, 403, JSON.stringify(relayed));
        assert.deepEqual(r.body, { message: 'Metrics are served to this machine only; set OPENROW_METRICS_TOKEN to scrape them from elsewhere' });
      }
    } finally {
      await o.close();
    }
    // other peers through the decision alone: tests open no connection from a non-loopback address
    assert.equal(isLocalScrape('127.0.0.1', {}), true);
    assert.equal(isLocalScrape('::1', {}), true);
    assert.equal(isLocalScrape('::ffff:127.0.0.1', {}), true);
    for (const peer of ['10.0.0.5', '192.168.1.20', '203.0.113.7', '2001:db8::1', '::ffff:10.0.0.5', undefined]) assert.equal(isLocalScrape(peer, {}), false, String(peer));
  });

  it('asks for OPENROW_METRICS_TOKEN as a bearer token when it is set', async () => {
    const token = 'metrics-token-0123456789';
    const o = await startTestOpenrow('sqlite', { engines: NO_ENGINES, env: { OPENROW_METRICS_TOKEN: token } });
    try {
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, token]) {
        const r = await call(o.url, 'GET', '/metrics', authorization ? { headers: { authorization } } : {});
        assert.equal(r.status, 401, String(authorization));
        assert.deepEqual(r.body, { message: 'A bearer token is required (OPENROW_METRICS_TOKEN)' });
      }
      const ok = await call(o.url, 'GET', '/metrics', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.match(ok.text, /openrow_queue_items/);
    } finally {
      await o.close();
    }
  });
});
