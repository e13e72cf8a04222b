// LinkedIn profile URLs arrive in many spellings (scheme or not, www / country / mobile subdomain, tracking
// query strings, trailing slash, mixed case). The directory and the providers are keyed by one canonical
// form, so two spellings of the same profile must normalise to the same string, and anything that is not
// a personal profile must be refused at POST time (400 `Invalid linkedin_url`) rather than searched.
//
// Decisions (documented because LinkedIn has more URL shapes than the API accepts):
// - only `/in/<slug>` is a profile. Company pages (/company/…), posts (/posts/…, /feed/…), schools,
//   Sales Navigator (/sales/…) and profile sub-pages (/in/<slug>/details/…) are refused.
// - the old public form `/pub/<name>/<a>/<b>/<c>` is refused: LinkedIn maps it to an /in/ slug only by a
//   server-side redirect we cannot reproduce offline, and guessing would key a different person.
// - hosts: linkedin.com, www., m. (mobile) and two-letter country subdomains (fr.linkedin.com). Anything else,
//   including look-alikes such as linkedin.com.evil.com or evil.com/in/x, is refused.
// - the slug is percent-decoded, lowercased (LinkedIn slugs are case-insensitive) and re-encoded with
//   encodeURIComponent so non-ASCII slugs have exactly one spelling. Member ids (`/in/ACoAA…`, what
//   LinkedIn's own exports and Sales Navigator links hold) are encoded ids, not names: their case is kept.
// - control characters anywhere are refused: the URL parser deletes tabs and newlines, so `jane\tdoe`
//   would silently become the profile `janedoe`, someone else.

const CANONICAL_PREFIX = 'https://www.linkedin.com/in/';
const PROFILE_HOST = /^(?:(?:www|m|[a-z]{2})\.)?linkedin\.com$/;
// LinkedIn custom URLs are 3–100 letters or digits with hyphens; auto-generated ones add digits and
// underscores are seen in old imports. Letters may be non-Latin (marks included for decomposed forms).
const SLUG = /^[\p{L}\p{M}\p{N}_-]{3,100}$/u;
const MEMBER_ID = /^ACoAA[A-Za-z0-9_-]{10,}$/;

/** Canonical `https://www.linkedin.com/in/<slug>` for a LinkedIn profile URL, or null if it is not one. */
export function normalizeLinkedinUrl(input: string): string | null {
  if (typeof input !== 'string') return null;
  let text = input.trim();
  if (!text || text.length > 2048 || /[\u0000-\u001f\u007f]/.test(text)) return null;
  if (text.startsWith('//')) text = `https:${text}`;
  else if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) text = `https://${text}`;

  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (url.username || url.password || url.port) return null;
  if (!PROFILE_HOST.test(url.hostname)) return null;

  // Query string and fragment are dropped: they carry tracking (trk=, originalSubdomain=) never identity.
  const segments = url.pathname.split('/');
  // '/in/slug' -> ['', 'in', 'slug']; '/in/slug/' -> ['', 'in', 'slug', '']
  if (segments[0] !== '') return null;
  if (segments.length === 4 ? segments[3] !== '' : segments.length !== 3) return null;
  if (segments[1].toLowerCase() !== 'in') return null;

  let slug: string;
  try {
    slug = decodeURIComponent(segments[2]);
  } catch {
    return null; // malformed percent-encoding
  }
  slug = slug.normalize('NFC');
  if (!MEMBER_ID.test(slug)) slug = slug.toLowerCase();
  if (!SLUG.test(slug)) return null;
  return CANONICAL_PREFIX + encodeURIComponent(slug);
}
