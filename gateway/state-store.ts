/**
 * The gateway's durable state on SQLite (better-sqlite3): the TREC weights policy, TREC constraints, and the admissions that hold capacity.
 * A database adapter only: it validates what it stores and enforces generations and transactions; HTTP, solving and host capacity live elsewhere.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { ServiceDecisionKind } from '../admission-controller/decisions';
import { constraintsSchema, weightsSchema } from '../config/config';
import { AdmissionError, type ErrorDetail } from '../model/errors';
import type { TrecConstraints, Weights } from '../model/types';

/*
 * Decisions:
 * - Generations (optimistic concurrency, as OpenStack Placement's resource-provider generations): every record carries a
 *   generation that each write increments. A writer that passes `expectedGeneration` gets AC_ERR_CONFLICT when someone
 *   else wrote first, instead of silently overwriting (OPTIMIS's D2: last GET wins, for everyone). The seeded policy and
 *   default constraints start at generation 1; a per-service override that does not exist counts as generation 0, so
 *   `expectedGeneration: 0` means "create only if absent".
 * - A deleted per-service override leaves a tombstone that keeps its generation, so a re-created override continues the
 *   count: a client holding a generation from before the delete cannot overwrite the new record by coincidence (ABA).
 * - The seeds (policy, default constraints) come from the config only when the database has none: once an operator has
 *   set a policy it survives restarts, whatever the config says. D3 was exactly a policy that only looked set.
 * - Admissions hold capacity from recordAdmission until releaseAdmission or expiresAt (exclusive), whichever is first.
 *   Every record/release increments one capacity generation; a caller that read capacitySnapshot() before a solve passes
 *   that generation to recordAdmission and gets AC_ERR_CONFLICT if capacity changed meanwhile (no double booking, also
 *   between processes sharing the file).
 * - Writes run in BEGIN IMMEDIATE transactions: the write lock is taken before the generation is read, so two
 *   connections cannot both pass the same check. WAL lets readers proceed while one connection writes.
 * - Times are stored as epoch milliseconds (exact comparisons in SQL) and returned as ISO 8601 strings.
 */

/** A point in time: a Date, epoch milliseconds, or an ISO 8601 string. */
export type Instant = Date | number | string;

export interface PolicyRecord {
  readonly weights: Weights;
  readonly generation: number;
  /** ISO 8601. */
  readonly updatedAt: string;
}

export interface ConstraintsRecord {
  readonly constraints: TrecConstraints;
  readonly generation: number;
  readonly updatedAt: string;
}

/** An operator's per-service override: any subset of the four bounds (the others come from the manifest or the default). */
export interface ServiceConstraintsRecord {
  readonly serviceId: string;
  readonly constraints: Partial<TrecConstraints>;
  readonly generation: number;
  readonly updatedAt: string;
}

export type ConstraintSource = 'default' | 'manifest' | 'service';

export interface EffectiveConstraints {
  readonly constraints: TrecConstraints;
  /** Where each bound came from, for explanations ("cost ≤ 500, set by the operator for this service"). */
  readonly sources: { readonly [K in keyof TrecConstraints]: ConstraintSource };
}

export interface HostReservation {
  readonly hostId: string;
  readonly cpus: number;
  readonly memoryMb: number;
}

/** CPUs and memory on one host: what a booking takes there, or what the host may hold in all. */
export interface HostAmount {
  readonly hostId: string;
  readonly cpus: number;
  readonly memoryMb?: number;
}

export interface AdmissionInput {
  readonly id: string;
  /** The principal that made it; clients see and release only their own. */
  readonly owner: string;
  readonly serviceId: string;
  readonly decision: ServiceDecisionKind;
  readonly createdAt: Instant;
  /** Capacity is held while now < expiresAt. */
  readonly expiresAt: Instant;
  /** Capacity held per host; several entries for one host are added up; memoryMb defaults to 0. */
  readonly hosts: readonly HostAmount[];
  /** The response sent to the client (any JSON value), kept so that GET /admissions/{id} can return it again. */
  readonly response: unknown;
  /** When given, the write fails with AC_ERR_CONFLICT unless capacityGeneration() still equals it (but see hostLimits). */
  readonly expectedCapacityGeneration?: number;
  /**
   * With expectedCapacityGeneration: how much each booked host may hold in reservations in all (its CPUs and memory
   * minus what runs on it outside this store, from the host snapshot the solve used). When the generation has moved on,
   * the booking is still taken if it fits next to what is held at that moment, checked inside the write transaction:
   * only a booking that would overfill a host is a conflict (as Placement checks providers, not the whole cloud).
   */
  readonly hostLimits?: readonly HostAmount[];
}

