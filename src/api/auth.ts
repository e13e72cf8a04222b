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

export function installAuth(app: FastifyInstance, store: OpenStore) {
  app.decorateRequest('auth', null as unknown as AuthenticatedKey);
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public || !req.routeOptions.url) return;
    const header = req.headers['x-api-key'];
    const key = Array.isArray(header) ? header[0] : header;
    if (!key) throw new ApiError(401, 'No apikey found in the x-api-key headers');
    const auth = await authenticate(store, key);
    if (!auth) throw new ApiError(401, 'This apikey is not valid');
    req.auth = auth;
  });
}
