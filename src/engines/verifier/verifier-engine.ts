// The email verifier: syntax → lists → domain facts → address guard → catch-all (cached per domain)
// → RCPT TO on a pooled SMTP session. Every step leaves its trace in `details`; `qualification` is
// `valid` only for a mailbox accepted by a server that does not accept everything, or for a
// catch-all domain when the contacts directory independently knows the address.
import type { DomainFactsCache, EngineContext, EngineOutcome, KnowledgeStore, VerifierEngine, VerifyResult, Details } from '../types.js';
import { parseCidrList, type CidrList } from '../../net/address-policy.js';
import { refusedAddress } from './address-guard.js';
import { FACT_CATCH_ALL, FACT_CATCH_ALL_PROBE_LOCAL, randomProbeLocalPart } from './catch-all.js';
import { isDisposableDomain, isFreeProviderDomain, isRoleLocalPart, typoSuggestion } from './lists.js';
import type { MailDns } from './mail-dns.js';
import { decideRetry, type RetryPolicy } from './retry-policy.js';
import { SessionPool } from './session-pool.js';
import { SmtpFailure, type ConnectTarget } from './smtp-connection.js';
import { classifyRcptReply, retryDelayFromText, type RcptClassification, type SmtpReply } from './smtp-reply.js';
import { SessionRefused, SmtpSession, type SessionOptions } from './smtp-session.js';
import { parseEmailAddress, type ParsedAddress } from './syntax.js';

export interface EngineSettings {
  dns: MailDns;
  session: SessionOptions;
  smtpPort: number;
  /** OPENROW_SMTP_ALLOW_CIDRS entries */
  allow: string[];
  perHostConcurrency: number;
  perHostMinIntervalMs: number;
  idleTimeoutMs: number;
  catchAllTtlMs: number;
  retry: RetryPolicy;
  domainCache: DomainFactsCache;
  knowledge?: KnowledgeStore;
  /** operator (or sandbox world) additions to the packaged lists */
  extraDisposableDomains?: ReadonlySet<string>;
  extraFreeProviderDomains?: ReadonlySet<string>;
  /** a mail host resolved to a blocked address: for the operator's log, since the result does not say which */
  onBlockedAddress?: (e: { domain: string; mxHost: string; ip: string; range: string }) => void;
}

/** What one mail host said, or why it could not say anything. */
type HostProbe =
  | { kind: 'answer'; host: string; ip: string; tls: boolean; target?: SmtpReply; catchAllProbe?: SmtpReply }
  | { kind: 'no_answer'; host: string; ip: string; reason: string; reply?: SmtpReply; serverDelayMs?: number }
  | { kind: 'sender_refused'; host: string; ip: string; reply: SmtpReply };

/** mail hosts looked up, and addresses connected to, per check at most (Postfix's default is 5 addresses) */
export const MAX_MAIL_HOSTS = 5;
export const MAX_MAIL_ADDRESSES = 5;

/** The server wants a fresh session for this recipient (452 4.5.3 on a transaction's first RCPT). */
class NeedsFreshSession extends Error {
  constructor(readonly reply: SmtpReply) {
    super('the server wants a fresh session');
  }
}

export class SmtpVerifier implements VerifierEngine {
  private readonly pool: SessionPool;
  private readonly allow: CidrList;
  /** one catch-all probe per domain in flight in this process; others wait for its verdict */
  private readonly catchAllInFlight = new Map<string, Promise<boolean | undefined>>();
  private closed = false;

