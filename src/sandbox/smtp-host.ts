// One simulated MX host: a TCP server on the host's own loopback address that counts connections,
// enforces the concurrency limit with 421 and hands each accepted connection to an SmtpSession.
import net from 'node:net';
import { bump } from './counters.js';
import { SmtpSession, type SessionEnv } from './smtp-session.js';
import type { HostPlan } from './world-plan.js';

export class SmtpHostServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly env: SessionEnv) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  private get plan(): HostPlan {
    return this.env.host;
  }

  private accept(socket: net.Socket): void {
    const c = this.env.counters;
    this.sockets.add(socket);
    c.connections++;
    c.currentConnections++;
    c.maxConcurrentConnections = Math.max(c.maxConcurrentConnections, c.currentConnections);
    socket.on('close', () => {
      this.sockets.delete(socket);
      c.currentConnections--;
    });
    socket.on('error', () => undefined);
    if (this.plan.maxConnections !== null && c.currentConnections > this.plan.maxConnections) {
      c.rejectedConnections++;
      bump(c.replies, '421');
      socket.end(`421 4.7.0 ${this.plan.name} Error: too many concurrent connections; try again later\r\n`);
      return;
    }
    new SmtpSession(socket, this.env).run().catch(() => socket.destroy());
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ port, host: this.plan.address, exclusive: true }, () => {
        this.server.removeListener('error', onError);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Checks that nothing listens on address:port, so a refusing host really refuses. */
function probeFree(address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ port, host: address, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * Puts every host on one shared port (the verifier has one SMTP port setting): with port 0, the first
 * host picks a free port and the others try it, starting over when one of the addresses has it taken.
 */
export async function listenOnSharedPort(servers: SmtpHostServer[], refusingAddresses: string[], port: number): Promise<number> {
  const attempts = port === 0 ? 30 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      let chosen = port;
      for (const s of servers) chosen = await s.listen(chosen);
      if (chosen === 0) {
        // no listening host at all: still report a port the refusing addresses are free on
        const probe = net.createServer();
        chosen = await new Promise<number>((resolve, reject) => {
          probe.once('error', reject);
          probe.listen({ port: 0, host: refusingAddresses[0] ?? '127.0.0.1' }, () => {
            const p = (probe.address() as net.AddressInfo).port;
            probe.close(() => resolve(p));
          });
        });
      }
      for (const address of refusingAddresses) await probeFree(address, chosen);
      return chosen;
    } catch (err) {
      lastError = err;
      await Promise.all(servers.map((s) => s.close()));
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  throw new Error(`sandbox SMTP hosts could not share port ${port}: ${(lastError as Error).message}`);
}
