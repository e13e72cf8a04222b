// The webhooks the whole system sends, received by a real HTTPS receiver with its own CA: payloads as
// API.md's table documents them, per-request URL over the global one, signatures that verify with the
// receivers' own libraries (standardwebhooks and svix), on SQLite and PostgreSQL.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { BACKENDS, call, startTestOpenrow, type TestOpenrow } from '../support/openrow.js';
import { startHttpsReceiver, type HttpsReceiver, type RecordedRequest } from '../support/https-receiver.js';

const headersOf = (r: RecordedRequest) => ({
  'webhook-id': String(r.headers['webhook-id']),
  'webhook-timestamp': String(r.headers['webhook-timestamp']),
  'webhook-signature': String(r.headers['webhook-signature']),
});

/** The documented keys must match exactly; anything else must be one of Openrow's additive fields. */
function assertDocumented(actual: Record<string, unknown>, documented: Record<string, unknown>, additive: string[]) {
  for (const [k, v] of Object.entries(documented)) assert.deepEqual(actual[k], v, `field ${k}`);
  for (const k of Object.keys(actual)) assert.ok(k in documented || additive.includes(k), `unexpected field ${k}`);
}

for (const backend of BACKENDS) {
  describe(`webhook payloads end to end (${backend})`, () => {
    let o: TestOpenrow;
    let vendor: Server;
    let rx: HttpsReceiver;
    let globalRx: HttpsReceiver;

    before(async () => {
      vendor = createServer((req, res) => {
        const u = new URL(req.url ?? '/', 'http://x').searchParams.get('u') ?? '';
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ phone: u.endsWith('/michael-scott') ? '+1 (570) 343-3400' : null }));
      });
      await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', () => r()));
      rx = await startHttpsReceiver();
      globalRx = await startHttpsReceiver({ certificates: undefined });
      const port = (vendor.address() as AddressInfo).port;
      o = await startTestOpenrow(backend, {
        webhookCa: [rx.caPem, globalRx.caPem].join('\n'),
        env: {
          OPENROW_WEBHOOK_ALLOW_CIDRS: '127.0.0.1/32',
          OPENROW_RATE_LIMIT_PER_SEC: '1000',
          OPENROW_PHONE_PROVIDERS: JSON.stringify([{ name: 'vendor', type: 'http_json', url: `http://127.0.0.1:${port}/?u={linkedin_url}`, number_path: 'phone', country_path: 'country' }]),
        },
      });
    });
    after(async () => {
      await o?.close();
      await rx.close();
      await globalRx.close();
      await new Promise<void>((r) => vendor.close(() => r()));
    });

    it('sends single_phone_search_finished with the full result, signed', async () => {
      const { key } = await o.newAccount(1000);
      const secret = (await call(o.url, 'GET', '/webhooks/secret', { key })).body.secret;
      const before = rx.requests.length;
      const post = await call(o.url, 'POST', '/phone/single', {
        key,
        raw: JSON.stringify({ linkedin_url: 'https://www.linkedin.com/in/michael-scott', settings: { webhook: rx.url } }).replace('}}', '}, "custom": {"crm_id": "lead_001"}}'),
      });
      assert.equal(post.status, 201, post.text);
      const [req] = (await rx.waitForRequests(before + 1)).slice(before);
      assert.equal(req!.headers['content-type'], 'application/json');
      const body = JSON.parse(req!.body);
      assertDocumented(body, { event: 'single_phone_search_finished', id: post.body.id, credits: { cost: 50 } }, ['result']);
      assertDocumented(
        body.result,
        { number: '+15703433400', params: { linkedin_url: 'https://www.linkedin.com/in/michael-scott' }, qualification: 'found' },
        ['country', 'custom', 'details'],
      );
      assert.equal(body.result.country, 'US');
      assert.ok(req!.body.includes('"custom":{"crm_id": "lead_001"}'), 'custom verbatim');
      assert.equal(headersOf(req!)['webhook-id'].startsWith('msg_'), true);
      assert.doesNotThrow(() => new StandardWebhook(secret).verify(req!.body, headersOf(req!)));
      assert.doesNotThrow(() => new SvixWebhook(secret).verify(req!.body, headersOf(req!)));
      assert.throws(() => new StandardWebhook(secret).verify(req!.body.replace('found', 'fOund'), headersOf(req!)));
      // the GET agrees with the webhook
      const get = await call(o.url, 'GET', `/phone/single?id=${post.body.id}`, { key });
      assert.equal(get.status, 200);
      assert.equal(get.body.number, '+15703433400');
      assert.deepEqual(get.body.params, { linkedin_url: 'https://www.linkedin.com/in/michael-scott' }, 'params echo the profile, not settings');
    });

    it('sends bulk_phone_search_finished as a notification, to the global URL when the request has none', async () => {
      const { key } = await o.newAccount(1000);
      assert.equal((await call(o.url, 'PUT', '/account/webhook', { key, body: { url: globalRx.url } })).status, 200);
      const before = globalRx.requests.length;
      const post = await call(o.url, 'POST', '/phone/bulk', {
        key,
        body: { searches: [{ linkedin_url: 'https://www.linkedin.com/in/michael-scott' }, { linkedin_url: 'https://www.linkedin.com/in/nobody-here', custom: 7 }] },
      });
      assert.equal(post.status, 201);
      const [req] = (await globalRx.waitForRequests(before + 1)).slice(before);
      assert.deepEqual(JSON.parse(req!.body), { event: 'bulk_phone_search_finished', id: post.body.id });
      const get = await call(o.url, 'GET', `/phone/bulk?id=${post.body.id}`, { key });
      assert.equal(get.status, 200);
      assert.equal(get.body.general.status, 'completed');
      assert.deepEqual(get.body.stats, { credits_cost: 50, requested: 2, valid: 1 });
      assert.equal(get.body.results[0].index, 0);
      assert.equal(get.body.results[1].qualification, 'not_found');
      assert.equal(get.body.results[1].custom, 7);
      // an item sent without custom still has the key (a client reading item["custom"] found none before)
      assert.equal(get.body.results[0].custom, null);
      assert.equal('number' in get.body.results[1], false);
      assert.equal((await call(o.url, 'GET', '/account/info', { key })).body.credits, 950, 'one found (50), one refunded');

      // the per-request URL wins over the global one
      const beforeGlobal = globalRx.requests.length;
      const beforeRx = rx.requests.length;
      const single = await call(o.url, 'POST', '/phone/single', { key, body: { linkedin_url: 'https://www.linkedin.com/in/nobody-here', settings: { webhook: rx.url } } });
      const [own] = (await rx.waitForRequests(beforeRx + 1)).slice(beforeRx);
      assert.equal(JSON.parse(own!.body).id, single.body.id);
      // API.md's result fields first, in its order; no custom sent: null, the key present
      assert.deepEqual(Object.keys(JSON.parse(own!.body).result).slice(0, 3), ['number', 'params', 'qualification']);
      assert.equal(JSON.parse(own!.body).result.custom, null);
      assert.equal((await call(o.url, 'GET', `/phone/single?id=${single.body.id}`, { key })).body.custom, null);
      assert.equal(JSON.parse(own!.body).credits.cost, 0);
      assert.equal(globalRx.requests.length, beforeGlobal);
    });

    it('signs with both secrets during a rotation', async () => {
      const { key } = await o.newAccount(1000);
      const old = (await call(o.url, 'GET', '/webhooks/secret', { key })).body.secret;
      const current = (await call(o.url, 'POST', '/webhooks/secret/rotate', { key })).body.secret;
      const before = rx.requests.length;
      await call(o.url, 'POST', '/phone/single', { key, body: { linkedin_url: 'https://www.linkedin.com/in/nobody-here', settings: { webhook: rx.url } } });
      const [req] = (await rx.waitForRequests(before + 1)).slice(before);
      assert.equal(headersOf(req!)['webhook-signature'].split(' ').length, 2);
      for (const s of [old, current]) {
        assert.doesNotThrow(() => new StandardWebhook(s).verify(req!.body, headersOf(req!)));
        assert.doesNotThrow(() => new SvixWebhook(s).verify(req!.body, headersOf(req!)));
      }
    });
  });
}
