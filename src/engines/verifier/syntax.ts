// Address grammar of RFC 5321 §4.1.2 (Mailbox = Local-part "@" Domain) with the length limits of
// RFC 5321 §4.5.3.1 and RFC 3696 errata 1690 (254 octets for a whole path). IDN domains are checked
// and probed in their ASCII (punycode) form, because that is what DNS and RCPT TO carry.
import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';

/** `[192.0.2.1]`, `[IPv6:2001:db8::1]` (RFC 5321 4.1.3; its general tag:content form is not used on the Internet) */
function isAddressLiteral(domain: string): boolean {
  const m = /^\[(.+)\]$/.exec(domain);
  if (!m) return false;
  const inner = m[1]!;
  return isIPv4(inner) || (/^ipv6:/i.test(inner) && isIPv6(inner.slice(5)));
}

export interface ParsedAddress {
  ok: true;
  /** local part exactly as given (case is significant to the receiving server) */
  local: string;
  /** the domain as given, lowercased */
  domain: string;
  /** punycode form used for DNS and SMTP */
  asciiDomain: string;
  /** the address as it is sent in RCPT TO */
  address: string;
  /** local part holds non-ASCII characters: needs an SMTPUTF8 server */
  utf8Local: boolean;
}

export interface AddressSyntaxError {
  ok: false;
  reason: string;
  /** the syntax is valid (an address literal) but the address is not probed: its answer is unknown, not "invalid" */
  notProbed?: boolean;
}

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+$/u;
const QUOTED = /^"(?:[\x20\x21\x23-\x5B\x5D-\x7E\u0080-\uFFFF]|\\[\x20-\x7E])*"$/u;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const MAX_LOCAL_OCTETS = 64;
export const MAX_DOMAIN_OCTETS = 253;
export const MAX_PATH_OCTETS = 254;

const octets = (s: string) => Buffer.byteLength(s, 'utf8');

export function parseEmailAddress(input: string): ParsedAddress | AddressSyntaxError {
  const raw = input.trim();
  if (raw.length === 0) return { ok: false, reason: 'empty address' };
  // JSON may carry half a surrogate pair ("\ud800"): no character, so no address (and no UTF-8 for RCPT TO)
  if (LONE_SURROGATE.test(raw)) return { ok: false, reason: 'holds an unpaired UTF-16 surrogate, which is no character' };
  const at = raw.lastIndexOf('@');
  if (at <= 0) return { ok: false, reason: at === 0 ? 'empty local part' : 'missing @' };
  const local = raw.slice(0, at);
  const domain = raw.slice(at + 1).toLowerCase();
  if (domain.length === 0) return { ok: false, reason: 'empty domain' };

  if (octets(local) > MAX_LOCAL_OCTETS) {
    return { ok: false, reason: `local part longer than ${MAX_LOCAL_OCTETS} octets` };
  }
  if (local.startsWith('"')) {
    if (!QUOTED.test(local)) return { ok: false, reason: 'malformed quoted local part' };
  } else {
    // Dot-string: atoms separated by single dots, no leading/trailing/double dot.
    const atoms = local.split('.');
    if (atoms.some((a) => a.length === 0)) {
      return { ok: false, reason: 'local part has a leading, trailing or double dot' };
    }
    if (!atoms.every((a) => ATEXT.test(a))) {
      return { ok: false, reason: 'local part holds a character not allowed unquoted' };
    }
  }

  if (domain.startsWith('[')) {
    // RFC 5321 4.1.3 allows them; we do not connect to an address a tenant names (SSRF), so nothing is
    // known. Anything else in brackets is no address at all.
    if (!isAddressLiteral(domain)) return { ok: false, reason: 'domain is an address literal that holds no IP address' };
    return { ok: false, reason: 'address literals ([ip]) are not probed', notProbed: true };
  }
  const asciiDomain = domainToASCII(domain);
  if (!asciiDomain) return { ok: false, reason: 'domain is not a valid (internationalized) host name' };
  if (asciiDomain.length > MAX_DOMAIN_OCTETS) {
    return { ok: false, reason: `domain longer than ${MAX_DOMAIN_OCTETS} octets` };
  }
  const labels = asciiDomain.split('.');
  if (labels.length < 2) return { ok: false, reason: 'domain needs at least two labels' };
  if (!labels.every((l) => LABEL.test(l))) {
    return { ok: false, reason: 'domain label is empty, too long, or holds characters other than letters, digits and inner hyphens' };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    return { ok: false, reason: 'top-level domain cannot be numeric' };
  }
  const address = `${local}@${asciiDomain}`;
  if (octets(address) > MAX_PATH_OCTETS) {
    return { ok: false, reason: `address longer than ${MAX_PATH_OCTETS} octets` };
  }
  return { ok: true, local, domain, asciiDomain, address, utf8Local: /[^\x00-\x7F]/.test(local) };
}
