// The verifier against mail servers that stream, mix reply codes, refuse us with bare 550s, speak only
// old TLS, or count our connections; and against a domain-facts store that fails once. Real DNS and
// SMTP on loopback (lab.ts): each case reproduces a wrong answer, hang or overrun found in review.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { MemoryDomainFactsCache } from '../../src/engines/verifier/index.js';
import { MAX_MAIL_ADDRESSES } from '../../src/engines/verifier/verifier-engine.js';
import { prepareSandboxTls } from '../../src/sandbox/tls-cert.js';
import { final, firstAttempt, loopbackVerifier } from './harness.js';
import { freePort, plainSmtp, sleep, startDns, startSmtp, type ScriptedSmtp, type Zone } from './lab.js';

let port: number;
const servers: ScriptedSmtp[] = [];
const zone: Zone = {};
let dns: Awaited<ReturnType<typeof startDns>>;

/** A domain with one mail host at `ip`, served by `onLine`. */
async function mailDomain(domain: string, ip: string, onLine: Parameters<typeof startSmtp>[2]['onLine'], greet?: Parameters<typeof startSmtp>[2]['greet']) {
  zone[domain] = { mx: [{ host: `mx.${domain}`, pri: 10 }] };
  zone[`mx.${domain}`] = { a: [ip] };
  const s = await startSmtp(ip, port, { onLine, greet });
  servers.push(s);
  return s;
}

before(async () => {
  port = await freePort();
  dns = await startDns(zone);
});
after(async () => {
  for (const s of servers) await s.close();
  await dns.close();
});

test('a bare 550 to the random probe address is not remembered as "rejects unknown addresses": once the server takes everything, it is found catch-all', async () => {
  let acceptAll = false;
  await mailDomain('limited.test', '127.0.31.1', plainSmtp(() => (acceptAll ? '250 2.1.5 Ok' : '550 Requested action not taken: mailbox unavailable')));
  const v = loopbackVerifier(dns.server, port);
  try {
    const first = final(await v.verify('anyone@limited.test', firstAttempt()));
    assert.equal(first.details.status, 'undeliverable');
    acceptAll = true;
    const second = final(await v.verify('nobody.at.all@limited.test', firstAttempt()));
    // before: "deliverable … which rejects unknown addresses", the first probe's bare 550 kept for 24 h
    assert.equal(second.details.status, 'catch_all');
    assert.equal(second.qualification, 'invalid');
  } finally {
    await v.close();
  }
});

test('refusals of us worded as bare 550/553 (Exim, rate limits, SPF, qmail rcpthosts) are unknown, never "no such mailbox"', async () => {
  const replies: Record<string, string> = {
    exim: '550 Administrative prohibition',
    rate: '550 Rate limit exceeded',
    conn: '550 Too many connections from your host',
    spf: '550 SPF check failed',
    qmail: "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
  };
  await mailDomain('refuses.test', '127.0.31.2', plainSmtp((address) => replies[address.split('@')[0]!] ?? '550 5.1.1 No such user'));
  const v = loopbackVerifier(dns.server, port);
  try {
    for (const local of Object.keys(replies)) {
      const r = final(await v.verify(`${local}@refuses.test`, firstAttempt()));
      assert.equal(r.details.status, 'unknown', `${local}: ${r.details.reason}`);
      assert.equal(r.details.policy_block, true, local);
    }
  } finally {
    await v.close();
  }
});

test('a 5.1.1 is believed whatever the text adds about our IP; a 5xx worded as greylisting is retried', async () => {
  await mailDomain('wordy.test', '127.0.31.3', plainSmtp((address) =>
    address.startsWith('grey@') ? '550 Greylisted, please try again later' : address.startsWith('ok@') ? '250 2.1.5 Ok' : '550 5.1.1 <x>... User unknown (your IP 192.0.2.1 logged)'));
  const v = loopbackVerifier(dns.server, port);
  try {
    const gone = final(await v.verify('bob@wordy.test', firstAttempt()));
    assert.equal(gone.details.status, 'undeliverable');
    const grey = await v.verify('grey@wordy.test', firstAttempt());
    assert.equal(grey.kind, 'retry');
  } finally {
    await v.close();
  }
});

