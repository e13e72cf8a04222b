// Builds the Fastify app: body parsing, auth, rate limits, the API.md routes and the operator routes.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { documentRoute } from './openapi-doc.js';
import { sql } from 'kysely';
import type { OpenStore } from '../store/db.js';
import type { LinkedinNormalizer } from '../domain/inputs.js';
import { installErrorHandling } from './errors.js';
import { installJsonBody, BODY_LIMIT } from './json-body.js';
import { installAuth } from './auth.js';
import { searchRoutes } from './routes/searches.js';
import { accountRoutes } from './routes/account.js';

export interface ServerDeps {
  store: OpenStore;
  /** default POST requests per second per key (API.md: 10) */
  rateLimitPerSec: number;
  /** the process's pino logger; none: Fastify logs nothing */
  loggerInstance?: FastifyBaseLogger;
  onSubmitted?: () => void;
  normalizeLinkedin: LinkedinNormalizer;
  checkWebhookAddress?: (url: string) => string | null;
  /** extra route plugins (webhook management, metrics) registered after the core routes */
  plugins?: Array<(app: FastifyInstance) => Promise<void>>;
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // the process's logger (with its redaction): a 500's cause reaches the log; one line per request would not help
    ...(deps.loggerInstance ? { loggerInstance: deps.loggerInstance, logController: new LogController({ disableRequestLogging: true }) } : { logger: false }),
    // a whole request (headers and body) must arrive within two minutes (a 10 MB bulk at 85 KB/s):
    // connections that trickle a byte now and then (slowloris) are closed instead of being held for ever
    requestTimeout: 120_000,
    bodyLimit: BODY_LIMIT,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, allowUnionTypes: true } },
    clientErrorHandler: answerClientError,
    // `/account/info/` is the same resource to a client as `/account/info`
    routerOptions: { ignoreTrailingSlash: true },
    // the router's own refusals (a path that is not valid percent-encoding, a path segment beyond its
    // limit) in API.md's error shape too, without echoing the path
    frameworkErrors: (err, _req, reply) => {
      const r = reply as unknown as { code(n: number): { send(b: unknown): void } };
      if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') r.code(414).send({ message: 'Request path too long' });
      else r.code(400).send({ message: err.code === 'FST_ERR_BAD_URL' ? 'Invalid URL: the path is not valid percent-encoding' : 'Invalid request' });
    },
  });
  installErrorHandling(app);
  installJsonBody(app);
  installAuth(app, deps.store);

  await app.register(swagger, {
    transform: documentRoute,
    openapi: {
      info: { title: 'Openrow API', version: '0.1.0', description: 'Enrow-compatible contact-finding API' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } },
    },
  });

  await app.register(rateLimit, {
    global: false,
    // after auth, so the limit is per key (and per-key overrides are known)
    hook: 'preParsing',
    keyGenerator: (req: FastifyRequest) => req.auth?.keyId ?? req.ip,
    errorResponseBuilder: () => ({ statusCode: 429, message: 'Rate limit exceeded' }),
    addHeadersOnExceeding: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true },
    addHeaders: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true, 'retry-after': true },
  });

  const rateLimitFor = (req: FastifyRequest) => req.auth?.rateLimitPerSec ?? deps.rateLimitPerSec;
  // API.md: 10 requests/s per key on POST endpoints, all of them together. One limiter for every POST
  // route: a route's own rateLimit config would give that route a counter of its own. It runs before the
  // body is read and parsed, so a request over the limit costs no parsing, and one whose body turns out
  // malformed still counts.
  const postLimit = app.rateLimit({ max: rateLimitFor, timeWindow: 1000 });
  // PUT (the global webhook setting) is limited as much, in a bucket of its own: a client making its 10
  // POSTs a second must not be refused one for having changed a setting
  const putLimit = app.rateLimit({ max: rateLimitFor, timeWindow: 1000, keyGenerator: (req: FastifyRequest) => `put:${req.auth?.keyId ?? req.ip}` });
  app.addHook('preParsing', async (req, reply) => {
    if (req.method === 'POST') await postLimit.call(app, req, reply);
    else if (req.method === 'PUT') await putLimit.call(app, req, reply);
  });
  await app.register(searchRoutes({ store: deps.store, normalizeLinkedin: deps.normalizeLinkedin, onSubmitted: deps.onSubmitted, checkWebhookAddress: deps.checkWebhookAddress }));
  await app.register(accountRoutes({ store: deps.store, checkWebhookAddress: deps.checkWebhookAddress }));
  for (const plugin of deps.plugins ?? []) await app.register(plugin);

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { config: { public: true }, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { public: true }, schema: { hide: true } }, async (_req, reply) => {
    try {
      await sql`select 1`.execute(deps.store.db);
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', message: 'database not reachable' });
    }
  });
  return app;
}

// A request node's HTTP parser refuses (a malformed request line or header, headers too large, a request
// that did not arrive in time) never reaches the routes: it is answered here, in API.md's error shape like
// every other error, and the connection is closed (not half-closed: a client ignoring the close would
// otherwise keep it for as long as it likes).
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // an answer already on its way on this connection: nothing can be added to it
  if ((socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request timeout']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request headers too large']
    : [400, 'Malformed HTTP request'];
  const body = JSON.stringify({ message });
  // end() sends the answer before closing; a socket that cannot take it is simply dropped
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy());
  else socket.destroy();
}
