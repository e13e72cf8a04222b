// Email local-part patterns and the order to try them in. The global prior follows the frequency
// order of ANCHORS.md (first.last far ahead); a domain's own proven patterns outrank any prior.
import type { NameForm, ParsedName } from './name-parse.js';

type Build = (f: NameForm) => string | null;

const initial = (s: string) => s.replace(/[^a-z0-9]/g, '')[0] ?? '';
const needLast = (build: (f: NameForm) => string): Build => (f) => (f.last ? build(f) : null);

/** pattern name → local part builder; null when the name lacks a part the pattern needs */
const BUILDERS: Record<string, Build> = {
  'first.last': needLast((f) => `${f.first}.${f.last}`),
  first: (f) => f.first,
  flast: needLast((f) => `${initial(f.first)}${f.last}`),
  'f.last': needLast((f) => `${initial(f.first)}.${f.last}`),
  firstlast: needLast((f) => `${f.first}${f.last}`),
  firstl: needLast((f) => `${f.first}${initial(f.last)}`),
  first_last: needLast((f) => `${f.first}_${f.last}`),
  last: needLast((f) => f.last),
  'first-last': needLast((f) => `${f.first}-${f.last}`),
  'last.first': needLast((f) => `${f.last}.${f.first}`),
  lastfirst: needLast((f) => `${f.last}${f.first}`),
  lastf: needLast((f) => `${f.last}${initial(f.first)}`),
  'l.first': needLast((f) => `${initial(f.last)}.${f.first}`),
  fl: needLast((f) => `${initial(f.first)}${initial(f.last)}`),
  'first.m.last': (f) => (f.last && f.middle ? `${f.first}.${f.middle}.${f.last}` : null),
  last_first: needLast((f) => `${f.last}_${f.first}`),
  'last.f': needLast((f) => `${f.last}.${initial(f.first)}`),
  'first.l': needLast((f) => `${f.first}.${initial(f.last)}`),
};

/** All supported patterns, in global-prior order. */
export const PATTERNS: string[] = Object.keys(BUILDERS);

/** Rough share of mailboxes using each pattern (percent), for domains we know nothing about. */
export const GLOBAL_PRIOR: Record<string, number> = {
  'first.last': 40, first: 12, flast: 10, 'f.last': 6, firstlast: 5, firstl: 3, first_last: 3, last: 2.5, 'first-last': 2,
  'last.first': 2, lastfirst: 1.5, lastf: 1.2, 'l.first': 1, fl: 0.9, 'first.m.last': 0.8, last_first: 0.5, 'last.f': 0.5, 'first.l': 0.5,
};

/**
 * Country habits (multipliers on the global prior), from the TLD of the domain or the country code.
 * French and German companies favour first.last; US ones use first and flast more than elsewhere.
 */
const COUNTRY_BIAS: Record<string, Record<string, number>> = {
  us: { flast: 1.5, first: 1.3, 'first.last': 0.9 },
  fr: { 'first.last': 1.3, 'f.last': 1.2, first: 0.6, flast: 0.8 },
  de: { 'first.last': 1.3, 'f.last': 1.3, first: 0.5, flast: 0.6 },
  nl: { 'first.last': 1.2, 'f.last': 1.4, first: 0.6 },
  uk: { 'first.last': 1.3, 'f.last': 1.1 },
  gb: { 'first.last': 1.3, 'f.last': 1.1 },
  it: { 'first.last': 1.3, 'f.last': 1.2 },
  es: { 'first.last': 1.3, first: 1.1 },
};

/** Local-part rules we generate within (RFC 5321 dot-atom, and what mail systems actually allow). */
function isUsableLocal(local: string): boolean {
  return /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/.test(local) && !local.includes('..') && local.length <= 64;
}

export function buildLocal(pattern: string, form: NameForm): string | null {
  const build = BUILDERS[pattern];
  if (!build) return null;
  const local = build(form);
  return local && isUsableLocal(local) ? local : null;
}

export interface Candidate {
  pattern: string;
  local: string;
  /** the name reading that produced it */
  form: NameForm;
  score: number;
}

/** Pattern weights for a domain: proven patterns first (by confirmations), then the TLD/country prior. */
export function patternWeights(learned: Record<string, number>, countryOrTld?: string): Record<string, number> {
  const bias = COUNTRY_BIAS[(countryOrTld ?? '').toLowerCase()] ?? {};
  const out: Record<string, number> = {};
  for (const p of PATTERNS) {
    // 1000 per confirmation keeps every proven pattern ahead of any prior, for every reading of the name.
    out[p] = (learned[p] ?? 0) * 1000 + GLOBAL_PRIOR[p]! * (bias[p] ?? 1);
  }
  return out;
}

/** Every (pattern × name reading) local part, deduplicated, best first. */
export function candidateLocalParts(name: ParsedName, weights: Record<string, number> = patternWeights({})): Candidate[] {
  const byLocal = new Map<string, Candidate>();
  for (const form of name.forms) {
    for (const pattern of PATTERNS) {
      const local = buildLocal(pattern, form);
      if (!local) continue;
      const score = (weights[pattern] ?? 0) * form.weight;
      const seen = byLocal.get(local);
      if (!seen || seen.score < score) byLocal.set(local, { pattern, local, form, score });
    }
  }
  return [...byLocal.values()].sort((a, b) => b.score - a.score);
}

/** Which patterns (under which reading) produce this local part for this name. */
export function patternsMatching(name: ParsedName, local: string): string[] {
  const want = local.toLowerCase();
  const found = new Set<string>();
  for (const form of name.forms) for (const p of PATTERNS) if (buildLocal(p, form) === want) found.add(p);
  return [...found];
}
