// Test mode: the built-in sandbox world (real DNS and SMTP servers on loopback, started in process) and
// engines that can reach nothing else — their DNS is the sandbox's, their SMTP allow-list is the
// sandbox's own addresses, their knowledge lives in memory, and the phone engine has no HTTP providers.
import type { Config } from '../config.js';
import type { Engines } from './types.js';
import { startSandbox, builtinWorld, flaggedDomains } from '../sandbox/index.js';
import { MemoryKnowledgeStore } from './knowledge-memory.js';
import { createMailDns, createVerifier, MemoryDomainFactsCache } from './verifier/index.js';
import { createFinder, resolveCompanyDomain } from './finder/index.js';
import { createPhoneEngine } from './phone/index.js';

export interface TestWorld {
  engines: Engines;
  dnsServer: string;
  close(): Promise<void>;
}

// Sandbox greylisting clears in seconds, so test mode retries in seconds too.
const TEST_RETRY_BACKOFF_MS = [2_500, 5_000, 10_000];

export async function startTestWorld(config: Config): Promise<TestWorld> {
  const world = builtinWorld();
  const sandbox = await startSandbox({ world, hostAddressBase: '127.0.0.2' });
  const allowCidrs = [...new Set(Object.values(sandbox.hosts))].map((ip) => `${ip}/32`);
  const people = world.people ?? [];
  const flagged = flaggedDomains(world);
  const knowledge = new MemoryKnowledgeStore({
    contacts: people
      .filter((p) => p.phone || p.linkedin_url)
      // phones and profiles only: emails are left for the finder to find over SMTP, as it would live
      .map((p) => ({ fullname: p.fullname, company_domain: p.domain, email: null, phone: p.phone ?? null, linkedin_url: p.linkedin_url ?? null })),
  });
  const mailDns = createMailDns([sandbox.dnsServer]);
  const verifier = createVerifier({
    dns: mailDns,
    dnsServers: [sandbox.dnsServer],
    smtpPort: sandbox.smtpPort,
    heloName: config.engine.heloName,
    mailFrom: config.engine.mailFrom,
    connectTimeoutMs: 2_000,
    stepTimeoutMs: 5_000,
    allowCidrs,
    retryBackoffMs: TEST_RETRY_BACKOFF_MS,
    retryWindowMs: 60_000,
    domainCache: new MemoryDomainFactsCache(),
    knowledge,
    // the world's own flags stand in for the public lists, which know nothing of .test domains
    extraDisposableDomains: flagged.disposable,
    extraFreeProviderDomains: flagged.freeProvider,
  });
  // the sandbox world's companies live under .test
  const heuristicTlds = ['test'];
  const finder = createFinder({ verifier, knowledge, mailDns, heuristicTlds, catchAllEvidenceThreshold: config.engine.catchAllEvidenceThreshold });
  const phone = createPhoneEngine({
    knowledge,
    providers: [],
    resolveCompanyDomain: async (name, country) => {
      const r = await resolveCompanyDomain({ company_name: name, country_code: country }, { knowledge, mailDns, heuristicTlds });
      return r.ok ? r.domain : null;
    },
  });
  return {
    engines: { verifier, finder, phone },
    dnsServer: sandbox.dnsServer,
    async close() {
      await verifier.close();
      await phone.close?.();
      await sandbox.close();
    },
  };
}
