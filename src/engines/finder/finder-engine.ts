// The email finder: name + company → domain → candidates ordered by evidence → sequential
// verification (the verifier keeps one pooled SMTP session per mail host, so consecutive probes share
// it) → the first deliverable address. On a catch-all domain SMTP proves nothing, so the answer is
// `valid` only with named evidence, never a guess.
import type { Details, EngineContext, EngineOutcome, FindInfo, FindPerson, FindResult, FinderEngine, KnowledgeStore, VerifierEngine, VerifyResult } from '../types.js';
import type { MailDns } from '../verifier/index.js';
import { isDisposableDomain, isFreeProviderDomain } from '../verifier/lists.js';
import { resolveCompanyDomain, type DomainResolution } from './company-domain.js';
import { domainEvidence, dominantPattern, provenPattern } from './domain-evidence.js';
import { genderOf } from './gender.js';
import { parseName, type ParsedName } from './name-parse.js';
import { buildLocal, candidateLocalParts, patternWeights } from './patterns.js';
import { MAX_DIRECTORY_NAME } from './csv-import.js';

export interface FinderOptions {
  verifier: VerifierEngine;
  knowledge: KnowledgeStore;
  /** a DNS module (createMailDns), shared with the verifier so a domain is looked up once: domain checks and the company-name heuristic */
  mailDns: Pick<MailDns, 'mailHosts'>;
  /**
   * On a catch-all domain, the domain's dominant pattern is trusted once it has this many
   * independent confirmations (distinct people proven by SMTP or listed in the contacts directory).
   * Default 3.
   */
  catchAllEvidenceThreshold?: number;
  /** verifications spent on one search at most (default 20) */
  maxProbes?: number;
  /** TLDs for the company-name DNS heuristic; default depends on the country (US → com, FR → fr, com…) */
  heuristicTlds?: string[];
  /** delay asked of the queue when a company-name guess could not be checked (DNS failure); default 60 s */
  dnsRetryDelayMs?: number;
}

interface Candidate {
  email: string;
  pattern: string;
  /** the address comes from the contacts directory entry of this very person */
  fromDirectory: boolean;
}

const DEFAULT_THRESHOLD = 3;
const DEFAULT_MAX_PROBES = 20;
const DNS_RETRY_ATTEMPTS = 3;

/** Short trace of a verification for `details` (the full one is the verifier's business). */
function verification(r: VerifyResult) {
  const d = r.details;
  return { email: r.email, status: d.status, reason: d.reason, mx_host: d.mx_host ?? null, smtp_code: d.smtp_code ?? null };
}

export class EmailFinder implements FinderEngine {
  private readonly threshold: number;
  private readonly maxProbes: number;

  constructor(private readonly o: FinderOptions) {
    this.threshold = o.catchAllEvidenceThreshold ?? DEFAULT_THRESHOLD;
    this.maxProbes = o.maxProbes ?? DEFAULT_MAX_PROBES;
  }

