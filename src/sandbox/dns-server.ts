// The sandbox's authoritative DNS server (dns2, UDP and TCP on one port): MX, A, AAAA and TXT of the
// world's names, NOERROR with no answer for other types of a known name, NXDOMAIN for everything else.
import type { Socket } from 'node:net';
import dns2, { type DnsHandler } from 'dns2';
import type { NameRecords } from './world-plan.js';

const { Packet } = dns2;
const TTL = 60;

export interface RunningDns {
  host: string;
  port: number;
  close(): Promise<void>;
}

// A TXT character-string holds at most 255 bytes; longer records are split as RFC 7208 §3.3 describes.
function txtChunks(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks.length > 0 ? chunks : [Buffer.alloc(0)];
}

function answersFor(name: string, type: number, rec: NameRecords): object[] {
  const base = { name, class: Packet.CLASS.IN, ttl: TTL };
  switch (type) {
    case Packet.TYPE.MX:
      if (rec.mx === 'null') return [{ ...base, type, exchange: '', priority: 0 }];
      return (rec.mx ?? []).map((r) => ({ ...base, type, exchange: r.host, priority: r.preference }));
    case Packet.TYPE.A:
      return rec.a.map((address) => ({ ...base, type, address }));
    case Packet.TYPE.AAAA:
      return rec.aaaa.map((address) => ({ ...base, type, address }));
    case Packet.TYPE.TXT:
      return rec.txt.map((t) => ({ ...base, type, data: txtChunks(t) }));
    default:
      return [];
  }
}

type Zone = Map<string, NameRecords>;

// dns2's typings omit RCODE; RFC 1035 §4.1.1 fixes the value.
const RCODE_NXDOMAIN = 3;

function handlerFor(zone: Zone): DnsHandler {
  return (request, send) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    for (const q of request.questions) {
      const rec = zone.get(q.name.toLowerCase().replace(/\.$/, ''));
      if (!rec) {
        response.header.rcode = RCODE_NXDOMAIN;
        continue;
      }
      if (q.class !== Packet.CLASS.IN && q.class !== Packet.CLASS.ANY) continue;
      response.answers.push(...(answersFor(q.name, q.type, rec) as typeof response.answers));
    }
    // UDP's send returns a promise, TCP's returns nothing; a client gone away is not our error.
    Promise.resolve(send(response)).catch(() => undefined);
  };
}

/** One attempt: UDP on `port` (0 picks one), then TCP on the same port. */
async function tryListen(zone: Zone, host: string, port: number): Promise<RunningDns> {
  const udp = dns2.createUDPServer(handlerFor(zone));
  const tcp = dns2.createTCPServer(handlerFor(zone));
  // Malformed queries are the client's problem; an unhandled 'error' event would crash the process.
  udp.on('requestError', () => undefined);
  tcp.on('requestError', () => undefined);
  const tcpSockets = new Set<Socket>();
  tcp.on('connection', (s: Socket) => {
    tcpSockets.add(s);
    s.on('close', () => tcpSockets.delete(s));
  });
  const closeUdp = () => new Promise<void>((r) => udp.close(() => r()));

  const udpPort = await new Promise<number>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => {
      udp.removeListener('error', reject);
      resolve(udp.address().port);
    });
  });
  udp.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(udpPort, host, () => {
        tcp.removeListener('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await closeUdp();
    throw err;
  }
  return {
    host,
    port: udpPort,
    async close() {
      for (const s of tcpSockets) s.destroy();
      await Promise.all([closeUdp(), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}

export async function startDnsServer(zone: Zone, host: string, port: number): Promise<RunningDns> {
  let lastError: unknown;
  // With port 0 the UDP port is free but its TCP twin may not be: pick again a few times.
  for (let attempt = 0; attempt < (port === 0 ? 20 : 1); attempt++) {
    try {
      return await tryListen(zone, host, port);
    } catch (err) {
      lastError = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  throw new Error(`sandbox DNS server could not listen on ${host}:${port} (UDP and TCP): ${(lastError as Error).message}`);
}
