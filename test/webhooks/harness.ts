// Shared set-up for the webhook tests: a memory store, real HTTPS receivers on loopback, and a
// dispatcher that trusts the receivers' CA and may reach 127.0.0.0/8 (nothing else).
import { InMemoryDeliveryStore } from '../../src/webhooks/store-memory.js';
import { createDispatcher, type Dispatcher, type DispatcherOptions } from '../../src/webhooks/dispatcher.js';
import type { AttemptRecord, Delivery, NextState } from '../../src/webhooks/types.js';
import { makeTestCertificates, startHttpsReceiver, type HttpsReceiver, type TestCertificates } from '../support/https-receiver.js';

let certs: TestCertificates | undefined;
/** one CA per test process: openssl runs once */
export function sharedCertificates(): TestCertificates {
  certs ??= makeTestCertificates(['hooks.test']);
  return certs;
}

export async function receiver(): Promise<HttpsReceiver> {
  return startHttpsReceiver({ certificates: sharedCertificates() });
}

export interface Harness {
  store: InMemoryDeliveryStore;
  dispatcher: Dispatcher;
  /** every recorded attempt with the state it led to, in order */
  attempts: Array<{ delivery: Delivery; attempt: AttemptRecord; next: NextState }>;
  enqueue(url: string, payload?: string, accountId?: string): Delivery;
  close(): Promise<void>;
}

export function harness(opts: Partial<DispatcherOptions> = {}): Harness {
  const store = (opts.store as InMemoryDeliveryStore | undefined) ?? new InMemoryDeliveryStore();
  const attempts: Harness['attempts'] = [];
  const dispatcher = createDispatcher({
    allowCidrs: '127.0.0.0/8',
    ca: sharedCertificates().caPem,
    retry: { schedule: '0s,50ms,100ms' },
    ...opts,
    store,
    onAttempt: (delivery, attempt, next) => attempts.push({ delivery, attempt, next }),
  });
  dispatcher.start();
  let n = 0;
  return {
    store,
    dispatcher,
    attempts,
    enqueue(url, payload = `{"event":"verification_finished","id":"s-${n}","n":${n}}`, accountId = 'acc_1') {
      const d = store.enqueue({ accountId, searchId: `s-${n++}`, event: 'verification_finished', url, payload });
      dispatcher.wake();
      return d;
    },
    close: () => dispatcher.stop(0),
  };
}

/** Polls a condition; the limit only guards against a hanging test, it is not what the test measures. */
export async function waitFor(cond: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const statusOf = (h: Harness, id: string) => h.store.get(id)?.status;
