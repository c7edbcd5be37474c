/**
 * The SQLite ledger's schema, as versioned migrations (SQL embedded here: tsc does not copy .sql files).
 *
 * - Applied migrations are rows of `schema_migrations` (version, name, applied_at); PRAGMA user_version mirrors the
 *   newest, so that the previous release (gateway/state-store.ts, which checks user_version) refuses a database this
 *   code has upgraded instead of misreading it.
 * - Migration 1 is exactly gateway/state-store.ts's schema v1. A file that release wrote (user_version = 1, no
 *   schema_migrations) is recognised as version 1 and upgraded in place.
 * - Migrations run at open inside one BEGIN IMMEDIATE transaction (the write lock), re-reading the applied version
 *   under the lock: of several processes opening at once, one migrates, the others find nothing left to do.
 * - A database whose newest applied migration is newer than this code knows is refused (AC_ERR_CONFIG).
 * Append migrations; never edit one that has shipped.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AdmissionError } from '../../model/errors';

export interface MigrationContext {
  /** The ledger's clock at migration time (epoch ms). */
  readonly now: number;
}

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: (db: Database.Database, ctx: MigrationContext) => void;
}

const sql = (text: string) => (db: Database.Database): void => {
  db.exec(text);
};

/** gateway/state-store.ts v1, verbatim. */
const STATE_STORE_V1 = `
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
  `;

/** The owner given to admissions recorded before owners existed (state-store v1 had none). */
export const LEGACY_OWNER = 'legacy';

/**
 * Capacity over time: the host inventory, admissions with windows and a lifecycle, their allocations, capacity windows,
 * and the change feed the in-process index follows.
 *
 * State-store v1 admissions held capacity from their creation until released or expired (expires_ms, the 900 s offer
 * TTL), on hosts the caller named. They become: `released` (released before expiry, closed at the release), `expired`
 * (expired by now, or released only after expiry: closed at the expiry), or `held` (still within the TTL: an offer
 * whose hold expires at expires_ms, over the open window [created, ∞), as a confirmed deployment would run until
 * released). Owner: 'legacy'. The hosts they name get placeholder inventory rows flagged removed (no CPUs) until
 * syncHosts reports them.
 */
