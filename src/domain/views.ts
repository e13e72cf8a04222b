// What clients see: GET bodies and webhook payloads, shaped exactly as API.md documents them, plus
// Openrow's additive `details`. `custom` values are spliced back verbatim (see raw-json.ts).
import type { SearchesTable } from '../store/schema.js';
import type { FindResult, PhoneResult, VerifyResult } from '../engines/types.js';
import { fromCents } from './money.js';
import { raw, RawJson, withoutMembers } from './raw-json.js';

export interface ItemRow {
  idx: number;
  raw: string;
  custom: string | null;
  result: string | null;
  qualification: string | null;
  charged_cents: number;
  state: string;
}

export interface View {
  statusCode: number;
  body: unknown;
}

const NOT_PARAMS: ReadonlySet<string> = new Set(['custom', 'settings']);

/**
 * The item as sent, without `custom` (shown on its own) and `settings` (a single's options), for
 * raw_params / params: cut out of the text rather than parsed and serialized again, which turned
 * `1.50` into `1.5` and rounded big integers.
 */
function paramsOf(item: ItemRow): RawJson {
  return new RawJson(withoutMembers(item.raw, NOT_PARAMS));
}

function creditsCost(search: SearchesTable) {
  const initial = search.price_cents * search.requested;
  const refunded = search.refunded_sub_cents + search.refunded_paygo_cents + search.refunded_test_cents;
  return { initial: fromCents(initial), refunded: fromCents(refunded), final: fromCents(initial - refunded) };
}

/**
 * A search's or item's `custom` where API.md lists the field: `null` when none was sent, so that a
 * client reading `result["custom"]` finds the key (a batch's own `custom`, an Openrow addition, is left
 * out instead).
 */
const customOf = (text: string | null | undefined): RawJson | null => raw(text) ?? null;

const parse = <T>(item: ItemRow) => (item.result ? (JSON.parse(item.result) as T) : undefined);

function findSingleResult(search: SearchesTable, item: ItemRow) {
  const r = parse<FindResult>(item)!;
  // API.md's info always has company_domain: null when the company could not be resolved to one
  return { email: r.email ?? null, qualification: r.qualification, custom: customOf(search.custom), info: { company_domain: null, ...r.info }, details: r.details };
}

function phoneSingleResult(search: SearchesTable, item: ItemRow) {
  const r = parse<PhoneResult>(item)!;
  const found = r.qualification === 'found';
  return {
    params: paramsOf(item),
    custom: customOf(search.custom),
    ...(found ? { number: r.number, country: r.country } : {}),
    qualification: r.qualification,
    details: r.details,
  };
}