  async findEmail(person: FindPerson, ctx: EngineContext): Promise<EngineOutcome<FindResult>> {
    const name = parseName({ fullname: person.fullname, first_name: person.first_name, last_name: person.last_name, country_code: person.country_code });
    const info: FindInfo = { fullname: name.fullname, firstname: name.firstname, lastname: name.lastname };
    if (person.retrieve_gender) {
      const g = genderOf(name.firstname, person.country_code);
      if (g) info.gender = g;
    }
    const done = (email: string | null, details: Details): EngineOutcome<FindResult> => ({
      kind: 'done',
      result: { email, qualification: email ? 'valid' : 'invalid', info, details },
    });

    if (name.forms.length === 0) return done(null, { status: 'unknown', reason: 'the name holds no letters to build an address from' });

    const resolved: DomainResolution = await resolveCompanyDomain(
      { company_domain: person.company_domain, company_name: person.company_name, country_code: person.country_code },
      { knowledge: this.o.knowledge, mailDns: this.o.mailDns, heuristicTlds: this.o.heuristicTlds },
    );
    if (!resolved.ok) {
      if (resolved.retryable && ctx.attempt < DNS_RETRY_ATTEMPTS) {
        return { kind: 'retry', delayMs: this.o.dnsRetryDelayMs ?? 60_000, details: { status: 'unknown', reason: resolved.reason, domains_tried: resolved.tried } };
      }
      return done(null, { status: 'unknown', reason: `company could not be resolved to a domain: ${resolved.reason}`, domains_tried: resolved.tried });
    }
    const domain = resolved.domain;
    info.company_domain = domain;
    const base = { domain, domain_source: resolved.source, ...(resolved.company ? { company: resolved.company } : {}) };

    // On a webmail or throw-away domain a mailbox named like the person proves nothing about them:
    // only this person's own directory entry may be checked there.
    const shared = isFreeProviderDomain(domain) ? 'a free email provider' : isDisposableDomain(domain) ? 'a disposable address provider' : null;

    const evidence = await domainEvidence(domain, this.o.knowledge);
    const candidates = await this.candidates(name, domain, evidence.confirmations, person.country_code, shared === null);
    if (shared && candidates.length === 0) {
      return done(null, { ...base, status: 'unknown', reason: `${domain} is ${shared}: an address there named like this person need not be theirs`, probes: 0 });
    }

    const hosts = await this.o.mailDns.mailHosts(domain);
    if (hosts.kind === 'nxdomain' || hosts.kind === 'null_mx' || hosts.kind === 'no_mail_host') {
      const why = { nxdomain: 'does not exist', null_mx: 'accepts no mail (null MX)', no_mail_host: 'has no mail host' }[hosts.kind];
      return done(null, { ...base, status: 'not_found', reason: `${domain} ${why}`, probes: 0 });
    }

    let probes = 0;
    const rejected: string[] = [];
    /** first greylisting answer of this run: the run goes on only to start the other candidates' clocks */
    let greylisted: { delayMs: number; reason: string } | undefined;
    for (const c of candidates) {
      if (probes >= this.maxProbes) break;
      ctx.signal?.throwIfAborted();
      probes++;
      const outcome = await this.o.verifier.verify(c.email, ctx);
      if (outcome.kind === 'retry') {
        // A greylisting server delays each new sender/recipient pair. Asking every remaining
        // candidate now starts all their clocks together, so the re-run needs one wait, not one per
        // candidate. Any other temporary failure ends this run at once.
        if (outcome.details.greylisted === true) {
          greylisted ??= { delayMs: outcome.delayMs, reason: `verifying ${c.email}: ${outcome.details.reason}` };
          greylisted.delayMs = Math.max(greylisted.delayMs, outcome.delayMs);
          continue;
        }
        return { kind: 'retry', delayMs: outcome.delayMs, details: { ...base, status: 'unknown', reason: `verifying ${c.email}: ${outcome.details.reason}`, probes } };
      }
      const r = outcome.result;
      const status = r.details.status;
      if (status === 'catch_all' || r.details.catch_all === true) {
        return done(...this.catchAllAnswer(name, domain, c, r, evidence.confirmations, { ...base, probes }));
      }
      if (r.qualification === 'valid') {
        await this.learn(name, domain, c);
        return done(c.email, {
          ...base,
          status: 'found',
          reason: `${c.email} is deliverable: ${r.details.reason}`,
          pattern: c.pattern,
          ...(c.fromDirectory ? { source: 'contacts_directory' } : {}),
          probes,
          verification: verification(r),
        });
      }
      // (unless a likelier candidate is waiting out greylisting: the re-run asks it first)
      if (r.details.mailbox_full === true && !greylisted) {
        // The server knows this mailbox: it is most likely this person's (candidates come in order of
        // likelihood), and an address accepted further down the list, more likely a namesake's. It takes no
        // mail now, so nothing is found (nor charged), and the answer says why.
        return done(null, { ...base, status: 'mailbox_full', reason: `${c.email} exists but its mailbox is full: ${r.details.reason}`, probes, verification: verification(r) });
      }
      if (status !== 'undeliverable') {
        // The server or our network cannot tell (blocked, policy, disposable…): further probes would
        // be answered the same way, so we stop and say so.
        return done(null, { ...base, status: 'unknown', reason: `could not verify addresses at ${domain}: ${r.details.reason}`, probes, verification: verification(r) });
      }
      rejected.push(c.email);
    }
    if (greylisted) {
      return { kind: 'retry', delayMs: greylisted.delayMs, details: { ...base, status: 'unknown', reason: greylisted.reason, greylisted: true, probes } };
    }
    const capped = probes >= this.maxProbes && candidates.length > probes;
    return done(null, {
      ...base,
      status: 'not_found',
      reason: `${domain} rejected all ${probes} likely addresses${capped ? ` (stopped at the ${this.maxProbes}-probe limit; ${candidates.length - probes} less likely ones untried)` : ''}`,
      probes,
      rejected,
    });
  }

