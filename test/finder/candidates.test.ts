import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PATTERNS, buildLocal, candidateLocalParts, parseName, patternWeights, patternsMatching } from '../../src/engines/finder/index.js';

const ANCHOR_PATTERNS = ['first.last', 'first', 'flast', 'f.last', 'firstlast', 'firstl', 'first_last', 'last', 'first-last', 'last.first', 'lastfirst', 'lastf', 'l.first', 'fl', 'first.m.last'];

test('every pattern of ANCHORS.md is supported, and at least 16 in all', () => {
  for (const p of ANCHOR_PATTERNS) assert.ok(PATTERNS.includes(p), p);
  assert.ok(PATTERNS.length >= 16);
});

test('each pattern builds the expected local part', () => {
  const f = { first: 'dwight', last: 'schrute', middle: 'k', weight: 1 };
  const expected: Record<string, string> = {
    'first.last': 'dwight.schrute', first: 'dwight', flast: 'dschrute', 'f.last': 'd.schrute', firstlast: 'dwightschrute',
    firstl: 'dwights', first_last: 'dwight_schrute', last: 'schrute', 'first-last': 'dwight-schrute', 'last.first': 'schrute.dwight',
    lastfirst: 'schrutedwight', lastf: 'schruted', 'l.first': 's.dwight', fl: 'ds', 'first.m.last': 'dwight.k.schrute',
    last_first: 'schrute_dwight', 'last.f': 'schrute.d', 'first.l': 'dwight.s',
  };
  assert.deepEqual(Object.keys(expected).sort(), [...PATTERNS].sort());
  for (const [p, local] of Object.entries(expected)) assert.equal(buildLocal(p, f), local, p);
  assert.equal(buildLocal('first.m.last', { ...f, middle: '' }), null, 'no middle name, no first.m.last');
  assert.equal(buildLocal('flast', { ...f, last: '' }), null);
  assert.equal(buildLocal('first', { ...f, last: '' }), 'dwight');
});

test('candidates are deduplicated and follow the global prior without evidence', () => {
  const c = candidateLocalParts(parseName({ fullname: 'Dwight Schrute' }));
  assert.deepEqual(c.slice(0, 4).map((x) => x.local), ['dwight.schrute', 'dwight', 'dschrute', 'd.schrute']);
  assert.equal(new Set(c.map((x) => x.local)).size, c.length);
  assert.equal(c.length, PATTERNS.length - 1, 'all patterns but first.m.last (no middle name)');
  for (const x of c) assert.match(x.local, /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/);
});

test('a name whose patterns collide yields each local part once', () => {
  const c = candidateLocalParts(parseName({ fullname: 'Li Li' }));
  assert.equal(new Set(c.map((x) => x.local)).size, c.length);
  assert.ok(c.length < PATTERNS.length);
});

test("a domain's proven pattern outranks every prior, for every reading of the name", () => {
  const name = parseName({ fullname: 'Jean-Pierre van der Berg' });
  const c = candidateLocalParts(name, patternWeights({ lastf: 2 }));
  const firstNonLearned = c.findIndex((x) => x.pattern !== 'lastf');
  assert.ok(firstNonLearned >= 2);
  assert.ok(c.slice(0, firstNonLearned).every((x) => x.pattern === 'lastf'));
  assert.equal(c[0]!.local, 'vanderbergj');
});

test('country habits reorder the prior (flast rises for .us, f.last for .de)', () => {
  const name = parseName({ fullname: 'Anna Schmidt' });
  const rank = (cc: string, local: string) => candidateLocalParts(name, patternWeights({}, cc)).findIndex((x) => x.local === local);
  assert.ok(rank('de', 'a.schmidt') < rank('us', 'a.schmidt'));
  assert.ok(rank('us', 'aschmidt') < rank('de', 'aschmidt'));
});

test('patternsMatching tells which patterns an address follows', () => {
  const name = parseName({ fullname: 'Dwight Schrute' });
  assert.deepEqual(patternsMatching(name, 'd.schrute'), ['f.last']);
  assert.deepEqual(patternsMatching(name, 'DSchrute'), ['flast']);
  assert.deepEqual(patternsMatching(name, 'boss'), []);
  assert.deepEqual(patternsMatching(parseName({ fullname: 'Li Li' }), 'li.li').sort(), ['first.last', 'last.first']);
});
