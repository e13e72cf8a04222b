import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseName, foldToAscii } from '../../src/engines/finder/index.js';

const lasts = (n: ReturnType<typeof parseName>) => [...new Set(n.forms.map((f) => f.last))];
const firsts = (n: ReturnType<typeof parseName>) => [...new Set(n.forms.map((f) => f.first))];

test('titles and suffixes are dropped; info keeps the original spelling', () => {
  const n = parseName({ fullname: '  Dr.  José   Álvarez Jr. ' });
  assert.equal(n.firstname, 'José');
  assert.equal(n.lastname, 'Álvarez');
  assert.equal(n.fullname, 'Dr. José Álvarez Jr.');
  assert.deepEqual(n.forms[0], { first: 'jose', last: 'alvarez', middle: '', weight: 1 });
  for (const suffix of ['III', 'PhD', 'MBA', 'Sr.', 'II']) {
    assert.equal(parseName({ fullname: `Prof Ann Lee ${suffix}` }).lastname, 'Lee', suffix);
  }
  assert.equal(parseName({ fullname: 'Mrs Ann Lee' }).firstname, 'Ann');
});

test('transliteration: NFKD marks, ß ø æ ł, Cyrillic and Greek', () => {
  assert.equal(foldToAscii('Straße'), 'strasse');
  assert.equal(foldToAscii('Søren'), 'soren');
  assert.equal(foldToAscii('Æsa'), 'aesa');
  assert.equal(foldToAscii('Łukasz'), 'lukasz');
  assert.equal(foldToAscii('François Ñúñez'), 'francois nunez');
  assert.equal(foldToAscii('Дмитрий'), 'dmitriy');
  assert.equal(foldToAscii('Иванов'), 'ivanov');
  assert.match(foldToAscii('Γιώργος'), /^giorgos$/);
  assert.equal(foldToAscii("O'Neil"), 'oneil');
  assert.equal(foldToAscii('D’Angelo'), 'dangelo');
});

test('German umlauts give both spellings, each used consistently across the name', () => {
  const n = parseName({ fullname: 'Jürgen Müller' });
  const pairs = n.forms.map((f) => `${f.first} ${f.last}`);
  assert.deepEqual(pairs.slice(0, 2), ['jurgen muller', 'juergen mueller']);
  assert.ok(!pairs.includes('juergen muller'));
});

test('particles are tried with and without', () => {
  assert.deepEqual(lasts(parseName({ fullname: 'Jan van der Berg' })), ['vanderberg', 'berg']);
  assert.deepEqual(lasts(parseName({ fullname: 'Maria de la Cruz' })), ['delacruz', 'cruz']);
  assert.deepEqual(lasts(parseName({ fullname: 'Ahmed al-Rashid' })), ['alrashid', 'rashid']);
  assert.deepEqual(lasts(parseName({ fullname: 'Ursula von Leyen' })), ['vonleyen', 'leyen']);
  const n = parseName({ fullname: 'Jan van der Berg' });
  assert.equal(n.firstname, 'Jan');
  assert.equal(n.lastname, 'van der Berg');
});

test('hyphenated given names: jean-pierre, jeanpierre, jp, jean', () => {
  const n = parseName({ fullname: 'Jean-Pierre Dupont' });
  assert.deepEqual(firsts(n).sort(), ['jean', 'jean-pierre', 'jeanpierre', 'jp']);
  assert.equal(n.forms[0]!.first, 'jean-pierre');
  assert.deepEqual(firsts(parseName({ first_name: 'Jean Pierre', last_name: 'Dupont' })).sort(), ['jean', 'jean-pierre', 'jeanpierre', 'jp']);
});

test('Iberian double surnames: each and both; the country decides which reading leads', () => {
  const us = parseName({ fullname: 'Gabriel García Márquez' });
  assert.ok(['marquez', 'garcia', 'garciamarquez', 'garcia-marquez'].every((l) => lasts(us).includes(l)));
  assert.equal(us.forms[0]!.last, 'marquez', 'elsewhere a middle name is likelier');
  assert.equal(us.forms[0]!.middle, 'g');
  const es = parseName({ fullname: 'Gabriel García Márquez', country_code: 'ES' });
  assert.equal(es.lastname, 'García Márquez');
  assert.equal(es.forms[0]!.last, 'garciamarquez');
  assert.equal(es.forms[1]!.last, 'garcia');
  const fields = parseName({ first_name: 'José', last_name: 'García López' });
  assert.deepEqual(lasts(fields).sort(), ['garcia', 'garcia-lopez', 'garcialopez', 'lopez']);
  assert.equal(parseName({ fullname: 'Ana Smith-Jones' }).forms[0]!.last, 'smithjones');
  assert.ok(lasts(parseName({ fullname: 'Ana Smith-Jones' })).includes('smith-jones'));
});

test('middle names give a middle initial; an initial never becomes half a surname', () => {
  const n = parseName({ fullname: 'John F. Kennedy' });
  assert.deepEqual(n.forms, [{ first: 'john', last: 'kennedy', middle: 'f', weight: 1 }]);
  assert.equal(n.lastname, 'Kennedy');
});

test('"Last, First" order and one-word names', () => {
  const n = parseName({ fullname: 'Schrute, Dwight' });
  assert.equal(n.firstname, 'Dwight');
  assert.equal(n.lastname, 'Schrute');
  const one = parseName({ fullname: 'Prince' });
  assert.deepEqual(one.forms.map((f) => [f.first, f.last]), [['prince', '']]);
  assert.deepEqual(parseName({ fullname: '  ' }).forms, []);
  assert.deepEqual(parseName({ fullname: '!!!' }).forms, []);
});

test('first_name + last_name: fullname built from them, fullname wins when both are given', () => {
  const n = parseName({ first_name: 'Dwight', last_name: 'Schrute' });
  assert.equal(n.fullname, 'Dwight Schrute');
  assert.equal(parseName({ fullname: 'Pam Beesly', first_name: 'X', last_name: 'Y' }).firstname, 'Pam');
});
