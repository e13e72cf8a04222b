// Structured logs; anything that could hold a secret is redacted before it is written.
import pino from 'pino';

const REDACT = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'headers["x-api-key"]',
  '*.apiKey',
  '*.api_key',
  '*.secret',
  '*.key_hash',
];

export function createLogger(level: string) {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}

export type Logger = ReturnType<typeof createLogger>;
