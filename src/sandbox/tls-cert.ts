// A self-signed certificate for the sandbox's STARTTLS, generated once per process: real servers on
// the internet often present certificates a verifier cannot check either.
import selfsigned from 'selfsigned';

export interface TlsMaterial {
  key: string;
  cert: string;
}

let cached: TlsMaterial | undefined;

export function sandboxTlsMaterial(): TlsMaterial {
  if (!cached) {
    const pems = selfsigned.generate([{ name: 'commonName', value: 'mx.sandbox.test' }], {
      days: 3650,
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'subjectAltName', altNames: [{ type: 2, value: '*.test' }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
      ],
    });
    cached = { key: pems.private, cert: pems.cert };
  }
  return cached;
}
