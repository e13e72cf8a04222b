// Request schemas: the same objects validate requests and generate /openapi.json. Presence of the
// mandatory fields is checked in src/domain/inputs.ts, which owns API.md's exact messages.
const str = { type: 'string' } as const;
const anyJson = { description: 'Any JSON value, returned byte-for-byte as given' } as const;

const settings = {
  type: 'object',
  properties: {
    webhook: { type: ['string', 'null'], description: 'https URL; wins over the account global webhook' },
    country_code: { type: 'string', pattern: '^[A-Za-z]{2}$', description: 'ISO 3166 alpha-2, default US' },
    retrieve_gender: { type: 'boolean' },
  },
} as const;

const findItem = {
  type: 'object',
  properties: { fullname: str, first_name: str, last_name: str, company_domain: str, company_name: str, custom: anyJson },
} as const;

const phoneItem = {
  type: 'object',
  properties: { linkedin_url: str, first_name: str, last_name: str, company_domain: str, company_name: str, custom: anyJson },
} as const;

export const bodySchemas = {
  find: {
    single: { type: 'object', properties: { ...findItem.properties, settings } },
    bulk: { type: 'object', properties: { searches: { type: 'array', items: findItem }, custom: anyJson, settings } },
  },
  verify: {
    single: { type: 'object', properties: { email: str, custom: anyJson, settings } },
    bulk: { type: 'object', properties: { emails: { type: 'array', items: str }, custom: anyJson, settings } },
  },
  phone: {
    single: { type: 'object', properties: { ...phoneItem.properties, settings } },
    bulk: { type: 'object', properties: { searches: { type: 'array', items: phoneItem }, custom: anyJson, settings } },
  },
} as const;

export const idQuery = { type: 'object', properties: { id: str } } as const;

export const apiKeyHeader = {
  type: 'object',
  properties: {
    'x-api-key': str,
    'idempotency-key': { type: 'string', maxLength: 255 },
  },
} as const;
