// The twelve search endpoints of API.md: POST and GET, single and bulk, for the three products.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BODY_LIMIT, SINGLE_BODY_LIMIT } from '../json-body.js';
import type { Product } from '../../store/schema.js';
import { getItems, getSearch } from '../../store/searches.js';
import { searchView } from '../../domain/views.js';
import { stringifyWithRaw } from '../../domain/raw-json.js';
import { submitSearch, type SubmitDeps } from '../../domain/submit.js';
import { UUID_RE } from '../../domain/ids.js';
import { ApiError } from '../errors.js';
import { idempotencyKeyOf } from '../idempotency-key.js';
import { apiKeyHeader, bodySchemas, idQuery } from '../schemas.js';

const PATHS: Record<Product, string> = { find: '/email/find', verify: '/email/verify', phone: '/phone' };

export function searchRoutes(deps: SubmitDeps) {
  return async function (app: FastifyInstance) {
    for (const product of ['find', 'verify', 'phone'] as Product[]) {
      for (const bulk of [false, true]) {
        const url = `${PATHS[product]}/${bulk ? 'bulk' : 'single'}`;
        app.post(
          url,
          {
            attachValidation: true,
            // a single search needs a small body; only a bulk may carry 5,000 items
            bodyLimit: bulk ? BODY_LIMIT : SINGLE_BODY_LIMIT,
            // No header schema on the hot path: validating headers copies them on every request. The
            // optional Idempotency-Key header is documented here instead.
            schema: {
              tags: [product],
              description: 'Accepts the search and answers at once. Optional header `Idempotency-Key` (up to 255 characters): the same key and body within 24 h returns the first response and charges once; the same key with another body answers 409.',
              body: bodySchemas[product][bulk ? 'bulk' : 'single'],
              security: [{ apiKey: [] }],
            },
          },
          async (req: FastifyRequest, reply: FastifyReply) => {
            if (req.body === undefined || req.body === null) throw new ApiError(400, 'Missing payload');
            if (req.validationError) throw new ApiError(400, `Invalid payload: ${req.validationError.message}`);
            const idem = idempotencyKeyOf(req);
            const res = await submitSearch(deps, req.auth, {
              product,
              bulk,
              body: req.body,
              text: req.rawText ?? JSON.stringify(req.body),
              route: url,
              idempotencyKey: idem,
            });
            return reply.code(res.statusCode).type('application/json').send(res.body);
          },
        );
        app.get(
          url,
          { schema: { tags: [product], headers: apiKeyHeader, querystring: idQuery, security: [{ apiKey: [] }] } },
          async (req: FastifyRequest<{ Querystring: { id?: string } }>, reply: FastifyReply) => {
            const id = req.query.id;
            if (!id) throw new ApiError(400, 'Missing id in the query params');
            const notFound = bulk ? 'Bulk search not found' : 'Search not found';
            if (!UUID_RE.test(id)) throw new ApiError(404, notFound);
            const search = await getSearch(deps.store, req.auth.accountId, id.toLowerCase());
            // A test key sees test searches only, a live key live ones (as Stripe separates its modes).
            if (!search || search.product !== product || Boolean(search.bulk) !== bulk || search.mode !== req.auth.mode) throw new ApiError(404, notFound);
            // an ongoing bulk search shows its counters only: its items are not read until it completes
            const items = search.bulk && search.status !== 'completed' ? [] : await getItems(deps.store, search.id);
            const view = searchView(search, items);
            return reply.code(view.statusCode).type('application/json').send(stringifyWithRaw(view.body));
          },
        );
      }
    }
  };
}
