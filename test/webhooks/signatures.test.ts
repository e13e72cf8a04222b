// Our signatures must verify with the receivers' own libraries (standardwebhooks, svix), on what actually
// arrived over HTTPS, and must fail as soon as one byte of the body differs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { generateWebhookSecret, signPayload, webhookHeaders } from '../../src/webhooks/sign.js';
import { harness, receiver, statusOf, waitFor } from './harness.js';
import type { RecordedRequest } from '../support/https-receiver.js';

const signedHeaders = (req: RecordedRequest) => ({
  'webhook-id': String(req.headers['webhook-id']),
  'webhook-timestamp': String(req.headers['webhook-timestamp']),
  'webhook-signature': String(req.headers['webhook-signature']),
});

function verifiesWithBoth(secret: string, body: string, headers: Record<string, string>): boolean[] {
  const attempt = (f: () => unknown) => {
    try {
      f();
      return true;
    } catch {
      return false;
    }
  };
  return [attempt(() => new StandardWebhook(secret).verify(body, headers)), attempt(() => new SvixWebhook(secret).verify(body, headers))];
}

test('the known-answer vector of the Standard Webhooks / Svix documentation', () => {
  const sig = signPayload(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
  assert.equal(sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('generated secrets are whsec_ + base64 of 32 random bytes', () => {
  const a = generateWebhookSecret();
  const b = generateWebhookSecret();
  assert.match(a, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(a.slice(6), 'base64').length, 32);
  assert.notEqual(a, b);
});

test('delivered webhooks verify with standardwebhooks and svix, and fail when the body is altered', async () => {
  const r = await receiver();
  const h = harness();
  try {
    const secret = h.store.rotateSecret('acc_sig');
    const payload = '{"event":"verification_finished","id":"0190abcd","email":"pam@dundermifflin.com","qualification":"valid","custom":{"k":"ü"}}';
    const d = h.enqueue(r.url, payload, 'acc_sig');
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'delivered');
    const req = r.requests[0]!;
    const headers = signedHeaders(req);
    assert.equal(headers['webhook-id'], d.id);
    assert.ok(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000) < 300);
    assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(verifiesWithBoth(secret, req.body, headers), [true, true]);
    assert.deepEqual(verifiesWithBoth(secret, req.body.replace('valid', 'invalid'), headers), [false, false]);
    assert.deepEqual(verifiesWithBoth(secret, `${req.body} `, headers), [false, false]);
    assert.deepEqual(verifiesWithBoth(generateWebhookSecret(), req.body, headers), [false, false]);
    // the timestamp is part of what is signed
    assert.deepEqual(verifiesWithBoth(secret, req.body, { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 1) }), [false, false]);
  } finally {
    await h.close();
    await r.close();
  }
});

test('during a rotation both secrets sign, and each verifies on its own with both libraries', async () => {
  const r = await receiver();
  const h = harness();
  try {
    const old = h.store.rotateSecret('acc_rot');
    const current = h.store.rotateSecret('acc_rot');
    const d = h.enqueue(r.url, '{"event":"bulk_search_finished","id":"b1","credits":{"cost":2284}}', 'acc_rot');
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'delivered');
    const req = r.requests[0]!;
    const headers = signedHeaders(req);
    const parts = headers['webhook-signature'].split(' ');
    assert.equal(parts.length, 2);
    assert.ok(parts.every((p) => p.startsWith('v1,')));
    assert.notEqual(parts[0], parts[1]);
    assert.deepEqual(verifiesWithBoth(current, req.body, headers), [true, true]);
    assert.deepEqual(verifiesWithBoth(old, req.body, headers), [true, true]);
    // each signature alone is the one of its secret
    assert.deepEqual(verifiesWithBoth(current, req.body, { ...headers, 'webhook-signature': parts[0]! }), [true, true]);
    assert.deepEqual(verifiesWithBoth(old, req.body, { ...headers, 'webhook-signature': parts[1]! }), [true, true]);
    assert.deepEqual(verifiesWithBoth(old, req.body, { ...headers, 'webhook-signature': parts[0]! }), [false, false]);
  } finally {
    await h.close();
    await r.close();
  }
});

test('after the grace period only the current secret signs', async () => {
  const r = await receiver();
  const h = harness();
  try {
    const old = h.store.rotateSecret('acc_grace');
    const current = h.store.rotateSecret('acc_grace', undefined, 0);
    const d = h.enqueue(r.url, '{"event":"bulk_phone_search_finished","id":"p1"}', 'acc_grace');
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'delivered');
    const headers = signedHeaders(r.requests[0]!);
    assert.equal(headers['webhook-signature'].split(' ').length, 1);
    assert.deepEqual(verifiesWithBoth(current, r.requests[0]!.body, headers), [true, true]);
    assert.deepEqual(verifiesWithBoth(old, r.requests[0]!.body, headers), [false, false]);
  } finally {
    await h.close();
    await r.close();
  }
});

test('each retry carries the same webhook-id and a fresh, valid signature', async () => {
  const r = await receiver();
  const h = harness({ retry: { schedule: '0s,1100ms' } });
  try {
    const secret = h.store.rotateSecret('acc_retry');
    r.setBehaviour((req) => ({ status: req.index === 0 ? 500 : 200 }));
    const d = h.enqueue(r.url, '{"event":"single_phone_search_finished","id":"x"}', 'acc_retry');
    await waitFor(() => statusOf(h, d.id) === 'succeeded', 'delivered');
    const [a, b] = r.requests.map(signedHeaders);
    assert.equal(a!['webhook-id'], b!['webhook-id']);
    assert.ok(Number(b!['webhook-timestamp']) > Number(a!['webhook-timestamp']));
    for (const req of r.requests) assert.deepEqual(verifiesWithBoth(secret, req.body, signedHeaders(req)), [true, true]);
  } finally {
    await h.close();
    await r.close();
  }
});

test('webhookHeaders without secrets sends id and timestamp only', () => {
  assert.deepEqual(webhookHeaders([], 'msg_1', 1700000000, '{}'), { 'webhook-id': 'msg_1', 'webhook-timestamp': '1700000000' });
});
