// Builds the engines for each mode: live engines talk to the configured DNS/SMTP/providers; test-mode
// engines talk only to the in-process sandbox world, so a test key never touches the real network.
import type { Config } from '../config.js';
import type { OpenStore } from '../store/db.js';
import type { Mode } from '../store/schema.js';
import type { Engines } from './types.js';

export interface EngineSet {
  engines: Record<Mode, Engines>;
  normalizeLinkedin: (url: string) => string | null;
  close(): Promise<void>;
}

export async function createEngines(_config: Config, _store: OpenStore): Promise<EngineSet> {
  return {
    engines: { live: {}, test: {} },
    // replaced by the phone engine's normaliser when it lands
    normalizeLinkedin: (url) => (/^(https?:\/\/)?([a-z]{2,3}\.|www\.)?linkedin\.com\/in\/[^/?#]+\/?(\?.*)?$/i.test(url) ? url : null),
    close: async () => undefined,
  };
}
