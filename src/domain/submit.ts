// Accepting a search: parse, check the webhook URL, reserve credits and queue the items atomically,
// and answer with the body API.md documents for that endpoint.
import { createHash } from 'node:crypto';
import type { OpenStore } from '../store/db.js';
import type { Product } from '../store/schema.js';
import type { AuthenticatedKey } from '../store/accounts.js';
import { createSearch, findIdempotent, queueFigures, type StoredResponse } from '../store/searches.js';
import { creditsObject, fromCents, PRICE_CENTS } from './money.js';
import { INVALID_WEBHOOK, InputError, parseRequest, webhookRefused, type LinkedinNormalizer } from './inputs.js';

export interface SubmitDeps {
  store: OpenStore;
  /** extra check of a webhook URL's address (SSRF guard); returns a reason when refused */
  checkWebhookAddress?: (url: string) => string | null;
  /** canonical LinkedIn profile URL or null (from the phone engine) */
  normalizeLinkedin: LinkedinNormalizer;
  /** wakes in-process workers so accepted work starts at once */
  onSubmitted?: () => void;
}

// Items per minute assumed before any throughput has been measured.
const DEFAULT_RATE_PER_MIN: Record<Product, number> = { verify: 600, find: 120, phone: 600 };

const MESSAGES: Record<Product, [single: string, bulk: string]> = {
  find: ['Single search operating', 'Bulk search operating'],
  verify: ['Single verification operating', 'Bulk verification operating'],
  phone: ['Single search operating', 'Bulk search operating'],
};

export function requestHash(route: string, text: string): string {
  return createHash('sha256').update(route).update('\0').update(text).digest('hex');
}

export async function submitSearch(
  deps: SubmitDeps,
  auth: AuthenticatedKey,
  req: { product: Product; bulk: boolean; body: unknown; text: string; route: string; idempotencyKey?: string },
): Promise<StoredResponse> {
  const idem = req.idempotencyKey ? { key: req.idempotencyKey, requestHash: requestHash(req.route, req.text) } : undefined;
  if (idem) {
    const prior = await findIdempotent(deps.store, auth.accountId, idem);
    if (prior) return prior;
  }
  const body = req.body as Record<string, unknown>;
  const settings = body.settings;
  if (settings !== undefined && settings !== null && typeof settings === 'object' && 'webhook' in settings) {
    const w = (settings as Record<string, unknown>).webhook;
    if (w !== null && w !== undefined && w !== '') {
      if (typeof w !== 'string' || webhookRefused(w, deps.checkWebhookAddress)) throw new InputError(INVALID_WEBHOOK);
    }
  }
  const parsed = parseRequest(req.product, req.bulk, body, req.text, deps.normalizeLinkedin);
  const price = PRICE_CENTS[req.product];
  const n = parsed.items.length;

  let estimate = 1;
  if (req.bulk) {
    const q = await queueFigures(deps.store, req.product, auth.mode);
    const rate = Math.max(q.perMinute, DEFAULT_RATE_PER_MIN[req.product]);
    estimate = Math.max(1, Math.ceil((q.waiting + n) / rate));
  }

  const { response } = await createSearch(
    deps.store,
    {
      accountId: auth.accountId,
      mode: auth.mode,
      product: req.product,
      bulk: req.bulk,
      items: parsed.items,
      custom: parsed.custom,
      settings: parsed.settings,
      webhookUrl: parsed.webhookUrl,
      priceCents: price,
    },
    (id, r) => {
      const message = MESSAGES[req.product][req.bulk ? 1 : 0];
      const creditsUsed = fromCents(price * n);
      // Test-mode reservations come from the test balance; the split shows what a live key would pay.
      const split = auth.mode === 'test' ? { fromSub: r.fromTest, fromPaygo: 0 } : r;
      if (req.bulk) return { statusCode: 201, body: JSON.stringify({ message, id, credits_used: creditsUsed, estimated_duration: estimate }) };
      if (req.product === 'find') return { statusCode: 200, body: JSON.stringify({ message, id, credits_used: creditsUsed }) };
      return { statusCode: req.product === 'phone' ? 201 : 200, body: JSON.stringify({ message, id, credits_used: creditsUsed, credits: creditsObject(split) }) };
    },
    idem,
  );
  deps.onSubmitted?.();
  return response;
}
