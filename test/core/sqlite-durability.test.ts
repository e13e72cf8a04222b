// How durable a SQLite commit is: OPENROW_SQLITE_SYNC chooses SQLite's synchronous setting, and every
// connection of the store (the main one, the outbox thread's) uses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';

test('OPENROW_SQLITE_SYNC: normal by default, full on request (an fsync per commit), anything else refused', async () => {
  assert.equal(loadConfig({}).sqliteSync, 'normal');
  assert.equal(loadConfig({ OPENROW_SQLITE_SYNC: 'FULL' }).sqliteSync, 'full');
  assert.throws(() => loadConfig({ OPENROW_SQLITE_SYNC: 'extra' }), (e: unknown) => e instanceof ConfigError && /OPENROW_SQLITE_SYNC must be normal or full/.test(e.message));
  const { openStore } = await import('../../src/store/db.js');
  const dir = mkdtempSync(join(tmpdir(), 'openrow-sync-'));
  try {
    for (const [setting, pragma] of [[undefined, 1], ['full', 2]] as const) {
      const store = await openStore({ url: join(dir, `${setting ?? 'default'}.sqlite`), sqliteSync: setting, backgroundCheckpoints: false });
      try {
        assert.equal(await store.rawBatch!((db) => db.pragma('synchronous', { simple: true })), pragma);
        // the outbox thread opens its own connection with the same setting
        assert.equal(store.sqliteFile!.synchronous, pragma === 2 ? 'FULL' : 'NORMAL');
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
