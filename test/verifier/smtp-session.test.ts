// The SMTP prober against scripted servers on loopback, for what the sandbox never does: servers
// that refuse EHLO (HELO fallback), refuse us at the greeting, or close an idle session with 421.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SessionRefused, SmtpSession } from '../../src/engines/verifier/smtp-session.js';

/** A server answering each command with `answer(line)`; the greeting is `banner`. */
async function scriptedServer(banner: string, answer: (line: string) => string | null) {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.write(banner + '\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        seen.push(line);
        const a = answer(line);
        if (a === null) s.end();
        else s.write(a + '\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    seen,
    sockets,
    target: { host: 'mx.scripted.test', ip: '127.0.0.1', port },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const opts = { heloName: 'probe.test', mailFrom: 'probe@probe.test', connectTimeoutMs: 2000, stepTimeoutMs: 2000, rcptsPerTransaction: 10 };

test('EHLO refused: falls back to HELO and still probes', async () => {
  const srv = await scriptedServer('220 old.example ready', (l) => {
    if (l.startsWith('EHLO')) return '502 5.5.2 Error: command not recognized';
    if (l.startsWith('HELO')) return '250 old.example';
    if (l.startsWith('MAIL')) return '250 Ok';
    if (l.startsWith('RCPT')) return l.includes('<pam@') ? '250 Ok' : '550 User unknown';
    if (l === 'QUIT') return '221 Bye';
    return '500 ?';
  });
  try {
    const s = await SmtpSession.open(srv.target, opts);
    assert.equal((await s.rcpt('pam@scripted.test')).code, 250);
    assert.equal((await s.rcpt('nobody@scripted.test')).code, 550);
    await s.quit();
    assert.deepEqual(srv.seen.map((l) => l.split(/[ :]/)[0]), ['EHLO', 'HELO', 'MAIL', 'RCPT', 'RCPT', 'QUIT']);
  } finally {
    await srv.close();
  }
});

test('greeting 554: refused before any command is sent', async () => {
  const srv = await scriptedServer('554 5.7.1 No SMTP service here', () => '503 no');
  try {
    await assert.rejects(SmtpSession.open(srv.target, opts), (err: unknown) => err instanceof SessionRefused && err.step === 'banner' && err.reply.code === 554);
    assert.deepEqual(srv.seen, []);
  } finally {
    await srv.close();
  }
});

test('an idle session closed by the server with 421 is seen as dead, not as an answer', async () => {
  const srv = await scriptedServer('220 ready', (l) => (l.startsWith('EHLO') ? '250-hi\r\n250 SIZE 1000' : '250 Ok'));
  try {
    const s = await SmtpSession.open(srv.target, opts);
    assert.equal(s.alive, true);
    for (const sock of srv.sockets) sock.end('421 4.4.2 timeout exceeded\r\n');
    for (let i = 0; i < 200 && s.alive; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(s.alive, false);
    await assert.rejects(s.rcpt('pam@scripted.test'));
  } finally {
    await srv.close();
  }
});

test('a reply beyond those owed drops the session: later answers are never off by one', async () => {
  // the EHLO reply ends twice; read as the answer to MAIL FROM, every later RCPT would get the previous reply
  const srv = await scriptedServer('220 ready', (l) => {
    if (l.startsWith('EHLO')) return '250-mx\r\n250 SIZE 1000\r\n250 8BITMIME';
    if (l.startsWith('MAIL')) return '250 Ok';
    if (l.startsWith('RCPT')) return l.includes('<real@') ? '250 Ok' : '550 5.1.1 User unknown';
    return '221 Bye';
  });
  try {
    const s = await SmtpSession.open(srv.target, opts).catch((err: Error) => err);
    if (s instanceof Error) {
      assert.match(s.message, /sent a reply to no command/);
    } else {
      // the extra line arrived after the handshake: the next command fails instead of reading it
      await assert.rejects(s.rcpt('ghost@scripted.test'), /sent a reply to no command/);
    }
  } finally {
    await srv.close();
  }
});

test('plain-text bytes after the STARTTLS answer are refused (RFC 3207 response injection)', async () => {
  const srv = await scriptedServer('220 ready', (l) => {
    if (l.startsWith('EHLO')) return '250-mx\r\n250 STARTTLS';
    if (l.startsWith('STARTTLS')) return '220 2.0.0 go ahead\r\n250 injected';
    return '250 Ok';
  });
  try {
    await assert.rejects(SmtpSession.open(srv.target, opts), /sent (data after its STARTTLS answer|a reply to no command)/);
  } finally {
    await srv.close();
  }
});
