import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPhoneProviders, PhoneProvidersConfigError } from '../../src/engines/phone/index.js';

const dir = mkdtempSync(join(tmpdir(), 'openrow-phone-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const env = { VENDOR_KEY: 'secret-1' };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PhoneProvidersConfigError, `expected PhoneProvidersConfigError, got ${err}`);
    return err.problems;
  }
  assert.fail('expected the config to be refused');
}

test('a YAML file with two providers loads in order', () => {
  const file = join(dir, 'providers.yaml');
  writeFileSync(
    file,
    [
      'providers:',
      '  - name: cheap-vendor',
      '    type: http_json',
      '    url: "https://api.cheap.example/v1/phone?li={linkedin_url}"',
      '    headers:',
      '      Authorization: "Bearer ${VENDOR_KEY}"',
      '    number_path: data.phone',
      '    country_path: data.country',
      '    timeout_ms: 5000',
      '    rate_limit_per_sec: 5',
      '    cost: 0.1',
      '  - name: pricey_vendor',
      '    type: http_json',
      '    method: POST',
      '    url: https://api.pricey.example/lookup',
      '    body: { first: "{first_name}", last: "{last_name}", domain: "{company_domain}" }',
      '    number_path: "results[0].number"',
      '',
    ].join('\n'),
  );
  const providers = loadPhoneProviders(file, env);
  assert.deepEqual(providers.map((p) => p.name), ['cheap-vendor', 'pricey_vendor']);
  assert.equal(providers[0].headers?.Authorization, 'Bearer ${VENDOR_KEY}'); // resolved per request, not stored
  assert.equal(providers[0].rate_limit_per_sec, 5);
  assert.deepEqual(providers[1].body, { first: '{first_name}', last: '{last_name}', domain: '{company_domain}' });
});

test('a JSON file and inline JSON (a bare list) both load', () => {
  const list = [{ name: 'v1', type: 'http_json', url: 'http://127.0.0.1:9/x/{linkedin_url}', number_path: 'phone' }];
  const file = join(dir, 'providers.json');
  writeFileSync(file, JSON.stringify({ providers: list }));
  assert.deepEqual(loadPhoneProviders(file, env), list);
  assert.deepEqual(loadPhoneProviders(JSON.stringify(list), env), list);
  assert.deepEqual(loadPhoneProviders('[]', env), []);
});

test('unreadable or unparsable files are refused with the cause', () => {
  assert.match(problemsOf(() => loadPhoneProviders(join(dir, 'nope.yaml'), env))[0], /cannot read file/);
  const badJson = join(dir, 'bad.json');
  writeFileSync(badJson, '{"providers": [');
  assert.match(problemsOf(() => loadPhoneProviders(badJson, env))[0], /cannot parse/);
  const badYaml = join(dir, 'bad.yaml');
  writeFileSync(badYaml, 'providers:\n  - name: [unclosed\n');
  assert.match(problemsOf(() => loadPhoneProviders(badYaml, env))[0], /cannot parse/);
  assert.match(problemsOf(() => loadPhoneProviders('{"providers": 3}', env))[0], /expected a list of providers/);
});

test('a file that does not parse is located by line or position, never quoted (the line may hold an API key)', () => {
  const yaml = join(dir, 'secret.yaml');
  writeFileSync(yaml, 'providers:\n  - name: a\n    type: http_json\n    url: "https://vendor.invalid/"\n    headers: { Authorization: "Bearer sk_live_TOPSECRET" \n    number_path: a\n');
  const json = join(dir, 'secret.json');
  writeFileSync(json, '{"providers": [{"name": "a", "headers": {"Authorization": "Bearer sk_live_TOPSECRET"} x]}');
  for (const [source, where] of [[yaml, /^cannot parse: \w+ at line 6, column 5$/], [json, /^cannot parse: not valid JSON at position 86$/], ['[{"auth": "sk_live_TOPSECRET" oops}]', /^cannot parse: not valid JSON at position 30$/]] as const) {
    const [problem] = problemsOf(() => loadPhoneProviders(source, env));
    // before: the parser's message, with the offending line and its secret
    assert.match(problem!, where);
    assert.ok(!problem!.includes('TOPSECRET'));
  }
});

test('every problem of every provider is reported at once, with its location', () => {
  const doc = [
    { name: 'ok', type: 'http_json', url: 'https://a.example/{linkedin_url}', number_path: 'phone' },
    { name: 'ok', type: 'http_json', url: 'https://a.example/', number_path: 'phone' }, // duplicate
    { name: 'typo', type: 'http_json', url: 'https://a.example/', numberPath: 'phone' },
    { name: 'bad-type', type: 'soap', url: 'ftp://a.example/', number_path: 'data..phone', method: 'PUT' },
    { name: 'bad-template', type: 'http_json', url: 'https://a.example/{email}', headers: { 'x-key': '${MISSING_KEY}', n: 3 }, number_path: 'p' },
    { name: 'bad-numbers', type: 'http_json', url: 'not a url', number_path: 'p', timeout_ms: 0, rate_limit_per_sec: -1, cost: 'free' },
    { name: 'get-body', type: 'http_json', url: 'https://a.example/', number_path: 'p', body: { a: 1 } },
    { name: 'directory', type: 'http_json', url: 'https://a.example/', number_path: 'p' },
    'not an object',
  ];
  const problems = problemsOf(() => loadPhoneProviders(JSON.stringify(doc), env));
  const expectations: RegExp[] = [
    /providers\[1\] \(ok\)\.name: duplicate name/,
    /providers\[2\] \(typo\)\.numberPath: unknown setting/,
    /providers\[2\] \(typo\)\.number_path: required/,
    /providers\[3\] \(bad-type\)\.type: must be "http_json"/,
    /providers\[3\] \(bad-type\)\.method: must be "GET" or "POST"/,
    /providers\[3\] \(bad-type\)\.url: must be http or https/,
    /providers\[3\] \(bad-type\)\.number_path: cannot parse/,
    /providers\[4\] \(bad-template\)\.url: unknown placeholder \{email\}/,
    /providers\[4\] \(bad-template\)\.headers\.x-key: environment variable MISSING_KEY is not set/,
    /providers\[4\] \(bad-template\)\.headers\.n: must be a string/,
    /providers\[5\] \(bad-numbers\)\.url: not a valid URL/,
    /providers\[5\] \(bad-numbers\)\.timeout_ms: must be an integer/,
    /providers\[5\] \(bad-numbers\)\.rate_limit_per_sec: must be a positive number/,
    /providers\[5\] \(bad-numbers\)\.cost: must be a number >= 0/,
    /providers\[6\] \(get-body\)\.body: only allowed with method POST/,
    /providers\[7\] \(directory\)\.name: "directory" is reserved/,
    /providers\[8\]: must be an object/,
  ];
  for (const re of expectations) assert.ok(problems.some((p) => re.test(p)), `missing problem ${re}\n got:\n${problems.join('\n')}`);
  assert.equal(problems.length, expectations.length, problems.join('\n'));
  assert.ok(!problems.some((p) => p.startsWith('providers[0]')), 'the valid provider has no problem');
});

test('the error message lists the source and the problems for the operator', () => {
  const file = join(dir, 'one-bad.yaml');
  writeFileSync(file, '- name: x\n  type: http_json\n  url: https://a.example/\n');
  assert.throws(() => loadPhoneProviders(file, env), (err: Error) => err.message.includes(file) && err.message.includes('number_path: required'));
});
