// Public surface of the phone finder engine (issue 7): LinkedIn URL normalisation for POST-time
// validation, provider config loading, and the waterfall engine itself.
export { normalizeLinkedinUrl } from './linkedin-url.js';
export { loadPhoneProviders, validatePhoneProviders, PhoneProvidersConfigError, type PhoneProviderConfig } from './provider-config.js';
export {
  createPhoneEngine,
  DIRECTORY_PROVIDER,
  type PhoneEngineOptions,
  type PhoneDetails,
  type ProviderAttempt,
  type AttemptOutcome,
} from './engine.js';
export { checkNumber, countryOfDomain, type LineType, type ValidNumber } from './phone-number.js';
