// Public face of the email verifier engine. See verifier-engine.ts for the pipeline.
import type { DomainFactsCache, KnowledgeStore, VerifierEngine } from '../types.js';
import { createMailDns, type MailDns } from './mail-dns.js';
import { SmtpVerifier, type EngineSettings } from './verifier-engine.js';

export interface VerifierOptions {
  /** 'ip:port' list (OPENROW_DNS_SERVERS); undefined = system resolvers */
  dnsServers?: string[];
  /** OPENROW_SMTP_PORT, default 25 */
  smtpPort: number;
  /** OPENROW_SMTP_HELO_NAME */
  heloName: string;
  /** OPENROW_SMTP_MAIL_FROM */
  mailFrom: string;
  /** OPENROW_SMTP_CONNECT_TIMEOUT_MS (default 10000) */
  connectTimeoutMs: number;
  /** per SMTP step (default 30000) */
  stepTimeoutMs?: number;
  /** OPENROW_SMTP_PROXY socks5://host:port */
  proxy?: string;
  /** OPENROW_SMTP_ALLOW_CIDRS: non-public mail hosts allowed only in these */
  allowCidrs: string[];
  /** default 5 simultaneous connections per MX host, shared by all jobs in the process */
  perHostConcurrency?: number;
  /** pacing between new connections to one host (default 0) */
  perHostMinIntervalMs?: number;
  /** default 24h */
  catchAllTtlMs?: number;
  /** default [60_000, 300_000, 900_000] */
  retryBackoffMs?: number[];
  /** default 30 min total, then final (unknown → invalid) */
  retryWindowMs?: number;
  /** shared across workers (DB-backed in production) */
  domainCache: DomainFactsCache;
  /** catch-all accepted as valid only with independent evidence (address in contacts) */
  knowledge?: KnowledgeStore;
  /** idle pooled sessions are closed after this (default 5000 ms) */
  sessionIdleMs?: number;
  /**
   * recipients asked in one mail transaction before RSET (default 10); 1 sends RSET between every
   * recipient. Lowered per session by itself when a server answers 452 4.5.3 to a later recipient.
   */
  rcptsPerTransaction?: number;
  /** DNS timeout per query (default 5000 ms) */
  dnsTimeoutMs?: number;
  /** a DNS module to share (the finder asks the same questions first); default: one of its own */
  dns?: MailDns;
  /** added to the packaged disposable / free-provider lists (e.g. the sandbox world's flagged domains) */
  extraDisposableDomains?: string[];
  extraFreeProviderDomains?: string[];
  /** a mail host resolved to a blocked address (the result does not say which): the operator's log */
  onBlockedAddress?: EngineSettings['onBlockedAddress'];
}

export function createVerifier(opts: VerifierOptions): VerifierEngine & { close(): Promise<void> } {
  return new SmtpVerifier({
    dns: opts.dns ?? createMailDns(opts.dnsServers, { timeoutMs: opts.dnsTimeoutMs }),
    session: {
      heloName: opts.heloName,
      mailFrom: opts.mailFrom,
      connectTimeoutMs: opts.connectTimeoutMs,
      stepTimeoutMs: opts.stepTimeoutMs ?? 30_000,
      proxy: opts.proxy,
      rcptsPerTransaction: opts.rcptsPerTransaction ?? 10,
    },
    smtpPort: opts.smtpPort,
    allow: opts.allowCidrs,
    perHostConcurrency: opts.perHostConcurrency ?? 5,
    perHostMinIntervalMs: opts.perHostMinIntervalMs ?? 0,
    idleTimeoutMs: opts.sessionIdleMs ?? 5000,
    catchAllTtlMs: opts.catchAllTtlMs ?? 24 * 3_600_000,
    retry: { backoffMs: opts.retryBackoffMs ?? [60_000, 300_000, 900_000], windowMs: opts.retryWindowMs ?? 30 * 60_000 },
    domainCache: opts.domainCache,
    knowledge: opts.knowledge,
    extraDisposableDomains: new Set((opts.extraDisposableDomains ?? []).map((d) => d.toLowerCase())),
    extraFreeProviderDomains: new Set((opts.extraFreeProviderDomains ?? []).map((d) => d.toLowerCase())),
    onBlockedAddress: opts.onBlockedAddress,
  });
}

export { createMailDns } from './mail-dns.js';
export type { MailDns, MailHosts, MxHost, HostAddresses } from './mail-dns.js';
export { MemoryDomainFactsCache } from './domain-cache-memory.js';
export { runDoctor } from './doctor.js';
export type { DoctorOptions, DoctorReport, DoctorCheck } from './doctor.js';
