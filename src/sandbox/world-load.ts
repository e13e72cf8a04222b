// Reads a world file (YAML or JSON: YAML is a superset) and checks every field, so a typo in a world
// fails at load with the field's path instead of silently turning a behaviour off.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { parse as parseYaml } from 'yaml';
import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { DELAY_STEPS, type World } from './world-types.js';

export class WorldError extends Error {
  constructor(
    readonly problems: string[],
    source: string,
  ) {
    super(`invalid sandbox world (${source}):\n  - ${problems.join('\n  - ')}`);
    this.name = 'WorldError';
  }
}

const BEHAVIOUR_KEYS = [
  'catch_all',
  'greylist_seconds',
  'policy_block',
  'rcpt_reply',
  'max_rcpts_per_session',
  'delays_ms',
  'tarpit',
  'drop_after_rcpt',
  'max_connections',
  'starttls',
  'multiline',
] as const;
const DOMAIN_KEYS = new Set<string>([
  ...BEHAVIOUR_KEYS,
  'mx',
  'mail_host',
  'a',
  'aaaa',
  'txt',
  'mailboxes',
  'roles',
  'full',
  'disabled',
  'disposable',
  'free_provider',
  'description',
]);
const HOST_KEYS = new Set<string>([...BEHAVIOUR_KEYS, 'refuse', 'address', 'description']);
const PERSON_KEYS = new Set(['fullname', 'domain', 'email', 'phone', 'linkedin_url', 'pattern', 'note']);

