// What this system knows about a domain's address pattern: addresses it proved itself
// (knowledge.patternStats) and addresses in the contacts directory, whose names tell which pattern
// each one follows. An address whose local part fits several patterns (Li Li → li.li is both
// first.last and last.first) proves none of them.
import type { KnowledgeStore } from '../types.js';
import { parseName } from './name-parse.js';
import { patternsMatching } from './patterns.js';

export interface DomainEvidence {
  /** pattern → independent confirmations (distinct people) */
  confirmations: Record<string, number>;
}

/** The local part of `email` when it belongs to `domain`, else null. */
function localAt(email: string | null | undefined, domain: string): string | null {
  if (!email) return null;
  const at = email.lastIndexOf('@');
  if (at <= 0 || email.slice(at + 1).toLowerCase() !== domain) return null;
  return email.slice(0, at).toLowerCase();
}

/** The single pattern an address follows for this person, or null when none or several fit. */
export function provenPattern(fullname: string, email: string, domain: string): string | null {
  const local = localAt(email, domain);
  if (!local) return null;
  const fits = patternsMatching(parseName({ fullname }), local);
  return fits.length === 1 ? fits[0]! : null;
}

export async function domainEvidence(domain: string, knowledge: KnowledgeStore): Promise<DomainEvidence> {
  const [stats, contacts] = await Promise.all([knowledge.patternStats(domain), knowledge.findContactsByDomain(domain)]);
  const fromDirectory: Record<string, Set<string>> = {};
  for (const c of contacts) {
    if (!c.email) continue;
    const p = provenPattern(c.fullname, c.email, domain);
    if (!p) continue;
    (fromDirectory[p] ??= new Set()).add(c.email.toLowerCase());
  }
  // Every address a search proves is also added to the directory, so the two sources overlap:
  // the larger count of the two is a lower bound on distinct confirmations, never a double count.
  const confirmations: Record<string, number> = {};
  for (const p of new Set([...Object.keys(stats), ...Object.keys(fromDirectory)])) {
    confirmations[p] = Math.max(stats[p] ?? 0, fromDirectory[p]?.size ?? 0);
  }
  return { confirmations };
}

/** The pattern that dominates a domain, if any: the most confirmed one, more than twice the runner-up. */
export function dominantPattern(confirmations: Record<string, number>): { pattern: string; confirmations: number; runnerUp: number } | null {
  const ranked = Object.entries(confirmations).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0) return null;
  const [pattern, n] = ranked[0]!;
  const runnerUp = ranked[1]?.[1] ?? 0;
  return n > 2 * runnerUp ? { pattern, confirmations: n, runnerUp } : null;
}
