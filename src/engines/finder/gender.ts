// info.gender from the first-name lists of `gender-detection-from-name` (en, it, es, fr, de, tr).
// Its getGender() silently prefers one language when the lists disagree (Andrea: female in English,
// male in Italian), so we ask every language and answer only when they all agree.
import { getGender } from 'gender-detection-from-name';
import { foldToAscii } from './ascii-fold.js';

const LANGUAGES = ['en', 'it', 'es', 'fr', 'de', 'tr'] as const;

function verdict(name: string): 'male' | 'female' | 'ambiguous' | 'unknown' {
  const answers = new Set(LANGUAGES.map((lang) => getGender(name, lang)).filter((g) => g !== 'unknown'));
  if (answers.size === 0) return 'unknown';
  return answers.size === 1 ? ([...answers][0] as 'male' | 'female') : 'ambiguous';
}

/** 'male' | 'female' when the given name is unambiguous in every list, else undefined. */
export function genderOf(firstname: string): 'male' | 'female' | undefined {
  const written = firstname.trim().toLowerCase();
  if (!written) return undefined;
  const first = written.split(/\s+/)[0]!;
  // whole name first (Jean-Pierre is listed), then its first part, in written and ASCII spelling
  for (const candidate of new Set([first, foldToAscii(first), first.split('-')[0]!, foldToAscii(first).split('-')[0]!])) {
    if (!candidate) continue;
    const v = verdict(candidate);
    if (v === 'male' || v === 'female') return v;
    if (v === 'ambiguous') return undefined;
  }
  return undefined;
}
