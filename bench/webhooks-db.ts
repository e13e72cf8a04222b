// The webhook bench again, with the outbox in the embedded SQLite database instead of memory: each
// enqueue is the insert the completing transaction makes, so latency here is completion → receipt.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openStore, type OpenStore } from '../src/store/db.js';
import { DbDeliveryStore } from '../src/store/deliveries.js';
import { newId } from '../src/domain/ids.js';
import type { Delivery } from '../src/webhooks/types.js';
import type { EnqueueInput } from '../src/webhooks/store-memory.js';
import { runWebhookBench } from './webhooks.js';

class BenchDbStore extends DbDeliveryStore {
  constructor(private readonly s: OpenStore) {
    super(s);
  }
  async enqueue(input: EnqueueInput): Promise<Delivery> {
    const now = Date.now();
    const id = input.id ?? newId('msg');
    const next = input.nextAttemptAt ?? now;
    await this.s.db
      .insertInto('webhook_deliveries')
      .values({ id, account_id: input.accountId, search_id: input.searchId, event: input.event, url: input.url, payload: input.payload, status: 'pending', attempts: 0, next_attempt_at: next, lease_owner: null, lease_expires_at: null, last_status_code: null, last_error: null, created_at: now, updated_at: now })
      .execute();
    return { id, accountId: input.accountId, searchId: input.searchId, event: input.event, url: input.url, payload: input.payload, status: 'pending', attempts: 0, nextAttemptAt: next, createdAt: now };
  }
}

export async function runWebhookDbBench(): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'openrow-whbench-'));
  const store = await openStore({ url: join(dir, 'bench.sqlite') });
  try {
    return { store: 'SQLite outbox', ...(await runWebhookBench(new BenchDbStore(store))) };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await runWebhookDbBench());
  process.exit(0);
}
