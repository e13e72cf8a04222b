// The operator CLI as a process: the demo shows the whole product offline, imports fill the
// directories the finder and phone engines use, and configuration errors name the variable.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/db.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'openrow.js');
// a developer's own OPENROW_DATABASE_URL must not send the CLI's writes to their database
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, OPENROW_DATABASE_URL: '', OPENROW_LOG_LEVEL: 'silent', OPENROW_DNS_SERVERS: '127.0.0.1:1', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
const runAsync = (args: string[], env: Record<string, string>) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, OPENROW_DATABASE_URL: '', OPENROW_LOG_LEVEL: 'silent', OPENROW_DNS_SERVERS: '127.0.0.1:1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });

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
      writeFileSync(join(dir, 'contacts.csv'), `fullname,company_domain,email,phone,linkedin_url\nJan Levinson,dundermifflin.test,jan.levinson@dundermifflin.test,+15705550000,https://fr.linkedin.com/in/jan-levinson/\n,nodomain,,,\nJan ${'x'.repeat(200)},dundermifflin.test,,,\nKelly Kapoor,dundermifflin.test,,n/a,\nRyan Howard,dundermifflin.test,,,https://www.linkedin.com/company/dunder-mifflin\n`);
      writeFileSync(join(dir, 'companies.csv'), 'name,country,domain,aliases\nDunder Mifflin,US,dundermifflin.test,DM|Dunder Mifflin Paper\n');
      const c = run(['import', 'contacts', join(dir, 'contacts.csv')], env);
      assert.equal(c.status, 1, 'a rejected row makes the exit status non-zero');
      assert.equal(JSON.parse(c.stdout).imported, 0, 'a file with a rejected row imports nothing');
      // a phone or a profile the phone engine could never use is refused too (before: stored, and never found)
      assert.deepEqual(JSON.parse(c.stdout).rejected, [
        { line: 3, message: 'fullname is empty' },
        { line: 4, message: 'fullname is longer than 200 characters' },
        { line: 5, message: 'phone "n/a": not a phone number (holds other text)' },
        { line: 6, message: 'linkedin_url "https://www.linkedin.com/company/dunder-mifflin" is not a LinkedIn profile URL (https://www.linkedin.com/in/…)' },
      ]);
      // fixed, the file imports; run again (a retrying script), nothing is doubled
      writeFileSync(join(dir, 'contacts.csv'), 'fullname,company_domain,email,phone,linkedin_url\nJan Levinson,dundermifflin.test,jan.levinson@dundermifflin.test,+15705550000,https://fr.linkedin.com/in/jan-levinson/\nDarryl Philbin,dundermifflin.test,,,\n');
      for (const [imported, already] of [[2, 0], [0, 2]]) {
        const again = run(['import', 'contacts', join(dir, 'contacts.csv')], env);
        assert.equal(again.status, 0, again.stderr);
        assert.deepEqual(JSON.parse(again.stdout), { imported, already_present: already, rejected: [] });
      }
      writeFileSync(join(dir, 'long.csv'), `name,country,domain,aliases\n${'Dunder '.repeat(40)},US,dundermifflin.test,\n`);
      const long = run(['import', 'companies', join(dir, 'long.csv')], env);
      assert.equal(long.status, 1);
      assert.deepEqual(JSON.parse(long.stdout).rejected, [{ line: 2, message: 'name is longer than 200 characters' }]);
      for (const imported of [1, 0]) {
        const co = run(['import', 'companies', join(dir, 'companies.csv')], env);
        assert.equal(co.status, 0, co.stderr);
        assert.equal(JSON.parse(co.stdout).imported, imported);
      }
      const store = await openStore({ url: join(dir, 'openrow.sqlite') });
      try {
        assert.equal((await store.db.selectFrom('contacts').selectAll().execute()).length, 2);
        assert.equal((await store.db.selectFrom('companies').selectAll().execute()).length, 1);
        const contact = await store.db.selectFrom('contacts').selectAll().where('fullname', '=', 'Jan Levinson').executeTakeFirstOrThrow();
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
    const cases: Array<[Record<string, string>, RegExp]> = [
      // each of these used to pass the checks and fail later: a native abort, or a message naming nothing
      [{ OPENROW_DNS_SERVERS: '127.0.0.1:0' }, /OPENROW_DNS_SERVERS entries must be/],
      [{ OPENROW_DNS_SERVERS: '999.1.1.1:53' }, /OPENROW_DNS_SERVERS entries must be/],
      [{ OPENROW_WEBHOOK_ALLOW_CIDRS: 'garbage' }, /OPENROW_WEBHOOK_ALLOW_CIDRS: invalid CIDR "garbage"/],
      [{ OPENROW_SMTP_ALLOW_CIDRS: '10.0.0.0/33' }, /OPENROW_SMTP_ALLOW_CIDRS: invalid CIDR/],
      [{ OPENROW_VERIFY_RETRY_WINDOW: '30m,1h' }, /OPENROW_VERIFY_RETRY_WINDOW must be one positive duration/],
      [{ OPENROW_HOST: 'not a host' }, /OPENROW_HOST must be an IP address or a host name/],
      [{ OPENROW_METRICS_TOKEN: 'short' }, /OPENROW_METRICS_TOKEN must be at least 16 printable characters/],
      [{ OPENROW_SMTP_HELO_NAME: 'mx.example.com\r\nRSET' }, /OPENROW_SMTP_HELO_NAME must be a host name/],
      [{ OPENROW_SMTP_MAIL_FROM: 'a@b.example> SIZE=1' }, /OPENROW_SMTP_MAIL_FROM must be an address/],
      // blank is a mistake (empty is unset): it used to name a SQLite file " " in the working directory
      [{ OPENROW_DATABASE_URL: ' ' }, /OPENROW_DATABASE_URL is blank/],
    ];
    for (const [env, message] of cases) {
      const c = run(['migrate'], env);
      assert.equal(c.status, 2, `${JSON.stringify(env)}: ${c.stderr}`);
      assert.match(c.stderr, /^openrow: configuration error: /);
      assert.match(c.stderr, message);
    }
    // a password in a refused URL is not repeated
    const db = run(['migrate'], { OPENROW_DATABASE_URL: 'mysql://root:S3cretPW@db.example/x' });
    assert.equal(db.status, 2);
    assert.doesNotMatch(db.stderr, /S3cretPW/);
    assert.match(db.stderr, /mysql:\/\/root:\*\*\*@db\.example\/x/);
    // a PostgreSQL URL the driver could not parse (it said only "Invalid URL"); nothing is contacted
    // (and passwords holding an unencoded / or @, which make the URL unparseable: whole or half of them was repeated)
    for (const url of ['postgres://u:S3cretPW@127.0.0.1:notaport/db', 'postgres://u:S3cretPW@127.0.0.1:99999/db', 'postgres://u:S3cret/PW@127.0.0.1:5432/db', 'postgres://u:S3c@retPW@127.0.0.1:99999/db']) {
      const pg = run(['migrate'], { OPENROW_DATABASE_URL: url });
      assert.equal(pg.status, 2, pg.stderr);
      assert.match(pg.stderr, /configuration error: OPENROW_DATABASE_URL is not a valid URL/);
      assert.doesNotMatch(pg.stderr, /S3c|retPW|PW@/);
    }
  });

  it('names the variable when the phone providers file or the listen address is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-cli-'));
    try {
      const p = run(['worker'], { OPENROW_DATA_DIR: dir, OPENROW_PHONE_PROVIDERS: join(dir, 'missing.yaml') });
      assert.equal(p.status, 2, p.stderr);
      assert.match(p.stderr, /configuration error: OPENROW_PHONE_PROVIDERS: invalid phone providers config/);
      // 192.0.2.1 (TEST-NET-1) is no address of this machine: binding fails without sending anything
      const h = run(['serve'], { OPENROW_DATA_DIR: dir, OPENROW_HOST: '192.0.2.1', OPENROW_PORT: '0' });
      assert.equal(h.status, 2, h.stderr);
      assert.match(h.stderr, /configuration error: cannot listen on 192\.0\.2\.1:0 \(OPENROW_HOST, OPENROW_PORT\): EADDRNOTAVAIL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a misspelt database path is an error for commands on existing data, not a new empty database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-cli-'));
    try {
      const typo = join(dir, 'prod', 'openrow.sqlit');
      // before: each created the file (and its folder), then printed [] or revoked nothing
      for (const args of [['accounts', 'list'], ['keys', 'list'], ['keys', 'revoke', 'key_x'], ['credits', 'grant', '--account', 'acct_x', '--sub', '5']]) {
        const r = run(args, { OPENROW_DATABASE_URL: typo });
        assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}`);
        assert.match(r.stderr, new RegExp(`no Openrow database at ${typo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(check OPENROW_DATABASE_URL`));
        assert.equal(existsSync(typo), false, args.join(' '));
      }
      // creating an account may start one, and says so
      const created = run(['accounts', 'create', '--name', 'acme'], { OPENROW_DATABASE_URL: typo });
      assert.equal(created.status, 0, created.stderr);
      assert.match(created.stderr, /a new database at /);
      assert.equal(run(['accounts', 'list'], { OPENROW_DATABASE_URL: typo }).status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad command options with exit 2 and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-cli-'));
    try {
      const env = { OPENROW_DATA_DIR: dir };
      const created = run(['accounts', 'create', '--name', 'acme', '--credits', '5'], env);
      assert.equal(created.status, 0, created.stderr);
      const account = JSON.parse(created.stdout).account_id as string;
      for (const [args, message] of [
        [['keys', 'create', '--account', account, '--rate-limit', '0'], /--rate-limit must be a whole number from 1 to 1000000, got "0"/],
        [['keys', 'create', '--account', account, '--rate-limit', 'abc'], /--rate-limit must be a whole number/],
        [['keys', 'create', '--account', account, '--rate-limit', '1.5'], /--rate-limit must be a whole number/],
        [['credits', 'grant', '--account', account], /nothing to grant/],
        [['credits', 'grant', '--account', account, '--sub', 'abc'], /--sub: invalid credit amount: abc/],
        [['accounts', 'create', '--name', 'x', '--credits', '-5'], /--credits: invalid credit amount: -5/],
        [['accounts', 'create', '--name', ' '], /--name must not be empty/],
        [['keys', 'create', '--account', account, '--name', ''], /--name must not be empty/],
        // the balance would pass 2^53 cents, which is read back rounded
        [['credits', 'grant', '--account', account, '--sub', '90071992547409.91'], /a balance would exceed the largest one supported \(90071992547409\.91 credits\): nothing granted/],
        [['sandbox', '--dns-port', 'abc'], /--dns-port must be a whole number from 0 to 65535/],
        // never handed to the system resolver
        [['sandbox', '--dns-host', 'notanip', '--smtp-port', '0'], /--dns-host must be an IP address, got "notanip"/],
        [['sandbox', '--host-base', '10.0.0.1', '--smtp-port', '0'], /hostAddressBase must be an IPv4 loopback address/],
        // commander's own usage errors
        [['keys', 'create', '--account', account, '--rate-limt', '5'], /unknown option '--rate-limt'/],
        [['credits', 'grant', '--account', account, '--sub'], /option '--sub <credits>' argument missing/],
        [['accounts', 'create'], /required option '--name <name>' not specified/],
        [['nosuch'], /unknown command 'nosuch'/],
      ] as Array<[string[], RegExp]>) {
        const r = run(args, env);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      const unknown = run(['keys', 'list', '--account', 'acct_nope'], env);
      assert.equal(unknown.status, 1);
      assert.match(unknown.stderr, /no such account: acct_nope/);
      const store = await openStore({ url: join(dir, 'openrow.sqlite') });
      try {
        assert.equal((await store.db.selectFrom('api_keys').selectAll().execute()).length, 1, 'only the account’s own first key');
        assert.equal((await store.db.selectFrom('accounts').selectAll().execute()).length, 1);
        assert.equal((await store.db.selectFrom('ledger').selectAll().where('kind', '=', 'grant').execute()).length, 2, 'the initial grants only');
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('migrates a new SQLite file once when several processes start on it together', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-cli-'));
    try {
      const runs = await Promise.all(Array.from({ length: 8 }, () => runAsync(['migrate'], { OPENROW_DATA_DIR: dir })));
      for (const r of runs) assert.equal(r.status, 0, r.stderr);
      const applied = runs.flatMap((r) => JSON.parse(r.stdout).applied as string[]);
      assert.equal(new Set(applied).size, applied.length, 'every migration applied by one process only');
      assert.ok(applied.length > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
