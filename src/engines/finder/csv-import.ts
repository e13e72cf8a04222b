// CSV files operators import (`openrow import contacts|companies file.csv`). Headers are matched
// case-insensitively; a bad row is reported with its line number rather than silently skipped.
import { parse } from 'csv-parse/sync';
import type { Company, Contact } from '../types.js';
import { normalizeCompanyDomain } from './company-domain.js';

export interface CsvRowError {
  /** 1-based line in the file (the header is line 1) */
  line: number;
  message: string;
}

export interface CsvReport<T> {
  rows: T[];
  errors: CsvRowError[];
}

export class CsvImportError extends Error {
  constructor(readonly errors: CsvRowError[]) {
    super(`${errors.length} invalid row(s): ${errors.slice(0, 5).map((e) => `line ${e.line}: ${e.message}`).join('; ')}${errors.length > 5 ? '; …' : ''}`);
    this.name = 'CsvImportError';
  }
}

function records(text: string): Array<{ line: number; row: Record<string, string> }> {
  const parsed = parse(text, {
    bom: true,
    columns: (header: string[]) => header.map((h) => h.trim().toLowerCase().replace(/[\s-]+/g, '_')),
    skip_empty_lines: true,
    trim: true,
    relax_column_count: true,
    info: true,
  }) as Array<{ record: Record<string, string>; info: { lines: number } }>;
  return parsed.map((r) => ({ line: r.info.lines, row: r.record }));
}

const field = (row: Record<string, string>, ...names: string[]) => {
  for (const n of names) {
    const v = row[n];
    if (v !== undefined && v !== '') return v;
  }
  return '';
};

/** The longest name the directories keep: imports refuse longer ones, and searches do not learn them. */
export const MAX_DIRECTORY_NAME = 200;

/**
 * How the phone engine will read a row's phone and LinkedIn URL (injected: the finder knows nothing of
 * phones). A value it could never use is refused at import, where the operator can still fix it, rather
 * than stored and never found.
 */
export interface ContactFieldChecks {
  /** why `phone` is not a usable number for a company at `domain`, or null when it is */
  phoneProblem(phone: string, domain: string): string | null;
  /** the canonical profile URL, or null when it is not a LinkedIn profile */
  normalizeLinkedinUrl(url: string): string | null;
}

/** header: fullname, company_domain, email, phone, linkedin_url (first_name + last_name accepted for fullname) */
export function parseContactsCsvReport(text: string, checks?: ContactFieldChecks): CsvReport<Contact> {
  const rows: Contact[] = [];
  const errors: CsvRowError[] = [];
  for (const { line, row } of records(text)) {
    const fullname = field(row, 'fullname', 'full_name', 'name') || [field(row, 'first_name', 'firstname'), field(row, 'last_name', 'lastname')].filter(Boolean).join(' ');
    const rawDomain = field(row, 'company_domain', 'domain');
    const email = field(row, 'email').toLowerCase() || null;
    const domain = normalizeCompanyDomain(rawDomain) ?? (email && !rawDomain ? normalizeCompanyDomain(email) : null);
    if (!fullname) errors.push({ line, message: 'fullname is empty' });
    else if (fullname.length > MAX_DIRECTORY_NAME) errors.push({ line, message: `fullname is longer than ${MAX_DIRECTORY_NAME} characters` });
    else if (!domain) errors.push({ line, message: rawDomain ? `company_domain "${rawDomain}" is not a domain` : 'company_domain is empty' });
    else if (email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) errors.push({ line, message: `email "${email}" is not an address` });
    else {
      const phone = field(row, 'phone') || null;
      const linkedin = field(row, 'linkedin_url', 'linkedin') || null;
      const phoneProblem = phone && checks ? checks.phoneProblem(phone, domain) : null;
      const profile = linkedin && checks ? checks.normalizeLinkedinUrl(linkedin) : linkedin;
      if (phoneProblem) errors.push({ line, message: `phone "${phone}": ${phoneProblem}` });
      else if (linkedin && !profile) errors.push({ line, message: `linkedin_url "${linkedin}" is not a LinkedIn profile URL (https://www.linkedin.com/in/…)` });
      else rows.push({ fullname, company_domain: domain, email, phone, linkedin_url: profile });
    }
  }
  return { rows, errors };
}

/** header: name, country, domain, aliases (aliases separated by '|' or ';') */
export function parseCompaniesCsvReport(text: string): CsvReport<Company> {
  const rows: Company[] = [];
  const errors: CsvRowError[] = [];
  for (const { line, row } of records(text)) {
    const name = field(row, 'name', 'company', 'company_name');
    const rawDomain = field(row, 'domain', 'company_domain');
    const domain = normalizeCompanyDomain(rawDomain);
    const country = field(row, 'country', 'country_code').toUpperCase() || null;
    if (!name) errors.push({ line, message: 'name is empty' });
    else if (name.length > MAX_DIRECTORY_NAME) errors.push({ line, message: `name is longer than ${MAX_DIRECTORY_NAME} characters` });
    else if (!domain) errors.push({ line, message: rawDomain ? `domain "${rawDomain}" is not a domain` : 'domain is empty' });
    else if (country && !/^[A-Z]{2}$/.test(country)) errors.push({ line, message: `country "${country}" is not an ISO 3166 alpha-2 code` });
    else {
      const aliases = field(row, 'aliases').split(/[|;]/).map((a) => a.trim()).filter(Boolean);
      rows.push({ name, country, domain, aliases });
    }
  }
  return { rows, errors };
}

/** All rows, or a CsvImportError naming every bad line. */
export function parseContactsCsv(text: string): Contact[] {
  const r = parseContactsCsvReport(text);
  if (r.errors.length > 0) throw new CsvImportError(r.errors);
  return r.rows;
}

export function parseCompaniesCsv(text: string): Company[] {
  const r = parseCompaniesCsvReport(text);
  if (r.errors.length > 0) throw new CsvImportError(r.errors);
  return r.rows;
}
