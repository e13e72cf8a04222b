// A real DeliveryStore kept in memory: same claim/lease/fence semantics as the database one, no
// durability. Used by tests and the benchmark. Due rows and leases sit in min-heaps, so claiming stays
// cheap with many thousands of rows.
import { randomUUID } from 'node:crypto';
import type { AttemptRecord, Delivery, DeliveryStore, NextState, UrlOutcomeResult } from './types.js';
import { generateWebhookSecret } from './sign.js';

interface Row extends Delivery {
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  /** bumped on every change so stale heap entries can be recognised */
  version: number;
  log: AttemptRecord[];
  failedReason: string | null;
}

type HeapEntry = { at: number; id: string; version: number };

class MinHeap {
  private items: HeapEntry[] = [];
  get size() {
    return this.items.length;
  }
  peek(): HeapEntry | undefined {
    return this.items[0];
  }
  push(e: HeapEntry): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.at <= e.at) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = e;
  }
  pop(): HeapEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (!a.length || !last) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mAt = last.at;
      if (l < a.length && a[l]!.at < mAt) (m = l), (mAt = a[l]!.at);
      if (r < a.length && a[r]!.at < mAt) m = r;
      if (m === i) break;
      a[i] = a[m]!;
      i = m;
    }
    a[i] = last;
    return top;
  }
}

export interface EnqueueInput {
  accountId: string;
  searchId: string;
  event: string;
  url: string;
  payload: string;
  id?: string;
  nextAttemptAt?: number;
}

export interface UrlOutcomeRecord {
  accountId: string;
  url: string;
  ok: boolean;
  gone: boolean;
  at: number;
}

