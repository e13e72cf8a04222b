// Starts a real Openrow (HTTP server on a free loopback port + workers) on a fresh database:
// a temp SQLite file, or a PostgreSQL schema of its own that is dropped afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config.js';
import { startOpenrow, type RunningOpenrow } from '../../src/app.js';
import { createAccount, createApiKey } from '../../src/store/accounts.js';
import type { Engines } from '../../src/engines/types.js';
import type { Mode } from '../../src/store/schema.js';

export const PG_URL = process.env.OPENROW_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface TestOpenrow extends RunningOpenrow {
  url: string;
  config: Config;
  newAccount(credits?: number, paygo?: number): Promise<{ accountId: string; key: string; testKey: string }>;
}

export async function startTestOpenrow(
  backend: Backend,
  opts: { env?: Record<string, string>; engines?: Record<Mode, Engines>; workers?: boolean; webhookCa?: string } = {},
): Promise<TestOpenrow> {
  const dir = mkdtempSync(join(tmpdir(), 'openrow-test-'));
  const schema = `openrow_t_${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    OPENROW_PORT: '0',
    OPENROW_HOST: '127.0.0.1',
    OPENROW_DATA_DIR: dir,
    OPENROW_LOG_LEVEL: 'silent',
    // Never the system resolver: a name no test server answers must fail on loopback, not leave the machine.
    OPENROW_DNS_SERVERS: '127.0.0.1:1',
    ...(backend === 'postgres' ? { OPENROW_DATABASE_URL: PG_URL } : {}),
    ...opts.env,
  });
  const running = await startOpenrow(config, { api: true, workers: opts.workers ?? true, engines: opts.engines, webhookCa: opts.webhookCa, pgSchema: backend === 'postgres' ? schema : undefined });
  return {
    ...running,
    url: running.url!,
    config,
    async newAccount(credits = 100, paygo = 0) {
      const { account, apiKey } = await createAccount(running.store, { name: 'test', subCents: Math.round(credits * 100), paygoCents: Math.round(paygo * 100) });
      const test = await createApiKey(running.store, account.id, { mode: 'test' });
      return { accountId: account.id, key: apiKey, testKey: test.apiKey };
    },
    async close() {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
      if (backend === 'postgres') await dropSchema(schema);
    },
  };
}

/** A fresh store of its own: a temp SQLite file, or a PostgreSQL schema dropped on close. */
export async function tempStore(backend: Backend, opts: { migrate?: boolean } = {}): Promise<{ store: import('../../src/store/db.js').OpenStore; close(): Promise<void> }> {
  const { openStore } = await import('../../src/store/db.js');
  const dir = mkdtempSync(join(tmpdir(), 'openrow-store-'));
  const schema = `openrow_s_${randomBytes(6).toString('hex')}`;
  const store = await openStore({ ...(backend === 'postgres' ? { url: PG_URL, pgSchema: schema } : { url: join(dir, 'store.sqlite') }), migrate: opts.migrate });
  return {
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      if (backend === 'postgres') await dropSchema(schema);
    },
  };
}

async function dropSchema(schema: string) {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`drop schema if exists ${schema} cascade`);
  await c.end();
}

export interface Res {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export async function call(base: string, method: string, path: string, opts: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers['x-api-key'] = opts.key;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body });
  const text = await r.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: r.status, headers: r.headers, body: parsed, text };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000, stepMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
