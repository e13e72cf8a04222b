// How names, companies, domains and emails are compared in the directories. One Unicode form: macOS and
// many CSV exports write "José" decomposed (NFD), forms typed elsewhere composed (NFC), and the two never
// matched; one case; runs of spaces as one.
export const lookupKey = (s: string): string => s.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();
