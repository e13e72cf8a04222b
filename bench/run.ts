// `npm run bench`: every benchmark, one after the other (they would disturb each other in parallel),
// each in a process of its own so memory figures and JIT state are its own. Each prints its figures
// and its ratio against a baseline measured in the same run. `npm run bench -- api webhooks` runs a subset.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const BENCHES: Record<string, string[]> = {
  api: ['api.ts'],
  verifier: ['verifier.ts'],
  webhooks: ['webhooks.ts'],
  'webhooks-db': ['webhooks-db.ts'],
  'webhooks-pg': ['webhooks-db.ts', '--postgres'],
  'outbox-sql': ['outbox-sql.ts'],
  'queue-claim': ['queue-claim.ts'],
  finder: ['finder.ts'],
};

const wanted = process.argv.slice(2).filter((a) => a in BENCHES);
let failed = false;
for (const name of wanted.length ? wanted : Object.keys(BENCHES)) {
  process.stdout.write(`\n== ${name} ==\n`);
  // the V8 flags `openrow serve` runs with (bin/openrow.js), so figures are those of the real server
  const [file, ...args] = BENCHES[name]!;
  const r = spawnSync(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', join(import.meta.dirname, file!), ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed = true;
    process.stdout.write(`${name} bench failed (exit ${r.status})\n`);
  }
}
process.exit(failed ? 1 : 0);
