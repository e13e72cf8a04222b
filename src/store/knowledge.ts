// What the engines learn and share across workers, over the database: per-domain facts with expiry,
// the contacts and companies directories, and the per-domain pattern confirmations.
import type { OpenStore, Tx } from './db.js';
import type { Company, Contact, DomainFactsCache, KnowledgeStore } from '../engines/types.js';
import { newId } from '../domain/ids.js';
import { storableText } from './storable-text.js';
import { nameKey } from '../domain/lookup-key.js';

// Everything stored or looked up here goes through storableText, on both databases: a name or company
// sent with U+0000 (a stray byte from a CSV export) failed every PostgreSQL lookup, and the item was
// retried for half an hour.
// Emails and domains as they have always been keyed (ASCII in practice: punycode domains); names by nameKey.
const norm = (s: string) => storableText(s).trim().toLowerCase();
const normName = (s: string) => nameKey(storableText(s));
// an optional field: absent or empty is null
const optional = (s: string | null | undefined) => (s ? storableText(s) : null);
// A profile URL and, for a member id (/in/ACoAA…, whose case is kept since it is an id), its lower-cased
// form, which is how imports before that stored it.
const profileKeys = (url: string) => (url === url.toLowerCase() ? [url] : [url, url.toLowerCase()]);

export class DbDomainFactsCache implements DomainFactsCache {
  constructor(private readonly store: OpenStore) {}

  async get(domain: string, fact: string): Promise<unknown | undefined> {
    const row = await this.store.db
      .selectFrom('domain_facts')
      .select(['value', 'expires_at'])
      .where('domain', '=', norm(domain))
      .where('fact', '=', fact)
      .executeTakeFirst();
    if (!row || row.expires_at <= Date.now()) return undefined;
    return JSON.parse(row.value);
  }

  async set(domain: string, fact: string, value: unknown, ttlMs: number): Promise<void> {
    const values = { domain: norm(domain), fact, value: JSON.stringify(value), expires_at: Date.now() + ttlMs };
    await this.store.db
      .insertInto('domain_facts')
      .values(values)
      .onConflict((oc) => oc.columns(['domain', 'fact']).doUpdateSet({ value: values.value, expires_at: values.expires_at }))
      .execute();
  }
}

type ContactRow = { fullname: string; company_domain: string; email: string | null; phone: string | null; linkedin_url: string | null };
const toContact = (r: ContactRow): Contact => ({ fullname: r.fullname, company_domain: r.company_domain, email: r.email, phone: r.phone, linkedin_url: r.linkedin_url });
const CONTACT_COLS = ['fullname', 'company_domain', 'email', 'phone', 'linkedin_url'] as const;

export class DbKnowledgeStore implements KnowledgeStore {
  // a store, or a transaction (an import is all or nothing)
  constructor(private readonly store: { db: Tx }) {}

  async findContactsByDomain(domain: string) {
    const rows = await this.store.db.selectFrom('contacts').select(CONTACT_COLS).where('company_domain', '=', norm(domain)).limit(10_000).execute();
    return rows.map(toContact);
  }
  async findContactByEmail(email: string) {
    const r = await this.store.db.selectFrom('contacts').select(CONTACT_COLS).where('email', '=', norm(email)).executeTakeFirst();
    return r ? toContact(r) : undefined;
  }
  async findContactByLinkedin(normalizedUrl: string) {
    const url = storableText(normalizedUrl);
    const rows = await this.store.db.selectFrom('contacts').select(CONTACT_COLS).where('linkedin_url', 'in', profileKeys(url)).execute();
    const r = rows.find((row) => row.linkedin_url === url) ?? rows[0];
    return r ? toContact(r) : undefined;
  }
  async findContactsByName(fullname: string, domain: string) {
    const rows = await this.store.db
      .selectFrom('contacts')
      .select(CONTACT_COLS)
      .where('company_domain', '=', norm(domain))
      .where('fullname_norm', '=', normName(fullname))
      .execute();
    return rows.map(toContact);
  }
  async addContact(c: Contact, source = 'search') {
    await this.store.db
      .insertInto('contacts')
      .values({
        id: newId('ct'),
        fullname: storableText(c.fullname),
        fullname_norm: normName(c.fullname),
        company_domain: norm(c.company_domain),
        email: c.email ? norm(c.email) : null,
        phone: optional(c.phone),
        linkedin_url: optional(c.linkedin_url),
        source,
        created_at: Date.now(),
      })
      .execute();
  }
  async findCompanyByName(name: string, country: string | null) {
    const n = normName(name);
    const rows = await this.store.db.selectFrom('companies').selectAll().where('name_norm', '=', n).execute();
    let matches = rows;
    if (!matches.length) {
      // aliases are few per company and the directory is operator-sized: a scan on miss is acceptable
      const all = await this.store.db.selectFrom('companies').selectAll().where('aliases', 'like', `%${n.replace(/[%_]/g, '')}%`).execute();
      matches = all.filter((r) => (JSON.parse(r.aliases) as string[]).some((a) => normName(a) === n));
    }
    const pick =
      matches.find((c) => country && c.country && norm(c.country) === norm(country)) ?? matches.find((c) => !c.country) ?? matches[0];
    return pick ? ({ name: pick.name, country: pick.country, domain: pick.domain, aliases: JSON.parse(pick.aliases) } satisfies Company) : undefined;
  }
  /** An operator's import row: added unless the very same contact is in the directory (imports may be re-run). */
  async importContact(c: Contact): Promise<boolean> {
    const same = await this.store.db
      .selectFrom('contacts')
      .select('id')
      .where('company_domain', '=', norm(c.company_domain))
      .where('fullname_norm', '=', normName(c.fullname))
      .where('email', c.email ? '=' : 'is', c.email ? norm(c.email) : null)
      .where('phone', c.phone ? '=' : 'is', optional(c.phone))
      .where((eb) => (c.linkedin_url ? eb('linkedin_url', 'in', profileKeys(storableText(c.linkedin_url))) : eb('linkedin_url', 'is', null)))
      .executeTakeFirst();
    if (same) return false;
    await this.addContact(c, 'import');
    return true;
  }
  /** As importContact, for the company directory. */
  async importCompany(c: Company): Promise<boolean> {
    const same = await this.store.db
      .selectFrom('companies')
      .select('id')
      .where('name_norm', '=', normName(c.name))
      .where('country', c.country ? '=' : 'is', optional(c.country))
      .where('domain', '=', norm(c.domain))
      .where('aliases', '=', JSON.stringify(c.aliases.map(normName)))
      .executeTakeFirst();
    if (same) return false;
    await this.addCompany(c);
    return true;
  }
  async addCompany(c: Company) {
    await this.store.db
      .insertInto('companies')
      .values({ id: newId('co'), name: storableText(c.name), name_norm: normName(c.name), country: optional(c.country), domain: norm(c.domain), aliases: JSON.stringify(c.aliases.map(normName)) })
      .execute();
  }
  async patternStats(domain: string) {
    const rows = await this.store.db
      .selectFrom('pattern_confirmations')
      .select(['pattern', (eb) => eb.fn.countAll<number>().as('n')])
      .where('domain', '=', norm(domain))
      .groupBy('pattern')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.pattern, Number(r.n)]));
  }
  async recordPattern(domain: string, pattern: string, email: string) {
    await this.store.db
      .insertInto('pattern_confirmations')
      .values({ domain: norm(domain), pattern, email: norm(email), created_at: Date.now() })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}
