// A real HTTP server on 127.0.0.1 playing the phone data vendors of a test: each path answers with the
// handler the test gives it and every request is recorded, so tests can check what was sent and in
// which order. Handlers that never answer model a vendor that hangs (timeout fallback).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export type VendorHandler = (req: RecordedRequest, res: ServerResponse) => void;

export interface VendorServer {
  baseUrl: string;
  requests: RecordedRequest[];
  /** paths asked, in order */
  paths(): string[];
  close(): Promise<void>;
}

export const json = (status: number, value: unknown): VendorHandler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof value === 'string' ? value : JSON.stringify(value));
};

/** Keeps the request open without answering, until the server closes. */
export const hang: VendorHandler = () => undefined;

export async function startVendorServer(routes: Record<string, VendorHandler>): Promise<VendorServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const recorded: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(recorded);
      const handler = routes[url.pathname];
      if (handler) handler(recorded, res);
      else json(404, { error: 'no such route' })(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    paths: () => requests.map((r) => r.path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
