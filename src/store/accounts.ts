// Accounts, API keys and the credit ledger. API keys are stored as SHA-256 hashes only: a key is 190
// random bits, so a fast hash is enough, and the plain key is shown once, at creation.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import type { OpenStore, Tx } from './db.js';
import type { AccountsTable, Mode } from './schema.js';
import { newId } from '../domain/ids.js';
import { splitReservation, type Split } from '../domain/money.js';

export type Account = AccountsTable;

export interface AuthenticatedKey {
  keyId: string;
  accountId: string;
  mode: Mode;
  rateLimitPerSec: number | null;
}

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** Default test-mode balance: test searches never spend real credits. */
const DEFAULT_TEST_CENTS = 1_000_000 * 100;

export async function createAccount(
  store: OpenStore,
  input: { name: string; subCents: number; paygoCents?: number },
): Promise<{ account: Account; apiKey: string; keyId: string }> {
  return store.tx((trx) => insertAccount(trx, input));
}

// any constant will do: it only has to be the same for every process creating the first account
const FIRST_ACCOUNT_LOCK = 0x6f70656e726f77n; // "openrow"

/**
 * The account a newcomer's first start creates, with a live and a test key; null when the database has
 * an account already. Two servers starting at once on an empty database create one: the count and the
 * insert share a transaction, serialized by SQLite's write lock or a PostgreSQL advisory lock.
 */
