// A loopback port that was free a moment ago, for servers a test must start on a port it names in
// advance (a receiver that comes up on the port a refused delivery was aimed at, SMTP servers on several
// loopback addresses sharing the one port the verifier connects to). Closed again: nothing listens there.
import { createServer, type AddressInfo } from 'node:net';

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
