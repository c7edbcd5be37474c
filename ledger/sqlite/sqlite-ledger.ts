/**
 * The embedded ledger: one SQLite file (`<dataDir>/eac.sqlite`) shared by every worker process, through better-sqlite3
 * (a synchronous driver: each async method runs to completion on the calling thread).
 *
 * Decisions:
 * - WAL, synchronous = FULL (a commit is on disk before book() resolves: acknowledged admissions survive kill -9 and a
 *   power loss), foreign_keys = ON. Every write is one BEGIN IMMEDIATE transaction: the write lock is taken before
 *   anything is read, so every check-then-write sees the state it changes; a lock held elsewhere past the busy timeout
 *   is AC_ERR_TIMEOUT.
 * - Capacity is answered from an in-process FleetIndex (ledger/capacity.ts), never a SQL sweep per call. It follows
 *   the `changes` table (one row per admission / capacity window whose holding changed, in commit order): a read
 *   first compares PRAGMA data_version (another connection committed) and this connection's own writes, and applies the
 *   change rows after the last one it saw, re-reading just those admissions / windows. Writes that check capacity
 *   bring the index up to date inside their transaction (under the write lock), so the check is exact.
 * - Settings (policy, constraints) and the host inventory are cached per database version the same way.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ServiceDecisionKind } from '../../admission-controller/decisions';
import { AdmissionError } from '../../model/errors';
import type { TrecConstraints, Weights } from '../../model/types';
import { EPSILON, FleetIndex, capacityView, endOf, freeOver, hostView, type Adjustment } from '../capacity';
import { CapacityConflictError, generationConflict, notFound, stateConflict } from '../errors';
import { deploymentRecord, lostVm, updatedColumns, validateDeployment, type DeploymentRow } from '../deployments';
import type {
  DeploymentFilter,
  DeploymentInput,
  DeploymentRecord,
  DeploymentUpdate,
  CapabilityOverrides,
  HostCapabilityOverride,
  AdmissionFilter,
  AdmissionRecord,
  AdmissionStatus,
  AdvanceResult,
  AuditFilter,
  AuditRecord,
  BookRequest,
  BookResult,
  CapacityView,
  CapacityWindowInput,
  CapacityWindowRecord,
  ConstraintSource,
  ConstraintsRecord,
  DeadLetter,
  DecisionFilter,
  DecisionInput,
  DecisionRecord,
  DeliveryClaim,
  EffectiveConstraints,
  EpochMs,
  EventType,
  Holder,
  HostAmount,
  HostChange,
  HostInventory,
  Ledger,
  LedgerEvent,
  LedgerHost,
  LedgerOptions,
  Page,
  PolicyRecord,
  ServiceConstraintsRecord,
  SubscriptionInput,
  SubscriptionRecord,
  TimeWindow,
  WindowConflict,
} from '../types';
import { HOLDING_STATUSES } from '../types';
import { bandCrossing, freeBandOf, invalid, jsonOf, sumByHost, validate } from '../validate';
import {
  admissionRecord,
  admissionSummary,
  capabilityOverrideOf,
  changedCapabilities,
  eventOf,
  frozen,
  inventoryOf,
  sameInventory,
  windowOf,
  windowRecord,
  type AllocationRow,
  type EventRow,
  type HostCapabilityRow,
  chargeBalance,
  chargeRecord,
  type ChargeBalanceRow,
  type ChargeRecordRow,
} from '../rows';
import { migrate, type MigrationStatus } from './migrations';
import { MICROS, money, type ChargePlan } from '../../model/charge-plan';
import { chargeDeltas, chargeTarget, nextChargeAt, settlementKind, type ChargeBalance, type ChargeFilter, type ChargeKind, type ChargeRecord } from '../charges';

export const DATABASE_FILE = 'eac.sqlite';

/** Atomics.wait on this sleeps the thread between tries of the write lock (the driver is synchronous anyway). */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export interface SqliteLedgerOptions extends LedgerOptions {
  /** The database is `<dataDir>/eac.sqlite`; the directory is created when missing. */
  readonly dataDir: string;
  /** How long a write waits for another connection's lock before AC_ERR_TIMEOUT, ms. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** FULL (default): every commit is fsynced. NORMAL: a power loss may drop the last commits (for benchmarks). */
  readonly synchronous?: 'FULL' | 'NORMAL';
}

const DEFAULT_ENDING_LEAD_MS = 10 * 60_000;
const DEFAULT_RETENTION_MS = 30 * 24 * 3600_000;
/** Change rows are kept this long (a process whose index is further behind reloads it in full). */
const CHANGES_RETENTION_MS = 3600_000;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const MAX_CACHED_OVERRIDES = 4096;
const BOUNDS = ['eco', 'trust', 'risk', 'cost'] as const;

// ---------------------------------------------------------------------------------------------
// Row shapes.

interface HostRow {
  id: string;
  cpus: number;
  used_cpus: number;
  memory_mb: number | null;
  used_memory_mb: number | null;
  generation: number;
  removed: number;
}
interface AdmissionRow {
  id: string;
  owner: string;
  service_id: string;
  decision: ServiceDecisionKind;
  status: AdmissionStatus;
  start_ms: number;
  end_ms: number | null;
  hold_expires_ms: number;
  expiry_seconds: number | null;
  created_ms: number;
  confirmed_ms: number | null;
  closed_ms: number | null;
  replaces: string | null;
  generation: number;
  ending_sent: number;
  response_json: string;
  charge_plan_json: string | null;
  charge_next_ms: number | null;
}
interface WindowRow {
  id: string;
  start_ms: number;
  end_ms: number | null;
  cpus_delta: number;
  memory_mb_delta: number;
  reason: string;
  created_ms: number;
  created_by: string;
  started: number;
  ended: number;
}
interface SubscriptionRow {
  id: string;
  owner: string;
  sees_all: number;
  url: string;
  events_json: string;
  secret: string;
  created_ms: number;
  cursor: number;
  delivered: number;
  pending_seq: number | null;
  attempts: number;
  next_attempt_ms: number | null;
  last_error: string | null;
  lease_token: string | null;
}
interface DecisionRow {
  id: string;
  at_ms: number;
  request_id: string;
  owner: string;
  service_id: string;
  admission_id: string | null;
  decision: ServiceDecisionKind;
  dry_run: number;
  reasons_json: string;
  duration_ms: number;
  detail_json: string;
}
interface PolicyRow { cost: number; eco: number; risk: number; trust: number; generation: number; updated_ms: number }
interface ConstraintsRow { eco: number; trust: number; risk: number; cost: number; generation: number; updated_ms: number }
interface ServiceConstraintsRow {
  service_id: string;
  eco: number | null;
  trust: number | null;
  risk: number | null;
  cost: number | null;
  deleted: number;
  generation: number;
  updated_ms: number;
}

const isHolding = (s: AdmissionStatus): boolean => s === 'held' || s === 'confirmed' || s === 'active';








function decisionOfRow(r: DecisionRow): DecisionRecord {
  return {
    id: r.id,
    at: r.at_ms,
    requestId: r.request_id,
    owner: r.owner,
    serviceId: r.service_id,
    admissionId: r.admission_id,
    decision: r.decision,
    dryRun: r.dry_run === 1,
    reasons: JSON.parse(r.reasons_json) as string[],
    durationMs: r.duration_ms,
    detail: JSON.parse(r.detail_json) as unknown,
  };
}


function serviceRecord(row: ServiceConstraintsRow): ServiceConstraintsRecord {
  const constraints: { -readonly [K in keyof TrecConstraints]?: number } = {};
  for (const k of BOUNDS) if (row[k] !== null) constraints[k] = row[k];
  return { serviceId: row.service_id, constraints, generation: row.generation, updatedAt: row.updated_ms };
}

function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): [number, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string') return [v[0] as number, v[1] as string];
  } catch {
    // fall through
  }
  throw invalid('cursor', 'not a cursor this ledger returned');
}

/** Patterns to SQL: exact types through json_each, `prefix.*` through substr comparisons; `*` = no filter. */
function typeFilter(patterns: readonly string[] | undefined, column = 'type'): { sql: string; params: unknown[] } {
  if (!patterns || patterns.length === 0 || patterns.includes('*')) return { sql: '', params: [] };
  const exact = patterns.filter((p) => !p.endsWith('.*'));
  const prefixes = patterns.filter((p) => p.endsWith('.*')).map((p) => p.slice(0, -1));
  const parts: string[] = [];
  const params: unknown[] = [];
  if (exact.length > 0) {
    parts.push(`${column} IN (SELECT value FROM json_each(?))`);
    params.push(JSON.stringify(exact));
  }
  for (const p of prefixes) {
    parts.push(`substr(${column}, 1, ?) = ?`);
    params.push(p.length, p);
  }
  return { sql: ` AND (${parts.join(' OR ')})`, params };
}

type HostEntry = HostRow & { readonly record: LedgerHost };
interface HostState {
  readonly byId: Map<string, HostEntry>;
  /** The hosts not removed, by id (computed when first needed after a change). */
  present?: HostEntry[];
}

function hostEntry(r: HostRow): HostEntry {
  return { ...r, record: Object.freeze({ ...inventoryOf(r), generation: r.generation }) as LedgerHost };
}

type ReadCache = {
  policy?: PolicyRecord;
  defaults?: ConstraintsRecord;
  overrides: Map<string, ServiceConstraintsRecord | null>;
  /** Every inventory row (removed ones too), by id, and the present ones sorted by id. */
};

export class SqliteLedger implements Ledger {
  readonly kind = 'sqlite';
  /** Absolute path of the database file. */
  readonly file: string;
  /** What the connection reports after opening (the durability test reads it back). */
  readonly durability: { readonly journalMode: string; readonly synchronous: 'FULL' | 'NORMAL' | 'OFF' | 'EXTRA' };
  readonly migrations: MigrationStatus;

  private readonly db: Database.Database;
  private readonly clock: () => EpochMs;
  private readonly endingLeadMs: number;
  private readonly busyTimeoutMs: number;
  private readonly retentionMs: number;
  private readonly decisionRetentionMs: number;
  /** Ascending, distinct (LedgerOptions.freeCapacityThresholds). */
  private readonly thresholds: readonly number[];
  private readonly statements = new Map<string, Database.Statement>();
  private readonly txn: Database.Transaction<(fn: () => unknown) => unknown>;

  private readonly index = new FleetIndex();
  /** Seq of the last change row applied to the index. */
  private indexSeq = 0;
  private indexStale = true;
  private seenVersion = -1;
  /** This connection committed since the caches were filled (its own commits do not change its data_version). */
  private ownWrite = true;
  private cache: ReadCache = { overrides: new Map() };
  private hostState: HostState = { byId: new Map() };
  private readonly bookQueue: { run: () => BookResult; resolve: (r: BookResult) => void; reject: (e: unknown) => void }[] = [];
  private flushScheduled = false;

