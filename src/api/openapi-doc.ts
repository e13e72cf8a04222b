// What /openapi.json says beyond the validation schemas: the status codes each route answers, the
// Idempotency-Key header where it does something, and `id` as required on the search GETs. Added to the
// document only: response schemas on the routes would make Fastify serialize through them (the verbatim
// bytes of `custom` and `raw_params` would not survive), and a required `id` in the validation schema
// would answer a schema error instead of API.md's "Missing id in the query params".
import type { FastifySchema } from 'fastify';

const message = (description: string) => ({
  description,
  type: 'object',
  properties: { message: { type: 'string' } },
});

const COMMON_ERRORS = {
  400: message('Refused input, with API.md\'s exact message'),
  401: message('No API key, or one that is not valid'),
};

const SEARCH_POST = /^\/(email\/find|email\/verify|phone)\/(single|bulk)$/;

function searchPostResponses(url: string): Record<number, unknown> {
  const single = url.endsWith('/single');
  // API.md: the email singles answer 200, the phone single and every bulk 201
  const accepted = single && !url.startsWith('/phone') ? 200 : 201;
  return {
    [accepted]: { description: 'Accepted: the search runs; `id` to poll it, `credits_used` reserved', type: 'object', additionalProperties: true },
    ...COMMON_ERRORS,
    409: message('Idempotency-Key reused with another body, or its first request still running'),
    413: message('Body too large'),
    422: message('Insufficient balance: nothing created, nothing charged'),
    429: message('Rate limit exceeded (Retry-After, X-RateLimit-Reset)'),
  };
}

function searchGetResponses(url: string): Record<number, unknown> {
  const phoneBulk = url === '/phone/bulk';
  return {
    200: { description: phoneBulk ? 'The search, ongoing or completed' : 'Completed: the result', type: 'object', additionalProperties: true },
    ...(phoneBulk ? {} : { 202: { description: 'Still running', type: 'object', additionalProperties: true } }),
    ...COMMON_ERRORS,
    404: message('No such search for this key'),
  };
}

const IDEMPOTENCY_HEADER = {
  type: 'object',
  properties: { 'idempotency-key': { type: 'string', maxLength: 255, description: 'The same key and body within 24 h returns the first response and charges once' } },
};

/** @fastify/swagger's `transform`: the route's schema as the document shows it. */
export function documentRoute({ schema, url, route }: { schema: FastifySchema; url: string; route: { method: string | string[] } }): { schema: FastifySchema; url: string } {
  if (!schema) return { schema, url };
  const method = Array.isArray(route.method) ? route.method[0] : route.method;
  const doc: Record<string, unknown> = { ...schema };
  if (SEARCH_POST.test(url) && method === 'POST') {
    doc.headers = IDEMPOTENCY_HEADER;
    doc.response = searchPostResponses(url);
  } else if (SEARCH_POST.test(url) && method === 'GET') {
    // the API key is in the security scheme; the Idempotency-Key does nothing on a GET
    delete doc.headers;
    doc.querystring = { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid', description: 'The id the POST answered' } } };
    doc.response = searchGetResponses(url);
  } else if (method === 'GET' && url === '/account/info') {
    delete doc.headers;
  }
  return { schema: doc as FastifySchema, url };
}
