// One delivery attempt over HTTPS: POST the exact payload bytes, never follow redirects, and record what
// the receiver said (status, latency, headers, first 32 KB of the body) or why no answer came.
import type { Agent } from 'undici';
import type { AttemptErrorKind } from './types.js';

export const RESPONSE_BODY_LIMIT = 32 * 1024;
// beyond this we stop draining and drop the connection rather than read an endless body
const DRAIN_LIMIT = 1024 * 1024;

export interface SendRequest {
  url: URL;
  body: string;
  headers: Record<string, string>;
  /** whole attempt: connect, TLS, request, response headers and body */
  timeoutMs: number;
  /** aborts the attempt (dispatcher shutdown) */
  signal?: AbortSignal;
}

export interface SendResult {
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  headers: Record<string, string> | null;
  body: string | null;
  error: string | null;
  errorKind: AttemptErrorKind | null;
}

export async function sendWebhook(agent: Agent, req: SendRequest): Promise<SendResult> {
  const startedAt = Date.now();
  const t0 = performance.now();
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  const elapsed = () => Math.round(performance.now() - t0);
  try {
    const res = await agent.request({
      origin: req.url.origin,
      path: `${req.url.pathname}${req.url.search}`,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Openrow-Webhooks/1.0', ...req.headers },
      body: req.body,
      signal,
      // the total timeout above bounds everything; these only stop undici's own 300 s defaults
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let seen = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (keptBytes < RESPONSE_BODY_LIMIT) {
        const part = chunk.subarray(0, RESPONSE_BODY_LIMIT - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
      if (seen > DRAIN_LIMIT) {
        res.body.destroy();
        break;
      }
    }
    const status = res.statusCode;
    const ok = status >= 200 && status < 300;
    return {
      startedAt,
      durationMs: elapsed(),
      statusCode: status,
      headers,
      body: Buffer.concat(kept).toString('utf8'),
      error: ok ? null : status >= 300 && status < 400 ? `redirect (${status}) not followed` : `HTTP ${status}`,
      errorKind: null,
    };
  } catch (err) {
    const { kind, message } = describeError(err, timeout.aborted, req.timeoutMs);
    return { startedAt, durationMs: elapsed(), statusCode: null, headers: null, body: null, error: message, errorKind: kind };
  }
}

function describeError(err: unknown, timedOut: boolean, timeoutMs: number): { kind: AttemptErrorKind; message: string } {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code ?? e?.cause?.code ?? '';
  const msg = e?.message ?? String(err);
  if (code === 'ERR_OPENROW_BLOCKED_ADDRESS') return { kind: 'blocked', message: msg };
  if (timedOut) return { kind: 'timeout', message: `no complete response within ${timeoutMs} ms` };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'timeout', message: 'connect timeout' };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { kind: 'timeout', message: msg };
  if (code === 'ECONNREFUSED') return { kind: 'refused', message: 'connection refused' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA' || code === 'ESERVFAIL' || code === 'ETIMEOUT') {
    return { kind: 'dns', message: `DNS: ${msg}` };
  }
  if (/^(ERR_TLS|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|ERR_SSL)/.test(code) || /certificate|TLS|SSL/i.test(msg)) {
    return { kind: 'tls', message: `TLS: ${msg}` };
  }
  return { kind: 'network', message: code ? `${code}: ${msg}` : msg };
}
