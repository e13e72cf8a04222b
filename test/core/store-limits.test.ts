// What one database takes and the other refuses, found by running the same requests on both: U+0000 in
// a name, a company or an id (PostgreSQL text cannot hold it: every lookup failed, and the item was
// retried for half an hour), and balances beyond 2^53 cents (read back rounded, they never matched in
// the reservation's compare-and-set, which then spun for ever holding a connection).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { BACKENDS, tempStore } from '../support/openrow.js';
import { DbKnowledgeStore } from '../../src/store/knowledge.js';
import { getDelivery, listDeliveries, retryDelivery } from '../../src/store/webhooks.js';
import { BalanceLimit, MAX_BALANCE_CENTS, createAccount, grantCredits, reserveCredits } from '../../src/store/accounts.js';
import type { OpenStore } from '../../src/store/db.js';

for (const backend of BACKENDS) {
  describe(`store limits (${backend})`, () => {
    let store: OpenStore;
    let close: () => Promise<void>;
    before(async () => {
      ({ store, close } = await tempStore(backend));
    });
    after(async () => close?.());

    it('looks up and stores names with U+0000 as if it were not there', async () => {
      const k = new DbKnowledgeStore(store);
      await k.addContact({ fullname: 'Jim\u0000 Halpert', company_domain: 'acme.test', email: 'jim.halpert@acme.test', phone: '+1555\u0000', linkedin_url: null }, 'search');
      const [jim] = await k.findContactsByName('Jim Halpert', 'acme.test');
      assert.equal(jim?.fullname, 'Jim Halpert');
      assert.equal(jim?.phone, '+1555');
      assert.equal((await k.findContactsByName('Jim\u0000 Halpert', 'acme\u0000.test')).length, 1);
      assert.equal(await k.findCompanyByName('Acme\u0000', 'US'), undefined, 'not in the directory: an answer, not an error');
      assert.equal(await k.importCompany({ name: 'Acme\u0000', country: 'US', domain: 'acme.test', aliases: ['AC\u0000ME'] }), true);
      assert.equal(await k.importCompany({ name: 'Acme', country: 'US', domain: 'acme.test', aliases: ['ACME'] }), false, 'the same company once stored');
      assert.equal((await k.findCompanyByName('acme', 'US'))?.domain, 'acme.test');
      assert.equal((await k.findCompanyByName('ac\u0000me', null))?.domain, 'acme.test', 'found by its alias');
    });

    it('finds a contact imported with a lower-cased LinkedIn member id by its id as now kept, and does not import it twice', async () => {
      const k = new DbKnowledgeStore(store);
      const member = 'https://www.linkedin.com/in/ACoAAB8xKZkBq3VtQ';
      // as imports stored it before member ids kept their case
      await k.addContact({ fullname: 'Stanley Hudson', company_domain: 'dm.test', phone: '+1 570 555 0101', linkedin_url: member.toLowerCase() }, 'import');
      assert.equal((await k.findContactByLinkedin(member))?.fullname, 'Stanley Hudson');
      assert.equal(await k.importContact({ fullname: 'Stanley Hudson', company_domain: 'dm.test', phone: '+1 570 555 0101', linkedin_url: member }), false);
    });

    it('finds no delivery by an id, search id or event holding U+0000, without a failed query', async () => {
      const { account } = await createAccount(store, { name: 'nul', subCents: 100 });
      assert.deepEqual(await listDeliveries(store, account.id, 'live', { searchId: 'a\u0000', limit: 10 }), { data: [], next_cursor: null });
      assert.deepEqual(await listDeliveries(store, account.id, 'live', { event: '\u0000', limit: 10 }), { data: [], next_cursor: null });
      assert.equal(await getDelivery(store, account.id, 'live', 'msg_\u0000'), undefined);
      assert.equal(await retryDelivery(store, account.id, 'live', 'msg_\u0000'), 'not_found');
    });

    it('refuses a grant that would take a balance beyond 2^53 cents, and never spins on a balance it cannot read exactly', async () => {
      const { account } = await createAccount(store, { name: 'rich', subCents: 500 });
      const grants = async () => (await store.db.selectFrom('ledger').select('id').where('account_id', '=', account.id).where('kind', '=', 'grant').execute()).length;
      const before = await grants();
      await assert.rejects(grantCredits(store, account.id, { subCents: MAX_BALANCE_CENTS - 499 }), BalanceLimit);
      const row = await store.db.selectFrom('accounts').select(['sub_cents', 'paygo_cents']).where('id', '=', account.id).executeTakeFirstOrThrow();
      assert.equal(Number(row.sub_cents), 500, 'nothing granted');
      assert.equal(await grants(), before, 'no ledger row either');
      // up to the limit exactly, everything still works
      await grantCredits(store, account.id, { subCents: MAX_BALANCE_CENTS - 500 });
      const r = await store.tx((trx) => reserveCredits(trx, account.id, 'live', 25));
      assert.equal(r.fromSub, 25);
      // a balance set beyond it by hand: the reservation fails after a bounded number of tries
      await sql`update accounts set sub_cents = 9007199254740993 where id = ${account.id}`.execute(store.db);
      await assert.rejects(
        store.tx((trx) => reserveCredits(trx, account.id, 'live', 25)),
        /could not reserve credits on account .*: its balance changed 100 times in a row/,
      );
    });
  });
}