const LEDGER_CORE = (db: Database.Database, ctx: MigrationContext): void => {
  db.exec(`
  CREATE TABLE hosts (
    id              TEXT PRIMARY KEY,
    cpus            REAL NOT NULL CHECK (cpus >= 0),
    used_cpus       REAL NOT NULL CHECK (used_cpus >= 0),
    memory_mb       REAL CHECK (memory_mb IS NULL OR memory_mb >= 0),
    used_memory_mb  REAL CHECK (used_memory_mb IS NULL OR used_memory_mb >= 0),
    generation      INTEGER NOT NULL DEFAULT 0,
    removed         INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    updated_ms      INTEGER NOT NULL
  );
  CREATE TABLE ledger_admissions (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL,
    service_id       TEXT NOT NULL,
    decision         TEXT NOT NULL CHECK (decision IN ('accepted', 'partial', 'rejected')),
    status           TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'active', 'ended', 'released', 'expired')),
    start_ms         INTEGER NOT NULL,
    end_ms           INTEGER CHECK (end_ms IS NULL OR end_ms > start_ms),
    hold_expires_ms  INTEGER NOT NULL,
    expiry_seconds   REAL,
    created_ms       INTEGER NOT NULL,
    confirmed_ms     INTEGER,
    closed_ms        INTEGER,
    replaces         TEXT,
    generation       INTEGER NOT NULL DEFAULT 1,
    -- 1 once reservation.ending was emitted for the current end.
    ending_sent      INTEGER NOT NULL DEFAULT 0 CHECK (ending_sent IN (0, 1)),
    response_json    TEXT NOT NULL,
    CHECK ((closed_ms IS NULL) = (status IN ('held', 'confirmed', 'active')))
  );
  `);
  db.prepare(`
  INSERT INTO ledger_admissions (id, owner, service_id, decision, status, start_ms, end_ms, hold_expires_ms, expiry_seconds,
                                 created_ms, confirmed_ms, closed_ms, replaces, generation, ending_sent, response_json)
  SELECT id, @owner, service_id, decision,
         CASE WHEN released_ms IS NOT NULL AND released_ms < expires_ms THEN 'released'
              WHEN released_ms IS NOT NULL OR expires_ms <= @now THEN 'expired'
              ELSE 'held' END,
         created_ms, NULL, expires_ms, (expires_ms - created_ms) / 1000.0, created_ms, NULL,
         CASE WHEN released_ms IS NOT NULL AND released_ms < expires_ms THEN released_ms
              WHEN released_ms IS NOT NULL OR expires_ms <= @now THEN expires_ms
              ELSE NULL END,
         NULL, 1, 0, response_json
  FROM admissions`).run({ owner: LEGACY_OWNER, now: ctx.now });
  db.prepare(`INSERT INTO hosts (id, cpus, used_cpus, memory_mb, used_memory_mb, generation, removed, updated_ms)
              SELECT DISTINCT host_id, 0, 0, NULL, NULL, 0, 1, @now FROM reservations`).run({ now: ctx.now });
  db.exec(`
  CREATE TABLE allocations (
    admission_id  TEXT NOT NULL REFERENCES ledger_admissions (id) ON DELETE CASCADE,
    host_id       TEXT NOT NULL REFERENCES hosts (id),
    cpus          REAL NOT NULL CHECK (cpus >= 0),
    memory_mb     REAL NOT NULL CHECK (memory_mb >= 0),
    PRIMARY KEY (admission_id, host_id)
  ) WITHOUT ROWID;
  INSERT INTO allocations (admission_id, host_id, cpus, memory_mb) SELECT admission_id, host_id, cpus, memory_mb FROM reservations;
  DROP TABLE reservations;
  DROP TABLE admissions;
  -- Renaming also rewrites allocations' foreign key to the new name.
  ALTER TABLE ledger_admissions RENAME TO admissions;
  DELETE FROM counters WHERE name = 'capacity';

  CREATE INDEX admissions_created ON admissions (created_ms, id);
  CREATE INDEX admissions_owner ON admissions (owner, created_ms, id);
  CREATE INDEX admissions_service ON admissions (service_id, owner);
  CREATE INDEX admissions_held ON admissions (hold_expires_ms) WHERE status = 'held';
  CREATE INDEX admissions_confirmed ON admissions (start_ms) WHERE status = 'confirmed';
  CREATE INDEX admissions_active ON admissions (end_ms) WHERE status = 'active';
  CREATE INDEX admissions_closed ON admissions (closed_ms) WHERE closed_ms IS NOT NULL;
  CREATE INDEX allocations_host ON allocations (host_id, admission_id);

  CREATE TABLE capacity_windows (
    id               TEXT PRIMARY KEY,
    start_ms         INTEGER NOT NULL,
    end_ms           INTEGER CHECK (end_ms IS NULL OR end_ms > start_ms),
    cpus_delta       REAL NOT NULL,
    memory_mb_delta  REAL NOT NULL,
    reason           TEXT NOT NULL,
    created_ms       INTEGER NOT NULL,
    created_by       TEXT NOT NULL,
    -- capacity.changed was emitted for the start / the end edge.
    started          INTEGER NOT NULL DEFAULT 0 CHECK (started IN (0, 1)),
    ended            INTEGER NOT NULL DEFAULT 0 CHECK (ended IN (0, 1))
  );
  CREATE INDEX capacity_windows_start ON capacity_windows (start_ms) WHERE started = 0;
  CREATE INDEX capacity_windows_end ON capacity_windows (end_ms) WHERE ended = 0;
  CREATE TABLE capacity_window_hosts (
    window_id  TEXT NOT NULL REFERENCES capacity_windows (id) ON DELETE CASCADE,
    host_id    TEXT NOT NULL REFERENCES hosts (id),
    PRIMARY KEY (window_id, host_id)
  ) WITHOUT ROWID;
  CREATE INDEX capacity_window_hosts_host ON capacity_window_hosts (host_id, window_id);

  -- The change feed of capacity: one row per admission or capacity window whose holding changed and per host whose
  -- inventory or generation changed, in commit order. Every process's in-memory index and host cache follow it (rows
  -- after the last seq it applied) instead of reloading.
  CREATE TABLE changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind   TEXT NOT NULL CHECK (kind IN ('admission', 'window', 'host')),
    ref    TEXT NOT NULL,
    at_ms  INTEGER NOT NULL
  );
  -- 'changes_purged_through': every change row with seq ≤ value may be gone (an index behind it reloads in full).
  INSERT INTO counters (name, value) VALUES ('changes_purged_through', 0);
  `);
};

