// The dashboard: one static page at /dashboard that signs in with an API key and uses the public API from
// the browser, so it can do nothing a client with that key could not (and shows what /account/info and
// the delivery log say: a disabled or failing global webhook URL above all). No server-side session, no
// cookie: the key stays in the tab (sessionStorage) and travels in x-api-key like any client's.
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';

const asset = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');

// Everything the page loads is its own: no inline script or style, no other origin, no framing (the page
// holds an API key), no referrer leaving with the URL.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function dashboardRoutes() {
  const files = {
    html: asset('index.html'),
    js: asset('app.js'),
    css: asset('style.css'),
  };
  const send = (reply: FastifyReply, type: string, body: string) => reply.headers(SECURITY_HEADERS).type(type).send(body);
  const route = { config: { public: true }, schema: { hide: true } };
  return async function (app: FastifyInstance) {
    app.get('/dashboard', route, async (_req, reply) => send(reply, 'text/html; charset=utf-8', files.html));
    app.get('/dashboard/app.js', route, async (_req, reply) => send(reply, 'text/javascript; charset=utf-8', files.js));
    app.get('/dashboard/style.css', route, async (_req, reply) => send(reply, 'text/css; charset=utf-8', files.css));
  };
}
