// Configuration comes from the environment only, validated once at start with errors that name the
// variable, so a typo fails loudly instead of running with a default nobody chose.
import { resolve } from 'node:path';
import { parseRetrySchedule } from './webhooks/schedule.js';

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  workerConcurrency: number;
  leaseMs: number;
  logLevel: string;
  rateLimitPerSec: number;
  engine: {
    dnsServers: string[] | undefined;
    smtpPort: number;
    heloName: string;
    mailFrom: string;
    connectTimeoutMs: number;
    proxy: string | undefined;
    allowCidrs: string[];
    perHostConcurrency: number;
    phoneProvidersFile: string | undefined;
    catchAllEvidenceThreshold: number;
    retryBackoffMs: number[];
    retryWindowMs: number;
  };
  webhooks: {
    allowCidrs: string[];
    retryScheduleMs: number[] | undefined;
    connectTimeoutMs: number;
    timeoutMs: number;
    concurrency: number;
    perOriginConcurrency: number;
    breakerOpenMs: number;
    /** finished deliveries (with payload and attempts) are deleted after this many days; 0 keeps them */
    retentionDays: number;
  };
}

export class ConfigError extends Error {}

// POST /webhooks/recover re-sends failed deliveries up to 14 days back: they must still be there.
function retentionDays(env: Env): number {
  const days = int(env, 'OPENROW_WEBHOOK_RETENTION_DAYS', 30, 0, 3650);
  if (days > 0 && days < 14) throw new ConfigError(`OPENROW_WEBHOOK_RETENTION_DAYS must be 0 (keep everything) or at least 14 (the recover window), got ${days}`);
  return days;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

const list = (raw: string | undefined) =>
  raw === undefined || raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim()).filter(Boolean);

function durations(env: Env, name: string): number[] | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    return parseRetrySchedule(raw);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const dataDir = resolve(env.OPENROW_DATA_DIR || './data');
  const databaseUrl = env.OPENROW_DATABASE_URL || resolve(dataDir, 'openrow.sqlite');
  if (/^[a-z]+:\/\//i.test(databaseUrl) && !/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    throw new ConfigError(`OPENROW_DATABASE_URL must be postgres://… or a SQLite file path, got "${databaseUrl}"`);
  }
  const logLevel = env.OPENROW_LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`OPENROW_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const dnsServers = list(env.OPENROW_DNS_SERVERS);
  for (const s of dnsServers) {
    if (!/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\])(:\d{1,5})?$/i.test(s)) throw new ConfigError(`OPENROW_DNS_SERVERS entries must be ip or ip:port, got "${s}"`);
  }
  const proxy = env.OPENROW_SMTP_PROXY || undefined;
  if (proxy && !/^socks5h?:\/\/[^/]+:\d+\/?$/i.test(proxy)) throw new ConfigError(`OPENROW_SMTP_PROXY must look like socks5://host:port, got "${proxy}"`);
  const heloName = env.OPENROW_SMTP_HELO_NAME || 'openrow.localhost';
  return {
    port: int(env, 'OPENROW_PORT', 8080, 0, 65535),
    host: env.OPENROW_HOST || '127.0.0.1',
    databaseUrl,
    workerConcurrency: int(env, 'OPENROW_WORKER_CONCURRENCY', 50, 0, 10_000),
    leaseMs: int(env, 'OPENROW_QUEUE_LEASE_MS', 30_000, 500, 3_600_000),
    logLevel,
    rateLimitPerSec: int(env, 'OPENROW_RATE_LIMIT_PER_SEC', 10, 1, 1_000_000),
    engine: {
      dnsServers: dnsServers.length ? dnsServers : undefined,
      smtpPort: int(env, 'OPENROW_SMTP_PORT', 25, 1, 65535),
      heloName,
      mailFrom: env.OPENROW_SMTP_MAIL_FROM || `verify@${heloName}`,
      connectTimeoutMs: int(env, 'OPENROW_SMTP_CONNECT_TIMEOUT_MS', 10_000, 100, 600_000),
      proxy,
      allowCidrs: list(env.OPENROW_SMTP_ALLOW_CIDRS),
      perHostConcurrency: int(env, 'OPENROW_SMTP_PER_HOST_CONCURRENCY', 5, 1, 1000),
      phoneProvidersFile: env.OPENROW_PHONE_PROVIDERS || undefined,
      catchAllEvidenceThreshold: int(env, 'OPENROW_CATCH_ALL_EVIDENCE_THRESHOLD', 3, 1, 1000),
      retryBackoffMs: durations(env, 'OPENROW_VERIFY_RETRY_BACKOFF') ?? [60_000, 300_000, 900_000],
      retryWindowMs: durations(env, 'OPENROW_VERIFY_RETRY_WINDOW')?.[0] ?? 30 * 60_000,
    },
    webhooks: {
      allowCidrs: list(env.OPENROW_WEBHOOK_ALLOW_CIDRS),
      retryScheduleMs: durations(env, 'OPENROW_WEBHOOK_RETRY_SCHEDULE'),
      connectTimeoutMs: int(env, 'OPENROW_WEBHOOK_CONNECT_TIMEOUT_MS', 5_000, 100, 120_000),
      timeoutMs: int(env, 'OPENROW_WEBHOOK_TIMEOUT_MS', 15_000, 100, 600_000),
      concurrency: int(env, 'OPENROW_WEBHOOK_CONCURRENCY', 64, 1, 10_000),
      perOriginConcurrency: int(env, 'OPENROW_WEBHOOK_PER_ORIGIN_CONCURRENCY', 8, 1, 1000),
      breakerOpenMs: int(env, 'OPENROW_WEBHOOK_BREAKER_OPEN_MS', 30_000, 100, 3_600_000),
      retentionDays: retentionDays(env),
    },
  };
}
