// The operator CLI as a process: the demo shows the whole product offline, imports fill the
// directories the finder and phone engines use, and configuration errors name the variable.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/db.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'openrow.js');
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, OPENROW_LOG_LEVEL: 'silent', OPENROW_DNS_SERVERS: '127.0.0.1:1', ...env }, encoding: 'utf8', timeout: 120_000 });

describe('openrow CLI', () => {
  it('runs the offline demo: one search of each kind, six signed webhooks', () => {
    const r = run(['demo']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /6 of 6 webhooks received, 6 with a verified signature/);
  });

  it('imports contacts and companies, reporting rejected rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-cli-'));
    try {
      const env = { OPENROW_DATA_DIR: dir };
      writeFileSync(join(dir, 'contacts.csv'), 'fullname,company_domain,email,phone,linkedin_url\nJan Levinson,dundermifflin.test,jan.levinson@dundermifflin.test,+15705550000,https://fr.linkedin.com/in/jan-levinson/\n,nodomain,,,\n');
      writeFileSync(join(dir, 'companies.csv'), 'name,country,domain,aliases\nDunder Mifflin,US,dundermifflin.test,DM|Dunder Mifflin Paper\n');
      const c = run(['import', 'contacts', join(dir, 'contacts.csv')], env);
      assert.equal(c.status, 1, 'a rejected row makes the exit status non-zero');
      assert.equal(JSON.parse(c.stdout).imported, 1);
      assert.equal(JSON.parse(c.stdout).rejected.length, 1);
      const co = run(['import', 'companies', join(dir, 'companies.csv')], env);
      assert.equal(co.status, 0, co.stderr);
      const store = await openStore({ url: join(dir, 'openrow.sqlite') });
      try {
        const contact = await store.db.selectFrom('contacts').selectAll().executeTakeFirstOrThrow();
        assert.equal(contact.linkedin_url, 'https://www.linkedin.com/in/jan-levinson', 'stored in canonical form');
        const { DbKnowledgeStore } = await import('../../src/store/knowledge.js');
        const k = new DbKnowledgeStore(store);
        assert.equal((await k.findCompanyByName('dm', 'US'))?.domain, 'dundermifflin.test');
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs `openrow sandbox` as a process that real clients can query', async () => {
    const { spawn } = await import('node:child_process');
    const { Resolver } = await import('node:dns/promises');
    const child = spawn(process.execPath, [BIN, 'sandbox', '--smtp-port', '0', '--counters-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      const deadline = Date.now() + 30_000;
      while (!/counters: \S+/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const dns = /DNS \(UDP\+TCP\): (\S+)/.exec(out)![1]!;
      const resolver = new Resolver();
      resolver.setServers([dns]);
      const mx = await resolver.resolveMx('deliverable.test');
      assert.equal(mx[0]!.exchange, 'mx.deliverable.test');
      const counters = (await (await fetch(/counters: (\S+)/.exec(out)![1]!)).json()) as Record<string, unknown>;
      assert.ok('mx.deliverable.test' in counters);
      assert.match(out, /OPENROW_DNS_SERVERS=/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('refuses a bad configuration with a message naming the variable', () => {
    const r = run(['migrate'], { OPENROW_PORT: 'eighty' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /OPENROW_PORT must be a whole number/);
  });
});
