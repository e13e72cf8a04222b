// An SMTP session ready to take RCPT TO probes: greeting, EHLO (HELO fallback), STARTTLS when offered,
// then mail transactions. Several recipients share one transaction (up to `rcptsPerTransaction`),
// and RSET starts a fresh one, so a pooled session answers each further address in one round trip.
import { SmtpConnection, SmtpFailure, type ConnectOptions, type ConnectTarget } from './smtp-connection.js';
import type { SmtpReply } from './smtp-reply.js';

export interface SessionOptions extends ConnectOptions {
  heloName: string;
  mailFrom: string;
  stepTimeoutMs: number;
  rcptsPerTransaction: number;
}

/** The server refused the session itself (421/554 greeting, EHLO/HELO refused, MAIL FROM refused). */
export class SessionRefused extends Error {
  constructor(
    readonly step: 'banner' | 'helo' | 'mail',
    readonly reply: SmtpReply,
    readonly host: string,
  ) {
    super(`${host} refused ${step === 'banner' ? 'the connection' : step.toUpperCase()}: ${reply.code}${reply.enhanced ? ' ' + reply.enhanced : ''} ${reply.text}`.trim());
    this.name = 'SessionRefused';
  }
}

export class SmtpSession {
  /** MAIL FROM accepted and still open */
  private inTransaction = false;
  /** recipients asked in the open transaction */
  rcptsInTransaction = 0;
  /** recipients asked on this session so far: a session that has answered before is a reused one */
  rcptsAsked = 0;
  /** lowered when the server answers 452 4.5.3 to a transaction's later recipient (Microsoft 365 allows one) */
  maxRcptsPerTransaction: number;
  extensions = new Set<string>();

  private constructor(
    private readonly conn: SmtpConnection,
    private readonly opts: SessionOptions,
  ) {
    this.maxRcptsPerTransaction = Math.max(1, opts.rcptsPerTransaction);
  }

  get target(): ConnectTarget {
    return this.conn.target;
  }
  get alive(): boolean {
    return this.conn.alive;
  }
  get localAddress(): string | undefined {
    return this.conn.localAddress;
  }
  get tls(): boolean {
    return this.conn.tls;
  }

  static async open(target: ConnectTarget, opts: SessionOptions): Promise<SmtpSession> {
    const conn = await SmtpConnection.open(target, opts);
    const session = new SmtpSession(conn, opts);
    try {
      await session.handshake();
      return session;
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  private async handshake() {
    const { stepTimeoutMs } = this.opts;
    const banner = await this.conn.readReply(stepTimeoutMs, 'the greeting');
    if (banner.code !== 220) throw new SessionRefused('banner', banner, this.target.host);
    await this.hello();
    if (this.extensions.has('STARTTLS')) {
      const r = await this.conn.command('STARTTLS', stepTimeoutMs);
      if (r.code === 220) {
        await this.conn.startTls(stepTimeoutMs);
        // RFC 3207 §4.2: everything learnt before TLS is forgotten; greet again.
        await this.hello();
      }
      // Any other answer: the server withdrew the offer; carry on in plain text as it allows.
    }
  }

  private async hello() {
    const { stepTimeoutMs, heloName } = this.opts;
    const ehlo = await this.conn.command(`EHLO ${heloName}`, stepTimeoutMs);
    if (ehlo.code === 250) {
      this.extensions = new Set(ehlo.lines.slice(1).map((l) => l.slice(4).split(' ')[0]!.toUpperCase()));
      return;
    }
    if (ehlo.code === 421) throw new SessionRefused('helo', ehlo, this.target.host);
    const helo = await this.conn.command(`HELO ${heloName}`, stepTimeoutMs);
    if (helo.code !== 250) throw new SessionRefused('helo', helo, this.target.host);
    this.extensions = new Set();
  }

  /**
   * Ask about one recipient. Opens (or renews, with RSET) the mail transaction as needed.
   * Throws SessionRefused when MAIL FROM is refused, SmtpFailure when the connection breaks.
   */
  async rcpt(address: string): Promise<SmtpReply> {
    const { stepTimeoutMs, mailFrom } = this.opts;
    if (this.inTransaction && this.rcptsInTransaction >= this.maxRcptsPerTransaction) {
      await this.reset();
    }
    if (!this.inTransaction) {
      const smtputf8 = /[^\x00-\x7F]/.test(address) && this.extensions.has('SMTPUTF8') ? ' SMTPUTF8' : '';
      const mail = await this.conn.command(`MAIL FROM:<${mailFrom}>${smtputf8}`, stepTimeoutMs);
      if (mail.code !== 250) throw new SessionRefused('mail', mail, this.target.host);
      this.inTransaction = true;
      this.rcptsInTransaction = 0;
    }
    this.rcptsInTransaction++;
    this.rcptsAsked++;
    return this.conn.command(`RCPT TO:<${address}>`, stepTimeoutMs);
  }

  /** End the current transaction (RSET); the next rcpt() opens a fresh one. */
  async reset(): Promise<void> {
    if (!this.inTransaction) return;
    const r = await this.conn.command('RSET', this.opts.stepTimeoutMs);
    if (r.code !== 250) throw new SmtpFailure('protocol', `${this.target.host} refused RSET: ${r.code} ${r.text}`);
    this.inTransaction = false;
    this.rcptsInTransaction = 0;
  }

  async quit(): Promise<void> {
    await this.conn.quit(Math.min(2000, this.opts.stepTimeoutMs));
  }

  destroy() {
    this.conn.destroy();
  }
}
