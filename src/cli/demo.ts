// `openrow demo`: the whole product, offline, in one command. A server on a temporary database, a
// test-mode key (engines on the built-in sandbox world), a local HTTPS webhook receiver with its own
// certificate, and one search of each kind whose signed webhooks are shown as they arrive.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import selfsigned from 'selfsigned';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../config.js';
import { startOpenrow } from '../app.js';
import { createAccount, createApiKey } from '../store/accounts.js';
import { currentSecret } from '../store/webhooks.js';
import { signerId } from '../webhooks/sign.js';

const say = (s: string) => process.stdout.write(s + '\n');

export async function runDemo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'openrow-demo-'));
  let o: Awaited<ReturnType<typeof startOpenrow>> | undefined;
  let receiver: ReturnType<typeof createServer> | undefined;
  // everything the demo made goes, however it ends: done, failed, or interrupted
  let cleaned: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaned ??= (async () => {
      await o?.close().catch(() => undefined);
      if (receiver?.listening) await new Promise<void>((r) => receiver!.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    })());
  const interrupted = (signal: NodeJS.Signals) => {
    process.stderr.write(`openrow demo: ${signal}: cleaning up\n`);
    void cleanUp().finally(() => process.exit(1));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await demo(dir, (started) => (o = started), (server) => (receiver = server));
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanUp();
  }
}

async function demo(
  dir: string,
  started: (o: Awaited<ReturnType<typeof startOpenrow>>) => void,
  listening: (server: ReturnType<typeof createServer>) => void,
): Promise<void> {
  const pems = selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
    days: 1,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const events: Array<{ event: string; verified: boolean; body: string }> = [];
  let secret = '';
  const receiver = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let verified = false;
      try {
        new Webhook(secret).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const event = JSON.parse(body).event as string;
      events.push({ event, verified, body });
      say(`\n<- webhook ${event} (signature ${verified ? 'verified' : 'INVALID'})\n   ${body}`);
      res.writeHead(204).end();
    });
  });
  listening(receiver);
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const hook = `https://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/enrow`;

  const config = loadConfig({
    ...process.env,
    OPENROW_PORT: '0',
    OPENROW_DATA_DIR: dir,
    OPENROW_DATABASE_URL: '',
    OPENROW_LOG_LEVEL: 'warn',
    // the demo runs on loopback with its own settings, whatever the shell's environment says
    OPENROW_HOST: '127.0.0.1',
    OPENROW_WORKER_CONCURRENCY: '',
    OPENROW_WEBHOOK_ALLOW_CIDRS: '127.0.0.1/32',
    // the demo's live engines are never used; keep them off the system resolver anyway
    OPENROW_DNS_SERVERS: '127.0.0.1:1',
  });
  const o = await startOpenrow(config, { api: true, workers: true, webhookCa: pems.cert });
  started(o);
  const { account } = await createAccount(o.store, { name: 'demo', subCents: 0 });
  const { apiKey } = await createApiKey(o.store, account.id, { mode: 'test', name: 'demo' });
  // the demo's searches are test-mode ones: signed with the account's test-mode secret
  secret = await currentSecret(o.store, signerId(account.id, 'test'));
  say(`Openrow demo: server ${o.url}, test key ${apiKey}`);
  say(`webhook receiver ${hook}\n`);
  const post = async (path: string, body: unknown) => {
    const r = await fetch(o.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey }, body: JSON.stringify(body) });
    const text = await r.text();
    say(`-> POST ${path} ${JSON.stringify(body)}\n   ${r.status} ${text}`);
  };
  await post('/email/verify/single', { email: 'pam.beesly@deliverable.test', custom: { crm_id: 'lead_001' }, settings: { webhook: hook } });
  await post('/email/verify/bulk', { emails: ['valid@deliverable.test', 'nobody@undeliverable.test', 'anyone@catchall.test'], settings: { webhook: hook } });
  await post('/email/find/single', { fullname: 'Homer Simpson', company_domain: 'globex.test', settings: { webhook: hook } });
  await post('/email/find/bulk', { searches: [{ fullname: 'Peter Gibbons', company_domain: 'initech.test' }, { fullname: 'José García', company_name: 'Acme' }], settings: { webhook: hook } });
  await post('/phone/single', { linkedin_url: 'https://www.linkedin.com/in/michael-scott-sandbox', settings: { webhook: hook } });
  await post('/phone/bulk', { searches: [{ linkedin_url: 'https://www.linkedin.com/in/pam-beesly-sandbox' }, { linkedin_url: 'https://www.linkedin.com/in/toby-flenderson-sandbox' }], settings: { webhook: hook } });
  const deadline = Date.now() + 60_000;
  while (events.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  say(`\n${events.length} of 6 webhooks received, ${events.filter((e) => e.verified).length} with a verified signature.`);
  if (events.length < 6) process.exitCode = 1;
}
