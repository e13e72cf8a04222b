// The phone finder: a waterfall over the sources the operator is entitled to use. The contacts directory
// is asked first (free, local), then each HTTP JSON provider in configured order (the operator orders them
// cheapest first) until one returns a number that validates. Every source asked is recorded in
// details.providers_tried so a user can audit why a number was, or was not, found.
import { Agent } from 'undici';
import type { CountryCode } from 'libphonenumber-js/max';
import type { Contact, Details, EngineContext, EngineOutcome, KnowledgeStore, PhoneEngine, PhoneQuery, PhoneResult } from '../types.js';
import { askProvider, buildProviderRequest, type ProviderRequest } from './http-provider.js';
import { normalizeCompanyDomain } from '../finder/company-domain.js';
import { normalizeLinkedinUrl } from './linkedin-url.js';
import { asCountryCode, checkNumber, countryOfDomain, type LineType, type ValidNumber } from './phone-number.js';
import type { PhoneProviderConfig } from './provider-config.js';
import { TokenBucket } from './rate-limit.js';
import { MissingTemplateValueError, type Env, type TemplateValues } from './template.js';

export interface PhoneEngineOptions {
  knowledge: KnowledgeStore;
  providers: PhoneProviderConfig[];
  /** injected by the lead (finder's company resolution): company name + ISO country -> domain */
  resolveCompanyDomain?: (name: string, country: string) => Promise<string | null>;
  /** ISO alpha-2 used to read national-format numbers when nothing better is known; also the country for company resolution (default US) */
  defaultCountry?: string;
  /** where `${VAR}` references are read (default process.env) */
  env?: Env;
  /** monotonic clock in ms for rate limits (default performance.now) */
  now?: () => number;
  /**
   * A search no provider could answer (errors, timeouts, local rate limits) is asked again for this long
   * after its first attempt, then finished as undetermined (`unknown`, refunded). Default 30 min.
   */
  retryWindowMs?: number;
  /** for the jitter of retries; default Math.random */
  random?: () => number;
}

/** waits before asking again after every provider failed, by attempt (the last one repeats) */
const FAILED_BACKOFF_MS = [5_000, 30_000, 120_000, 300_000];

export const DIRECTORY_PROVIDER = 'directory';

export type AttemptOutcome = 'found' | 'no_number' | 'invalid_number' | 'ambiguous' | 'error' | 'timeout' | 'rate_limited' | 'skipped';

export interface ProviderAttempt {
  provider: string;
  outcome: AttemptOutcome;
  /** what went wrong (error, timeout, invalid number, skip reason) */
  error?: string;
  http_status?: number;
  /** the raw value a source returned, kept when it did not validate */
  value?: string;
  /** the configured cost, on attempts the provider answered */
  cost?: number;
}

export interface PhoneDetails extends Details {
  /** `unknown`: no source could be asked (or none answered) within the retry window */
  status: 'found' | 'not_found' | 'unknown';
  provider: string | null;
  line_type: LineType | null;
  providers_tried: ProviderAttempt[];
}

interface SearchInput {
  linkedinUrl?: string;
  firstName?: string;
  lastName?: string;
  companyDomain?: string;
  companyName?: string;
}

