// A minimal SOCKS5 server (RFC 1928: no authentication, CONNECT only) on loopback, so the
// verifier's OPENROW_SMTP_PROXY egress is exercised through a real proxy hop in tests.
import net from 'node:net';

export interface Socks5Server {
  url: string;
  /** destinations asked for, as 'ip:port' */
  connects: string[];
  close(): Promise<void>;
}

export async function startSocks5Server(): Promise<Socks5Server> {
  const connects: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let stage: 'greeting' | 'request' | 'piped' = 'greeting';
    let buf = Buffer.alloc(0);
    client.on('data', function onData(chunk) {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'greeting') {
        if (buf.length < 2 || buf.length < 2 + buf[1]!) return;
        buf = buf.subarray(2 + buf[1]!);
        client.write(Buffer.from([5, 0]));
        stage = 'request';
      }
      if (stage === 'request') {
        if (buf.length < 10 || buf[3] !== 1) {
          if (buf.length >= 4 && buf[3] !== 1) client.end(Buffer.from([5, 8, 0, 1, 0, 0, 0, 0, 0, 0]));
          return;
        }
        const ip = `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`;
        const port = buf.readUInt16BE(8);
        const rest = buf.subarray(10);
        connects.push(`${ip}:${port}`);
        stage = 'piped';
        client.off('data', onData);
        client.pause();
        const upstream = net.connect({ host: ip, port }, () => {
          client.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
          if (rest.length) upstream.write(rest);
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
        sockets.add(upstream);
        upstream.on('close', () => {
          sockets.delete(upstream);
          client.destroy();
        });
        upstream.on('error', () => client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])));
        client.on('close', () => upstream.destroy());
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `socks5://127.0.0.1:${port}`,
    connects,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
