// The contract between the queue workers and the engines. Engines know nothing of HTTP, accounts or
// credits: they take one input, return one outcome, and read or write shared knowledge only through
// the small interfaces below (implemented over the database by src/store).

/** The evidence behind a binary qualification; returned to users as `details`. */
export interface Details {
  /** e.g. deliverable | undeliverable | catch_all | unknown | disposable | found | not_found */
  status: string;
  /** human-readable reason, always present so users can audit */
  reason: string;
  [key: string]: unknown;
}

/**
 * `done` is final. `retry` asks the queue to run the same item again after `delayMs`
 * (greylisting, temporary failures): the worker never sleeps through the wait.
 */
export type EngineOutcome<R> =
  | { kind: 'done'; result: R }
  | { kind: 'retry'; delayMs: number; details: Details };

export interface EngineContext {
  /** 1 on the first run of this item, 2 on the first retry, … */
  attempt: number;
  /** epoch ms of the item's first attempt, for "retry up to a total window" decisions */
  firstAttemptAt: number;
  signal?: AbortSignal;
}

export interface VerifyResult {
  email: string;
  qualification: 'valid' | 'invalid';
  details: Details;
}

export interface FindPerson {
  fullname?: string;
  first_name?: string;
  last_name?: string;
  company_domain?: string;
  company_name?: string;
  /** ISO 3166 alpha-2, default US */
  country_code: string;
  retrieve_gender: boolean;
}

export interface FindInfo {
  company_domain?: string;
  fullname: string;
  firstname: string;
  lastname: string;
  gender?: 'male' | 'female';
}

export interface FindResult {
  email: string | null;
  qualification: 'valid' | 'invalid';
  info: FindInfo;
  details: Details;
}

export interface PhoneQuery {
  linkedin_url?: string;
  first_name?: string;
  last_name?: string;
  company_domain?: string;
  company_name?: string;
}

export interface PhoneResult {
  number: string | null;
  country: string | null;
  qualification: 'found' | 'not_found';
  details: Details;
}

export interface VerifierEngine {
  verify(email: string, ctx: EngineContext): Promise<EngineOutcome<VerifyResult>>;
  close?(): Promise<void>;
}

export interface FinderEngine {
  findEmail(person: FindPerson, ctx: EngineContext): Promise<EngineOutcome<FindResult>>;
  close?(): Promise<void>;
}

export interface PhoneEngine {
  findPhone(query: PhoneQuery, ctx: EngineContext): Promise<EngineOutcome<PhoneResult>>;
  close?(): Promise<void>;
}

/** An engine that does not exist yet is absent: its jobs are queued and stay `ongoing`. */
export interface Engines {
  verifier?: VerifierEngine;
  finder?: FinderEngine;
  phone?: PhoneEngine;
}

// ---- shared knowledge, implemented over the database (src/store) ----

/** Per-domain facts shared by all workers (catch-all verdict, …), each with its own expiry. */
export interface DomainFactsCache {
  get(domain: string, fact: string): Promise<unknown | undefined>;
  set(domain: string, fact: string, value: unknown, ttlMs: number): Promise<void>;
}

export interface Contact {
  fullname: string;
  company_domain: string;
  email?: string | null;
  phone?: string | null;
  linkedin_url?: string | null;
}

export interface Company {
  name: string;
  country: string | null;
  domain: string;
  aliases: string[];
}

export interface KnowledgeStore {
  /** contacts directory (operator CSV import, and addresses proven by searches) */
  findContactsByDomain(domain: string): Promise<Contact[]>;
  findContactByEmail(email: string): Promise<Contact | undefined>;
  findContactByLinkedin(normalizedUrl: string): Promise<Contact | undefined>;
  findContactsByName(fullname: string, domain: string): Promise<Contact[]>;
  addContact(contact: Contact): Promise<void>;
  /** company directory (operator CSV import) */
  findCompanyByName(name: string, country: string | null): Promise<Company | undefined>;
  /** per-domain email pattern statistics: pattern name -> independent confirmations */
  patternStats(domain: string): Promise<Record<string, number>>;
  recordPattern(domain: string, pattern: string, email: string): Promise<void>;
}
