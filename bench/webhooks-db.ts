// The webhook bench again, with the outbox in the embedded SQLite database (or in PostgreSQL with
// --postgres) instead of memory: each enqueue is the insert the completing transaction makes, so latency
// here is completion → receipt.
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
  // the insert the completing transaction makes (queueWebhook in items-queue.ts)
  async enqueue(input: EnqueueInput): Promise<Delivery> {
    const row = newDeliveryRow(input, Date.now());
    await this.s.tx((trx) => insertDeliveries(trx, [row]));
    return { id: row.id, accountId: row.account_id, searchId: row.search_id, event: row.event, url: row.url, payload: row.payload, status: 'pending', attempts: 0, nextAttemptAt: row.next_attempt_at, createdAt: row.created_at };
  }

  async enqueueAll(inputs: EnqueueInput[]): Promise<void> {
    const now = Date.now();
    const rows = inputs.map((input) => newDeliveryRow(input, now));
    await this.s.tx(async (trx) => {
      for (let i = 0; i < rows.length; i += 500) await insertDeliveries(trx, rows.slice(i, i + 500));
    });
  }
}

/** An outbox row as the completing transaction writes it (pending, due at once unless told otherwise). */
export function newDeliveryRow(input: EnqueueInput, now: number) {
  return {
    id: input.id ?? newId('msg'), account_id: input.accountId, search_id: input.searchId, event: input.event, url: input.url, payload: input.payload,
    status: 'pending' as const, attempts: 0, next_attempt_at: input.nextAttemptAt ?? now, lease_owner: null, lease_expires_at: null,
    last_status_code: null, last_error: null, created_at: now, updated_at: now,
  };
}

const PG_URL = process.env.OPENROW_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** `sqlite`: a database file per phase; `postgres`: a schema per phase (dropped afterwards). */
export async function runWebhookDbBench(kind: 'sqlite' | 'postgres' = 'sqlite'): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'openrow-whbench-'));
  const opened: OpenStore[] = [];
  const schemas: string[] = [];
  // an outbox of its own per phase, as the memory bench uses one store per phase
  const newStore = async () => {
    const schema = `openrow_whbench_${process.pid}_${opened.length}`;
    const s = await openStore(kind === 'postgres' ? { url: PG_URL, pgSchema: schema } : { url: join(dir, `phase-${opened.length}.sqlite`) });
    if (kind === 'postgres') schemas.push(schema);
    opened.push(s);
    return new BenchDbStore(s);
  };
  try {
    return { store: kind === 'postgres' ? 'PostgreSQL outbox' : 'SQLite outbox', ...(await runWebhookBench(newStore)) };
  } finally {
    for (const s of opened) {
      if (s.pgPool) for (const schema of schemas.splice(0)) await s.pgPool.query(`drop schema if exists ${schema} cascade`);
      await s.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const kind = process.argv.includes('--postgres') ? 'postgres' : 'sqlite';
  printWebhookBench(
    kind === 'postgres' ? 'webhook delivery benchmark (PostgreSQL outbox)' : 'webhook delivery benchmark (SQLite outbox, as `openrow serve` runs it)',
    await runWebhookDbBench(kind),
  );
  process.exit(0);
}
