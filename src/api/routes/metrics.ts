// GET /metrics (Prometheus): process metrics plus queue and delivery depths read at scrape time, so
// every process reports the shared database's truth rather than its own counters.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { OpenStore } from '../../store/db.js';
import { sharedReading } from '../../store/shared-reading.js';
import { isAllowedAddress, parseCidrList } from '../../net/address-policy.js';

const LOOPBACK = parseCidrList(['127.0.0.0/8', '::1/128']);
// headers a reverse proxy adds: a request it relays comes from loopback, but not from this machine
const RELAYED = ['forwarded', 'x-forwarded-for', 'x-real-ip', 'via'];

/**
 * Without a token, only a scrape from this machine is answered: the queue depths and delivery counts are
 * the operator's business, and a server reachable from the internet must not hand them to anyone.
 */
export function isLocalScrape(remoteAddress: string | undefined, headers: IncomingHttpHeaders): boolean {
  return remoteAddress !== undefined && isAllowedAddress(remoteAddress, LOOPBACK) && !RELAYED.some((h) => headers[h] !== undefined);
}

/** `token`: when given, a scrape must send `Authorization: Bearer <token>` (compared in constant time); without it, only local scrapes are answered. */
export function metricsRoutes(deps: { store: OpenStore; token?: string }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const items = new Gauge({ name: 'openrow_queue_items', help: 'Search items by product and state', labelNames: ['product', 'state'], registers: [registry] });
  const deliveries = new Gauge({ name: 'openrow_webhook_deliveries', help: 'Webhook deliveries by status', labelNames: ['status'], registers: [registry] });
  const disabledUrls = new Gauge({ name: 'openrow_webhook_urls_disabled', help: 'Accounts whose global webhook URL is disabled (410, or 5 days of failures)', registers: [registry] });
  const oldest = new Gauge({ name: 'openrow_queue_oldest_due_seconds', help: 'Age of the oldest due queued item', registers: [registry] });

  // The counts scan whole tables: scrapes within a few seconds of each other share one reading (whoever
  // holds the token may scrape: nobody may run them in a loop on the server's thread).
  const reading = sharedReading(5000, async (now) => {
    const db = deps.store.db;
    const [byState, byStatus, due, disabled] = await Promise.all([
      db.selectFrom('items').select(['product', 'state', (eb) => eb.fn.countAll<number>().as('n')]).where('state', '!=', 'done').groupBy(['product', 'state']).execute(),
      db.selectFrom('webhook_deliveries').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute(),
      db.selectFrom('items').select((eb) => eb.fn.min('run_at').as('t')).where('state', '=', 'queued').where('run_at', '<=', now).executeTakeFirst(),
      db.selectFrom('accounts').select((eb) => eb.fn.countAll<number>().as('n')).where('webhook_url', 'is not', null).where('webhook_disabled_at', 'is not', null).executeTakeFirstOrThrow(),
    ]);
    items.reset();
    for (const r of byState) items.set({ product: r.product, state: r.state }, Number(r.n));
    deliveries.reset();
    for (const r of byStatus) deliveries.set({ status: r.status }, Number(r.n));
    disabledUrls.set(Number(disabled.n));
    oldest.set(due?.t ? (now - Number(due.t)) / 1000 : 0);
    return registry.metrics();
  });

  return async function (app: FastifyInstance) {
    app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (req, reply) => {
      if (deps.token && !bearerMatches(req.headers.authorization, deps.token)) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({ message: 'A bearer token is required (OPENROW_METRICS_TOKEN)' });
      }
      if (!deps.token && !isLocalScrape(req.socket.remoteAddress, req.headers)) {
        return reply.code(403).send({ message: 'Metrics are served to this machine only; set OPENROW_METRICS_TOKEN to scrape them from elsewhere' });
      }
      return reply.type(registry.contentType).send(await reading());
    });
  };
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const wanted = Buffer.from(token);
  // the lengths are compared first (timingSafeEqual needs equal lengths): a token's length is no secret
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}