  constructor(private readonly s: EngineSettings) {
    this.allow = parseCidrList(s.allow);
    this.pool = new SessionPool({
      perHostConcurrency: s.perHostConcurrency,
      perHostMinIntervalMs: s.perHostMinIntervalMs,
      idleTimeoutMs: s.idleTimeoutMs,
      openSession: (t) => SmtpSession.open(t, s.session),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
  }

  async verify(email: string, ctx: EngineContext): Promise<EngineOutcome<VerifyResult>> {
    if (this.closed) throw new Error('verifier is closed');
    const parsed = parseEmailAddress(email);
    const base: Details = {
      status: 'unknown',
      reason: '',
      syntax_valid: parsed.ok,
      domain: parsed.ok ? parsed.asciiDomain : null,
      mx_host: null,
      smtp_code: null,
      smtp_enhanced: null,
      smtp_text: null,
      catch_all: null,
      disposable: false,
      role: false,
      free_provider: false,
      greylisted: false,
      attempts: ctx.attempt,
      typo_suggestion: typoSuggestion(email.trim()) ?? null,
    };
    const done = (status: string, reason: string, extra: Record<string, unknown> = {}, valid = false): EngineOutcome<VerifyResult> => ({
      kind: 'done',
      result: { email, qualification: valid ? 'valid' : 'invalid', details: { ...base, ...extra, status, reason } },
    });

    if (!parsed.ok && parsed.notProbed) {
      base.syntax_valid = true;
      return done('unknown', `not verified: ${parsed.reason}`);
    }
    if (!parsed.ok) return done('undeliverable', `invalid address syntax: ${parsed.reason}`);
    base.role = isRoleLocalPart(parsed.local);
    base.free_provider = isFreeProviderDomain(parsed.asciiDomain, this.s.extraFreeProviderDomains);
    if (isDisposableDomain(parsed.asciiDomain, this.s.extraDisposableDomains)) {
      base.disposable = true;
      return done('disposable', `${parsed.asciiDomain} is a disposable (throw-away) address provider`);
    }

    const mail = await this.s.dns.mailHosts(parsed.asciiDomain);
    switch (mail.kind) {
      case 'nxdomain':
        return done('undeliverable', `domain ${parsed.asciiDomain} does not exist (NXDOMAIN)`);
      case 'null_mx':
        return done('undeliverable', `domain ${parsed.asciiDomain} accepts no mail (null MX, RFC 7505)`);
      case 'no_mail_host':
        return done('undeliverable', `domain ${parsed.asciiDomain} has no MX record and no address to deliver to`);
      case 'dns_error':
        return this.temporary(ctx, base, email, `DNS lookup failed: ${mail.message}`, undefined);
    }
    base.mx_implicit = mail.implicit;

    // Resolve and check the mail hosts before connecting to any of them. Like Postfix
    // (smtp_mx_address_limit), only the first few hosts and addresses in preference order are used: a
    // domain publishing a hundred tarpitting MX records would otherwise hold a check for hours, and
    // make one submitted address a connection to a hundred hosts.
    const targets: ConnectTarget[] = [];
    for (const mx of mail.hosts.slice(0, MAX_MAIL_HOSTS)) {
      if (targets.length >= MAX_MAIL_ADDRESSES) break;
      const addrs = await this.s.dns.addresses(mx.exchange);
      if (!addrs.ok) continue;
      const refused = refusedAddress(mx.exchange, addrs.addresses, this.allow);
      if (refused) {
        // Which internal address a name has is not the tenant's to learn (split-horizon DNS answers for
        // internal names too): the result says only that it is not allowed, the operator's log says more.
        this.s.onBlockedAddress?.({ domain: parsed.asciiDomain, mxHost: refused.host, ip: refused.ip, range: refused.range });
        return done(
          'unknown',
          `refused to connect: mail host ${refused.host} resolves to an address the verifier may not connect to (a non-public range OPENROW_SMTP_ALLOW_CIDRS does not allow)`,
          { mx_host: refused.host, blocked_address: true },
        );
      }
      for (const ip of addrs.addresses.slice(0, MAX_MAIL_ADDRESSES - targets.length)) targets.push({ host: mx.exchange, ip, port: this.s.smtpPort });
    }
    if (targets.length === 0) {
      return this.temporary(ctx, base, email, `no address found for the mail hosts of ${parsed.asciiDomain}`, undefined);
    }

    if (parsed.utf8Local) {
      return done('unknown', 'internationalized local parts (SMTPUTF8) are not probed');
    }

    return this.probe(email, parsed, targets, ctx, base, done);
  }

  private async probe(
    email: string,
    parsed: ParsedAddress,
    targets: ConnectTarget[],
    ctx: EngineContext,
    base: Details,
    done: (status: string, reason: string, extra?: Record<string, unknown>, valid?: boolean) => EngineOutcome<VerifyResult>,
  ): Promise<EngineOutcome<VerifyResult>> {
    const domain = parsed.asciiDomain;
    const cache = this.s.domainCache;
    // A catch-all answer belongs to the mail host that gave it: a backup MX that takes every recipient
    // says nothing of the primary, nor the primary of it. It counts only for the host about to answer.
    const readFact = async () => catchAllFact(await cache.get(domain, FACT_CATCH_ALL));
    let fact = await readFact();
    for (let i = 0; fact === undefined && i < 3; i++) {
      const running = this.catchAllInFlight.get(domain);
      if (!running) break;
      await running;
      fact = await readFact();
    }
    const catchAll = fact && fact.host === targets[0]?.host ? fact.verdict : undefined;

    if (catchAll === true) return this.catchAllVerdict(parsed, base, done, 'cached');

    // We probe the catch-all behaviour ourselves; concurrent calls for the domain wait for us.
    let settleProbe: ((v: boolean | undefined) => void) | undefined;
    let probeLocal: string | undefined;
    if (catchAll === undefined) this.catchAllInFlight.set(domain, new Promise((r) => (settleProbe = r)));
    let verdict: boolean | undefined = catchAll;
    // everything after the marker is set runs inside the try: a store error reading the probe address
    // must still settle it, or every later call for the domain would wait on it for ever
    try {
      if (catchAll === undefined) probeLocal = await this.probeLocalPart(domain);
      const failures: string[] = [];
      let lastNoAnswer: Extract<HostProbe, { kind: 'no_answer' }> | undefined;
      for (const target of targets) {
        if (verdict !== undefined && fact?.host !== target.host && !probeLocal) {
          // what we know was learnt from another host: this one is probed before its 250 is believed
          verdict = undefined;
          probeLocal = await this.probeLocalPart(domain);
        }
        const r = await this.probeHost(target, parsed.address, probeLocal ? `${probeLocal}@${domain}` : undefined, ctx.signal);
        if (r.kind === 'no_answer') {
          failures.push(r.reason);
          lastNoAnswer = r;
          continue;
        }
        const smtp = (reply: SmtpReply | undefined) => ({
          mx_host: r.host,
          mx_ip: r.ip,
          smtp_code: reply?.code ?? null,
          smtp_enhanced: reply?.enhanced ?? null,
          smtp_text: reply?.text ?? null,
          ...(r.kind === 'answer' ? { tls: r.tls } : {}),
        });
        if (r.kind === 'sender_refused') {
          const c = classifyRcptReply(r.reply);
          Object.assign(base, smtp(r.reply));
          if (r.reply.code >= 400 && r.reply.code < 500) {
            base.greylisted = c.greylisted;
            return this.temporary(ctx, base, email, `MAIL FROM refused for now by ${r.host}: ${c.reason}`, c.retryAfterMs);
          }
          return done('unknown', `${r.host} refused our sender (MAIL FROM), which says nothing about the mailbox: ${c.reason}`);
        }

        // catch-all probe verdict
        let probeCls: RcptClassification | undefined;
        if (r.catchAllProbe) {
          probeCls = classifyRcptReply(r.catchAllProbe);
          base.catch_all_probe = { code: r.catchAllProbe.code, enhanced: r.catchAllProbe.enhanced ?? null };
          if (probeCls.verdict === 'accepted') verdict = true;
          else if ((probeCls.verdict === 'no_such_user' && probeCls.explicit) || probeCls.verdict === 'disabled') verdict = false;
          // a bare 550 to the probe may be a refusal of us rather than of the address: it is remembered
          // for no other check (if the limit lifts, the next address would be believed on a 250 alone)
          if (verdict !== undefined) await cache.set(domain, FACT_CATCH_ALL, { verdict, host: r.host } satisfies CatchAllFact, this.s.catchAllTtlMs);
        }
        if (verdict === true) {
          Object.assign(base, smtp(r.catchAllProbe));
          return this.catchAllVerdict(parsed, base, done, 'probed');
        }
        const reply = r.target!;
        Object.assign(base, smtp(reply));
        base.catch_all = verdict ?? null;
        const cls = classifyRcptReply(reply);
        switch (cls.verdict) {
          case 'accepted':
            if (verdict === false) return done('deliverable', `${cls.reason} by ${r.host}, which rejects unknown addresses`, {}, true);
            // in this very session the random address was refused, then this one taken: the server tells
            // addresses apart, whatever words it used
            if (probeCls?.verdict === 'no_such_user') {
              base.catch_all = false;
              return done('deliverable', `${cls.reason} by ${r.host}, which refused a random address just before (${probeCls.reason})`, {}, true);
            }
            if (probeCls && probeCls.verdict === 'temporary') {
              base.greylisted = probeCls.greylisted;
              return this.temporary(ctx, base, email, `mailbox accepted, but the catch-all probe was temporarily refused: ${probeCls.reason}`, probeCls.retryAfterMs);
            }
            return done('unknown', `${cls.reason}, but whether ${domain} accepts every address could not be determined${probeCls ? ` (${probeCls.reason})` : ''}`);
          case 'no_such_user':
            return done('undeliverable', cls.reason);
          case 'disabled':
            return done('undeliverable', cls.reason);
          case 'mailbox_full':
            return done('undeliverable', cls.reason, { mailbox_full: true });
          case 'temporary':
            base.greylisted = cls.greylisted;
            return this.temporary(ctx, base, email, cls.reason, cls.retryAfterMs);
          case 'policy':
            return done('unknown', cls.reason, { policy_block: true });
          default:
            return done('unknown', cls.reason);
        }
      }
      if (lastNoAnswer?.reply) {
        Object.assign(base, {
          mx_host: lastNoAnswer.host,
          smtp_code: lastNoAnswer.reply.code,
          smtp_enhanced: lastNoAnswer.reply.enhanced ?? null,
          smtp_text: lastNoAnswer.reply.text,
        });
      } else if (lastNoAnswer) {
        base.mx_host = lastNoAnswer.host;
      }
      return this.temporary(ctx, base, email, `no mail host answered: ${failures.join('; ')}`, lastNoAnswer?.serverDelayMs);
    } finally {
      if (settleProbe) {
        this.catchAllInFlight.delete(domain);
        settleProbe(verdict);
      }
    }
  }

  private async catchAllVerdict(
    parsed: ParsedAddress,
    base: Details,
    done: (status: string, reason: string, extra?: Record<string, unknown>, valid?: boolean) => EngineOutcome<VerifyResult>,
    how: 'cached' | 'probed',
  ): Promise<EngineOutcome<VerifyResult>> {
    base.catch_all = true;
    // The directory may hold the address as typed (Unicode domain) or in ASCII form.
    const asTyped = `${parsed.local}@${parsed.domain}`;
    const known =
      (await this.s.knowledge?.findContactByEmail(parsed.address)) ??
      (asTyped !== parsed.address ? await this.s.knowledge?.findContactByEmail(asTyped) : undefined);
    const domainNote = `${parsed.asciiDomain} accepts every address (catch-all, ${how === 'cached' ? 'known from an earlier probe' : 'probed now'})`;
    if (known) {
      return done('catch_all', `${domainNote}; the address is known in the contacts directory`, { evidence: 'contacts_directory' }, true);
    }
    return done('catch_all', `${domainNote}; no independent evidence for this address`);
  }

  /** A temporary failure: ask the queue to retry, or, once the retry window has passed, give up as unknown. */
  private temporary(ctx: EngineContext, base: Details, email: string, reason: string, serverDelayMs: number | undefined): EngineOutcome<VerifyResult> {
    const d = decideRetry(this.s.retry, ctx.attempt, ctx.firstAttemptAt, serverDelayMs);
    if (d.retry) {
      return { kind: 'retry', delayMs: d.delayMs, details: { ...base, status: 'unknown', reason: `${reason}; retrying in ${Math.round(d.delayMs / 1000)} s` } };
    }
    const windowMin = Math.round(this.s.retry.windowMs / 60_000);
    return {
      kind: 'done',
      result: { email, qualification: 'invalid', details: { ...base, status: 'unknown', reason: `${reason}; still failing after the ${windowMin} min retry window` } },
    };
  }

  /** RCPT TO on a session, renewing the transaction once if the server limits recipients per message. */
  private async ask(session: SmtpSession, address: string): Promise<SmtpReply> {
    const reply = await session.rcpt(address);
    const cls = classifyRcptReply(reply);
    if (cls.verdict !== 'too_many_recipients') return reply;
    if (session.rcptsInTransaction > 1) {
      session.maxRcptsPerTransaction = Math.max(1, session.rcptsInTransaction - 1);
      await session.reset();
      const again = await session.rcpt(address);
      if (classifyRcptReply(again).verdict !== 'too_many_recipients') return again;
      throw new NeedsFreshSession(again);
    }
    throw new NeedsFreshSession(reply);
  }

  /** The domain's catch-all probe address (its local part), the same for every probe while it is remembered. */
  private async probeLocalPart(domain: string): Promise<string> {
    const cache = this.s.domainCache;
    const kept = (await cache.get(domain, FACT_CATCH_ALL_PROBE_LOCAL)) as string | undefined;
    if (kept) return kept;
    const local = randomProbeLocalPart();
    await cache.set(domain, FACT_CATCH_ALL_PROBE_LOCAL, local, this.s.catchAllTtlMs);
    return local;
  }

  private async probeHost(target: ConnectTarget, address: string, catchAllAddress: string | undefined, signal?: AbortSignal): Promise<HostProbe> {
    const { host, ip } = target;
    // the wait a server names ("try again in 300 seconds") is kept, not replaced by our default
    const closedWith = (reply: SmtpReply): HostProbe => ({ kind: 'no_answer', host, ip, reason: `${host} closed the session: 421 ${reply.text}`, reply, serverDelayMs: retryDelayFromText(reply.text) });
    let fresh = false;
    let probeReply: SmtpReply | undefined;
    let tooMany: SmtpReply | undefined;
    // A pooled session is shared by every check at that host, and servers end sessions after so many
    // rejected recipients (Postfix: "421 4.7.0 Error: too many errors") or when idle: a session that had
    // answered before and now closes is asked again once on a fresh one, not taken for a host that
    // does not answer.
    let retriedFresh = false;
    for (let round = 0; round < 3; round++) {
      let session: SmtpSession;
      try {
        session = await this.pool.acquire(target, signal, fresh);
      } catch (err) {
        if (err instanceof SessionRefused) {
          const c = classifyRcptReply(err.reply);
          return { kind: 'no_answer', host, ip, reason: err.message, reply: err.reply, serverDelayMs: c.retryAfterMs };
        }
        if (err instanceof SmtpFailure) return { kind: 'no_answer', host, ip, reason: err.message };
        throw err;
      }
      let reusable = true;
      const reused = session.rcptsAsked > 0;
      // once per check; the probe is asked again too, so the shortcut in probe() compares answers of one session
      const freshAgain = () => {
        if (!reused || retriedFresh) return false;
        retriedFresh = fresh = true;
        probeReply = undefined;
        return true;
      };
      try {
        if (catchAllAddress && !probeReply) {
          probeReply = await this.ask(session, catchAllAddress);
          if (probeReply.code === 421) {
            reusable = false;
            if (freshAgain()) continue;
            return closedWith(probeReply);
          }
          if (classifyRcptReply(probeReply).verdict === 'accepted') {
            return { kind: 'answer', host, ip, tls: session.tls, catchAllProbe: probeReply };
          }
        }
        const reply = await this.ask(session, address);
        if (reply.code === 421) {
          reusable = false;
          if (freshAgain()) continue;
          return closedWith(reply);
        }
        return { kind: 'answer', host, ip, tls: session.tls, target: reply, catchAllProbe: probeReply };
      } catch (err) {
        reusable = false;
        if (err instanceof NeedsFreshSession) {
          tooMany = err.reply;
          // a server that names a wait is rate-limiting us, not counting this session's recipients:
          // more fresh sessions would only hammer it
          const wait = retryDelayFromText(tooMany.text);
          if (wait !== undefined) return { kind: 'no_answer', host, ip, reason: `${host} asks us to wait: ${tooMany.code} ${tooMany.text}`, reply: tooMany, serverDelayMs: wait };
          fresh = true;
          continue;
        }
        if (err instanceof SessionRefused) {
          // MAIL FROM refused: 421 means the session ends, other codes are about our sender.
          if (err.reply.code === 421) return { kind: 'no_answer', host, ip, reason: err.message, reply: err.reply, serverDelayMs: retryDelayFromText(err.reply.text) };
          return { kind: 'sender_refused', host, ip, reply: err.reply };
        }
        if (err instanceof SmtpFailure) {
          if (err.kind === 'closed' && freshAgain()) continue;
          return { kind: 'no_answer', host, ip, reason: err.message };
        }
        throw err;
      } finally {
        this.pool.release(session, reusable);
      }
    }
    return { kind: 'no_answer', host, ip, reason: `${host} kept answering 452 too many recipients on fresh sessions`, reply: tooMany };
  }
}

/** What the catch-all probe of a domain showed, and on which mail host. */
interface CatchAllFact {
  verdict: boolean;
  host: string;
}

function catchAllFact(v: unknown): CatchAllFact | undefined {
  const f = v as Partial<CatchAllFact> | null | undefined;
  // a bare boolean (written before facts named their host) is as good as unknown: probed again
  return f && typeof f === 'object' && typeof f.verdict === 'boolean' && typeof f.host === 'string' ? (f as CatchAllFact) : undefined;
}
