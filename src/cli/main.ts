// `openrow` — the operator's command line. Commands print JSON where a script would read them.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command } from 'commander';
import { loadConfig, ConfigError, describeDatabase, type Config } from '../config.js';
import { migrateStore, openStore } from '../store/db.js';
import { isPostgresUrl } from '../store/database-url.js';
import { AmbiguousKeyPrefix, BalanceLimit, createAccount, createApiKey, createFirstAccount, getAccount, grantCredits, listAccounts, listApiKeys, revokeApiKey } from '../store/accounts.js';
import { toCents, fromCents } from '../domain/money.js';
import { startOpenrow } from '../app.js';
import type { DbKnowledgeStore } from '../store/knowledge.js';

function config(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`openrow: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

const print = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n');

/** A command used wrongly: said on stderr, exit 2 (as for a configuration error), nothing written. */
class UsageError extends Error {}

/** A credit amount from an option (`12.5`), in cents; `what` names the option in the error. */
function creditAmount(raw: string, what: string): number {
  try {
    return toCents(raw);
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
}

/** A whole number within bounds, from an option; `what` names the option in the error. */
function wholeNumber(raw: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) throw new UsageError(`${what} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return Number(raw);
}

/**
 * `create`: the command may start a new database (creating an account, importing a directory); the others
 * act on data that must already be there, so a misspelt OPENROW_DATABASE_URL is an error rather than a new,
 * empty database that answers `[]` or revokes nothing.
 */
