// The catch-all probe: one RCPT TO an address that surely does not exist, once per domain per TTL.
// The local part looks like a real person's (firstname.lastname + digits): servers that treat
// obviously random strings differently from real-looking ones must not fool the probe.
import { randomInt } from 'node:crypto';

const FIRST = ['emma', 'liam', 'olivia', 'noah', 'ava', 'lucas', 'mia', 'ethan', 'chloe', 'mason', 'julia', 'leo', 'nora', 'adam', 'sofia', 'hugo', 'clara', 'oscar', 'alice', 'felix'];
const LAST = ['walsh', 'moreau', 'keller', 'novak', 'garcia', 'lindqvist', 'brennan', 'rossi', 'tanaka', 'fischer', 'dubois', 'hughes', 'kowalski', 'silva', 'larsen', 'meyer', 'dalton', 'ferreira', 'jensen', 'baker'];

export function randomProbeLocalPart(): string {
  const digits = String(randomInt(1000, 100000));
  return `${FIRST[randomInt(FIRST.length)]}.${LAST[randomInt(LAST.length)]}${digits}`;
}

/** domainCache fact names */
export const FACT_CATCH_ALL = 'catch_all';
/**
 * The probe address is kept per domain so that a greylisting server, which answers 4xx to every new
 * sender/recipient pair, accepts or rejects the same probe address on the retry.
 */
export const FACT_CATCH_ALL_PROBE_LOCAL = 'catch_all_probe_local';
