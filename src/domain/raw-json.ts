// `custom` must come back byte-for-byte as the client sent it (1.0 stays 1.0, big integers keep every
// digit, spacing is kept). JSON.parse cannot promise that, so this scanner finds where each member of
// the request body starts and ends, and the serializer splices those exact bytes back into responses.

export type Span = [start: number, end: number];

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function skipWs(t: string, i: number): number {
  while (i < t.length && WS.has(t.charCodeAt(i))) i++;
  return i;
}

function skipString(t: string, i: number): number {
  // t[i] is the opening quote; the body was already validated by JSON.parse.
  for (i++; i < t.length; i++) {
    const c = t[i];
    if (c === '\\') i++;
    else if (c === '"') return i + 1;
  }
  throw new Error('unterminated string');
}

/** Returns the index just past the JSON value starting at i (after whitespace). */
function skipValue(t: string, i: number): number {
  i = skipWs(t, i);
  const c = t[i];
  if (c === '"') return skipString(t, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (; i < t.length; i++) {
      const ch = t[i];
      if (ch === '"') i = skipString(t, i) - 1;
      else if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    throw new Error('unterminated container');
  }
  while (i < t.length && !/[\s,}\]]/.test(t[i]!)) i++;
  return i;
}

/** Each member of the object at span, in order: its key, where its key starts, and its value's span. */
function* members(t: string, span: Span = [0, t.length]): Generator<{ key: string; keyStart: number; value: Span }> {
  let i = skipWs(t, span[0]);
  if (t[i] !== '{') return;
  i = skipWs(t, i + 1);
  if (t[i] === '}') return;
  for (;;) {
    const keyStart = i;
    const keyEnd = skipString(t, i);
    const key = JSON.parse(t.slice(i, keyEnd)) as string;
    i = skipWs(t, keyEnd) + 1; // past ':'
    const start = skipWs(t, i);
    const end = skipValue(t, start);
    yield { key, keyStart, value: [start, end] };
    i = skipWs(t, end);
    if (t[i] === ',') i = skipWs(t, i + 1);
    else return;
  }
}

/** Member spans of the object at span (last duplicate wins, as in JSON.parse). */
export function objectMembers(t: string, span: Span = [0, t.length]): Map<string, Span> {
  const out = new Map<string, Span>();
  for (const m of members(t, span)) out.set(m.key, m.value);
  return out;
}

/**
 * The object's text without the members named (every occurrence), the others exactly as sent: each
 * member's bytes from its key to the end of its value, joined by commas. Not an object: unchanged.
 */
export function withoutMembers(t: string, drop: ReadonlySet<string>): string {
  const kept: string[] = [];
  let dropped = false;
  for (const m of members(t)) {
    if (drop.has(m.key)) dropped = true;
    else kept.push(t.slice(m.keyStart, m.value[1]));
  }
  return dropped ? `{${kept.join(',')}}` : t;
}

/** Element spans of the array at span. */
export function arrayElements(t: string, span: Span): Span[] {
  const out: Span[] = [];
  let i = skipWs(t, span[0]);
  if (t[i] !== '[') return out;
  i = skipWs(t, i + 1);
  if (t[i] === ']') return out;
  for (;;) {
    const start = skipWs(t, i);
    const end = skipValue(t, start);
    out.push([start, end]);
    i = skipWs(t, end);
    if (t[i] === ',') i = skipWs(t, i + 1);
    else return out;
  }
}

export const sliceSpan = (t: string, s: Span | undefined) => (s ? t.slice(s[0], s[1]) : null);

/** A piece of JSON text to be emitted verbatim by stringifyWithRaw. */
export class RawJson {
  constructor(readonly text: string) {}
}

export const raw = (text: string | null | undefined): RawJson | undefined =>
  text === null || text === undefined ? undefined : new RawJson(text);

/** JSON.stringify that emits RawJson values verbatim. */
export function stringifyWithRaw(value: unknown): string {
  const pieces: string[] = [];
  const tag = `\u0001raw${Math.random().toString(36).slice(2)}:`;
  const json = JSON.stringify(value, (_k, v) => {
    if (v instanceof RawJson) {
      pieces.push(v.text);
      return `${tag}${pieces.length - 1}`;
    }
    return v;
  });
  if (!pieces.length) return json;
  // The tag holds \u0001, which JSON.stringify escapes; match that escaped form only.
  const escapedTag = JSON.stringify(tag).slice(1, -1);
  return json.replace(new RegExp(`"${escapedTag.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(\\d+)"`, 'g'), (_m, n) => pieces[Number(n)]!);
}
