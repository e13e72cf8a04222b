// Issue 5: SIGKILL the server while 1,000 deliveries are pending against a receiver that is down;
// restart it; bring the receiver up: every delivery arrives at least once (duplicates are reported).
// Real processes over one SQLite file; the searches are phone lookups against a loopback vendor that
// answers at once, each completing search writing its outbox row.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { freePort } from '../support/free-port.js';
import { spawnOpenrow, type OpenrowProcess } from '../support/processes.js';
import { makeTestCertificates } from '../support/https-receiver.js';
import { call, waitFor } from '../support/openrow.js';
import { openStore } from '../../src/store/db.js';

const N = 1000;
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'openrow.js');

describe('webhook delivery survives SIGKILL (real processes)', () => {
  let dir: string;
  let vendor: Server;
  const procs: OpenrowProcess[] = [];
  let receiverClose: (() => Promise<void>) | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'openrow-whcrash-'));
    vendor = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"phone": null}');
    });
    await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', () => r()));
  });

  after(async () => {
    for (const p of procs) await p.kill();
    await receiverClose?.();
    await new Promise<void>((r) => vendor.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers all 1,000 pending webhooks after a crash and restart', async () => {
    const certs = makeTestCertificates();
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, certs.caPem);
    const port = await freePort();
    const hookUrl = `https://127.0.0.1:${port}/hook`;
    const env = {
      OPENROW_DATA_DIR: dir,
      OPENROW_PORT: '0',
      OPENROW_WORKER_CONCURRENCY: '50',
      OPENROW_WEBHOOK_ALLOW_CIDRS: '127.0.0.1/32',
      // the receiver stays down for a while: keep retrying every second, and probe a tripped breaker soon
      OPENROW_WEBHOOK_RETRY_SCHEDULE: Array.from({ length: 60 }, (_, i) => (i === 0 ? '0s' : '1s')).join(','),
      OPENROW_WEBHOOK_BREAKER_OPEN_MS: '1000',
      NODE_EXTRA_CA_CERTS: caFile,
      OPENROW_PHONE_PROVIDERS: JSON.stringify([{ name: 'vendor', type: 'http_json', url: `http://127.0.0.1:${(vendor.address() as AddressInfo).port}/?u={linkedin_url}`, number_path: 'phone' }]),
    };
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env, OPENROW_LOG_LEVEL: 'silent' }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const { account_id: accountId } = cli('accounts', 'create', '--name', 'hooks', '--credits', String(N * 50));
    const { api_key: key } = cli('keys', 'create', '--account', accountId, '--rate-limit', '100000');

    let server = await spawnOpenrow('serve', env);
    procs.push(server);
    assert.equal((await call(server.url!, 'PUT', '/account/webhook', { key, body: { url: hookUrl } })).status, 200);
    for (let i = 0; i < N; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, j) => call(server.url!, 'POST', '/phone/single', { key, body: { linkedin_url: `https://www.linkedin.com/in/someone-${i + j}` } })),
      );
      for (const r of batch) assert.equal(r.status, 201, r.text);
    }

    const store = await openStore({ url: join(dir, 'openrow.sqlite'), migrate: false });
    try {
      const countDeliveries = async () =>
        Number((await store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      await waitFor(async () => (await countDeliveries()) === N, 120_000, 100);
      const attemptedBeforeKill = Number(
        (await store.db.selectFrom('webhook_attempts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n,
      );
      await server.kill('SIGKILL');

      server = await spawnOpenrow('serve', env);
      procs.push(server);
      const received: string[] = [];
      const https = createHttpsServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          received.push(JSON.parse(body).id);
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => https.listen(port, '127.0.0.1', () => r()));
      receiverClose = () => new Promise<void>((r) => https.close(() => r()));

      await waitFor(async () => new Set(received).size >= N, 240_000, 100);
      const searches = await store.db.selectFrom('searches').select('id').where('account_id', '=', accountId).execute();
      assert.deepEqual(new Set(received), new Set(searches.map((s) => s.id)), 'one webhook per search, every one delivered');
      console.log(`# webhook crash test: ${attemptedBeforeKill} failed attempts before the kill; ${received.length} POSTs received for ${N} deliveries (${received.length - N} duplicates)`);
    } finally {
      await store.close();
    }
  });
});