const LEDGER_OUTBOX = sql(`
  CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    owner      TEXT,
    subject    TEXT NOT NULL,
    data_json  TEXT NOT NULL
  );
  CREATE INDEX events_owner ON events (owner, seq);
  CREATE INDEX events_at ON events (at_ms);

  CREATE TABLE subscriptions (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL,
    sees_all         INTEGER NOT NULL CHECK (sees_all IN (0, 1)),
    url              TEXT NOT NULL,
    events_json      TEXT NOT NULL,
    secret           TEXT NOT NULL,
    created_ms       INTEGER NOT NULL,
    cursor           INTEGER NOT NULL,
    delivered        INTEGER NOT NULL DEFAULT 0,
    -- The event being delivered: its seq, the attempts made (claims), when it may be claimed next (a retry time, or
    -- the end of the lease of the attempt in flight), the last error, and the token of the claim in flight.
    pending_seq      INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER,
    last_error       TEXT,
    lease_token      TEXT
  );
  CREATE INDEX subscriptions_owner ON subscriptions (owner);
  CREATE UNIQUE INDEX subscriptions_lease ON subscriptions (lease_token) WHERE lease_token IS NOT NULL;
  CREATE TABLE dead_letters (
    subscription_id  TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    event_id         TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    last_error       TEXT NOT NULL,
    at_ms            INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, seq)
  ) WITHOUT ROWID;

  CREATE TABLE idempotency_keys (
    owner         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    answer_json   TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
  ) WITHOUT ROWID;
  CREATE INDEX idempotency_keys_created ON idempotency_keys (created_ms);

  CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms        INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    before_json  TEXT,
    after_json   TEXT
  );
  CREATE INDEX audit_actor ON audit (actor, seq);
  CREATE INDEX audit_action ON audit (action, seq);
`);

/** Every admission answer per service (rejections and dry-runs too), purged after the decision retention. */
const DECISION_LOG = sql(`
  CREATE TABLE decisions (
    id           TEXT PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    request_id   TEXT NOT NULL,
    owner        TEXT NOT NULL,
    service_id   TEXT NOT NULL,
    admission_id TEXT,
    decision     TEXT NOT NULL,
    dry_run      INTEGER NOT NULL,
    reasons_json TEXT NOT NULL,
    duration_ms  REAL NOT NULL,
    detail_json  TEXT NOT NULL
  );
  CREATE INDEX decisions_at ON decisions (at_ms, id);
  CREATE INDEX decisions_owner ON decisions (owner, at_ms, id);
  CREATE INDEX decisions_service ON decisions (service_id, at_ms, id);
  CREATE INDEX decisions_admission ON decisions (admission_id) WHERE admission_id IS NOT NULL;
  CREATE INDEX decisions_request ON decisions (request_id);
  CREATE INDEX audit_subject ON audit (subject, seq);
  CREATE INDEX audit_at ON audit (at_ms);
`);

/**
 * The requester's held offer for a service (replaceHeld, on every recorded admission): found through the held rows
 * only. Without it the lookup walked the owner's whole history (admissions_owner), slower with every admission kept.
 */
const HELD_BY_SERVICE = sql(`
  CREATE INDEX admissions_held_by_service ON admissions (owner, service_id, created_ms, id) WHERE status = 'held';
`);

