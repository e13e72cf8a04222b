// From what users type as a company (a URL, a domain in any case, an IDN, or a company name) to the
// mail domain to search. Names go through the operator's company directory first, then a DNS
// heuristic that only accepts a guessed domain that really receives mail.
import net from 'node:net';
import { domainToASCII } from 'node:url';
import type { KnowledgeStore } from '../types.js';
import type { MailDns } from '../verifier/index.js';
import { foldToAscii } from './ascii-fold.js';

/** 'https://www.ACME.com/about' → 'acme.com'; IDN → punycode; null when it is not a usable domain. */
export function normalizeCompanyDomain(input: string): string | null {
  let text = input.trim();
  if (!text) return null;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    // a pasted address (jane@acme.com) names its domain
    const at = text.lastIndexOf('@');
    if (at >= 0 && !text.includes('/')) text = text.slice(at + 1);
    text = `http://${text}`;
  }
  let host: string;
  try {
    host = new URL(text).hostname;
  } catch {
    return null;
  }
  host = domainToASCII(host.replace(/\.$/, '')).toLowerCase();
  if (!host || net.isIP(host.replace(/^\[|\]$/g, ''))) return null;
  host = host.replace(/^www\d*\./, '');
  const labels = host.split('.');
  if (labels.length < 2) return null;
  if (!labels.every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l))) return null;
  if (/^\d+$/.test(labels[labels.length - 1]!)) return null;
  return host;
}

const LEGAL_SUFFIXES = new Set([
  'inc', 'incorporated', 'llc', 'llp', 'lp', 'ltd', 'limited', 'corp', 'corporation', 'co', 'company', 'plc', 'gmbh', 'ag', 'kg', 'ohg', 'ug', 'mbh',
  'sa', 'sas', 'sasu', 'sarl', 'eurl', 'sca', 'snc', 'bv', 'nv', 'vof', 'spa', 'srl', 'sl', 'slu', 'sau', 'lda', 'ltda', 'ab', 'as', 'asa', 'oy', 'oyj',
  'aps', 'pty', 'pte', 'kk', 'sp', 'zoo', 'sro', 'doo', 'ood', 'ooo', 'zao', 'pjsc', 'jsc', 'se', 'bhd', 'sdn', 'pvt', 'cv',
]);

/** "Acme, Inc." → ['acme']; "Dunder Mifflin Paper Company" → ['dunder','mifflin','paper']. */
export function companyNameWords(name: string): string[] {
  const words = foldToAscii(name.replace(/&/g, ' and ').replace(/[.,]/g, (c) => (c === '.' ? '' : ' ')))
    .split(/[\s-]+/)
    .filter(Boolean);
  // Suffixes trail the name ("Acme Holdings GmbH & Co. KG"): drop them from the end only.
  while (words.length > 1 && (LEGAL_SUFFIXES.has(words[words.length - 1]!) || words[words.length - 1] === 'and')) words.pop();
  return words;
}

/** Mail-domain guesses for a company name, most likely first. */
export function companyDomainGuesses(name: string, tlds: string[]): string[] {
  const words = companyNameWords(name);
  if (words.length === 0) return [];
  const slugs = [words.join('')];
  if (words.length > 1) slugs.push(words.join('-'));
  // "Ernst & Young" is also ernstyoung
  const withoutAnd = words.filter((w) => w !== 'and');
  if (withoutAnd.length > 0 && withoutAnd.length < words.length) slugs.push(withoutAnd.join(''), withoutAnd.join('-'));
  const out: string[] = [];
  for (const tld of tlds) {
    for (const slug of slugs) {
      const d = normalizeCompanyDomain(`${slug}.${tld}`);
      if (d && !out.includes(d)) out.push(d);
    }
  }
  return out;
}

/** The TLDs a company of this country most likely uses, then .com. */
const COUNTRY_TLDS: Record<string, string[]> = {
  US: ['com'],
  GB: ['co.uk', 'com', 'uk'],
  UK: ['co.uk', 'com', 'uk'],
  AU: ['com.au', 'com'],
  NZ: ['co.nz', 'com'],
  BR: ['com.br', 'com'],
  AR: ['com.ar', 'com'],
  MX: ['com.mx', 'mx', 'com'],
  JP: ['co.jp', 'jp', 'com'],
  IN: ['in', 'co.in', 'com'],
  ZA: ['co.za', 'com'],
  KR: ['co.kr', 'com'],
  CN: ['cn', 'com.cn', 'com'],
  TR: ['com.tr', 'com'],
  IL: ['co.il', 'com'],
};

export function tldsForCountry(countryCode: string | undefined): string[] {
  const cc = (countryCode ?? 'US').toUpperCase();
  return COUNTRY_TLDS[cc] ?? (/^[A-Z]{2}$/.test(cc) ? [cc.toLowerCase(), 'com'] : ['com']);
}

export type DomainResolution =
  | { ok: true; domain: string; source: 'company_domain' | 'company_directory' | 'dns_heuristic'; company?: string; tried?: string[] }
  | { ok: false; reason: string; tried: string[]; retryable: boolean };

export interface ResolveDeps {
  knowledge: KnowledgeStore;
  mailDns: Pick<MailDns, 'mailHosts'>;
  /** overrides the country's TLD list for the DNS heuristic */
  heuristicTlds?: string[];
}

/** company_domain wins; else company_name through the directory, then the DNS heuristic. */
export async function resolveCompanyDomain(
  input: { company_domain?: string; company_name?: string; country_code?: string },
  deps: ResolveDeps,
): Promise<DomainResolution> {
  if (input.company_domain && input.company_domain.trim()) {
    const d = normalizeCompanyDomain(input.company_domain);
    if (d) return { ok: true, domain: d, source: 'company_domain' };
    if (!input.company_name) return { ok: false, reason: `company_domain "${input.company_domain}" is not a valid domain name`, tried: [], retryable: false };
  }
  const name = (input.company_name ?? '').trim();
  if (!name) return { ok: false, reason: 'no company_domain or company_name to search', tried: [], retryable: false };
  const country = (input.country_code ?? 'US').toUpperCase();

  for (const key of new Set([name, companyNameWords(name).join(' ')])) {
    const company = await deps.knowledge.findCompanyByName(key, country);
    const d = company && normalizeCompanyDomain(company.domain);
    if (d) return { ok: true, domain: d, source: 'company_directory', company: company!.name };
  }

  const guesses = companyDomainGuesses(name, deps.heuristicTlds ?? tldsForCountry(country));
  const dnsErrors: string[] = [];
  for (const domain of guesses) {
    const hosts = await deps.mailDns.mailHosts(domain);
    if (hosts.kind === 'hosts') return { ok: true, domain, source: 'dns_heuristic', company: name, tried: guesses.slice(0, guesses.indexOf(domain) + 1) };
    if (hosts.kind === 'dns_error') dnsErrors.push(`${domain}: ${hosts.message}`);
  }
  if (dnsErrors.length > 0) {
    // A guess we could not check might be the right one: a later run may succeed.
    return { ok: false, reason: `could not check every domain guessed for "${name}" (${dnsErrors.join('; ')})`, tried: guesses, retryable: true };
  }
  return {
    ok: false,
    reason: guesses.length > 0
      ? `company "${name}" (${country}) is not in the company directory and none of ${guesses.join(', ')} receives mail`
      : `company name "${name}" gives no domain to try`,
    tried: guesses,
    retryable: false,
  };
}
