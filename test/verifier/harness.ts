// Shared set-up of the verifier's sandbox tests: a sandbox from a world, and verifiers pointed at it.
import { startSandbox, type RunningSandbox, type World } from '../../src/sandbox/index.js';
import { createVerifier, MemoryDomainFactsCache, type VerifierOptions } from '../../src/engines/verifier/index.js';
import type { EngineContext, EngineOutcome, VerifyResult } from '../../src/engines/types.js';

export type Verifier = ReturnType<typeof createVerifier>;

export function verifierFor(sb: RunningSandbox, over: Partial<VerifierOptions> = {}): Verifier {
  return loopbackVerifier(sb.dnsServer, sb.smtpPort, over);
}

/** A verifier whose DNS and SMTP are on loopback only, with short timeouts and its own domain facts. */
export function loopbackVerifier(dnsServer: string, smtpPort: number, over: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({
    dnsServers: [dnsServer],
    smtpPort,
    heloName: 'verifier.openrow.test',
    mailFrom: 'probe@verifier.openrow.test',
    connectTimeoutMs: 2000,
    stepTimeoutMs: 3000,
    allowCidrs: ['127.0.0.0/8'],
    domainCache: new MemoryDomainFactsCache(),
    ...over,
  });
}

export const firstAttempt = (): EngineContext => ({ attempt: 1, firstAttemptAt: Date.now() });

/** The final result; fails the test if the engine asked for a retry. */
export function final(outcome: EngineOutcome<VerifyResult>): VerifyResult {
  if (outcome.kind !== 'done') throw new Error(`expected a final result, got retry: ${JSON.stringify(outcome)}`);
  return outcome.result;
}

export async function withSandbox<T>(world: World, fn: (sb: RunningSandbox) => Promise<T>): Promise<T> {
  const sb = await startSandbox({ world });
  try {
    return await fn(sb);
  } finally {
    await sb.close();
  }
}

/** Run `items` through `fn` with at most `concurrency` calls in flight. */
export async function mapConcurrent<I, O>(items: I[], concurrency: number, fn: (item: I) => Promise<O>): Promise<O[]> {
  const out: O[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * Reset the sandbox counters once the server side has seen every earlier session end, so a
 * test's high-water marks are its own (a closed verifier's QUITs may still be in flight).
 */
export async function freshCounters(sb: RunningSandbox): Promise<void> {
  const open = () => Object.values(sb.counters()).some((c) => c.currentConnections > 0);
  for (let i = 0; i < 500 && open(); i++) await new Promise((r) => setTimeout(r, 10));
  if (open()) throw new Error(`sandbox sessions still open: ${JSON.stringify(sb.counters())}`);
  sb.resetCounters();
}
