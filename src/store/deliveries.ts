// The dispatcher's side of the webhook outbox, over SQLite or PostgreSQL: claim due rows with a lease,
// record each attempt and the next state (fenced by the lease owner), and keep the global URL's health.
import { sql } from 'kysely';
import type { Insertable } from 'kysely';
import type { OpenStore, Tx } from './db.js';
import type { WebhookDeliveriesTable } from './schema.js';
import type { AttemptRecord, Delivery, DeliveryStore, NextState, UrlOutcomeResult } from '../webhooks/types.js';
import { currentSecret, signingSecrets } from './webhooks.js';
import { groupCommit, groupCommitQueue } from './group-commit.js';
import { batcher } from './batcher.js';
import { LIVE_DELIVERY, byDueTime, finishValues, runOutboxJob, sqliteOutbox, type OutboxJob } from './outbox-sqlite.js';
import { startOutboxThread, type OutboxThread } from './outbox-thread.js';

/** A new outbox row: the delivery and the payload it sends (kept in their two tables). */
export type NewDelivery = Insertable<WebhookDeliveriesTable> & { payload: string };

/** Writes outbox rows; inside the transaction that completes the search, so they exist exactly when it does. */
export async function insertDeliveries(trx: Tx, rows: NewDelivery[]): Promise<void> {
  if (!rows.length) return;
  await trx.insertInto('webhook_deliveries').values(rows.map(({ payload: _payload, ...d }) => d)).execute();
  await trx.insertInto('webhook_payloads').values(rows.map((r) => ({ delivery_id: r.id, payload: r.payload }))).execute();
}

/** A global URL failing this long with no success is disabled (Svix does the same). */
export const DISABLE_AFTER_MS = 5 * 24 * 3600 * 1000;

// PostgreSQL: results and releases of a few milliseconds go as one statement each (batcher.ts). Results
// travel as one JSON document, releases as parallel arrays through unnest(); the update is fenced per row
// by its lease owner, and only the attempts of rows it kept are logged.
type FinishJob = Omit<Extract<OutboxJob, { kind: 'finish' }>, 'kind'>;
type ReleaseJob = Omit<Extract<OutboxJob, { kind: 'release' }>, 'kind'>;

async function finishManyPg(store: OpenStore, jobs: FinishJob[]): Promise<boolean[]> {
  // one JSON document rather than thirteen arrays: node-postgres escapes array literals element by
  // element in JavaScript, JSON.stringify is native (and PostgreSQL parses JSON in C)
  const rows = JSON.stringify(jobs.map((j) => ({ ...j.v, id: j.id, owner: j.owner })));
  const res = await sql<{ id: string }>`
    with v as (
      select * from json_to_recordset(${rows}::json)
        as v(id text, owner text, status text, attempts int, next_attempt_at bigint, last_status_code int, last_error text,
             updated_at bigint, started_at bigint, duration_ms int, response_headers text, response_body text, error text)
    ), kept as (
      update webhook_deliveries d
         set status = v.status, attempts = v.attempts, next_attempt_at = v.next_attempt_at, last_status_code = v.last_status_code,
             last_error = v.last_error, lease_owner = null, lease_expires_at = null, updated_at = v.updated_at
        from v
       where d.id = v.id and d.status = 'delivering' and d.lease_owner = v.owner
      returning d.id
    ), logged as (
      insert into webhook_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code, response_headers, response_body, error)
      select v.id, v.attempts, v.started_at, v.duration_ms, v.last_status_code, v.response_headers, v.response_body, v.error
        from v join kept on kept.id = v.id
      on conflict (delivery_id, attempt_no) do nothing
    )
    select id from kept`.execute(store.db);
  const kept = new Set(res.rows.map((r) => r.id));
  return jobs.map((j) => kept.has(j.id));
}

