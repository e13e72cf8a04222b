// The outbox writes the dispatcher makes on SQLite (claims, finished attempts, releases) as synchronous
// jobs over prepared statements. They run in a group commit (group-commit.ts), so a claim made as slots
// free up and the attempts that freed them share a transaction; for a database file, in a thread of their
// own (outbox-thread.ts), which is why this module depends on nothing but the driver and types. They
// mirror the Kysely path in deliveries.ts, which PostgreSQL uses.
import type SQLite from 'better-sqlite3';
import type { AttemptRecord, Delivery, NextState } from '../webhooks/types.js';
import type { Outcome } from './group-commit.js';
import { storableText } from './storable-text.js';

export type OutboxJob =
  | { kind: 'claim'; now: number; limit: number; owner: string; leaseMs: number; sweep: boolean }
  | { kind: 'finish'; id: string; owner: string; v: FinishValues }
  | { kind: 'release'; id: string; owner: string; nextAttemptAt: number };

/** The due index's condition (migration 0004), repeated word for word so that SQLite uses the index. */
export const LIVE_DELIVERY = `status in ('pending', 'delivering')`;

export const sqliteOutbox = (raw: SQLite.Database) => ({
  expireLeases: raw.prepare(
    `update webhook_deliveries set status = 'pending', lease_owner = null, lease_expires_at = null
     where ${LIVE_DELIVERY} and status = 'delivering' and lease_expires_at < ?`,
  ),
  claim: raw.prepare(
    `update webhook_deliveries set status = 'delivering', lease_owner = ?, lease_expires_at = ?, updated_at = ?
     where id in (select id from webhook_deliveries where ${LIVE_DELIVERY} and status = 'pending' and next_attempt_at <= ? order by next_attempt_at limit ?)
     returning id, account_id as accountId, search_id as searchId, event, url, status, attempts, next_attempt_at as nextAttemptAt, created_at as createdAt`,
  ),
  payload: raw.prepare('select payload from webhook_payloads where delivery_id = ?').pluck(),
  finish: raw.prepare(
    `update webhook_deliveries set status = ?, attempts = ?, next_attempt_at = ?, last_status_code = ?, last_error = ?,
       lease_owner = null, lease_expires_at = null, updated_at = ?
     where id = ? and status = 'delivering' and lease_owner = ?`,
  ),
  attempt: raw.prepare(
    `insert into webhook_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code, response_headers, response_body, error)
     values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (delivery_id, attempt_no) do nothing`,
  ),
  release: raw.prepare(
    `update webhook_deliveries set status = 'pending', next_attempt_at = ?, lease_owner = null, lease_expires_at = null
     where id = ? and status = 'delivering' and lease_owner = ?`,
  ),
});

export type OutboxStatements = ReturnType<typeof sqliteOutbox>;

export function runOutboxJob(st: OutboxStatements, j: OutboxJob): Delivery[] | boolean {
  switch (j.kind) {
    case 'claim': {
      // expired leases (a crashed dispatcher's rows) go back to pending first, so the claim is one index
      // range (when to look: DbDeliveryStore.sweepDue)
      if (j.sweep) st.expireLeases.run(j.now);
      // the columns come back named as Delivery's fields (SQLite integers are numbers already)
      const rows = st.claim.all(j.owner, j.now + j.leaseMs, j.now, j.now, j.limit) as Delivery[];
      for (const r of rows) r.payload = st.payload.get(r.id) as string;
      return rows.sort(byDueTime);
    }
    case 'finish': {
      const v = j.v;
      const res = st.finish.run(v.status, v.attempts, v.next_attempt_at, v.last_status_code, v.last_error, v.updated_at, j.id, j.owner);
      if (res.changes !== 1) return false;
      st.attempt.run(j.id, v.attempts, v.started_at, v.duration_ms, v.last_status_code, v.response_headers, v.response_body, v.error);
      return true;
    }
    case 'release':
      return st.release.run(j.nextAttemptAt, j.id, j.owner).changes === 1;
  }
}

export const byDueTime = (a: Delivery, b: Delivery) => a.nextAttemptAt - b.nextAttemptAt;

/**
 * A finished attempt as the outbox stores it: the delivery's new state and its attempt log row
 * (`attempts` is the attempt's number, `last_status_code` its status code), on both databases.
 */
export interface FinishValues {
  status: NextState['status'];
  attempts: number;
  next_attempt_at: number;
  last_status_code: number | null;
  last_error: string | null;
  updated_at: number;
  started_at: number;
  duration_ms: number;
  response_headers: string | null;
  response_body: string | null;
  error: string | null;
}

