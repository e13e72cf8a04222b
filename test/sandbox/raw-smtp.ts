// A deliberately dumb SMTP client on a raw socket for the sandbox tests: it sends exactly the lines
// a test writes and hands back whole replies, so the tests see the server's bytes as they are.
import net from 'node:net';
import tls from 'node:tls';

export interface Reply {
  code: number;
  lines: string[];
  /** the reply exactly as received, CRLFs included */
  raw: string;
}

export class RawSmtp {
  private socket: net.Socket | tls.TLSSocket;
  private buffer = '';
  private replies: Reply[] = [];
  private waiters: Array<(r: Reply | null) => void> = [];
  closed = false;
  /** every byte received, for assertions such as "the tarpit said nothing" */
  received = '';
  private readonly closedPromise: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) w(null);
        resolve();
      });
    });
    socket.on('error', () => undefined);
    this.attach(socket);
  }

  static connect(host: string, port: number): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawSmtp(s));
      });
      s.once('error', reject);
    });
  }

  private attach(s: net.Socket | tls.TLSSocket): void {
    s.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.received += text;
      this.buffer += text;
      this.parse();
    });
  }

  private parse(): void {
    for (;;) {
      const m = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(this.buffer);
      if (!m) return;
      const raw = m[0];
      this.buffer = this.buffer.slice(raw.length);
      const lines = raw.split('\r\n').filter(Boolean);
      const reply = { code: Number(lines[lines.length - 1]!.slice(0, 3)), lines: lines.map((l) => l.slice(4)), raw };
      const w = this.waiters.shift();
      if (w) w(reply);
      else this.replies.push(reply);
    }
  }

  /** The next whole reply, or null when the server closed the connection first. */
  read(): Promise<Reply | null> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async expect(): Promise<Reply> {
    const r = await this.read();
    if (!r) throw new Error(`connection closed while waiting for a reply (received so far: ${JSON.stringify(this.received)})`);
    return r;
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  cmd(line: string): Promise<Reply> {
    this.send(line);
    return this.expect();
  }

  /** EHLO + MAIL FROM, the usual start of a probe. */
  async open(from = 'probe@openrow.localhost'): Promise<Reply> {
    const banner = await this.expect();
    await this.cmd('EHLO openrow.localhost');
    await this.cmd(`MAIL FROM:<${from}>`);
    return banner;
  }

  /** Call after the server's 220 to STARTTLS: the rest of the conversation is encrypted. */
  upgrade(): Promise<tls.TLSSocket> {
    this.socket.removeAllListeners('data');
    return new Promise((resolve, reject) => {
      const secure = tls.connect({ socket: this.socket as net.Socket, rejectUnauthorized: false, servername: 'mx.sandbox.test' }, () => resolve(secure));
      secure.once('error', reject);
      this.socket = secure;
      this.attach(secure);
    });
  }

  waitClosed(): Promise<void> {
    return this.closedPromise;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
