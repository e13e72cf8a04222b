// Finder bench (issue 6): 1,000 people over 100 sandbox domains with mixed patterns (drawn from the
// frequency order of ANCHORS.md), 10 catch-all domains (half of them with three directory entries
// proving the pattern), 5 % of people gone (no mailbox) on ordinary domains. Every domain's first
// search is "cold"; the other nine run once the domain's pattern is known ("warm").
// Reports find rate, false positives (a valid answer that is not the person's address: must be 0),
// SMTP RCPTs per found address (cold / warm) counted by the sandbox's MX hosts, and wall time.
// Run: node --import tsx bench/finder.ts
import { pathToFileURL } from 'node:url';
import type { World } from '../src/sandbox/index.js';
import type { Contact, FindResult } from '../src/engines/types.js';
import { GLOBAL_PRIOR, buildLocal, parseName } from '../src/engines/finder/index.js';
import { finished, startFinderWorld } from '../test/finder/finder-world.js';

const DOMAINS = 100;
const PEOPLE_PER_DOMAIN = 10;
const CATCH_ALL_EVERY = 10; // domains 9, 19, … are catch-all
const GONE_EVERY = 20; // one person in 20 has left (ordinary domains only)
const CONCURRENCY = 25;

const FIRST = ['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan',
  'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen', 'José', 'Zoë', 'Jean-Pierre', 'Søren', 'Łukasz', 'Björn', 'François', 'Anaïs', 'Mateo', 'Priya'];
const LAST = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson',
  'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson',
  'Müller', "O'Brien", 'van der Berg', 'de la Cruz', 'Nowak', 'Kowalczyk', 'Strauß', 'Øvergaard', 'Smith-Jones', 'al-Rashid'];

/** Deterministic pseudo-random numbers (mulberry32), so every run searches the same world. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A pattern drawn with the global prior's frequencies (first.m.last excluded: most names have no middle). */
function drawPattern(rand: () => number): string {
  const entries = Object.entries(GLOBAL_PRIOR).filter(([p]) => p !== 'first.m.last');
  const total = entries.reduce((n, [, w]) => n + w, 0);
  let x = rand() * total;
  for (const [p, w] of entries) if ((x -= w) < 0) return p;
  return entries[0]![0];
}

interface Person {
  fullname: string;
  domain: string;
  /** the true address, null when the person has no mailbox */
  email: string | null;
  catchAll: boolean;
}

function buildWorld() {
  const rand = rng(6);
  const world: World = { domains: {} };
  const people: Person[][] = [];
  const contacts: Contact[] = [];
  for (let d = 0; d < DOMAINS; d++) {
    const domain = `company${d}.test`;
    const pattern = drawPattern(rand);
    const catchAll = d % CATCH_ALL_EVERY === CATCH_ALL_EVERY - 1;
    const used = new Set<string>();
    const staff: Person[] = [];
    const mailboxes: string[] = ['info', 'sales'];
    const newName = () => {
      for (;;) {
        const fullname = `${FIRST[Math.floor(rand() * FIRST.length)]} ${LAST[Math.floor(rand() * LAST.length)]}`;
        const local = buildLocal(pattern, parseName({ fullname }).forms[0]!);
        if (!used.has(fullname) && local && !used.has(local)) {
          used.add(fullname);
          used.add(local);
          return { fullname, local };
        }
      }
    };
    for (let i = 0; i < PEOPLE_PER_DOMAIN; i++) {
      const { fullname, local } = newName();
      const gone = !catchAll && i > 0 && rand() < 1 / GONE_EVERY;
      if (!gone) mailboxes.push(local);
      staff.push({ fullname, domain, email: gone ? null : `${local}@${domain}`, catchAll });
    }
    // Half the catch-all domains have three colleagues in the operator's contacts directory.
    if (catchAll && Math.floor(d / CATCH_ALL_EVERY) % 2 === 0) {
      for (let k = 0; k < 3; k++) {
        const { fullname, local } = newName();
        contacts.push({ fullname, company_domain: domain, email: `${local}@${domain}` });
      }
    }
    world.domains[domain] = catchAll ? { catch_all: true } : { mailboxes };
    people.push(staff);
  }
  return { world, people, contacts };
}

async function runPool<T>(items: T[], concurrency: number, run: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
}

export async function runFinderBench(): Promise<Record<string, number | string>> {
  const { world, people, contacts } = buildWorld();
  const w = await startFinderWorld(world, { contacts });
  const tally = { found: 0, shouldFind: 0, falsePositives: 0, invalid: 0, retries: 0, catchAllValid: 0, catchAllInvalid: 0, goneInvalid: 0 };
  const phase = { cold: { rcpts: 0, found: 0, probesOfFound: 0 }, warm: { rcpts: 0, found: 0, probesOfFound: 0 } };
  const started = performance.now();
  try {
    for (let round = 0; round < PEOPLE_PER_DOMAIN; round++) {
      const stage = round === 0 ? phase.cold : phase.warm;
      const before = w.rcpts();
      await runPool(people.map((staff) => staff[round]!), CONCURRENCY, async (p) => {
        const outcome = await w.find({ fullname: p.fullname, company_domain: p.domain });
        if (outcome.kind === 'retry') {
          tally.retries++;
          return;
        }
        const r: FindResult = finished(outcome);
        if (p.email) tally.shouldFind++;
        if (r.qualification === 'valid') {
          if (r.email !== p.email) tally.falsePositives++;
          else {
            tally.found++;
            stage.found++;
            stage.probesOfFound += r.details.probes as number;
          }
          if (p.catchAll) tally.catchAllValid++;
        } else {
          if (process.env.FINDER_BENCH_DEBUG && p.email && !p.catchAll) console.log('missed', p.fullname, p.email, r.details.status, r.details.probes, r.details.reason);
          tally.invalid++;
          if (p.catchAll) tally.catchAllInvalid++;
          if (!p.email) tally.goneInvalid++;
        }
      });
      stage.rcpts += w.rcpts() - before;
    }
  } finally {
    await w.close();
  }
  const wallMs = performance.now() - started;
  const r2 = (n: number) => Math.round(n * 100) / 100;
  return {
    people: DOMAINS * PEOPLE_PER_DOMAIN,
    domains: DOMAINS,
    with_mailbox: tally.shouldFind,
    found: tally.found,
    find_rate_pct: r2((100 * tally.found) / tally.shouldFind),
    false_positives: tally.falsePositives,
    catch_all_valid_with_evidence: tally.catchAllValid,
    catch_all_invalid_no_evidence: tally.catchAllInvalid,
    gone_people_answered_invalid: tally.goneInvalid,
    retries: tally.retries,
    cold_rcpts_per_found: r2(phase.cold.rcpts / Math.max(1, phase.cold.found)),
    warm_rcpts_per_found: r2(phase.warm.rcpts / Math.max(1, phase.warm.found)),
    cold_probes_per_found_search: r2(phase.cold.probesOfFound / Math.max(1, phase.cold.found)),
    warm_probes_per_found_search: r2(phase.warm.probesOfFound / Math.max(1, phase.warm.found)),
    wall_ms: Math.round(wallMs),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runFinderBench();
  for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(32)} ${v}`);
}
