// The composition root: store, engines, queue workers, webhook dispatcher and HTTP server, wired
// together for `openrow serve` (all of them) or `openrow worker` (no HTTP).
import type { FastifyInstance } from 'fastify';
import { ConfigError, type Config } from './config.js';
import { openStore, type OpenStore } from './store/db.js';
import { createWorker, type Worker } from './queue/worker.js';
import { buildServer } from './api/server.js';
import { createEngines, type EngineSet } from './engines/factory.js';
import type { Engines } from './engines/types.js';
import type { Mode } from './store/schema.js';
import { createLogger, type Logger } from './log.js';
import { webhookRoutes } from './api/routes/webhooks.js';
import { metricsRoutes } from './api/routes/metrics.js';
import { dashboardRoutes } from './dashboard/routes.js';
import { checkWebhookUrl } from './webhooks/ssrf.js';
import { parseCidrList } from './net/address-policy.js';
import { createDispatcher, type Dispatcher } from './webhooks/dispatcher.js';
import { pruneDeliveries } from './store/retention.js';
import { DbDeliveryStore } from './store/deliveries.js';
import { listen, NOTIFY_DELIVERIES, NOTIFY_ITEMS } from './store/notify.js';

export interface RunningOpenrow {
  store: OpenStore;
  app?: FastifyInstance;
  url?: string;
  worker?: Worker;
  dispatcher?: Dispatcher;
  log: Logger;
  close(): Promise<void>;
}

export interface StartOptions {
  api: boolean;
  workers: boolean;
  /** engines to use instead of the configured ones (tests) */
  engines?: Record<Mode, Engines>;
  /** PostgreSQL schema (tests isolate runs in their own schema) */
  pgSchema?: string;
  /** extra CA certificates (PEM) trusted for webhook receivers; production uses NODE_EXTRA_CA_CERTS */
  webhookCa?: string | string[];
}

