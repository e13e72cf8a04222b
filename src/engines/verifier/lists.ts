// List checks (disposable, free provider, role account) and typo suggestions. The lists themselves
// come from well-kept packages; only the role local parts are ours (no package keeps a good one).
import mailchecker from 'mailchecker';
import { DOMAINS as FREE_PROVIDER_DOMAINS } from 'free-email-domains-list';
import { run as suggestEmail, POPULAR_DOMAINS } from '@zootools/email-spell-checker';

const POPULAR = new Set(POPULAR_DOMAINS);

const disposableDomains: Set<string> = mailchecker.blacklist();

/** A domain is disposable when it, or any parent domain, is on mailchecker's list (or on `extra`). */
export function isDisposableDomain(asciiDomain: string, extra?: ReadonlySet<string>): boolean {
  const labels = asciiDomain.toLowerCase().split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const d = labels.slice(i).join('.');
    if (disposableDomains.has(d) || extra?.has(d)) return true;
  }
  return false;
}

export function isFreeProviderDomain(asciiDomain: string, extra?: ReadonlySet<string>): boolean {
  const d = asciiDomain.toLowerCase();
  return FREE_PROVIDER_DOMAINS.has(d) || (extra?.has(d) ?? false);
}

// Mailboxes that belong to a function, not a person (RFC 2142 plus the usual business ones).
const ROLE_LOCAL_PARTS = new Set([
  'abuse', 'accounting', 'accounts', 'admin', 'administrator', 'all', 'billing', 'careers', 'contact',
  'customerservice', 'dev', 'devnull', 'enquiries', 'everyone', 'feedback', 'finance', 'ftp', 'hello',
  'help', 'helpdesk', 'hostmaster', 'hr', 'info', 'inquiries', 'it', 'jobs', 'legal', 'mail', 'mailer-daemon',
  'marketing', 'media', 'news', 'newsletter', 'no-reply', 'noc', 'noreply', 'office', 'orders', 'postmaster',
  'press', 'privacy', 'recruiting', 'root', 'sales', 'security', 'service', 'shop', 'staff', 'support',
  'sysadmin', 'team', 'tech', 'webmaster', 'www',
]);

/** `Sales+eu@x` and `sales@x` are the same role: tags and case do not matter here. */
export function isRoleLocalPart(local: string): boolean {
  const base = local.toLowerCase().split('+')[0]!;
  return ROLE_LOCAL_PARTS.has(base);
}

/** A likely intended address when the domain looks like a misspelt popular provider (gmial.com). */
export function typoSuggestion(address: string): string | undefined {
  let suggestion: ReturnType<typeof suggestEmail>;
  try {
    suggestion = suggestEmail({ email: address });
  } catch {
    // the library URI-encodes the address and throws on what is no text (an unpaired surrogate): no suggestion
    return undefined;
  }
  if (!suggestion || suggestion.full.toLowerCase() === address.toLowerCase()) return undefined;
  // The checker also "fixes" unfamiliar TLDs of any domain (acme.test → acme.de): only a misspelt
  // popular provider is a typo worth telling users about.
  const d = suggestion.domain.toLowerCase();
  if (!POPULAR.has(d) && !FREE_PROVIDER_DOMAINS.has(d)) return undefined;
  return suggestion.full;
}