/** The operator's capability overrides per host (JSON objects; merged over host-info's by the service). */
const HOST_CAPABILITIES = sql(`
  CREATE TABLE host_capabilities (
    host_id      TEXT PRIMARY KEY,
    set_json     TEXT NOT NULL,
    removed_json TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
  );
`);

// Charges (issue "Charging policies"): the plan an offer was priced with, when its charges next change by time, the
// append-only records (unique per owner, admission and key and resource, so a replay appends nothing), and per owner
// the balance, which every write keeps equal to the sum of the records in the same transaction. Amounts are integers
// of millionths of the currency unit, so that sums are exact (a balance equals its records' sum, not nearly).
const CHARGES = sql(`
  ALTER TABLE admissions ADD COLUMN charge_plan_json TEXT;
  ALTER TABLE admissions ADD COLUMN charge_next_ms INTEGER;
  CREATE INDEX admissions_charge_next ON admissions (charge_next_ms) WHERE charge_next_ms IS NOT NULL;
  CREATE TABLE charges (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    owner      TEXT NOT NULL,
    ref        TEXT NOT NULL,
    service_id TEXT,
    key        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    resource   TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    currency   TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    UNIQUE (owner, ref, key, resource)
  );
  CREATE INDEX charges_owner_at ON charges (owner, at_ms);
  CREATE INDEX charges_at ON charges (at_ms);
  CREATE TABLE charge_balances (
    owner    TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    records  INTEGER NOT NULL,
    PRIMARY KEY (owner, currency)
  );
`);

// One row per deployed admission; the VMs (slots) are a JSON document that is always rewritten whole, compare-and-set on
// the generation. Status and notBefore are columns: the deployer asks for what is due.
const DEPLOYMENTS = sql(`
  CREATE TABLE deployments (
    admission_id  TEXT PRIMARY KEY REFERENCES admissions (id) ON DELETE CASCADE,
    owner         TEXT NOT NULL,
    target        TEXT NOT NULL,
    status        TEXT NOT NULL,
    not_before_ms INTEGER NOT NULL,
    generation    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    error         TEXT,
    lease_holder  TEXT,
    lease_until_ms INTEGER,
    vms_json      TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
  );
  CREATE INDEX deployments_due ON deployments (status, not_before_ms);
`);

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'state-store v1: policy, constraints, admissions with a TTL', up: sql(STATE_STORE_V1) },
  { version: 2, name: 'ledger: hosts, admissions over time, allocations, capacity windows, change feed', up: LEDGER_CORE },
  { version: 3, name: 'ledger: event outbox, subscriptions, idempotency keys, audit', up: LEDGER_OUTBOX },
  { version: 4, name: 'ledger: decision log, audit by subject and time', up: DECISION_LOG },
  { version: 5, name: "ledger: index of held offers by owner and service (a re-sent request replaces its own offer)", up: HELD_BY_SERVICE },
  { version: 6, name: "ledger: operators' capability overrides per host", up: HOST_CAPABILITIES },
  { version: 7, name: 'ledger: charge plans, append-only charge records, balances', up: CHARGES },
  { version: 8, name: 'ledger: deployments of confirmed admissions, VM by VM', up: DEPLOYMENTS },
];

/** The newest schema version this code knows. */
export const NEWEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  /** Epoch ms; null for version 1 of a file the state store wrote (it kept no date). */
  readonly appliedAt: number | null;
}

export interface MigrationStatus {
  readonly file: string;
  readonly exists: boolean;
  readonly applied: readonly AppliedMigration[];
  readonly pending: readonly { readonly version: number; readonly name: string }[];
  /** The newest version this code knows; applied beyond it means a newer release wrote the file. */
  readonly newestKnown: number;
  readonly current: number;
}

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

