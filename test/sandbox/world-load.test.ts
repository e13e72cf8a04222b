// Loading and validating world files: YAML and JSON, from a path or as text, and errors that name the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWorld, builtinWorld, BUILTIN_WORLD_YAML, flaggedDomains, planWorld, startSandbox, WorldError } from '../../src/sandbox/index.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WorldError, `expected a WorldError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the world to be rejected');
}

test('a world loads from YAML text, from a YAML file and from a JSON file', () => {
  const fromText = loadWorld('domains:\n  a.test:\n    mailboxes: [x]\n');
  assert.deepEqual(fromText, { domains: { 'a.test': { mailboxes: ['x'] } } });
  const dir = mkdtempSync(join(tmpdir(), 'openrow-world-'));
  try {
    const yamlPath = join(dir, 'w.yaml');
    writeFileSync(yamlPath, 'domains:\n  a.test:\n  b.test: {catch_all: true}\n');
    assert.deepEqual(loadWorld(yamlPath), { domains: { 'a.test': {}, 'b.test': { catch_all: true } } });
    const jsonPath = join(dir, 'w.json');
    writeFileSync(jsonPath, JSON.stringify({ domains: { 'c.test': { mx: 'null' } }, hosts: { 'mx.d.test': { refuse: true } } }));
    assert.deepEqual(loadWorld(jsonPath), { domains: { 'c.test': { mx: 'null' } }, hosts: { 'mx.d.test': { refuse: true } } });
    assert.deepEqual(problemsOf(() => loadWorld(join(dir, 'missing.yaml'))), [`world file not found: ${join(dir, 'missing.yaml')}`]);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'domains: [unclosed\n');
    assert.match(problemsOf(() => loadWorld(broken))[0]!, /^not valid YAML or JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every bad field is reported with its path, all at once', () => {
  const problems = problemsOf(() =>
    loadWorld(`
domains:
  Upper.test: {}
  a.test:
    catchall: true
    greylist_seconds: -1
    max_rcpts_per_session: 1.5
    policy_block: ''
    rcpt_reply: 'try later'
    delays_ms: {banner: fast, helo2: 10}
    mx: [{host: mx.a.test}]
    mail_host: false
    a: [not-an-ip]
    mailboxes: [Has Space]
  b.test:
    mx: []
hosts:
  mx.a.test: {address: 10.0.0.1, refuse: yes}
  mx.b.test: {address: 127.0.0.9}
  mx.c.test: {address: 127.0.0.9}
people:
  - {fullname: '', domain: nowhere.test}
  - {fullname: A B, domain: a.test, email: a.b@b.test, phone: '+1555', linkedin_url: 'http://linkedin.com/in/x'}
`),
  );
  const expectations = [
    /^domains\["Upper\.test"\]: "Upper\.test" is not a lower-case domain name$/,
    /^domains\["a\.test"\]\.catchall is not a known field/,
    /^domains\["a\.test"\]\.greylist_seconds must be a number > 0 \(got -1\)$/,
    /^domains\["a\.test"\]\.max_rcpts_per_session must be an integer >= 1 \(got 1\.5\)$/,
    /^domains\["a\.test"\]\.policy_block must be true, false or a reply text/,
    /^domains\["a\.test"\]\.rcpt_reply must be a reply line: a 3-digit code, a space and a text/,
    /^domains\["a\.test"\]\.delays_ms\.helo2 is not a known field/,
    /^domains\["a\.test"\]\.delays_ms\.banner must be an integer >= 0 \(got "fast"\)$/,
    /^domains\["a\.test"\]\.mx\[0\]\.preference must be an integer >= 0/,
    /^domains\["a\.test"\]\.mail_host only applies with mx: null/,
    /^domains\["a\.test"\]\.a\[0\] must be IPv4 addresses/,
    /^domains\["a\.test"\]\.mailboxes\[0\] must be lower-case local parts/,
    /^domains\["b\.test"\]\.mx must be a non-empty list of \{host, preference\}/,
    /^hosts\["mx\.a\.test"\]\.address must be an IPv4 loopback address/,
    /^hosts\["mx\.a\.test"\]\.refuse must be true or false \(got "yes"\)$/,
    /^hosts\["mx\.c\.test"\]\.address 127\.0\.0\.9 is already the address of host mx\.b\.test$/,
    /^people\[0\]\.fullname must be a non-empty string/,
    /^people\[0\]\.domain must be one of the world's domains/,
    /^people\[1\]\.email a\.b@b\.test is not at the person's domain "a\.test"$/,
    /^people\[1\]\.phone must be a valid E\.164 number/,
    /^people\[1\]\.linkedin_url must be a https:\/\/www\.linkedin\.com\/in\/<slug> URL/,
  ];
  for (const re of expectations) assert.ok(problems.some((p) => re.test(p)), `no problem matches ${re}; got:\n${problems.join('\n')}`);
  assert.equal(problems.length, expectations.length, problems.join('\n'));
});

test('a world without domains, or not a map, is rejected', () => {
  assert.match(problemsOf(() => loadWorld('domains: {}\n'))[0]!, /^domains must be a non-empty map/);
  assert.match(problemsOf(() => loadWorld('[1, 2]'))[0]!, /must be a map with a "domains" key/);
  assert.match(problemsOf(() => loadWorld('domains:\n  a.test: {}\nzones: {}\n'))[0]!, /^world\.zones is not a known field/);
});

test('domains sharing a host must agree on session-level behaviour, or the host decides', () => {
  const conflicting = loadWorld(`
domains:
  a.test: {mx: [{host: mx.shared.test, preference: 1}], tarpit: true}
  b.test: {mx: [{host: mx.shared.test, preference: 1}], tarpit: false}
`);
  const problems = problemsOf(() => planWorld(conflicting));
  assert.match(problems[0]!, /^host mx\.shared\.test serves domains with different tarpit \(a\.test: true, b\.test: false\); set hosts\["mx\.shared\.test"\]\.tarpit$/);
  conflicting.hosts = { 'mx.shared.test': { tarpit: false } };
  assert.equal(planWorld(conflicting).hosts[0]!.tarpit, false);
});

test('startSandbox refuses a host address base outside loopback', async () => {
  await assert.rejects(startSandbox({ world: loadWorld('domains:\n  a.test: {}\n'), hostAddressBase: '192.0.2.1' }), /hostAddressBase must be an IPv4 loopback address/);
});

test('the built-in world is valid, is examples/world.yaml byte for byte, and each call returns a fresh copy', () => {
  const file = join(import.meta.dirname, '..', '..', 'examples', 'world.yaml');
  assert.equal(readFileSync(file, 'utf8'), BUILTIN_WORLD_YAML, 'examples/world.yaml and src/sandbox/builtin-world.ts differ');
  assert.deepEqual(loadWorld(file), builtinWorld());
  const w = builtinWorld();
  w.domains['deliverable.test']!.mailboxes!.push('mutated');
  assert.ok(!builtinWorld().domains['deliverable.test']!.mailboxes!.includes('mutated'));
});

test('the built-in world has the documented domains and finder people with several patterns', () => {
  const w = builtinWorld();
  for (const d of ['deliverable.test', 'undeliverable.test', 'catchall.test', 'greylist.test', 'full.test', 'disabled.test', 'blocked.test', 'nomx.test', 'nullmx.test', 'backupmx.test', 'slow.test', 'tarpit.test', 'disposable.test', 'freemail.test', 'acme.test', 'globex.test', 'initech.test', 'umbrella.test']) {
    assert.ok(w.domains[d], `missing ${d}`);
  }
  assert.equal(w.domains['disposable.test']!.disposable, true);
  assert.equal(w.domains['freemail.test']!.free_provider, true);
  assert.equal(w.domains['greylist.test']!.greylist_seconds, 2);
  const people = w.people!;
  const patterns = new Set(people.filter((p) => p.email).map((p) => p.pattern));
  for (const p of ['first.last', 'flast', 'first', 'first_last', 'f.last', 'firstlast']) assert.ok(patterns.has(p), `no person with pattern ${p}`);
  assert.ok(people.some((p) => p.fullname === 'José García' && p.email === 'jose.garcia@acme.test'));
  assert.ok(people.some((p) => p.fullname === 'Ludwig van Beethoven' && p.email === 'ludwig.vanbeethoven@acme.test'));
  assert.ok(people.filter((p) => p.phone && p.linkedin_url).length >= 2);
  assert.ok(people.some((p) => p.linkedin_url && !p.phone), 'a LinkedIn URL whose phone is not found');
  assert.ok(people.some((p) => p.email === null), 'a person the finder must not find');
});

test('flaggedDomains lists the disposable and free-provider domains of a world', () => {
  assert.deepEqual(flaggedDomains(builtinWorld()), { disposable: ['disposable.test'], freeProvider: ['freemail.test'] });
});
