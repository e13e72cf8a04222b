// info.gender from the first-name lists of `gender-detection-from-name`. The person's country picks the
// list to read first (settings.country_code, US by default): Andrea is a woman's name in the US and a
// man's in Italy. Without a list for the country, we answer only when every list agrees.
// The lists are read one by one: the package's getGender() falls back from the language asked for to
// all the others, French included. Its French list is left out: it answers "female" for Pierre,
// Jacques, Michel, Thomas, Michael or Gilles (checked against the package's data).
import { createRequire } from 'node:module';
import { foldToAscii } from './ascii-fold.js';

type Language = 'en' | 'it' | 'es' | 'de' | 'tr';
const LANGUAGES: readonly Language[] = ['en', 'it', 'es', 'de', 'tr'];

// countries whose first names one of the lists describes (ISO 3166 alpha-2)
const COUNTRY_LANGUAGE: Record<string, Language> = {
  ...Object.fromEntries(['US', 'GB', 'UK', 'IE', 'CA', 'AU', 'NZ', 'ZA'].map((c) => [c, 'en'])),
  ...Object.fromEntries(['IT', 'SM', 'VA'].map((c) => [c, 'it'])),
  ...Object.fromEntries(['ES', 'MX', 'AR', 'CO', 'CL', 'PE', 'VE', 'EC', 'GT', 'CU', 'BO', 'DO', 'HN', 'PY', 'SV', 'NI', 'CR', 'PA', 'UY', 'PR'].map((c) => [c, 'es'])),
  ...Object.fromEntries(['DE', 'AT', 'LI'].map((c) => [c, 'de'])),
  ...Object.fromEntries(['TR'].map((c) => [c, 'tr'])),
};

type Verdict = 'male' | 'female' | 'ambiguous' | 'unknown';

// each list is a Map from lowercase first name to 'male' | 'female' (the package's own files)
const require = createRequire(import.meta.url);
const LISTS = Object.fromEntries(LANGUAGES.map((lang) => [lang, require(`gender-detection-from-name/names/${lang}`) as Map<string, string>])) as Record<Language, Map<string, string>>;

function listed(name: string, language: Language): 'male' | 'female' | undefined {
  const g = LISTS[language].get(name);
  return g === 'male' || g === 'female' ? g : undefined;
}

function verdict(name: string, language: Language | undefined): Verdict {
  if (language) {
    const own = listed(name, language);
    if (own) return own;
  }
  const answers = new Set(LANGUAGES.map((lang) => listed(name, lang)).filter((g) => g !== undefined));
  if (answers.size === 0) return 'unknown';
  return answers.size === 1 ? ([...answers][0] as 'male' | 'female') : 'ambiguous';
}

/** 'male' | 'female' when the given name's gender is known for the country (or in every list), else undefined. */
export function genderOf(firstname: string, countryCode?: string): 'male' | 'female' | undefined {
  const written = firstname.trim().toLowerCase();
  if (!written) return undefined;
  const language = countryCode ? COUNTRY_LANGUAGE[countryCode.toUpperCase()] : undefined;
  const first = written.split(/\s+/)[0]!;
  // whole name first (Jean-Pierre is listed), then its first part, in written and ASCII spelling
  for (const candidate of new Set([first, foldToAscii(first), first.split('-')[0]!, foldToAscii(first).split('-')[0]!])) {
    if (!candidate) continue;
    const v = verdict(candidate, language);
    if (v === 'male' || v === 'female') return v;
    if (v === 'ambiguous') return undefined;
  }
  return undefined;
}
