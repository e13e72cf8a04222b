// Turns a validated-by-schema request body into search items, with the exact messages of API.md for
// what the schema cannot say (which field is missing, which item of how many).
import type { Product } from '../store/schema.js';
import type { NewItem } from '../store/searches.js';
import type { FindPerson, PhoneQuery } from '../engines/types.js';
import { arrayElements, objectMembers, sliceSpan, type Span } from './raw-json.js';

const MAX_BULK = 5000;

export class InputError extends Error {
  constructor(message: string, readonly statusCode = 400) {
    super(message);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

export interface ParsedRequest {
  product: Product;
  bulk: boolean;
  items: NewItem[];
  custom: string | null;
  settings: Obj;
  webhookUrl: string | null;
}

function findPerson(item: Obj, settings: Obj): FindPerson | 'name' | 'company' {
  const hasFull = nonEmpty(item.fullname);
  const hasParts = nonEmpty(item.first_name) && nonEmpty(item.last_name);
  if (!hasFull && !hasParts) return 'name';
  if (!nonEmpty(item.company_domain) && !nonEmpty(item.company_name)) return 'company';
  return {
    // API.md: when both forms are given, fullname wins.
    ...(hasFull ? { fullname: (item.fullname as string).trim() } : { first_name: (item.first_name as string).trim(), last_name: (item.last_name as string).trim() }),
    ...(nonEmpty(item.company_domain) ? { company_domain: (item.company_domain as string).trim() } : {}),
    ...(nonEmpty(item.company_name) ? { company_name: (item.company_name as string).trim() } : {}),
    country_code: typeof settings.country_code === 'string' ? settings.country_code.toUpperCase() : 'US',
    retrieve_gender: settings.retrieve_gender === true,
  };
}

export type LinkedinNormalizer = (url: string) => string | null;

function phoneQuery(item: Obj, normalizeLinkedinUrl: LinkedinNormalizer): PhoneQuery | 'invalid_url' | 'missing' {
  // absent, null or blank: not given (as every other field), so a complete name form still searches
  if (item.linkedin_url !== undefined && item.linkedin_url !== null && !(typeof item.linkedin_url === 'string' && item.linkedin_url.trim() === '')) {
    const url = typeof item.linkedin_url === 'string' ? normalizeLinkedinUrl(item.linkedin_url) : null;
    return url ? { linkedin_url: url } : 'invalid_url';
  }
  if (nonEmpty(item.first_name) && nonEmpty(item.last_name) && (nonEmpty(item.company_domain) || nonEmpty(item.company_name))) {
    return {
      first_name: (item.first_name as string).trim(),
      last_name: (item.last_name as string).trim(),
      ...(nonEmpty(item.company_domain) ? { company_domain: (item.company_domain as string).trim() } : {}),
      ...(nonEmpty(item.company_name) ? { company_name: (item.company_name as string).trim() } : {}),
    };
  }
  return 'missing';
}

function bulkSize(n: number, emptyMessage: string) {
  if (n === 0) throw new InputError(emptyMessage);
  if (n > MAX_BULK) throw new InputError(`A bulk request holds at most ${MAX_BULK} items`);
}

/**
 * `custom` is the client's own bookkeeping (a CRM id, a row reference), stored with the search and sent
 * back in results and webhooks: a megabyte of it per free test-mode search filled a disk at ~2 TB a day.
 */
export const MAX_CUSTOM_BYTES = 64 * 1024;

function tooBigCustom(custom: string | null, where: string) {
  if (custom !== null && Buffer.byteLength(custom, 'utf8') > MAX_CUSTOM_BYTES) {
    throw new InputError(`custom may hold at most ${MAX_CUSTOM_BYTES / 1024} KB of JSON${where}`);
  }
}

/** Parses one of the six POST bodies. `text` is the raw body, for verbatim `custom` values. */
export function parseRequest(product: Product, bulk: boolean, body: Obj, text: string, normalizeLinkedin: LinkedinNormalizer): ParsedRequest {
  const members = objectMembers(text);
  const settings = isObj(body.settings) ? body.settings : {};
  const custom = body.custom === undefined ? null : sliceSpan(text, members.get('custom'));
  tooBigCustom(custom, '');
  const webhookUrl = typeof settings.webhook === 'string' && settings.webhook !== '' ? settings.webhook : null;
  const base = { product, bulk, custom, settings, webhookUrl };

  if (!bulk) {
    const rawItem = text;
    if (product === 'find') {
      const p = findPerson(body, settings);
      if (p === 'name') throw new InputError('input payload is missing fullname');
      if (p === 'company') throw new InputError('both company_domain and company_name are absent, input payload needs at least one of them');
      return { ...base, items: [{ input: p, raw: rawItem, custom: null }] };
    }
    if (product === 'verify') {
      if (!nonEmpty(body.email)) throw new InputError('input payload is missing email');
      // as sent, spaces included: results echo it, and clients match them by the string they sent (the
      // verifier reads the address without the spaces)
      return { ...base, items: [{ input: { email: body.email }, raw: rawItem, custom: null }] };
    }
    const q = phoneQuery(body, normalizeLinkedin);
    if (q === 'invalid_url') throw new InputError('Invalid linkedin_url');
    if (q === 'missing') throw new InputError('Missing mandatory property: linkedin_url or first_name, last_name and company');
    return { ...base, items: [{ input: q, raw: rawItem, custom: null }] };
  }

  const listKey = product === 'verify' ? 'emails' : 'searches';
  const list = body[listKey];
  if (!Array.isArray(list)) {
    throw new InputError(product === 'phone' ? 'At least 1 phone search must be present in the payload' : `input payload is missing ${listKey}`);
  }
  bulkSize(list.length, product === 'phone' ? 'At least 1 phone search must be present in the payload' : `At least 1 ${product === 'verify' ? 'email' : 'search'} must be present in the payload`);
  const spans: Span[] = arrayElements(text, members.get(listKey)!);
  const items: NewItem[] = list.map((entry, i) => {
    const where = `on search n°${i + 1} of ${list.length}`;
    const rawText = text.slice(spans[i]![0], spans[i]![1]);
    if (product === 'verify') {
      if (!nonEmpty(entry)) throw new InputError(`Missing mandatory property ${where}`);
      return { input: { email: entry }, raw: rawText, custom: null };
    }
    if (!isObj(entry)) throw new InputError(`Missing mandatory property ${where}`);
    const itemCustom = entry.custom === undefined ? null : sliceSpan(rawText, objectMembers(rawText).get('custom'));
    tooBigCustom(itemCustom, ` ${where}`);
    if (product === 'find') {
      const p = findPerson(entry, settings);
      if (typeof p === 'string') throw new InputError(`Missing mandatory property ${where}`);
      return { input: p, raw: rawText, custom: itemCustom };
    }
    const q = phoneQuery(entry, normalizeLinkedin);
    if (q === 'invalid_url') throw new InputError(`Invalid linkedin_url ${where}`);
    if (q === 'missing') throw new InputError(`Missing mandatory property ${where}`);
    return { input: q, raw: rawText, custom: itemCustom };
  });
  return { ...base, items };
}

export const INVALID_WEBHOOK = 'Invalid webhook: an https URL is required';

/** A webhook URL (per request or the account's) that cannot be accepted: wrong shape, or refused by the address check (SSRF guard). */
export function webhookRefused(url: string, checkAddress?: (url: string) => string | null): boolean {
  return !checkWebhookUrlShape(url) || Boolean(checkAddress?.(url));
}

/** Longer URLs are refused: each completed search copies its URL into a delivery row (2,048 is the common limit of browsers and proxies). */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** API.md: an absolute https URL without credentials. Address checks come from the webhook guard. */
function checkWebhookUrlShape(url: string): boolean {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) return false;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  // control characters (NUL above all, which PostgreSQL text cannot hold) have no place in a URL we store
  // and send as given, nor have spaces around it; and the host must be written where a host goes (the
  // URL parser reads "https:///path" as the host "path")
  return (
    u.protocol === 'https:' && !u.username && !u.password && !!u.hostname &&
    !/[\u0000-\u0020\u007f]/.test(url) && /^https:\/\/[^/?#\\]/i.test(url)
  );
}
