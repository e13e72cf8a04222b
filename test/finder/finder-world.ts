// A sandbox world (real DNS + SMTP on loopback) with the real verifier and the finder on top, for the
// finder's integration tests and bench. Everything it starts, close() stops.
import { startSandbox, type RunningSandbox, type World } from '../../src/sandbox/index.js';
import { MemoryKnowledgeStore } from '../../src/engines/knowledge-memory.js';
import { createMailDns, createVerifier, MemoryDomainFactsCache } from '../../src/engines/verifier/index.js';
import { createFinder, type FinderOptions } from '../../src/engines/finder/index.js';
import type { Company, Contact, EngineOutcome, FindPerson, FindResult, FinderEngine } from '../../src/engines/types.js';

export interface FinderWorld {
  sandbox: RunningSandbox;
  knowledge: MemoryKnowledgeStore;
  finder: FinderEngine;
  /** one search, first attempt */
  find(person: Partial<FindPerson>, attempt?: number): Promise<EngineOutcome<FindResult>>;
  /** RCPT commands received by all sandbox MX hosts so far */
  rcpts(): number;
  close(): Promise<void>;
}

export async function startFinderWorld(
  world: World,
  opts: { contacts?: Contact[]; companies?: Company[]; finder?: Partial<FinderOptions> } = {},
): Promise<FinderWorld> {
  const sandbox = await startSandbox({ world });
  const knowledge = new MemoryKnowledgeStore({ contacts: opts.contacts, companies: opts.companies });
  const verifier = createVerifier({
    dnsServers: [sandbox.dnsServer],
    smtpPort: sandbox.smtpPort,
    heloName: 'finder-tests.openrow.test',
    mailFrom: 'probe@finder-tests.openrow.test',
    connectTimeoutMs: 5_000,
    stepTimeoutMs: 10_000,
    allowCidrs: ['127.0.0.0/8'],
    domainCache: new MemoryDomainFactsCache(),
    knowledge,
    retryBackoffMs: [1_000],
    retryWindowMs: 60_000,
  });
  const finder = createFinder({
    verifier,
    knowledge,
    mailDns: createMailDns([sandbox.dnsServer]),
    heuristicTlds: ['test'],
    ...opts.finder,
  });
  const firstAttemptAt = Date.now();
  return {
    sandbox,
    knowledge,
    finder,
    find: (person, attempt = 1) =>
      finder.findEmail({ country_code: 'US', retrieve_gender: false, ...person }, { attempt, firstAttemptAt }),
    rcpts: () => Object.values(sandbox.counters()).reduce((n, c) => n + c.rcpts, 0),
    async close() {
      await verifier.close();
      await sandbox.close();
    },
  };
}

/** The result of a search that must have finished (not asked for a retry). */
export function finished(outcome: EngineOutcome<FindResult>): FindResult {
  if (outcome.kind !== 'done') throw new Error(`expected a finished search, got retry: ${outcome.details.reason}`);
  return outcome.result;
}
