// Numbers from data sources are only as good as their validation: each one is parsed with
// libphonenumber-js (the `max` metadata, the only build where getType() can tell mobile from fixed line)
// and discarded when it does not validate, so a malformed vendor value is never sold as "found".
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

export type LineType =
  | 'mobile'
  | 'fixed_line'
  | 'fixed_line_or_mobile'
  | 'voip'
  | 'toll_free'
  | 'premium_rate'
  | 'shared_cost'
  | 'personal_number'
  | 'pager'
  | 'uan'
  | 'voicemail'
  | 'unknown';

export interface ValidNumber {
  /** E.164, e.g. +33612345678 */
  e164: string;
  /** ISO 3166 alpha-2 (non-geographic numbers, +800 …, are refused) */
  country: string;
  line_type: LineType;
}

export type NumberCheck = { valid: true; number: ValidNumber } | { valid: false; reason: string };

/** The ISO code if `code` is a country libphonenumber knows, else undefined. */
export function asCountryCode(code: string | null | undefined): CountryCode | undefined {
  if (typeof code !== 'string') return undefined;
  const upper = code.trim().toUpperCase();
  if (upper === 'UK') return 'GB'; // common alias, not an ISO code
  return /^[A-Z]{2}$/.test(upper) && isSupportedCountry(upper) ? (upper as CountryCode) : undefined;
}

// Country-code TLDs that are mostly bought as generic names (.io startups, .ai, .co, .me …): their TLD says
// nothing about where the company's phones are, so they must not pick the default country.
const VANITY_CCTLDS = new Set(['io', 'ai', 'co', 'me', 'tv', 'fm', 'ly', 'gg', 'to', 'sh', 'cc', 'ws', 'nu', 'la', 'so', 'vc', 'im', 'ac', 'gl']);

/** The country a company domain's TLD points to (acme.fr -> FR, acme.co.uk -> GB), if any. */
export function countryOfDomain(domain: string | null | undefined): CountryCode | undefined {
  if (!domain) return undefined;
  const labels = domain.trim().toLowerCase().replace(/\.$/, '').split('.');
  const tld = labels[labels.length - 1];
  if (labels.length < 2 || !tld || VANITY_CCTLDS.has(tld)) return undefined;
  return asCountryCode(tld);
}

const PHONE_TEXT = /^\+?[\d\s().\-/]+(?:\s*(?:ext\.?|x|#)\s*\d{1,6})?$/i;

/** Parses a raw value from a source; a national-format number needs `defaultCountry`. */
export function checkNumber(raw: unknown, defaultCountry?: CountryCode): NumberCheck {
  let text: string;
  // the usual spellings of a number first: a tel: URI, Unicode dashes, RFC 3966's ;ext=, and invisible
  // format characters (a left-to-right mark from a web page or a spreadsheet)
  if (typeof raw === 'string') text = raw.replace(/\p{Cf}/gu, '').trim().replace(/^tel:/i, '').replace(/[\u2010-\u2015\u2212]/g, '-').replace(/;ext=/i, ' ext ').trim();
  else if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw > 0) text = String(raw);
  else return { valid: false, reason: `not a phone number value (${raw === null ? 'null' : typeof raw})` };
  if (!text) return { valid: false, reason: 'empty value' };
  if (text.length > 64) return { valid: false, reason: 'value too long to be a phone number' };
  // libphonenumber picks a number out of any text ("unknown, try +1 570 555 1234", "+15705551234abc"): a
  // value holding anything but a number's characters (and an extension) is not one
  if (!PHONE_TEXT.test(text)) return { valid: false, reason: 'not a phone number (holds other text)' };

  // A bare run of digits such as 33612345678 is how many APIs serialise E.164 without the plus sign.
  // With a default country, short runs are national numbers and only long ones (country code + national
  // number) are also read as international, so a wrong default cannot turn them into another country's.
  const candidates = [text];
  if (/^\d+$/.test(text) && text.length <= 15 && text.length >= (defaultCountry ? 11 : 8)) candidates.push(`+${text}`);
  for (const candidate of candidates) {
    const parsed = parsePhoneNumberFromString(candidate, defaultCountry ? { defaultCountry } : undefined);
    if (parsed?.isValid()) {
      const type = parsed.getType();
      // a person's phone has a country (API.md's `country`), and is never a premium-rate line
      if (!parsed.country) return { valid: false, reason: `${parsed.number} is a non-geographic number, not a person's phone` };
      if (type === 'PREMIUM_RATE') return { valid: false, reason: `${parsed.number} is a premium-rate number, not a person's phone` };
      return {
        valid: true,
        number: { e164: parsed.number, country: parsed.country, line_type: type ? (type.toLowerCase() as LineType) : 'unknown' },
      };
    }
  }
  return {
    valid: false,
    reason: defaultCountry ? `not a valid phone number for ${defaultCountry}` : 'not a valid international phone number (no country to read it in)',
  };
}
