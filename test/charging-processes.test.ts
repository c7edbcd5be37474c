/**
 * Charges with real service processes (issue "Charging policies"): kill -9 during 1,000 charged state changes
 * (confirmations and releases of one-hour reservations, 8 in flight), restart, finish. Afterwards, read from the
 * database itself: every balance equals the sum of its records, no admission is charged twice, each admission's
 * records agree with its state, and every change the service acknowledged is there. On the SQLite file, and on
 * PostgreSQL with two replicas taking the changes in turn, one of them killed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Pool } from 'pg';
import { startServerProcess, type ServerProcess } from './support/server-process';
import { describePostgres, PostgresCluster } from './support/postgres';
import { flatCatalogue } from './support/charging';

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

/** What the checks read from the store: balances, per-owner sums, admissions, per-admission records. */
interface StoreView {
  balances: { owner: string; micros: number; records: number }[];
  sums: { owner: string; micros: number; records: number }[];
  admissions: { id: string; status: string; confirmed_ms: number | null }[];
  records: { ref: string; kind: string; amount_micros: number }[];
}

function catalogueFile(): string {
  const catalogue = path.join(tmp, 'charging.yaml');
  fs.writeFileSync(catalogue, flatCatalogue(1_000_000));
  return catalogue;
}

function baseEnv(): Record<string, string> {
  const config = path.join(tmp, 'trust5.json');
  fs.writeFileSync(config, JSON.stringify({ trec: { fallbacks: { trust: 5 } } }));
  const inventory = path.join(tmp, 'inventory.json');
  fs.writeFileSync(inventory, JSON.stringify({ hosts: Array.from({ length: 20 }, (_, i) => ({ id: `node-${i + 1}`, cpus: 64, usedCpus: 0, memoryMb: 262144, usedMemoryMb: 0 })) }));
  return { AC_CONFIG: config, AC_INVENTORY: inventory, AC_CHARGING: catalogueFile() };
}

/**
 * The scenario: ADMISSIONS lives (admit, confirm, release), 8 in flight, spread over the servers `start` gives; after
 * 400 changes the first server is killed (-9), the lives it cut stop, and the rest run on a fresh start.
 */
