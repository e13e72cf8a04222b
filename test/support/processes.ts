// Real Openrow processes for crash tests: started through the CLI exactly as an operator would.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'openrow.js');

export interface OpenrowProcess {
  child: ChildProcess;
  url?: string;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function spawnOpenrow(command: 'serve' | 'worker', env: Record<string, string>, timeoutMs = 30_000): Promise<OpenrowProcess> {
  const child = spawn(process.execPath, [BIN, command], {
    // the system resolver is never used by tests: unanswered names fail on loopback
    env: { ...process.env, OPENROW_LOG_LEVEL: 'warn', OPENROW_DNS_SERVERS: '127.0.0.1:1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const ready = command === 'serve' ? /Openrow listening on (\S+)/ : /Openrow worker started/;
  const url = await new Promise<string | undefined>((resolve, reject) => {
    const t = setTimeout(() => {
      // a process that never came up must not outlive the test that started it
      child.kill('SIGKILL');
      reject(new Error(`openrow ${command} did not start:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(t);
        child.stdout!.off('data', check);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`openrow ${command} exited with ${code}:\n${out}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    child,
    url,
    output: () => out,
    kill: (signal = 'SIGKILL') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
