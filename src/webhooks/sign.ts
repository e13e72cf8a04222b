// Standard Webhooks 1.0 signatures: HMAC-SHA256 over `${id}.${timestamp}.${body}` with the base64-decoded
// secret, sent as `v1,<base64>`; several secrets (rotation grace period) give space-separated signatures.
import { createHmac, randomBytes } from 'node:crypto';

const PREFIX = 'whsec_';

/**
 * Test-mode deliveries are signed with a secret of their own, kept under this signer id, which test keys
 * may read and rotate: a test key, often handed to developers or CI, must not be able to make Openrow
 * sign payloads that a receiver checking the live secret would take for real results.
 */
export const signerId = (accountId: string, mode: 'live' | 'test') => (mode === 'test' ? `${accountId}${TEST_SIGNER}` : accountId);
const TEST_SIGNER = '/test';
export const accountOfSigner = (signer: string) => (signer.endsWith(TEST_SIGNER) ? signer.slice(0, -TEST_SIGNER.length) : signer);

/** Test-mode delivery ids say so (`msg_test_…`, the `webhook-id` too): they are signed with the test secret. */
export const TEST_DELIVERY_PREFIX = 'msg_test_';
export const deliverySignerId = (accountId: string, deliveryId: string) => signerId(accountId, deliveryId.startsWith(TEST_DELIVERY_PREFIX) ? 'test' : 'live');

/** `whsec_` + base64 of 32 random bytes (the spec allows 24–64). */
export function generateWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

// decoded keys of recently used secrets; bounded, since secrets are few and rotate rarely
const keyCache = new Map<string, Buffer>();

export function secretKeyBytes(secret: string): Buffer {
  const cached = keyCache.get(secret);
  if (cached) return cached;
  const b64 = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  const key = Buffer.from(b64, 'base64');
  if (key.length < 16) throw new Error('webhook secret is too short or not base64');
  if (keyCache.size >= 1000) keyCache.clear();
  keyCache.set(secret, key);
  return key;
}

/** The value of `webhook-signature`: one `v1,<base64>` per secret, in the order given. */
export function signPayload(secrets: string[], id: string, timestampSec: number, body: string): string {
  // fed in parts: joining them first would copy the whole body once per delivery
  const prefix = `${id}.${timestampSec}.`;
  let out = '';
  for (const s of secrets) {
    const mac = createHmac('sha256', secretKeyBytes(s)).update(prefix, 'utf8').update(body, 'utf8').digest('base64');
    out = out ? `${out} v1,${mac}` : `v1,${mac}`;
  }
  return out;
}

/** The three Standard Webhooks headers; without secrets only id and timestamp are sent. */
export function webhookHeaders(secrets: string[], id: string, timestampSec: number, body: string): Record<string, string> {
  const headers: Record<string, string> = { 'webhook-id': id, 'webhook-timestamp': String(timestampSec) };
  if (secrets.length) headers['webhook-signature'] = signPayload(secrets, id, timestampSec, body);
  return headers;
}