export type AdmissionStatus = 'active' | 'released' | 'expired';

export interface AdmissionRecord {
  readonly id: string;
  readonly owner: string;
  readonly serviceId: string;
  readonly decision: ServiceDecisionKind;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly releasedAt?: string;
  /** As of the store's clock at the time of reading. */
  readonly status: AdmissionStatus;
  /** Sorted by host id. */
  readonly hosts: readonly HostReservation[];
  readonly response: unknown;
}

export interface CapacitySnapshot {
  readonly generation: number;
  readonly reserved: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }>;
}

/** StateStore.admissionReads: what an admission needs from the store. */
export interface AdmissionReads {
  readonly generation: number;
  /** Absent when the admission ignores reservations (OPTIMIS's cleanTestbed). */
  readonly reserved?: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }>;
  readonly policy: PolicyRecord;
  /** One per requested service, in order. */
  readonly constraints: readonly EffectiveConstraints[];
}

export interface StateStoreOptions {
  /** The database is `<dataDir>/eac.sqlite`; the directory is created when missing. */
  readonly dataDir: string;
  /** Seed of the policy when the database has none (AppConfig.defaultWeights). */
  readonly defaultWeights: Weights;
  /** Seed of the global default constraints when the database has none (AppConfig.defaultConstraints). */
  readonly defaultConstraints: TrecConstraints;
  /** Epoch milliseconds; injectable so that tests control expiry. Default Date.now. */
  readonly clock?: () => number;
  /** How long a write waits for another connection's lock before failing with AC_ERR_TIMEOUT, ms. Default 5000. */
  readonly busyTimeoutMs?: number;
}

export const DATABASE_FILE = 'eac.sqlite';

// ---------------------------------------------------------------------------------------------
// Schema. Append migrations; never edit one that has shipped (user_version records how many ran).

