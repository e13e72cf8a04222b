// A KnowledgeStore held in memory: used by engine tests and by the in-process sandbox world of test mode,
// where nothing learnt must leak into the live database. The durable one lives in src/store.
import type { Company, Contact, KnowledgeStore } from './types.js';
import { nameKey } from '../domain/lookup-key.js';

const norm = (s: string) => s.trim().toLowerCase();

export class MemoryKnowledgeStore implements KnowledgeStore {
  private contacts: Contact[] = [];
  private companies: Company[] = [];
  /** domain -> pattern -> set of distinct emails that proved it */
  private patterns = new Map<string, Map<string, Set<string>>>();

  constructor(seed: { contacts?: Contact[]; companies?: Company[] } = {}) {
    for (const c of seed.contacts ?? []) this.contacts.push({ ...c });
    for (const c of seed.companies ?? []) this.companies.push({ ...c });
  }

  async findContactsByDomain(domain: string) {
    return this.contacts.filter((c) => norm(c.company_domain) === norm(domain));
  }
  async findContactByEmail(email: string) {
    return this.contacts.find((c) => c.email && norm(c.email) === norm(email));
  }
  async findContactByLinkedin(normalizedUrl: string) {
    return this.contacts.find((c) => c.linkedin_url && norm(c.linkedin_url) === norm(normalizedUrl));
  }
  async findContactsByName(fullname: string, domain: string) {
    return this.contacts.filter(
      (c) => nameKey(c.fullname) === nameKey(fullname) && norm(c.company_domain) === norm(domain),
    );
  }
  async addContact(contact: Contact) {
    this.contacts.push({ ...contact });
  }
  async findCompanyByName(name: string, country: string | null) {
    const n = nameKey(name);
    const matches = this.companies.filter(
      (c) => nameKey(c.name) === n || c.aliases.some((a) => nameKey(a) === n),
    );
    return (
      matches.find((c) => country && c.country && norm(c.country) === norm(country)) ??
      matches.find((c) => !c.country) ??
      matches[0]
    );
  }
  async patternStats(domain: string) {
    const out: Record<string, number> = {};
    for (const [p, emails] of this.patterns.get(norm(domain)) ?? []) out[p] = emails.size;
    return out;
  }
  async recordPattern(domain: string, pattern: string, email: string) {
    const d = norm(domain);
    if (!this.patterns.has(d)) this.patterns.set(d, new Map());
    const byPattern = this.patterns.get(d)!;
    if (!byPattern.has(pattern)) byPattern.set(pattern, new Set());
    byPattern.get(pattern)!.add(norm(email));
  }
}