export function finishValues(a: AttemptRecord, next: NextState): FinishValues {
  const now = Math.round(a.startedAt + a.durationMs);
  return {
    status: next.status,
    attempts: a.attemptNo,
    next_attempt_at: next.status === 'pending' ? next.nextAttemptAt : now,
    last_status_code: a.statusCode,
    last_error: storableText(next.status === 'failed' ? next.reason : a.error),
    updated_at: now,
    started_at: Math.round(a.startedAt),
    duration_ms: Math.round(a.durationMs),
    response_headers: a.responseHeaders ? JSON.stringify(a.responseHeaders) : null,
    response_body: storableText(a.responseBody),
    error: storableText(a.error),
  };
}

// Jobs and outcomes cross to the outbox thread as flat arrays of primitives. Structured clone pays per
// object and per property name: a batch of 27 results and a claim of 27 rows cost ~330 µs of CPU per
// round trip as objects, ~80 µs flat (measured on this project's 2-core VM).
const FINISH_FIELDS = ['status', 'attempts', 'next_attempt_at', 'last_status_code', 'last_error', 'updated_at', 'started_at', 'duration_ms', 'response_headers', 'response_body', 'error'] as const;
const DELIVERY_FIELDS = ['id', 'accountId', 'searchId', 'event', 'url', 'status', 'attempts', 'nextAttemptAt', 'createdAt', 'payload'] as const;
type Wire = unknown[];

export function encodeJobs(jobs: OutboxJob[]): Wire {
  const w: Wire = [];
  for (const j of jobs) {
    if (j.kind === 'claim') w.push('c', j.now, j.limit, j.owner, j.leaseMs, j.sweep);
    else if (j.kind === 'release') w.push('r', j.id, j.owner, j.nextAttemptAt);
    else {
      w.push('f', j.id, j.owner);
      for (const k of FINISH_FIELDS) w.push(j.v[k]);
    }
  }
  return w;
}

export function decodeJobs(w: Wire): OutboxJob[] {
  const jobs: OutboxJob[] = [];
  for (let i = 0; i < w.length; ) {
    const kind = w[i++];
    if (kind === 'c') {
      jobs.push({ kind: 'claim', now: w[i] as number, limit: w[i + 1] as number, owner: w[i + 2] as string, leaseMs: w[i + 3] as number, sweep: w[i + 4] as boolean });
      i += 5;
    } else if (kind === 'r') {
      jobs.push({ kind: 'release', id: w[i] as string, owner: w[i + 1] as string, nextAttemptAt: w[i + 2] as number });
      i += 3;
    } else {
      const j = { kind: 'finish' as const, id: w[i] as string, owner: w[i + 1] as string, v: {} as Record<string, unknown> };
      i += 2;
      for (const k of FINISH_FIELDS) j.v[k] = w[i++];
      jobs.push(j as unknown as OutboxJob);
    }
  }
  return jobs;
}

type JobOutcome = Outcome<Delivery[] | boolean>;

/** Per job: 1 and a boolean; 2, a row count and the rows' fields; or 0 and the error. */
export function encodeOutcomes(outcomes: JobOutcome[]): Wire {
  const w: Wire = [];
  for (const o of outcomes) {
    if (!o.ok) w.push(0, errorToWire(o.err));
    else if (typeof o.v === 'boolean') w.push(1, o.v);
    else {
      w.push(2, o.v.length);
      for (const d of o.v) for (const k of DELIVERY_FIELDS) w.push(d[k]);
    }
  }
  return w;
}

export function decodeOutcomes(w: Wire): JobOutcome[] {
  const outcomes: JobOutcome[] = [];
  for (let i = 0; i < w.length; ) {
    const tag = w[i++];
    if (tag === 0) outcomes.push({ ok: false, err: errorFromWire(w[i++]) });
    else if (tag === 1) outcomes.push({ ok: true, v: w[i++] as boolean });
    else {
      const n = w[i++] as number;
      const rows: Delivery[] = [];
      for (let r = 0; r < n; r++) {
        const d = {} as Record<string, unknown>;
        for (const k of DELIVERY_FIELDS) d[k] = w[i++];
        rows.push(d as unknown as Delivery);
      }
      outcomes.push({ ok: true, v: rows });
    }
  }
  return outcomes;
}

// Errors cross as their name, message and code: the driver's own error class does not survive the copy.
export function errorToWire(err: unknown): { name: string; message: string; code?: string } {
  const e = err as { name?: string; message?: string; code?: string } | null;
  return { name: e?.name ?? 'Error', message: e?.message ?? String(err), code: typeof e?.code === 'string' ? e.code : undefined };
}

export function errorFromWire(w: unknown): Error {
  const { name, message, code } = w as { name: string; message: string; code?: string };
  return Object.assign(new Error(message), { name, ...(code ? { code } : {}) });
}