function userTableCount(db: Database.Database): number {
  return (db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").get() as { n: number }).n;
}

function tooNew(file: string, version: number): AdmissionError {
  return new AdmissionError(
    'AC_ERR_CONFIG',
    `the database ${file} has schema version ${version}, newer than this code's ${NEWEST_SCHEMA_VERSION}: it was written by a newer release`,
    [{ field: 'dataDir', reason: `schema version ${version} > ${NEWEST_SCHEMA_VERSION}` }],
  );
}

/**
 * What is applied, read without changing the file (for a start-up check or `eac db status`). A state-store v1 file
 * without schema_migrations reads as version 1 applied.
 */
export function readApplied(db: Database.Database, file: string): AppliedMigration[] {
  // One read transaction, so that the checks below see one snapshot: read statement by statement, a process that
  // opens the file while another commits the first migration saw "no schema_migrations table, user_version 0" from
  // before that commit and "tables present" from after it, and called the file not a ledger database.
  return db.transaction(() => readAppliedInSnapshot(db, file))();
}

function readAppliedInSnapshot(db: Database.Database, file: string): AppliedMigration[] {
  if (hasTable(db, 'schema_migrations')) {
    return (db.prepare('SELECT version, name, applied_at AS appliedAt FROM schema_migrations ORDER BY version').all() as AppliedMigration[]).map((r) => ({ ...r }));
  }
  const userVersion = db.pragma('user_version', { simple: true }) as number;
  if (userVersion === 0 && userTableCount(db) === 0) return [];
  if (userVersion === 1 && hasTable(db, 'policy') && hasTable(db, 'reservations')) return [{ version: 1, name: MIGRATIONS[0]!.name, appliedAt: null }];
  if (userVersion > NEWEST_SCHEMA_VERSION) throw tooNew(file, userVersion);
  throw new AdmissionError('AC_ERR_CONFIG', `the database ${file} is not a ledger database (user_version ${userVersion}, no schema_migrations table)`, [
    { field: 'dataDir', reason: 'unrecognised schema' },
  ]);
}

function statusOf(file: string, exists: boolean, applied: readonly AppliedMigration[]): MigrationStatus {
  const current = applied.reduce((m, a) => Math.max(m, a.version), 0);
  return {
    file,
    exists,
    applied,
    pending: MIGRATIONS.filter((m) => m.version > current).map((m) => ({ version: m.version, name: m.name })),
    newestKnown: NEWEST_SCHEMA_VERSION,
    current,
  };
}

/** Applied / pending / newest known migrations of `<dataDir>/eac.sqlite` (read only; a missing file has all pending). */
export async function migrationStatus(dataDir: string): Promise<MigrationStatus> {
  const file = path.resolve(dataDir, 'eac.sqlite');
  if (!existsSync(file)) return statusOf(file, false, []);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return statusOf(file, true, readApplied(db, file));
  } finally {
    db.close();
  }
}

/**
 * Brings the schema up to date. Cheap when nothing is pending (one read, no write lock); otherwise under BEGIN
 * IMMEDIATE, re-reading what is applied inside the lock. `begin` runs fn in a write transaction.
 */
export function migrate(db: Database.Database, file: string, now: () => number, begin: <T>(fn: () => T) => T): MigrationStatus {
  const before = readApplied(db, file);
  const check = (applied: readonly AppliedMigration[]): number => {
    const current = applied.reduce((m, a) => Math.max(m, a.version), 0);
    if (current > NEWEST_SCHEMA_VERSION) throw tooNew(file, current);
    return current;
  };
  if (check(before) === NEWEST_SCHEMA_VERSION && hasTable(db, 'schema_migrations')) return statusOf(file, true, before);
  return begin(() => {
    const applied = readApplied(db, file);
    const current = check(applied);
    if (!hasTable(db, 'schema_migrations')) {
      db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER)');
      // A state-store v1 file: its schema is migration 1 (applied before this table existed, at an unknown time).
      for (const a of applied) db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(a.version, a.name, a.appliedAt);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      const at = now();
      m.up(db, { now: at });
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, at);
      db.pragma(`user_version = ${m.version}`);
    }
    return statusOf(file, true, readApplied(db, file));
  });
}
