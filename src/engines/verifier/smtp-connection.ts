// One SMTP client connection on net/tls: reads whole replies, writes commands, upgrades to TLS,
// with a timeout on every step. It never sends DATA: a verifier asks about mailboxes, it sends no mail.
import net from 'node:net';
import tls from 'node:tls';
import { SocksClient } from 'socks';
import { ReplyAssembler, ReplyTooLong, type SmtpReply } from './smtp-reply.js';

export type SmtpFailureKind = 'connect' | 'timeout' | 'closed' | 'tls' | 'protocol';

export class SmtpFailure extends Error {
  constructor(
    readonly kind: SmtpFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'SmtpFailure';
  }
}

/** how long quit() waits for the server to close after its 221 */
const QUIT_CLOSE_WAIT_MS = 250;
const MAX_LINE = 64 * 1024;

export interface ConnectTarget {
  ip: string;
  port: number;
  /** the MX host name, for TLS SNI and messages */
  host: string;
}

export interface ConnectOptions {
  connectTimeoutMs: number;
  /** socks5://host:port */
  proxy?: string;
}

async function openSocket(target: ConnectTarget, opts: ConnectOptions): Promise<net.Socket> {
  if (opts.proxy) {
    const url = new URL(opts.proxy);
    if (url.protocol !== 'socks5:' && url.protocol !== 'socks5h:') {
      throw new SmtpFailure('connect', `unsupported proxy scheme ${url.protocol} (only socks5://)`);
    }
    try {
      const { socket } = await SocksClient.createConnection({
        proxy: {
          host: url.hostname.replace(/^\[|\]$/g, ''),
          port: Number(url.port || 1080),
          type: 5,
          userId: url.username ? decodeURIComponent(url.username) : undefined,
          password: url.password ? decodeURIComponent(url.password) : undefined,
        },
        command: 'connect',
        destination: { host: target.ip, port: target.port },
        timeout: opts.connectTimeoutMs,
      });
      return socket;
    } catch (err) {
      throw new SmtpFailure('connect', `SOCKS5 proxy could not reach ${target.host} (${target.ip}:${target.port}): ${(err as Error).message}`);
    }
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.ip, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SmtpFailure('timeout', `connection to ${target.host} (${target.ip}:${target.port}) timed out after ${opts.connectTimeoutMs} ms`));
    }, opts.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new SmtpFailure('connect', `cannot connect to ${target.host} (${target.ip}:${target.port}): ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
  });
}

export class SmtpConnection {
  private socket!: net.Socket;
  private buffer = '';
  private assembler = new ReplyAssembler();
  private replies: SmtpReply[] = [];
  /**
   * Replies we are owed: the greeting, then one per command sent. A reply beyond them would be taken as
   * the answer to our next command, and every later answer on the session would be the previous one's
   * (a 250 meant for MAIL FROM read as a mailbox accepted): such a server is dropped instead.
   */
  private owed = 1;
  private waiter: { resolve: (r: SmtpReply) => void; reject: (e: Error) => void } | undefined;
  private failure: SmtpFailure | undefined;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onClose = () => this.fail(new SmtpFailure('closed', `${this.target.host} closed the connection`));
  private readonly onError = (err: Error) => this.fail(new SmtpFailure('closed', `connection to ${this.target.host} failed: ${err.message}`));
  tls = false;

  private constructor(readonly target: ConnectTarget) {}

  static async open(target: ConnectTarget, opts: ConnectOptions): Promise<SmtpConnection> {
    const conn = new SmtpConnection(target);
    conn.attach(await openSocket(target, opts));
    return conn;
  }

  get alive(): boolean {
    return !this.failure;
  }

  /** our end of the connection (the proxy link when a SOCKS5 proxy is used) */
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  private attach(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  private detach() {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
  }

  private receive(chunk: Buffer) {
    this.buffer += chunk.toString('utf8');
    // lines are cut by index and the buffer shortened once per chunk: slicing it after every line made
    // a chunk of many short lines quadratic
    let start = 0;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n', start)) >= 0) {
      const line = this.buffer.slice(start, nl).replace(/\r$/, '');
      start = nl + 1;
      let reply: SmtpReply | undefined;
      try {
        reply = this.assembler.push(line);
      } catch (err) {
        if (!(err instanceof ReplyTooLong)) throw err;
        this.fail(new SmtpFailure('protocol', `${this.target.host} sent ${err.message}`));
        return;
      }
      if (!reply) continue;
      if (reply.inconsistent) {
        this.fail(new SmtpFailure('protocol', `${this.target.host} sent a reply whose lines carry different codes: ${reply.lines.join(' | ').slice(0, 300)}`));
        return;
      }
      if (this.owed === 0 && reply.code !== 421) {
        this.fail(new SmtpFailure('protocol', `${this.target.host} sent a reply to no command: ${reply.code} ${reply.text}`));
        return;
      }
      if (this.owed > 0) this.owed--;
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(reply);
      } else if (reply.code === 421) {
        // An idle session closed by the server (its idle timeout): unusable, never an answer to our next command.
        this.fail(new SmtpFailure('closed', `${this.target.host} closed the session: 421 ${reply.text}`));
        return;
      } else {
        this.replies.push(reply);
      }
    }
    if (start) this.buffer = this.buffer.slice(start);
    if (this.buffer.length > MAX_LINE) {
      this.fail(new SmtpFailure('protocol', `${this.target.host} sent a line longer than ${MAX_LINE} bytes`));
    }
  }

  private fail(err: SmtpFailure) {
    if (this.failure) return;
    this.failure = err;
    this.socket.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  /** Wait for the next whole reply; on timeout the connection is unusable and is closed. */
  readReply(timeoutMs: number, step: string): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<SmtpReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new SmtpFailure('timeout', `${this.target.host} did not answer ${step} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  write(line: string) {
    if (this.failure) throw this.failure;
    if (/[\r\n]/.test(line)) throw new SmtpFailure('protocol', 'refusing to send a command holding CR or LF');
    this.owed++;
    this.socket.write(line + '\r\n');
  }

  async command(line: string, timeoutMs: number): Promise<SmtpReply> {
    this.write(line);
    return this.readReply(timeoutMs, line.split(/[ :]/)[0]!.toUpperCase());
  }

  /** Upgrade after a 220 to STARTTLS. We verify mailboxes, not certificates: any certificate is accepted. */
  async startTls(timeoutMs: number): Promise<void> {
    if (this.failure) throw this.failure;
    // RFC 3207 5: anything after the 220 in plain text could be injected by a man in the middle and read as
    // the answers to our commands once encrypted
    if (this.buffer.length || this.replies.length) {
      this.fail(new SmtpFailure('protocol', `${this.target.host} sent data after its STARTTLS answer, before TLS began`));
      throw this.failure!;
    }
    this.detach();
    const plain = this.socket;
    const servername = net.isIP(this.target.host) ? undefined : this.target.host;
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      // Opportunistic TLS that checks no certificate protects nothing a weaker protocol would expose: an
      // old appliance that speaks only TLS 1.0 is still answered rather than left unknown for ever.
      const s = tls.connect({ socket: plain, servername, rejectUnauthorized: false, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SmtpFailure('timeout', `TLS handshake with ${this.target.host} timed out`));
      }, timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        plain.destroy();
        reject(new SmtpFailure('tls', `TLS handshake with ${this.target.host} failed: ${err.message}`));
      });
    }).catch((err: SmtpFailure) => {
      this.failure = err;
      throw err;
    });
    this.buffer = '';
    this.assembler = new ReplyAssembler();
    this.attach(secure);
    this.tls = true;
  }

  /** Polite goodbye: QUIT, wait briefly for its reply, then close whatever happens. */
  async quit(timeoutMs = 2000): Promise<void> {
    if (this.failure) return;
    try {
      await this.command('QUIT', timeoutMs);
    } catch {
      // the server may close before answering; the session is over anyway
    }
    // A server closes its end after the 221: waiting briefly for that means the connection is gone on
    // its side too before the pool counts the slot free and opens another one there.
    const socket = this.socket;
    if (!socket.destroyed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, QUIT_CLOSE_WAIT_MS);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.destroy();
  }

  destroy() {
    if (!this.failure) this.failure = new SmtpFailure('closed', 'closed by us');
    this.socket.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }
}
