// Migrations that reshape tables holding data: the rows written under the old layout must all be there,
// unchanged, under the new one (on both databases).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { migrateTo, migrateToLatest } from '../../src/store/migrations.js';
import { DbDeliveryStore } from '../../src/store/deliveries.js';
import { DbKnowledgeStore } from '../../src/store/knowledge.js';
import { BACKENDS, tempStore } from '../support/openrow.js';

for (const backend of BACKENDS) {
  describe(`migration 0004_outbox_layout (${backend})`, () => {
    it('moves payloads into their own table and keeps every delivery and attempt', async () => {
      const h = await tempStore(backend, { migrate: false });
      const { db, dialect } = h.store;
      try {
        await migrateTo(db, dialect, '0003_knowledge');
        const t = 1_790_000_000_000;
        const payloads = ['{"event":"verification_finished","id":"a"}', '{"event":"bulk_verification_finished","id":"b","ünïcode":"✓"}'];
        for (const [i, payload] of payloads.entries()) {
          await sql`insert into webhook_deliveries (id, account_id, search_id, event, url, payload, status, attempts, next_attempt_at,
                      lease_owner, lease_expires_at, last_status_code, last_error, created_at, updated_at)
                    values (${`msg_old${i}`}, 'acct_1', ${`s${i}`}, 'verification_finished', 'https://hooks.example/h', ${payload},
                      ${i === 0 ? 'succeeded' : 'pending'}, ${1 - i}, ${t + i}, null, null, ${i === 0 ? 200 : null}, null, ${t}, ${t})`.execute(db);
        }
        await sql`insert into webhook_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code, response_headers, response_body, error)
                  values ('msg_old0', 1, ${t}, 12, 200, '{"content-type":"text/plain"}', 'ok', null)`.execute(db);

        assert.deepEqual(await migrateTo(db, dialect, '0004_outbox_layout'), ['0004_outbox_layout']);
        await migrateToLatest(db, dialect);

        const rows = await db.selectFrom('webhook_deliveries').selectAll().orderBy('id').execute();
        assert.deepEqual(rows.map((r) => [r.id, r.status, Number(r.attempts), Number(r.next_attempt_at), r.last_status_code]), [
          ['msg_old0', 'succeeded', 1, t, 200],
          ['msg_old1', 'pending', 0, t + 1, null],
        ]);
        assert.ok(!('payload' in rows[0]!), 'the payload column is gone from the delivery row');
        const moved = await db.selectFrom('webhook_payloads').selectAll().orderBy('delivery_id').execute();
        assert.deepEqual(moved, [
          { delivery_id: 'msg_old0', payload: payloads[0] },
          { delivery_id: 'msg_old1', payload: payloads[1] },
        ]);
        const attempts = await db.selectFrom('webhook_attempts').selectAll().execute();
        assert.equal(attempts.length, 1);
        assert.equal(attempts[0]!.response_body, 'ok');

        // the pending one is claimed with its payload, as any new delivery
        const claimed = await new DbDeliveryStore(h.store).claimDue(t + 10, 10, 'me', 60_000);
        assert.deepEqual(claimed.map((d) => [d.id, d.payload]), [['msg_old1', payloads[1]]]);
      } finally {
        await h.close();
      }
    });
  });

  describe(`migration 0006_directory_lookup_keys (${backend})`, () => {
    it('re-keys directory rows written in decomposed Unicode, so lookups typed composed, or without accents, find them', async () => {
      const h = await tempStore(backend, { migrate: false });
      const { db, dialect } = h.store;
      try {
        await migrateTo(db, dialect, '0005_items_partial_indexes');
        const nfd = 'José  García'.normalize('NFD');
        // as the directory keyed names before: trimmed and lower-cased only
        await db.insertInto('contacts').values({ id: 'ct_1', fullname: nfd, fullname_norm: nfd.trim().toLowerCase(), company_domain: 'acme.es', email: null, phone: '+34 912 345 678', linkedin_url: null, source: 'import', created_at: 1 }).execute();
        const company = 'Société Générale'.normalize('NFD');
        await db.insertInto('companies').values({ id: 'co_1', name: company, name_norm: company.toLowerCase(), country: 'FR', domain: 'sg.fr', aliases: JSON.stringify(['SG Bänk'.normalize('NFD').toLowerCase()]) }).execute();
        const knowledge = new DbKnowledgeStore(h.store);
        // before the migration: the composed spelling misses
        assert.deepEqual(await knowledge.findContactsByName('José García', 'acme.es'), []);
        assert.deepEqual(await migrateTo(db, dialect, '0006_directory_lookup_keys'), ['0006_directory_lookup_keys']);
        assert.deepEqual((await knowledge.findContactsByName('José García', 'acme.es')).map((c) => c.phone), ['+34 912 345 678']);
        // and without its accents, as CRMs often write it
        assert.deepEqual((await knowledge.findContactsByName('Jose Garcia', 'acme.es')).map((c) => c.phone), ['+34 912 345 678']);
        assert.equal((await knowledge.findCompanyByName('société générale', 'FR'))?.domain, 'sg.fr');
        assert.equal((await knowledge.findCompanyByName('SG Bänk', 'FR'))?.domain, 'sg.fr');
        assert.equal((await knowledge.findCompanyByName('Societe Generale', 'FR'))?.domain, 'sg.fr');
        // names are kept as written
        assert.equal((await db.selectFrom('contacts').select('fullname').executeTakeFirstOrThrow()).fullname, nfd);
      } finally {
        await h.close();
      }
    });
  });
}
