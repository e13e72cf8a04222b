// Runs every test file under test/ with node's own test runner (its closing "# pass / # fail" lines are
// what CI reads). Node 20's --test takes no globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}
const only = process.argv.slice(2);
const files = only.length ? only : walk('test').sort();
const r = spawnSync(process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, OPENROW_LOG_LEVEL: process.env.OPENROW_LOG_LEVEL ?? 'silent' } });
process.exit(r.status ?? 1);
