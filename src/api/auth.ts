// x-api-key authentication for every API route (API.md conventions), run before the body is read.
import type { FastifyInstance } from 'fastify';
import type { OpenStore } from '../store/db.js';
import { authenticate, type AuthenticatedKey } from '../store/accounts.js';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthenticatedKey;
  }
  interface FastifyContextConfig {
    public?: boolean;
  }
}

// A valid key is remembered for a second: the lookup would otherwise be a database round trip on every
// request. A revoked key therefore stops working within AUTH_CACHE_MS. Unknown keys are never cached.
const AUTH_CACHE_MS = 1000;
const AUTH_CACHE_MAX = 10_000;

export function installAuth(app: FastifyInstance, store: OpenStore) {
  const cache = new Map<string, { auth: AuthenticatedKey; until: number }>();
  const lookup = async (key: string) => {
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.auth;
    const auth = await authenticate(store, key);
    if (auth) {
      if (cache.size >= AUTH_CACHE_MAX) cache.clear();
      cache.set(key, { auth, until: now + AUTH_CACHE_MS });
    } else cache.delete(key);
    return auth;
  };
  app.decorateRequest('auth', null as unknown as AuthenticatedKey);
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public || !req.routeOptions.url) return;
    const header = req.headers['x-api-key'];
    const key = Array.isArray(header) ? header[0] : header;
    if (!key) throw new ApiError(401, 'No apikey found in the x-api-key headers');
    const auth = await lookup(key);
    if (!auth) throw new ApiError(401, 'This apikey is not valid');
    req.auth = auth;
  });
}
