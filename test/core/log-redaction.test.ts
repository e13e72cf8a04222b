// Secrets never reach the log, wherever they sit in what is logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withoutPassword } from '../../src/config.js';
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

test('a refused URL is repeated without its password, whatever the password holds', () => {
  // "u:2024/pw@h" parses as host u, port 2024; "pa/ss" and "p@ss" make the URL unparseable
  for (const [url, shown] of [
    ['socks5://u:2024/S3cret@h:1080', 'socks5://u:***@h:1080'],
    ['postgres://root:pa/S3cret@127.0.0.1:5432/db', 'postgres://root:***@127.0.0.1:5432/db'],
    ['postgres://root:p@S3cret@127.0.0.1:99999/db', 'postgres://root:***@127.0.0.1:99999/db'],
    ['postgres://root:S3cret@127.0.0.1:5432/db', 'postgres://root:***@127.0.0.1:5432/db'],
    ['postgres://127.0.0.1/db', 'postgres://127.0.0.1/db'],
  ]) {
    assert.equal(withoutPassword(url!), shown);
  }
});
