// One delivery attempt over HTTPS: POST the exact payload bytes, never follow redirects, and record what
// the receiver said (status, latency, headers, first 32 KB of the body) or why no answer came.
// Written against undici's low-level dispatch API: no response stream, no AbortSignal. At thousands of
// deliveries per second those cost about a third of the throughput of a bare request.
import type { Agent, Dispatcher } from 'undici';
import type { AttemptErrorKind } from './types.js';

export const RESPONSE_BODY_LIMIT = 32 * 1024;
// beyond this we stop reading and drop the connection rather than read an endless body
const DRAIN_LIMIT = 1024 * 1024;

/** Lets the caller end an attempt early (dispatcher shutdown); sendWebhook fills in `cancel`. */
export interface CancelToken {
  cancel?: () => void;
}

export interface SendRequest {
  url: URL;
  body: string;
  headers: Record<string, string>;
  /** whole attempt: connect, TLS, request, response headers and body */
  timeoutMs: number;
  cancelToken?: CancelToken;
}

export interface SendResult {
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  headers: Record<string, string> | null;
  body: string | null;
  error: string | null;
  errorKind: AttemptErrorKind | null;
  /** ended through the cancel token: not an outcome of the receiver's */
  cancelled?: boolean;
}

class AttemptTimeout extends Error {
  readonly code = 'ERR_OPENROW_ATTEMPT_TIMEOUT';
}
class AttemptCancelled extends Error {
  readonly code = 'ERR_OPENROW_ATTEMPT_CANCELLED';
}

export function sendWebhook(agent: Agent, req: SendRequest): Promise<SendResult> {
  const startedAt = Date.now();
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  return new Promise<SendResult>((resolve) => {
    let controller: Dispatcher.DispatchController | null = null;
    // set when we end the attempt before undici handed us its controller (still connecting)
    let pendingAbort: Error | null = null;
    let settled = false;
    let status = 0;
    let headers: Record<string, string> = {};
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let seen = 0;

    const abort = (err: Error) => {
      if (controller) controller.abort(err);
      else pendingAbort = err;
    };
    const timer = setTimeout(() => abort(new AttemptTimeout(`no complete response within ${req.timeoutMs} ms`)), req.timeoutMs);
    if (req.cancelToken) req.cancelToken.cancel = () => abort(new AttemptCancelled('attempt cancelled'));

    const finish = (r: Omit<SendResult, 'startedAt' | 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (req.cancelToken) req.cancelToken.cancel = undefined;
      resolve({ startedAt, durationMs: elapsed(), ...r });
    };
    const succeed = () => {
      const ok = status >= 200 && status < 300;
      finish({
        statusCode: status,
        headers,
        body: Buffer.concat(kept).toString('utf8'),
        error: ok ? null : status >= 300 && status < 400 ? `redirect (${status}) not followed` : `HTTP ${status}`,
        errorKind: null,
      });
    };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (pendingAbort) c.abort(pendingAbort);
      },
      onResponseStart(_c, statusCode, rawHeaders) {
        // 1xx informational answers come first and are not the response
        if (statusCode < 200) return;
        status = statusCode;
        headers = {};
        for (const [k, v] of Object.entries(rawHeaders)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      },
      onResponseData(c, chunk) {
        seen += chunk.length;
        if (keptBytes < RESPONSE_BODY_LIMIT) {
          const part = chunk.subarray(0, RESPONSE_BODY_LIMIT - keptBytes);
          kept.push(part);
          keptBytes += part.length;
        }
        if (seen > DRAIN_LIMIT) {
          // we have what we record; the answer is complete as far as we are concerned
          succeed();
          c.abort(new Error('response body too large, connection dropped'));
        }
      },
      onResponseEnd() {
        succeed();
      },
      onResponseError(_c, err) {
        const { kind, message } = describeError(err);
        finish({ statusCode: null, headers: null, body: null, error: message, errorKind: kind, cancelled: err instanceof AttemptCancelled });
      },
    };

    try {
      agent.dispatch(
        {
          origin: req.url.origin,
          path: `${req.url.pathname}${req.url.search}`,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'Openrow-Webhooks/1.0', ...req.headers },
          body: req.body,
          // the attempt timer above bounds everything; these only replace undici's 300 s defaults
          headersTimeout: req.timeoutMs,
          bodyTimeout: req.timeoutMs,
        },
        handler,
      );
    } catch (err) {
      const { kind, message } = describeError(err);
      finish({ statusCode: null, headers: null, body: null, error: message, errorKind: kind });
    }
  });
}

function describeError(err: unknown): { kind: AttemptErrorKind; message: string } {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code ?? e?.cause?.code ?? '';
  const msg = e?.message ?? String(err);
  if (code === 'ERR_OPENROW_BLOCKED_ADDRESS') return { kind: 'blocked', message: msg };
  if (code === 'ERR_OPENROW_ATTEMPT_TIMEOUT') return { kind: 'timeout', message: msg };
  if (code === 'ERR_OPENROW_ATTEMPT_CANCELLED') return { kind: 'network', message: msg };
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
