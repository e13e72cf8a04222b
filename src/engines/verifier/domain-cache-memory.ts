// A DomainFactsCache held in memory, for tests and the in-process sandbox of test mode.
// Production shares facts between workers through the database (src/store).
import type { DomainFactsCache } from '../types.js';

export class MemoryDomainFactsCache implements DomainFactsCache {
  private facts = new Map<string, { value: unknown; expires: number }>();
  /** how many set() calls were made, so tests can see facts written once */
  writes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private key(domain: string, fact: string) {
    return `${domain.toLowerCase()}\u0000${fact}`;
  }

  async get(domain: string, fact: string): Promise<unknown | undefined> {
    const k = this.key(domain, fact);
    const hit = this.facts.get(k);
    if (!hit) return undefined;
    if (hit.expires <= this.now()) {
      this.facts.delete(k);
      return undefined;
    }
    return hit.value;
  }

  async set(domain: string, fact: string, value: unknown, ttlMs: number): Promise<void> {
    this.writes++;
    this.facts.set(this.key(domain, fact), { value, expires: this.now() + ttlMs });
  }
}
