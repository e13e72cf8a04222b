// One SMTP conversation of a simulated MX host: the protocol (EHLO/HELO, STARTTLS, MAIL, RCPT, RSET,
// NOOP, VRFY, DATA, QUIT) with the world's behaviours applied per step. It answers like Postfix and
// friends do, enhanced status codes included, because verifiers classify replies by those codes.
import type net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { bump } from './counters.js';
import type { HostPlan, RecipientPolicy, SessionStep } from './world-plan.js';
import type { HostCounters } from './world-types.js';
import type { TlsMaterial } from './tls-cert.js';

/** First attempts of sender/recipient pairs; shared by the sessions of one sandbox. */
export class Greylist {
  private firstSeen = new Map<string, number>();

  /** Seconds left before this triplet is accepted; 0 when it passes. */
  check(key: string, seconds: number, now = Date.now()): number {
    const first = this.firstSeen.get(key);
    if (first === undefined) {
      this.firstSeen.set(key, now);
      return seconds;
    }
    return Math.max(0, first + seconds * 1000 - now) / 1000;
  }

  reset(): void {
    this.firstSeen.clear();
  }
}

export interface SessionEnv {
  host: HostPlan;
  counters: HostCounters;
  greylist: Greylist;
  tlsMaterial: () => TlsMaterial;
  /** a silent client is dropped with 421 after this long, like real servers do */
  idleTimeoutMs: number;
}

const MAX_LINE = 4096;
const SESSION_STEP_OF: Record<string, SessionStep> = {
  EHLO: 'ehlo',
  HELO: 'helo',
  STARTTLS: 'starttls',
  MAIL: 'mail',
  RSET: 'rset',
  NOOP: 'noop',
  VRFY: 'vrfy',
  QUIT: 'quit',
  DATA: 'data',
};
const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}\b/;

export class SmtpSession {
  private io: net.Socket | tls.TLSSocket;
  private buffer = '';
  private lines: string[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  private readonly abort = new AbortController();
  private greeted = false;
  private secure = false;
  private mailFrom: string | null = null;
  /** RCPTs answered in this session (452 replies excluded), for max_rcpts_per_session */
  private rcptsAnswered = 0;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);

  constructor(
    private readonly raw: net.Socket,
    private readonly env: SessionEnv,
  ) {
    this.io = raw;
    raw.on('error', () => undefined);
    raw.on('close', () => this.finish());
  }

  private get host(): HostPlan {
    return this.env.host;
  }