test('a store error while the catch-all probe address is chosen fails that call only: later calls for the domain finish', async () => {
  await mailDomain('flaky.test', '127.0.31.4', plainSmtp((address) => (address.startsWith('jane@') ? '250 2.1.5 Ok' : '550 5.1.1 User unknown')));
  class FailsOnce extends MemoryDomainFactsCache {
    failed = false;
    override async set(domain: string, fact: string, value: unknown, ttlMs: number) {
      if (!this.failed) {
        this.failed = true;
        throw new Error('SQLITE_BUSY: database is locked');
      }
      return super.set(domain, fact, value, ttlMs);
    }
  }
  const v = loopbackVerifier(dns.server, port, { domainCache: new FailsOnce() });
  try {
    await assert.rejects(v.verify('jane@flaky.test', firstAttempt()), /SQLITE_BUSY/);
    // before: these waited for ever on the first call's in-flight marker
    const timeout = (ms: number) => sleep(ms).then(() => 'still waiting');
    const [again, other] = await Promise.all([
      Promise.race([v.verify('jane@flaky.test', firstAttempt()), timeout(10_000)]),
      Promise.race([v.verify('bob@flaky.test', firstAttempt()), timeout(10_000)]),
    ]);
    assert.notEqual(again, 'still waiting');
    assert.notEqual(other, 'still waiting');
    assert.equal(final(again as never).details.status, 'deliverable');
    assert.equal(final(other as never).details.status, 'undeliverable');
  } finally {
    await v.close();
  }
});

test('an endless multi-line greeting is refused after 200 lines instead of filling memory', async () => {
  const chunk = `220-${'x'.repeat(60)}\r\n`.repeat(1000);
  await mailDomain('flood.test', '127.0.31.5', () => undefined, (sock) => {
    const pump = () => {
      while (!sock.destroyed && sock.write(chunk));
      if (!sock.destroyed) sock.once('drain', pump);
    };
    pump();
  });
  const v = loopbackVerifier(dns.server, port, { stepTimeoutMs: 30_000 });
  try {
    const heapBefore = process.memoryUsage().heapUsed;
    const r = await v.verify('jane@flood.test', firstAttempt());
    assert.equal(r.kind, 'retry');
    assert.match(r.details.reason, /more than 200 lines/);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024);
  } finally {
    await v.close();
  }
});

test('a reply whose lines carry different codes is a protocol error, not an answer', async () => {
  await mailDomain('mixed.test', '127.0.31.6', plainSmtp(() => '550-5.1.1 no such user\r\n250 2.1.5 ok'));
  const v = loopbackVerifier(dns.server, port);
  try {
    const r = await v.verify('jane@mixed.test', firstAttempt());
    // before: "deliverable", the last line's 250 winning
    assert.equal(r.kind, 'retry');
    assert.match(r.details.reason, /different codes/);
  } finally {
    await v.close();
  }
});

test('the per-host connection limit holds while our QUITs are slow to be answered', async () => {
  // one RCPT per session (452 4.5.3 after), so every check closes a session and opens another
  const s = await mailDomain('slowquit.test', '127.0.31.7', async ({ line, sock, state }) => {
    const verb = line.split(/[ :]/)[0]!.toUpperCase();
    if (verb === 'EHLO') sock.write('250-x\r\n250 8BITMIME\r\n');
    else if (verb === 'MAIL' || verb === 'RSET') sock.write('250 Ok\r\n');
    else if (verb === 'QUIT') {
      await sleep(150);
      sock.end('221 Bye\r\n');
    } else if (verb === 'RCPT') {
      state.n = Number(state.n ?? 0) + 1;
      sock.write(Number(state.n) > 1 ? '452 4.5.3 Too many recipients\r\n' : /<u\d+@/.test(line) ? '250 Ok\r\n' : '550 5.1.1 unknown\r\n');
    }
  });
  const v = loopbackVerifier(dns.server, port, { perHostConcurrency: 3 });
  try {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => v.verify(`u${i}@slowquit.test`, firstAttempt())));
    assert.ok(results.every((r) => r.kind === 'done' && r.result.details.status === 'deliverable'));
    await sleep(400);
    // before: 20 and more at once, a slot being counted free as soon as QUIT was sent. The server may
    // accept the next connection in the same instant it is still closing the last one: one over.
    assert.ok(s.stats.connections > 20, 'the scenario opened a session per check');
    assert.ok(s.stats.maxConcurrent <= 3 + 1, `at most 3 (+1 closing) at once, saw ${s.stats.maxConcurrent}`);
  } finally {
    await v.close();
  }
});

test(`a domain with many silent mail hosts costs at most ${MAX_MAIL_ADDRESSES} connections`, async () => {
  const hosts = Array.from({ length: 9 }, (_, i) => `mx${i}.many.test`);
  zone['many.test'] = { mx: hosts.map((host, i) => ({ host, pri: 10 + i })) };
  const silent: ScriptedSmtp[] = [];
  for (const [i, host] of hosts.entries()) {
    zone[host] = { a: [`127.0.32.${i + 1}`] };
    const s = await startSmtp(`127.0.32.${i + 1}`, port, { onLine: () => undefined, greet: () => undefined });
    servers.push(s);
    silent.push(s);
  }
  const v = loopbackVerifier(dns.server, port, { stepTimeoutMs: 300 });
  try {
    const r = await v.verify('jane@many.test', firstAttempt());
    assert.equal(r.kind, 'retry');
    const connections = silent.reduce((n, s) => n + s.stats.connections, 0);
    assert.equal(connections, MAX_MAIL_ADDRESSES);
  } finally {
    await v.close();
  }
});

