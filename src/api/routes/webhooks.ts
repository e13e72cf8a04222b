// Openrow additions for webhook users: the signing secret, the delivery log, redelivery and recovery.
// Everything is scoped to the caller's account; another account's delivery id answers 404. A test key
// sees the deliveries of test searches only, and cannot read or rotate the account's signing secret
// (it would sign live results).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OpenStore } from '../../store/db.js';
import { currentSecret, getDelivery, listDeliveries, parseCursor, recoverFailed, retryDelivery, rotateSecret, RECOVER_MAX_MS } from '../../store/webhooks.js';
import { signerId } from '../../webhooks/sign.js';
import { runIdempotent } from '../../store/idempotent-call.js';
import type { IdempotencyRequest, StoredResponse } from '../../store/searches.js';
import { requestHash } from '../../domain/submit.js';
import { ApiError } from '../errors.js';
import { idempotencyKeyOf } from '../idempotency-key.js';
import { apiKeyHeader } from '../schemas.js';

const common = { tags: ['webhooks'], headers: apiKeyHeader, security: [{ apiKey: [] }] };

// JavaScript's own date range (±8.64e15 ms): beyond it a time is no date, and PostgreSQL's bigint overflows
const MAX_TIME_MS = 8.64e15;
/** how far beyond 14 days a recover's `since` may be and still be read as 14 days ago (clocks, latency) */
const RECOVER_SLACK_MS = 5 * 60_000;

function parseTime(v: string | number | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  // Unix seconds come as a JSON number as often as a string; so do JavaScript's milliseconds (Date.now()):
  // a number of 12 digits or more is read as those (as seconds it would be after the year 5000)
  const unix = (n: number) => (n >= 1e11 ? n : n * 1000);
  const t = typeof v === 'number' ? (Number.isInteger(v) && v >= 0 ? unix(v) : NaN) : /^\d{1,16}$/.test(v) ? unix(Number(v)) : Date.parse(v);
  if (!Number.isFinite(t) || Math.abs(t) > MAX_TIME_MS) throw new ApiError(400, `Invalid ${name}: an ISO 8601 date or Unix seconds is required`);
  return t;
}

/** Idempotency-Key (API.md: every POST): the path (with its delivery id) and the body make the request. */
function idempotency(req: FastifyRequest): IdempotencyRequest | undefined {
  const key = idempotencyKeyOf(req);
  if (!key) return undefined;
  const path = req.url.split('?')[0]!;
  return { key, requestHash: requestHash(path, req.rawText ?? JSON.stringify(req.body ?? null)) };
}

async function sendStored(reply: FastifyReply, res: Promise<StoredResponse>) {
  const r = await res;
  return reply.code(r.statusCode).type('application/json').send(r.body);
}

const stored = (statusCode: number, body: unknown): StoredResponse => ({ statusCode, body: JSON.stringify(body) });

