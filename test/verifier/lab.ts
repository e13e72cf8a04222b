// Hostile and odd mail servers for the verifier's tests: a loopback DNS server answering from a zone
// object, and SMTP servers whose every reply a test scripts (the sandbox world covers well-behaved
// servers; these cover the ones that stream, mix codes, speak old TLS or count connections).
import net from 'node:net';
import dns2 from 'dns2';

const { Packet } = dns2;

export type ZoneRecord = { mx?: Array<{ host: string; pri: number }>; a?: string[] };
export type Zone = Record<string, ZoneRecord>;

export async function startDns(zone: Zone): Promise<{ server: string; close(): Promise<void> }> {
  const handler = (req: any, send: any) => {
    const res = Packet.createResponseFromRequest(req);
    res.header.aa = 1;
    for (const q of req.questions) {
      const r = zone[String(q.name).toLowerCase().replace(/\.$/, '')];
      if (!r) {
        res.header.rcode = 3;
        continue;
      }
      const base = { name: q.name, class: 1, ttl: 60 };
      if (q.type === Packet.TYPE.MX) for (const m of r.mx ?? []) res.answers.push({ ...base, type: Packet.TYPE.MX, exchange: m.host, priority: m.pri } as any);
      else if (q.type === Packet.TYPE.A) for (const a of r.a ?? []) res.answers.push({ ...base, type: Packet.TYPE.A, address: a } as any);
    }
    Promise.resolve(send(res)).catch(() => undefined);
  };
  const udp = dns2.createUDPServer(handler);
  udp.on('requestError', () => undefined);
  const port: number = await new Promise((resolve) => udp.bind(0, '127.0.0.1', () => resolve(udp.address().port)));
  return { server: `127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => udp.close(() => resolve())) };
}

export interface SmtpLine {
  line: string;
  sock: net.Socket;
  /** per-connection state the script may keep */
  state: Record<string, unknown>;
}
export interface ScriptedSmtp {
  /** connections accepted, and the most open at once */
  stats: { connections: number; current: number; maxConcurrent: number };
  close(): Promise<void>;
}

/** One port for every lab server: the verifier connects to one SMTP port. */
export { freePort } from '../support/free-port.js';

export async function startSmtp(
  ip: string,
  port: number,
  opts: { greet?: (sock: net.Socket) => void; onLine: (c: SmtpLine) => void | Promise<void> },
): Promise<ScriptedSmtp> {
  const stats = { connections: 0, current: 0, maxConcurrent: 0 };
  const socks = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    socks.add(sock);
    stats.connections++;
    stats.current++;
    stats.maxConcurrent = Math.max(stats.maxConcurrent, stats.current);
    sock.on('close', () => {
      stats.current--;
      socks.delete(sock);
    });
    sock.on('error', () => undefined);
    const state: Record<string, unknown> = {};
    let buf = '';
    let chain = Promise.resolve();
    sock.on('data', (c) => {
      buf += c.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        chain = chain.then(() => opts.onLine({ line, sock, state })).catch(() => undefined);
      }
    });
    if (opts.greet) opts.greet(sock);
    else sock.write('220 lab ESMTP\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, ip, () => resolve());
  });
  return {
    stats,
    close: async () => {
      for (const s of socks) s.destroy();
      await new Promise((resolve) => srv.close(resolve));
    },
  };
}

/** A well-behaved session whose RCPT answer `rcpt` decides. */
export function plainSmtp(rcpt: (address: string, c: SmtpLine) => string | Promise<string>) {
  return async (c: SmtpLine) => {
    const verb = c.line.split(/[ :]/)[0]!.toUpperCase();
    if (verb === 'EHLO') c.sock.write('250-lab\r\n250 8BITMIME\r\n');
    else if (verb === 'HELO') c.sock.write('250 lab\r\n');
    else if (verb === 'MAIL') c.sock.write('250 2.1.0 Ok\r\n');
    else if (verb === 'RCPT') c.sock.write(`${await rcpt(/<(.*)>/.exec(c.line)?.[1] ?? '', c)}\r\n`);
    else if (verb === 'RSET') c.sock.write('250 2.0.0 Ok\r\n');
    else if (verb === 'QUIT') c.sock.end('221 2.0.0 Bye\r\n');
    else c.sock.write('502 5.5.2 Error\r\n');
  };
}


export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
