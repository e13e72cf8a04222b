// The webhook bench again, with the outbox in the embedded SQLite database instead of memory: each
// enqueue is the insert the completing transaction makes, so latency here is completion → receipt.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openStore, type OpenStore } from '../src/store/db.js';
import { DbDeliveryStore, insertDeliveries } from '../src/store/deliveries.js';
import { newId } from '../src/domain/ids.js';
import type { Delivery } from '../src/webhooks/types.js';
import type { EnqueueInput } from '../src/webhooks/store-memory.js';
import { printWebhookBench, runWebhookBench } from './webhooks.js';

class BenchDbStore extends DbDeliveryStore {
  constructor(private readonly s: OpenStore) {
    super(s);
  }
  async enqueue(input: EnqueueInput): Promise<Delivery> {
    const now = Date.now();
    const id = input.id ?? newId('msg');
    const next = input.nextAttemptAt ?? now;
    // the insert the completing transaction makes (queueWebhook in items-queue.ts)
    await this.s.tx((trx) =>
      insertDeliveries(trx, [{ id, account_id: input.accountId, search_id: input.searchId, event: input.event, url: input.url, payload: input.payload, status: 'pending', attempts: 0, next_attempt_at: next, lease_owner: null, lease_expires_at: null, last_status_code: null, last_error: null, created_at: now, updated_at: now }]),
    );
    return { id, accountId: input.accountId, searchId: input.searchId, event: input.event, url: input.url, payload: input.payload, status: 'pending', attempts: 0, nextAttemptAt: next, createdAt: now };
  }
}

export async function runWebhookDbBench(): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'openrow-whbench-'));
  const opened: OpenStore[] = [];
  // one database file per phase, as the memory bench uses one store per phase
  const newStore = async () => {
    const s = await openStore({ url: join(dir, `phase-${opened.length}.sqlite`) });
    opened.push(s);
    return new BenchDbStore(s);
  };
  try {
    return { store: 'SQLite outbox', ...(await runWebhookBench(newStore)) };
  } finally {
    for (const s of opened) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printWebhookBench('webhook delivery benchmark (SQLite outbox, as `openrow serve` runs it)', await runWebhookDbBench());
  process.exit(0);
}
