/**
 * The ledger with real service processes: webhooks delivered at least once per event id across a kill -9 and restart
 * in the middle of deliveries (signatures checked by the receiver), and 64 concurrent clients on the last capacity of
 * a service running two workers on one database (no double booking, no 409 while capacity is free).
 */
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from './support/server-process';

const SM = fs.readFileSync(path.join(__dirname, 'fixtures', 'manifests', 'decision', 'SM_1c2.xml'), 'utf8'); // 2 VMs × 1 vCPU
const manifest = (id: string): string => SM.replace('opt:serviceId="ACTestsDecisionAccepted"', `opt:serviceId="${id}"`);

let tmp = '';
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-ledger-proc-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** SM_1c2 asks MinimumTrustLevel 5: the provider's (fallback) trust must reach it. */
function trustingConfig(): string {
  const file = path.join(tmp, 'trust5.json');
  fs.writeFileSync(file, JSON.stringify({ trec: { fallbacks: { trust: 5 } } }));
  return file;
}

function inventory(name: string, hosts: number, cpus: number): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, JSON.stringify({ hosts: Array.from({ length: hosts }, (_, i) => ({ id: `node-${i + 1}`, cpus, usedCpus: 0, memoryMb: 65536, usedMemoryMb: 0 })) }));
  return file;
}

async function call(base: string, method: string, p: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${p}`, { method, headers: { ...(body ? { 'Content-Type': 'application/xml' } : {}), ...headers }, ...(body ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('webhooks across kill -9', () => {
  test('every event of the subscription reaches the receiver (deduplicated by id), signed, none invented', async () => {
    const secret = 'kill-nine-secret-0123456789';
    const received = new Map<string, number>();
    const bodies = new Map<string, { type: string; subject: string }>();
    let badSignatures = 0;
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const id = String(req.headers['x-eac-event-id']);
        if (req.headers['x-eac-signature'] !== `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`) badSignatures++;
        received.set(id, (received.get(id) ?? 0) + 1);
        bodies.set(id, JSON.parse(body));
        // Slow enough that deliveries are still going on when the service is killed.
        setTimeout(() => {
          res.statusCode = 204;
          res.end();
        }, 15);
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const dataDir = path.join(tmp, 'webhook-data');
    const env = { AC_DATA_DIR: dataDir, AC_CONFIG: trustingConfig(), AC_INVENTORY: inventory('hooks.json', 20, 32) };
    let server: ServerProcess = await startServerProcess(env);
    try {
      const sub = await fetch(`${server.url}/api/v1/subscriptions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ url: hook, events: ['admission.*'], secret }) });
      expect(sub.status).toBe(201);
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const r = await call(server.url, 'POST', '/api/v1/admissions', manifest(`hooked-${i}`));
        expect(r.status).toBe(201);
        ids.push(r.body.services[0].admissionId);
        if (i % 3 === 0) expect((await call(server.url, 'DELETE', `/api/v1/admissions/${ids[i]}`)).status).toBe(200);
      }
      // Some delivered, most not yet: kill -9 now.
      expect(received.size).toBeLessThan(54);
      server.child.kill('SIGKILL');
      await server.stop();
      server = await startServerProcess(env);
      const events = (await call(server.url, 'GET', '/api/v1/events?types=admission.*&limit=1000')).body.events as { id: string; type: string; subject: string }[];
      expect(events).toHaveLength(40 + 14); // 40 held + 14 released: nothing acknowledged was lost
      const deadline = Date.now() + 45_000;
      while (events.some((e) => !received.has(e.id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(events.filter((e) => !received.has(e.id))).toEqual([]);
      // Exactly the ledger's events, each under its own id, with the same content; nothing else.
      expect([...received.keys()].sort()).toEqual(events.map((e) => e.id).sort());
      for (const e of events) expect(bodies.get(e.id)).toMatchObject({ type: e.type, subject: e.subject });
      expect(badSignatures).toBe(0);
      // At least once: a delivery cut by the kill may have been repeated, never more than a few.
      expect([...received.values()].filter((n) => n > 1).length).toBeLessThanOrEqual(8);
    } finally {
      await server.stop();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });
});

describe('two workers, one database, the last capacity', () => {
  test('64 concurrent clients: never double-booked, no 409 while capacity is free', async () => {
    // 8 hosts × 8 CPUs = 64 CPUs; each service takes 2: exactly 32 fit.
    const server = await startServerProcess({ AC_WORKERS: '2', AC_CONFIG: trustingConfig(), AC_INVENTORY: inventory('workers.json', 8, 8) });
    try {
      const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => call(server.url, 'POST', '/api/v1/admissions', manifest(`last-${i}`))));
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
      const decisions = answers.map((a) => a.body.services[0].decision);
      expect(decisions.filter((d) => d === 'accepted')).toHaveLength(32);
      const hosts = (await call(server.url, 'GET', '/api/v1/hosts')).body;
      for (const h of hosts.hosts) expect(h.reservedCpus).toBeLessThanOrEqual(h.cpus);
      expect(hosts.totals).toMatchObject({ cpus: 64, reservedCpus: 64, freeCpus: 0 });
      // Both workers answered.
      const pids = new Set(server.output().split('\n').filter((l) => l.includes('"message":"admission"')).map((l) => JSON.parse(l).pid));
      expect(pids.size).toBe(2);
    } finally {
      await server.stop();
    }
  });
});
