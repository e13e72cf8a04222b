// The built-in sandbox world lists people with the address a finder must find (or null): the finder
// must agree with every one of them, the greylisting domain and the one-RCPT-per-session one included.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { builtinWorld } from '../../src/sandbox/index.js';
import type { FindResult } from '../../src/engines/types.js';
import { startFinderWorld, type FinderWorld } from './finder-world.js';

const world = builtinWorld();
let w: FinderWorld;
before(async () => {
  w = await startFinderWorld(world);
});
after(() => w.close());

/** Re-runs a search the way the queue does, after the wait the world's greylisting needs (2 s). */
async function search(fullname: string, domain: string): Promise<FindResult> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const outcome = await w.find({ fullname, company_domain: domain }, attempt);
    if (outcome.kind === 'done') return outcome.result;
    await sleep(2_200);
  }
  throw new Error(`${fullname} at ${domain}: still asking for a retry after 3 attempts`);
}

test('every person of the built-in world is found, or not found, as the world says', async () => {
  const people = world.people ?? [];
  assert.ok(people.length >= 15);
  for (const p of people) {
    const r = await search(p.fullname, p.domain);
    assert.equal(r.email, p.email ?? null, `${p.fullname} at ${p.domain}: ${r.details.reason}`);
    assert.equal(r.qualification, p.email ? 'valid' : 'invalid');
    if (p.email && p.pattern) assert.equal(r.details.pattern, p.pattern, p.fullname);
  }
});

test('a name followed by thousands of characters finds the address but is not learned into the directory', async () => {
  // on PostgreSQL such a directory row overflows an index entry: the failed write held back the answer
  // a world of its own: in the shared one, Jim Halpert is in the directory already, so nothing would be added
  const fresh = await startFinderWorld(world);
  const junk = 'qzxwvkjhgfdsplmnbtrcy'.repeat(400);
  const learned: string[] = [];
  const addContact = fresh.knowledge.addContact.bind(fresh.knowledge);
  fresh.knowledge.addContact = async (c) => {
    learned.push(c.fullname);
    return addContact(c);
  };
  try {
    const outcome = await fresh.find({ fullname: `Jim Halpert ${junk}`, company_domain: 'acme.test' });
    assert.equal(outcome.kind === 'done' && outcome.result.email, 'jim.halpert@acme.test');
    assert.deepEqual(learned, []);
    // the same person under a real name is learned as before
    await fresh.find({ fullname: 'Jim Halpert', company_domain: 'acme.test' });
    assert.deepEqual(learned, ['Jim Halpert']);
  } finally {
    await fresh.close();
  }
});
