// Openrow processes as an operator runs them: two servers starting together on an empty database, and a
// stop that is graceful but bounded (a second signal ends the process at once).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/db.js';
import { spawnOpenrow, type OpenrowProcess } from '../support/processes.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'openrow.js');

function exited(p: OpenrowProcess): Promise<number | null> {
  if (p.child.exitCode !== null) return Promise.resolve(p.child.exitCode);
  return new Promise((resolve) => p.child.once('exit', (code) => resolve(code)));
}

describe('openrow processes', () => {
  it('creates one default account when two servers start together on an empty database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-life-'));
    const env = { OPENROW_DATA_DIR: dir, OPENROW_DATABASE_URL: '', OPENROW_PORT: '0' };
    // migrated first, so that both reach the first-start check at about the same time
    assert.equal(spawnSync(process.execPath, [BIN, 'migrate'], { env: { ...process.env, ...env }, encoding: 'utf8' }).status, 0);
    const servers = await Promise.all([spawnOpenrow('serve', env), spawnOpenrow('serve', env)]);
    try {
      const created = servers.filter((s) => /created the default account/.test(s.output()));
      assert.equal(created.length, 1, servers.map((s) => s.output()).join('\n---\n'));
      const store = await openStore({ url: join(dir, 'openrow.sqlite'), backgroundCheckpoints: false });
      try {
        assert.equal((await store.db.selectFrom('accounts').selectAll().execute()).length, 1);
        assert.equal((await store.db.selectFrom('api_keys').selectAll().execute()).length, 2, 'one live and one test key');
      } finally {
        await store.close();
      }
    } finally {
      await Promise.all(servers.map((s) => s.kill()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops gracefully on SIGTERM, and at once on a second one while work is in flight', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-life-'));
    const server = await spawnOpenrow('serve', { OPENROW_DATA_DIR: dir, OPENROW_DATABASE_URL: '', OPENROW_PORT: '0' });
    try {
      const testKey = /test API key: (\S+)/.exec(server.output())![1]!;
      // the start-up line says which database is in use (an empty OPENROW_DATABASE_URL is the SQLite default)
      assert.ok(server.output().includes(`database: SQLite ${join(dir, 'openrow.sqlite')})`), server.output());
      // the first start's suggested search uses the test key (the sandbox world, not the Internet) and works
      const suggested = /curl -s (\S+\/email\/verify\/single) -H 'x-api-key: (\S+)' .* -d '(.+)'/.exec(server.output());
      assert.ok(suggested, server.output());
      assert.equal(suggested[2], testKey);
      const first = await fetch(suggested[1]!, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': suggested[2]! }, body: suggested[3] });
      assert.equal(first.status, 200, await first.text());
      // schema compiler warnings are not what an operator should read first
      assert.doesNotMatch(server.output(), /strict mode/);
      // the sandbox's tarpit accepts the SMTP connection and never answers: the search stays in flight
      const r = await fetch(`${server.url}/email/verify/single`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': testKey },
        body: JSON.stringify({ email: 'someone@tarpit.test' }),
      });
      assert.equal(r.status, 200, await r.text());
      await new Promise((res) => setTimeout(res, 1500));
      const code = exited(server);
      server.child.kill('SIGTERM');
      await waitForOutput(server, /SIGTERM: stopping/);
      assert.equal(server.child.exitCode, null, 'still finishing the search in flight');
      const t0 = Date.now();
      server.child.kill('SIGTERM');
      assert.equal(await code, 1);
      assert.ok(Date.now() - t0 < 5000, 'the second signal ended it at once');
      assert.match(server.output(), /SIGTERM again: exiting now/);
    } finally {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops the server when a supervisor sends SIGTERM to `npm start`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-life-'));
    // a group of its own, so that whatever the test's outcome, cleanup reaches npm and the server alike
    const npm = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['start'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, OPENROW_DATA_DIR: dir, OPENROW_DATABASE_URL: '', OPENROW_PORT: '0', OPENROW_LOG_LEVEL: 'warn', OPENROW_DNS_SERVERS: '127.0.0.1:1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    try {
      const end = Date.now() + 60_000;
      while (!/Openrow listening on (\S+)/.test(out)) {
        if (Date.now() > end || npm.exitCode !== null) throw new Error(`npm start did not come up:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /Openrow listening on (\S+)/.exec(out)![1]!;
      const npmExit = new Promise((r) => npm.once('exit', r));
      // the signal goes to npm alone, as a process manager sends it: the server must get it too
      npm.kill('SIGTERM');
      await npmExit;
      const stopped = Date.now() + 15_000;
      let answering = true;
      while (answering && Date.now() < stopped) {
        answering = await fetch(`${url}/healthz`).then(() => true, () => false);
        if (answering) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(answering, false, `the server outlived npm:\n${out}`);
      assert.match(out, /SIGTERM: stopping/, 'a graceful stop, not a kill');
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // the whole group has exited already
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function waitForOutput(p: OpenrowProcess, re: RegExp, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!re.test(p.output())) {
    if (Date.now() > end) throw new Error(`no ${re} in:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
