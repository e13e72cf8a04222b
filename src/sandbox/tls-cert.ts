// A self-signed certificate for the sandbox's STARTTLS, generated once per process: real servers on
// the internet often present certificates a verifier cannot check either. The RSA key is made by
// node's crypto on its thread pool (prepareSandboxTls): made by the certificate library in JavaScript it
// held the event loop for about half a second, and test mode starts the sandbox inside a live server.
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import selfsigned from 'selfsigned';

export interface TlsMaterial {
  key: string;
  cert: string;
}

let cached: TlsMaterial | undefined;
let preparing: Promise<TlsMaterial> | undefined;

function certify(keyPair?: { privateKey: string; publicKey: string }): TlsMaterial {
  const pems = selfsigned.generate([{ name: 'commonName', value: 'mx.sandbox.test' }], {
    days: 3650,
    keySize: 2048,
    algorithm: 'sha256',
    keyPair,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'subjectAltName', altNames: [{ type: 2, value: '*.test' }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  } as selfsigned.SelfsignedOptions & { keyPair?: { privateKey: string; publicKey: string } });
  return { key: pems.private, cert: pems.cert };
}

/** Makes the certificate without blocking the event loop; later calls share it. */
export function prepareSandboxTls(): Promise<TlsMaterial> {
  if (cached) return Promise.resolve(cached);
  preparing ??= promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  }).then(({ privateKey, publicKey }) => (cached ??= certify({ privateKey, publicKey })));
  return preparing;
}

/** The certificate, made at once (synchronously) if prepareSandboxTls has not made it yet. */
export function sandboxTlsMaterial(): TlsMaterial {
  cached ??= certify();
  return cached;
}
