/**
 * Loud start: the real server process (dist/gateway/server.js) given a busy port, an unreadable config or an unreadable
 * inventory prints one line naming the problem and exits non-zero — never "listening" followed by exit 0.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');
const SERVER = path.join(ROOT, 'dist', 'gateway', 'server.js');

function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-start-'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SERVER], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', AC_HOST: '127.0.0.1', AC_DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      fs.rmSync(dataDir, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

describe('loud start', () => {
  test.each([1, 2])('a busy port (AC_WORKERS=%i): one line on stderr, exit 1, never "listening"', async (workers) => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await run({ PORT: String(port), AC_WORKERS: String(workers) });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port 127.0.0.1:${port} is already in use`);
      expect(r.stdout).not.toContain('"message":"listening"');
      expect(r.stderr.trim().split('\n').filter((l) => l.includes('already in use'))).toHaveLength(1);
    } finally {
      blocker.close();
    }
  });

  test('an unreadable config file: exit 2 with one line naming it', async () => {
    const r = await run({ PORT: '0', AC_CONFIG: '/nonexistent/eac.json' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("cannot read the config file '/nonexistent/eac.json'");
  });

  test('an unreadable inventory: exit 1 with one line naming it', async () => {
    const r = await run({ PORT: '0', AC_INVENTORY: '/nonexistent/inventory.json' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('/nonexistent/inventory.json');
    expect(r.stdout).not.toContain('"message":"listening"');
  });

  test('open mode says so in the start-up line', async () => {
    const child = spawn(process.execPath, [SERVER], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', AC_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'eac-open-')) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 15_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"message":"listening"')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    child.kill('SIGTERM');
    const line = JSON.parse(out.split('\n').find((l) => l.includes('"message":"listening"'))!) as Record<string, unknown>;
    expect(line.mode).toBe('open');
    expect(line.host).toBe('127.0.0.1');
    expect(String(line.warning)).toContain('open mode');
  });
});

describe('secrets never shown', () => {
  test('tokens never reach the log; /api/v1/config (operator only) is redacted', async () => {
    const { startServerProcess } = await import('./support/server-process');
    const { createToken } = await import('../gateway/auth');
    const operator = createToken('ops', 'operator');
    const reader = createToken('viewer', 'reader');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-secrets-'));
    const configFile = path.join(dir, 'config.json');
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        tokens: [operator.entry, reader.entry],
        trec: { trustUrl: 'http://127.0.0.1:9/trust?api_key=QUERY-SECRET-123' },
      }),
    );
    const server = await startServerProcess({ AC_CONFIG: configFile, AC_PEER_SECRET: 'PEER-SECRET-456', AC_LOG_LEVEL: 'debug' });
    try {
      const get = (p: string, token?: string) => fetch(`${server.url}${p}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
      expect((await get('/api/v1/config', reader.token)).status).toBe(403);
      const config = await get('/api/v1/config', operator.token);
      expect(config.status).toBe(200);
      const text = await config.text();
      for (const secret of ['QUERY-SECRET-123', 'PEER-SECRET-456', operator.entry.sha256, operator.token]) expect(text).not.toContain(secret);
      expect((await get('/api/v1/policy', 'eac_wrong-token-789')).status).toBe(401);
      expect((await get('/api/v1/policy', reader.token)).status).toBe(200);
    } finally {
      await server.stop();
    }
    const log = server.output();
    expect(log).toContain('request refused'); // the 401 was logged…
    for (const secret of [operator.token, reader.token, 'eac_wrong-token-789', 'PEER-SECRET-456', 'QUERY-SECRET-123']) expect(log).not.toContain(secret); // …without a credential
  });
});
