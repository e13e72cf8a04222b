// Public face of the email finder engine. See finder-engine.ts for the search itself.
export { createFinder, type FinderOptions } from './finder-engine.js';
export { parseName, type ParsedName, type NameForm, type NameInput } from './name-parse.js';
export { PATTERNS, GLOBAL_PRIOR, buildLocal, patternWeights, patternsMatching } from './patterns.js';
export { foldToAscii } from './ascii-fold.js';
export {
  normalizeCompanyDomain,
  companyNameWords,
  companyDomainGuesses,
  tldsForCountry,
  resolveCompanyDomain,
  type DomainResolution,
} from './company-domain.js';
export { genderOf } from './gender.js';
export {
  parseContactsCsv,
  parseCompaniesCsv,
  parseContactsCsvReport,
  type ContactFieldChecks,
  parseCompaniesCsvReport,
  CsvImportError,
  type CsvReport,
  type CsvRowError,
} from './csv-import.js';

import { candidateLocalParts as rankCandidates, patternWeights } from './patterns.js';
import type { ParsedName } from './name-parse.js';

/** Every pattern × name reading local part, deduplicated, in global-prior order (or by `weights`). */
export function candidateLocalParts(name: ParsedName, weights: Record<string, number> = patternWeights({})): Array<{ pattern: string; local: string }> {
  return rankCandidates(name, weights).map(({ pattern, local }) => ({ pattern, local }));
}