async function releaseManyPg(store: OpenStore, jobs: ReleaseJob[]): Promise<boolean[]> {
  const res = await sql<{ id: string }>`
    update webhook_deliveries d
       set status = 'pending', next_attempt_at = v.at, lease_owner = null, lease_expires_at = null
      from unnest(${jobs.map((j) => j.id)}::text[], ${jobs.map((j) => j.owner)}::text[], ${jobs.map((j) => j.nextAttemptAt)}::bigint[]) as v(id, owner, at)
     where d.id = v.id and d.status = 'delivering' and d.lease_owner = v.owner
    returning d.id`.execute(store.db);
  const kept = new Set(res.rows.map((r) => r.id));
  return jobs.map((j) => kept.has(j.id));
}

export class DbDeliveryStore implements DeliveryStore {
  private readonly sqlite?: (j: OutboxJob) => Promise<Delivery[] | boolean>;
  private readonly finishPg?: (j: FinishJob) => Promise<boolean>;
  private readonly releasePg?: (j: ReleaseJob) => Promise<boolean>;
  /** when expired leases were last returned to pending, and how often that is looked for */
  private leasesSweptAt = 0;
  private sweepEveryMs = 1000;

  constructor(private readonly store: OpenStore) {
    // Results and releases wait up to 3 ms for company (the receiver has its answer already, and the
    // dispatcher no longer counts them against its cap). Measured on SQLite: ~3× fewer transactions at
    // thousands of deliveries per second, ~10 % more deliveries per second.
    if (store.rawBatch) {
      // a claim flushes whatever waits, so one transaction carries both
      const queueOpts = { lingerMs: 3, urgent: (j: OutboxJob) => j.kind === 'claim' };
      const file = store.sqliteFile;
      if (file) {
        // a database file: committed by a thread of its own (outbox-thread.ts)
        let thread: OutboxThread | undefined;
        this.sqlite = groupCommitQueue((jobs) => {
          if (!thread) {
            thread = startOutboxThread({ file: file.path, autocheckpointPages: file.autocheckpointPages, synchronous: file.synchronous });
            store.onClose(thread.stop);
          }
          const t = thread;
          // the main connection is held only once the thread can answer: never while it loads
          return t.ready().then(() => store.holdConnection!(() => t.commit(jobs)));
        }, queueOpts);
      } else {
        this.sqlite = groupCommit(store, sqliteOutbox, runOutboxJob, { savepoints: false, ...queueOpts });
      }
    } else {
      this.finishPg = batcher((jobs) => finishManyPg(store, jobs), { lingerMs: 3 });
      this.releasePg = batcher((jobs) => releaseManyPg(store, jobs), { lingerMs: 3 });
    }
  }

  async claimDue(now: number, limit: number, owner: string, leaseMs: number): Promise<Delivery[]> {
    // Expired leases (a crashed dispatcher's rows) go back to pending first, so the claim itself is one
    // index range over (status, next_attempt_at): an OR of both cases would scan the whole table.
    const sweep = this.sweepDue(now, leaseMs);
    if (this.sqlite) return (await this.sqlite({ kind: 'claim', now, limit, owner, leaseMs, sweep })) as Delivery[];
    // PostgreSQL: SKIP LOCKED, so concurrent dispatchers take different rows instead of waiting. Without a
    // sweep the claim is a single statement (atomic on its own): one round trip, not four with BEGIN and COMMIT.
    if (sweep) {
      await this.store.db
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', lease_owner: null, lease_expires_at: null })
        .where(sql.raw<boolean>(LIVE_DELIVERY))
        .where('status', '=', 'delivering')
        .where('lease_expires_at', '<', now)
        .execute();
    }
    // the columns come back named as Delivery's fields (int8 is parsed to a number, see db.ts)
    const res = await sql<Delivery>`
      with claimed as (
        update webhook_deliveries
           set status = 'delivering', lease_owner = ${owner}, lease_expires_at = ${now + leaseMs}, updated_at = ${now}
         where id in (
               select id from webhook_deliveries
                where ${sql.raw(LIVE_DELIVERY)} and status = 'pending' and next_attempt_at <= ${now}
                order by next_attempt_at
                limit ${limit}
                for update skip locked)
        returning id, account_id as "accountId", search_id as "searchId", event, url, status, attempts,
                  next_attempt_at as "nextAttemptAt", created_at as "createdAt")
      select c.*, p.payload from claimed c join webhook_payloads p on p.delivery_id = c.id`.execute(this.store.db);
    return res.rows.sort(byDueTime);
  }

