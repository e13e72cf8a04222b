// Secrets never reach the log, wherever they sit in what is logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';

test('API keys, secrets and passwords are redacted at the top level and nested', () => {
  let out = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      out += chunk;
      done();
    },
  });
  const log = createLogger('info', sink);
  log.info({ apiKey: 'or_live_TOP', secret: 'whsec_TOP', ctx: { api_key: 'or_live_ONE' }, a: { b: { secret: 'whsec_DEEP', password: 'pw_DEEP' } }, req: { headers: { 'x-api-key': 'or_live_HDR' } } }, 'hello');
  const line = JSON.parse(out.trim());
  assert.equal(line.msg, 'hello');
  assert.doesNotMatch(out, /or_live_|whsec_|pw_DEEP/);
  assert.equal(line.apiKey, '[redacted]');
  assert.equal(line.a.b.secret, '[redacted]');
  assert.equal(line.req.headers['x-api-key'], '[redacted]');
});
