// How the directories compare names: one Unicode form, one case, single spaces, Latin/Greek/Cyrillic accents
// folded, and nothing else folded (marks that are letters elsewhere keep two names apart).
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { nameKey } from '../../src/domain/lookup-key.js';
import { DbKnowledgeStore } from '../../src/store/knowledge.js';
import { BACKENDS, tempStore } from '../support/openrow.js';

test('names match across Unicode forms, spacing and accents, and only across those', () => {
  assert.equal(nameKey('José  García'.normalize('NFD')), nameKey('jose garcia'));
  assert.equal(nameKey(' Zoë Ölund '), 'zoe olund');
  // before: every combining mark went, and these pairs became one name
  assert.notEqual(nameKey('सीता शर्मा'), nameKey('सती शर्मा'));
  assert.notEqual(nameKey('ゴトウ'), nameKey('コトウ'));
});

for (const backend of BACKENDS) {
  describe(`directory keys (${backend})`, () => {
    it('a company re-imported with an accented or double-spaced alias is the same company, not a second one', async () => {
      const h = await tempStore(backend);
      try {
        const k = new DbKnowledgeStore(h.store);
        const company = { name: 'Société Générale', country: 'FR', domain: 'sg.fr', aliases: ['SG  Bänk'] };
        assert.equal(await k.importCompany(company), true);
        // before: the aliases were compared by another key than the one they were stored by
        assert.equal(await k.importCompany(company), false);
        assert.equal((await h.store.db.selectFrom('companies').selectAll().execute()).length, 1);
      } finally {
        await h.close();
      }
    });
  });
}
