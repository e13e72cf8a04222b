// The SQLite WAL is checkpointed by a background thread, not inside the commits of the main thread:
// pages reach the database file while the main connection's own threshold is far from reached.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openStore } from '../../src/store/db.js';
import { SAFETY_NET_AUTOCHECKPOINT_PAGES } from '../../src/store/checkpointer.js';
import { waitFor } from '../support/openrow.js';

describe('background WAL checkpoints (SQLite)', () => {
  it('copies committed pages into the database file from another thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-ckpt-'));
    const file = join(dir, 'db.sqlite');
    const store = await openStore({ url: file });
    try {
      const pages = Number((await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db)).rows[0]!.wal_autocheckpoint);
      assert.equal(pages, SAFETY_NET_AUTOCHECKPOINT_PAGES, 'the main connection only checkpoints as a safety net');
      const before = statSync(file).size;
      // ~2 MB of rows, far below the main connection's threshold (20,000 pages ≈ 80 MB)
      await sql`create table filler (id integer primary key, body text not null)`.execute(store.db);
      for (let i = 0; i < 20; i++) {
        await store.tx(async (trx) => {
          for (let j = 0; j < 25; j++) await sql`insert into filler (body) values (${'x'.repeat(4000)})`.execute(trx);
        });
      }
      await waitFor(async () => statSync(file).size >= before + 1_500_000, 5000);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is not started for one-shot commands', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openrow-ckpt-'));
    const store = await openStore({ url: join(dir, 'db.sqlite'), backgroundCheckpoints: false });
    try {
      const pages = Number((await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db)).rows[0]!.wal_autocheckpoint);
      assert.equal(pages, 1000, "SQLite's own default: checkpoints inside commits");
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
