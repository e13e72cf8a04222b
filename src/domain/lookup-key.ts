// How the directories compare names. One Unicode form: macOS and many CSV exports write "José" decomposed
// (NFD), forms typed elsewhere composed (NFC), and the two never matched; one case; runs of spaces as one.
export const lookupKey = (s: string): string => s.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();

// People's and companies' names also without their accents: CRMs and CSV exports often drop them, and
// "Jose Garcia" is the José García of the directory (namesakes with different numbers are reported as
// ambiguous, not picked). Only the combining diacritics of Latin, Greek and Cyrillic letters (U+0300–036F)
// go: in Devanagari the marks are vowels (सीता and सती are two names), in kana the voicing (ゴトウ, コトウ).
export const nameKey = (s: string): string => lookupKey(s).normalize('NFD').replace(/[\u0300-\u036f]/g, '').normalize('NFC');
