// `npm run bench`: every benchmark, one after the other (they would disturb each other in parallel),
// each printing its figures and its ratio against a baseline measured in the same run.
// `npm run bench -- api webhooks` runs a subset.
const BENCHES: Record<string, () => Promise<Record<string, number | string>>> = {
  api: async () => (await import('./api.js')).runApiBench(),
  verifier: async () => (await import('./verifier.js')).runVerifierBench(),
  webhooks: async () => (await import('./webhooks.js')).runWebhookBench(),
  'webhooks-db': async () => (await import('./webhooks-db.js')).runWebhookDbBench(),
  finder: async () => (await import('./finder.js')).runFinderBench(),
};

const wanted = process.argv.slice(2).filter((a) => a in BENCHES);
let failed = false;
for (const name of wanted.length ? wanted : Object.keys(BENCHES)) {
  process.stdout.write(`\n== ${name} ==\n`);
  try {
    console.table(await BENCHES[name]!());
  } catch (err) {
    failed = true;
    process.stdout.write(`${name} bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  }
}
process.exit(failed ? 1 : 0);