export class InMemoryDeliveryStore implements DeliveryStore {
  private readonly rows = new Map<string, Row>();
  private readonly due = new MinHeap();
  private readonly leases = new MinHeap();
  private readonly secrets = new Map<string, Array<{ secret: string; expiresAt: number | null }>>();
  readonly urlOutcomes: UrlOutcomeRecord[] = [];
  private readonly clock: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.clock = opts.now ?? Date.now;
  }

  // ---- what the lead's outbox and API do in production ----

  enqueue(input: EnqueueInput): Delivery {
    const now = this.clock();
    const row: Row = {
      id: input.id ?? `msg_${randomUUID().replace(/-/g, '')}`,
      accountId: input.accountId,
      searchId: input.searchId,
      event: input.event,
      url: input.url,
      payload: input.payload,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: input.nextAttemptAt ?? now,
      createdAt: now,
      leaseOwner: null,
      leaseExpiresAt: null,
      version: 0,
      log: [],
      failedReason: null,
    };
    if (this.rows.has(row.id)) throw new Error(`delivery ${row.id} already exists`);
    this.rows.set(row.id, row);
    this.due.push({ at: row.nextAttemptAt, id: row.id, version: row.version });
    return publicView(row);
  }

  /** Manual redelivery (the API's retry/recover): due now, unless in flight. */
  redrive(id: string, now = this.clock()): boolean {
    const row = this.rows.get(id);
    if (!row || row.status === 'delivering') return false;
    this.toPending(row, now);
    return true;
  }

  /** Sets the account's current secret (creating one when not given); the previous one signs on for graceMs. */
  rotateSecret(accountId: string, secret = generateWebhookSecret(), graceMs = 24 * 3600_000, now = this.clock()): string {
    const list = this.secrets.get(accountId) ?? [];
    for (const s of list) if (s.expiresAt === null) s.expiresAt = now + graceMs;
    list.unshift({ secret, expiresAt: null });
    this.secrets.set(accountId, list);
    return secret;
  }

  get(id: string): (Delivery & { failedReason: string | null; leaseOwner: string | null }) | undefined {
    const row = this.rows.get(id);
    return row && { ...publicView(row), failedReason: row.failedReason, leaseOwner: row.leaseOwner };
  }

  attemptLog(id: string): AttemptRecord[] {
    return [...(this.rows.get(id)?.log ?? [])];
  }

  all(): Delivery[] {
    return [...this.rows.values()].map(publicView);
  }

  countByStatus(): Record<string, number> {
    const out: Record<string, number> = { pending: 0, delivering: 0, succeeded: 0, failed: 0 };
    for (const r of this.rows.values()) out[r.status] = (out[r.status] ?? 0) + 1;
    return out;
  }

  // ---- DeliveryStore ----

  async claimDue(now: number, limit: number, owner: string, leaseMs: number): Promise<Delivery[]> {
    const out: Delivery[] = [];
    const take = (heap: MinHeap, wanted: (r: Row) => boolean) => {
      while (out.length < limit) {
        const top = heap.peek();
        if (!top || top.at > now) return;
        heap.pop();
        const row = this.rows.get(top.id);
        if (!row || row.version !== top.version || !wanted(row)) continue;
        row.status = 'delivering';
        row.leaseOwner = owner;
        row.leaseExpiresAt = now + leaseMs;
        row.version++;
        this.leases.push({ at: row.leaseExpiresAt, id: row.id, version: row.version });
        out.push(publicView(row));
      }
    };
    // expired leases first: they have waited longest
    take(this.leases, (r) => r.status === 'delivering');
    take(this.due, (r) => r.status === 'pending');
    return out;
  }

  async finishAttempt(id: string, owner: string, attempt: AttemptRecord, next: NextState): Promise<boolean> {
    const row = this.rows.get(id);
    if (!row || row.status !== 'delivering' || row.leaseOwner !== owner) return false;
    row.log.push(attempt);
    row.attempts = attempt.attemptNo;
    row.leaseOwner = null;
    row.leaseExpiresAt = null;
    row.version++;
    if (next.status === 'pending') {
      this.toPending(row, next.nextAttemptAt);
    } else {
      row.status = next.status;
      row.failedReason = next.status === 'failed' ? next.reason : null;
    }
    return true;
  }

  async release(id: string, owner: string, nextAttemptAt: number): Promise<boolean> {
    const row = this.rows.get(id);
    if (!row || row.status !== 'delivering' || row.leaseOwner !== owner) return false;
    this.toPending(row, nextAttemptAt);
    return true;
  }

  async signingSecrets(accountId: string, now: number): Promise<string[]> {
    let list = this.secrets.get(accountId);
    if (!list) {
      this.rotateSecret(accountId, undefined, 0, now);
      list = this.secrets.get(accountId)!;
    }
    return list.filter((s) => s.expiresAt === null || s.expiresAt > now).map((s) => s.secret);
  }

  async nextDueAt(): Promise<number | null> {
    const first = (heap: MinHeap, valid: (r: Row) => boolean): number | null => {
      for (;;) {
        const top = heap.peek();
        if (!top) return null;
        const row = this.rows.get(top.id);
        if (row && row.version === top.version && valid(row)) return top.at;
        heap.pop();
      }
    };
    const a = first(this.due, (r) => r.status === 'pending');
    const b = first(this.leases, (r) => r.status === 'delivering');
    if (a === null) return b;
    if (b === null) return a;
    return Math.min(a, b);
  }

  async urlOutcome(accountId: string, url: string, ok: boolean, gone: boolean, now: number): Promise<UrlOutcomeResult> {
    this.urlOutcomes.push({ accountId, url, ok, gone, at: now });
    return { counted: true, disabledReason: null };
  }

  private toPending(row: Row, at: number) {
    row.status = 'pending';
    row.nextAttemptAt = at;
    row.leaseOwner = null;
    row.leaseExpiresAt = null;
    row.failedReason = null;
    row.version++;
    this.due.push({ at, id: row.id, version: row.version });
  }
}

function publicView(r: Row): Delivery {
  return {
    id: r.id,
    accountId: r.accountId,
    searchId: r.searchId,
    event: r.event,
    url: r.url,
    payload: r.payload,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
    createdAt: r.createdAt,
  };
}