export function createPhoneEngine(opts: PhoneEngineOptions): PhoneEngine {
  const env = opts.env ?? process.env;
  // as documented: a national-format number from a source naming no country, for a company whose domain
  // names none either (.com, .io), is read as a US number
  const defaultCountry = asCountryCode(opts.defaultCountry ?? 'US');
  const providers = opts.providers.map((config) => ({
    config,
    bucket: config.rate_limit_per_sec ? new TokenBucket(config.rate_limit_per_sec, opts.now) : undefined,
  }));
  const retryWindowMs = opts.retryWindowMs ?? 30 * 60_000;
  const random = opts.random ?? Math.random;
  // One connection pool for all providers, owned by the engine so close() leaves no sockets behind.
  const dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: 32 });

  async function findPhone(query: PhoneQuery, ctx: EngineContext): Promise<EngineOutcome<PhoneResult>> {
    const tried: ProviderAttempt[] = [];
    const extra: Record<string, unknown> = {};

    const input: SearchInput = {
      firstName: clean(query.first_name),
      lastName: clean(query.last_name),
      companyDomain: cleanDomain(query.company_domain),
      companyName: clean(query.company_name),
    };
    if (clean(query.linkedin_url)) {
      const normalized = normalizeLinkedinUrl(query.linkedin_url!);
      if (!normalized) return notFound('invalid linkedin_url: not a LinkedIn profile URL', tried, extra);
      input.linkedinUrl = normalized;
      extra.linkedin_url = normalized;
    }
    const byName = Boolean(input.firstName && input.lastName && (input.companyDomain || input.companyName));
    if (!input.linkedinUrl && !byName) {
      return notFound('missing input: linkedin_url, or first_name, last_name and company', tried, extra);
    }
    if (!input.companyDomain && input.companyName && opts.resolveCompanyDomain) {
      const resolved = await opts.resolveCompanyDomain(input.companyName, defaultCountry ?? 'US');
      input.companyDomain = cleanDomain(resolved ?? undefined);
      extra.company_domain_resolved = input.companyDomain ?? null;
    }
    if (input.companyDomain) extra.company_domain = input.companyDomain;
    const domainCountry = countryOfDomain(input.companyDomain);

    throwIfAborted(ctx.signal);
    const fromDirectory = await askDirectory(input, domainCountry);
    tried.push(fromDirectory.attempt);
    if (fromDirectory.number) return found(fromDirectory.number, DIRECTORY_PROVIDER, tried, extra);

    const values: TemplateValues = {
      linkedin_url: input.linkedinUrl,
      first_name: input.firstName,
      last_name: input.lastName,
      company_domain: input.companyDomain,
      company_name: input.companyName,
    };
    for (const { config, bucket } of providers) {
      throwIfAborted(ctx.signal);
      let req: ProviderRequest;
      try {
        req = buildProviderRequest(config, values, env);
      } catch (err) {
        // a name+company provider cannot answer a LinkedIn-only search (and vice versa): not a failure
        const why = err instanceof MissingTemplateValueError ? err.message : `cannot build request: ${(err as Error).message}`;
        tried.push({ provider: config.name, outcome: 'skipped', error: why });
        continue;
      }
      // Over its quota the provider is passed over, not waited for: the worker slot stays productive.
      if (bucket && !bucket.tryTake({ waited: ctx.attempt > 1 })) {
        tried.push({ provider: config.name, outcome: 'rate_limited', error: `local rate limit of ${config.rate_limit_per_sec}/s reached` });
        continue;
      }
      const answer = await askProvider(config, req, { dispatcher, signal: ctx.signal });
      if (answer.kind === 'error' || answer.kind === 'timeout') {
        tried.push({ provider: config.name, outcome: answer.kind, error: answer.error, ...(answer.kind === 'error' && answer.httpStatus ? { http_status: answer.httpStatus } : {}) });
        continue;
      }
      const cost = config.cost !== undefined ? { cost: config.cost } : {};
      if (answer.kind === 'no_number') {
        tried.push({ provider: config.name, outcome: 'no_number', http_status: answer.httpStatus, ...cost });
        continue;
      }
      // The provider's own country beats the company's TLD, which beats the operator default.
      const country = asCountryCode(typeof answer.country === 'string' ? answer.country : undefined) ?? domainCountry ?? defaultCountry;
      const check = checkNumber(answer.value, country);
      if (!check.valid) {
        tried.push({ provider: config.name, outcome: 'invalid_number', error: check.reason, value: rawText(answer.value), http_status: answer.httpStatus, ...cost });
        continue;
      }
      tried.push({ provider: config.name, outcome: 'found', http_status: answer.httpStatus, ...cost });
      return found(check.number, config.name, tried, extra);
    }
    if (undecided(tried)) return askAgain(tried, extra, ctx);
    return notFound(notFoundReason(tried), tried, extra);
  }

  /** Providers were to be asked, and not one of them answered: an absence nobody confirmed. */
  function undecided(tried: ProviderAttempt[]): boolean {
    const http = tried.filter((t) => t.provider !== DIRECTORY_PROVIDER);
    return http.some((t) => FAILED.has(t.outcome)) && !http.some((t) => t.outcome === 'no_number' || t.outcome === 'invalid_number');
  }

  // Back to the queue, for as long as the retry window allows: a provider over its local rate limit, or
  // down for a moment, has not said it has no number. The item leaves its worker slot meanwhile.
  function askAgain(tried: ProviderAttempt[], extra: Record<string, unknown>, ctx: EngineContext): EngineOutcome<PhoneResult> {
    const reason = notFoundReason(tried);
    const onlyLimited = tried.every((t) => t.provider === DIRECTORY_PROVIDER || t.outcome === 'rate_limited' || t.outcome === 'skipped');
    // turned away by local rate limits only: the earliest free slot among those providers (each search
    // turned away gets a slot of its own); otherwise a backoff, spread so that a bulk's items do not all
    // come back at once
    const turnedAway = new Set(tried.filter((t) => t.outcome === 'rate_limited').map((t) => t.provider));
    const limited = onlyLimited
      ? providers.filter((p) => p.bucket && turnedAway.has(p.config.name)).sort((a, b) => a.bucket!.nextSlotIn() - b.bucket!.nextSlotIn())[0]?.bucket
      : undefined;
    const base = FAILED_BACKOFF_MS[Math.min(ctx.attempt, FAILED_BACKOFF_MS.length) - 1]!;
    const delayMs = limited ? limited.nextSlotIn() : Math.round(base + random() * base * 0.5);
    const window = retryWindowMs >= 60_000 ? `${Math.round(retryWindowMs / 60_000)} min` : `${retryWindowMs} ms`;
    if (Date.now() + delayMs - ctx.firstAttemptAt < retryWindowMs) {
      limited?.takeSlot();
      return { kind: 'retry', delayMs, details: { status: 'unknown', reason, provider: null, line_type: null, providers_tried: tried, ...extra } };
    }
    // the next try would fall after the window: this one was the last
    const why = ctx.attempt > 1 ? `still so after ${window} of retries` : `and the next try would fall after the ${window} retry window`;
    return undetermined(`${reason}; ${why}`, tried, extra);
  }

  async function askDirectory(input: SearchInput, domainCountry: CountryCode | undefined): Promise<{ attempt: ProviderAttempt; number?: ValidNumber }> {
    // Store failures are thrown on purpose: "the database was down" must not be recorded as "no number".
    const contacts: Contact[] = [];
    let byProfile: Contact | undefined;
    if (input.linkedinUrl) {
      byProfile = await opts.knowledge.findContactByLinkedin(input.linkedinUrl);
      if (byProfile) contacts.push(byProfile);
    }
    if (input.firstName && input.lastName && input.companyDomain) {
      contacts.push(...(await opts.knowledge.findContactsByName(`${input.firstName} ${input.lastName}`, input.companyDomain)));
    }
    const invalid: { value: string; reason: string }[] = [];
    const valid = new Map<string, ValidNumber>();
    for (const contact of contacts) {
      const phone = clean(contact.phone);
      if (!phone) continue;
      const check = checkNumber(phone, countryOfDomain(contact.company_domain) ?? domainCountry ?? defaultCountry);
      if (check.valid) {
        // a LinkedIn profile names one person: its contact wins over namesakes found by name
        if (contact === byProfile) return { attempt: { provider: DIRECTORY_PROVIDER, outcome: 'found' }, number: check.number };
        valid.set(check.number.e164, check.number);
      } else invalid.push({ value: phone, reason: check.reason });
    }
    if (valid.size === 1) return { attempt: { provider: DIRECTORY_PROVIDER, outcome: 'found' }, number: [...valid.values()][0] };
    if (valid.size > 1) {
      // two people of that name at that company: which number is this one's, the directory cannot say
      return { attempt: { provider: DIRECTORY_PROVIDER, outcome: 'ambiguous', error: `${valid.size} contacts of that name at that company, with different numbers` } };
    }
    if (invalid.length) {
      const error = invalid.map((i) => `${rawText(i.value)}: ${i.reason}`).join('; ');
      return { attempt: { provider: DIRECTORY_PROVIDER, outcome: 'invalid_number', error, value: rawText(invalid[0].value) } };
    }
    return {
      attempt: {
        provider: DIRECTORY_PROVIDER,
        outcome: 'no_number',
        ...(contacts.length ? { error: 'contact known but has no phone number' } : {}),
      },
    };
  }

  function notFoundReason(tried: ProviderAttempt[]): string {
    const http = tried.filter((t) => t.provider !== DIRECTORY_PROVIDER);
    const answered = http.filter((t) => t.outcome === 'no_number' || t.outcome === 'invalid_number').length;
    const failed = http.filter((t) => t.outcome === 'error' || t.outcome === 'timeout' || t.outcome === 'rate_limited').length;
    const namesakes = tried.find((t) => t.provider === DIRECTORY_PROVIDER)?.outcome === 'ambiguous';
    const directory = namesakes ? 'no single number in the contacts directory (namesakes)' : 'no number in the contacts directory';
    if (providers.length === 0) return `${directory}, and no phone providers are configured`;
    if (answered > 0) {
      return `${namesakes ? directory : 'no valid number in the contacts directory'}, nor from the ${answered} provider(s) that answered` + (failed ? `; ${failed} provider(s) failed` : '');
    }
    if (failed > 0) {
      return `${directory}, and every provider asked failed (${failed}: errors, timeouts or rate limits), so the absence is not confirmed`;
    }
    return `${directory}, and no provider accepts this kind of search`;
  }

  return {
    findPhone,
    async close() {
      await dispatcher.close();
    },
  };
}

