// The contract between the webhook dispatcher and whatever keeps delivery rows (SQLite/PostgreSQL via
// Kysely in production, memory in tests and benchmarks). It is row-oriented on purpose: every method is one
// short statement or transaction, and no HTTP call ever runs inside a transaction.

export type DeliveryStatus = 'pending' | 'delivering' | 'succeeded' | 'failed';

export interface Delivery {
  /** 'msg_…'; sent as `webhook-id`, so it stays the same across every retry of this delivery */
  id: string;
  accountId: string;
  searchId: string;
  event: string;
  url: string;
  /** the exact bytes to send (and to sign) */
  payload: string;
  status: DeliveryStatus;
  /** attempts already made, before the one being claimed */
  attempts: number;
  /** epoch ms */
  nextAttemptAt: number;
  createdAt: number;
}

/** Why an attempt failed without an HTTP status, in a form the schedule can act on. */
export type AttemptErrorKind = 'timeout' | 'refused' | 'blocked' | 'dns' | 'tls' | 'network' | 'invalid_url';

/** One HTTP attempt as it goes into the attempt log (webhook_attempts). */
export interface AttemptRecord {
  /** 1-based: 1 for the first attempt of this delivery */
  attemptNo: number;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  /** lower-case names; repeated headers joined with ', ' */
  responseHeaders: Record<string, string> | null;
  /** first 32 KB of the response body, decoded as UTF-8 */
  responseBody: string | null;
  /** null when a response came back; otherwise a human-readable cause (also set for non-2xx summaries) */
  error: string | null;
  errorKind: AttemptErrorKind | null;
}

/** What becomes of the delivery after an attempt. */
export type NextState =
  | { status: 'succeeded' }
  | { status: 'pending'; nextAttemptAt: number }
  /** dead letter: the schedule is exhausted, or the receiver answered 410 Gone (`gone`) */
  | { status: 'failed'; gone: boolean; reason: string };

export interface DeliveryStore {
  /**
   * Leases up to `limit` deliveries that are `pending` and due (`nextAttemptAt <= now`), or `delivering`
   * with an expired lease (a crashed or stalled dispatcher; a database store may take those back only
   * every so often, and says when in nextDueAt). Sets status `delivering`, lease owner and
   * lease expiry `now + leaseMs`, atomically, so two dispatchers never get the same row
   * (PostgreSQL: `FOR UPDATE SKIP LOCKED`). Oldest due first.
   */
  claimDue(now: number, limit: number, owner: string, leaseMs: number): Promise<Delivery[]>;
  /**
   * Records the attempt (attempt log row, `attempts = attempt.attemptNo`, last status code / error) and
   * applies `next`, clearing the lease. Fenced: only if the row is still `delivering` leased by `owner`;
   * returns false (and changes nothing) when the lease was lost.
   */
  finishAttempt(id: string, owner: string, attempt: AttemptRecord, next: NextState): Promise<boolean>;
  /**
   * Gives a claimed delivery back without an attempt (its origin's breaker is open, the origin is
   * saturated, or the dispatcher is stopping): back to `pending` at `nextAttemptAt`, lease cleared.
   * Fenced by owner like finishAttempt.
   */
  release(id: string, owner: string, nextAttemptAt: number): Promise<boolean>;
  /**
   * The signer's current secret first, then superseded ones still inside their grace period. The signer
   * is the account, or its test mode for test deliveries (deliverySignerId in sign.ts).
   */
  signingSecrets(signer: string, now: number): Promise<string[]>;
  /** Earliest time something becomes claimable (pending due time or lease expiry), or null if nothing is. */
  nextDueAt(): Promise<number | null>;
  /**
   * Optional: told after every attempt, so the store can auto-disable an account's global URL after 5 days
   * of failures with no success, or at once when `gone` (410). `ok` resets the failure streak. `searchId`:
   * the delivery's search; only a live search's outcome counts (a test key may name the live URL itself).
   */
  urlOutcome?(accountId: string, url: string, ok: boolean, gone: boolean, now: number, searchId?: string): Promise<UrlOutcomeResult>;
}

export interface UrlOutcomeResult {
  /** false: the outcome was not the global URL's to count (a test search's) */
  counted: boolean;
  /** why the URL was disabled, when this very call disabled it (so it is reported once) */
  disabledReason: string | null;
}
