// Request schemas: the same objects validate requests and generate /openapi.json. Presence of the
// mandatory fields is checked in src/domain/inputs.ts, which owns API.md's exact messages.
const str = { type: 'string' } as const;
// Clients written for Enrow send null for fields they leave out: null is absent (inputs.ts), and so is
// a value of another type (a number where a name goes): either gets API.md's own message from there
// ("input payload is missing fullname", "Missing mandatory property on search n°2 of 3"), not a type
// error from here, so the type is documented rather than checked.
const optStr = { description: 'string (null, or any other type, counts as absent)' } as const;
const anyJson = { description: 'Any JSON value, returned byte-for-byte as given' } as const;

// null settings (and null options in them) are absent too. The webhook's type is not checked here: any
// value that is not an https URL gets API.md's own message ("Invalid webhook: …") from submit.ts.
const webhookSetting = { webhook: { description: 'https URL; wins over the account global webhook' } } as const;
// the finder's options; verifications and phone searches take the webhook only
const settings = {
  type: ['object', 'null'],
  properties: {
    ...webhookSetting,
    country_code: { type: ['string', 'null'], pattern: '^[A-Za-z]{2}$', description: 'ISO 3166 alpha-2, default US' },
    retrieve_gender: { type: ['boolean', 'null'] },
  },
} as const;
const webhookOnly = { type: ['object', 'null'], properties: webhookSetting } as const;

// Bulk items are checked for shape only when they are objects: anything else gets API.md's
// "Missing mandatory property on search n°…" from inputs.ts, so every JSON type passes here (named
// rather than left out: Ajv's strict mode wants the object type stated wherever properties apply).
const ANY_ITEM = ['object', 'array', 'string', 'number', 'boolean', 'null'] as const;
const findItem = {
  type: ANY_ITEM,
  properties: { fullname: optStr, first_name: optStr, last_name: optStr, company_domain: optStr, company_name: optStr, custom: anyJson },
} as const;

const phoneItem = {
  type: ANY_ITEM,
  properties: { linkedin_url: optStr, first_name: optStr, last_name: optStr, company_domain: optStr, company_name: optStr, custom: anyJson },
} as const;

export const bodySchemas = {
  find: {
    single: { type: 'object', properties: { ...findItem.properties, settings } },
    bulk: { type: 'object', properties: { searches: { type: ['array', 'null'], items: findItem }, custom: anyJson, settings } },
  },
  verify: {
    single: { type: 'object', properties: { email: optStr, custom: anyJson, settings: webhookOnly } },
    bulk: { type: 'object', properties: { emails: { type: ['array', 'null'], items: { description: 'an email address' } }, custom: anyJson, settings: webhookOnly } },
  },
  phone: {
    single: { type: 'object', properties: { ...phoneItem.properties, settings: webhookOnly } },
    bulk: { type: 'object', properties: { searches: { type: ['array', 'null'], items: phoneItem }, custom: anyJson, settings: webhookOnly } },
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