async function killNineScenario(start: () => Promise<ServerProcess[]>, read: () => Promise<StoreView>): Promise<void> {
  const begin = Math.ceil(Date.now() / H) * H + 2 * H;
  const window = `start=${new Date(begin).toISOString()}&end=${new Date(begin + H).toISOString()}`;
  const acknowledged = { confirmed: new Set<string>(), released: new Set<string>() };
  let servers = await start();
  let changes = 0;
  let killed = false;
  const next = { i: 0 };
  const life = async (lane: number): Promise<void> => {
    while (next.i < ADMISSIONS) {
      const i = next.i++;
      // Each change of one life goes to another server when there are several (replicas share the ledger).
      const at = (k: number): string => servers[(lane + i + k) % servers.length]!.url;
      try {
        const r = await call(at(0), 'POST', `/api/v1/admissions?${window}`, manifest(`svc-${i}`));
        if (r.status !== 201) throw new Error(`admission ${i}: ${r.status} ${JSON.stringify(r.body)}`);
        const id = r.body.services[0].admissionId as string;
        if ((await call(at(1), 'POST', `/api/v1/admissions/${id}/confirm`)).status === 200) acknowledged.confirmed.add(id);
        changes++;
        if ((await call(at(2), 'DELETE', `/api/v1/admissions/${id}`)).status === 200) acknowledged.released.add(id);
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
    const victim = servers[0]!;
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
  })();
  await Promise.all([...Array.from({ length: 8 }, (_, lane) => life(lane)), killer]);
  await Promise.all(servers.slice(1).map((s) => s.stop()));
  servers = await start();
  killed = false;
  let apiTotal = NaN;
  try {
    const remaining = ADMISSIONS - next.i;
    await Promise.all(Array.from({ length: 8 }, (_, lane) => life(lane)));
    expect(remaining).toBeGreaterThan(0);
    const bill = await call(servers[0]!.url, 'GET', `/api/v1/bills?from=${new Date(Date.now() - H).toISOString()}&to=${new Date(Date.now() + H).toISOString()}`);
    expect(bill.status).toBe(200);
    apiTotal = bill.body.total as number;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }

  const view = await read();
  expect(view.balances.map((b) => [b.owner, Number(b.micros), Number(b.records)])).toEqual(view.sums.map((x) => [x.owner, Number(x.micros), Number(x.records)]));
  const byAdmission = new Map<string, { kind: string; amount_micros: number }[]>();
  for (const r of view.records) byAdmission.set(r.ref, [...(byAdmission.get(r.ref) ?? []), r]);
  let confirmedNow = 0;
  for (const a of view.admissions) {
    const mine = byAdmission.get(a.id) ?? [];
    const net = mine.reduce((sum, r) => sum + Number(r.amount_micros), 0);
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
  const statusOf = new Map(view.admissions.map((a) => [a.id, a]));
  for (const id of acknowledged.confirmed) expect(statusOf.get(id)?.confirmed_ms ?? null).not.toBeNull();
  for (const id of acknowledged.released) expect(statusOf.get(id)?.status).toBe('released');
  expect(acknowledged.released.size).toBeGreaterThanOrEqual(ADMISSIONS - 16);
  // The bill of the period says the same: what is still confirmed, at 2 EUR each.
  expect(apiTotal).toBe(confirmedNow * PRICE);
}

const VIEW_SQL = {
  balances: 'SELECT owner, amount_micros AS micros, records FROM charge_balances ORDER BY owner',
  sums: 'SELECT owner, SUM(amount_micros) AS micros, COUNT(*) AS records FROM charges GROUP BY owner ORDER BY owner',
  admissions: 'SELECT id, status, confirmed_ms FROM admissions',
  records: "SELECT ref, kind, amount_micros FROM charges WHERE ref <> '' ORDER BY seq",
} as const;

test('SQLite: kill -9 during 1,000 charged state changes: balances equal their records, nothing charged twice, nothing acknowledged lost', async () => {
  const env = { ...baseEnv(), AC_DATA_DIR: path.join(tmp, 'data') };
  await killNineScenario(
    async () => [await startServerProcess(env)],
    async () => {
      const db = new Database(path.join(tmp, 'data', 'eac.sqlite'), { readonly: true });
      try {
        return {
          balances: db.prepare(VIEW_SQL.balances).all() as StoreView['balances'],
          sums: db.prepare(VIEW_SQL.sums).all() as StoreView['sums'],
          admissions: db.prepare(VIEW_SQL.admissions).all() as StoreView['admissions'],
          records: db.prepare(VIEW_SQL.records).all() as StoreView['records'],
        };
      } finally {
        db.close();
      }
    },
  );
}, 240_000);

describePostgres('charges on PostgreSQL', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await PostgresCluster.start();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  test('two replicas, one killed -9 during 1,000 charged state changes: the same guarantees', async () => {
    const url = await cluster.createDatabase();
    const env = { ...baseEnv(), AC_DATABASE_URL: url, AC_DATA_DIR: path.join(tmp, 'unused') };
    const one = (): Promise<ServerProcess> => startServerProcess(env, { startTimeoutMs: 30_000 });
    await killNineScenario(
      async () => [await one(), await one()],
      async () => {
        const pool = new Pool({ connectionString: url, max: 1 });
        try {
          const get = async <T>(sql: string): Promise<T[]> => (await pool.query(sql)).rows as T[];
          return {
            balances: await get(VIEW_SQL.balances),
            sums: await get(VIEW_SQL.sums),
            admissions: (await get<{ id: string; status: string; confirmed_ms: string | null }>(VIEW_SQL.admissions)).map((a) => ({ ...a, confirmed_ms: a.confirmed_ms === null ? null : Number(a.confirmed_ms) })),
            records: await get(VIEW_SQL.records),
          };
        } finally {
          await pool.end();
        }
      },
    );
  }, 300_000);
});
