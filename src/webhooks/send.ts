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
  /** sent as given: the caller includes content-type and user-agent */
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
  /**
   * The connection was found closed before any answer (a keep-alive socket the receiver had just closed:
   * undici does not resend a POST on its own). Nothing says the receiver saw the request.
   */
  closedBeforeAnswer?: boolean;
}

class AttemptTimeout extends Error {
  readonly code = 'ERR_OPENROW_ATTEMPT_TIMEOUT';
}
class AttemptCancelled extends Error {
  readonly code = 'ERR_OPENROW_ATTEMPT_CANCELLED';
}

export function sendWebhook(agent: Agent, req: SendRequest): Promise<SendResult> {
  return new Promise<SendResult>((resolve) => {
    const attempt = new Attempt(req, resolve);
    try {
      agent.dispatch(
        {
          origin: req.url.origin,
          path: req.url.search ? `${req.url.pathname}${req.url.search}` : req.url.pathname,
          method: 'POST',
          headers: req.headers,
          body: req.body,
          // the attempt timer bounds everything; these only replace undici's 300 s defaults
          headersTimeout: req.timeoutMs,
          bodyTimeout: req.timeoutMs,
        },
        attempt,
      );
    } catch (err) {
      attempt.fail(err);
    }
  });
}

// One object per attempt, its methods on the prototype: at thousands of attempts per second, a closure
// per callback (and a result object per step) was a measurable share of the garbage collector's work.
class Attempt implements Dispatcher.DispatchHandler {
  private readonly startedAt = Date.now();
  private readonly t0 = performance.now();
  private controller: Dispatcher.DispatchController | null = null;
  // set when we end the attempt before undici handed us its controller (still connecting)
  private pendingAbort: Error | null = null;
  private settled = false;
  private status = 0;
  private headers: Record<string, string> = {};
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private seen = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly req: SendRequest,
    private readonly resolve: (r: SendResult) => void,
  ) {
    this.timer = setTimeout(onAttemptTimeout, req.timeoutMs, this);
    if (req.cancelToken) req.cancelToken.cancel = () => this.abort(new AttemptCancelled('attempt cancelled'));
  }

  timeout() {
    this.abort(new AttemptTimeout(`no complete response within ${this.req.timeoutMs} ms`));
  }

  abort(err: Error) {
    if (this.controller) {
      this.controller.abort(err);
    } else {
      // still connecting: undici is told once it hands over its controller, but the attempt ends now
      // (a timeout or stop() must not wait for the connect timeout)
      this.pendingAbort = err;
      this.fail(err);
    }
  }

  private finish(statusCode: number | null, headers: Record<string, string> | null, body: string | null, error: string | null, errorKind: AttemptErrorKind | null, cancelled = false, closedBeforeAnswer = false) {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.req.cancelToken) this.req.cancelToken.cancel = undefined;
    const r: SendResult = { startedAt: this.startedAt, durationMs: Math.round(performance.now() - this.t0), statusCode, headers, body, error, errorKind };
    if (cancelled) r.cancelled = true;
    if (closedBeforeAnswer) r.closedBeforeAnswer = true;
    this.resolve(r);
  }

  private succeed() {
    const status = this.status;
    const ok = status >= 200 && status < 300;
    const bytes = this.kept.length === 1 ? this.kept[0]! : Buffer.concat(this.kept);
    // cut at 32 KB, the last character may be split: it is left out rather than shown as U+FFFD
    const body = (this.seen > this.keptBytes ? wholeCharacters(bytes) : bytes).toString('utf8');
    this.finish(status, this.headers, body, ok ? null : status >= 300 && status < 400 ? `redirect (${status}) not followed` : `HTTP ${status}`, null);
  }

  fail(err: unknown) {
    const { kind, message, code } = describeError(err);
    this.finish(null, null, null, message, kind, err instanceof AttemptCancelled, this.status === 0 && CLOSED_CODES.has(code));
  }

  onRequestStart(c: Dispatcher.DispatchController) {
    this.controller = c;
    if (this.pendingAbort) c.abort(this.pendingAbort);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, rawHeaders: Record<string, string | string[] | undefined>) {
    // 1xx informational answers come first and are not the response
    if (statusCode < 200) return;
    this.status = statusCode;
    const headers: Record<string, string> = {};
    for (const k in rawHeaders) {
      const v = rawHeaders[k];
      if (v !== undefined) headers[k] = typeof v === 'string' ? v : v.join(', ');
    }
    this.headers = headers;
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer) {
    this.seen += chunk.length;
    if (this.keptBytes < RESPONSE_BODY_LIMIT) {
      const part = chunk.length <= RESPONSE_BODY_LIMIT - this.keptBytes ? chunk : chunk.subarray(0, RESPONSE_BODY_LIMIT - this.keptBytes);
      this.kept.push(part);
      this.keptBytes += part.length;
    }
    if (this.seen > DRAIN_LIMIT) {
      // we have what we record; the answer is complete as far as we are concerned
      this.succeed();
      c.abort(new Error('response body too large, connection dropped'));
    }
  }

  onResponseEnd() {
    this.succeed();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error) {
    this.fail(err);
  }
}

/** `bytes` without a UTF-8 sequence left incomplete at its end. */
export function wholeCharacters(bytes: Buffer): Buffer {
  let i = bytes.length - 1;
  // back over at most three continuation bytes (10xxxxxx) to the last sequence's lead byte
  while (i >= 0 && i > bytes.length - 4 && (bytes[i]! & 0xc0) === 0x80) i--;
  if (i < 0) return bytes;
  const lead = bytes[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return bytes.length - i < need ? bytes.subarray(0, i) : bytes;
}

function onAttemptTimeout(a: Attempt) {
  a.timeout();
}

const CLOSED_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

function describeError(err: unknown): { kind: AttemptErrorKind; message: string; code: string } {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code ?? e?.cause?.code ?? '';
  return { ...classify(code, e?.message ?? String(err)), code };
}

function classify(code: string, msg: string): { kind: AttemptErrorKind; message: string } {
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
