// The tiny JSON path dialect of provider configs: `data.phone`, `results[0].number`, `[0].phone`,
// `data["phone-number"]`. Enough to reach a field of a vendor's answer without a query language.

export type JsonPath = ReadonlyArray<string | number>;

const TOKEN = /\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/y;

/** Parses a path; throws an Error whose message explains what is wrong. */
export function parseJsonPath(path: string): JsonPath {
  if (typeof path !== 'string' || path.trim() === '') throw new Error('must be a non-empty path such as "data.phone"');
  const out: (string | number)[] = [];
  let pos = 0;
  while (pos < path.length) {
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(path);
    // names need a dot between them ('a.b', not '.a' nor 'a[0]b'); a dot before a bracket is a typo
    const dotted = path[pos] === '.';
    if (!m || (m[1] !== undefined && dotted !== pos > 0)) throw new Error(`cannot parse "${path}" at position ${pos}`);
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(`"${m[3]}"`) as string);
    pos = TOKEN.lastIndex;
  }
  return out;
}

/** The value at `path` in `root`, or undefined when any step is missing. */
export function readJsonPath(root: unknown, path: JsonPath): unknown {
  let cur: unknown = root;
  for (const step of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (typeof step === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[step];
    } else {
      if (Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, step)) return undefined;
      cur = (cur as Record<string, unknown>)[step];
    }
  }
  return cur;
}
