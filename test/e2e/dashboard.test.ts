// The dashboard in a real browser (Debian's headless Chromium through playwright-core) against a real
// Openrow: sign-in, the account told when its global webhook URL is disabled (issue 5), the delivery log
// with each attempt, redelivery once the receiver is fixed, and other people's data shown as text.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { call, startTestOpenrow, waitFor, type TestOpenrow } from '../support/openrow.js';
import { startHttpsReceiver, type HttpsReceiver } from '../support/https-receiver.js';

const CHROMIUM = process.env.OPENROW_CHROMIUM ?? '/usr/bin/chromium';
// what the receiver answers while it is "broken": markup that must stay text in the page
const HOSTILE_BODY = '<img src=x id=injected onerror="document.title=\'pwned\'">gone';

// polled from here: the page's CSP forbids the string evaluation page.waitForFunction would use
async function waitForText(page: Page, selector: string, ok: (text: string) => boolean): Promise<void> {
  await waitFor(async () => ok((await page.textContent(selector)) ?? ''));
}

describe('dashboard in a browser', () => {
  let o: TestOpenrow;
  let vendor: Server;
  let rx: HttpsReceiver;
  let browser: Browser;
  let gone = true;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: apt-get install -y chromium (as .ci/run does), or set OPENROW_CHROMIUM`);
    // the phone vendor answers on loopback, so a live search completes without touching the network
    vendor = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ phone: '+1 (570) 343-3400' }));
    });
    await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', () => r()));
    rx = await startHttpsReceiver();
    rx.setBehaviour(() => (gone ? { status: 410, body: HOSTILE_BODY } : { status: 200, body: 'ok' }));
    o = await startTestOpenrow('sqlite', {
      webhookCa: rx.caPem,
      env: {
        OPENROW_WEBHOOK_ALLOW_CIDRS: '127.0.0.1/32',
        OPENROW_RATE_LIMIT_PER_SEC: '1000',
        OPENROW_PHONE_PROVIDERS: JSON.stringify([
          { name: 'vendor', type: 'http_json', url: `http://127.0.0.1:${(vendor.address() as AddressInfo).port}/?u={linkedin_url}`, number_path: 'phone' },
        ]),
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await o?.close();
    await rx?.close();
    await new Promise<void>((r) => (vendor ? vendor.close(() => r()) : r()));
  });

  async function signedIn(key: string, timezoneId?: string): Promise<Page> {
    const page = await (await browser.newContext(timezoneId ? { timezoneId } : {})).newPage();
    // the page may talk to this server only: anything else would be a leak (or a test reaching out)
    await page.route('**/*', (route) => (new URL(route.request().url()).origin === o.url ? route.continue() : route.abort()));
    await page.goto(`${o.url}/dashboard`);
    await page.fill('#key', key);
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('#signed-in:not([hidden])');
    return page;
  }

  it('serves the page with a strict content security policy', async () => {
    const r = await fetch(`${o.url}/dashboard`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.doesNotMatch(await r.text(), /<script>[^<]/, 'no inline script');
  });

  it('refuses a wrong key and says why', async () => {
    const page = await browser.newPage();
    await page.goto(`${o.url}/dashboard`);
    await page.fill('#key', 'sk_live_not_a_key');
    await page.click('#sign-in-form button[type=submit]');
    const err = await page.waitForSelector('#sign-in-error');
    assert.equal(await err.textContent(), 'This apikey is not valid');
    assert.equal(await page.isVisible('#signed-in'), false);
    // pasted with typographic quotes: said plainly, where the browser's fetch used to throw its own words
    await page.fill('#key', '“or_live_abc”');
    await page.click('#sign-in-form button[type=submit]');
    await waitForText(page, '#sign-in-error', (t) => /letters, digits, "_" and "-" only: check for quotes or spaces/.test(t));
    await page.close();
  });

  it('tells the account its global URL was disabled, shows the attempts as text, and redelivers once fixed', async () => {
    const { key } = await o.newAccount(1000);
    const page = await signedIn(key);
    assert.equal(await page.textContent('#credits'), '1000');
    assert.equal(await page.textContent('#mode'), 'live');

    // the global URL is set through the page
    await page.fill('#webhook-input', rx.url);
    await page.click('#webhook-form button[type=submit]');
    await waitForText(page, '#webhook-url', (t) => t === rx.url);
    assert.deepEqual((await call(o.url, 'GET', '/account/info', { key })).body.webhooks, [rx.url]);

    // a live search completes; the receiver answers 410 Gone, which disables the global URL at once
    const before = rx.requests.length;
    const post = await call(o.url, 'POST', '/phone/single', { key, body: { linkedin_url: 'https://www.linkedin.com/in/michael-scott' } });
    assert.equal(post.status, 201, post.text);
    await rx.waitForRequests(before + 1);
    await waitFor(async () => (await call(o.url, 'GET', '/account/info', { key })).body.webhook_disabled);

    // the open page learns it through Refresh: balances and the URL's health come with the list
    await page.click('#filter-form button[type=submit]');
    await page.waitForSelector('#webhook-alert:not([hidden])');
    assert.equal(await page.textContent('#credits'), String((await call(o.url, 'GET', '/account/info', { key })).body.credits));
    assert.equal(await page.inputValue('#webhook-input'), rx.url, 'the URL to save again is filled in');
    const alert = (await page.textContent('#webhook-alert')) ?? '';
    assert.match(alert, /was disabled/);
    assert.ok(alert.includes(rx.url), alert);
    assert.match(alert, /410 Gone/);
    assert.match((await page.textContent('#webhook-url')) ?? '', /\(disabled\)$/);

    // the failed delivery, and its attempt with the receiver's answer as text
    const row = page.locator(`#delivery-rows tr[data-delivery]`).first();
    await row.waitFor();
    assert.equal(await row.locator('td').nth(1).textContent(), 'single_phone_search_finished');
    assert.equal(await row.locator('td').nth(2).textContent(), post.body.id);
    assert.equal(await row.locator('td').nth(4).textContent(), 'failed');
    await row.getByRole('button', { name: 'Details' }).click();
    const details = page.locator('#delivery-rows tr.details');
    await details.waitFor();
    const attempt = details.locator('tbody tr').first();
    assert.equal(await attempt.locator('td').nth(3).textContent(), '410');
    assert.equal(await attempt.locator('pre').textContent(), HOSTILE_BODY);
    assert.equal(await page.locator('#injected').count(), 0, 'the receiver’s markup was not parsed');
    assert.notEqual(await page.title(), 'pwned');
    const payload = JSON.parse((await details.locator('pre.payload').textContent()) ?? '');
    assert.equal(payload.event, 'single_phone_search_finished');
    assert.equal(payload.id, post.body.id);

    // the receiver is fixed: the URL is set again (which re-enables it) and the delivery redriven
    gone = false;
    await page.click('#webhook-form button[type=submit]');
    await page.waitForSelector('#webhook-alert', { state: 'hidden' });
    const sent = rx.requests.length;
    await page.locator(`#delivery-rows tr[data-delivery]`).first().getByRole('button', { name: 'Redeliver' }).click();
    await waitForText(page, '#status', (t) => /will be sent again/.test(t));
    const [again] = (await rx.waitForRequests(sent + 1)).slice(sent);
    assert.equal(JSON.parse(again!.body).id, post.body.id);
    // the row follows its new attempt by itself: succeeded after the second attempt, no Refresh needed
    await waitForText(page, '#delivery-rows tr[data-delivery] td:nth-child(5)', (t) => t === 'succeeded');
    assert.equal(await page.locator('#delivery-rows tr[data-delivery] td:nth-child(6)').first().textContent(), '2');

    // clearing the global URL takes a deliberate second click
    await page.dblclick('#webhook-clear');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual((await call(o.url, 'GET', '/account/info', { key })).body.webhooks, [rx.url], 'not cleared by a double click');
    await new Promise((r) => setTimeout(r, 700));
    await page.click('#webhook-clear');
    await waitForText(page, '#webhook-url', (t) => t === 'none');
    assert.deepEqual((await call(o.url, 'GET', '/account/info', { key })).body.webhooks, []);
    await page.close();
  });

  it('warns while the global URL is failing, before it is disabled', async () => {
    const { key, accountId } = await o.newAccount(10);
    assert.equal((await call(o.url, 'PUT', '/account/webhook', { key, body: { url: rx.url } })).status, 200);
    // a failure streak that began two days ago, as the dispatcher records it
    const since = Date.now() - 2 * 24 * 3600 * 1000;
    await o.store.db.updateTable('accounts').set({ webhook_failing_since: since }).where('id', '=', accountId).execute();
    const info = (await call(o.url, 'GET', '/account/info', { key })).body;
    assert.deepEqual(info.webhook_failing, {
      url: rx.url,
      since: new Date(since).toISOString(),
      disabled_after: new Date(since + 5 * 24 * 3600 * 1000).toISOString(),
    });
    const page = await signedIn(key);
    await page.waitForSelector('#webhook-alert.warning:not([hidden])');
    assert.match((await page.textContent('#webhook-alert')) ?? '', /failing since .* disabled at its first failed delivery after /);
    // nothing disables a URL between attempts: once the 5 days are over, the next failure does
    await o.store.db.updateTable('accounts').set({ webhook_failing_since: Date.now() - 9 * 24 * 3600 * 1000 }).where('id', '=', accountId).execute();
    await page.reload();
    await page.waitForSelector('#webhook-alert.warning:not([hidden])');
    assert.match((await page.textContent('#webhook-alert')) ?? '', /disabled at its next failed delivery/);
    await page.close();
  });

  it('pages through the list as loaded, and acts once per double click', async () => {
    const { key } = await o.newAccount(10_000);
    assert.equal((await call(o.url, 'PUT', '/account/webhook', { key, body: { url: rx.url } })).status, 200);
    gone = false;
    const ids = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const r = await call(o.url, 'POST', '/phone/single', { key, body: { linkedin_url: 'https://www.linkedin.com/in/michael-scott' } });
        assert.equal(r.status, 201, r.text);
        return r.body.id as string;
      }),
    );
    await waitFor(async () => {
      const list = await call(o.url, 'GET', '/webhooks/deliveries?status=succeeded&limit=200', { key });
      return list.body.data.length === ids.length;
    });
    const secret = (await call(o.url, 'GET', '/webhooks/secret', { key })).body.secret;
    const page = await signedIn(key);
    const rows = page.locator('#delivery-rows tr[data-delivery]');
    await waitFor(async () => (await rows.count()) === 25);
    assert.equal(await page.isVisible('#load-more'), true);

    // filters changed but not applied: the list shown has no next page under them
    await page.selectOption('#filter-status', 'failed');
    assert.equal(await page.isVisible('#load-more'), false);
    await page.selectOption('#filter-status', '');
    await page.click('#filter-form button[type=submit]');
    await page.waitForSelector('#load-more:not([hidden])');

    // a double click loads the next page once
    await page.dblclick('#load-more');
    await waitFor(async () => (await rows.count()) >= 30);
    await new Promise((r) => setTimeout(r, 300));
    const shown = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-delivery')));
    assert.equal(shown.length, 30);
    assert.equal(new Set(shown).size, 30, 'no delivery listed twice');
    assert.equal(await page.isVisible('#load-more'), false);

    // a double click on Details opens one panel
    await rows.first().getByRole('button', { name: 'Details' }).dblclick();
    await page.locator('#delivery-rows tr.details').first().waitFor();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await page.locator('#delivery-rows tr.details').count(), 1);
    assert.equal(await rows.first().getByRole('button', { name: 'Details' }).getAttribute('aria-expanded'), 'true');

    // Redeliver on the 29th row, a filter picked but not applied: the list as loaded stays, the row is redrawn in place
    await page.selectOption('#filter-status', 'failed');
    const sent = rx.requests.length;
    await rows.nth(28).getByRole('button', { name: 'Redeliver' }).click();
    await rx.waitForRequests(sent + 1);
    await waitFor(async () => (await rows.nth(28).locator('td').nth(5).textContent()) === '2');
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-delivery'))), shown, 'same rows, same order');
    assert.equal(await page.locator('#delivery-rows tr.details').count(), 1, 'the open details stayed open');
    assert.equal(await page.evaluate("document.activeElement?.closest('tr')?.getAttribute('data-delivery') ?? null"), shown[28], 'the focus stayed on the row');
    await page.selectOption('#filter-status', '');

    // a double click does not confirm a rotation; a deliberate second click does
    await page.dblclick('#secret-rotate');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await call(o.url, 'GET', '/webhooks/secret', { key })).body.secret, secret, 'not rotated by a double click');
    await new Promise((r) => setTimeout(r, 700));
    await page.click('#secret-rotate');
    await waitForText(page, '#status', (t) => /Secret rotated/.test(t));
    const rotated = (await call(o.url, 'GET', '/webhooks/secret', { key })).body.secret;
    assert.notEqual(rotated, secret);
    assert.equal(await page.textContent('#secret'), rotated);
    await page.close();
  });

  it('sends now a delivery whose next retry is hours away', async () => {
    const { key, accountId } = await o.newAccount(100);
    assert.equal((await call(o.url, 'PUT', '/account/webhook', { key, body: { url: rx.url } })).status, 200);
    gone = false;
    const post = await call(o.url, 'POST', '/phone/single', { key, body: { linkedin_url: 'https://www.linkedin.com/in/michael-scott' } });
    assert.equal(post.status, 201, post.text);
    await waitFor(async () => (await call(o.url, 'GET', '/webhooks/deliveries?status=succeeded', { key })).body.data.length === 1);
    // as a 503 leaves it with the default schedule: pending, its next attempt 5 hours away
    await o.store.db.updateTable('webhook_deliveries').set({ status: 'pending', next_attempt_at: Date.now() + 5 * 3600_000 }).where('account_id', '=', accountId).execute();
    const page = await signedIn(key);
    const row = page.locator('#delivery-rows tr[data-delivery]').first();
    await row.waitFor();
    assert.match((await row.locator('td').nth(6).textContent()) ?? '', /next attempt/);
    const sent = rx.requests.length;
    await row.getByRole('button', { name: 'Redeliver' }).click();
    const [again] = (await rx.waitForRequests(sent + 1)).slice(sent);
    assert.equal(JSON.parse(again!.body).id, post.body.id);
    await waitForText(page, '#delivery-rows tr[data-delivery] td:nth-child(5)', (t) => t === 'succeeded');
    await page.close();
  });

  it('reads the recover time as UTC, as the page shows times, whatever the browser’s zone', async () => {
    const { key } = await o.newAccount(100);
    assert.equal((await call(o.url, 'PUT', '/account/webhook', { key, body: { url: rx.url } })).status, 200);
    gone = true;
    const post = await call(o.url, 'POST', '/phone/single', { key, body: { linkedin_url: 'https://www.linkedin.com/in/michael-scott' } });
    assert.equal(post.status, 201, post.text);
    await waitFor(async () => (await call(o.url, 'GET', '/webhooks/deliveries?status=failed', { key })).body.data.length === 1);
    gone = false;
    // the 410 disabled the global URL: set again, it takes redrives (a disabled one takes none)
    assert.equal((await call(o.url, 'PUT', '/account/webhook', { key, body: { url: rx.url } })).status, 200);
    // west of UTC, a local reading of "two minutes ago, UTC" would be hours in the future (refused)
    const page = await signedIn(key, 'America/New_York');
    await page.fill('#recover-since', new Date(Date.now() - 120_000).toISOString().slice(0, 16));
    const sent = rx.requests.length;
    await page.click('#recover-form button[type=submit]');
    await waitForText(page, '#status', (t) => t === '1 failed delivery will be sent again.');
    const [again] = (await rx.waitForRequests(sent + 1)).slice(sent);
    assert.equal(JSON.parse(again!.body).id, post.body.id);
    await page.close();
  });

  it('filters, keeps test keys away from live settings, and forgets the key on sign-out', async () => {
    const { key, testKey } = await o.newAccount(10);
    let page = await signedIn(key);
    await page.selectOption('#filter-status', 'failed');
    await page.click('#filter-form button[type=submit]');
    await page.waitForSelector('#deliveries-empty:not([hidden])');
    await page.fill('#webhook-input', 'https://draft.example/hook?token=secret');
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in:not([hidden])');
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
    assert.equal(await page.evaluate('document.activeElement?.id'), 'key', 'the focus is where the next key goes');
    // the next account in this tab starts from an empty page, not from the previous one's filters and drafts
    assert.equal(await page.inputValue('#filter-status'), '');
    assert.equal(await page.inputValue('#webhook-input'), '');
    await page.close();

    assert.equal((await call(o.url, 'PUT', '/account/webhook', { key, body: { url: rx.url } })).status, 200);
    page = await signedIn(testKey);
    assert.equal(await page.textContent('#mode'), 'test mode');
    assert.match((await page.textContent('#webhook-url')) ?? '', /^not shown to test keys/);
    assert.equal(await page.isDisabled('#webhook-input'), true);
    assert.equal(await page.isDisabled('#secret-show'), true);
    assert.equal(await page.isVisible('#webhook-test-note'), true);
    await page.close();
  });
});