// RFC 1035 host names, lower-case only so lookups never depend on case.
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v) ?? String(v);
const field = (path: string, key: string) => (/^[a-z_][a-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}["${key}"]`);

export function isLoopbackV4(ip: string): boolean {
  return net.isIPv4(ip) && ip.startsWith('127.');
}

/** Checks a parsed world; returns it typed, or throws a WorldError listing every problem. */
export function validateWorld(input: unknown, source = 'world'): World {
  const problems: string[] = [];
  const bad = (path: string, want: string, got: unknown) => problems.push(`${path} must be ${want} (got ${show(got)})`);

  const checkBool = (path: string, v: unknown) => {
    if (typeof v !== 'boolean') bad(path, 'true or false', v);
  };
  const checkNumber = (path: string, v: unknown, { integer = false, min = 0, exclusiveMin = false } = {}) => {
    const ok = typeof v === 'number' && Number.isFinite(v) && (exclusiveMin ? v > min : v >= min) && (!integer || Number.isInteger(v));
    if (!ok) bad(path, `${integer ? 'an integer' : 'a number'} ${exclusiveMin ? '>' : '>='} ${min}`, v);
  };
  const checkStrings = (path: string, v: unknown, item: (s: string) => boolean, what: string) => {
    if (!Array.isArray(v)) return bad(path, `a list of ${what}`, v);
    v.forEach((s, i) => {
      if (typeof s !== 'string' || !item(s)) bad(`${path}[${i}]`, what, s);
    });
  };
  const checkKnownKeys = (path: string, obj: Record<string, unknown>, known: Set<string>) => {
    for (const k of Object.keys(obj)) if (!known.has(k)) problems.push(`${field(path, k)} is not a known field (known: ${[...known].join(', ')})`);
  };

  const checkBehaviour = (path: string, o: Record<string, unknown>) => {
    for (const k of ['catch_all', 'tarpit', 'drop_after_rcpt', 'starttls', 'multiline'] as const) if (k in o) checkBool(`${path}.${k}`, o[k]);
    if ('greylist_seconds' in o) checkNumber(`${path}.greylist_seconds`, o.greylist_seconds, { exclusiveMin: true });
    if ('max_rcpts_per_session' in o) checkNumber(`${path}.max_rcpts_per_session`, o.max_rcpts_per_session, { integer: true, min: 1 });
    if ('max_connections' in o) checkNumber(`${path}.max_connections`, o.max_connections, { integer: true, min: 1 });
    if ('policy_block' in o && typeof o.policy_block !== 'boolean' && (typeof o.policy_block !== 'string' || o.policy_block.trim() === '')) {
      bad(`${path}.policy_block`, 'true, false or a reply text', o.policy_block);
    }
    if ('rcpt_reply' in o && (typeof o.rcpt_reply !== 'string' || !/^[2-5]\d\d [^\r\n]+$/.test(o.rcpt_reply))) {
      bad(`${path}.rcpt_reply`, 'a reply line: a 3-digit code, a space and a text', o.rcpt_reply);
    }
    if ('delays_ms' in o) {
      const d = o.delays_ms;
      if (!isObject(d)) bad(`${path}.delays_ms`, `a map of step -> ms (steps: ${DELAY_STEPS.join(', ')})`, d);
      else {
        checkKnownKeys(`${path}.delays_ms`, d, new Set(DELAY_STEPS));
        for (const [k, v] of Object.entries(d)) if ((DELAY_STEPS as readonly string[]).includes(k)) checkNumber(`${path}.delays_ms.${k}`, v, { integer: true });
      }
    }
  };

  if (!isObject(input)) {
    throw new WorldError([`the world must be a map with a "domains" key (got ${show(input)})`], source);
  }
  checkKnownKeys('world', input, new Set(['domains', 'hosts', 'people']));
  const domains = input.domains;
  if (!isObject(domains) || Object.keys(domains).length === 0) {
    bad('domains', 'a non-empty map of domain name -> settings', domains);
  }
  const domainMap = isObject(domains) ? domains : {};
  const hostMap = isObject(input.hosts) ? input.hosts : {};
  if ('hosts' in input && !isObject(input.hosts)) bad('hosts', 'a map of MX host name -> settings', input.hosts);

  for (const [name, spec] of Object.entries(domainMap)) {
    const path = field('domains', name);
    if (!HOST_NAME.test(name)) problems.push(`${path}: "${name}" is not a lower-case domain name`);
    if (spec === null || spec === undefined) continue; // `example.test:` with nothing under it: all defaults
    if (!isObject(spec)) {
      bad(path, 'a map of settings', spec);
      continue;
    }
    checkKnownKeys(path, spec, DOMAIN_KEYS);
    checkBehaviour(path, spec);
    if ('mx' in spec) {
      const mx = spec.mx;
      if (mx !== null && mx !== 'null') {
        if (!Array.isArray(mx) || mx.length === 0) {
          bad(`${path}.mx`, `a non-empty list of {host, preference}, 'null' (RFC 7505 null MX) or null (no MX, the domain is its own mail host)`, mx);
        } else {
          mx.forEach((r, i) => {
            const p = `${path}.mx[${i}]`;
            if (!isObject(r)) return bad(p, '{host, preference}', r);
            checkKnownKeys(p, r, new Set(['host', 'preference']));
            if (typeof r.host !== 'string' || !HOST_NAME.test(r.host)) bad(`${p}.host`, 'a lower-case host name', r.host);
            checkNumber(`${p}.preference`, r.preference, { integer: true });
            if (typeof r.preference === 'number' && r.preference > 65535) bad(`${p}.preference`, 'at most 65535', r.preference);
          });
        }
      }
    }
    if ('mail_host' in spec) {
      checkBool(`${path}.mail_host`, spec.mail_host);
      if (spec.mx !== null) problems.push(`${path}.mail_host only applies with mx: null (no MX)`);
    }
    if ('a' in spec) checkStrings(`${path}.a`, spec.a, (s) => net.isIPv4(s), 'IPv4 addresses');
    if ('aaaa' in spec) checkStrings(`${path}.aaaa`, spec.aaaa, (s) => net.isIPv6(s), 'IPv6 addresses');
    if ('txt' in spec) checkStrings(`${path}.txt`, spec.txt, () => true, 'strings');
    for (const k of ['mailboxes', 'roles', 'full', 'disabled'] as const) {
      if (k in spec) checkStrings(`${path}.${k}`, spec[k], (s) => LOCAL_PART.test(s), 'lower-case local parts (the part before @)');
    }
    for (const k of ['disposable', 'free_provider'] as const) if (k in spec) checkBool(`${path}.${k}`, spec[k]);
    if ('description' in spec && typeof spec.description !== 'string') bad(`${path}.description`, 'a string', spec.description);
  }

  const usedAddresses = new Map<string, string>();
  for (const [name, spec] of Object.entries(hostMap)) {
    const path = field('hosts', name);
    if (!HOST_NAME.test(name)) problems.push(`${path}: "${name}" is not a lower-case host name`);
    if (spec === null || spec === undefined) continue;
    if (!isObject(spec)) {
      bad(path, 'a map of settings', spec);
      continue;
    }
    checkKnownKeys(path, spec, HOST_KEYS);
    checkBehaviour(path, spec);
    if ('refuse' in spec) checkBool(`${path}.refuse`, spec.refuse);
    if ('address' in spec) {
      if (typeof spec.address !== 'string' || !isLoopbackV4(spec.address)) bad(`${path}.address`, 'an IPv4 loopback address (127.x.x.x)', spec.address);
      else if (usedAddresses.has(spec.address)) problems.push(`${path}.address ${spec.address} is already the address of host ${usedAddresses.get(spec.address)}`);
      else usedAddresses.set(spec.address, name);
    }
    if ('description' in spec && typeof spec.description !== 'string') bad(`${path}.description`, 'a string', spec.description);
  }

  if ('people' in input) {
    if (!Array.isArray(input.people)) bad('people', 'a list of {fullname, domain, email?, phone?, linkedin_url?}', input.people);
    else {
      input.people.forEach((p, i) => {
        const path = `people[${i}]`;
        if (!isObject(p)) return bad(path, 'a map', p);
        checkKnownKeys(path, p, PERSON_KEYS);
        if (typeof p.fullname !== 'string' || p.fullname.trim() === '') bad(`${path}.fullname`, 'a non-empty string', p.fullname);
        if (typeof p.domain !== 'string' || !(p.domain in domainMap)) bad(`${path}.domain`, 'one of the world\'s domains', p.domain);
        if (p.email !== undefined && p.email !== null) {
          const m = typeof p.email === 'string' ? /^([^@]+)@(.+)$/.exec(p.email) : null;
          if (!m || !LOCAL_PART.test(m[1]!)) bad(`${path}.email`, 'a lower-case address or null', p.email);
          else if (m[2] !== p.domain) problems.push(`${path}.email ${p.email} is not at the person's domain ${show(p.domain)}`);
        }
        if (p.phone !== undefined && p.phone !== null && (typeof p.phone !== 'string' || !/^\+\d{6,15}$/.test(p.phone) || !isValidPhoneNumber(p.phone))) {
          bad(`${path}.phone`, 'a valid E.164 number such as +14155552671', p.phone);
        }
        if (p.linkedin_url !== undefined && p.linkedin_url !== null && (typeof p.linkedin_url !== 'string' || !/^https:\/\/(www\.)?linkedin\.com\/in\/[^/?#]+\/?$/.test(p.linkedin_url))) {
          bad(`${path}.linkedin_url`, 'a https://www.linkedin.com/in/<slug> URL', p.linkedin_url);
        }
        for (const k of ['pattern', 'note'] as const) if (k in p && typeof p[k] !== 'string') bad(`${path}.${k}`, 'a string', p[k]);
      });
    }
  }

  if (problems.length > 0) throw new WorldError(problems, source);
  // `example.test:` with no settings parses as null; normalise to an empty spec.
  const world = input as unknown as World;
  for (const [name, spec] of Object.entries(world.domains)) if (spec == null) world.domains[name] = {};
  for (const [name, spec] of Object.entries(world.hosts ?? {})) if (spec == null) world.hosts![name] = {};
  return world;
}

/** A world from a file path (YAML or JSON), or from the text itself when it is not a path. */
export function loadWorld(pathOrText: string): World {
  let text = pathOrText;
  let source = 'inline world';
  const looksLikeText = pathOrText.includes('\n') || /^\s*[{[]/.test(pathOrText) || /^\s*domains\s*:/.test(pathOrText);
  if (!looksLikeText) {
    if (!existsSync(pathOrText)) throw new WorldError([`world file not found: ${pathOrText}`], pathOrText);
    text = readFileSync(pathOrText, 'utf8');
    source = pathOrText;
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new WorldError([`not valid YAML or JSON: ${(err as Error).message}`], source);
  }
  return validateWorld(parsed, source);
}
