// Folding a written name to the ASCII letters that mailbox names use. NFKD removes accents; the
// `transliteration` package covers what NFKD leaves alone (ß, ø, æ, ł, đ, Cyrillic, Greek…).
// German umlauts have two spellings in the wild (Müller → muller and mueller), so callers get both.
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

/** Every ASCII spelling worth trying, most likely first: plain folding, then the German ue/oe/ae one. */
export function asciiSpellings(text: string): string[] {
  const plain = foldToAscii(text);
  const out = [plain];
  if (/[äöüÄÖÜ]/.test(text)) {
    const german = foldToAscii(text.replace(/[äöüÄÖÜ]/g, (c) => UMLAUTS[c]!));
    if (german !== plain) out.push(german);
  }
  return out.filter((s) => s.length > 0);
}
