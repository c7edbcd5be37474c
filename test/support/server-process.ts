/**
 * Starts the real service as `npm start` does (node dist/gateway/server.js, built by the global setup) on an
 * ephemeral port of 127.0.0.1, with its own data directory and environment; stops it with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const SERVER = path.join(ROOT, 'dist', 'gateway', 'server.js');

export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (JSON log lines). */
  output(): string;
  /** SIGTERM, then waits for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startServerProcess(env: Record<string, string> = {}, options: { startTimeoutMs?: number } = {}): Promise<ServerProcess> {
  const dataDir = env.AC_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'eac-proc-'));
  const child = spawn(process.execPath, [SERVER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', AC_HOST: '127.0.0.1', AC_DATA_DIR: dataDir, AC_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${options.startTimeoutMs ?? 15000} ms:\n${out}`)), options.startTimeoutMs ?? 15000);
    const check = (): void => {
      const m = /"message":"listening"[^\n]*"port":(\d+)|"port":(\d+)[^\n]*"message":"listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1] ?? m[2]));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
