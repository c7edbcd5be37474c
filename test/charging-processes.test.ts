/**
 * Charges with real service processes (issue "Charging policies"): kill -9 during 1,000 charged state changes
 * (confirmations and releases of one-hour reservations, 8 in flight), restart, finish. Afterwards, read from the
 * database file itself: every balance equals the sum of its records, no admission is charged twice, each admission's
 * records agree with its state, and every change the service acknowledged is there.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startServerProcess, type ServerProcess } from './support/server-process';

const SM = fs.readFileSync(path.join(__dirname, 'fixtures', 'manifests', 'decision', 'SM_1c2.xml'), 'utf8'); // 2 VMs × 1 vCPU
const manifest = (id: string): string => SM.replace('opt:serviceId="ACTestsDecisionAccepted"', `opt:serviceId="${id}"`);
const H = 3_600_000;
/** 1 EUR per vCPU-hour: each one-hour reservation of SM_1c2 costs 2 EUR. */
const PRICE = 2;
const ADMISSIONS = 500; // × (confirm + release) = 1,000 charged state changes

let tmp = '';
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-charging-proc-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function call(base: string, method: string, p: string, body?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${p}`, { method, headers: body ? { 'Content-Type': 'application/xml' } : {}, ...(body ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

test('kill -9 during 1,000 charged state changes: balances equal their records, nothing charged twice, nothing acknowledged lost', async () => {
  const catalogue = path.join(tmp, 'charging.yaml');
  fs.writeFileSync(
    catalogue,
    `currency: EUR
resources:
  vcpu-hours: { measure: vcpus, policy: continuous }
priceLists:
  flat: { prices: { vcpu-hours: 1 } }
creditPlans:
  big: { credits: 1000000, period: month }
agreements:
  metered: { priceList: flat, creditPlan: big }
default: metered
`,
  );
  const config = path.join(tmp, 'trust5.json');
  fs.writeFileSync(config, JSON.stringify({ trec: { fallbacks: { trust: 5 } } }));
  const inventory = path.join(tmp, 'inventory.json');
  fs.writeFileSync(inventory, JSON.stringify({ hosts: Array.from({ length: 20 }, (_, i) => ({ id: `node-${i + 1}`, cpus: 64, usedCpus: 0, memoryMb: 262144, usedMemoryMb: 0 })) }));
  const dataDir = path.join(tmp, 'data');
  const env = { AC_DATA_DIR: dataDir, AC_CONFIG: config, AC_INVENTORY: inventory, AC_CHARGING: catalogue };
  const start = Math.ceil(Date.now() / H) * H + 2 * H;
  const window = `start=${new Date(start).toISOString()}&end=${new Date(start + H).toISOString()}`;

  const acknowledged = { confirmed: new Set<string>(), released: new Set<string>() };
  let server: ServerProcess = await startServerProcess(env);
  let changes = 0;
  let killed = false;
  const next = { i: 0 };
  /** One admission's life: admit (held: no charge), confirm (charged), release before its start (refunded). */
  const life = async (): Promise<void> => {
    while (next.i < ADMISSIONS) {
      const i = next.i++;
      try {
        const r = await call(server.url, 'POST', `/api/v1/admissions?${window}`, manifest(`svc-${i}`));
        if (r.status !== 201) throw new Error(`admission ${i}: ${r.status}`);
        const id = r.body.services[0].admissionId as string;
        if ((await call(server.url, 'POST', `/api/v1/admissions/${id}/confirm`)).status === 200) acknowledged.confirmed.add(id);
        changes++;
        if ((await call(server.url, 'DELETE', `/api/v1/admissions/${id}`)).status === 200) acknowledged.released.add(id);
        changes++;
      } catch (error) {
        if (!killed) throw error;
        return; // cut by the kill: that admission's state is whatever the ledger says; the rest wait for the restart
      }
    }
  };
  const killer = (async () => {
    while (changes < 400) await new Promise((r) => setTimeout(r, 5));
    killed = true;
    server.child.kill('SIGKILL');
    await new Promise((r) => server.child.once('exit', r));
  })();
  await Promise.all([...Array.from({ length: 8 }, life), killer]);
  // The rest after a restart (the lives cut by the kill left their admissions behind).
  server = await startServerProcess(env);
  killed = false;
  let apiTotal = NaN;
  try {
    const remaining = ADMISSIONS - next.i;
    await Promise.all(Array.from({ length: 8 }, life));
    expect(remaining).toBeGreaterThan(0);
    const bill = await call(server.url, 'GET', `/api/v1/bills?from=${new Date(Date.now() - H).toISOString()}&to=${new Date(Date.now() + H).toISOString()}`);
    expect(bill.status).toBe(200);
    apiTotal = bill.body.total as number;
  } finally {
    await server.stop();
  }

  const db = new Database(path.join(dataDir, 'eac.sqlite'), { readonly: true });
  try {
    const balances = db.prepare('SELECT owner, amount_micros, records FROM charge_balances').all() as { owner: string; amount_micros: number; records: number }[];
    const sums = db.prepare('SELECT owner, SUM(amount_micros) AS micros, COUNT(*) AS n FROM charges GROUP BY owner').all() as { owner: string; micros: number; n: number }[];
    expect(balances.map((b) => [b.owner, b.amount_micros, b.records])).toEqual(sums.map((s) => [s.owner, s.micros, s.n]));
    const admissions = db.prepare('SELECT id, status, confirmed_ms FROM admissions').all() as { id: string; status: string; confirmed_ms: number | null }[];
    const records = db.prepare("SELECT ref, kind, amount_micros FROM charges WHERE ref <> '' ORDER BY seq").all() as { ref: string; kind: string; amount_micros: number }[];
    const byAdmission = new Map<string, { kind: string; amount_micros: number }[]>();
    for (const r of records) byAdmission.set(r.ref, [...(byAdmission.get(r.ref) ?? []), r]);
    let confirmedNow = 0;
    for (const a of admissions) {
      const mine = byAdmission.get(a.id) ?? [];
      const net = mine.reduce((s, r) => s + r.amount_micros, 0);
      // At most one commit and one refund per admission: never charged twice.
      expect(mine.filter((r) => r.kind === 'commit').length).toBeLessThanOrEqual(1);
      expect(mine.filter((r) => r.kind === 'refund').length).toBeLessThanOrEqual(1);
      if (a.confirmed_ms === null) expect(mine).toEqual([]); // held / released unconfirmed / expired: never charged
      else if (a.status === 'released') expect([a.id, net]).toEqual([a.id, 0]); // released before its start: all back
      else {
        expect([a.id, a.status, net]).toEqual([a.id, 'confirmed', -PRICE * 1_000_000]);
        confirmedNow++;
      }
    }
    // Every acknowledged change is in the ledger.
    const statusOf = new Map(admissions.map((a) => [a.id, a]));
    for (const id of acknowledged.confirmed) expect(statusOf.get(id)?.confirmed_ms ?? null).not.toBeNull();
    for (const id of acknowledged.released) expect(statusOf.get(id)?.status).toBe('released');
    expect(acknowledged.released.size).toBeGreaterThanOrEqual(ADMISSIONS - 16);
    // The bill of the period says the same: what is still confirmed, at 2 EUR each.
    expect(apiTotal).toBe(confirmedNow * PRICE);
  } finally {
    db.close();
  }
}, 240_000);
