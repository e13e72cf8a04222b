// Structured logs; anything that could hold a secret is redacted before it is written.
import pino from 'pino';

// pino's paths match at one depth each: a secret field is listed at the top level and two levels down
const SECRET_FIELDS = ['apiKey', 'api_key', 'secret', 'key_hash', 'password'];
const REDACT = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'headers["x-api-key"]',
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
];

/** `destination`: where the lines go (default stdout; tests pass their own stream). */
export function createLogger(level: string, destination?: pino.DestinationStream) {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

export type Logger = ReturnType<typeof createLogger>;
