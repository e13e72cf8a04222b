// The Idempotency-Key header as every POST reads it.
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

/**
 * The key as stored, or undefined without one. Scoped by the key's mode: a test key's request never
 * replays a live key's response (a search it did not make), nor the reverse.
 */
export function idempotencyKeyOf(req: FastifyRequest): string | undefined {
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || key === '') return undefined;
  // the schemas' 255-character limit applies to GET routes only; PostgreSQL's index refuses longer keys
  if (key.length > 255) throw new ApiError(400, 'Invalid Idempotency-Key: at most 255 characters');
  return `${req.auth.mode}:${key}`;
}
