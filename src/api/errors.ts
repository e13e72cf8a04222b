// Every error leaves as {"message": "..."} (API.md). Fastify's own errors are mapped to the same shape.
import type { FastifyError, FastifyInstance } from 'fastify';
import { InputError } from '../domain/inputs.js';
import { InsufficientBalance } from '../store/accounts.js';
import { IdempotencyConflict } from '../store/searches.js';
import { IdempotencyInProgress } from '../store/idempotent-call.js';

export class ApiError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
  }
}

export function installErrorHandling(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError & { statusCode?: number }, req, reply) => {
    if (err instanceof ApiError || err instanceof InputError) return reply.code(err.statusCode).send({ message: err.message });
    if (err instanceof InsufficientBalance) return reply.code(422).send({ message: 'Insufficient balance' });
    if (err instanceof IdempotencyConflict || err instanceof IdempotencyInProgress) return reply.code(409).send({ message: err.message });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ message: 'Payload too large' });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ message: 'Unsupported content type: send application/json' });
    if (err.statusCode === 429) return reply.code(429).send({ message: 'Rate limit exceeded' });
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ message: err.message });
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ message: 'Internal server error' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ message: 'Not found' }));
}