async function withStore<T>(fn: (store: Awaited<ReturnType<typeof openStore>>) => Promise<T>, opts: { create?: boolean } = {}): Promise<T> {
  const url = config().databaseUrl;
  if (!isPostgresUrl(url) && !existsSync(url)) {
    if (!opts.create) throw new Error(`no Openrow database at ${url} (check OPENROW_DATABASE_URL or OPENROW_DATA_DIR; \`openrow serve\` or \`openrow migrate\` creates one)`);
    process.stderr.write(`openrow: a new database at ${url}\n`);
  }
  // one-shot commands: the commit-time checkpoint is fine, a checkpoint thread would only cost start-up
  const store = await openStore({ url, sqliteSync: config().sqliteSync, backgroundCheckpoints: false });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

// How long a graceful stop may take before the process exits anyway. Work still running then is not
// lost: its lease lapses and another worker (or this one, restarted) takes it up again.
const SHUTDOWN_GRACE_MS = 30_000;

/** First SIGINT/SIGTERM: a graceful stop, bounded; a second one: exit at once. */
function onSignals(close: () => Promise<void>, log?: { warn(o: object, msg: string): void; error(o: object, msg: string): void }) {
  let closing = false;
  const stop = (signal: string) => {
    if (closing) {
      process.stderr.write(`openrow: ${signal} again: exiting now; work in flight resumes from its lease\n`);
      process.exit(1);
    }
    closing = true;
    process.stderr.write(`openrow: ${signal}: stopping (finishing work in flight, at most ${SHUTDOWN_GRACE_MS / 1000} s; ${signal} again to exit now)\n`);
    const force = setTimeout(() => {
      log?.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'graceful stop took too long: exiting; work in flight resumes from its lease');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    close().then(
      () => process.exit(0),
      (err) => {
        log?.error({ err }, 'error while stopping');
        process.stderr.write(`openrow: error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

const program = new Command('openrow').description('Self-hosted, Enrow-compatible contact-finding API');
// Commander's own usage errors (unknown option or command, missing value or required option) exit 2
// like ours, having printed their message; help and version keep status 0. Set before any command is
// declared: subcommands inherit it.
program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('serve')
  .description('run the HTTP API and the workers in one process')
  .action(async () => {
    const cfg = config();
    const running = await startOpenrow(cfg, { api: true, workers: true });
    // A newcomer can make a request at once: the first start creates an account and shows its key once.
    const first = await createFirstAccount(running.store, { name: 'default', subCents: 100 * 100 });
    if (first) {
      const { account, apiKey, testApiKey } = first;
      process.stdout.write(
        `\nOpenrow: created the default account ${account.id} with 100 credits.\n` +
          `  live API key: ${apiKey}\n  test API key: ${testApiKey}  (runs against the built-in sandbox world)\n` +
          `  These keys are shown once; store them now.\n` +
          `  Try: curl -s ${running.url}/account/info -H 'x-api-key: ${apiKey}'\n` +
          // a first search that stays on this machine: the test key's sandbox world, not the Internet
          `       curl -s ${running.url}/email/verify/single -H 'x-api-key: ${testApiKey}' -H 'content-type: application/json' -d '{"email":"valid@deliverable.test"}'\n\n`,
      );
    }
    running.log.info({ url: running.url }, 'openrow listening');
    // the database is named: an empty or misspelt OPENROW_DATABASE_URL would otherwise pass for PostgreSQL
    process.stdout.write(`Openrow listening on ${running.url} (dashboard: ${running.url}/dashboard; database: ${describeDatabase(cfg.databaseUrl)})\n`);
    onSignals(running.close, running.log);
  });

program
  .command('worker')
  .description('run workers only (scale out next to `openrow serve`)')
  .action(async () => {
    const cfg = config();
    const running = await startOpenrow(cfg, { api: false, workers: true });
    running.log.info({ owner: running.worker?.owner }, 'openrow worker started');
    process.stdout.write(`Openrow worker started (${running.worker ? running.worker.owner : 'no search workers: OPENROW_WORKER_CONCURRENCY is 0'}; database: ${describeDatabase(cfg.databaseUrl)})\n`);
    onSignals(running.close, running.log);
  });

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    const store = await openStore({ url: config().databaseUrl, sqliteSync: config().sqliteSync, migrate: false, backgroundCheckpoints: false });
    try {
      print({ applied: await migrateStore(store) });
    } finally {
      await store.close();
    }
  });

const accounts = program.command('accounts').description('manage accounts');
accounts
  .command('create')
  .requiredOption('--name <name>', 'account name')
  .option('--credits <credits>', 'subscription credits', '0')
  .option('--paygo <credits>', 'pay-as-you-go credits', '0')
  .action(async (o: { name: string; credits: string; paygo: string }) => {
    if (!o.name.trim()) throw new UsageError('--name must not be empty');
    const subCents = creditAmount(o.credits, '--credits');
    const paygoCents = creditAmount(o.paygo, '--paygo');
    await withStore(async (store) => {
      const { account, apiKey, keyId } = await createAccount(store, { name: o.name, subCents, paygoCents });
      print({ account_id: account.id, api_key: apiKey, key_id: keyId, credits: { sub: fromCents(account.sub_cents), paygo: fromCents(account.paygo_cents) } });
    }, { create: true });
  });
accounts.command('list').action(async () => {
  await withStore(async (store) => {
    print(
      (await listAccounts(store)).map((a) => ({
        account_id: a.id,
        name: a.name,
        credits: { sub: fromCents(a.sub_cents), paygo: fromCents(a.paygo_cents), test: fromCents(a.test_cents) },
        webhook_url: a.webhook_url,
        created_at: new Date(a.created_at).toISOString(),
      })),
    );
  });
});

const keys = program.command('keys').description('manage API keys');
keys
  .command('create')
  .requiredOption('--account <id>', 'account id')
  .option('--test', 'a test-mode key (runs against the sandbox world, spends the test balance)')
  .option('--name <name>')
  .option('--rate-limit <n>', 'POST requests per second for this key, 1 to 1,000,000 (default: OPENROW_RATE_LIMIT_PER_SEC, 10)')
  .action(async (o: { account: string; test?: boolean; name?: string; rateLimit?: string }) => {
    if (o.name !== undefined && !o.name.trim()) throw new UsageError('--name must not be empty');
    const rateLimitPerSec = o.rateLimit === undefined ? null : wholeNumber(o.rateLimit, '--rate-limit', 1, 1_000_000);
    await withStore(async (store) => {
      const r = await createApiKey(store, o.account, { mode: o.test ? 'test' : 'live', name: o.name, rateLimitPerSec });
      print({ key_id: r.keyId, api_key: r.apiKey, mode: o.test ? 'test' : 'live' });
    });
  });
keys
  .command('revoke <key>')
  .description('revoke a key by its id, its prefix as `keys list` shows it, or the whole key (a leaked one, pasted)')
  .action(async (id: string) => {
    await withStore(async (store) => {
      try {
        const ok = await revokeApiKey(store, id);
        print(ok ? { revoked: true } : { revoked: false, error: 'no active key has this id, prefix (the 12 characters `keys list` shows) or value' });
        if (!ok) process.exitCode = 1;
      } catch (err) {
        if (!(err instanceof AmbiguousKeyPrefix)) throw err;
        print({ revoked: false, error: err.message });
        process.exitCode = 1;
      }
    });
  });
keys
  .command('list')
  .option('--account <id>')
  .action(async (o: { account?: string }) => {
    await withStore(async (store) => {
      if (o.account && !(await getAccount(store, o.account))) throw new Error(`no such account: ${o.account}`);
      print(await listApiKeys(store, o.account));
    });
  });

const credits = program.command('credits').description('manage credits');
credits
  .command('grant')
  .requiredOption('--account <id>')
  .option('--sub <credits>', 'subscription credits to add', '0')
  .option('--paygo <credits>', 'pay-as-you-go credits to add', '0')
  .option('--test <credits>', 'test-mode credits to add', '0')
  .option('--note <text>')
  .action(async (o: { account: string; sub: string; paygo: string; test: string; note?: string }) => {
    const amounts = { subCents: creditAmount(o.sub, '--sub'), paygoCents: creditAmount(o.paygo, '--paygo'), testCents: creditAmount(o.test, '--test') };
    if (amounts.subCents === 0 && amounts.paygoCents === 0 && amounts.testCents === 0) throw new UsageError('nothing to grant: give --sub, --paygo or --test');
    await withStore(async (store) => {
      await grantCredits(store, o.account, amounts, o.note).catch((err: unknown) => {
        throw err instanceof BalanceLimit ? new UsageError(err.message) : err;
      });
      print({ granted: { sub: Number(o.sub), paygo: Number(o.paygo), test: Number(o.test) } });
    });
  });

// A file with any rejected row imports nothing (exit 1, the rows listed): fixed and run again, it then
// imports every row once, where a partial import followed by a re-run would have doubled the good rows.
// All rows or none: an import that fails half-way leaves the directory as it was.
async function importRows<T>(report: { rows: T[]; errors: unknown[] }, add: (knowledge: DbKnowledgeStore, row: T) => Promise<boolean>): Promise<void> {
  if (report.errors.length) {
    print({ imported: 0, rejected: report.errors, message: 'nothing imported: fix the rejected rows and run the import again' });
    process.exitCode = 1;
    return;
  }
  const { DbKnowledgeStore } = await import('../store/knowledge.js');
  const imported = await withStore((store) =>
    store.tx(async (trx) => {
      const knowledge = new DbKnowledgeStore({ db: trx });
      let n = 0;
      for (const row of report.rows) if (await add(knowledge, row)) n++;
      return n;
    }),
    { create: true },
  );
  print({ imported, already_present: report.rows.length - imported, rejected: [] });
}

const imports = program.command('import').description('import operator directories (CSV with a header row)');
imports
  .command('contacts <file>')
  .description('contacts directory: fullname, company_domain, email, phone, linkedin_url')
  .action(async (file: string) => {
    const { parseContactsCsvReport } = await import('../engines/finder/index.js');
    const { checkNumber, countryOfDomain, normalizeLinkedinUrl } = await import('../engines/phone/index.js');
    // read as the phone engine reads directory numbers: in the company's TLD country, else the US; the
    // directory is searched by the canonical profile URL, so that form is stored
    const checks = {
      phoneProblem: (phone: string, domain: string) => {
        const r = checkNumber(phone, countryOfDomain(domain) ?? 'US');
        return r.valid ? null : r.reason;
      },
      normalizeLinkedinUrl,
    };
    await importRows(parseContactsCsvReport(readFileSync(file, 'utf8'), checks), (knowledge, c) => knowledge.importContact(c));
  });
imports
  .command('companies <file>')
  .description('company directory: name, country, domain, aliases (separated by | or ;)')
  .action(async (file: string) => {
    const { parseCompaniesCsvReport } = await import('../engines/finder/index.js');
    await importRows(parseCompaniesCsvReport(readFileSync(file, 'utf8')), (knowledge, c) => knowledge.importCompany(c));
  });

program
  .command('sandbox')
  .description('run the sandbox world: a DNS server and SMTP servers on loopback (for tests, demos, development)')
  .option('--world <file>', 'world file (YAML or JSON); default: the built-in world')
  .option('--dns-host <ip>', 'DNS listen address', '127.0.0.1')
  .option('--dns-port <port>', 'DNS port (UDP and TCP); 0 picks one', '0')
  .option('--smtp-port <port>', 'SMTP port on every host address; default 25 as root, else a free one')
  .option('--host-base <ip>', 'first loopback address for MX hosts', '127.0.0.2')
  .option('--counters-port <port>', 'HTTP port for GET /counters; 0 picks one', '0')
  .action(async (o: { world?: string; dnsHost: string; dnsPort: string; smtpPort?: string; hostBase: string; countersPort: string }) => {
    const { startSandbox, builtinWorld, loadWorld, describeSandbox, WorldError } = await import('../sandbox/index.js');
    // a world file or an option the world refuses is a usage error like any other
    const asUsage = (err: unknown): never => {
      throw err instanceof WorldError ? new UsageError(err.message) : err;
    };
    const world = (() => {
      try {
        return o.world ? loadWorld(o.world) : builtinWorld();
      } catch (err) {
        return asUsage(err);
      }
    })();
    const port = (raw: string, what: string) => wholeNumber(raw, what, 0, 65535);
    // an address, never a name: a name would be looked up by the system resolver, off this machine
    if (!isIP(o.dnsHost)) throw new UsageError(`--dns-host must be an IP address, got "${o.dnsHost}"`);
    const smtpPort = o.smtpPort !== undefined ? port(o.smtpPort, '--smtp-port') : process.getuid?.() === 0 ? 25 : 0;
    const sb = await startSandbox({ world, dnsHost: o.dnsHost, dnsPort: port(o.dnsPort, '--dns-port'), smtpPort, hostAddressBase: o.hostBase, countersPort: port(o.countersPort, '--counters-port') }).catch(asUsage);
    process.stdout.write(`Openrow sandbox running\n${describeSandbox(sb, world)}\n\n`);
    const allow = [...new Set(Object.values(sb.hosts))].map((ip) => `${ip}/32`).join(',');
    process.stdout.write(`Point a server at it:\n  OPENROW_DNS_SERVERS=${sb.dnsServer} OPENROW_SMTP_PORT=${sb.smtpPort} OPENROW_SMTP_ALLOW_CIDRS=${allow} npm start\n`);
    onSignals(() => sb.close());
  });

program
  .command('doctor')
  .description('check outbound SMTP (port 25), DNS, reverse DNS and HELO name of this machine — it contacts real hosts')
  .option('--probe-domain <domain>', 'domain whose mail host is used for the port 25 check', 'gmail.com')
  .action(async (o: { probeDomain: string }) => {
    const { runDoctor } = await import('../engines/verifier/doctor.js');
    const e = config().engine;
    const report = await runDoctor({ dnsServers: e.dnsServers, smtpPort: e.smtpPort, heloName: e.heloName, mailFrom: e.mailFrom, connectTimeoutMs: e.connectTimeoutMs, proxy: e.proxy, allowCidrs: e.allowCidrs, probeDomain: o.probeDomain });
    print(report);
    if (!report.ok) process.exitCode = 1;
  });

program
  .command('demo')
  .description('the whole product offline: server + test key + sandbox world, one search of each kind, webhooks to a local receiver')
  .action(async () => {
    const { runDemo } = await import('./demo.js');
    await runDemo();
  });

program.parseAsync(process.argv).catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`openrow: configuration error: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof UsageError) {
    process.stderr.write(`openrow: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`openrow: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
