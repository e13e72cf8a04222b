// Builds the engines for each mode: live engines talk to the configured DNS, mail hosts and phone
// providers. Test-mode engines (the sandbox world) are not wired yet: test-mode items stay queued.
import type { Config } from '../config.js';
import type { OpenStore } from '../store/db.js';
import type { Mode } from '../store/schema.js';
import type { Engines } from './types.js';
import { DbDomainFactsCache, DbKnowledgeStore } from '../store/knowledge.js';
import { createVerifier } from './verifier/index.js';
import { createPhoneEngine, loadPhoneProviders, normalizeLinkedinUrl } from './phone/index.js';

export interface EngineSet {
  engines: Record<Mode, Engines>;
  normalizeLinkedin: (url: string) => string | null;
  close(): Promise<void>;
}

export async function createEngines(config: Config, store: OpenStore): Promise<EngineSet> {
  const knowledge = new DbKnowledgeStore(store);
  const e = config.engine;
  const verifier = createVerifier({
    dnsServers: e.dnsServers,
    smtpPort: e.smtpPort,
    heloName: e.heloName,
    mailFrom: e.mailFrom,
    connectTimeoutMs: e.connectTimeoutMs,
    proxy: e.proxy,
    allowCidrs: e.allowCidrs,
    perHostConcurrency: e.perHostConcurrency,
    retryBackoffMs: e.retryBackoffMs,
    retryWindowMs: e.retryWindowMs,
    domainCache: new DbDomainFactsCache(store),
    knowledge,
  });
  const phone = createPhoneEngine({
    knowledge,
    providers: e.phoneProvidersFile ? loadPhoneProviders(e.phoneProvidersFile) : [],
  });
  return {
    engines: { live: { verifier, phone }, test: {} },
    normalizeLinkedin: normalizeLinkedinUrl,
    async close() {
      await verifier.close();
      await phone.close?.();
    },
  };
}
