// GET /account/info (API.md) and the global webhook setting.
import type { FastifyInstance } from 'fastify';
import { SINGLE_BODY_LIMIT } from '../json-body.js';
import type { OpenStore } from '../../store/db.js';
import { getAccount, setGlobalWebhook } from '../../store/accounts.js';
import { fromCents } from '../../domain/money.js';
import { INVALID_WEBHOOK, webhookRefused } from '../../domain/inputs.js';
import { ApiError } from '../errors.js';
import { apiKeyHeader } from '../schemas.js';
import { DISABLE_AFTER_MS } from '../../store/deliveries.js';

export function accountRoutes(deps: { store: OpenStore; checkWebhookAddress?: (url: string) => string | null }) {
  return async function (app: FastifyInstance) {
    app.get('/account/info', { schema: { tags: ['account'], headers: apiKeyHeader, security: [{ apiKey: [] }] } }, async (req) => {
      const a = await getAccount(deps.store, req.auth.accountId);
      if (!a) throw new ApiError(401, 'This apikey is not valid');
      // a test key sees the test side only: neither the live balances nor the live webhook settings
      if (req.auth.mode === 'test') return { credits: fromCents(a.test_cents), webhooks: [], balances: { test: fromCents(a.test_cents) }, mode: 'test' };
      return {
        credits: fromCents(a.sub_cents + a.paygo_cents),
        webhooks: a.webhook_url && !a.webhook_disabled_at ? [a.webhook_url] : [],
        // Openrow additions
        balances: { sub: fromCents(a.sub_cents), paygo: fromCents(a.paygo_cents), test: fromCents(a.test_cents) },
        mode: req.auth.mode,
        ...(a.webhook_url && a.webhook_disabled_at
          ? { webhook_disabled: { url: a.webhook_url, disabled_at: new Date(a.webhook_disabled_at).toISOString(), reason: a.webhook_disabled_reason } }
          : {}),
        // the streak that disables it after 5 days, while there is still time to fix the receiver
        ...(a.webhook_url && !a.webhook_disabled_at && a.webhook_failing_since !== null
          ? {
              webhook_failing: {
                url: a.webhook_url,
                since: new Date(a.webhook_failing_since).toISOString(),
                disabled_after: new Date(a.webhook_failing_since + DISABLE_AFTER_MS).toISOString(),
              },
            }
          : {}),
      };
    });

    app.put(
      '/account/webhook',
      {
        schema: {
          tags: ['account'],
          headers: apiKeyHeader,
          security: [{ apiKey: [] }],
          // any non-string url gets API.md's own "Invalid webhook" message from the handler
          body: { type: 'object', properties: { url: { description: 'https URL, or null to clear' } } },
          description: 'Sets (`{"url": "https://…"}`) or clears (`{"url": null}`) the global webhook URL. Live keys only.',
        },
        attachValidation: true,
        bodyLimit: SINGLE_BODY_LIMIT,
      },
      async (req) => {
        const body = req.body as { url?: unknown } | undefined;
        if (!body) throw new ApiError(400, 'Missing payload');
        if (req.validationError) throw new ApiError(400, `Invalid payload: ${req.validationError.message}`);
        // a body without the field (or with a misspelt one) must not clear the URL: clearing is explicit
        if (!('url' in body)) throw new ApiError(400, 'Missing url: a webhook URL, or null to clear it');
        // the global URL receives live results: a test key may not point it elsewhere
        if (req.auth.mode === 'test') throw new ApiError(403, 'Test-mode keys cannot change the global webhook URL');
        const url = body.url ?? null;
        if (url !== null && (typeof url !== 'string' || webhookRefused(url, deps.checkWebhookAddress))) throw new ApiError(400, INVALID_WEBHOOK);
        await setGlobalWebhook(deps.store, req.auth.accountId, url);
        return { webhooks: url ? [url] : [] };
      },
    );
  };
}
