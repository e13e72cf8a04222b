// From a written name to the ASCII name forms that mailbox names are built from. A name is often
// ambiguous (is "García Márquez" one double surname or a middle name and a surname? is "van der
// Berg" filed as vanderberg or berg?), so the parser returns every reasonable reading as a weighted
// form; the search tries the likelier ones first. `info` keeps the name as the user wrote it.
import { foldToAscii, spellOutUmlauts } from './ascii-fold.js';

export interface NameForm {
  /** ASCII given name, lowercase; may hold a hyphen (jean-pierre) */
  first: string;
  /** ASCII surname, lowercase; '' when the input has only one name */
  last: string;
  /** initial of the first middle name, '' when none */
  middle: string;
  /** relative likelihood of this reading, 0..1 */
  weight: number;
}

export interface ParsedName {
  /** original spelling, titles and suffixes removed */
  firstname: string;
  lastname: string;
  /** the full name as given (whitespace collapsed) */
  fullname: string;
  /** ASCII readings, most likely first, deduplicated */
  forms: NameForm[];
}

export interface NameInput {
  fullname?: string;
  first_name?: string;
  last_name?: string;
  /** ISO alpha-2; Iberian and Latin American countries read two trailing names as a double surname */
  country_code?: string;
}

const TITLES = new Set([
  'mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof', 'professor', 'sir', 'dame', 'lord', 'lady', 'rev', 'hon',
  'mme', 'mlle', 'herr', 'frau', 'ing', 'dipl', 'sr', 'sra', 'srta', 'dott', 'dssa', 'capt', 'sgt',
]);
// 'sr' is both a Spanish title (señor) and a suffix (senior): position decides.
const SUFFIXES = new Set([
  'jr', 'sr', 'ii', 'iii', 'iv', 'phd', 'md', 'mba', 'esq', 'cpa', 'dds', 'jd', 'msc', 'bsc', 'ceng', 'dphil', 'llm', 'frcs', 'obe', 'mbe', 'cbe',
]);
const PARTICLES = new Set([
  'van', 'von', 'der', 'den', 'de', 'del', 'della', 'delle', 'dei', 'degli', 'di', 'da', 'das', 'dos', 'do', 'du', 'des', 'la', 'le', 'lo', 'los', 'las',
  'ter', 'ten', 'te', 'zu', 'zum', 'zur', 'al', 'el', 'bin', 'ibn', 'ap', 'af', 'av', 'y', 'st', 'saint', 'mac',
]);
// "al-Rashid", "el-Amin", "d'Alembert", "dell'Orto": a particle glued to the surname.
const GLUED_PARTICLE = /^(al|el|ad|ar|as|at|az|ash|an|ibn|bin|abu)-(.+)$|^(d|dell|l)['’](.+)$/i;
const IBERIAN = new Set(['ES', 'PT', 'MX', 'AR', 'CO', 'CL', 'PE', 'VE', 'EC', 'UY', 'PY', 'BO', 'CR', 'PA', 'DO', 'GT', 'HN', 'SV', 'NI', 'CU', 'PR', 'BR', 'AO', 'MZ']);

const bare = (token: string) => token.toLowerCase().replace(/[.,]/g, '');
const isTitle = (t: string) => TITLES.has(bare(t));
const isSuffix = (t: string) => SUFFIXES.has(bare(t));
const isParticle = (t: string) => PARTICLES.has(bare(t));

function tokens(text: string | undefined): string[] {
  return (text ?? '').replace(/[“”"()]/g, ' ').split(/\s+/).map((t) => t.replace(/^[.,]+|,+$/g, '')).filter((t) => t.length > 0);
}

function stripTitlesAndSuffixes(parts: string[]): string[] {
  const t = [...parts];
  while (t.length > 1 && isTitle(t[0]!)) t.shift();
  while (t.length > 1 && isSuffix(t[t.length - 1]!)) t.pop();
  return t;
}

/** "Schrute, Dwight" and "Smith, John, Jr." → given-name-first token order. */
function reorderComma(fullname: string): string[] {
  const chunks = fullname.split(',').map((c) => c.trim()).filter((c) => c.length > 0 && !tokens(c).every(isSuffix));
  if (chunks.length === 2) return [...tokens(chunks[1]), ...tokens(chunks[0])];
  return tokens(chunks.join(' '));
}

interface Weighted {
  value: string;
  weight: number;
}

function addVariant(list: Weighted[], value: string, weight: number) {
  if (!value || !/[a-z0-9]/.test(value)) return;
  const clean = value.replace(/^-+|-+$/g, '');
  const seen = list.find((v) => v.value === clean);
  if (seen) seen.weight = Math.max(seen.weight, weight);
  else list.push({ value: clean, weight });
}

/** Given names: "Jean-Pierre" or "Jean Pierre" → jean-pierre, jeanpierre, jp, jean. */
function givenVariants(given: string[]): Weighted[] {
  const out: Weighted[] = [];
  const hyphenated = given.length === 1 && given[0]!.includes('-');
  const spelling = foldToAscii(given.join(' '));
  if (!spelling) return out;
  const parts = spelling.split(/[ -]+/).filter(Boolean);
  if (parts.length <= 1) {
    addVariant(out, parts[0] ?? '', 1);
    return out;
  }
  addVariant(out, parts.join('-'), hyphenated ? 1 : 0.6);
  addVariant(out, parts.join(''), 0.9);
  addVariant(out, parts[0]!, 0.6);
  addVariant(out, parts.map((p) => p[0]).join(''), 0.5);
  return out;
}

/**
 * Surnames: particles with and without (van der Berg → vanderberg, berg), double surnames each and
 * both (García Márquez → garcia, garciamarquez, garcia-marquez, marquez), apostrophes dropped.
 */
function surnameVariants(surname: string[], doubleIsPrimary: boolean): Weighted[] {
  const out: Weighted[] = [];
  const particles: string[] = [];
  const core: string[] = [];
  for (const t of surname) {
    const glued = GLUED_PARTICLE.exec(t);
    if (core.length === 0 && glued) {
      particles.push(glued[1] ?? glued[3]!);
      core.push(glued[2] ?? glued[4]!);
    } else if (core.length === 0 && isParticle(t) && surname.length > 1) particles.push(t);
    else core.push(t);
  }
  if (core.length === 0) core.push(...particles.splice(0));
  const hyphenated = core.length === 1 && core[0]!.includes('-');
  const spelling = foldToAscii(core.join(' '));
  if (!spelling) return out;
  const parts = spelling.split(/[ -]+/).filter(Boolean);
  const coreForms: Weighted[] = [];
  if (parts.length <= 1) addVariant(coreForms, parts[0] ?? '', 1);
  else {
    addVariant(coreForms, parts.join(''), hyphenated || doubleIsPrimary ? 1 : 0.7);
    addVariant(coreForms, parts.join('-'), hyphenated ? 0.95 : 0.5);
    addVariant(coreForms, parts[0]!, hyphenated ? 0.6 : 0.9);
    addVariant(coreForms, parts[parts.length - 1]!, 0.5);
  }
  const particleText = particles.length > 0 ? foldToAscii(particles.join(' ')).replace(/[ -]+/g, '') : '';
  for (const c of coreForms) {
    if (particleText) {
      addVariant(out, particleText + c.value, c.weight);
      addVariant(out, c.value, c.weight * 0.7);
    } else addVariant(out, c.value, c.weight);
  }
  return out;
}

/**
 * German names are written with umlauts folded (müller) or spelt out (mueller); a person's address
 * uses one habit for the whole name, so the spelt-out reading is a separate, slightly less likely one.
 */
function withGermanSpelling(r: Reading[]): Reading[] {
  const german = (t: string[]) => t.map(spellOutUmlauts);
  const hasUmlaut = r.some((x) => /[äöüÄÖÜ]/.test([...x.given, ...x.middle, ...x.surname].join('')));
  if (!hasUmlaut) return r;
  return [...r, ...r.map((x) => ({ ...x, given: german(x.given), middle: german(x.middle), surname: german(x.surname), weight: x.weight * 0.9 }))];
}

interface Reading {
  given: string[];
  middle: string[];
  surname: string[];
  weight: number;
  /** the surname is a double (Iberian) one, so joined/first-part spellings lead */
  double: boolean;
}

/** Token list (titles and suffixes removed) → the plausible given/middle/surname splits. */
function readings(t: string[], iberian: boolean): Reading[] {
  if (t.length === 0) return [];
  if (t.length === 1) return [{ given: t, middle: [], surname: [], weight: 1, double: false }];
  const particleAt = t.findIndex((x, i) => i >= 1 && i < t.length - 1 && (isParticle(x) || GLUED_PARTICLE.test(x)));
  const gluedLast = GLUED_PARTICLE.test(t[t.length - 1]!) ? t.length - 1 : -1;
  const at = particleAt >= 0 ? particleAt : gluedLast;
  if (at >= 1) return [{ given: [t[0]!], middle: t.slice(1, at), surname: t.slice(at), weight: 1, double: false }];
  if (t.length === 2) return [{ given: [t[0]!], middle: [], surname: [t[1]!], weight: 1, double: false }];
  // Three or more names: middle name(s) + surname, or (Iberian habit) a double surname.
  const middleReading: Reading = { given: [t[0]!], middle: t.slice(1, -1), surname: [t[t.length - 1]!], weight: 1, double: false };
  // "John F. Kennedy": an initial is a middle name, never half of a surname
  if (t.slice(-2).some((x) => x.replace(/\./g, '').length === 1)) return [middleReading];
  const doubleReading: Reading = { given: t.slice(0, -2), middle: [], surname: t.slice(-2), weight: 1, double: true };
  if (iberian) return [doubleReading, { ...middleReading, weight: 0.8 }];
  return [middleReading, { ...doubleReading, weight: 0.8 }];
}

function formsOf(r: Reading[], maxForms: number): NameForm[] {
  const forms: NameForm[] = [];
  for (const reading of r) {
    const given = givenVariants(reading.given);
    const surname = reading.surname.length > 0 ? surnameVariants(reading.surname, reading.double) : [{ value: '', weight: 1 }];
    const middle = reading.middle.length > 0 ? foldToAscii(reading.middle[0]!)[0] ?? '' : '';
    for (const g of given) {
      for (const s of surname) {
        const weight = reading.weight * g.weight * s.weight;
        const key = (f: NameForm) => f.first === g.value && f.last === s.value && f.middle === middle;
        const seen = forms.find(key);
        if (seen) seen.weight = Math.max(seen.weight, weight);
        else forms.push({ first: g.value, last: s.value, middle, weight });
      }
    }
  }
  forms.sort((a, b) => b.weight - a.weight);
  return forms.slice(0, maxForms);
}

/** Upper bound on readings kept: past this, candidates get too unlikely to be worth an SMTP probe. */
const MAX_FORMS = 16;

export function parseName(input: NameInput): ParsedName {
  const iberian = IBERIAN.has((input.country_code ?? '').toUpperCase());
  const fullnameGiven = (input.fullname ?? '').trim().replace(/\s+/g, ' ');
  if (fullnameGiven) {
    const t = stripTitlesAndSuffixes(reorderComma(fullnameGiven));
    const r = readings(t, iberian);
    const primary = r[0];
    const all = withGermanSpelling(r);
    return {
      firstname: primary ? primary.given.join(' ') : '',
      lastname: primary ? primary.surname.join(' ') : '',
      fullname: fullnameGiven,
      forms: formsOf(all, MAX_FORMS),
    };
  }
  // Separate fields: no guessing where the surname starts, only titles/suffixes to drop.
  const firstTokens = tokens(input.first_name);
  const lastTokens = tokens(input.last_name);
  const given = firstTokens.length > 1 ? (() => {
    const s = [...firstTokens];
    while (s.length > 1 && isTitle(s[0]!)) s.shift();
    return s;
  })() : firstTokens;
  const surname = lastTokens.length > 1 ? (() => {
    const s = [...lastTokens];
    while (s.length > 1 && isSuffix(s[s.length - 1]!)) s.pop();
    return s;
  })() : lastTokens;
  const reading: Reading = { given, middle: [], surname, weight: 1, double: iberian || surname.length > 1 };
  const firstname = given.join(' ');
  const lastname = surname.join(' ');
  return {
    firstname,
    lastname,
    fullname: [firstname, lastname].filter(Boolean).join(' '),
    forms: given.length > 0 ? formsOf(withGermanSpelling([reading]), MAX_FORMS) : [],
  };
}