export function webhookRoutes(deps: { store: OpenStore; onRedrive?: () => void }) {
  return async function (app: FastifyInstance) {
    // a secret in a response must not be kept by a browser or a proxy cache
    // each key sees the secret of its own mode: test deliveries are signed with the test secret
    app.get('/webhooks/secret', { schema: common }, async (req, reply) => {
      reply.header('cache-control', 'no-store');
      return { secret: await currentSecret(deps.store, signerId(req.auth.accountId, req.auth.mode)) };
    });

    app.post('/webhooks/secret/rotate', { schema: common }, async (req, reply) => {
      reply.header('cache-control', 'no-store');
      return sendStored(reply, runIdempotent(deps.store, req.auth.accountId, idempotency(req), async () => {
        const r = await rotateSecret(deps.store, signerId(req.auth.accountId, req.auth.mode));
        return stored(200, { secret: r.secret, previous_secret_valid_until: new Date(r.previousValidUntil).toISOString() });
      }));
    });

    app.get(
      '/webhooks/deliveries',
      {
        schema: {
          ...common,
          querystring: {
            type: 'object',
            properties: {
              search_id: { type: 'string' },
              event: { type: 'string' },
              status: { type: 'string', enum: ['pending', 'delivering', 'succeeded', 'failed'] },
              since: { type: 'string' },
              until: { type: 'string' },
              cursor: { type: 'string' },
              limit: { type: 'string', pattern: '^[0-9]+$' },
            },
          },
        },
        attachValidation: true,
      },
      async (req: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => {
        if (req.validationError) throw new ApiError(400, `Invalid query: ${req.validationError.message}`);
        const q = req.query;
        const limit = Number(q.limit ?? 50);
        // a limit out of range is refused like any other bad value, not quietly bent into range
        if (limit < 1 || limit > 200) throw new ApiError(400, 'Invalid query: limit must be from 1 to 200');
        const cursor = q.cursor ? parseCursor(q.cursor) : undefined;
        // a cursor we did not hand out would otherwise start over at the first page, for ever
        if (cursor === null) throw new ApiError(400, 'Invalid cursor: pass next_cursor from the previous page as is');
        return listDeliveries(deps.store, req.auth.accountId, req.auth.mode, {
          // search ids are lowercase UUIDs; GET /…?id= accepts them in any case, so does this filter
          searchId: q.search_id?.toLowerCase(),
          event: q.event,
          status: q.status,
          since: parseTime(q.since, 'since'),
          until: parseTime(q.until, 'until'),
          cursor,
          limit,
        });
      },
    );

    app.get('/webhooks/deliveries/:id', { schema: common }, async (req: FastifyRequest<{ Params: { id: string } }>) => {
      const d = await getDelivery(deps.store, req.auth.accountId, req.auth.mode, req.params.id);
      if (!d) throw new ApiError(404, 'Delivery not found');
      return d;
    });

    app.post('/webhooks/deliveries/:id/retry', { schema: common }, async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
      return sendStored(reply, runIdempotent(deps.store, req.auth.accountId, idempotency(req), async () => {
        const outcome = await retryDelivery(deps.store, req.auth.accountId, req.auth.mode, req.params.id);
        if (outcome === 'not_found') throw new ApiError(404, 'Delivery not found');
        if (outcome === 'in_flight') throw new ApiError(409, 'Delivery is being attempted right now');
        if (outcome === 'no_url') throw new ApiError(409, 'This delivery was made for the global webhook URL, which is now unset or disabled');
        deps.onRedrive?.();
        return stored(202, { id: req.params.id, status: 'pending' });
      }));
    });

    app.post(
      '/webhooks/recover',
      { schema: { ...common, body: { type: 'object', properties: { since: { type: ['string', 'number'] }, until: { type: ['string', 'number'] } } } }, attachValidation: true },
      async (req, reply) => {
        if (req.body === undefined || req.body === null) throw new ApiError(400, 'Missing payload');
        const body = req.body as { since?: string | number; until?: string | number };
        if (req.validationError) throw new ApiError(400, `Invalid payload: ${req.validationError.message}`);
        const now = Date.now();
        let since = parseTime(body.since, 'since');
        if (since === undefined) throw new ApiError(400, 'Missing since: the start of the time range to recover');
        // "now minus 14 days" computed by the client is a moment older by the time it arrives here: up
        // to a few minutes beyond the limit are read as the limit itself
        if (since < now - RECOVER_MAX_MS - RECOVER_SLACK_MS) throw new ApiError(400, 'since may be at most 14 days ago');
        if (since > now) throw new ApiError(400, 'since must not be in the future');
        since = Math.max(since, now - RECOVER_MAX_MS);
        const until = parseTime(body.until, 'until') ?? now + 1;
        if (until <= since) throw new ApiError(400, 'until must be after since');
        return sendStored(reply, runIdempotent(deps.store, req.auth.accountId, idempotency(req), async () => {
          const n = await recoverFailed(deps.store, req.auth.accountId, req.auth.mode, since, until);
          if (n) deps.onRedrive?.();
          return stored(202, { recovered: n });
        }));
      },
    );
  };
}
