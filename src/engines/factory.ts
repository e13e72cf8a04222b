// Builds the engines for each mode: live engines talk to the configured DNS, mail hosts and phone
// providers; test-mode engines talk only to the in-process sandbox world, so a test key never touches
// the real network.
import { ConfigError, type Config } from '../config.js';
import type { OpenStore } from '../store/db.js';
import type { Mode } from '../store/schema.js';
import type { Engines, FinderEngine, PhoneEngine, VerifierEngine } from './types.js';
import type { TestWorld } from './test-world.js';
import { DbDomainFactsCache, DbKnowledgeStore } from '../store/knowledge.js';
import { createMailDns, createVerifier, type VerifierOptions } from './verifier/index.js';
import { createFinder, resolveCompanyDomain } from './finder/index.js';
import { createPhoneEngine, loadPhoneProviders, normalizeLinkedinUrl, PhoneProvidersConfigError } from './phone/index.js';

export interface EngineSet {
  engines: Record<Mode, Engines>;
  normalizeLinkedin: (url: string) => string | null;
  close(): Promise<void>;
}

/** Starts the test world on the first test-mode item, so live-only deployments never bind its ports. */
function lazyTestEngines(config: Config): { engines: Engines; close(): Promise<void> } {
  let world: Promise<TestWorld> | undefined;
  // loaded on demand: live-only deployments never load the sandbox at all
  const get = () => (world ??= import('./test-world.js').then((m) => m.startTestWorld(config)));
  const verifier: VerifierEngine = { verify: async (email, ctx) => (await get()).engines.verifier!.verify(email, ctx) };
  const finder: FinderEngine = { findEmail: async (p, ctx) => (await get()).engines.finder!.findEmail(p, ctx) };
  const phone: PhoneEngine = { findPhone: async (q, ctx) => (await get()).engines.phone!.findPhone(q, ctx) };
  return {
    engines: { verifier, finder, phone },
    close: async () => {
      if (world) await (await world).close();
    },
  };
}

export interface EngineHooks {
  /** a live check met a mail host on a blocked address: what the tenant's result leaves out */
  onBlockedMailHost?: VerifierOptions['onBlockedAddress'];
}

export async function createEngines(config: Config, store: OpenStore, hooks: EngineHooks = {}): Promise<EngineSet> {
  const knowledge = new DbKnowledgeStore(store);
  const e = config.engine;
  // one DNS module (and cache) for both: the finder resolves a domain's mail hosts before it verifies
  const mailDns = createMailDns(e.dnsServers);
  const verifier = createVerifier({
    dns: mailDns,
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
    onBlockedAddress: hooks.onBlockedMailHost,
  });
  const finder = createFinder({ verifier, knowledge, mailDns, catchAllEvidenceThreshold: e.catchAllEvidenceThreshold });
  const phone = createPhoneEngine({
    knowledge,
    providers: e.phoneProvidersFile ? phoneProviders(e.phoneProvidersFile) : [],
    resolveCompanyDomain: async (name, country) => {
      const r = await resolveCompanyDomain({ company_name: name, country_code: country }, { knowledge, mailDns });
      return r.ok ? r.domain : null;
    },
  });
  const test = lazyTestEngines(config);
  return {
    engines: { live: { verifier, finder, phone }, test: test.engines },
    normalizeLinkedin: normalizeLinkedinUrl,
    async close() {
      await verifier.close();
      await phone.close?.();
      await test.close();
    },
  };
}

// read when the engines start: a bad file is the operator's setting, named as such
function phoneProviders(pathOrJson: string) {
  try {
    return loadPhoneProviders(pathOrJson);
  } catch (err) {
    if (err instanceof PhoneProvidersConfigError) throw new ConfigError(`OPENROW_PHONE_PROVIDERS: ${err.message}`);
    throw err;
  }
}
