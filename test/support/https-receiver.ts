// A scriptable HTTPS webhook receiver on loopback for tests and benchmarks: its own throwaway CA (made
// with the openssl CLI in a temp dir), a leaf certificate for localhost / 127.0.0.1 / ::1 (plus any extra
// names), every request recorded with its raw body, and per-request behaviour chosen by the test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  caPem: string;
  keyPem: string;
  certPem: string;
}

/** A fresh CA and a leaf certificate signed by it (EC P-256, valid 2 days). Removes its temp dir. */
export function makeTestCertificates(extraNames: string[] = []): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'openrow-certs-'));
  try {
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
    run(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=Openrow Test CA', '-out', 'ca.pem',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key']);
    run(['req', '-new', '-key', 'leaf.key', '-subj', '/CN=localhost', '-out', 'leaf.csr']);
    const names = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', ...extraNames.map((n) => (/^[\d.:]+$/.test(n) ? `IP:${n}` : `DNS:${n}`))];
    writeFileSync(join(dir, 'leaf.ext'), `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.join(',')}\n`);
    run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256',
      '-extfile', 'leaf.ext', '-out', 'leaf.pem']);
    return {
      caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
      keyPem: readFileSync(join(dir, 'leaf.key'), 'utf8'),
      certPem: readFileSync(join(dir, 'leaf.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RecordedRequest {
  /** 0-based arrival order */
  index: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** raw body exactly as received */
  body: string;
  receivedAt: number;
  /** performance.now() at arrival, for latency measurements */
  receivedAtHr: number;
}

export interface Behaviour {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** answer after this many ms */
  delayMs?: number;
  /** never answer (the socket stays open until the client gives up or the receiver closes) */
  hang?: boolean;
  /** drop the connection without any answer */
  destroy?: boolean;
}

export type BehaviourFn = (req: RecordedRequest) => Behaviour | undefined;

export interface HttpsReceiver {
  caPem: string;
  /** https://127.0.0.1:<port>/hook */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** TCP connections accepted so far (keep-alive reuse shows as few connections for many requests) */
  readonly connectionCount: number;
  setBehaviour(fn: BehaviourFn): void;
  /** resolves once at least n requests have arrived (rejects after limitMs, a guard against hanging tests) */
  waitForRequests(n: number, limitMs?: number): Promise<RecordedRequest[]>;
  /** called on every request (benchmarks) */
  onRequest?: (req: RecordedRequest) => void;
  /** called when the answer to a request has been sent */
  onAnswer?: (req: RecordedRequest) => void;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  certificates?: TestCertificates;
  /** extra DNS names or IPs for the leaf certificate */
  names?: string[];
  host?: string;
  /** don't keep request bodies and headers (benchmarks): only the count and arrival times */
  recordBodies?: boolean;
}

export async function startHttpsReceiver(opts: ReceiverOptions = {}): Promise<HttpsReceiver> {
  const certs = opts.certificates ?? makeTestCertificates(opts.names);
  const host = opts.host ?? '127.0.0.1';
  const recordBodies = opts.recordBodies ?? true;
  let behaviour: BehaviourFn = () => undefined;
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const sockets = new Set<Socket>();
  const pendingTimers = new Set<NodeJS.Timeout>();
  let count = 0;

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => recordBodies && chunks.push(c));
    req.on('end', () => {
      const rec: RecordedRequest = {
        index: count++,
        method: req.method ?? '',
        path: req.url ?? '',
        headers: recordBodies ? req.headers : {},
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
        receivedAtHr: performance.now(),
      };
      requests.push(rec);
      receiver.onRequest?.(rec);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (count >= waiters[i]!.n) {
          waiters[i]!.resolve();
          waiters.splice(i, 1);
        }
      }
      let b: Behaviour;
      try {
        b = behaviour(rec) ?? {};
      } catch {
        b = { status: 500 };
      }
      if (b.hang) return;
      if (b.destroy) {
        req.socket.destroy();
        return;
      }
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(b.status ?? 200, { 'content-type': 'text/plain', ...b.headers });
        res.end(b.body ?? 'ok');
        receiver.onAnswer?.(rec);
      };
      if (b.delayMs) {
        const t = setTimeout(() => {
          pendingTimers.delete(t);
          answer();
        }, b.delayMs);
        pendingTimers.add(t);
      } else answer();
    });
  };

  const server: Server = createServer({ key: certs.keyPem, cert: certs.certPem, keepAliveTimeout: 30_000 }, handler);
  let connectionCount = 0;
  server.on('connection', (s: Socket) => {
    connectionCount++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // TLS handshakes that fail (a client that does not trust our CA) are the client's problem, not ours
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  const receiver: HttpsReceiver = {
    caPem: certs.caPem,
    url: `https://${urlHost}:${port}/hook`,
    port,
    requests,
    get connectionCount() {
      return connectionCount;
    },
    setBehaviour(fn) {
      behaviour = fn;
    },
    waitForRequests(n, limitMs = 20_000) {
      if (count >= n) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const guard = setTimeout(() => reject(new Error(`receiver got ${count} of ${n} expected requests within ${limitMs} ms`)), limitMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(guard);
            resolve(requests);
          },
        });
      });
    },
    async close() {
      for (const t of pendingTimers) clearTimeout(t);
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
  return receiver;
}
