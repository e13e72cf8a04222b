// Our own JSON body parser: it keeps the raw text (for verbatim `custom` values and idempotency
// hashing) and answers API.md's exact messages for empty and malformed bodies.
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawText?: string;
  }
}

/** a 5,000-item bulk with room to spare */
export const BODY_LIMIT = 10 * 1024 * 1024;
/** a single search, a webhook setting: nothing of API.md needs more (it bounds what one request can store) */
export const SINGLE_BODY_LIMIT = 1024 * 1024;
/**
 * JSON.parse takes any depth, but storing a body (JSON.stringify) overflows the stack at a few thousand
 * levels: a 500 at submission, or worse, a search whose completion fails for ever. No request of API.md
 * nests beyond a handful of levels.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether arrays and objects nest deeper than `limit`, brackets inside strings not counted. Run before
 * JSON.parse: parsing millions of nested levels first cost seconds of CPU and a gigabyte per request.
 */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: the next character is escaped
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 91 || c === 123) {
      if (++depth > limit) return true;
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
  return false;
}

export function installJsonBody(app: FastifyInstance) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (req, text, done) => {
    const body = String(text);
    req.rawText = body;
    if (body.trim() === '') return done(null, undefined);
    if (nestsDeeperThan(body, MAX_JSON_DEPTH)) return done(new ApiError(400, 'Invalid JSON input'), undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return done(new ApiError(400, 'Invalid JSON input'), undefined);
    }
    done(null, parsed);
  });
}