export function searchView(search: SearchesTable, items: ItemRow[]): View {
  const done = search.status === 'completed';
  const general = { id: search.id, status: done ? 'completed' : 'ongoing' };
  // a batch's own `custom` (API.md: returned as given) comes back beside `general`
  const batchCustom = raw(search.custom);
  const progress = { general, custom: batchCustom, stats: { requested: search.requested, finished: search.finished } };
  const valid = items.filter((i) => i.qualification === 'valid' || i.qualification === 'found').length;

  if (!search.bulk) {
    const item = items[0]!;
    if (search.product === 'phone') {
      if (!done) return { statusCode: 202, body: { params: paramsOf(item), custom: customOf(search.custom), qualification: 'ongoing' } };
      return { statusCode: 200, body: phoneSingleResult(search, item) };
    }
    if (!done) return { statusCode: 202, body: { qualification: 'ongoing' } };
    if (search.product === 'find') return { statusCode: 200, body: findSingleResult(search, item) };
    const r = parse<VerifyResult>(item)!;
    return { statusCode: 200, body: { email: r.email, qualification: r.qualification, custom: customOf(search.custom), details: r.details } };
  }

  if (search.product === 'find') {
    if (!done) return { statusCode: 202, body: progress };
    const results = items.map((item) => {
      const r = parse<FindResult>(item)!;
      const { company_domain, ...rest } = r.info;
      return {
        index: String(item.idx),
        qualification: r.qualification,
        email: r.email ?? null,
        info: { domain: company_domain ?? null, ...rest },
        raw_params: paramsOf(item),
        custom: customOf(item.custom),
        details: r.details,
      };
    });
    return {
      statusCode: 200,
      body: { general, custom: batchCustom, stats: { finished: search.finished, requested: search.requested, valid, credits_cost: creditsCost(search) }, results },
    };
  }
  if (search.product === 'verify') {
    if (!done) return { statusCode: 202, body: progress };
    const results = items.map((item) => {
      const r = parse<VerifyResult>(item)!;
      return { email: r.email, index: String(item.idx), qualification: r.qualification, details: r.details };
    });
    return {
      statusCode: 200,
      body: { general, custom: batchCustom, results, stats: { credits_cost: creditsCost(search).final, requested: search.requested, valid } },
    };
  }
  // phone bulk: API.md documents 200 even while ongoing, and a numeric index.
  if (!done) return { statusCode: 200, body: { general, custom: batchCustom, stats: { finished: search.finished, requested: search.requested } } };
  const results = items.map((item) => {
    const r = parse<PhoneResult>(item)!;
    const found = r.qualification === 'found';
    return {
      index: item.idx,
      qualification: r.qualification,
      ...(found ? { number: r.number, country: r.country } : {}),
      params: paramsOf(item),
      custom: customOf(item.custom),
      details: r.details,
    };
  });
  return { statusCode: 200, body: { general, custom: batchCustom, results, stats: { credits_cost: creditsCost(search).final, requested: search.requested, valid } } };
}

const WEBHOOK_EVENTS = {
  find: ['single_search_finished', 'bulk_search_finished'],
  verify: ['verification_finished', 'bulk_verification_finished'],
  phone: ['single_phone_search_finished', 'bulk_phone_search_finished'],
} as const;

/**
 * The webhook payload for a search that has just completed (items are its final rows). A test search's
 * payload says so (`"mode": "test"`, after the documented fields): it is signed with the account's secret
 * like a live one, and a receiver must be able to tell sandbox results from real ones.
 */
export function webhookPayload(search: SearchesTable, items: ItemRow[]): { event: string; body: unknown } {
  const p = documentedPayload(search, items);
  if (search.mode === 'test') (p.body as Record<string, unknown>).mode = 'test';
  return p;
}

// the payload as API.md documents it (plus the additive fields), for either mode
function documentedPayload(search: SearchesTable, items: ItemRow[]): { event: string; body: unknown } {
  const event = WEBHOOK_EVENTS[search.product][search.bulk ? 1 : 0];
  const cost = creditsCost(search).final;
  if (search.bulk) {
    // the batch's `custom`, when it has one, after the documented fields
    if (search.product === 'phone') return { event, body: { event, id: search.id, custom: raw(search.custom) } };
    return { event, body: { event, id: search.id, credits: { cost }, custom: raw(search.custom) } };
  }
  const item = items[0]!;
  if (search.product === 'verify') {
    const r = parse<VerifyResult>(item)!;
    return { event, body: { event, id: search.id, email: r.email, qualification: r.qualification, custom: customOf(search.custom), details: r.details } };
  }
  if (search.product === 'find') {
    return { event, body: { event, id: search.id, credits: { cost }, result: findSingleResult(search, item) } };
  }
  const r = parse<PhoneResult>(item)!;
  return {
    event,
    body: {
      event,
      id: search.id,
      credits: { cost },
      // API.md's fields in its order, then the additions (country, custom, details)
      result: { number: r.number ?? null, params: paramsOf(item), qualification: r.qualification, country: r.country ?? undefined, custom: customOf(search.custom), details: r.details },
    },
  };
}