test('a mail host whose STARTTLS speaks only TLS 1.0 is still answered', async () => {
  const material = await prepareSandboxTls();
  const inner = plainSmtp((address) => (address.startsWith('jane@') ? '250 2.1.5 Ok' : '550 5.1.1 User unknown'));
  await mailDomain('oldtls.test', '127.0.31.8', async (c) => {
    if (/^EHLO/i.test(c.line)) {
      c.sock.write('250-old\r\n250-STARTTLS\r\n250 8BITMIME\r\n');
      return;
    }
    if (!/^STARTTLS/i.test(c.line)) return inner(c);
    c.sock.write('220 2.0.0 Ready to start TLS\r\n');
    c.sock.removeAllListeners('data');
    const secure = new tls.TLSSocket(c.sock, { isServer: true, key: material.key, cert: material.cert, minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' });
    secure.on('error', () => undefined);
    let buf = '';
    secure.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        const verb = line.split(/[ :]/)[0]!.toUpperCase();
        if (verb === 'EHLO') secure.write('250-old\r\n250 8BITMIME\r\n');
        else void inner({ line, sock: secure as never, state: c.state });
      }
    });
  });
  const v = loopbackVerifier(dns.server, port);
  try {
    const r = final(await v.verify('jane@oldtls.test', firstAttempt()));
    // before: unknown for ever ("tlsv1 alert protocol version")
    assert.equal(r.details.status, 'deliverable');
    assert.equal(r.details.tls, true);
  } finally {
    await v.close();
  }
});

test('a pooled session the server ends after too many rejections ("421 too many errors") is replaced, not taken for a silent host', async () => {
  await mailDomain('errlimit.test', '127.0.31.9', async ({ line, sock, state }) => {
    const verb = line.split(/[ :]/)[0]!.toUpperCase();
    if (verb === 'EHLO') sock.write('250-x\r\n250 8BITMIME\r\n');
    else if (verb === 'MAIL' || verb === 'RSET') sock.write('250 Ok\r\n');
    else if (verb === 'QUIT') sock.end('221 Bye\r\n');
    else if (verb === 'RCPT') {
      if (/<(ok\d+)@/.test(line)) {
        sock.write('250 2.1.5 Ok\r\n');
        return;
      }
      state.errors = Number(state.errors ?? 0) + 1;
      // as Postfix's smtpd_hard_error_limit: the session ends after a few rejected recipients
      if (Number(state.errors) > 3) sock.end('421 4.7.0 Error: too many errors\r\n');
      else sock.write('550 5.1.1 User unknown\r\n');
    }
  });
  const v = loopbackVerifier(dns.server, port, { perHostConcurrency: 2 });
  try {
    const addresses = Array.from({ length: 16 }, (_, i) => (i % 2 ? `nobody${i}@errlimit.test` : `ok${i}@errlimit.test`));
    const results = await Promise.all(addresses.map((a) => v.verify(a, firstAttempt())));
    // before: several went back to the queue as "the server closed the session", to repeat every RCPT later
    for (const [i, r] of results.entries()) {
      assert.equal(r.kind, 'done', `${addresses[i]}: ${r.kind === 'retry' ? r.details.reason : ''}`);
      assert.equal(final(r).details.status, i % 2 ? 'undeliverable' : 'deliverable', addresses[i]);
    }
  } finally {
    await v.close();
  }
});

test('an address literal (valid RFC 5321 syntax) is not probed, and so is unknown rather than invalid syntax', async () => {
  const v = loopbackVerifier(dns.server, port);
  try {
    const r = final(await v.verify('jane@[127.0.31.1]', firstAttempt()));
    // before: "undeliverable", as if the syntax were wrong
    assert.equal(r.details.status, 'unknown');
    assert.equal(r.details.syntax_valid, true);
    assert.match(r.details.reason, /not probed/);
    // brackets around no IP address are no address
    for (const bad of ['jane@[', 'jane@[not an ip]', 'jane@[999.1.1.1]', 'jane@[IPv6:zz]']) {
      const b = final(await v.verify(bad, firstAttempt()));
      assert.equal(b.details.status, 'undeliverable', bad);
      assert.equal(b.details.syntax_valid, false, bad);
    }
    assert.equal(final(await v.verify('jane@[IPv6:2001:db8::1]', firstAttempt())).details.status, 'unknown');
  } finally {
    await v.close();
  }
});
