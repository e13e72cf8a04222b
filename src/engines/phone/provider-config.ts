// The operator's phone data sources, declared in a JSON or YAML file (OPENROW_PHONE_PROVIDERS) so a vendor
// API can be plugged in without code. The file is validated completely at start-up and every problem is
// reported at once with its location: a typo must stop the server, not silently skip a paid source.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseJsonPath } from './json-path.js';
import { isTemplateField, placeholdersOf, stringsOf, TEMPLATE_FIELDS, type Env } from './template.js';

export interface PhoneProviderConfig {
  name: string;
  type: 'http_json';
  /** template with {linkedin_url} {first_name} {last_name} {company_domain} {company_name}, URL-encoded; ${ENV} allowed */
  url: string;
  method?: 'GET' | 'POST';
  /** values may reference env: '${VENDOR_KEY}' and search fields: '{linkedin_url}' */
  headers?: Record<string, string>;
  /** JSON body template (POST only): strings are rendered like headers */
  body?: unknown;
  /** JSON path like 'data.phone' or 'results[0].number' */
  number_path: string;
  /** JSON path to an ISO alpha-2 country, used to read national-format numbers */
  country_path?: string;
  /** default 10000 */
  timeout_ms?: number;
  /** requests per second, enforced in this process; over the limit the provider is skipped */
  rate_limit_per_sec?: number;
  /** the operator's cost of one answered request, reported in details */
  cost?: number;
}