export async function startOpenrow(config: Config, opts: StartOptions): Promise<RunningOpenrow> {
  const log = createLogger(config.logLevel);
  const store = await openStore({
    url: config.databaseUrl,
    sqliteSync: config.sqliteSync,
    pgSchema: opts.pgSchema,
    onConnectionError: (err) => log.warn({ err }, 'PostgreSQL connection lost (the next query reconnects)'),
  });
  let engineSet: EngineSet | undefined;
  let worker: Worker | undefined;
  let dispatcher: Dispatcher | undefined;
  let app: FastifyInstance | undefined;
  let url: string | undefined;
  const closers: Array<() => Promise<void>> = [];
  try {
    engineSet = await createEngines(config, store, {
      onBlockedMailHost: (e) => log.warn(e, 'verifier refused a mail host on a non-public address'),
    });
    if (opts.workers) {
      // Webhooks are delivered by every process that runs workers; leases keep them from colliding.
      const w = config.webhooks;
      dispatcher = createDispatcher({
        store: new DbDeliveryStore(store),
        allowCidrs: w.allowCidrs,
        dnsServers: config.engine.dnsServers,
        ca: opts.webhookCa,
        connectTimeoutMs: w.connectTimeoutMs,
        timeoutMs: w.timeoutMs,
        concurrency: w.concurrency,
        perOriginConcurrency: w.perOriginConcurrency,
        breaker: { openMs: w.breakerOpenMs },
        retry: w.retryScheduleMs ? { schedule: w.retryScheduleMs } : undefined,
        onError: (err, context) => log.error({ err, context }, 'webhook dispatcher error'),
        // the origin only: webhook URLs often carry a token in their path or query
        onUrlDisabled: (accountId, url, reason) => log.warn({ account: accountId, origin: new URL(url).origin, reason }, 'global webhook URL disabled'),
        onAttempt: (d, a, next) =>
          log.debug({ delivery: d.id, event: d.event, attempt: a.attemptNo, status: a.statusCode, error: a.error, next: next.status }, 'webhook attempt'),
      });
      dispatcher.start();
      closers.push(() => dispatcher!.stop());
      if (w.retentionDays > 0) closers.push(startRetention(store, w.retentionDays, log));
    }
    if (opts.workers && config.workerConcurrency > 0) {
      const engines = opts.engines ?? engineSet.engines;
      worker = createWorker({
        store,
        engines,
        concurrency: config.workerConcurrency,
        leaseMs: config.leaseMs,
        log,
        onSearchCompleted: (_id, webhookQueued) => {
          if (webhookQueued) dispatcher?.wake();
        },
      });
      worker.start();
      closers.unshift(() => worker!.stop());
    }
    if (store.pgPool && (worker || dispatcher)) {
      // Other processes (API-only servers, other workers) announce new work with NOTIFY.
      const stopListening = await listen(store.pgPool, {
        [NOTIFY_ITEMS]: () => worker?.wake(),
        [NOTIFY_DELIVERIES]: () => dispatcher?.wake(),
      }, (err) => log.error({ err }, 'LISTEN connection lost'));
      closers.push(stopListening);
    }
    if (opts.api) {
      const webhookAllow = parseCidrList(config.webhooks.allowCidrs);
      const checkWebhookAddress = (url: string) => {
        const v = checkWebhookUrl(url, webhookAllow);
        return v.ok ? null : v.reason;
      };
      app = await buildServer({
        loggerInstance: log,
        checkWebhookAddress,
        store,
        rateLimitPerSec: config.rateLimitPerSec,
        normalizeLinkedin: engineSet.normalizeLinkedin,
        onSubmitted: () => worker?.wake(),
        plugins: [webhookRoutes({ store, onRedrive: () => dispatcher?.wake() }), metricsRoutes({ store, token: config.metricsToken }), dashboardRoutes()],
      });
      try {
        await app.listen({ port: config.port, host: config.host });
      } catch (err) {
        // an address this machine does not have, a port taken or reserved: the operator's setting
        const code = (err as NodeJS.ErrnoException).code;
        if (code && ['ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'EADDRINUSE', 'EACCES'].includes(code)) {
          throw new ConfigError(`cannot listen on ${config.host}:${config.port} (OPENROW_HOST, OPENROW_PORT): ${code}`);
        }
        throw err;
      }
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
      closers.unshift(() => app!.close());
    }
  } catch (err) {
    await closeAll(closers, engineSet, store).catch(() => undefined);
    throw err;
  }
  return {
    store,
    app,
    url,
    worker,
    dispatcher,
    log,
    close: () => closeAll(closers, engineSet, store),
  };
}

// Everything is closed even when something fails to: the store last (the others write to it). The first
// error is reported once all is done.
async function closeAll(closers: Array<() => Promise<void>>, engineSet: EngineSet | undefined, store: OpenStore): Promise<void> {
  let first: unknown;
  for (const c of [...closers, async () => engineSet?.close(), () => store.close()]) {
    try {
      await c();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

// The webhook log is pruned by every process that delivers webhooks: shortly after start, then every
// 10 minutes (deletes are idempotent, so several processes do not conflict).
function startRetention(store: OpenStore, days: number, log: Logger): () => Promise<void> {
  let running: Promise<void> | null = null;
  let stopped = false;
  const run = () => {
    if (running || stopped) return;
    running = pruneDeliveries(store, Date.now() - days * 24 * 3600 * 1000, { stopped: () => stopped })
      .then((n) => void (n && log.info({ deleted: n, retentionDays: days }, 'webhook log pruned')))
      .catch((err) => log.error({ err }, 'webhook log pruning failed'))
      .finally(() => (running = null));
  };
  const first = setTimeout(run, 10_000);
  const every = setInterval(run, 10 * 60_000);
  first.unref();
  every.unref();
  return async () => {
    // a prune in progress stops after its current batch
    stopped = true;
    clearTimeout(first);
    clearInterval(every);
    await running;
  };
}
