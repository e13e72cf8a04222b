// PostgreSQL connections the server closes (a restart, a failover, an administrator): the process lives
// on, queries reconnect, and LISTEN comes back by itself.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openStore, type OpenStore } from '../../src/store/db.js';
import { listen } from '../../src/store/notify.js';
import { sql } from 'kysely';
import { PG_URL, waitFor } from '../support/openrow.js';

describe('PostgreSQL connections lost', () => {
  const schema = `openrow_conn_${process.pid}_${Date.now()}`;
  let store: OpenStore;
  let admin: pg.Client;
  const lost: Error[] = [];

  before(async () => {
    store = await openStore({ url: PG_URL, pgSchema: schema, onConnectionError: (err) => lost.push(err) });
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
  });
  after(async () => {
    await store?.close();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  });

  it('survives an idle pooled connection being terminated, and the next query reconnects', async () => {
    // the pid of a connection that then sits idle in the pool
    const { rows } = await store.pgPool!.query<{ pid: number }>('select pg_backend_pid() as pid');
    await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
    await waitFor(async () => lost.length > 0, 10_000, 20);
    assert.match(lost[0]!.message, /terminating connection/);
    const again = await store.pgPool!.query<{ n: number }>('select 1 as n');
    assert.equal(again.rows[0]!.n, 1);
  });

  it('survives a connection terminated in the middle of a transaction: that transaction fails, the next works', async () => {
    const tx = store.tx(async (trx) => {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
      await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
      await sql`select pg_sleep(0.05)`.execute(trx);
    });
    await assert.rejects(tx);
    const again = await store.pgPool!.query<{ n: number }>('select 1 as n');
    assert.equal(again.rows[0]!.n, 1);
  });

  it('listens again after its LISTEN connection is terminated, and wakes its handlers', async () => {
    const channel = `openrow_conn_test_${process.pid}`;
    let woken = 0;
    const errors: unknown[] = [];
    const stop = await listen(store.pgPool!, { [channel]: () => woken++ }, (err) => errors.push(err));
    try {
      await admin.query(`select pg_notify('${channel}', '')`);
      await waitFor(async () => woken === 1, 10_000, 20);
      const pidOf = async () => (await admin.query<{ pid: number }>(`select pid from pg_stat_activity where query = 'listen ${channel}'`)).rows[0]?.pid;
      const pid = await pidOf();
      assert.ok(pid);
      await admin.query('select pg_terminate_backend($1)', [pid]);
      await waitFor(async () => errors.length > 0, 10_000, 20);
      // back, with a wake-up for whatever was notified meanwhile, then notifications again
      await waitFor(async () => woken === 2 && (await pidOf()) !== undefined && (await pidOf()) !== pid, 20_000, 50);
      await admin.query(`select pg_notify('${channel}', '')`);
      await waitFor(async () => woken === 3, 10_000, 20);
      // one connection listening, and the dead one gave its pool slot back
      const listening = await admin.query(`select pid from pg_stat_activity where query = 'listen ${channel}'`);
      assert.equal(listening.rows.length, 1);
      assert.ok(store.pgPool!.totalCount <= 2, `pool holds ${store.pgPool!.totalCount} connections`);
    } finally {
      await stop();
    }
  });
});
