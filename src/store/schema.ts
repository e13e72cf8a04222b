// Table types for Kysely. Money is held as integer hundredths of a credit ("cents") so the ledger never
// drifts; times are epoch milliseconds so SQLite and PostgreSQL store them the same way.
import type { Generated } from 'kysely';

export type Mode = 'live' | 'test';
export type Product = 'find' | 'verify' | 'phone';

export interface AccountsTable {
  id: string;
  name: string;
  sub_cents: number;
  paygo_cents: number;
  test_cents: number;
  webhook_url: string | null;
  webhook_failing_since: number | null;
  webhook_disabled_at: number | null;
  webhook_disabled_reason: string | null;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  key_hash: string;
  prefix: string;
  mode: Mode;
  name: string | null;
  rate_limit_per_sec: number | null;
  created_at: number;
  revoked_at: number | null;
}

export interface LedgerTable {
  id: Generated<number>;
  account_id: string;
  search_id: string | null;
  kind: 'reserve' | 'refund' | 'grant';
  mode: Mode;
  sub_cents: number;
  paygo_cents: number;
  test_cents: number;
  note: string | null;
  created_at: number;
}

export interface SearchesTable {
  id: string;
  account_id: string;
  product: Product;
  bulk: number;
  mode: Mode;
  status: 'ongoing' | 'completed';
  requested: number;
  finished: number;
  /** raw JSON text of the batch-level (or single) `custom`, exactly as the client sent it */
  custom: string | null;
  settings: string;
  webhook_url: string | null;
  price_cents: number;
  reserved_sub_cents: number;
  reserved_paygo_cents: number;
  reserved_test_cents: number;
  refunded_sub_cents: number;
  refunded_paygo_cents: number;
  refunded_test_cents: number;
  created_at: number;
  completed_at: number | null;
}

export interface ItemsTable {
  search_id: string;
  idx: number;
  product: Product;
  mode: Mode;
  /** the item as the engine needs it (JSON) */
  input: string;
  /** the item as the client sent it (JSON), for raw_params / params */
  raw: string;
  /** raw JSON text of the item's own `custom`, if any */
  custom: string | null;
  state: 'queued' | 'running' | 'done';
  run_at: number;
  /** the item's place in the queue's order (src/domain/fair-order.ts); never a delay */
  sort_at: number;
  attempts: number;
  first_attempt_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  result: string | null;
  qualification: string | null;
  charged_cents: number;
  finished_at: number | null;
}

export interface IdempotencyTable {
  account_id: string;
  key: string;
  request_hash: string;
  status_code: number;
  response: string;
  created_at: number;
}

export interface WebhookSecretsTable {
  id: string;
  account_id: string;
  secret: string;
  created_at: number;
  /** null while current; set to rotation time + grace when superseded */
  expires_at: number | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  account_id: string;
  search_id: string;
  event: string;
  url: string;
  status: 'pending' | 'delivering' | 'succeeded' | 'failed';
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** The exact bytes a delivery sends, written once with it (kept apart from the often-rewritten delivery row). */
export interface WebhookPayloadsTable {
  delivery_id: string;
  payload: string;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt_no: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  response_headers: string | null;
  response_body: string | null;
  error: string | null;
}

export interface DomainFactsTable {
  domain: string;
  fact: string;
  value: string;
  expires_at: number;
}

export interface ContactsTable {
  id: string;
  fullname: string;
  fullname_norm: string;
  company_domain: string;
  email: string | null;
  phone: string | null;
  linkedin_url: string | null;
  source: string;
  created_at: number;
}

export interface CompaniesTable {
  id: string;
  name: string;
  name_norm: string;
  country: string | null;
  domain: string;
  aliases: string;
}

export interface PatternConfirmationsTable {
  domain: string;
  pattern: string;
  email: string;
  created_at: number;
}

export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  ledger: LedgerTable;
  searches: SearchesTable;
  items: ItemsTable;
  idempotency: IdempotencyTable;
  webhook_secrets: WebhookSecretsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_payloads: WebhookPayloadsTable;
  webhook_attempts: WebhookAttemptsTable;
  domain_facts: DomainFactsTable;
  contacts: ContactsTable;
  companies: CompaniesTable;
  pattern_confirmations: PatternConfirmationsTable;
}
