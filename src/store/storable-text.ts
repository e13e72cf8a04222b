// Text the stores write or look up, in a form both databases take: NUL bytes, which PostgreSQL text cannot
// hold (a query holding one fails), are dropped, and a lone UTF-16 surrogate, which its JSON parser refuses
// (results travel as JSON), becomes U+FFFD, as encoding it to UTF-8 would have made it.
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function storableText(t: string): string;
export function storableText(t: string | null | undefined): string | null;
export function storableText(t: string | null | undefined): string | null {
  if (!t) return t ?? null;
  if (t.includes('\u0000')) t = t.replaceAll('\u0000', '');
  return SURROGATE.test(t) ? t.replace(LONE_SURROGATE, '\uFFFD') : t;
}
