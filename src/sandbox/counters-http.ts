// The counters over HTTP for processes other than the sandbox's own (a server under test, a benchmark):
// GET /counters returns them as JSON, DELETE /counters (or POST /counters/reset) zeroes them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostCounters } from './world-types.js';

export interface RunningCountersHttp {
  url: string;
  close(): Promise<void>;
}

export async function startCountersHttp(
  host: string,
  port: number,
  read: () => Record<string, HostCounters>,
  reset: () => void,
): Promise<RunningCountersHttp> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/counters' && req.method === 'GET') return send(200, read());
    if ((path === '/counters' && req.method === 'DELETE') || (path === '/counters/reset' && req.method === 'POST')) {
      reset();
      return send(200, read());
    }
    send(404, { message: 'GET /counters, DELETE /counters or POST /counters/reset' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}/counters`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
