// Asks one operator-configured HTTP JSON provider for a number. Every way a vendor can fail (status,
// body, JSON, timeout) comes back as a value, never an exception, so the waterfall can record it and ask
// the next provider. Only the caller's own abort (worker shutdown) is thrown.
import { request, type Dispatcher } from 'undici';
import { parseJsonPath, readJsonPath } from './json-path.js';
import type { PhoneProviderConfig } from './provider-config.js';
import { renderBody, renderString, renderUrl, type Env, type TemplateValues } from './template.js';

export const DEFAULT_PROVIDER_TIMEOUT_MS = 10_000;
/** a phone lookup answer is small; a huge body is a misconfigured URL, not a number */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface ProviderRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export type ProviderAnswer =
  | { kind: 'number'; value: unknown; country?: unknown; httpStatus: number }
  | { kind: 'no_number'; httpStatus: number }
  | { kind: 'error'; error: string; httpStatus?: number }
  | { kind: 'timeout'; error: string };

/** Renders the provider's templates for one search; throws MissingTemplateValueError if a field is absent. */
export function buildProviderRequest(provider: PhoneProviderConfig, values: TemplateValues, env: Env): ProviderRequest {
  const method = provider.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [k, v] of Object.entries(provider.headers ?? {})) headers[k.toLowerCase()] = renderString(v, values, env);
  let body: string | undefined;
  if (provider.body !== undefined) {
    body = JSON.stringify(renderBody(provider.body, values, env));
    headers['content-type'] ??= 'application/json';
  }
  return { method, url: renderUrl(provider.url, values, env), headers, body };
}

export async function askProvider(
  provider: PhoneProviderConfig,
  req: ProviderRequest,
  opts: { dispatcher: Dispatcher; signal?: AbortSignal },
): Promise<ProviderAnswer> {
  const timeoutMs = provider.timeout_ms ?? DEFAULT_PROVIDER_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  let status: number;
  let text: string;
  try {
    const res = await request(req.url, { method: req.method, headers: req.headers, body: req.body, signal, dispatcher: opts.dispatcher });
    status = res.statusCode;
    if (status < 200 || status > 299) {
      await res.body.dump().catch(() => undefined);
      return { kind: 'error', error: `HTTP ${status}`, httpStatus: status };
    }
    text = await readLimited(res.body, MAX_RESPONSE_BYTES);
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    if (timeout.aborted) return { kind: 'timeout', error: `no answer within ${timeoutMs} ms` };
    return { kind: 'error', error: describe(err) };
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'error', error: 'response is not valid JSON', httpStatus: status };
  }
  // both paths were validated at load time
  const value = readJsonPath(json, parseJsonPath(provider.number_path));
  if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) {
    return { kind: 'no_number', httpStatus: status };
  }
  const country = provider.country_path ? readJsonPath(json, parseJsonPath(provider.country_path)) : undefined;
  return { kind: 'number', value, country, httpStatus: status };
}

async function readLimited(body: AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) {
      body.destroy();
      throw new Error(`response larger than ${limit} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code;
  const message = e?.message ?? String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