export async function createFirstAccount(
  store: OpenStore,
  input: { name: string; subCents: number },
): Promise<{ account: Account; apiKey: string; testApiKey: string } | null> {
  return store.tx(async (trx) => {
    if (store.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${FIRST_ACCOUNT_LOCK})`.execute(trx);
    const any = await trx.selectFrom('accounts').select('id').limit(1).executeTakeFirst();
    if (any) return null;
    const { account, apiKey } = await insertAccount(trx, input);
    const test = await insertKey(trx, account.id, { mode: 'test', name: 'default test key' });
    return { account, apiKey, testApiKey: test.apiKey };
  });
}

async function insertAccount(trx: Tx, input: { name: string; subCents: number; paygoCents?: number }) {
  const now = Date.now();
  const account: Account = {
    id: newId('acct'),
    name: input.name,
    sub_cents: input.subCents,
    paygo_cents: input.paygoCents ?? 0,
    test_cents: DEFAULT_TEST_CENTS,
    webhook_url: null,
    webhook_disabled_at: null,
    webhook_disabled_reason: null,
    webhook_failing_since: null,
    created_at: now,
  };
  await trx.insertInto('accounts').values(account).execute();
  // every balance has its ledger rows, the test balance too: the ledger sums to the balances
  if (account.sub_cents || account.paygo_cents) await insertGrant(trx, account.id, 'live', { sub: account.sub_cents, paygo: account.paygo_cents, test: 0 }, 'initial balance', now);
  await insertGrant(trx, account.id, 'test', { sub: 0, paygo: 0, test: account.test_cents }, 'initial test balance', now);
  const { apiKey, keyId } = await insertKey(trx, account.id, { mode: 'live' });
  return { account, apiKey, keyId };
}

async function insertKey(
  trx: Tx,
  accountId: string,
  opts: { mode: Mode; name?: string; rateLimitPerSec?: number | null },
): Promise<{ apiKey: string; keyId: string }> {
  const apiKey = `or_${opts.mode}_${randomBytes(24).toString('base64url')}`;
  const keyId = newId('key');
  await trx
    .insertInto('api_keys')
    .values({
      id: keyId,
      account_id: accountId,
      key_hash: hashKey(apiKey),
      prefix: apiKey.slice(0, 12),
      mode: opts.mode,
      name: opts.name ?? null,
      rate_limit_per_sec: opts.rateLimitPerSec ?? null,
      created_at: Date.now(),
      revoked_at: null,
    })
    .execute();
  return { apiKey, keyId };
}

export async function createApiKey(
  store: OpenStore,
  accountId: string,
  opts: { mode: Mode; name?: string; rateLimitPerSec?: number | null },
) {
  const account = await getAccount(store, accountId);
  if (!account) throw new Error(`no such account: ${accountId}`);
  return insertKey(store.db, accountId, opts);
}

export class AmbiguousKeyPrefix extends Error {
  constructor(prefix: string, n: number) {
    super(`${n} keys share the prefix ${prefix}: revoke by key id (openrow keys list)`);
  }
}

/**
 * Revokes a key by its id, by the whole key (an operator pasting a leaked one: matched by its hash), or
 * by its printed prefix when exactly one live key has it: a prefix holds only a few random characters,
 * and revoking every key sharing it could cut off another account.
 */
export async function revokeApiKey(store: OpenStore, keyIdOrPrefix: string): Promise<boolean> {
  return store.tx(async (trx) => {
    const matches = await trx
      .selectFrom('api_keys')
      .select('id')
      .where((eb) => eb.or([eb('id', '=', keyIdOrPrefix), eb('prefix', '=', keyIdOrPrefix), eb('key_hash', '=', hashKey(keyIdOrPrefix))]))
      .where('revoked_at', 'is', null)
      .execute();
    if (matches.length > 1) throw new AmbiguousKeyPrefix(keyIdOrPrefix, matches.length);
    if (!matches.length) return false;
    await trx.updateTable('api_keys').set({ revoked_at: Date.now() }).where('id', '=', matches[0]!.id).execute();
    return true;
  });
}

export async function listApiKeys(store: OpenStore, accountId?: string) {
  let q = store.db.selectFrom('api_keys').select(['id', 'account_id', 'prefix', 'mode', 'name', 'rate_limit_per_sec', 'created_at', 'revoked_at']);
  if (accountId) q = q.where('account_id', '=', accountId);
  return q.orderBy('created_at').execute();
}

export async function authenticate(store: OpenStore, presented: string): Promise<AuthenticatedKey | null> {
  const digest = hashKey(presented);
  const row = await store.db
    .selectFrom('api_keys')
    .select(['id', 'account_id', 'key_hash', 'mode', 'rate_limit_per_sec', 'revoked_at'])
    .where('key_hash', '=', digest)
    .executeTakeFirst();
  if (!row || row.revoked_at !== null) return null;
  // The index lookup already matched; the constant-time compare keeps the final decision free of
  // early-exit timing even if the lookup path changes (e.g. a prefix lookup).
  if (!timingSafeEqual(Buffer.from(row.key_hash, 'hex'), Buffer.from(digest, 'hex'))) return null;
  return { keyId: row.id, accountId: row.account_id, mode: row.mode, rateLimitPerSec: row.rate_limit_per_sec };
}

export async function getAccount(store: OpenStore | { db: Tx }, id: string): Promise<Account | undefined> {
  return store.db
    .selectFrom('accounts')
    .select(['id', 'name', 'sub_cents', 'paygo_cents', 'test_cents', 'webhook_url', 'webhook_failing_since', 'webhook_disabled_at', 'webhook_disabled_reason', 'created_at'])
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function listAccounts(store: OpenStore) {
  return store.db.selectFrom('accounts').selectAll().orderBy('created_at').execute();
}

/** The largest balance kept exact: balances are read as JavaScript numbers (cents). */
export const MAX_BALANCE_CENTS = Number.MAX_SAFE_INTEGER;
const RESERVE_ATTEMPTS = 100;

/** A grant that would take a balance beyond MAX_BALANCE_CENTS. */
export class BalanceLimit extends Error {}

export async function grantCredits(
  store: OpenStore,
  accountId: string,
  amounts: { subCents?: number; paygoCents?: number; testCents?: number },
  note?: string,
) {
  const sub = amounts.subCents ?? 0;
  const paygo = amounts.paygoCents ?? 0;
  const test = amounts.testCents ?? 0;
  return store.tx(async (trx) => {
    const res = await trx
      .updateTable('accounts')
      .set((eb) => ({
        sub_cents: eb('sub_cents', '+', sub),
        paygo_cents: eb('paygo_cents', '+', paygo),
        test_cents: eb('test_cents', '+', test),
      }))
      .where('id', '=', accountId)
      // balances are read as JavaScript numbers: beyond 2^53 cents they would be rounded, and a rounded
      // balance never matches again in reserveCredits' compare-and-set
      .where(sql<boolean>`sub_cents + ${sub} <= ${MAX_BALANCE_CENTS} and paygo_cents + ${paygo} <= ${MAX_BALANCE_CENTS} and test_cents + ${test} <= ${MAX_BALANCE_CENTS}`)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) {
      if (!(await trx.selectFrom('accounts').select('id').where('id', '=', accountId).executeTakeFirst())) throw new Error(`no such account: ${accountId}`);
      // written out from the integer: as a float, 90071992547409.91 would print as …409.9
      const max = `${Math.floor(MAX_BALANCE_CENTS / 100)}.${String(MAX_BALANCE_CENTS % 100).padStart(2, '0')}`;
      throw new BalanceLimit(`a balance would exceed the largest one supported (${max} credits): nothing granted`);
    }
    // a live grant and a test grant are a row each, each with its own mode
    const now = Date.now();
    if (sub || paygo || !test) await insertGrant(trx, accountId, 'live', { sub, paygo, test: 0 }, note ?? null, now);
    if (test) await insertGrant(trx, accountId, 'test', { sub: 0, paygo: 0, test }, note ?? null, now);
  });
}

/** A `grant` row of the ledger (cents per balance). */
async function insertGrant(trx: Tx, accountId: string, mode: Mode, cents: { sub: number; paygo: number; test: number }, note: string | null, now: number) {
  await trx
    .insertInto('ledger')
    .values({ account_id: accountId, search_id: null, kind: 'grant', mode, sub_cents: cents.sub, paygo_cents: cents.paygo, test_cents: cents.test, note, created_at: now })
    .execute();
}

export class InsufficientBalance extends Error {
  constructor() {
    super('Insufficient balance');
  }
}

export interface Reservation extends Split {
  fromTest: number;
}

/**
 * Where `total` cents come from, given the balances: the test balance for test mode; otherwise the
 * subscription first, then pay-as-you-go. Throws InsufficientBalance when they do not cover it.
 */
export function planReservation(bal: { sub_cents: number; paygo_cents: number; test_cents: number }, mode: Mode, total: number): Reservation {
  if (mode === 'test') {
    if (bal.test_cents < total) throw new InsufficientBalance();
    return { fromSub: 0, fromPaygo: 0, fromTest: total };
  }
  if (bal.sub_cents + bal.paygo_cents < total) throw new InsufficientBalance();
  return { ...splitReservation(total, bal.sub_cents), fromTest: 0 };
}

/**
 * Takes `total` cents from the account inside the caller's transaction. The UPDATE is conditional on
 * the balances it read, so two racing reservations can never both spend the same credits, on either
 * database; the loser re-reads and tries again (or fails with InsufficientBalance).
 */
export async function reserveCredits(trx: Tx, accountId: string, mode: Mode, total: number, opts: { lockRow?: boolean } = {}): Promise<Reservation> {
  // Each lost race means another request took credits meanwhile; a balance that never matches (a bug, or
  // a row edited by hand beyond 2^53 cents) must fail the request, not hold a connection for ever.
  // `lockRow` (PostgreSQL): the read locks the account row, so the update matches at the first try
  // however many requests race (without it, a hundred racing transactions could fail one of them).
  for (let attempt = 1; ; attempt++) {
    if (attempt > RESERVE_ATTEMPTS) throw new Error(`could not reserve credits on account ${accountId}: its balance changed ${RESERVE_ATTEMPTS} times in a row`);
    const read = trx.selectFrom('accounts').select(['sub_cents', 'paygo_cents', 'test_cents']).where('id', '=', accountId);
    const acct = await (opts.lockRow ? read.forUpdate() : read).executeTakeFirst();
    if (!acct) throw new Error(`no such account: ${accountId}`);
    const r = planReservation(acct, mode, total);
    const res = await trx
      .updateTable('accounts')
      .set({ sub_cents: acct.sub_cents - r.fromSub, paygo_cents: acct.paygo_cents - r.fromPaygo, test_cents: acct.test_cents - r.fromTest })
      .where('id', '=', accountId)
      .where('sub_cents', '=', acct.sub_cents)
      .where('paygo_cents', '=', acct.paygo_cents)
      .where('test_cents', '=', acct.test_cents)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) return r;
  }
}

/** Adds back to the balances, for refunds; the ledger row is written by the caller with its search id. */
export async function creditBack(trx: Tx, accountId: string, r: Reservation) {
  await trx
    .updateTable('accounts')
    .set({
      sub_cents: sql`sub_cents + ${r.fromSub}`,
      paygo_cents: sql`paygo_cents + ${r.fromPaygo}`,
      test_cents: sql`test_cents + ${r.fromTest}`,
    })
    .where('id', '=', accountId)
    .execute();
}

export async function setGlobalWebhook(store: OpenStore, accountId: string, url: string | null) {
  await store.db
    .updateTable('accounts')
    .set({ webhook_url: url, webhook_failing_since: null, webhook_disabled_at: null, webhook_disabled_reason: null })
    .where('id', '=', accountId)
    .execute();
}
