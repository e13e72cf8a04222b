// Our own JSON body parser: it keeps the raw text (for verbatim `custom` values and idempotency
// hashing) and answers API.md's exact messages for empty and malformed bodies.
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawText?: string;
  }
}

export const BODY_LIMIT = 10 * 1024 * 1024;

export function installJsonBody(app: FastifyInstance) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (req, text, done) => {
    const body = String(text);
    req.rawText = body;
    if (body.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body));
    } catch {
      done(new ApiError(400, 'Invalid JSON input'), undefined);
    }
  });
}