  /** Directory addresses of this person first, then generated candidates ordered by evidence. */
  private async candidates(name: ParsedName, domain: string, confirmations: Record<string, number>, countryCode: string, generate: boolean): Promise<Candidate[]> {
    const out: Candidate[] = [];
    const seen = new Set<string>();
    const names = new Set([name.fullname, `${name.firstname} ${name.lastname}`.trim()]);
    for (const n of names) {
      for (const contact of await this.o.knowledge.findContactsByName(n, domain)) {
        const email = contact.email?.toLowerCase();
        if (!email || !email.endsWith(`@${domain}`) || seen.has(email)) continue;
        seen.add(email);
        out.push({ email, pattern: provenPattern(contact.fullname, email, domain) ?? 'directory', fromDirectory: true });
      }
    }
    if (!generate) return out;
    const tld = domain.slice(domain.lastIndexOf('.') + 1);
    const habit = tld.length === 2 ? tld : countryCode;
    for (const c of candidateLocalParts(name, patternWeights(confirmations, habit))) {
      const email = `${c.local}@${domain}`;
      if (seen.has(email)) continue;
      seen.add(email);
      out.push({ email, pattern: c.pattern, fromDirectory: false });
    }
    return out;
  }

  /** On a catch-all domain: valid only with evidence; never the result of probing blindly. */
  private catchAllAnswer(
    name: ParsedName,
    domain: string,
    probed: Candidate,
    r: VerifyResult,
    confirmations: Record<string, number>,
    base: Record<string, unknown>,
  ): [string | null, Details] {
    const common = { ...base, catch_all: true, verification: verification(r) };
    // Only the directory entry found under this person's name: the verifier's "valid" on a catch-all
    // domain means the address is in the directory under anyone's name (Kelly Kapoor's k.kapoor@ for
    // Kim Kapoor), which is no evidence about this person.
    if (probed.fromDirectory) {
      return [probed.email, {
        ...common,
        status: 'catch_all',
        reason: `${domain} accepts every address; ${probed.email} is this person's address in the contacts directory`,
        pattern: probed.pattern,
        evidence: { type: 'contacts_directory', email: probed.email },
      }];
    }
    const top = dominantPattern(confirmations);
    const local = top && top.confirmations >= this.threshold ? buildLocal(top.pattern, name.forms[0]!) : null;
    if (top && local) {
      const email = `${local}@${domain}`;
      return [email, {
        ...common,
        status: 'catch_all',
        reason: `${domain} accepts every address; its pattern ${top.pattern} is confirmed by ${top.confirmations} people (threshold ${this.threshold})`,
        pattern: top.pattern,
        evidence: { type: 'pattern', pattern: top.pattern, confirmations: top.confirmations, threshold: this.threshold },
      }];
    }
    const known = top ? `its best-known pattern ${top.pattern} has ${top.confirmations} confirmation(s), fewer than ${this.threshold}` : 'no pattern is proven there';
    return [null, {
      ...common,
      status: 'catch_all',
      reason: `${domain} accepts every address, so SMTP cannot tell which one is this person's, and ${top || Object.keys(confirmations).length === 0 ? known : 'no single pattern dominates there'}`,
      confirmations,
      threshold: this.threshold,
    }];
  }

  /** A proven address teaches the domain's pattern and joins the contacts directory. */
  private async learn(name: ParsedName, domain: string, c: Candidate): Promise<void> {
    // Only an address that fits exactly one pattern for this name teaches anything.
    const pattern = provenPattern(name.fullname, c.email, domain);
    if (pattern) await this.o.knowledge.recordPattern(domain, pattern, c.email);
    // A "name" of thousands of characters (the person's name followed by junk) may still find the right
    // address, but is no name to remember: on PostgreSQL its directory row overflows an index entry, and
    // the failed write would hold back the search's answer.
    if (name.fullname.length > MAX_DIRECTORY_NAME) return;
    if (!(await this.o.knowledge.findContactByEmail(c.email))) {
      await this.o.knowledge.addContact({ fullname: name.fullname, company_domain: domain, email: c.email });
    }
  }
}

export function createFinder(opts: FinderOptions): FinderEngine {
  return new EmailFinder(opts);
}