export class PhoneProvidersConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid phone providers config (${source}):\n  - ${problems.join('\n  - ')}`);
    this.name = 'PhoneProvidersConfigError';
  }
}

const KNOWN_KEYS = new Set(['name', 'type', 'url', 'method', 'headers', 'body', 'number_path', 'country_path', 'timeout_ms', 'rate_limit_per_sec', 'cost']);
const MAX_TIMEOUT_MS = 120_000;

/**
 * Reads providers from a file path (.json, or YAML for any other extension) or from inline JSON text
 * (starting with `[` or `{`). Accepted shapes: a list of providers, or `{ providers: [...] }`.
 * `${VAR}` references must be set in `env` (default process.env). Throws PhoneProvidersConfigError.
 */
export function loadPhoneProviders(pathOrJson: string, env: Env = process.env): PhoneProviderConfig[] {
  const trimmed = pathOrJson.trim();
  const inline = trimmed.startsWith('[') || trimmed.startsWith('{');
  const source = inline ? 'inline JSON' : pathOrJson;
  let doc: unknown;
  if (inline) {
    doc = parseOrThrow(source, () => JSON.parse(trimmed));
  } else {
    let text: string;
    try {
      text = readFileSync(pathOrJson, 'utf8');
    } catch (err) {
      throw new PhoneProvidersConfigError(source, [`cannot read file: ${(err as Error).message}`]);
    }
    doc = parseOrThrow(source, () => (extname(pathOrJson).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text)));
  }
  return validatePhoneProviders(doc, source, env);
}

// Where the file is broken, never what it says there: the parsers quote the offending line (YAML's code
// frame, V8's JSON snippet), and that line may hold a provider's API key.
function parseOrThrow(source: string, parse: () => unknown): unknown {
  try {
    return parse();
  } catch (err) {
    const e = err as Error & { code?: string; linePos?: Array<{ line: number; col: number }> };
    const pos = e.linePos?.[0];
    const offset = /at position (\d+)/.exec(e.message)?.[1];
    const where = pos ? `${e.code ?? 'YAML error'} at line ${pos.line}, column ${pos.col}` : offset ? `not valid JSON at position ${offset}` : 'not valid JSON';
    throw new PhoneProvidersConfigError(source, [`cannot parse: ${where}`]);
  }
}

/** Validates an already-parsed document; returns providers with defaults left unset (the engine applies them). */
export function validatePhoneProviders(doc: unknown, source = 'config', env: Env = process.env): PhoneProviderConfig[] {
  const list = Array.isArray(doc) ? doc : isRecord(doc) && Array.isArray(doc.providers) ? doc.providers : undefined;
  if (!list) throw new PhoneProvidersConfigError(source, ['expected a list of providers, or an object with a "providers" list']);

  const problems: string[] = [];
  const names = new Set<string>();
  const providers: PhoneProviderConfig[] = [];
  list.forEach((raw: unknown, i: number) => {
    const before = problems.length;
    const at = (field: string) => `providers[${i}]${isRecord(raw) && typeof raw.name === 'string' ? ` (${raw.name})` : ''}.${field}`;
    if (!isRecord(raw)) {
      problems.push(`providers[${i}]: must be an object`);
      return;
    }
    for (const key of Object.keys(raw)) if (!KNOWN_KEYS.has(key)) problems.push(`${at(key)}: unknown setting (known: ${[...KNOWN_KEYS].join(', ')})`);

    if (typeof raw.name !== 'string' || !/^[A-Za-z0-9][\w.-]{0,63}$/.test(raw.name)) {
      problems.push(`${at('name')}: required, 1-64 letters, digits, '.', '_' or '-'`);
    } else if (raw.name === 'directory') {
      problems.push(`${at('name')}: "directory" is reserved for the contacts directory`);
    } else if (names.has(raw.name)) {
      problems.push(`${at('name')}: duplicate name`);
    } else names.add(raw.name);

    if (raw.type !== 'http_json') problems.push(`${at('type')}: must be "http_json"`);
    const method = raw.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST') problems.push(`${at('method')}: must be "GET" or "POST"`);

    const templates: { field: string; text: string }[] = [];
    if (typeof raw.url !== 'string' || raw.url.trim() === '') problems.push(`${at('url')}: required string`);
    else {
      templates.push({ field: 'url', text: raw.url });
      // placeholders replaced by harmless text so the rest of the URL can be checked now, not at first use
      const probe = raw.url.replace(/\$?\{[A-Za-z_][A-Za-z0-9_]*\}/g, 'x');
      let parsed: URL | undefined;
      try {
        parsed = new URL(probe);
      } catch {
        problems.push(`${at('url')}: not a valid URL`);
      }
      if (parsed && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') problems.push(`${at('url')}: must be http or https`);
    }

    if (raw.headers !== undefined) {
      if (!isRecord(raw.headers)) problems.push(`${at('headers')}: must be an object of strings`);
      else
        for (const [k, v] of Object.entries(raw.headers)) {
          if (typeof v !== 'string') problems.push(`${at(`headers.${k}`)}: must be a string`);
          else templates.push({ field: `headers.${k}`, text: v });
        }
    }
    if (raw.body !== undefined) {
      if (method !== 'POST') problems.push(`${at('body')}: only allowed with method POST`);
      for (const s of stringsOf(raw.body)) templates.push({ field: 'body', text: s });
    }
    for (const t of templates) {
      const { fields, envVars } = placeholdersOf(t.text);
      for (const f of fields) if (!isTemplateField(f)) problems.push(`${at(t.field)}: unknown placeholder {${f}} (known: ${TEMPLATE_FIELDS.join(', ')})`);
      for (const v of envVars) if (env[v] === undefined) problems.push(`${at(t.field)}: environment variable ${v} is not set`);
    }

    for (const key of ['number_path', 'country_path'] as const) {
      if (raw[key] === undefined && key === 'country_path') continue;
      try {
        parseJsonPath(raw[key] as string);
      } catch (err) {
        problems.push(`${at(key)}: ${key === 'number_path' && raw[key] === undefined ? 'required' : (err as Error).message}`);
      }
    }
    if (raw.timeout_ms !== undefined && !(Number.isInteger(raw.timeout_ms) && (raw.timeout_ms as number) > 0 && (raw.timeout_ms as number) <= MAX_TIMEOUT_MS)) {
      problems.push(`${at('timeout_ms')}: must be an integer between 1 and ${MAX_TIMEOUT_MS}`);
    }
    if (raw.rate_limit_per_sec !== undefined && !(typeof raw.rate_limit_per_sec === 'number' && raw.rate_limit_per_sec > 0 && Number.isFinite(raw.rate_limit_per_sec))) {
      problems.push(`${at('rate_limit_per_sec')}: must be a positive number`);
    }
    if (raw.cost !== undefined && !(typeof raw.cost === 'number' && raw.cost >= 0 && Number.isFinite(raw.cost))) {
      problems.push(`${at('cost')}: must be a number >= 0`);
    }
    if (problems.length === before) providers.push(raw as unknown as PhoneProviderConfig);
  });
  if (problems.length) throw new PhoneProvidersConfigError(source, problems);
  return providers;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