  /** Drives the conversation until the client leaves or the socket closes. */
  async run(): Promise<void> {
    if (this.host.tarpit) {
      // Read and discard so the client's writes never block, and never answer.
      this.raw.resume();
      return;
    }
    this.raw.setTimeout(this.env.idleTimeoutMs, () => {
      this.reply(421, `4.4.2 ${this.host.name} Error: timeout exceeded`);
      this.io.end();
      this.finish();
    });
    this.raw.on('data', this.onData);
    try {
      await this.delay(this.host.delays.banner);
      this.reply(220, this.host.multiline ? [`${this.host.name} ESMTP Openrow sandbox`, 'Simulated mail server: no mail is ever delivered', 'Unsolicited bulk email prohibited'] : `${this.host.name} ESMTP Openrow sandbox`);
      for (;;) {
        const line = await this.nextLine();
        if (line === null) return;
        await this.handle(line);
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort();
    this.wake?.();
  }

  private receive(chunk: Buffer): void {
    this.buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      this.lines.push(this.buffer.slice(0, nl).replace(/\r$/, ''));
      this.buffer = this.buffer.slice(nl + 1);
    }
    if (this.buffer.length > MAX_LINE) {
      this.reply(500, '5.5.2 Error: line too long');
      this.raw.destroy();
      return;
    }
    this.wake?.();
  }

  private async nextLine(): Promise<string | null> {
    while (this.lines.length === 0) {
      if (this.ended) return null;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
    return this.lines.shift()!;
  }

  private async delay(ms: number): Promise<void> {
    if (ms > 0) await sleep(ms, undefined, { signal: this.abort.signal });
  }

  private reply(code: number, text: string | string[], multiline = this.host.multiline): void {
    if (this.ended) return;
    let lines = Array.isArray(text) ? text : [text];
    if (multiline && lines.length === 1) {
      const enhanced = ENHANCED.exec(lines[0]!)?.[0];
      lines = [lines[0]!, `${enhanced ? `${enhanced} ` : ''}(Openrow sandbox: a multi-line reply)`];
    }
    const wire = lines.map((l, i) => `${code}${i < lines.length - 1 ? '-' : ' '}${l}`).join('\r\n') + '\r\n';
    bump(this.env.counters.replies, String(code));
    this.io.write(wire);
  }

  private async handle(line: string): Promise<void> {
    const verb = (/^\S*/.exec(line)![0] || '').toUpperCase().slice(0, 16);
    const arg = line.slice(verb.length).trim();
    bump(this.env.counters.commands, verb || '(empty)');
    if (verb === 'RCPT') return this.rcpt(line);
    const step = SESSION_STEP_OF[verb];
    if (step) await this.delay(this.host.delays[step]);
    switch (verb) {
      case 'EHLO':
        if (!arg) return this.reply(501, '5.5.4 Syntax: EHLO hostname');
        this.greeted = true;
        this.mailFrom = null;
        return this.reply(
          250,
          [`${this.host.name} Hello ${arg}`, 'SIZE 35882577', '8BITMIME', 'ENHANCEDSTATUSCODES', ...(this.host.starttls && !this.secure ? ['STARTTLS'] : []), 'SMTPUTF8'],
        );
      case 'HELO':
        if (!arg) return this.reply(501, '5.5.4 Syntax: HELO hostname');
        this.greeted = true;
        this.mailFrom = null;
        return this.reply(250, this.host.name);
      case 'STARTTLS':
        if (!this.host.starttls) return this.reply(502, '5.5.1 Error: command not implemented');
        if (this.secure) return this.reply(503, '5.5.1 Error: TLS already active');
        if (arg) return this.reply(501, '5.5.4 Syntax: STARTTLS');
        this.reply(220, '2.0.0 Ready to start TLS', false);
        return this.upgrade();
      case 'MAIL': {
        if (!this.greeted) return this.reply(503, '5.5.1 Error: send HELO/EHLO first');
        if (this.mailFrom !== null) return this.reply(503, '5.5.1 Error: nested MAIL command');
        const m = /^MAIL FROM:\s*<([^<>]*)>(\s.*)?$/i.exec(line);
        if (!m) return this.reply(501, '5.5.4 Syntax: MAIL FROM:<address>');
        this.mailFrom = m[1]!.toLowerCase();
        return this.reply(250, '2.1.0 Ok');
      }
      case 'RSET':
        this.mailFrom = null;
        return this.reply(250, '2.0.0 Ok');
      case 'NOOP':
        return this.reply(250, '2.0.0 Ok');
      case 'VRFY':
        return this.reply(252, '2.5.2 Cannot VRFY user, but will accept message and attempt delivery');
      case 'DATA':
        this.env.counters.dataAttempts++;
        return this.reply(554, '5.7.0 Error: the Openrow sandbox refuses DATA (a verifier must never send mail)');
      case 'QUIT':
        this.reply(221, '2.0.0 Bye');
        this.io.end();
        return this.finish();
      case '':
        return this.reply(500, '5.5.2 Error: bad syntax');
      default:
        return this.reply(502, '5.5.2 Error: command not recognized');
    }
  }

  private upgrade(): void {
    // RFC 3207 §4.2: forget everything said in clear text, pipelined lines included.
    this.raw.removeListener('data', this.onData);
    this.buffer = '';
    this.lines = [];
    this.greeted = false;
    this.mailFrom = null;
    const { key, cert } = this.env.tlsMaterial();
    const secure = new tls.TLSSocket(this.raw, { isServer: true, key, cert });
    secure.on('error', () => this.raw.destroy());
    secure.on('close', () => this.finish());
    secure.on('secure', () => {
      this.secure = true;
      this.env.counters.tlsUpgrades++;
    });
    secure.on('data', this.onData);
    this.io = secure;
  }

  private async rcpt(line: string): Promise<void> {
    if (this.mailFrom === null) return this.reply(503, '5.5.1 Error: need MAIL command');
    const m = /^RCPT TO:\s*<([^<>]+)>(\s.*)?$/i.exec(line);
    const addr = m ? /^([^@\s]+)@([^@\s]+)$/.exec(m[1]!) : null;
    if (!m || !addr) return this.reply(501, '5.1.3 Bad recipient address syntax');
    const local = addr[1]!.toLowerCase();
    const domain = addr[2]!.toLowerCase().replace(/\.$/, '');
    const address = `${local}@${domain}`;
    const counters = this.env.counters;
    counters.rcpts++;
    bump(counters.rcptsByDomain, domain);
    const policy = this.host.domains.get(domain);
    if (!policy) return this.reply(554, `5.7.1 <${address}>: Relay access denied`);
    await this.delay(policy.rcptDelayMs);
    const multiline = this.host.multiline || policy.multiline;
    if (policy.maxRcptsPerSession !== null && this.rcptsAnswered >= policy.maxRcptsPerSession) {
      return this.reply(452, '4.5.3 Too many recipients', multiline);
    }
    this.rcptsAnswered++;
    if (policy.rcptReply) {
      const code = Number(policy.rcptReply.slice(0, 3));
      this.reply(code, policy.rcptReply.slice(4), multiline);
      // 421: the server is closing the transmission channel
      if (code === 421) {
        this.io.end();
        return this.finish();
      }
      return;
    }
    if (policy.dropAfterRcpt) {
      this.raw.destroy();
      return this.finish();
    }
    const [code, text] = this.mailboxAnswer(policy, local, address);
    this.reply(code, text, multiline);
  }

  private mailboxAnswer(policy: RecipientPolicy, local: string, address: string): [number, string] {
    if (policy.policyBlock) {
      const client = this.raw.remoteAddress?.replace(/^::ffff:/, '') ?? 'unknown';
      const text = policy.policyBlock.replaceAll('{client}', client);
      return [554, ENHANCED.test(text) ? text : `5.7.1 ${text}`];
    }
    if (policy.greylistSeconds > 0) {
      const key = [this.host.name, this.raw.remoteAddress, this.mailFrom, address].join('|');
      const left = this.env.greylist.check(key, policy.greylistSeconds);
      if (left > 0) return [451, `4.7.1 <${address}>: Recipient address rejected: Greylisted, please try again in ${Math.ceil(left)} seconds`];
    }
    if (policy.disabled.has(local)) return [550, `5.2.1 <${address}>: Recipient address rejected: this mailbox is disabled`];
    if (policy.full.has(local)) return [552, `5.2.2 <${address}>: Mailbox full: quota exceeded`];
    if (policy.mailboxes.has(local) || policy.catchAll) return [250, '2.1.5 Ok'];
    return [550, `5.1.1 <${address}>: Recipient address rejected: User unknown in virtual mailbox table`];
  }
}