  private constructor(options: SqliteLedgerOptions) {
    this.clock = options.clock ?? Date.now;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.endingLeadMs = options.endingLeadMs ?? DEFAULT_ENDING_LEAD_MS;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.decisionRetentionMs = options.decisionRetentionMs ?? DEFAULT_RETENTION_MS;
    if (!(this.decisionRetentionMs > 0)) throw invalid('decisionRetentionMs', 'expected a positive number of ms');
    this.thresholds = validate.thresholds(options.freeCapacityThresholds);
    const weights = validate.weights(options.defaultWeights);
    const constraints = validate.constraints(options.defaultConstraints);
    this.file = path.resolve(options.dataDir, DATABASE_FILE);
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      this.db = new Database(this.file, { timeout: this.busyTimeoutMs });
    } catch (e) {
      throw new AdmissionError('AC_ERR_CONFIG', `cannot open the database ${this.file}: ${(e as Error).message}`, [{ field: 'dataDir', reason: (e as Error).message }]);
    }
    this.txn = this.db.transaction((fn: () => unknown) => fn());
    try {
      this.busy(() => this.retryWhileBusy(() => this.db.pragma('journal_mode = WAL')));
      this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      this.db.pragma('foreign_keys = ON');
      const sync = this.db.pragma('synchronous', { simple: true }) as number;
      this.durability = {
        journalMode: String(this.db.pragma('journal_mode', { simple: true })),
        synchronous: (['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const)[sync] ?? 'FULL',
      };
      this.migrations = migrate(this.db, this.file, this.clock, (fn) => this.write(fn));
      const seeded = this.q('SELECT (SELECT COUNT(*) FROM policy) + (SELECT COUNT(*) FROM default_constraints) AS n').get() as { n: number };
      if (seeded.n < 2) {
        const now = this.clock();
        this.write(() => {
          this.q('INSERT OR IGNORE INTO policy (id, cost, eco, risk, trust, generation, updated_ms) VALUES (1, ?, ?, ?, ?, 1, ?)').run(weights.cost, weights.eco, weights.risk, weights.trust, now);
          this.q('INSERT OR IGNORE INTO default_constraints (id, eco, trust, risk, cost, generation, updated_ms) VALUES (1, ?, ?, ?, ?, 1, ?)').run(
            constraints.eco,
            constraints.trust,
            constraints.risk,
            constraints.cost,
            now,
          );
        });
      }
      this.fullReload();
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  /** Opens (creating and migrating when needed) `<dataDir>/eac.sqlite`. */
  static async open(options: SqliteLedgerOptions): Promise<SqliteLedger> {
    return new SqliteLedger(options);
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing.

  /** Prepared statements are compiled once per SQL text. */
  private q(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  private busy<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      // Extended codes too (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY…): all mean "try later".
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)) {
        throw new AdmissionError('AC_ERR_TIMEOUT', `the ledger database is busy (${code})`, [{ field: this.file, reason: (e as Error).message }]);
      }
      throw e;
    }
  }

  /**
   * Takes the write lock (BEGIN IMMEDIATE), waiting for another connection's lock up to the busy timeout. SQLite's own
   * busy handler sleeps 1, 2, 5 … up to 100 ms between tries, so a process that just missed the lock waits far longer
   * than the holder needs (p99 of 0.5 s with two processes booking); here the connection's handler is off for BEGIN
   * and the retry sleeps 50 µs doubling to 2 ms, with jitter.
   */
  private beginImmediate(): void {
    this.q('PRAGMA busy_timeout = 0').run();
    try {
      this.retryWhileBusy(() => this.q('BEGIN IMMEDIATE').run());
    } finally {
      this.q(`PRAGMA busy_timeout = ${this.busyTimeoutMs}`).run();
    }
  }

  /**
   * Runs fn again while it fails with SQLITE_BUSY*, until the busy timeout. Needed where SQLite answers BUSY without
   * calling its busy handler: besides BEGIN with the handler off, a lock upgrade that would deadlock (two processes
   * switching a fresh file to WAL at once each hold a shared lock and want the exclusive one; one is told BUSY at once).
   */
  private retryWhileBusy<T>(fn: () => T): T {
    const deadline = Date.now() + this.busyTimeoutMs;
    let wait = 0.05;
    for (;;) {
      try {
        return fn();
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (!(typeof code === 'string' && code.startsWith('SQLITE_BUSY')) || Date.now() >= deadline) throw e;
      }
      Atomics.wait(SLEEPER, 0, 0, wait * (0.5 + Math.random()));
      wait = Math.min(wait * 2, 2);
    }
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction (fn itself in a savepoint, so that nested transactions work). */
  private write<T>(fn: () => T): T {
    try {
      return this.busy(() => {
        this.beginImmediate();
        try {
          const result = this.txn(fn) as T;
          this.q('COMMIT').run();
          return result;
        } catch (e) {
          if (this.db.inTransaction) this.q('ROLLBACK').run();
          throw e;
        }
      });
    } finally {
      this.ownWrite = true;
    }
  }

  /** Runs fn in one read transaction (one snapshot), or directly when already inside one. */
  private read<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.busy(() => this.txn.deferred(fn) as T);
  }

  /** Drops the caches when the database changed since they were filled (another connection's commit or our own). */
  private checkVersion(): void {
    if (this.db.inTransaction) return;
    const version = this.q('PRAGMA data_version').pluck().get() as number;
    if (version !== this.seenVersion || this.ownWrite) {
      this.seenVersion = version;
      this.ownWrite = false;
      this.cache = { overrides: new Map() };
      this.indexStale = true;
    }
  }

  /** The index, up to date with every commit visible now, at the ledger's clock. */
  private freshIndex(now: number): FleetIndex {
    if (this.db.inTransaction) {
      this.pullChanges();
    } else {
      this.checkVersion();
      if (this.indexStale) {
        this.read(() => this.pullChanges());
        this.indexStale = false;
      }
    }
    this.index.setNow(now);
    return this.index;
  }

  /** Applies the change rows after indexSeq (or reloads in full when some were purged before this process saw them). */
  private pullChanges(): void {
    const purged = (this.q("SELECT value FROM counters WHERE name = 'changes_purged_through'").pluck().get() as number | undefined) ?? 0;
    if (purged > this.indexSeq) {
      this.fullReload();
      return;
    }
    const rows = this.q('SELECT seq, kind, ref FROM changes WHERE seq > ? ORDER BY seq').all(this.indexSeq) as { seq: number; kind: 'admission' | 'window' | 'host'; ref: string }[];
    if (rows.length === 0) return;
    const admissions = new Set<string>();
    const windows = new Set<string>();
    const hosts = new Set<string>();
    for (const r of rows) (r.kind === 'admission' ? admissions : r.kind === 'window' ? windows : hosts).add(r.ref);
    for (const id of admissions) this.reloadAdmission(id);
    for (const id of windows) this.reloadWindow(id);
    for (const id of hosts) this.reloadHost(id);
    this.indexSeq = rows[rows.length - 1]!.seq;
  }

  private reloadAdmission(id: string): void {
    const row = this.q('SELECT status, start_ms, end_ms, hold_expires_ms FROM admissions WHERE id = ?').get(id) as
      | Pick<AdmissionRow, 'status' | 'start_ms' | 'end_ms' | 'hold_expires_ms'>
      | undefined;
    if (!row || !isHolding(row.status)) {
      this.index.removeBooking(id);
      return;
    }
    const hosts = (this.q('SELECT host_id, cpus, memory_mb FROM allocations WHERE admission_id = ?').all(id) as AllocationRow[]).map((h) => ({
      hostId: h.host_id,
      cpus: h.cpus,
      memoryMb: h.memory_mb,
    }));
    this.index.putBooking(id, { start: row.start_ms, end: row.end_ms ?? Infinity, holdUntil: row.status === 'held' ? row.hold_expires_ms : Infinity, hosts });
  }

  private reloadWindow(id: string): void {
    const row = this.q('SELECT * FROM capacity_windows WHERE id = ?').get(id) as WindowRow | undefined;
    if (!row) {
      this.index.removeWindow(id);
      return;
    }
    const hostIds = this.q('SELECT host_id FROM capacity_window_hosts WHERE window_id = ? ORDER BY host_id').pluck().all(id) as string[];
    this.index.putWindow(id, { start: row.start_ms, end: row.end_ms ?? Infinity, cpusDelta: row.cpus_delta, memoryMbDelta: row.memory_mb_delta, hostIds });
  }

  /** Rebuilds the index from the tables (at open, and when change rows this process needed were purged). */
  private fullReload(): void {
    this.read(() => {
      this.index.clear();
      this.hostState = { byId: new Map((this.q('SELECT * FROM hosts').all() as HostRow[]).map((r) => [r.id, hostEntry(r)])) };
      this.indexSeq = (this.q('SELECT COALESCE(MAX(seq), 0) FROM changes').pluck().get() as number) ?? 0;
      const rows = this.q(
        `SELECT a.id, a.status, a.start_ms, a.end_ms, a.hold_expires_ms, al.host_id, al.cpus, al.memory_mb
         FROM admissions a JOIN allocations al ON al.admission_id = a.id
         WHERE a.status IN ('held', 'confirmed', 'active') ORDER BY a.id`,
      ).all() as (Pick<AdmissionRow, 'id' | 'status' | 'start_ms' | 'end_ms' | 'hold_expires_ms'> & AllocationRow)[];
      let i = 0;
      while (i < rows.length) {
        const first = rows[i]!;
        const hosts: { hostId: string; cpus: number; memoryMb: number }[] = [];
        while (i < rows.length && rows[i]!.id === first.id) {
          const r = rows[i++]!;
          hosts.push({ hostId: r.host_id, cpus: r.cpus, memoryMb: r.memory_mb });
        }
        this.index.putBooking(first.id, {
          start: first.start_ms,
          end: first.end_ms ?? Infinity,
          holdUntil: first.status === 'held' ? first.hold_expires_ms : Infinity,
          hosts,
        });
      }
      const windows = this.q('SELECT * FROM capacity_windows').all() as WindowRow[];
      const windowHosts = this.q('SELECT window_id, host_id FROM capacity_window_hosts ORDER BY window_id, host_id').all() as { window_id: string; host_id: string }[];
      const hostsOf = new Map<string, string[]>();
      for (const wh of windowHosts) {
        const list = hostsOf.get(wh.window_id) ?? [];
        list.push(wh.host_id);
        hostsOf.set(wh.window_id, list);
      }
      for (const w of windows) {
        this.index.putWindow(w.id, { start: w.start_ms, end: w.end_ms ?? Infinity, cpusDelta: w.cpus_delta, memoryMbDelta: w.memory_mb_delta, hostIds: hostsOf.get(w.id) ?? [] });
      }
    });
    this.indexStale = false;
  }

  private change(kind: 'admission' | 'window' | 'host', ref: string, now: number): void {
    this.q('INSERT INTO changes (kind, ref, at_ms) VALUES (?, ?, ?)').run(kind, ref, now);
  }

  private bumpHosts(hostIds: Iterable<string>, now = this.clock()): void {
    const st = this.q('UPDATE hosts SET generation = generation + 1 WHERE id = ?');
    for (const id of new Set(hostIds)) {
      st.run(id);
      this.change('host', id, now);
    }
  }

  private event(type: EventType, owner: string | null, subject: string, data: Record<string, unknown>, at: number): LedgerEvent {
    const id = `evt-${randomUUID()}`;
    const seq = this.q('INSERT INTO events (id, type, at_ms, owner, subject, data_json) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq')
      .pluck()
      .get(id, type, at, owner, subject, JSON.stringify(data)) as number;
    return { seq, id, type, at, owner, subject, data };
  }

  private auditRow(actor: string, action: string, subject: string, before: unknown, after: unknown, at: number): void {
    this.q('INSERT INTO audit (at_ms, actor, action, subject, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?)').run(
      at,
      actor,
      action,
      subject,
      before === undefined ? null : JSON.stringify(before),
      after === undefined ? null : JSON.stringify(after),
    );
  }

  private admissionRow(id: string): AdmissionRow | undefined {
    return this.q('SELECT * FROM admissions WHERE id = ?').get(id) as AdmissionRow | undefined;
  }

  private allocations(id: string): AllocationRow[] {
    return this.q('SELECT * FROM allocations WHERE admission_id = ? ORDER BY host_id').all(id) as AllocationRow[];
  }

  private recordOf(id: string, now: number): AdmissionRecord | undefined {
    const row = this.admissionRow(id);
    return row && admissionRecord(row, this.allocations(id), now);
  }

  /** Inside a write: one inventory row, read under the lock. */
  private hostRow(id: string): HostRow | undefined {
    return this.q('SELECT * FROM hosts WHERE id = ?').get(id) as HostRow | undefined;
  }

  /** The inventory as of the last commit seen, kept up to date through the change feed like the index. */
  private hostCache(): Required<HostState> {
    if (!this.db.inTransaction) {
      this.checkVersion();
      if (this.indexStale) {
        this.read(() => this.pullChanges());
        this.indexStale = false;
      }
    }
    const h = this.hostState;
    if (!h.present) h.present = [...h.byId.values()].filter((x) => x.removed === 0).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return h as Required<HostState>;
  }

  private reloadHost(id: string): void {
    const row = this.q('SELECT * FROM hosts WHERE id = ?').get(id) as HostRow | undefined;
    if (row) this.hostState.byId.set(id, hostEntry(row));
    else this.hostState.byId.delete(id);
    this.hostState.present = undefined;
  }


  // -------------------------------------------------------------------------------------------
  // Host inventory.

  async syncHosts(hosts: readonly HostInventory[], actor: string): Promise<readonly HostChange[]> {
    const snapshot = validate.hosts(hosts);
    validate.id(actor, 'actor');
    const diff = (current: ReadonlyMap<string, HostRow>): HostChange[] => {
      const changes: HostChange[] = [];
      const reported = new Set<string>();
      for (const h of snapshot) {
        reported.add(h.id);
        const after = inventoryOf({ id: h.id, cpus: h.cpus, used_cpus: h.usedCpus, memory_mb: h.memoryMb ?? null, used_memory_mb: h.usedMemoryMb ?? null });
        const row = current.get(h.id);
        if (!row || row.removed === 1) changes.push({ hostId: h.id, change: 'added', after });
        else if (!sameInventory(inventoryOf(row), after)) changes.push({ hostId: h.id, change: 'resized', before: inventoryOf(row), after });
      }
      for (const row of current.values()) if (row.removed === 0 && !reported.has(row.id)) changes.push({ hostId: row.id, change: 'removed', before: inventoryOf(row) });
      return changes.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
    };
    // Called often by every worker: an unchanged snapshot is answered from the cache, with no write at all.
    if (diff(this.hostCache().byId).length === 0) return [];
    return this.write(() => {
      const now = this.clock();
      const current = new Map((this.q('SELECT * FROM hosts').all() as HostRow[]).map((r) => [r.id, r]));
      const changes = diff(current);
      for (const c of changes) {
        if (c.change === 'removed') {
          this.q('UPDATE hosts SET removed = 1, generation = generation + 1, updated_ms = ? WHERE id = ?').run(now, c.hostId);
        } else {
          const a = c.after!;
          this.q(
            `INSERT INTO hosts (id, cpus, used_cpus, memory_mb, used_memory_mb, generation, removed, updated_ms) VALUES (@id, @cpus, @used, @mem, @usedMem, 1, 0, @now)
             ON CONFLICT (id) DO UPDATE SET cpus = @cpus, used_cpus = @used, memory_mb = @mem, used_memory_mb = @usedMem, removed = 0,
               generation = generation + 1, updated_ms = @now`,
          ).run({ id: a.id, cpus: a.cpus, used: a.usedCpus, mem: a.memoryMb ?? null, usedMem: a.usedMemoryMb ?? null, now });
        }
        this.change('host', c.hostId, now);
        this.event('capacity.changed', null, c.hostId, { reason: 'inventory', change: c.change, hosts: [c.hostId], ...(c.before ? { before: c.before } : {}), ...(c.after ? { after: c.after } : {}), actor }, now);
      }
      return changes;
    });
  }

  async hosts(): Promise<readonly LedgerHost[]> {
    return this.hostCache().present.map((h) => h.record);
  }

  // -------------------------------------------------------------------------------------------
  // Capacity.

  async capacity(window: TimeWindow, options: { readonly hostIds?: readonly string[] } = {}): Promise<CapacityView> {
    const w = quickWindow(window);
    const now = this.clock();
    // Index first: bringing it up to date may reload hosts (another process committed), which resets the host list;
    // the list taken after it is the one the index describes.
    const index = this.freshIndex(now);
    let selected = this.hostCache().present;
    if (options.hostIds) {
      const wanted = new Set(options.hostIds);
      selected = selected.filter((h) => wanted.has(h.id));
    }
    const end = endOf(w);
    const views = selected.map((h) => hostView(h.record, index.summary(h.id, w.start, end)));
    return capacityView(w, views);
  }

  async holders(
    window: TimeWindow,
    options: { readonly hostIds?: readonly string[]; readonly excludeOwnerService?: { owner: string; serviceId: string } } = {},
  ): Promise<readonly Holder[]> {
    const w = validate.window(window);
    return this.holdersVia(w, options.hostIds, options.excludeOwnerService, this.clock());
  }

  private holdersVia(w: TimeWindow, hostIds: readonly string[] | undefined, exclude: { owner: string; serviceId: string } | undefined, now: number): Holder[] {
    const parts = [
      "a.status IN ('held', 'confirmed', 'active')",
      "(a.status <> 'held' OR a.hold_expires_ms > @now)",
      '(al.cpus > 0 OR al.memory_mb > 0)',
      '(a.end_ms IS NULL OR a.end_ms > @start)',
    ];
    const params: Record<string, unknown> = { now, start: w.start };
    if (w.end !== null) {
      parts.push('a.start_ms < @end');
      params.end = w.end;
    }
    if (hostIds) {
      parts.push('al.host_id IN (SELECT value FROM json_each(@hosts))');
      params.hosts = JSON.stringify(hostIds);
    }
    if (exclude) {
      parts.push('NOT (a.owner = @owner AND a.service_id = @service)');
      params.owner = exclude.owner;
      params.service = exclude.serviceId;
    }
    const rows = this.q(
      `SELECT a.id, a.owner, a.service_id, a.status, a.start_ms, a.end_ms, a.hold_expires_ms, al.host_id, al.cpus, al.memory_mb
       FROM allocations al JOIN admissions a ON a.id = al.admission_id
       WHERE ${parts.join(' AND ')}
       ORDER BY al.host_id, al.cpus DESC, al.memory_mb DESC, a.id`,
    ).all(params) as (AdmissionRow & AllocationRow)[];
    return rows.map((r) => ({
      admissionId: r.id,
      owner: r.owner,
      serviceId: r.service_id,
      status: r.status,
      window: windowOf(r.start_ms, r.end_ms),
      ...(r.status === 'held' ? { holdExpiresAt: r.hold_expires_ms } : {}),
      hostId: r.host_id,
      cpus: r.cpus,
      memoryMb: r.memory_mb,
    }));
  }

  /**
   * Whether `amount` fits on the host over [start, end) next to everything counting in the index plus the
   * adjustments; throws the CapacityConflictError otherwise. Runs inside the write, with the index up to date.
   */
  private checkFits(admissionId: string, amount: HostAmount, window: TimeWindow, adjustments: readonly Adjustment[], ignore: ReadonlySet<string>): void {
    const host = this.hostRow(amount.hostId);
    if (!host || host.removed === 1) {
      throw new CapacityConflictError({
        admissionId,
        hostId: amount.hostId,
        resource: 'host',
        needed: amount.cpus,
        free: 0,
        window,
        holders: [],
        reason: host ? 'removed host' : 'unknown host',
      });
    }
    if (amount.cpus <= 0 && amount.memoryMb <= 0) return;
    const end = endOf(window);
    const free = freeOver(inventoryOf(host), this.index.minNet(host.id, window.start, end, adjustments));
    const short: ['cpus' | 'memoryMb', number, number] | undefined =
      amount.cpus > 0 && amount.cpus > free.cpus + EPSILON
        ? ['cpus', amount.cpus, free.cpus]
        : amount.memoryMb > 0 && host.memory_mb !== null && amount.memoryMb > free.memoryMb + EPSILON
          ? ['memoryMb', amount.memoryMb, free.memoryMb]
          : undefined;
    if (!short) return;
    const holders = this.index
      .holdersOn(host.id, window.start, end)
      .filter((h) => !ignore.has(h.id))
      .sort((a, b) => (short[0] === 'cpus' ? b.cpus - a.cpus : b.memoryMb - a.memoryMb) || (a.id < b.id ? -1 : 1))
      .map((h) => h.id);
    throw new CapacityConflictError({ admissionId, hostId: host.id, resource: short[0], needed: short[1], free: short[2], window, holders });
  }

  // -------------------------------------------------------------------------------------------
  // Admissions.

  async book(request: BookRequest): Promise<BookResult> {
    validate.book(request);
    const bookings = request.bookings.map((b, i) => ({
      input: b,
      hosts: sumByHost(b.hosts),
      responseJson: jsonOf(b.response, `request.bookings[${i}].response`),
    }));
    const idem = request.idempotency;
    const answerJson = idem ? jsonOf(idem.answer, 'request.idempotency.answer') : undefined;
    const run = (): BookResult => {
      const now = this.clock();
      if (idem) {
        const stored = this.q('SELECT request_hash, answer_json FROM idempotency_keys WHERE owner = ? AND key = ?').get(idem.owner, idem.key) as
          | { request_hash: string; answer_json: string }
          | undefined;
        if (stored) {
          if (stored.request_hash === idem.requestHash) return { kind: 'replayed', answer: JSON.parse(stored.answer_json) as unknown };
          throw new AdmissionError('AC_ERR_IDEMPOTENCY_MISMATCH', `the idempotency key '${idem.key}' was used for a different request`, [
            { field: 'Idempotency-Key', reason: 'same key, different request' },
          ]);
        }
      }
      bookings.forEach(({ input: b }, i) => {
        if (b.holdExpiresAt <= now) throw invalid(`request.bookings[${i}].holdExpiresAt`, `must be after the ledger's clock (${new Date(now).toISOString()})`);
        if (this.q('SELECT 1 FROM admissions WHERE id = ?').get(b.id) !== undefined) {
          throw new AdmissionError('AC_ERR_CONFLICT', `admission '${b.id}' exists already`, [{ field: `request.bookings[${i}].id`, reason: 'duplicate admission id' }]);
        }
      });
      this.freshIndex(now);

      // replaceHeld: the owner's held offers for the same service stop counting, in this transaction.
      const adjustments = new Map<string, Adjustment[]>();
      const adjust = (hostId: string, a: Adjustment): void => {
        const list = adjustments.get(hostId);
        if (list) list.push(a);
        else adjustments.set(hostId, [a]);
      };
      const replaced: { id: string; owner: string; by: string; hosts: AllocationRow[]; row: AdmissionRow }[] = [];
      const replacesOf = new Map<string, string>();
      if (request.replaceHeld) {
        const seen = new Set<string>();
        for (const { input: b } of bookings) {
          const pair = JSON.stringify([b.owner, b.serviceId]);
          if (seen.has(pair)) continue;
          seen.add(pair);
          const old = this.q(
            "SELECT * FROM admissions WHERE owner = ? AND service_id = ? AND status = 'held' AND hold_expires_ms > ? ORDER BY created_ms DESC, id DESC",
          ).all(b.owner, b.serviceId, now) as AdmissionRow[];
          if (old.length === 0) continue;
          for (const { input: nb } of bookings) if (nb.owner === b.owner && nb.serviceId === b.serviceId) replacesOf.set(nb.id, old[0]!.id);
          for (const o of old) {
            const hosts = this.allocations(o.id);
            replaced.push({ id: o.id, owner: o.owner, by: b.id, hosts, row: o });
            for (const h of hosts) adjust(h.host_id, { start: o.start_ms, end: o.end_ms ?? Infinity, cpus: h.cpus, memoryMb: h.memory_mb });
          }
        }
      }
      const ignore = new Set(replaced.map((r) => r.id));

      // Every booking on every host it uses, next to everything else (and the request's earlier bookings).
      for (const { input: b, hosts } of bookings) {
        for (const h of hosts) {
          this.checkFits(b.id, h, b.window, adjustments.get(h.hostId) ?? [], ignore);
          adjust(h.hostId, { start: b.window.start, end: endOf(b.window), cpus: -h.cpus, memoryMb: -h.memoryMb });
        }
      }

      const touched: string[] = [];
      for (const r of replaced) {
        this.q("UPDATE admissions SET status = 'released', closed_ms = ?, generation = generation + 1 WHERE id = ? AND status = 'held'").run(now, r.id);
        this.change('admission', r.id, now);
        touched.push(...r.hosts.map((h) => h.host_id));
        this.event(
          'admission.released',
          r.owner,
          r.id,
          { serviceId: r.row.service_id, window: windowOf(r.row.start_ms, r.row.end_ms), hosts: r.hosts.map((h) => h.host_id), reason: 'replaced', replacedBy: r.by },
          now,
        );
      }
      const insert = this.q(
        `INSERT INTO admissions (id, owner, service_id, decision, status, start_ms, end_ms, hold_expires_ms, expiry_seconds, created_ms, replaces, generation, response_json, charge_plan_json)
         VALUES (?, ?, ?, ?, 'held', ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
      );
      const insertAllocation = this.q('INSERT INTO allocations (admission_id, host_id, cpus, memory_mb) VALUES (?, ?, ?, ?)');
      const admissions: AdmissionRecord[] = [];
      for (const { input: b, hosts, responseJson } of bookings) {
        const replaces = replacesOf.get(b.id);
        insert.run(b.id, b.owner, b.serviceId, b.decision, b.window.start, b.window.end, b.holdExpiresAt, b.expirySeconds ?? null, now, replaces ?? null, responseJson, b.chargePlan ? JSON.stringify(b.chargePlan) : null);
        for (const h of hosts) insertAllocation.run(b.id, h.hostId, h.cpus, h.memoryMb);
        this.change('admission', b.id, now);
        touched.push(...hosts.map((h) => h.hostId));
        this.event('admission.held', b.owner, b.id, { serviceId: b.serviceId, decision: b.decision, window: b.window, hosts: hosts.map((h) => h.hostId), holdExpiresAt: b.holdExpiresAt, ...(replaces ? { replaces } : {}) }, now);
        admissions.push({
          id: b.id,
          owner: b.owner,
          serviceId: b.serviceId,
          decision: b.decision,
          status: 'held',
          window: { start: b.window.start, end: b.window.end },
          holdExpiresAt: b.holdExpiresAt,
          ...(b.expirySeconds !== undefined ? { expirySeconds: b.expirySeconds } : {}),
          createdAt: now,
          ...(replaces ? { replaces } : {}),
          hosts,
          response: JSON.parse(responseJson) as unknown,
          generation: 1,
        });
      }
      this.bumpHosts(touched);
      if (idem) {
        this.q('INSERT INTO idempotency_keys (owner, key, request_hash, answer_json, created_ms) VALUES (?, ?, ?, ?, ?)').run(idem.owner, idem.key, idem.requestHash, answerJson, now);
      }
      return { kind: 'booked', admissions, replaced: replaced.map((r) => r.id) };
    };
    return new Promise<BookResult>((resolve, reject) => {
      this.bookQueue.push({ run, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushBooks());
      }
    });
  }

  /**
   * Group commit: the book() calls made since the last flush run in one BEGIN IMMEDIATE transaction, each in its own
   * savepoint (a request that fails is rolled back alone and rejected; the others commit), so that N concurrent
   * admissions cost one fsync instead of N. Each request still checks capacity against everything before it (the
   * index pulls the earlier requests' change rows inside the transaction). Nothing is acknowledged before the commit.
   */
  private flushBooks(): void {
    this.flushScheduled = false;
    const batch = this.bookQueue.splice(0);
    const outcomes: ({ ok: true; value: BookResult } | { ok: false; error: unknown })[] = [];
    try {
      this.write(() => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: batch.length === 1 ? item.run() : (this.txn(item.run) as BookResult) });
          } catch (error) {
            if (batch.length === 1) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // Nothing committed. The index may hold change rows of requests of this batch that ran before the failure.
      if (outcomes.some((o) => o.ok)) this.fullReload();
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) item.resolve(o.value);
      else item.reject(o.error);
    });
  }

  async idempotentAnswer(owner: string, key: string): Promise<{ readonly requestHash: string; readonly answer: unknown } | undefined> {
    const row = this.q('SELECT request_hash, answer_json FROM idempotency_keys WHERE owner = ? AND key = ?').get(owner, key) as { request_hash: string; answer_json: string } | undefined;
    return row && { requestHash: row.request_hash, answer: JSON.parse(row.answer_json) as unknown };
  }

  async get(id: string): Promise<AdmissionRecord | undefined> {
    return this.read(() => this.recordOf(id, this.clock()));
  }

  async list(filter: AdmissionFilter, page: { readonly limit?: number; readonly cursor?: string } = {}): Promise<Page<AdmissionRecord>> {
    validate.statuses(filter.statuses);
    const limit = page.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const now = this.clock();
    const parts: string[] = [];
    const params: Record<string, unknown> = { now, limit: limit + 1 };
    if (filter.owner !== undefined) {
      parts.push('a.owner = @owner');
      params.owner = filter.owner;
    }
    if (filter.serviceId !== undefined) {
      parts.push('a.service_id = @service');
      params.service = filter.serviceId;
    }
    if (filter.statuses && filter.statuses.length === 1 && filter.statuses[0] === 'held') {
      // Live held offers only, in the form the partial index admissions_held_by_service matches.
      parts.push("a.status = 'held'", 'a.hold_expires_ms > @now');
    } else if (filter.statuses) {
      parts.push("(CASE WHEN a.status = 'held' AND a.hold_expires_ms <= @now THEN 'expired' ELSE a.status END) IN (SELECT value FROM json_each(@statuses))");
      params.statuses = JSON.stringify(filter.statuses);
    }
    if (filter.from !== undefined) {
      parts.push('(a.end_ms IS NULL OR a.end_ms > @from)');
      params.from = validate.instant(filter.from, 'filter.from');
    }
    if (filter.to !== undefined) {
      parts.push('a.start_ms < @to');
      params.to = validate.instant(filter.to, 'filter.to');
    }
    if (page.cursor !== undefined) {
      const [created, id] = decodeCursor(page.cursor);
      parts.push('(a.created_ms, a.id) > (@cCreated, @cId)');
      params.cCreated = created;
      params.cId = id;
    }
    const where = parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '';
    return this.read(() => {
      const rows = this.q(`SELECT a.* FROM admissions a ${where} ORDER BY a.created_ms, a.id LIMIT @limit`).all(params) as AdmissionRow[];
      const more = rows.length > limit;
      if (more) rows.pop();
      const hostRows =
        rows.length === 0
          ? []
          : (this.q('SELECT * FROM allocations WHERE admission_id IN (SELECT value FROM json_each(?)) ORDER BY admission_id, host_id').all(JSON.stringify(rows.map((r) => r.id))) as AllocationRow[]);
      const byAdmission = new Map<string, AllocationRow[]>();
      for (const h of hostRows) {
        const list = byAdmission.get(h.admission_id);
        if (list) list.push(h);
        else byAdmission.set(h.admission_id, [h]);
      }
      const items = rows.map((r) => admissionRecord(r, byAdmission.get(r.id) ?? [], now));
      const last = rows[rows.length - 1];
      return { items, nextCursor: more && last ? encodeCursor(last.created_ms, last.id) : null };
    });
  }

  /** Inside a write: the admission, its generation checked, its status (as of now) one of `allowed`. */
  private changeable(id: string, now: number, allowed: readonly AdmissionStatus[], action: string, expectedGeneration?: number): { row: AdmissionRow; record: AdmissionRecord; hosts: AllocationRow[] } {
    const row = this.admissionRow(id);
    if (!row) throw notFound('admission', id);
    if (expectedGeneration !== undefined && expectedGeneration !== row.generation) throw generationConflict(`admission '${id}'`, expectedGeneration, row.generation);
    const hosts = this.allocations(id);
    const record = admissionRecord(row, hosts, now);
    if (!allowed.includes(record.status)) throw stateConflict(`admission '${id}' cannot be ${action}`, `it is ${record.status}`);
    return { row, record, hosts };
  }

  async confirm(id: string, actor: string, expectedGeneration?: number, options: { readonly deployment?: DeploymentInput } = {}): Promise<AdmissionRecord> {
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    const deployment = options.deployment === undefined ? undefined : validateDeployment.input(options.deployment);
    return this.write(() => {
      const now = this.clock();
      const { row, record, hosts } = this.changeable(id, now, ['held'], 'confirmed', expectedGeneration);
      const status: AdmissionStatus = now >= row.start_ms ? 'active' : 'confirmed';
      this.q("UPDATE admissions SET status = ?, confirmed_ms = ?, generation = generation + 1 WHERE id = ? AND status = 'held'").run(status, now, id);
      this.change('admission', id, now);
      this.bumpHosts(hosts.map((h) => h.host_id));
      const after = this.recordOf(id, now)!;
      const data = { serviceId: row.service_id, window: after.window, hosts: hosts.map((h) => h.host_id) };
      this.event('admission.confirmed', row.owner, id, data, now);
      if (status === 'active') this.event('reservation.started', row.owner, id, data, now);
      this.settleCharges(id, 'confirm', now);
      if (deployment) {
        this.q(
          `INSERT INTO deployments (admission_id, owner, target, status, not_before_ms, generation, attempts, error, lease_holder, lease_until_ms, vms_json, created_ms, updated_ms)
           VALUES (?, ?, ?, 'scheduled', ?, 1, 0, NULL, NULL, NULL, ?, ?, ?)`,
        ).run(id, row.owner, deployment.target, row.start_ms, JSON.stringify(deployment.vms), now, now);
      }
      this.auditRow(actor, 'admission.confirmed', id, admissionSummary(record), admissionSummary(after), now);
      return after;
    });
  }

  async reschedule(
    id: string,
    change: { readonly window: TimeWindow; readonly hosts?: readonly HostAmount[]; readonly holdExpiresAt?: EpochMs; readonly chargePlan?: ChargePlan },
    actor: string,
    expectedGeneration?: number,
  ): Promise<AdmissionRecord> {
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    const window = validate.window(change.window, 'change.window');
    const newHosts = change.hosts === undefined ? undefined : sumByHost(validate.hostAmounts(change.hosts, 'change.hosts'));
    const holdExpiresAt = change.holdExpiresAt === undefined ? undefined : validate.instant(change.holdExpiresAt, 'change.holdExpiresAt');
    return this.write(() => {
      const now = this.clock();
      const { row, record, hosts: oldHosts } = this.changeable(id, now, HOLDING_STATUSES, 'rescheduled', expectedGeneration);
      if (holdExpiresAt !== undefined && row.status === 'held' && holdExpiresAt <= now) throw invalid('change.holdExpiresAt', "must be after the ledger's clock");
      this.freshIndex(now);
      const hosts = newHosts ?? oldHosts.map((h) => ({ hostId: h.host_id, cpus: h.cpus, memoryMb: h.memory_mb }));
      // Its own old booking does not count against the new one.
      const adjustments = new Map<string, Adjustment[]>();
      for (const h of oldHosts) adjustments.set(h.host_id, [{ start: row.start_ms, end: row.end_ms ?? Infinity, cpus: h.cpus, memoryMb: h.memory_mb }]);
      const ignore = new Set([id]);
      for (const h of hosts) this.checkFits(id, h, window, adjustments.get(h.hostId) ?? [], ignore);
      this.q(
        `UPDATE admissions SET start_ms = ?, end_ms = ?, hold_expires_ms = CASE WHEN status = 'held' AND ? IS NOT NULL THEN ? ELSE hold_expires_ms END,
           ending_sent = 0, generation = generation + 1 WHERE id = ?`,
      ).run(window.start, window.end, holdExpiresAt ?? null, holdExpiresAt ?? null, id);
      if (change.chargePlan) this.q('UPDATE admissions SET charge_plan_json = ? WHERE id = ?').run(JSON.stringify(change.chargePlan), id);
      if (newHosts) {
        this.q('DELETE FROM allocations WHERE admission_id = ?').run(id);
        const ins = this.q('INSERT INTO allocations (admission_id, host_id, cpus, memory_mb) VALUES (?, ?, ?, ?)');
        for (const h of newHosts) ins.run(id, h.hostId, h.cpus, h.memoryMb);
      }
      this.change('admission', id, now);
      this.bumpHosts([...oldHosts.map((h) => h.host_id), ...hosts.map((h) => h.hostId)]);
      const after = this.recordOf(id, now)!;
      this.event(
        'admission.rescheduled',
        row.owner,
        id,
        { serviceId: row.service_id, window: after.window, hosts: after.hosts.map((h) => h.hostId), before: { window: record.window, hosts: record.hosts.map((h) => h.hostId) } },
        now,
      );
      this.settleCharges(id, 'reschedule', now);
      this.auditRow(actor, 'admission.rescheduled', id, admissionSummary(record), admissionSummary(after), now);
      return after;
    });
  }

  async release(id: string, actor: string): Promise<{ readonly record: AdmissionRecord; readonly released: boolean }> {
    validate.id(actor, 'actor');
    return this.write(() => {
      const now = this.clock();
      const row = this.admissionRow(id);
      if (!row) throw notFound('admission', id);
      const hosts = this.allocations(id);
      const record = admissionRecord(row, hosts, now);
      if (!isHolding(record.status)) return { record, released: false };
      this.q("UPDATE admissions SET status = 'released', closed_ms = ?, generation = generation + 1 WHERE id = ? AND status IN ('held', 'confirmed', 'active')").run(now, id);
      this.change('admission', id, now);
      this.bumpHosts(hosts.map((h) => h.host_id));
      const after = this.recordOf(id, now)!;
      this.event('admission.released', row.owner, id, { serviceId: row.service_id, window: record.window, hosts: hosts.map((h) => h.host_id), reason: 'released', actor }, now);
      this.settleCharges(id, 'release', now);
      this.auditRow(actor, 'admission.released', id, admissionSummary(record), admissionSummary(after), now);
      return { record: after, released: true };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Capacity windows.

  async addWindow(input: CapacityWindowInput): Promise<{ readonly window: CapacityWindowRecord; readonly conflicts: readonly WindowConflict[] }> {
    const w = validate.capacityWindow(input);
    const hostIds = [...w.hosts].sort();
    return this.write(() => {
      const now = this.clock();
      if (this.q('SELECT 1 FROM capacity_windows WHERE id = ?').get(w.id) !== undefined) {
        throw new AdmissionError('AC_ERR_CONFLICT', `capacity window '${w.id}' exists already`, [{ field: 'id', reason: 'duplicate capacity window id' }]);
      }
      const hostRows = hostIds.map((h) => {
        const row = this.hostRow(h);
        if (!row || row.removed === 1) throw invalid('capacity window.hosts', `host '${h}' is not in the inventory`);
        return row;
      });
      this.freshIndex(now);
      const end = endOf(w.window);
      this.q(
        `INSERT INTO capacity_windows (id, start_ms, end_ms, cpus_delta, memory_mb_delta, reason, created_ms, created_by, started, ended)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(w.id, w.window.start, w.window.end, w.cpusDelta, w.memoryMbDelta, w.reason, now, w.actor, w.window.start <= now ? 1 : 0, end <= now ? 1 : 0);
      const insHost = this.q('INSERT INTO capacity_window_hosts (window_id, host_id) VALUES (?, ?)');
      for (const h of hostIds) insHost.run(w.id, h);
      this.change('window', w.id, now);
      this.bumpHosts(hostIds);

      // Who no longer fits: every holder overlapping the window on its hosts, at the worst instant of the overlap.
      const adjustment: Adjustment = { start: w.window.start, end, cpus: w.cpusDelta, memoryMb: w.memoryMbDelta };
      const conflicts: WindowConflict[] = [];
      for (const host of hostRows) {
        const inv = inventoryOf(host);
        for (const holder of this.index.holdersOn(host.id, w.window.start, end)) {
          const from = Math.max(holder.start, w.window.start);
          const to = Math.min(holder.end, end);
          const free = freeOver(inv, this.index.minNet(host.id, from, to, [adjustment]));
          const missingCpus = holder.cpus > 0 && free.cpus < -EPSILON ? -free.cpus : 0;
          const missingMemoryMb = holder.memoryMb > 0 && inv.memoryMb !== undefined && free.memoryMb < -EPSILON ? -free.memoryMb : 0;
          if (missingCpus === 0 && missingMemoryMb === 0) continue;
          const a = this.admissionRow(holder.id)!;
          conflicts.push({ admissionId: a.id, owner: a.owner, serviceId: a.service_id, window: windowOf(a.start_ms, a.end_ms), hostId: host.id, missingCpus, missingMemoryMb });
        }
      }
      conflicts.sort((a, b) => (a.admissionId < b.admissionId ? -1 : a.admissionId > b.admissionId ? 1 : a.hostId < b.hostId ? -1 : 1));
      const record: CapacityWindowRecord = {
        id: w.id,
        hosts: hostIds,
        window: { start: w.window.start, end: w.window.end },
        cpusDelta: w.cpusDelta,
        memoryMbDelta: w.memoryMbDelta,
        reason: w.reason,
        createdAt: now,
        createdBy: w.actor,
      };
      this.event('capacity.changed', null, w.id, { reason: w.reason, change: 'window.added', windowId: w.id, hosts: hostIds, window: record.window, cpusDelta: w.cpusDelta, memoryMbDelta: w.memoryMbDelta, conflicts: conflicts.length }, now);
      const byAdmission = new Map<string, WindowConflict[]>();
      for (const c of conflicts) byAdmission.set(c.admissionId, [...(byAdmission.get(c.admissionId) ?? []), c]);
      for (const [admissionId, list] of byAdmission) {
        this.event(
          'maintenance.conflict',
          list[0]!.owner,
          admissionId,
          { windowId: w.id, reason: w.reason, window: record.window, serviceId: list[0]!.serviceId, hosts: list.map((c) => ({ hostId: c.hostId, missingCpus: c.missingCpus, missingMemoryMb: c.missingMemoryMb })) },
          now,
        );
      }
      this.auditRow(w.actor, 'window.created', w.id, null, record, now);
      return { window: record, conflicts };
    });
  }

  async removeWindow(id: string, actor: string): Promise<boolean> {
    validate.id(actor, 'actor');
    return this.write(() => {
      const now = this.clock();
      const row = this.q('SELECT * FROM capacity_windows WHERE id = ?').get(id) as WindowRow | undefined;
      if (!row) return false;
      const hostIds = this.q('SELECT host_id FROM capacity_window_hosts WHERE window_id = ? ORDER BY host_id').pluck().all(id) as string[];
      const before = windowRecord(row, hostIds);
      this.q('DELETE FROM capacity_windows WHERE id = ?').run(id);
      this.change('window', id, now);
      this.bumpHosts(hostIds);
      this.event('capacity.changed', null, id, { reason: row.reason, change: 'window.removed', windowId: id, hosts: hostIds, window: before.window, cpusDelta: row.cpus_delta, memoryMbDelta: row.memory_mb_delta }, now);
      this.auditRow(actor, 'window.removed', id, before, null, now);
      return true;
    });
  }

  async listWindows(filter: { readonly from?: EpochMs; readonly to?: EpochMs; readonly hostId?: string } = {}): Promise<readonly CapacityWindowRecord[]> {
    const parts: string[] = [];
    const params: Record<string, unknown> = {};
    if (filter.from !== undefined) {
      parts.push('(w.end_ms IS NULL OR w.end_ms > @from)');
      params.from = validate.instant(filter.from, 'filter.from');
    }
    if (filter.to !== undefined) {
      parts.push('w.start_ms < @to');
      params.to = validate.instant(filter.to, 'filter.to');
    }
    if (filter.hostId !== undefined) {
      parts.push('EXISTS (SELECT 1 FROM capacity_window_hosts x WHERE x.window_id = w.id AND x.host_id = @host)');
      params.host = filter.hostId;
    }
    const where = parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '';
    return this.read(() => {
      const rows = this.q(`SELECT w.* FROM capacity_windows w ${where} ORDER BY w.start_ms, w.id`).all(params) as WindowRow[];
      const hostsOf = this.q('SELECT host_id FROM capacity_window_hosts WHERE window_id = ? ORDER BY host_id').pluck();
      return rows.map((r) => windowRecord(r, hostsOf.all(r.id) as string[]));
    });
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle.

  private nextDue(now: number): number | null {
    const v = this.q(
      `SELECT MIN(x) FROM (
         SELECT MIN(hold_expires_ms) AS x FROM admissions WHERE status = 'held'
         UNION ALL SELECT MIN(start_ms) FROM admissions WHERE status = 'confirmed'
         UNION ALL SELECT MIN(CASE WHEN ending_sent = 0 AND end_ms > @now THEN end_ms - @lead ELSE end_ms END)
                   FROM admissions WHERE status = 'active' AND end_ms IS NOT NULL
         UNION ALL SELECT MIN(charge_next_ms) FROM admissions WHERE charge_next_ms IS NOT NULL
         UNION ALL SELECT MIN(start_ms) FROM capacity_windows WHERE started = 0
         UNION ALL SELECT MIN(end_ms) FROM capacity_windows WHERE ended = 0 AND end_ms IS NOT NULL)`,
    )
      .pluck()
      .get({ now, lead: this.endingLeadMs }) as number | null;
    return v ?? null;
  }

  /** Whether advance(now) has anything to purge (read without the write lock). */
  private purgeDue(now: number): boolean {
    const cutoff = now - this.retentionMs;
    return (
      this.q('SELECT 1 FROM admissions WHERE closed_ms IS NOT NULL AND closed_ms < ? LIMIT 1').get(cutoff) !== undefined ||
      this.q('SELECT 1 FROM idempotency_keys WHERE created_ms < ? LIMIT 1').get(cutoff) !== undefined ||
      this.q(`SELECT 1 FROM events WHERE at_ms < ? AND seq <= (SELECT COALESCE(MIN(COALESCE(pending_seq - 1, cursor)), 9007199254740991) FROM subscriptions) LIMIT 1`).get(cutoff) !==
        undefined ||
      this.q('SELECT 1 FROM changes WHERE at_ms < ? LIMIT 1').get(now - CHANGES_RETENTION_MS) !== undefined ||
      this.q('SELECT 1 FROM decisions WHERE at_ms < ? LIMIT 1').get(now - this.decisionRetentionMs) !== undefined
    );
  }

  async advance(now: EpochMs): Promise<AdvanceResult> {
    validate.instant(now, 'now');
    // Nothing due (the common case, called by every worker's scheduler): no write lock.
    const quick = this.read(() => {
      const due = this.nextDue(now);
      return due !== null && due <= now ? undefined : this.purgeDue(now) || this.bandChanged(now) ? undefined : due;
    });
    if (quick !== undefined) return { events: [], nextDueAt: quick };
    return this.write(() => {
      const events: LedgerEvent[] = [];
      const touched: string[] = [];
      const hostsOf = (id: string): string[] => this.q('SELECT host_id FROM allocations WHERE admission_id = ? ORDER BY host_id').pluck().all(id) as string[];
      const byDue = <T extends { id: string }>(rows: T[], due: (r: T) => number): T[] => rows.sort((a, b) => due(a) - due(b) || (a.id < b.id ? -1 : 1));
      const transition = (rows: AdmissionRow[], type: EventType, closes: boolean, due: (r: AdmissionRow) => number): void => {
        for (const r of byDue(rows, due)) {
          const hosts = hostsOf(r.id);
          if (closes) {
            this.change('admission', r.id, now);
            touched.push(...hosts);
          }
          events.push(this.event(type, r.owner, r.id, { serviceId: r.service_id, decision: r.decision, window: windowOf(r.start_ms, r.end_ms), hosts, dueAt: due(r) }, now));
        }
      };
      // Each UPDATE is conditional on the status it leaves: a transition another process recorded first is not seen again.
      transition(
        this.q("UPDATE admissions SET status = 'expired', closed_ms = hold_expires_ms, generation = generation + 1 WHERE status = 'held' AND hold_expires_ms <= ? RETURNING *").all(now) as AdmissionRow[],
        'admission.expired',
        true,
        (r) => r.hold_expires_ms,
      );
      transition(
        this.q("UPDATE admissions SET status = 'active', generation = generation + 1 WHERE status = 'confirmed' AND start_ms <= ? RETURNING *").all(now) as AdmissionRow[],
        'reservation.started',
        false,
        (r) => r.start_ms,
      );
      transition(
        this.q(
          "UPDATE admissions SET ending_sent = 1 WHERE status = 'active' AND ending_sent = 0 AND end_ms IS NOT NULL AND end_ms - @lead <= @now AND end_ms > @now RETURNING *",
        ).all({ now, lead: this.endingLeadMs }) as AdmissionRow[],
        'reservation.ending',
        false,
        (r) => r.end_ms! - this.endingLeadMs,
      );
      transition(
        this.q("UPDATE admissions SET status = 'ended', closed_ms = end_ms, generation = generation + 1 WHERE status = 'active' AND end_ms IS NOT NULL AND end_ms <= ? RETURNING *").all(now) as AdmissionRow[],
        'reservation.ended',
        true,
        (r) => r.end_ms!,
      );
      const windowHosts = (id: string): string[] => this.q('SELECT host_id FROM capacity_window_hosts WHERE window_id = ? ORDER BY host_id').pluck().all(id) as string[];
      const edge = (rows: WindowRow[], which: 'start' | 'end'): void => {
        for (const w of byDue(rows, (r) => (which === 'start' ? r.start_ms : r.end_ms!))) {
          events.push(
            this.event(
              'capacity.changed',
              null,
              w.id,
              { reason: w.reason, edge: which, windowId: w.id, hosts: windowHosts(w.id), window: windowOf(w.start_ms, w.end_ms), cpusDelta: w.cpus_delta, memoryMbDelta: w.memory_mb_delta },
              now,
            ),
          );
        }
      };
      edge(this.q('UPDATE capacity_windows SET started = 1 WHERE started = 0 AND start_ms <= ? RETURNING *').all(now) as WindowRow[], 'start');
      edge(this.q('UPDATE capacity_windows SET ended = 1 WHERE ended = 0 AND end_ms IS NOT NULL AND end_ms <= ? RETURNING *').all(now) as WindowRow[], 'end');
      // Open windows are charged per started hour: each admission whose next hour has begun.
      for (const id of this.q('SELECT id FROM admissions WHERE charge_next_ms IS NOT NULL AND charge_next_ms <= ? ORDER BY charge_next_ms, id').pluck().all(now) as string[]) {
        const e = this.settleCharges(id, 'advance', now);
        if (e) events.push(e);
      }
      this.bumpHosts(touched);
      const crossing = this.recordBand(now);
      if (crossing) events.push(crossing);
      this.purge(now);
      return { events, nextDueAt: this.nextDue(now) };
    });
  }

  /** The fleet's free CPUs now, and its band: how many of the thresholds the free share is below (0 while above them all). */
  private freeBand(now: number): { readonly band: number; readonly cpus: number; readonly freeCpus: number; readonly share: number } {
    const index = this.freshIndex(now);
    const totals = capacityView({ start: now, end: now + 1 }, this.hostCache().present.map((h) => hostView(h.record, index.summary(h.id, now, now + 1)))).totals;
    const share = totals.cpus > 0 ? totals.freeCpus / totals.cpus : 0;
    return { band: freeBandOf(this.thresholds, share), cpus: totals.cpus, freeCpus: totals.freeCpus, share };
  }

  private storedBand(): number | undefined {
    return this.q("SELECT value FROM counters WHERE name = 'free_capacity_band'").pluck().get() as number | undefined;
  }

  /** Read side of advance's quick check: a threshold was crossed since the last recorded band. */
  private bandChanged(now: number): boolean {
    if (this.thresholds.length === 0) return false;
    return this.freeBand(now).band !== (this.storedBand() ?? 0);
  }

  /** Inside advance's write: records the band and, when it moved, the one event that says which thresholds were crossed. */
  private recordBand(now: number): LedgerEvent | undefined {
    if (this.thresholds.length === 0) return undefined;
    const before = this.storedBand() ?? 0;
    const f = this.freeBand(now);
    if (f.band === before) return undefined;
    this.q("INSERT INTO counters (name, value) VALUES ('free_capacity_band', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value").run(f.band);
    return this.event('capacity.changed', null, 'fleet', bandCrossing(this.thresholds, before, f.band, f), now);
  }

  /** Inside advance's write: history older than the retention. */
  private purge(now: number): void {
    const cutoff = now - this.retentionMs;
    this.q("DELETE FROM admissions WHERE closed_ms IS NOT NULL AND closed_ms < ? AND id NOT IN (SELECT admission_id FROM deployments WHERE status <> 'terminated')").run(cutoff);
    this.q('DELETE FROM idempotency_keys WHERE created_ms < ?').run(cutoff);
    // Never an event a subscription has not passed yet (its cursor, or before the event it is delivering).
    this.q(`DELETE FROM events WHERE at_ms < ? AND seq <= (SELECT COALESCE(MIN(COALESCE(pending_seq - 1, cursor)), 9007199254740991) FROM subscriptions)`).run(cutoff);
    this.q('DELETE FROM dead_letters WHERE at_ms < ?').run(cutoff);
    this.q('DELETE FROM decisions WHERE at_ms < ?').run(now - this.decisionRetentionMs);
    for (const id of this.q('DELETE FROM capacity_windows WHERE ended = 1 AND end_ms < ? RETURNING id').pluck().all(cutoff) as string[]) this.change('window', id, now);
    const purgedThrough = this.q('SELECT MAX(seq) FROM changes WHERE at_ms < ?').pluck().get(now - CHANGES_RETENTION_MS) as number | null;
    if (purgedThrough !== null) {
      this.q('DELETE FROM changes WHERE seq <= ?').run(purgedThrough);
      this.q("UPDATE counters SET value = MAX(value, ?) WHERE name = 'changes_purged_through'").run(purgedThrough);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Events.

  async events(
    after: number,
    options: { readonly limit?: number; readonly visibleTo?: { readonly owner: string; readonly seesAll: boolean }; readonly types?: readonly string[] } = {},
  ): Promise<readonly LedgerEvent[]> {
    if (!Number.isSafeInteger(after) || after < 0) throw invalid('after', 'expected a whole number ≥ 0');
    const limit = options.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const t = typeFilter(options.types);
    const own = options.visibleTo && !options.visibleTo.seesAll;
    const sql = `SELECT * FROM events WHERE seq > ?${own ? ' AND owner = ?' : ''}${t.sql} ORDER BY seq LIMIT ?`;
    const params = [after, ...(own ? [options.visibleTo!.owner] : []), ...t.params, limit];
    return (this.q(sql).all(...params) as EventRow[]).map(eventOf);
  }

  async emit(event: Omit<LedgerEvent, 'seq' | 'id' | 'at'> & { readonly at?: EpochMs }): Promise<LedgerEvent> {
    const data = event.data ?? {};
    jsonOf(data, 'event.data');
    validate.id(event.subject, 'event.subject');
    if (!/^[a-z]+(\.[a-z]+)+$/.test(event.type)) throw invalid('event.type', 'expected a dotted event type');
    const at = event.at === undefined ? undefined : validate.instant(event.at, 'event.at');
    return this.write(() => this.event(event.type, event.owner, event.subject, { ...data }, at ?? this.clock()));
  }

  async lastEventSeq(): Promise<number> {
    return (this.q("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").pluck().get() as number) ?? 0;
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions and deliveries.

  private deadLettersOf(id: string): DeadLetter[] {
    return (this.q('SELECT * FROM dead_letters WHERE subscription_id = ? ORDER BY seq').all(id) as { event_id: string; seq: number; attempts: number; last_error: string; at_ms: number }[]).map(
      (d) => ({ eventId: d.event_id, seq: d.seq, attempts: d.attempts, lastError: d.last_error, at: d.at_ms }),
    );
  }

  private subscriptionRecord(r: SubscriptionRow): SubscriptionRecord {
    return {
      id: r.id,
      owner: r.owner,
      seesAll: r.sees_all === 1,
      url: r.url,
      events: JSON.parse(r.events_json) as string[],
      createdAt: r.created_ms,
      cursor: r.cursor,
      ...(r.pending_seq !== null
        ? { pending: { seq: r.pending_seq, attempts: r.attempts, nextAttemptAt: r.next_attempt_ms ?? 0, ...(r.last_error !== null ? { lastError: r.last_error } : {}) } }
        : {}),
      delivered: r.delivered,
      deadLetters: this.deadLettersOf(r.id),
    };
  }

  async subscribe(input: SubscriptionInput): Promise<SubscriptionRecord> {
    const s = validate.subscription(input);
    return this.write(() => {
      const now = this.clock();
      if (this.q('SELECT 1 FROM subscriptions WHERE id = ?').get(s.id) !== undefined) {
        throw new AdmissionError('AC_ERR_CONFLICT', `subscription '${s.id}' exists already`, [{ field: 'id', reason: 'duplicate subscription id' }]);
      }
      // Deliveries start after the last event committed before the subscription.
      const cursor = (this.q("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").pluck().get() as number) ?? 0;
      this.q('INSERT INTO subscriptions (id, owner, sees_all, url, events_json, secret, created_ms, cursor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
        s.id,
        s.owner,
        s.seesAll ? 1 : 0,
        s.url,
        JSON.stringify(s.events),
        s.secret,
        now,
        cursor,
      );
      const record = this.subscriptionRecord(this.q('SELECT * FROM subscriptions WHERE id = ?').get(s.id) as SubscriptionRow);
      this.auditRow(s.actor, 'subscription.created', s.id, null, { id: s.id, owner: s.owner, seesAll: s.seesAll, url: s.url, events: s.events }, now);
      return record;
    });
  }

  async subscription(id: string): Promise<SubscriptionRecord | undefined> {
    return this.read(() => {
      const row = this.q('SELECT * FROM subscriptions WHERE id = ?').get(id) as SubscriptionRow | undefined;
      return row && this.subscriptionRecord(row);
    });
  }

  async subscriptions(filter: { readonly owner?: string } = {}): Promise<readonly SubscriptionRecord[]> {
    return this.read(() => {
      const rows = (filter.owner === undefined
        ? this.q('SELECT * FROM subscriptions ORDER BY id').all()
        : this.q('SELECT * FROM subscriptions WHERE owner = ? ORDER BY id').all(filter.owner)) as SubscriptionRow[];
      return rows.map((r) => this.subscriptionRecord(r));
    });
  }

  async unsubscribe(id: string, actor: string): Promise<boolean> {
    validate.id(actor, 'actor');
    return this.write(() => {
      const row = this.q('SELECT * FROM subscriptions WHERE id = ?').get(id) as SubscriptionRow | undefined;
      if (!row) return false;
      this.q('DELETE FROM subscriptions WHERE id = ?').run(id);
      this.auditRow(actor, 'subscription.deleted', id, { id, owner: row.owner, seesAll: row.sees_all === 1, url: row.url, events: JSON.parse(row.events_json) as unknown }, null, this.clock());
      return true;
    });
  }

  /** The next event after the subscription's cursor that it matches and its owner may see. */
  private nextEventFor(s: SubscriptionRow): EventRow | undefined {
    const t = typeFilter(JSON.parse(s.events_json) as string[]);
    const own = s.sees_all === 0;
    return this.q(`SELECT * FROM events WHERE seq > ?${own ? ' AND owner = ?' : ''}${t.sql} ORDER BY seq LIMIT 1`).get(s.cursor, ...(own ? [s.owner] : []), ...t.params) as
      | EventRow
      | undefined;
  }

  /** The subscription whose delivery is due at `now`, with its event; or what cursors may skip (no matching event up to the last). */
  private dueDelivery(now: number): { sub: SubscriptionRow; event: EventRow } | { skip: { id: string; to: number }[] } {
    const last = (this.q("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").pluck().get() as number) ?? 0;
    const skip: { id: string; to: number }[] = [];
    for (const s of this.q('SELECT * FROM subscriptions ORDER BY id').all() as SubscriptionRow[]) {
      if (s.pending_seq !== null) {
        if ((s.next_attempt_ms ?? 0) > now) continue;
        const event = this.q('SELECT * FROM events WHERE seq = ?').get(s.pending_seq) as EventRow | undefined;
        if (event) return { sub: s, event };
        continue;
      }
      if (s.cursor >= last) continue;
      const event = this.nextEventFor(s);
      if (event) return { sub: s, event };
      skip.push({ id: s.id, to: last });
    }
    return { skip };
  }

  async claimDelivery(now: EpochMs, leaseMs: number): Promise<DeliveryClaim | undefined> {
    validate.instant(now, 'now');
    if (!Number.isSafeInteger(leaseMs) || leaseMs <= 0) throw invalid('leaseMs', 'expected a whole number of milliseconds > 0');
    // Looked at first without the write lock: most polls find nothing due.
    const seen = this.read(() => this.dueDelivery(now));
    if ('skip' in seen && seen.skip.length === 0) return undefined;
    return this.write(() => {
      const due = this.dueDelivery(now);
      if ('skip' in due) {
        // Nothing this subscription matches up to the last event: its cursor moves past them (so they can be purged).
        for (const s of due.skip) this.q('UPDATE subscriptions SET cursor = MAX(cursor, ?) WHERE id = ? AND pending_seq IS NULL').run(s.to, s.id);
        return undefined;
      }
      const { sub, event } = due;
      const token = randomUUID();
      const attempts = (sub.pending_seq === event.seq ? sub.attempts : 0) + 1;
      this.q('UPDATE subscriptions SET pending_seq = ?, attempts = ?, next_attempt_ms = ?, lease_token = ? WHERE id = ?').run(event.seq, attempts, now + leaseMs, token, sub.id);
      const row = this.q('SELECT * FROM subscriptions WHERE id = ?').get(sub.id) as SubscriptionRow;
      return { subscription: { ...this.subscriptionRecord(row), secret: row.secret }, event: eventOf(event), attempt: attempts, token };
    });
  }

  async settleDelivery(token: string, outcome: { readonly ok: true } | { readonly ok: false; readonly error: string; readonly retryAt: EpochMs | null }): Promise<void> {
    validate.id(token, 'token');
    this.write(() => {
      const s = this.q('SELECT * FROM subscriptions WHERE lease_token = ?').get(token) as SubscriptionRow | undefined;
      if (!s || s.pending_seq === null) {
        throw new AdmissionError('AC_ERR_CONFLICT', 'the delivery claim is no longer held (settled already, or its lease lapsed and it was claimed again)', [
          { field: 'token', reason: 'unknown or superseded claim' },
        ]);
      }
      if (outcome.ok) {
        this.q('UPDATE subscriptions SET cursor = pending_seq, delivered = delivered + 1, pending_seq = NULL, attempts = 0, next_attempt_ms = NULL, last_error = NULL, lease_token = NULL WHERE id = ?').run(s.id);
      } else if (outcome.retryAt !== null) {
        const retryAt = validate.instant(outcome.retryAt, 'outcome.retryAt');
        this.q('UPDATE subscriptions SET next_attempt_ms = ?, last_error = ?, lease_token = NULL WHERE id = ?').run(retryAt, String(outcome.error), s.id);
      } else {
        const eventId = (this.q('SELECT id FROM events WHERE seq = ?').pluck().get(s.pending_seq) as string | undefined) ?? '';
        this.q('INSERT OR REPLACE INTO dead_letters (subscription_id, seq, event_id, attempts, last_error, at_ms) VALUES (?, ?, ?, ?, ?, ?)').run(
          s.id,
          s.pending_seq,
          eventId,
          s.attempts,
          String(outcome.error),
          this.clock(),
        );
        this.q('UPDATE subscriptions SET cursor = pending_seq, pending_seq = NULL, attempts = 0, next_attempt_ms = NULL, last_error = NULL, lease_token = NULL WHERE id = ?').run(s.id);
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Settings (cached per database version) and audit.

  private readPolicy(): PolicyRecord {
    const row = this.q('SELECT cost, eco, risk, trust, generation, updated_ms FROM policy WHERE id = 1').get() as PolicyRow;
    return frozen({ weights: { cost: row.cost, eco: row.eco, risk: row.risk, trust: row.trust }, generation: row.generation, updatedAt: row.updated_ms });
  }

  private readDefaults(): ConstraintsRecord {
    const row = this.q('SELECT eco, trust, risk, cost, generation, updated_ms FROM default_constraints WHERE id = 1').get() as ConstraintsRow;
    return frozen({ constraints: { eco: row.eco, trust: row.trust, risk: row.risk, cost: row.cost }, generation: row.generation, updatedAt: row.updated_ms });
  }

  private serviceRow(serviceId: string): ServiceConstraintsRow | undefined {
    return this.q('SELECT * FROM service_constraints WHERE service_id = ?').get(serviceId) as ServiceConstraintsRow | undefined;
  }

  private readOverride(serviceId: string): ServiceConstraintsRecord | undefined {
    if (this.db.inTransaction) {
      const row = this.serviceRow(serviceId);
      return row && row.deleted === 0 ? frozen(serviceRecord(row)) : undefined;
    }
    this.checkVersion();
    let record = this.cache.overrides.get(serviceId);
    if (record === undefined) {
      const row = this.serviceRow(serviceId);
      record = row && row.deleted === 0 ? frozen(serviceRecord(row)) : null;
      if (this.cache.overrides.size >= MAX_CACHED_OVERRIDES) this.cache.overrides.clear();
      this.cache.overrides.set(serviceId, record);
    }
    return record ?? undefined;
  }

  async policy(): Promise<PolicyRecord> {
    this.checkVersion();
    return (this.cache.policy ??= this.readPolicy());
  }

  async setPolicy(weights: Weights, actor: string, expectedGeneration?: number): Promise<PolicyRecord> {
    const w = validate.weights(weights);
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    return this.write(() => {
      const before = this.readPolicy();
      if (expectedGeneration !== undefined && expectedGeneration !== before.generation) throw generationConflict('the policy', expectedGeneration, before.generation);
      const now = this.clock();
      this.q('UPDATE policy SET cost = ?, eco = ?, risk = ?, trust = ?, generation = ?, updated_ms = ? WHERE id = 1').run(w.cost, w.eco, w.risk, w.trust, before.generation + 1, now);
      const after = this.readPolicy();
      this.auditRow(actor, 'policy.set', 'policy', before, after, now);
      return after;
    });
  }

  async defaultConstraints(): Promise<ConstraintsRecord> {
    this.checkVersion();
    return (this.cache.defaults ??= this.readDefaults());
  }

  async setDefaultConstraints(constraints: TrecConstraints, actor: string, expectedGeneration?: number): Promise<ConstraintsRecord> {
    const c = validate.constraints(constraints);
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    return this.write(() => {
      const before = this.readDefaults();
      if (expectedGeneration !== undefined && expectedGeneration !== before.generation) throw generationConflict('the default constraints', expectedGeneration, before.generation);
      const now = this.clock();
      this.q('UPDATE default_constraints SET eco = ?, trust = ?, risk = ?, cost = ?, generation = ?, updated_ms = ? WHERE id = 1').run(c.eco, c.trust, c.risk, c.cost, before.generation + 1, now);
      const after = this.readDefaults();
      this.auditRow(actor, 'constraints.default.set', 'constraints.default', before, after, now);
      return after;
    });
  }

  async serviceConstraints(serviceId: string): Promise<ServiceConstraintsRecord | undefined> {
    return this.readOverride(serviceId);
  }

  async setServiceConstraints(serviceId: string, constraints: Partial<TrecConstraints>, actor: string, expectedGeneration?: number): Promise<ServiceConstraintsRecord> {
    validate.id(serviceId, 'serviceId');
    const c = validate.partialConstraints(constraints);
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    return this.write(() => {
      const row = this.serviceRow(serviceId);
      const current = row && row.deleted === 0 ? row.generation : 0;
      if (expectedGeneration !== undefined && expectedGeneration !== current) throw generationConflict(`the constraints of service '${serviceId}'`, expectedGeneration, current);
      const now = this.clock();
      const next = (row?.generation ?? 0) + 1;
      this.q(
        `INSERT INTO service_constraints (service_id, eco, trust, risk, cost, deleted, generation, updated_ms)
         VALUES (@serviceId, @eco, @trust, @risk, @cost, 0, @next, @now)
         ON CONFLICT (service_id) DO UPDATE SET eco = @eco, trust = @trust, risk = @risk, cost = @cost, deleted = 0, generation = @next, updated_ms = @now`,
      ).run({ serviceId, eco: c.eco ?? null, trust: c.trust ?? null, risk: c.risk ?? null, cost: c.cost ?? null, next, now });
      const after = serviceRecord(this.serviceRow(serviceId)!);
      this.auditRow(actor, 'constraints.service.set', serviceId, row && row.deleted === 0 ? serviceRecord(row) : null, after, now);
      return after;
    });
  }

  async deleteServiceConstraints(serviceId: string, actor: string, expectedGeneration?: number): Promise<boolean> {
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    return this.write(() => {
      const row = this.serviceRow(serviceId);
      if (!row || row.deleted === 1) return false;
      if (expectedGeneration !== undefined && expectedGeneration !== row.generation) throw generationConflict(`the constraints of service '${serviceId}'`, expectedGeneration, row.generation);
      const now = this.clock();
      // A tombstone keeps the generation counting (a re-created override cannot match a pre-delete generation: ABA).
      this.q('UPDATE service_constraints SET deleted = 1, eco = NULL, trust = NULL, risk = NULL, cost = NULL, generation = ?, updated_ms = ? WHERE service_id = ?').run(row.generation + 1, now, serviceId);
      this.auditRow(actor, 'constraints.service.deleted', serviceId, serviceRecord(row), null, now);
      return true;
    });
  }

  async effectiveConstraints(serviceId: string, fromManifest?: Partial<TrecConstraints>): Promise<EffectiveConstraints> {
    const manifest = fromManifest === undefined ? {} : validate.manifestConstraints(fromManifest);
    this.checkVersion();
    const base = (this.cache.defaults ??= this.readDefaults()).constraints;
    const override = this.readOverride(serviceId)?.constraints ?? {};
    const constraints: Record<string, number> = {};
    const sources: Record<string, ConstraintSource> = {};
    for (const k of BOUNDS) {
      const [value, source]: [number, ConstraintSource] =
        override[k] !== undefined ? [override[k], 'service'] : manifest[k] !== undefined ? [manifest[k], 'manifest'] : [base[k], 'default'];
      constraints[k] = value;
      sources[k] = source;
    }
    return { constraints: constraints as unknown as TrecConstraints, sources: sources as EffectiveConstraints['sources'] };
  }

  async audit(filter: AuditFilter = {}): Promise<readonly AuditRecord[]> {
    const limit = filter.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    if (filter.after !== undefined && (!Number.isSafeInteger(filter.after) || filter.after < 0)) throw invalid('after', 'expected a whole number ≥ 0');
    const parts = ['seq > @after'];
    const params: Record<string, unknown> = { after: filter.after ?? 0, limit };
    for (const [key, column] of [['actor', 'actor'], ['action', 'action'], ['subject', 'subject']] as const) {
      if (filter[key] !== undefined) {
        parts.push(`${column} = @${key}`);
        params[key] = filter[key];
      }
    }
    if (filter.from !== undefined) {
      parts.push('at_ms >= @from');
      params.from = validate.instant(filter.from, 'filter.from');
    }
    if (filter.to !== undefined) {
      parts.push('at_ms < @to');
      params.to = validate.instant(filter.to, 'filter.to');
    }
    const rows = this.q(`SELECT * FROM audit WHERE ${parts.join(' AND ')} ORDER BY seq LIMIT @limit`).all(params) as {
      seq: number;
      at_ms: number;
      actor: string;
      action: string;
      subject: string;
      before_json: string | null;
      after_json: string | null;
    }[];
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at_ms,
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      before: r.before_json === null ? null : (JSON.parse(r.before_json) as unknown),
      after: r.after_json === null ? null : (JSON.parse(r.after_json) as unknown),
    }));
  }

  // -------------------------------------------------------------------------------------------
  // Decision log.

  async recordDecisions(decisions: readonly DecisionInput[]): Promise<void> {
    validate.decisions(decisions);
    if (decisions.length === 0) return;
    // A log, not an acknowledgement: its commit skips the fsync (synchronous = NORMAL for this transaction only). In
    // WAL mode it survives kill -9 as every commit does, and power loss once the next durable commit (a booking, any
    // state change) syncs the log file — so a dry-run does not pay for a disk flush.
    const durable = this.durability.synchronous;
    if (durable !== 'NORMAL') this.q('PRAGMA synchronous = NORMAL').run();
    try {
      this.writeDecisions(decisions);
    } finally {
      if (durable !== 'NORMAL') this.q(`PRAGMA synchronous = ${durable}`).run();
    }
  }

  private writeDecisions(decisions: readonly DecisionInput[]): void {
    this.write(() => {
      const st = this.q(
        `INSERT INTO decisions (id, at_ms, request_id, owner, service_id, admission_id, decision, dry_run, reasons_json, duration_ms, detail_json)
         VALUES (@id, @at, @requestId, @owner, @serviceId, @admissionId, @decision, @dryRun, @reasons, @durationMs, @detail)`,
      );
      for (const d of decisions) {
        st.run({
          id: d.id,
          at: d.at,
          requestId: d.requestId,
          owner: d.owner,
          serviceId: d.serviceId,
          admissionId: d.admissionId,
          decision: d.decision,
          dryRun: d.dryRun ? 1 : 0,
          reasons: JSON.stringify(d.reasons),
          durationMs: d.durationMs,
          detail: JSON.stringify(d.detail ?? null),
        });
      }
    });
  }

  async decision(id: string): Promise<DecisionRecord | undefined> {
    const row = this.q('SELECT * FROM decisions WHERE id = ?').get(id) as DecisionRow | undefined;
    return row && decisionOfRow(row);
  }

  async decisions(filter: DecisionFilter, page: { readonly limit?: number; readonly cursor?: string } = {}): Promise<Page<DecisionRecord>> {
    const limit = page.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const parts: string[] = [];
    const params: Record<string, unknown> = { limit: limit + 1 };
    for (const [key, column] of [['owner', 'owner'], ['serviceId', 'service_id'], ['admissionId', 'admission_id'], ['requestId', 'request_id'], ['decision', 'decision']] as const) {
      if (filter[key] !== undefined) {
        parts.push(`${column} = @${key}`);
        params[key] = filter[key];
      }
    }
    if (filter.from !== undefined) {
      parts.push('at_ms >= @from');
      params.from = validate.instant(filter.from, 'filter.from');
    }
    if (filter.to !== undefined) {
      parts.push('at_ms < @to');
      params.to = validate.instant(filter.to, 'filter.to');
    }
    if (page.cursor !== undefined) {
      const [at, id] = decodeCursor(page.cursor);
      parts.push('(at_ms, id) > (@cAt, @cId)');
      params.cAt = at;
      params.cId = id;
    }
    const where = parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '';
    const rows = this.q(`SELECT * FROM decisions ${where} ORDER BY at_ms, id LIMIT @limit`).all(params) as DecisionRow[];
    const more = rows.length > limit;
    if (more) rows.pop();
    const last = rows[rows.length - 1];
    return { items: rows.map(decisionOfRow), nextCursor: more && last ? encodeCursor(last.at_ms, last.id) : null };
  }

  async capabilityOverrides(): Promise<CapabilityOverrides> {
    this.checkVersion();
    const rows = this.q('SELECT * FROM host_capabilities ORDER BY host_id').all() as HostCapabilityRow[];
    const byHost = new Map(rows.map((r) => [r.host_id, frozen(capabilityOverrideOf(r))]));
    let version = 0;
    for (const o of byHost.values()) version += o.generation;
    return { version, byHost };
  }

  async setHostCapabilities(hostId: string, set: Readonly<Record<string, string | true | null>>, actor: string): Promise<HostCapabilityOverride> {
    validate.id(hostId, 'hostId');
    validate.id(actor, 'actor');
    return this.write(() => {
      const row = this.q('SELECT * FROM host_capabilities WHERE host_id = ?').get(hostId) as HostCapabilityRow | undefined;
      const before = row ? capabilityOverrideOf(row) : undefined;
      const next = changedCapabilities(before, set);
      const now = this.clock();
      const generation = (before?.generation ?? 0) + 1;
      this.q(
        `INSERT INTO host_capabilities (host_id, set_json, removed_json, generation, updated_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (host_id) DO UPDATE SET set_json = excluded.set_json, removed_json = excluded.removed_json, generation = excluded.generation, updated_ms = excluded.updated_ms`,
      ).run(hostId, JSON.stringify(next.set), JSON.stringify(next.removed), generation, now);
      const after: HostCapabilityOverride = { hostId, set: next.set, removed: next.removed, generation, updatedAt: now };
      this.auditRow(actor, 'host.capabilities.set', hostId, before ?? null, after, now);
      this.event('host.capabilities.changed', null, hostId, { hostId, change: { ...set }, set: next.set, removed: next.removed, generation }, now);
      return frozen(after);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Charges (ledger/charges.ts): settled inside the transaction of the change that causes them.

  /** Appends what the admission's state costs it beyond its records; one charge.recorded event when anything was. */
  private settleCharges(id: string, cause: 'confirm' | 'reschedule' | 'release' | 'advance', now: number): LedgerEvent | undefined {
    const row = this.admissionRow(id);
    if (!row || row.charge_plan_json === null) return undefined;
    const plan = JSON.parse(row.charge_plan_json) as ChargePlan;
    const record = admissionRecord(row, [], now);
    const net = new Map<string, number>();
    for (const r of this.q('SELECT resource, SUM(amount_micros) AS micros FROM charges WHERE owner = ? AND ref = ? GROUP BY resource').all(row.owner, id) as { resource: string; micros: number }[]) {
      net.set(r.resource, r.micros / MICROS);
    }
    const deltas = chargeDeltas(chargeTarget(plan, record, now), net);
    const next = nextChargeAt(plan, record, now);
    this.q('UPDATE admissions SET charge_next_ms = ? WHERE id = ?').run(next, id);
    if (deltas.length === 0) return undefined;
    const written = deltas.map((d) => this.appendCharge(row.owner, id, row.service_id, `${cause}:${row.generation}:${now}`, settlementKind(cause, d.amount), d.resource, d.amount, plan.currency, now));
    return this.event('charge.recorded', row.owner, id, { serviceId: row.service_id, cause, currency: plan.currency, total: money(written.reduce((s, r) => s + r.amount, 0)), records: written.map(chargeJson) }, now);
  }

  /** One record and its balance, in the caller's transaction; a key already recorded appends nothing. */
  private appendCharge(owner: string, ref: string, serviceId: string | null, key: string, kind: ChargeKind, resource: string, amount: number, currency: string, now: number): ChargeRecord {
    const id = `chg-${randomUUID()}`;
    const seq = this.q(
      `INSERT INTO charges (id, owner, ref, service_id, key, kind, resource, amount_micros, currency, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (owner, ref, key, resource) DO NOTHING RETURNING seq`,
    )
      .pluck()
      .get(id, owner, ref, serviceId, key, kind, resource, Math.round(amount * MICROS), currency, now) as number | undefined;
    if (seq !== undefined) {
      this.q(
        `INSERT INTO charge_balances (owner, currency, amount_micros, records) VALUES (?, ?, ?, 1)
         ON CONFLICT (owner, currency) DO UPDATE SET amount_micros = amount_micros + excluded.amount_micros, records = records + 1`,
      ).run(owner, currency, Math.round(amount * MICROS));
    }
    return { seq: seq ?? 0, id, owner, admissionId: ref === '' ? null : ref, serviceId, key, kind, resource: resource === '' ? null : resource, amount, currency, at: now };
  }

  async charges(filter: ChargeFilter, page: { readonly limit?: number; readonly cursor?: string } = {}): Promise<Page<ChargeRecord>> {
    const limit = page.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const parts: string[] = [];
    const params: Record<string, unknown> = { limit: limit + 1 };
    if (filter.owner !== undefined) {
      parts.push('owner = @owner');
      params.owner = filter.owner;
    }
    if (filter.admissionId !== undefined) {
      parts.push('ref = @ref');
      params.ref = filter.admissionId;
    }
    if (filter.from !== undefined) {
      parts.push('at_ms >= @from');
      params.from = validate.instant(filter.from, 'filter.from');
    }
    if (filter.to !== undefined) {
      parts.push('at_ms < @to');
      params.to = validate.instant(filter.to, 'filter.to');
    }
    if (page.cursor !== undefined) {
      const seq = Number(page.cursor);
      if (!Number.isSafeInteger(seq) || seq < 0) throw invalid('cursor', 'expected a cursor from an earlier page');
      parts.push('seq > @cursor');
      params.cursor = seq;
    }
    return this.read(() => {
      const rows = this.q(`SELECT * FROM charges ${parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : ''} ORDER BY seq LIMIT @limit`).all(params) as ChargeRecordRow[];
      const more = rows.length > limit;
      if (more) rows.pop();
      return { items: rows.map(chargeRecord), nextCursor: more ? String(rows[rows.length - 1]!.seq) : null };
    });
  }

  async chargeBalance(owner: string): Promise<ChargeBalance | undefined> {
    return this.read(() => {
      const r = this.q('SELECT * FROM charge_balances WHERE owner = ? ORDER BY currency LIMIT 1').get(owner) as ChargeBalanceRow | undefined;
      return r ? chargeBalance(r) : undefined;
    });
  }

  async grantCredits(owner: string, periodKey: string, credits: number, currency: string): Promise<ChargeBalance> {
    validate.id(owner, 'owner');
    if (!Number.isFinite(credits) || credits < 0) throw invalid('credits', 'expected a number ≥ 0');
    return this.write(() => {
      const now = this.clock();
      const key = `grant:${periodKey}`;
      if (this.q("SELECT 1 FROM charges WHERE owner = ? AND ref = '' AND key = ?").get(owner, key) === undefined) {
        const balance = ((this.q('SELECT amount_micros FROM charge_balances WHERE owner = ? AND currency = ?').pluck().get(owner, currency) as number | undefined) ?? 0) / MICROS;
        // Unused credits do not carry over; what is overdrawn stays owed.
        if (balance > 0) this.appendCharge(owner, '', null, `expire:${periodKey}`, 'expire', '', -balance, currency, now);
        this.appendCharge(owner, '', null, key, 'grant', '', credits, currency, now);
      }
      return chargeBalance(this.q('SELECT * FROM charge_balances WHERE owner = ? AND currency = ?').get(owner, currency) as ChargeBalanceRow);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Deployments (ledger/deployments.ts; the cloud calls are deploy/'s).

  private deploymentRow(admissionId: string): DeploymentRow | undefined {
    return this.q('SELECT * FROM deployments WHERE admission_id = ?').get(admissionId) as DeploymentRow | undefined;
  }

  async deployment(admissionId: string): Promise<DeploymentRecord | undefined> {
    validate.id(admissionId, 'admissionId');
    const row = this.read(() => this.deploymentRow(admissionId));
    return row && frozen(deploymentRecord(row));
  }

  async deployments(filter: DeploymentFilter): Promise<readonly DeploymentRecord[]> {
    const f = validateDeployment.filter(filter);
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.statuses) {
      if (f.statuses.length === 0) return [];
      where.push(`d.status IN (${f.statuses.map(() => '?').join(', ')})`);
      params.push(...f.statuses);
    }
    if (f.dueBy !== undefined) {
      where.push('d.not_before_ms <= ?');
      params.push(f.dueBy);
    }
    if (f.admissionClosed) where.push("a.status IN ('ended', 'released', 'expired')");
    const rows = this.read(
      () =>
        this.db
          .prepare(`SELECT d.* FROM deployments d JOIN admissions a ON a.id = d.admission_id ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.not_before_ms, d.admission_id LIMIT ?`)
          .all(...params, f.limit) as DeploymentRow[],
    );
    return rows.map((r) => frozen(deploymentRecord(r)));
  }

  async updateDeployment(
    admissionId: string,
    expectedGeneration: number,
    update: DeploymentUpdate,
    events: readonly { readonly type: EventType; readonly data: Readonly<Record<string, unknown>> }[] = [],
  ): Promise<DeploymentRecord> {
    validate.id(admissionId, 'admissionId');
    const u = validateDeployment.update(update);
    return this.write(() => {
      const row = this.deploymentRow(admissionId);
      if (!row) throw notFound('deployment', admissionId);
      const before = deploymentRecord(row);
      if (before.generation !== expectedGeneration) throw generationConflict(`deployment of '${admissionId}'`, expectedGeneration, before.generation);
      const now = this.clock();
      const c = updatedColumns(before, u);
      this.q(
        `UPDATE deployments SET status = ?, vms_json = ?, attempts = ?, error = ?, lease_holder = ?, lease_until_ms = ?, not_before_ms = ?, generation = generation + 1, updated_ms = ?
         WHERE admission_id = ?`,
      ).run(c.status, c.vmsJson, c.attempts, c.error, c.leaseHolder, c.leaseUntil, c.notBefore, now, admissionId);
      for (const e of events) this.event(e.type, before.owner, admissionId, { ...e.data }, now);
      return frozen(deploymentRecord(this.deploymentRow(admissionId)!));
    });
  }

  async loseDeploymentVm(admissionId: string, slot: string, reason: string, actor: string): Promise<{ readonly record: DeploymentRecord; readonly freed: HostAmount | null }> {
    validate.id(admissionId, 'admissionId');
    validateDeployment.slot(slot);
    validate.id(actor, 'actor');
    return this.write(() => {
      const row = this.deploymentRow(admissionId);
      if (!row) throw notFound('deployment', admissionId);
      const before = deploymentRecord(row);
      const now = this.clock();
      const admission = this.admissionRow(admissionId);
      const holding = admission !== undefined && isHolding(admissionRecord(admission, [], now).status);
      const allocation = this.allocations(admissionId).find((a) => a.host_id === before.vms.find((v) => v.slot === slot)?.hostId);
      const lost = lostVm(before, slot, reason, holding && allocation ? { hostId: allocation.host_id, cpus: allocation.cpus, memoryMb: allocation.memory_mb } : undefined);
      if (!lost) throw notFound('deployment slot', `${admissionId}/${slot}`);
      if (lost.unchanged) return { record: frozen(before), freed: null };
      const freed = holding ? lost.freed : null;
      if (freed && allocation) {
        const cpus = allocation.cpus - freed.cpus;
        const memoryMb = allocation.memory_mb - freed.memoryMb;
        if (cpus <= EPSILON && memoryMb <= EPSILON) this.q('DELETE FROM allocations WHERE admission_id = ? AND host_id = ?').run(admissionId, allocation.host_id);
        else this.q('UPDATE allocations SET cpus = ?, memory_mb = ? WHERE admission_id = ? AND host_id = ?').run(Math.max(0, cpus), Math.max(0, memoryMb), admissionId, allocation.host_id);
        this.q('UPDATE admissions SET generation = generation + 1 WHERE id = ?').run(admissionId);
        this.change('admission', admissionId, now);
        this.bumpHosts([allocation.host_id], now);
      }
      this.q('UPDATE deployments SET vms_json = ?, generation = generation + 1, updated_ms = ? WHERE admission_id = ?').run(JSON.stringify(lost.vms), now, admissionId);
      this.event('deployment.vm_lost', before.owner, admissionId, { slot, componentId: lost.vm.componentId, hostId: lost.vm.hostId, ...(lost.vm.vmId !== undefined ? { vmId: lost.vm.vmId } : {}), reason: lost.reason, freed }, now);
      this.auditRow(actor, 'deployment.vm_lost', admissionId, lost.vm, { ...lost.vm, state: 'lost', error: lost.reason }, now);
      return { record: frozen(deploymentRecord(this.deploymentRow(admissionId)!)), freed };
    });
  }

  async ping(): Promise<void> {
    this.q('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.bookQueue.length > 0) this.flushBooks();
    if (this.db.open) this.db.close();
  }
}

/** The window check of capacity(), without zod (it is on the hot path). */
function quickWindow(w: TimeWindow): TimeWindow {
  if (
    w !== null &&
    typeof w === 'object' &&
    Number.isSafeInteger(w.start) &&
    (w.end === null || (Number.isSafeInteger(w.end) && (w.end as number) > w.start))
  ) {
    return w;
  }
  return validate.window(w);
}

function chargeJson(r: ChargeRecord): Record<string, unknown> {
  return { id: r.id, kind: r.kind, resource: r.resource, amount: r.amount, key: r.key };
}
