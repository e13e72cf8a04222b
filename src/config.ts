// Configuration comes from the environment only, validated once at start with errors that name the
// variable, so a typo fails loudly instead of running with a default nobody chose.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseRetrySchedule } from './webhooks/schedule.js';
import { parseCidrList } from './net/address-policy.js';
import { isPostgresUrl } from './store/database-url.js';

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  /** OPENROW_SQLITE_SYNC: `normal` (default) or `full`, SQLite's synchronous setting (see README) */
  sqliteSync: 'normal' | 'full';
  workerConcurrency: number;
  leaseMs: number;
  logLevel: string;
  rateLimitPerSec: number;
  /** OPENROW_METRICS_TOKEN: when set, GET /metrics asks for it as a bearer token */
  metricsToken: string | undefined;
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

/** A single positive duration (`30m`). */
function duration(env: Env, name: string, def: number): number {
  const all = durations(env, name);
  if (all === undefined) return def;
  if (all.length !== 1 || !(all[0]! > 0)) throw new ConfigError(`${name} must be one positive duration such as 30m, got "${env[name]}"`);
  return all[0]!;
}

/** A CIDR list, checked now so that a typo names its variable instead of failing later. */
function cidrs(env: Env, name: string): string[] {
  const entries = list(env[name]);
  try {
    parseCidrList(entries);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
  return entries;
}

/** `ip`, `ip:port`, `[ipv6]:port` or a bare IPv6 address, the port 1–65535; returned as node's resolver takes them. */
function dnsServer(entry: string): string {
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry) ?? (isIP(entry) === 6 ? [entry, entry] : /^([^:]+)(?::(\d{1,5}))?$/.exec(entry));
  const host = m?.[1];
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (!host || !isIP(host) || (port !== undefined && (port < 1 || port > 65535))) {
    throw new ConfigError(`OPENROW_DNS_SERVERS entries must be ip, ip:port or [ipv6]:port with a port from 1 to 65535, got "${entry}"`);
  }
  if (port === undefined) return host;
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

// The host to listen on: an IP address, or a name made of letters, digits, dots and hyphens.
function listenHost(env: Env): string {
  const host = env.OPENROW_HOST || '127.0.0.1';
  if (!isIP(host) && !HOST_NAME.test(host)) {
    throw new ConfigError(`OPENROW_HOST must be an IP address or a host name, got "${host}"`);
  }
  return host;
}

/** Which database a URL names, for the start-up line: PostgreSQL host, port and database (no user, no password), or the SQLite file. */
export function describeDatabase(url: string): string {
  if (!isPostgresUrl(url)) return `SQLite ${url}`;
  const u = new URL(url);
  return `PostgreSQL ${u.hostname || 'localhost'}:${u.port || 5432}${u.pathname}`;
}

/** A URL as it may be shown in an error: without the password it may carry. */
export function withoutPassword(raw: string): string {
  // Read as text, not with the URL parser: a password holding an unencoded / or @ makes the URL
  // unparseable, or parse wrongly ("u:2024/pw@h" is host u, port 2024). Everything from :// to the last @
  // is the user information, and whatever follows its first : goes.
  const start = raw.indexOf('://');
  const at = raw.lastIndexOf('@');
  if (start < 0 || at < start) return raw;
  const user = raw.slice(start + 3, at);
  const colon = user.indexOf(':');
  return colon < 0 ? raw : `${raw.slice(0, start + 3)}${user.slice(0, colon)}:***${raw.slice(at)}`;
}

// a token short enough to guess would protect nothing
function metricsToken(env: Env): string | undefined {
  const token = env.OPENROW_METRICS_TOKEN || undefined;
  if (token !== undefined && !/^[\x21-\x7e]{16,}$/.test(token)) throw new ConfigError('OPENROW_METRICS_TOKEN must be at least 16 printable characters without spaces');
  return token;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const dataDir = resolve(env.OPENROW_DATA_DIR || './data');
  // empty is unset (the SQLite default); blank is a mistake, which would have named a file " " here
  if (env.OPENROW_DATABASE_URL && !env.OPENROW_DATABASE_URL.trim()) {
    throw new ConfigError('OPENROW_DATABASE_URL is blank: give postgres://… or a SQLite file path, or leave it unset (or empty) for the SQLite default');
  }
  const databaseUrl = env.OPENROW_DATABASE_URL || resolve(dataDir, 'openrow.sqlite');
  if (/^[a-z]+:\/\//i.test(databaseUrl) && !isPostgresUrl(databaseUrl)) {
    throw new ConfigError(`OPENROW_DATABASE_URL must be postgres://… or a SQLite file path, got "${withoutPassword(databaseUrl)}"`);
  }
  // the driver would refuse it later with a bare "Invalid URL", naming nothing
  if (isPostgresUrl(databaseUrl) && !URL.canParse(databaseUrl)) {
    throw new ConfigError(`OPENROW_DATABASE_URL is not a valid URL (a port from 1 to 65535, special characters of the password %-encoded), got "${withoutPassword(databaseUrl)}"`);
  }
  const sqliteSync = (env.OPENROW_SQLITE_SYNC || 'normal').toLowerCase();
  if (sqliteSync !== 'normal' && sqliteSync !== 'full') throw new ConfigError(`OPENROW_SQLITE_SYNC must be normal or full, got "${env.OPENROW_SQLITE_SYNC}"`);
  const logLevel = env.OPENROW_LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`OPENROW_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const dnsServers = list(env.OPENROW_DNS_SERVERS).map(dnsServer);
  const proxy = env.OPENROW_SMTP_PROXY || undefined;
  if (proxy && !/^socks5h?:\/\/[^/]+:\d+\/?$/i.test(proxy)) throw new ConfigError(`OPENROW_SMTP_PROXY must look like socks5://host:port, got "${withoutPassword(proxy)}"`);
  // both go into SMTP commands as they are: a space or a line break would change the command
  const heloName = env.OPENROW_SMTP_HELO_NAME || 'openrow.localhost';
  if (!HOST_NAME.test(heloName) && !/^\[[0-9a-f.:]+\]$/i.test(heloName)) throw new ConfigError(`OPENROW_SMTP_HELO_NAME must be a host name (or an [address] literal), got "${heloName}"`);
  const mailFrom = env.OPENROW_SMTP_MAIL_FROM || `verify@${heloName}`;
  if (!/^[^\s<>@]+@[^\s<>@]+$/.test(mailFrom)) throw new ConfigError(`OPENROW_SMTP_MAIL_FROM must be an address such as verify@example.com, got "${mailFrom}"`);
  return {
    port: int(env, 'OPENROW_PORT', 8080, 0, 65535),
    host: listenHost(env),
    databaseUrl,
    sqliteSync,
    workerConcurrency: int(env, 'OPENROW_WORKER_CONCURRENCY', 50, 0, 10_000),
    leaseMs: int(env, 'OPENROW_QUEUE_LEASE_MS', 30_000, 500, 3_600_000),
    logLevel,
    rateLimitPerSec: int(env, 'OPENROW_RATE_LIMIT_PER_SEC', 10, 1, 1_000_000),
    metricsToken: metricsToken(env),
    engine: {
      dnsServers: dnsServers.length ? dnsServers : undefined,
      smtpPort: int(env, 'OPENROW_SMTP_PORT', 25, 1, 65535),
      heloName,
      mailFrom,
      connectTimeoutMs: int(env, 'OPENROW_SMTP_CONNECT_TIMEOUT_MS', 10_000, 100, 600_000),
      proxy,
      allowCidrs: cidrs(env, 'OPENROW_SMTP_ALLOW_CIDRS'),
      perHostConcurrency: int(env, 'OPENROW_SMTP_PER_HOST_CONCURRENCY', 5, 1, 1000),
      phoneProvidersFile: env.OPENROW_PHONE_PROVIDERS || undefined,
      catchAllEvidenceThreshold: int(env, 'OPENROW_CATCH_ALL_EVIDENCE_THRESHOLD', 3, 1, 1000),
      retryBackoffMs: durations(env, 'OPENROW_VERIFY_RETRY_BACKOFF') ?? [60_000, 300_000, 900_000],
      retryWindowMs: duration(env, 'OPENROW_VERIFY_RETRY_WINDOW', 30 * 60_000),
    },
    webhooks: {
      allowCidrs: cidrs(env, 'OPENROW_WEBHOOK_ALLOW_CIDRS'),
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