function found(number: ValidNumber, provider: string, tried: ProviderAttempt[], extra: Record<string, unknown>): EngineOutcome<PhoneResult> {
  const details: PhoneDetails = {
    status: 'found',
    reason: `valid ${number.line_type.replace(/_/g, ' ')} number from ${provider === DIRECTORY_PROVIDER ? 'the contacts directory' : `provider ${provider}`}`,
    provider,
    line_type: number.line_type,
    providers_tried: tried,
    ...extra,
  };
  return { kind: 'done', result: { number: number.e164, country: number.country, qualification: 'found', details } };
}

function notFound(reason: string, tried: ProviderAttempt[], extra: Record<string, unknown>): EngineOutcome<PhoneResult> {
  const details: PhoneDetails = { status: 'not_found', reason, provider: null, line_type: null, providers_tried: tried, ...extra };
  return { kind: 'done', result: { number: null, country: null, qualification: 'not_found', details } };
}

/** Final, but not a "not found": nothing is known of this person's number (refunded like one). */
function undetermined(reason: string, tried: ProviderAttempt[], extra: Record<string, unknown>): EngineOutcome<PhoneResult> {
  const details: PhoneDetails = { status: 'unknown', reason, provider: null, line_type: null, providers_tried: tried, ...extra };
  return { kind: 'done', result: { number: null, country: null, qualification: 'not_found', details } };
}

const FAILED = new Set<AttemptOutcome>(['error', 'timeout', 'rate_limited']);

function throwIfAborted(signal: AbortSignal | undefined) {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}

function clean(v: string | undefined | null): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t ? t : undefined;
}

/** The company domain as the directory stores it (normalizeCompanyDomain: URLs, www2., IDN to punycode, a pasted address's domain). */
function cleanDomain(v: string | undefined | null): string | undefined {
  const t = clean(v);
  return t ? (normalizeCompanyDomain(t) ?? undefined) : undefined;
}

function rawText(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