const MIGRATIONS: readonly string[] = [
  // v1
  `
  CREATE TABLE policy (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    cost        REAL NOT NULL CHECK (cost >= 0),
    eco         REAL NOT NULL CHECK (eco >= 0),
    risk        REAL NOT NULL CHECK (risk >= 0),
    trust       REAL NOT NULL CHECK (trust >= 0),
    generation  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
  );
  CREATE TABLE default_constraints (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    eco         REAL NOT NULL,
    trust       REAL NOT NULL,
    risk        REAL NOT NULL,
    cost        REAL NOT NULL,
    generation  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
  );
  -- NULL bound = not overridden; deleted = 1 is a tombstone that keeps the generation counting.
  CREATE TABLE service_constraints (
    service_id  TEXT PRIMARY KEY,
    eco         REAL,
    trust       REAL,
    risk        REAL,
    cost        REAL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    generation  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
  );
  CREATE TABLE admissions (
    id            TEXT PRIMARY KEY,
    service_id    TEXT NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('accepted', 'partial', 'rejected')),
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    released_ms   INTEGER,
    response_json TEXT NOT NULL
  );
  CREATE INDEX admissions_expiry ON admissions (expires_ms) WHERE released_ms IS NULL;
  CREATE INDEX admissions_service ON admissions (service_id);
  CREATE TABLE reservations (
    admission_id TEXT NOT NULL REFERENCES admissions (id) ON DELETE CASCADE,
    host_id      TEXT NOT NULL,
    cpus         REAL NOT NULL CHECK (cpus >= 0),
    memory_mb    REAL NOT NULL CHECK (memory_mb >= 0),
    PRIMARY KEY (admission_id, host_id)
  ) WITHOUT ROWID;
  CREATE INDEX reservations_host ON reservations (host_id);
  CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  INSERT INTO counters (name, value) VALUES ('capacity', 0);
  `,
  // v2: who made each admission (the principal's name); admissions from before principals belong to 'legacy'.
  `
  ALTER TABLE admissions ADD COLUMN owner TEXT NOT NULL DEFAULT 'legacy';
  CREATE INDEX admissions_owner ON admissions (owner);
  `,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

// ---------------------------------------------------------------------------------------------
// Validation of what callers hand in (bodies of PUT requests reach here through the gateway).

const finite = z.number({ error: 'expected a number' }).refine(Number.isFinite, { error: 'expected a finite number' });
const nonNegative = finite.refine((n) => n >= 0, { error: 'expected a number ≥ 0' });
const id = z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' });
const partialConstraintsSchema = constraintsSchema.partial().refine((c) => Object.values(c).some((v) => v !== undefined), {
  error: 'expected at least one of eco, trust, risk, cost',
});
/** Manifests are validated by their parser; here only what would corrupt arithmetic is refused. */
const manifestConstraintsSchema = z.object({ eco: finite.optional(), trust: finite.optional(), risk: finite.optional(), cost: finite.optional() });
const generationSchema = z.number().int().min(0).optional();
const hostAmount = z.object({ hostId: id, cpus: nonNegative, memoryMb: nonNegative.optional() });
const admissionSchema = z.object({
  id,
  owner: id,
  serviceId: id,
  decision: z.enum(['accepted', 'partial', 'rejected'], { error: 'expected accepted, partial or rejected' }),
  hosts: z.array(hostAmount),
  expectedCapacityGeneration: generationSchema,
  hostLimits: z.array(hostAmount).optional(),
});

function dotted(p: readonly PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const details: ErrorDetail[] = r.error.issues.map((i) => ({ field: dotted([what, ...i.path]), reason: i.message }));
  throw new AdmissionError('AC_ERR_INVALID_REQUEST', `invalid ${what}: ${details[0]!.field}: ${details[0]!.reason}`, details);
}

function toMs(t: Instant, field: string): number {
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) throw new AdmissionError('AC_ERR_INVALID_REQUEST', `invalid ${field}: not a time`, [{ field, reason: 'expected a Date, epoch ms or ISO 8601 string' }]);
  return ms;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function conflict(what: string, expected: number, current: number): AdmissionError {
  return new AdmissionError('AC_ERR_CONFLICT', `${what} was changed concurrently: expected generation ${expected}, current ${current}`, [
    { field: 'generation', reason: `expected ${expected}, current ${current}` },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Row shapes.

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
interface AdmissionRow {
  id: string;
  owner: string;
  service_id: string;
  decision: ServiceDecisionKind;
  created_ms: number;
  expires_ms: number;
  released_ms: number | null;
  response_json: string;
}
interface ReservationRow { admission_id: string; host_id: string; cpus: number; memory_mb: number }

const BOUNDS = ['eco', 'trust', 'risk', 'cost'] as const;

export class StateStore {
  /** Absolute path of the database file. */
  readonly file: string;
  private readonly db: Database.Database;
  private readonly clock: () => number;

  constructor(options: StateStoreOptions) {
    this.clock = options.clock ?? Date.now;
    const weights = check(weightsSchema, options.defaultWeights, 'defaultWeights');
    const constraints = check(constraintsSchema, options.defaultConstraints, 'defaultConstraints');
    this.file = path.resolve(options.dataDir, DATABASE_FILE);
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      this.db = new Database(this.file, { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw new AdmissionError('AC_ERR_CONFIG', `cannot open the database ${this.file}: ${(e as Error).message}`, [
        { field: 'dataDir', reason: (e as Error).message },
      ]);
    }
    try {
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a power loss may drop the last commits but never corrupts the file; fsync per commit is not worth it here.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.migrate();
      const now = this.clock();
      this.write(() => {
        this.stmt('INSERT OR IGNORE INTO policy (id, cost, eco, risk, trust, generation, updated_ms) VALUES (1, ?, ?, ?, ?, 1, ?)')
          .run(weights.cost, weights.eco, weights.risk, weights.trust, now);
        this.stmt('INSERT OR IGNORE INTO default_constraints (id, eco, trust, risk, cost, generation, updated_ms) VALUES (1, ?, ?, ?, ?, 1, ?)')
          .run(constraints.eco, constraints.trust, constraints.risk, constraints.cost, now);
      });
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  /** Closes the connection; the file keeps everything written. */
  /** Prepared statements are compiled once per SQL text: preparing costs more than running these queries. */
  private readonly statements = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  /**
   * What every admission reads (policy, default constraints, overrides, capacity generation, reservations), kept while
   * the database is unchanged: this connection's writes drop it (write()), and another connection's commits (another
   * worker or process on the same file) change PRAGMA data_version, which is checked on every cached read. Reads inside
   * a transaction bypass it, so that transactions see exactly their own snapshot.
   */
  private reads: ReadCache = emptyReadCache();
  private readsVersion = -1;

  private cachedReads(): ReadCache | undefined {
    if (this.db.inTransaction) return undefined;
    const version = this.stmt('PRAGMA data_version').pluck().get() as number;
    if (version !== this.readsVersion) {
      this.reads = emptyReadCache();
      this.readsVersion = version;
    }
    return this.reads;
  }

  /** The single-row reads the cache keeps; records come out frozen, as every caller may share them. */
  private readonly singleReads: { readonly [K in SingleRead]: () => NonNullable<ReadCache[K]> } = {
    policy: () => {
      const row = this.stmt('SELECT cost, eco, risk, trust, generation, updated_ms FROM policy WHERE id = 1').get() as PolicyRow;
      return frozen({ weights: { cost: row.cost, eco: row.eco, risk: row.risk, trust: row.trust }, generation: row.generation, updatedAt: iso(row.updated_ms) });
    },
    defaults: () => {
      const row = this.stmt('SELECT eco, trust, risk, cost, generation, updated_ms FROM default_constraints WHERE id = 1').get() as ConstraintsRow;
      return frozen({ constraints: { eco: row.eco, trust: row.trust, risk: row.risk, cost: row.cost }, generation: row.generation, updatedAt: iso(row.updated_ms) });
    },
    generation: () => (this.stmt("SELECT value FROM counters WHERE name = 'capacity'").get() as { value: number }).value,
  };

  /** A single-row read through the cache (read afresh without one, inside transactions). */
  private remembered<K extends SingleRead>(cache: ReadCache | undefined, key: K): NonNullable<ReadCache[K]> {
    if (!cache) return this.singleReads[key]();
    return (cache[key] ??= this.singleReads[key]()) as NonNullable<ReadCache[K]>;
  }

  /** Updates the one row of the policy or the default constraints under the optimistic generation check (AC_ERR_CONFLICT when stale). */
  private replaceSingleRow<K extends 'policy' | 'defaults'>(
    key: K,
    what: string,
    expectedGeneration: number | undefined,
    update: (nextGeneration: number, now: number) => unknown,
  ): NonNullable<ReadCache[K]> {
    check(generationSchema, expectedGeneration, 'expectedGeneration');
    return this.write(() => {
      const current = this.singleReads[key]().generation;
      if (expectedGeneration !== undefined && expectedGeneration !== current) throw conflict(what, expectedGeneration, current);
      update(current + 1, this.clock());
      return this.singleReads[key]();
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // -------------------------------------------------------------------------------------------
  // Policy (objective weights).

  getPolicy(): PolicyRecord {
    return this.remembered(this.cachedReads(), 'policy');
  }

  /** Replaces the weights (they must sum to 1). AC_ERR_CONFLICT when expectedGeneration is given and stale. */
  setPolicy(weights: Weights, expectedGeneration?: number): PolicyRecord {
    const w = check(weightsSchema, weights, 'weights');
    return this.replaceSingleRow('policy', 'the policy', expectedGeneration, (generation, now) =>
      this.stmt('UPDATE policy SET cost = ?, eco = ?, risk = ?, trust = ?, generation = ?, updated_ms = ? WHERE id = 1').run(w.cost, w.eco, w.risk, w.trust, generation, now),
    );
  }

  // -------------------------------------------------------------------------------------------
  // TREC constraints: a global default and per-service overrides.

  getDefaultConstraints(): ConstraintsRecord {
    return this.remembered(this.cachedReads(), 'defaults');
  }

  setDefaultConstraints(constraints: TrecConstraints, expectedGeneration?: number): ConstraintsRecord {
    const c = check(constraintsSchema, constraints, 'constraints');
    return this.replaceSingleRow('defaults', 'the default constraints', expectedGeneration, (generation, now) =>
      this.stmt('UPDATE default_constraints SET eco = ?, trust = ?, risk = ?, cost = ?, generation = ?, updated_ms = ? WHERE id = 1').run(c.eco, c.trust, c.risk, c.cost, generation, now),
    );
  }

  /** The operator's override for one service, or undefined when there is none. */
  getServiceConstraints(serviceId: string): ServiceConstraintsRecord | undefined {
    return this.overrideVia(this.cachedReads(), serviceId);
  }

  private overrideVia(cache: ReadCache | undefined, serviceId: string): ServiceConstraintsRecord | undefined {
    const read = (): ServiceConstraintsRecord | null => {
      const row = this.serviceRow(serviceId);
      return row && row.deleted === 0 ? frozen(serviceRecord(row)) : null;
    };
    if (!cache) return read() ?? undefined;
    let record = cache.overrides.get(serviceId);
    if (record === undefined) {
      if (cache.overrides.size >= MAX_CACHED_OVERRIDES) cache.overrides.clear();
      cache.overrides.set(serviceId, (record = read()));
    }
    return record ?? undefined;
  }

  /**
   * Creates or replaces a service's override (any non-empty subset of eco, trust, risk, cost; omitted bounds are not
   * overridden). expectedGeneration 0 = only if none exists; n = only if the current one has generation n.
   */
  setServiceConstraints(serviceId: string, constraints: Partial<TrecConstraints>, expectedGeneration?: number): ServiceConstraintsRecord {
    check(id, serviceId, 'serviceId');
    const c = check(partialConstraintsSchema, constraints, 'constraints');
    check(generationSchema, expectedGeneration, 'expectedGeneration');
    return this.write(() => {
      const row = this.serviceRow(serviceId);
      const current = row && row.deleted === 0 ? row.generation : 0;
      if (expectedGeneration !== undefined && expectedGeneration !== current) {
        throw conflict(`the constraints of service '${serviceId}'`, expectedGeneration, current);
      }
      const next = (row?.generation ?? 0) + 1;
      this.stmt(
          `INSERT INTO service_constraints (service_id, eco, trust, risk, cost, deleted, generation, updated_ms)
           VALUES (@serviceId, @eco, @trust, @risk, @cost, 0, @next, @now)
           ON CONFLICT (service_id) DO UPDATE SET eco = @eco, trust = @trust, risk = @risk, cost = @cost,
             deleted = 0, generation = @next, updated_ms = @now`,
        )
        .run({ serviceId, eco: c.eco ?? null, trust: c.trust ?? null, risk: c.risk ?? null, cost: c.cost ?? null, next, now: this.clock() });
      return serviceRecord(this.serviceRow(serviceId)!);
    });
  }

  /** Removes a service's override; false when there was none. AC_ERR_CONFLICT when expectedGeneration is given and stale. */
  deleteServiceConstraints(serviceId: string, expectedGeneration?: number): boolean {
    check(generationSchema, expectedGeneration, 'expectedGeneration');
    return this.write(() => {
      const row = this.serviceRow(serviceId);
      if (!row || row.deleted === 1) return false;
      if (expectedGeneration !== undefined && expectedGeneration !== row.generation) {
        throw conflict(`the constraints of service '${serviceId}'`, expectedGeneration, row.generation);
      }
      this.stmt('UPDATE service_constraints SET deleted = 1, eco = NULL, trust = NULL, risk = NULL, cost = NULL, generation = ?, updated_ms = ? WHERE service_id = ?')
        .run(row.generation + 1, this.clock(), serviceId);
      return true;
    });
  }

  /** Every service override, by service id. */
  listServiceConstraints(): ServiceConstraintsRecord[] {
    const rows = this.stmt('SELECT * FROM service_constraints WHERE deleted = 0 ORDER BY service_id').all() as ServiceConstraintsRow[];
    return rows.map(serviceRecord);
  }

  /**
   * The bounds an admission of `serviceId` must meet, bound by bound: the global default, overridden by what the
   * manifest declares, overridden by the operator's per-service setting. The operator's explicit per-service decision
   * wins over the service provider's manifest, which wins over the provider-wide default.
   */
  effectiveConstraints(serviceId: string, fromManifest?: Partial<TrecConstraints>): TrecConstraints {
    return this.explainConstraints(serviceId, fromManifest).constraints;
  }

  /** effectiveConstraints plus where each bound came from. */
  explainConstraints(serviceId: string, fromManifest?: Partial<TrecConstraints>): EffectiveConstraints {
    const cache = this.cachedReads();
    // From the same moment: the read cache of one database version, or one read transaction.
    return cache ? this.constraintsVia(cache, serviceId, fromManifest) : this.db.transaction(() => this.constraintsVia(undefined, serviceId, fromManifest))();
  }

  private constraintsVia(cache: ReadCache | undefined, serviceId: string, fromManifest?: Partial<TrecConstraints>): EffectiveConstraints {
    const manifest = fromManifest === undefined ? {} : check(manifestConstraintsSchema, fromManifest, 'manifest constraints');
    const base = this.remembered(cache, 'defaults').constraints;
    const override = this.overrideVia(cache, serviceId)?.constraints ?? {};
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

  // -------------------------------------------------------------------------------------------
  // Admissions and the capacity they hold.

  /**
   * Stores an admission and its reservations in one transaction. AC_ERR_CONFLICT when the id exists already, or when
   * expectedCapacityGeneration is given and capacity changed since (the caller re-reads capacity and solves again).
   */
  recordAdmission(input: AdmissionInput): AdmissionRecord {
    const a = check(admissionSchema, input, 'admission');
    const createdMs = toMs(input.createdAt, 'createdAt');
    const expiresMs = toMs(input.expiresAt, 'expiresAt');
    if (expiresMs <= createdMs) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'invalid admission: expiresAt must be after createdAt', [
        { field: 'expiresAt', reason: `${iso(expiresMs)} is not after createdAt ${iso(createdMs)}` },
      ]);
    }
    const responseJson = input.response === undefined ? undefined : JSON.stringify(input.response);
    if (responseJson === undefined) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'invalid admission: response must be a JSON value', [{ field: 'response', reason: 'expected a JSON value' }]);
    }
    const perHost = new Map<string, { cpus: number; memoryMb: number }>();
    for (const h of a.hosts) {
      const sum = perHost.get(h.hostId) ?? { cpus: 0, memoryMb: 0 };
      sum.cpus += h.cpus;
      sum.memoryMb += h.memoryMb ?? 0;
      perHost.set(h.hostId, sum);
    }
    this.write(() => {
      const generation = this.capacityGeneration();
      if (a.expectedCapacityGeneration !== undefined && a.expectedCapacityGeneration !== generation) {
        const overfilled = a.hostLimits ? this.overfilledHost(perHost, a.hostLimits, createdMs) : 'no host limits given';
        if (overfilled !== undefined) throw conflict(`host capacity (${overfilled})`, a.expectedCapacityGeneration, generation);
      }
      if (this.stmt('SELECT 1 FROM admissions WHERE id = ?').get(a.id) !== undefined) {
        throw new AdmissionError('AC_ERR_CONFLICT', `admission '${a.id}' exists already`, [{ field: 'id', reason: 'duplicate admission id' }]);
      }
      this.stmt('INSERT INTO admissions (id, owner, service_id, decision, created_ms, expires_ms, released_ms, response_json) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)')
        .run(a.id, a.owner, a.serviceId, a.decision, createdMs, expiresMs, responseJson);
      const insert = this.stmt('INSERT INTO reservations (admission_id, host_id, cpus, memory_mb) VALUES (?, ?, ?, ?)');
      for (const [hostId, r] of perHost) insert.run(a.id, hostId, r.cpus, r.memoryMb);
      this.bumpCapacity();
    });
    return this.getAdmission(a.id)!;
  }

  /** The first booked host that would hold more than its limit next to the reservations active at `at`, described. */
  private overfilledHost(
    booking: ReadonlyMap<string, { cpus: number; memoryMb: number }>,
    limits: readonly HostAmount[],
    at: number,
  ): string | undefined {
    const held = this.reservedVia(undefined, at); // fresh: this runs inside the write transaction
    const limitOf = new Map(limits.map((l) => [l.hostId, l]));
    for (const [hostId, add] of booking) {
      const limit = limitOf.get(hostId);
      if (!limit) return `no limit for host '${hostId}'`;
      const now = held.get(hostId) ?? { cpus: 0, memoryMb: 0 };
      if (now.cpus + add.cpus > limit.cpus + 1e-9) return `host '${hostId}': ${now.cpus} + ${add.cpus} CPUs > ${limit.cpus}`;
      if (limit.memoryMb !== undefined && now.memoryMb + add.memoryMb > limit.memoryMb + 1e-9) {
        return `host '${hostId}': ${now.memoryMb} + ${add.memoryMb} MB > ${limit.memoryMb} MB`;
      }
    }
    return undefined;
  }

  getAdmission(admissionId: string): AdmissionRecord | undefined {
    const row = this.stmt('SELECT * FROM admissions WHERE id = ?').get(admissionId) as AdmissionRow | undefined;
    if (!row) return undefined;
    const hosts = this.stmt('SELECT * FROM reservations WHERE admission_id = ? ORDER BY host_id').all(admissionId) as ReservationRow[];
    return admissionRecord(row, hosts, this.clock());
  }

  /** Admissions by creation time; activeOnly = not released and not expired at `now` (default: the store's clock). */
  listAdmissions(options: { activeOnly?: boolean; serviceId?: string; owner?: string; now?: Instant } = {}): AdmissionRecord[] {
    const now = options.now === undefined ? this.clock() : toMs(options.now, 'now');
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (options.activeOnly) {
      where.push('a.released_ms IS NULL AND a.expires_ms > @now');
      params.now = now;
    }
    if (options.serviceId !== undefined) {
      where.push('a.service_id = @serviceId');
      params.serviceId = options.serviceId;
    }
    if (options.owner !== undefined) {
      where.push('a.owner = @owner');
      params.owner = options.owner;
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    return this.db.transaction(() => {
      const rows = this.stmt(`SELECT * FROM admissions a ${filter} ORDER BY a.created_ms, a.id`).all(params) as AdmissionRow[];
      const hostRows = this.stmt(`SELECT r.* FROM reservations r JOIN admissions a ON a.id = r.admission_id ${filter} ORDER BY r.admission_id, r.host_id`)
        .all(params) as ReservationRow[];
      const byAdmission = new Map<string, ReservationRow[]>();
      for (const h of hostRows) {
        const list = byAdmission.get(h.admission_id) ?? [];
        list.push(h);
        byAdmission.set(h.admission_id, list);
      }
      return rows.map((r) => admissionRecord(r, byAdmission.get(r.id) ?? [], now));
    })();
  }

  /** Stops an admission holding capacity. false when the id is unknown or already released. */
  releaseAdmission(admissionId: string): boolean {
    return this.write(() => {
      const changed = this.stmt('UPDATE admissions SET released_ms = ? WHERE id = ? AND released_ms IS NULL').run(this.clock(), admissionId).changes;
      if (changed === 0) return false;
      this.bumpCapacity();
      return true;
    });
  }

  /**
   * Capacity held per host by admissions that are neither released nor expired at `now`. The map may be shared with
   * other callers (read cache): do not change it.
   */
  reservedCapacity(now: Instant = this.clock()): ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }> {
    return this.reservedVia(this.cachedReads(), toMs(now, 'now'));
  }

  private reservedVia(cache: ReadCache | undefined, at: number): ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }> {
    const held = cache?.reserved;
    // A cached answer holds from the moment it was read until the first of its admissions expires.
    if (held && at >= held.from && at < held.until) return held.map;
    const rows = this.stmt(
        `SELECT r.host_id AS hostId, SUM(r.cpus) AS cpus, SUM(r.memory_mb) AS memoryMb, MIN(a.expires_ms) AS firstExpiry
         FROM reservations r JOIN admissions a ON a.id = r.admission_id
         WHERE a.released_ms IS NULL AND a.expires_ms > ?
         GROUP BY r.host_id ORDER BY r.host_id`,
      )
      .all(at) as { hostId: string; cpus: number; memoryMb: number; firstExpiry: number }[];
    const map = new Map(rows.map((r) => [r.hostId, { cpus: r.cpus, memoryMb: r.memoryMb }]));
    if (cache) cache.reserved = { from: at, until: rows.reduce((m, r) => Math.min(m, r.firstExpiry), Infinity), map };
    return map;
  }

  /** Increments on every recordAdmission and releaseAdmission, in every connection to the same file. */
  capacityGeneration(): number {
    return this.remembered(this.cachedReads(), 'generation');
  }

  /**
   * Everything one admission reads, with one look at the database version: the capacity generation (read first, so
   * that a booking made meanwhile shows up as a conflict at record time), the reservations at `now` (unless the
   * admission ignores them), the policy, and each service's effective constraints.
   */
  admissionReads(
    services: readonly { readonly serviceId: string; readonly fromManifest?: Partial<TrecConstraints> }[],
    options: { readonly now?: Instant; readonly withReservations: boolean },
  ): AdmissionReads {
    const read = (cache: ReadCache | undefined): AdmissionReads => {
      const generation = this.remembered(cache, 'generation');
      return {
        generation,
        ...(options.withReservations ? { reserved: this.reservedVia(cache, toMs(options.now ?? this.clock(), 'now')) } : {}),
        policy: this.remembered(cache, 'policy'),
        constraints: services.map((s) => this.constraintsVia(cache, s.serviceId, s.fromManifest)),
      };
    };
    const cache = this.cachedReads();
    return cache ? read(cache) : this.db.transaction(() => read(undefined))();
  }


  /** reservedCapacity and capacityGeneration read together (one read transaction), to pass to recordAdmission later. */
  capacitySnapshot(now: Instant = this.clock()): CapacitySnapshot {
    return this.db.transaction(() => ({ generation: this.capacityGeneration(), reserved: this.reservedCapacity(now) }))();
  }

  /**
   * Deletes admissions (with their reservations) whose expiry is at or before `now`, released or not; returns how many.
   * Does not change the capacity generation: expired admissions no longer hold capacity, so nobody's view changes.
   */
  purgeExpired(now: Instant = this.clock()): number {
    const nowMs = toMs(now, 'now');
    return this.write(() => this.stmt('DELETE FROM admissions WHERE expires_ms <= ?').run(nowMs).changes);
  }

  // -------------------------------------------------------------------------------------------

  private serviceRow(serviceId: string): ServiceConstraintsRow | undefined {
    return this.stmt('SELECT * FROM service_constraints WHERE service_id = ?').get(serviceId) as ServiceConstraintsRow | undefined;
  }

  private bumpCapacity(): void {
    this.stmt("UPDATE counters SET value = value + 1 WHERE name = 'capacity'").run();
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction; a lock held elsewhere past the busy timeout becomes AC_ERR_TIMEOUT. */
  private write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      // Extended codes too (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, SQLITE_LOCKED_SHAREDCACHE…): all mean "try later".
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)) {
        throw new AdmissionError('AC_ERR_TIMEOUT', `the state database is busy (${code})`, [{ field: this.file, reason: (e as Error).message }]);
      }
      throw e;
    } finally {
      // This connection's own commits do not change its PRAGMA data_version: the read cache is dropped here instead.
      this.reads = emptyReadCache();
    }
  }

  private migrate(): void {
    const version = (): number => this.db.pragma('user_version', { simple: true }) as number;
    if (version() > MIGRATIONS.length) {
      throw new AdmissionError('AC_ERR_CONFIG', `the database ${this.file} has schema version ${version()}, newer than this build's ${MIGRATIONS.length}`, [
        { field: 'dataDir', reason: 'written by a newer version of the service' },
      ]);
    }
    for (;;) {
      // Re-read inside the lock: another process may have migrated between our check and our write.
      const ran = this.write(() => {
        const v = version();
        if (v >= MIGRATIONS.length) return false;
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
        return true;
      });
      if (!ran) return;
    }
  }
}

/** See StateStore.reads. Overrides hold null for "no override" (also worth remembering). */
interface ReadCache {
  policy?: PolicyRecord;
  defaults?: ConstraintsRecord;
  generation?: number;
  reserved?: { from: number; until: number; map: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }> };
  overrides: Map<string, ServiceConstraintsRecord | null>;
}

/** Cached records are shared by every reader: frozen, with their nested objects (weights, constraints). */
function frozen<T extends object>(record: T): T {
  for (const v of Object.values(record)) if (typeof v === 'object' && v !== null) Object.freeze(v);
  return Object.freeze(record);
}

/** Overrides remembered per database version at most; beyond that the map starts again (it only saves reads). */
const MAX_CACHED_OVERRIDES = 4096;

type SingleRead = 'policy' | 'defaults' | 'generation';

function emptyReadCache(): ReadCache {
  return { overrides: new Map() };
}

function serviceRecord(row: ServiceConstraintsRow): ServiceConstraintsRecord {
  const constraints: { -readonly [K in keyof TrecConstraints]?: number } = {};
  for (const k of BOUNDS) if (row[k] !== null) constraints[k] = row[k];
  return { serviceId: row.service_id, constraints, generation: row.generation, updatedAt: iso(row.updated_ms) };
}

function admissionRecord(row: AdmissionRow, hosts: readonly ReservationRow[], now: number): AdmissionRecord {
  const status: AdmissionStatus = row.released_ms !== null ? 'released' : row.expires_ms > now ? 'active' : 'expired';
  return {
    id: row.id,
    owner: row.owner,
    serviceId: row.service_id,
    decision: row.decision,
    createdAt: iso(row.created_ms),
    expiresAt: iso(row.expires_ms),
    ...(row.released_ms !== null ? { releasedAt: iso(row.released_ms) } : {}),
    status,
    hosts: hosts.map((h) => ({ hostId: h.host_id, cpus: h.cpus, memoryMb: h.memory_mb })),
    response: JSON.parse(row.response_json) as unknown,
  };
}