  // Expired leases take a whole lease to appear, so looking a few times per lease (at most once a second)
  // is enough; a clock set back looks at once.
  private sweepDue(now: number, leaseMs: number): boolean {
    this.sweepEveryMs = Math.min(1000, leaseMs / 10);
    if (now - this.leasesSweptAt < this.sweepEveryMs && now >= this.leasesSweptAt) return false;
    this.leasesSweptAt = now;
    return true;
  }

  async finishAttempt(id: string, owner: string, a: AttemptRecord, next: NextState): Promise<boolean> {
    // a manual redrive keeps counting attempts, but never fails on a replayed number (on conflict do nothing)
    const v = finishValues(a, next);
    if (this.sqlite) return (await this.sqlite({ kind: 'finish', id, owner, v })) as boolean;
    return this.finishPg!({ id, owner, v });
  }

  async release(id: string, owner: string, nextAttemptAt: number): Promise<boolean> {
    if (this.sqlite) return (await this.sqlite({ kind: 'release', id, owner, nextAttemptAt })) as boolean;
    return this.releasePg!({ id, owner, nextAttemptAt });
  }

  /** `accountId` is the signer's id: the account's, or its test-mode one (deliverySignerId) */
  async signingSecrets(accountId: string, now: number): Promise<string[]> {
    const secrets = await signingSecrets(this.store, accountId, now);
    return secrets.length ? secrets : [await currentSecret(this.store, accountId)];
  }

  async nextDueAt(): Promise<number | null> {
    const [p, d] = await Promise.all([
      this.store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.min('next_attempt_at').as('t')).where(sql.raw<boolean>(LIVE_DELIVERY)).where('status', '=', 'pending').executeTakeFirst(),
      this.store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.min('lease_expires_at').as('t')).where(sql.raw<boolean>(LIVE_DELIVERY)).where('status', '=', 'delivering').executeTakeFirst(),
    ]);
    const times: number[] = [];
    if (p?.t !== null && p?.t !== undefined) times.push(Number(p.t));
    // an expired lease is only taken back by the next claim allowed to sweep: waking sooner would claim in vain
    if (d?.t !== null && d?.t !== undefined) times.push(Math.max(Number(d.t), this.leasesSweptAt + this.sweepEveryMs));
    return times.length ? Math.min(...times) : null;
  }

  async urlOutcome(accountId: string, url: string, ok: boolean, gone: boolean, now: number, searchId?: string): Promise<UrlOutcomeResult> {
    // a test search's outcome (a test key naming the live URL in its request) never counts
    if (searchId !== undefined) {
      const search = await this.store.db.selectFrom('searches').select('mode').where('id', '=', searchId).executeTakeFirst();
      if (search?.mode !== 'live') return { counted: false, disabledReason: null };
    }
    // every change concerns the account's global URL only: a per-request URL is never disabled
    const globalUrl = () => this.store.db.updateTable('accounts').where('id', '=', accountId).where('webhook_url', '=', url);
    const disable = async (reason: string, streakSince?: number) => {
      let q = globalUrl().set({ webhook_disabled_at: now, webhook_disabled_reason: reason }).where('webhook_disabled_at', 'is', null);
      if (streakSince !== undefined) q = q.where('webhook_failing_since', '<=', streakSince);
      // only the call that changed the row reports it: another process may have disabled it first
      const changed = Number((await q.executeTakeFirst()).numUpdatedRows) === 1;
      return { counted: true, disabledReason: changed ? reason : null };
    };
    if (ok) {
      // matches nothing (writes nothing) unless a failure streak is open
      await globalUrl().set({ webhook_failing_since: null }).where('webhook_failing_since', 'is not', null).execute();
      return { counted: true, disabledReason: null };
    }
    if (gone) return disable('the receiver answered 410 Gone');
    await globalUrl().set({ webhook_failing_since: now }).where('webhook_failing_since', 'is', null).execute();
    return disable('failing for 5 days with no successful delivery', now - DISABLE_AFTER_MS);
  }
}
