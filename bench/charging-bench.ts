/**
 * Charging: how fast the SQLite ledger is back after a restart with many charge records (issue "Charging policies":
 * "restart is fast (measure it with 100,000 charge records)"), side by side with an empty ledger in the same run, and
 * what a balance, a month's bill and a charged confirmation cost there. Balances are rows kept in each write's
 * transaction, so opening reads none of the records: the ratio should stay near 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parseCatalogue } from '../charging/catalogue';
import { chargeClasses, chargePlan } from '../charging/pricing';
import { SqliteLedger } from '../ledger/sqlite/sqlite-ledger';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../model/types';
import type { BenchContext, BenchSection, SectionResult } from './run';

const SIZES = [0, 100_000];
const OWNERS = 100;
const H = 3_600_000;
const CATALOGUE = parseCatalogue(`currency: EUR
resources:
  vcpu-hours: { measure: vcpus, policy: continuous }
priceLists:
  flat: { prices: { vcpu-hours: 1 } }
agreements:
  metered: { priceList: flat }
default: metered
`);

const options = (dataDir: string) => ({
  dataDir,
  defaultWeights: DEFAULT_WEIGHTS,
  defaultConstraints: DEFAULT_CONSTRAINTS,
  endingLeadMs: 600_000,
  retentionMs: 30 * 86_400_000,
  decisionRetentionMs: 30 * 86_400_000,
});

/** n records for OWNERS owners (a commit and a refund per admission), written straight into a migrated file. */
function seed(dataDir: string, n: number, now: number): void {
  const db = new Database(path.join(dataDir, 'eac.sqlite'));
  const insert = db.prepare(
    `INSERT INTO charges (id, owner, ref, service_id, key, kind, resource, amount_micros, currency, at_ms) VALUES (?, ?, ?, ?, ?, ?, 'vcpu-hours', ?, 'EUR', ?)`,
  );
  const balance = db.prepare(
    `INSERT INTO charge_balances (owner, currency, amount_micros, records) VALUES (?, 'EUR', ?, 1)
     ON CONFLICT (owner, currency) DO UPDATE SET amount_micros = amount_micros + excluded.amount_micros, records = records + 1`,
  );
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const owner = `owner-${i % OWNERS}`;
      const refund = i % 2 === 1;
      const amount = refund ? 1_000_000 : -2_000_000;
      insert.run(`chg-${i}`, owner, `adm-${i >> 1}`, `svc-${i >> 1}`, `${refund ? 'release' : 'confirm'}:1:${i}`, refund ? 'refund' : 'commit', amount, now - (n - i) * 1000);
      balance.run(owner, amount);
    }
  })();
  db.close();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Row {
  readonly records: number;
  readonly openMs: number;
  readonly balanceMs: number;
  readonly billMs: number;
  readonly confirmMs: number;
}

async function measure(n: number, runs: number): Promise<Row> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'eac-charging-bench-'));
  try {
    const now = Date.now();
    await (await SqliteLedger.open(options(dataDir))).close(); // migrate
    seed(dataDir, n, now);
    const opens: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      const ledger = await SqliteLedger.open(options(dataDir));
      await ledger.chargeBalance('owner-0');
      opens.push(performance.now() - t);
      await ledger.close();
    }
    const ledger = await SqliteLedger.open(options(dataDir));
    try {
      await ledger.syncHosts([{ id: 'h1', cpus: 1_000_000, usedCpus: 0 }], 'bench');
      const balances: number[] = [];
      const bills: number[] = [];
      const confirms: number[] = [];
      for (let r = 0; r < runs; r++) {
        let t = performance.now();
        await ledger.chargeBalance(`owner-${r % OWNERS}`);
        balances.push(performance.now() - t);
        t = performance.now();
        // A month's bill of one owner (1,000 of the 100,000 records), read page by page as GET /api/v1/bills does.
        let cursor: string | undefined;
        do {
          const page = await ledger.charges({ owner: `owner-${r % OWNERS}`, from: now - 40 * 86_400_000, to: now + H }, { limit: 1000, ...(cursor ? { cursor } : {}) });
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        bills.push(performance.now() - t);
        const window = { start: now + 24 * H, end: now + 25 * H };
        const agreement = CATALOGUE.agreements.get('metered')!;
        const plan = chargePlan(CATALOGUE, agreement, window, chargeClasses(CATALOGUE, agreement, window, [{ id: 'h1' }]), [{ componentId: 'c', hostId: 'h1', vms: 1, vcpus: 1 }]);
        const id = `bench-${r}`;
        await ledger.book({ bookings: [{ id, owner: `owner-${r % OWNERS}`, serviceId: id, decision: 'accepted', window, holdExpiresAt: now + H, hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }], response: {}, chargePlan: plan }], actor: 'bench' });
        t = performance.now();
        await ledger.confirm(id, 'bench');
        confirms.push(performance.now() - t);
      }
      return { records: n, openMs: median(opens), balanceMs: median(balances), billMs: median(bills), confirmMs: median(confirms) };
    } finally {
      await ledger.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export const chargingSection: BenchSection = {
  id: 'charging',
  title: 'Charges: restart and reads with 100,000 records',
  sizeIds: SIZES.map(String),
  async run(context: BenchContext): Promise<SectionResult> {
    const sizes = context.sizes ? context.sizes.map(Number) : SIZES;
    const rows: Row[] = [];
    for (const n of sizes) {
      context.log(`charging: ${n} records`);
      rows.push(await measure(n, context.runs ?? 50));
    }
    const base = rows.find((r) => r.records === 0);
    const big = rows.find((r) => r.records === 100_000);
    const ratio = base && big ? big.openMs / base.openMs : undefined;
    return {
      ok: true,
      problems: [],
      markdown: [
        '## Charges: restart and reads with 100,000 records',
        '',
        `The SQLite ledger (\`synchronous = FULL\`) with this many charge records of ${OWNERS} owners: opening it (a restart: migrations checked, the in-process index built, one balance read; median of 5), one owner's balance, one owner's bill over 40 days (1,000 records at 100,000, paged like \`GET /api/v1/bills\`), and the confirmation of a charged one-hour reservation (its commit records, balance and \`charge.recorded\` in the same transaction, with the commit's fsync). Medians of ${context.runs ?? 50} runs.`,
        '',
        '| charge records | open (restart) ms | balance ms | bill ms | charged confirm ms |',
        '|---|---|---|---|---|',
        ...rows.map((r) => `| ${r.records.toLocaleString('en-US')} | **${r.openMs.toFixed(1)}** | ${r.balanceMs.toFixed(3)} | ${r.billMs.toFixed(2)} | ${r.confirmMs.toFixed(2)} |`),
        '',
        ratio !== undefined ? `Restart with 100,000 records / with none: **${ratio.toFixed(2)}×** (balances are rows: no record is read to open).` : '',
        '',
      ].join('\n'),
    };
  },
};
