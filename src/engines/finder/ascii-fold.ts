// Folding a written name to the ASCII letters that mailbox names use. NFKD removes accents; the
// `transliteration` package covers what NFKD leaves alone (ß, ø, æ, ł, đ, Cyrillic, Greek…).
// German umlauts have two spellings in the wild (Müller → muller and mueller): spellOutUmlauts gives the second.
import { transliterate } from 'transliteration';

const APOSTROPHES = /['’‘`´ʼʹ]/g;
const UMLAUTS: Record<string, string> = { ä: 'ae', ö: 'oe', ü: 'ue', Ä: 'Ae', Ö: 'Oe', Ü: 'Ue' };

/** One spelling: lowercase ASCII letters and digits, hyphens kept (they separate name parts). */
export function foldToAscii(text: string): string {
  const noApostrophes = text.replace(APOSTROPHES, '');
  // The library sees composed letters (NFKD first would turn Cyrillic й into и + breve and lose the
  // y); NFKD afterwards drops any mark it left behind.
  const ascii = transliterate(noApostrophes.normalize('NFC')).normalize('NFKD').replace(/\p{M}/gu, '');
  return ascii
    .toLowerCase()
    .replace(APOSTROPHES, '')
    .replace(/[\s_]+/g, ' ')
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/-+/g, '-')
    .replace(/^[ -]+|[ -]+$/g, '');
}

/** The German habit: umlauts spelt out (Müller → Mueller), before folding. */
export function spellOutUmlauts(text: string): string {
  return text.replace(/[äöüÄÖÜ]/g, (c) => UMLAUTS[c]!);
}
