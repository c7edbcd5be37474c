/**
 * The PostgreSQL ledger's schema, as versioned migrations (SQL embedded here: tsc does not copy .sql files).
 *
 * - Applied migrations are rows of `schema_migrations` (version, name, applied_at).
 * - migrate() runs at open under a session-level `pg_advisory_lock` (one key for the whole database), re-reading
 *   what is applied once it holds the lock: of several replicas starting together one migrates, the others wait for
 *   it and then find nothing left to do. Each migration is one transaction (PostgreSQL's DDL is transactional) with
 *   its `schema_migrations` row: a failed migration leaves the previous version intact.
 * - A database whose newest applied migration is newer than this code knows is refused (AC_ERR_CONFIG naming both).
 * - A database that has tables but no `schema_migrations` is not a ledger database and is refused too.
 * Append migrations; never edit one that has shipped.
 *
 * Conventions: times are epoch ms in `bigint`; amounts `double precision`; JSON is kept as `text`, exactly as the
 * caller's JSON.stringify wrote it (jsonb would reorder keys and normalise numbers); identifiers (`id`, `host_id`,
 * `owner`, `service_id`) use the "C" collation so that ORDER BY agrees with the code's comparisons (and with the order
 * in which rows are locked) whatever the database's default collation.
 *
 * Sequence numbers (changes, events, audit) are not PostgreSQL sequences: a sequence hands out numbers in call order,
 * not commit order, so a reader could see seq 11 before seq 10 commits and skip it. They are allocated from the one
 * `ledger_tail` row, updated by each writing transaction as its last statement before COMMIT: the row lock is held
 * until the commit is visible, so numbers are gapless and strictly increasing in commit order.
 */
import { Client, type ClientBase } from 'pg';
import { AdmissionError } from '../../model/errors';
import { PG_TYPES, redactUrl } from './connection';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Version 1, the first schema: settings, host inventory, admissions over time, allocations, capacity windows, change feed. */
const LEDGER_CORE = `
  CREATE TABLE policy (
    id          integer PRIMARY KEY CHECK (id = 1),
    cost        double precision NOT NULL CHECK (cost >= 0),
    eco         double precision NOT NULL CHECK (eco >= 0),
    risk        double precision NOT NULL CHECK (risk >= 0),
    trust       double precision NOT NULL CHECK (trust >= 0),
    generation  bigint NOT NULL,
    updated_ms  bigint NOT NULL
  );
  CREATE TABLE default_constraints (
    id          integer PRIMARY KEY CHECK (id = 1),
    eco         double precision NOT NULL,
    trust       double precision NOT NULL,
    risk        double precision NOT NULL,
    cost        double precision NOT NULL,
    generation  bigint NOT NULL,
    updated_ms  bigint NOT NULL
  );
  -- NULL bound = not overridden; deleted is a tombstone that keeps the generation counting.
  CREATE TABLE service_constraints (
    service_id  text COLLATE "C" PRIMARY KEY,
    eco         double precision,
    trust       double precision,
    risk        double precision,
    cost        double precision,
    deleted     boolean NOT NULL DEFAULT false,
    generation  bigint NOT NULL,
    updated_ms  bigint NOT NULL
  );

  -- The inventory bookings are checked against. A booking locks its hosts' rows (SELECT … FOR UPDATE, sorted by id)
  -- before it checks them, and every change of what counts on a host bumps its generation (an UPDATE of this row):
  -- whoever changes a host's capacity holds its row lock until commit.
  CREATE TABLE hosts (
    id              text COLLATE "C" PRIMARY KEY,
    cpus            double precision NOT NULL CHECK (cpus >= 0),
    used_cpus       double precision NOT NULL CHECK (used_cpus >= 0),
    memory_mb       double precision CHECK (memory_mb IS NULL OR memory_mb >= 0),
    used_memory_mb  double precision CHECK (used_memory_mb IS NULL OR used_memory_mb >= 0),
    generation      bigint NOT NULL DEFAULT 0,
    removed         boolean NOT NULL DEFAULT false,
    updated_ms      bigint NOT NULL
  );
  CREATE TABLE admissions (
    id               text COLLATE "C" PRIMARY KEY,
    owner            text COLLATE "C" NOT NULL,
    service_id       text COLLATE "C" NOT NULL,
    decision         text NOT NULL CHECK (decision IN ('accepted', 'partial', 'rejected')),
    status           text NOT NULL CHECK (status IN ('held', 'confirmed', 'active', 'ended', 'released', 'expired')),
    start_ms         bigint NOT NULL,
    end_ms           bigint CHECK (end_ms IS NULL OR end_ms > start_ms),
    hold_expires_ms  bigint NOT NULL,
    expiry_seconds   double precision,
    created_ms       bigint NOT NULL,
    confirmed_ms     bigint,
    closed_ms        bigint,
    replaces         text COLLATE "C",
    generation       bigint NOT NULL DEFAULT 1,
    -- true once reservation.ending was emitted for the current end.
    ending_sent      boolean NOT NULL DEFAULT false,
    response_json    text NOT NULL,
    CHECK ((closed_ms IS NULL) = (status IN ('held', 'confirmed', 'active')))
  );
  CREATE INDEX admissions_created ON admissions (created_ms, id);
  CREATE INDEX admissions_owner ON admissions (owner, created_ms, id);
  CREATE INDEX admissions_service ON admissions (service_id, owner);
  CREATE INDEX admissions_held ON admissions (hold_expires_ms) WHERE status = 'held';
  CREATE INDEX admissions_confirmed ON admissions (start_ms) WHERE status = 'confirmed';
  CREATE INDEX admissions_active ON admissions (end_ms) WHERE status = 'active';
  CREATE INDEX admissions_closed ON admissions (closed_ms) WHERE closed_ms IS NOT NULL;

  CREATE TABLE allocations (
    admission_id  text COLLATE "C" NOT NULL REFERENCES admissions (id) ON DELETE CASCADE,
    host_id       text COLLATE "C" NOT NULL REFERENCES hosts (id),
    cpus          double precision NOT NULL CHECK (cpus >= 0),
    memory_mb     double precision NOT NULL CHECK (memory_mb >= 0),
    PRIMARY KEY (admission_id, host_id)
  );
  CREATE INDEX allocations_host ON allocations (host_id, admission_id);

  CREATE TABLE capacity_windows (
    id               text COLLATE "C" PRIMARY KEY,
    start_ms         bigint NOT NULL,
    end_ms           bigint CHECK (end_ms IS NULL OR end_ms > start_ms),
    cpus_delta       double precision NOT NULL,
    memory_mb_delta  double precision NOT NULL,
    reason           text NOT NULL,
    created_ms       bigint NOT NULL,
    created_by       text NOT NULL,
    -- capacity.changed was emitted for the start / the end edge.
    started          boolean NOT NULL DEFAULT false,
    ended            boolean NOT NULL DEFAULT false
  );
  CREATE INDEX capacity_windows_start ON capacity_windows (start_ms) WHERE NOT started;
  CREATE INDEX capacity_windows_end ON capacity_windows (end_ms) WHERE NOT ended;
  CREATE TABLE capacity_window_hosts (
    window_id  text COLLATE "C" NOT NULL REFERENCES capacity_windows (id) ON DELETE CASCADE,
    host_id    text COLLATE "C" NOT NULL REFERENCES hosts (id),
    PRIMARY KEY (window_id, host_id)
  );
  CREATE INDEX capacity_window_hosts_host ON capacity_window_hosts (host_id, window_id);

  -- The change feed every replica's in-memory index and caches follow: one row per admission or capacity window whose
  -- holding changed, per host whose inventory or generation changed, per setting changed; seq in commit order
  -- (allocated from ledger_tail.change_seq).
  CREATE TABLE changes (
    seq    bigint PRIMARY KEY,
    kind   text NOT NULL CHECK (kind IN ('admission', 'window', 'host', 'settings')),
    ref    text NOT NULL,
    at_ms  bigint NOT NULL
  );
  CREATE INDEX changes_at ON changes (at_ms);

  -- The one row sequence numbers come from. change_seq: the last change committed (readers poll it: one row, one
  -- index lookup). changes_purged_through: change rows with seq ≤ it may be gone (an index behind it reloads in full).
  CREATE TABLE ledger_tail (
    id                      integer PRIMARY KEY CHECK (id = 1),
    change_seq              bigint NOT NULL,
    changes_purged_through  bigint NOT NULL
  );
  INSERT INTO ledger_tail (id, change_seq, changes_purged_through) VALUES (1, 0, 0);
`;

/** Version 2: the durable outbox, webhook subscriptions and their delivery claims, idempotency keys, the audit trail. */
const LEDGER_OUTBOX = `
  -- Events and audit rows take their seq from the tail row as well (commit order, no gaps).
  ALTER TABLE ledger_tail ADD COLUMN event_seq bigint NOT NULL DEFAULT 0, ADD COLUMN audit_seq bigint NOT NULL DEFAULT 0;

  CREATE TABLE events (
    seq        bigint PRIMARY KEY,
    id         text NOT NULL UNIQUE,
    type       text COLLATE "C" NOT NULL,
    at_ms      bigint NOT NULL,
    owner      text COLLATE "C",
    subject    text NOT NULL,
    data_json  text NOT NULL
  );
  CREATE INDEX events_owner ON events (owner, seq);
  CREATE INDEX events_at ON events (at_ms);

  -- A delivery is claimed by locking the subscription's row with FOR UPDATE SKIP LOCKED (one deliverer per
  -- subscription across replicas) and writing a lease: pending_seq, attempts, next_attempt_ms (= lease end while in
  -- flight, the retry time after a failure), lease_token.
  CREATE TABLE subscriptions (
    id               text COLLATE "C" PRIMARY KEY,
    owner            text COLLATE "C" NOT NULL,
    sees_all         boolean NOT NULL,
    url              text NOT NULL,
    events_json      text NOT NULL,
    secret           text NOT NULL,
    created_ms       bigint NOT NULL,
    cursor           bigint NOT NULL,
    delivered        bigint NOT NULL DEFAULT 0,
    pending_seq      bigint,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_ms  bigint,
    last_error       text,
    lease_token      text
  );
  CREATE INDEX subscriptions_owner ON subscriptions (owner);
  CREATE UNIQUE INDEX subscriptions_lease ON subscriptions (lease_token) WHERE lease_token IS NOT NULL;
  CREATE TABLE dead_letters (
    subscription_id  text COLLATE "C" NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    seq              bigint NOT NULL,
    event_id         text NOT NULL,
    attempts         integer NOT NULL,
    last_error       text NOT NULL,
    at_ms            bigint NOT NULL,
    PRIMARY KEY (subscription_id, seq)
  );
  CREATE INDEX dead_letters_at ON dead_letters (at_ms);

  CREATE TABLE idempotency_keys (
    owner         text COLLATE "C" NOT NULL,
    key           text COLLATE "C" NOT NULL,
    request_hash  text NOT NULL,
    answer_json   text NOT NULL,
    created_ms    bigint NOT NULL,
    PRIMARY KEY (owner, key)
  );
  CREATE INDEX idempotency_keys_created ON idempotency_keys (created_ms);

  CREATE TABLE audit (
    seq          bigint PRIMARY KEY,
    at_ms        bigint NOT NULL,
    actor        text COLLATE "C" NOT NULL,
    action       text COLLATE "C" NOT NULL,
    subject      text NOT NULL,
    before_json  text,
    after_json   text
  );
  CREATE INDEX audit_actor ON audit (actor, seq);
  CREATE INDEX audit_action ON audit (action, seq);
`;

/**
 * Version 3: the decision log (every admission answer, rejections and dry-runs too), the audit trail by subject and
 * time, held offers by owner and service (replaceHeld on every recorded admission), and the free-capacity band
 * (LedgerOptions.freeCapacityThresholds) kept on the tail row, so that one replica records each crossing.
 */
const LEDGER_LOGS = `
  CREATE TABLE decisions (
    id           text COLLATE "C" PRIMARY KEY,
    at_ms        bigint NOT NULL,
    request_id   text NOT NULL,
    owner        text COLLATE "C" NOT NULL,
    service_id   text COLLATE "C" NOT NULL,
    admission_id text,
    decision     text NOT NULL,
    dry_run      boolean NOT NULL,
    reasons_json text NOT NULL,
    duration_ms  double precision NOT NULL,
    detail_json  text NOT NULL
  );
  CREATE INDEX decisions_at ON decisions (at_ms, id);
  CREATE INDEX decisions_owner ON decisions (owner, at_ms, id);
  CREATE INDEX decisions_service ON decisions (service_id, at_ms, id);
  CREATE INDEX decisions_admission ON decisions (admission_id) WHERE admission_id IS NOT NULL;
  CREATE INDEX decisions_request ON decisions (request_id);
  CREATE INDEX audit_subject ON audit (subject, seq);
  CREATE INDEX audit_at ON audit (at_ms);
  CREATE INDEX admissions_held_by_service ON admissions (owner, service_id, created_ms, id) WHERE status = 'held';
  ALTER TABLE ledger_tail ADD COLUMN free_capacity_band integer NOT NULL DEFAULT 0;
`;

/** The operator's capability overrides per host (JSON text; merged over host-info's by the service). */
const HOST_CAPABILITIES = `
  CREATE TABLE host_capabilities (
    host_id      text COLLATE "C" PRIMARY KEY,
    set_json     text NOT NULL,
    removed_json text NOT NULL,
    generation   bigint NOT NULL,
    updated_ms   bigint NOT NULL
  );
`;

// Charges (docs/charging.md), as in the SQLite store: the plan an offer was priced with, when its charges next change
// by time, append-only records unique per (owner, admission, key, resource), and balances kept in the same
// transaction. Amounts are integers of millionths of the currency unit.
const CHARGES = `
  ALTER TABLE admissions ADD COLUMN charge_plan_json text;
  ALTER TABLE admissions ADD COLUMN charge_next_ms bigint;
  CREATE INDEX admissions_charge_next ON admissions (charge_next_ms) WHERE charge_next_ms IS NOT NULL;
  CREATE TABLE charges (
    seq           bigserial PRIMARY KEY,
    id            text NOT NULL UNIQUE,
    owner         text COLLATE "C" NOT NULL,
    ref           text COLLATE "C" NOT NULL,
    service_id    text,
    key           text NOT NULL,
    kind          text NOT NULL,
    resource      text NOT NULL,
    amount_micros bigint NOT NULL,
    currency      text NOT NULL,
    at_ms         bigint NOT NULL,
    UNIQUE (owner, ref, key, resource)
  );
  CREATE INDEX charges_owner_at ON charges (owner, at_ms);
  CREATE TABLE charge_balances (
    owner         text COLLATE "C" NOT NULL,
    currency      text NOT NULL,
    amount_micros bigint NOT NULL,
    records       bigint NOT NULL,
    PRIMARY KEY (owner, currency)
  );
`;

// Deployments (docs/deployment.md), as in the SQLite store: one row per deployed admission (gone with it when closed
// admissions are purged); the VMs (slots) are a JSON document always rewritten whole, compare-and-set on the
// generation. Status and notBefore are columns: the deployer asks for what is due.
const DEPLOYMENTS = `
  CREATE TABLE deployments (
    admission_id    text COLLATE "C" PRIMARY KEY REFERENCES admissions (id) ON DELETE CASCADE,
    owner           text COLLATE "C" NOT NULL,
    target          text NOT NULL,
    status          text NOT NULL,
    not_before_ms   bigint NOT NULL,
    generation      bigint NOT NULL,
    attempts        integer NOT NULL,
    error           text,
    lease_holder    text,
    lease_until_ms  bigint,
    vms_json        text NOT NULL,
    created_ms      bigint NOT NULL,
    updated_ms      bigint NOT NULL
  );
  CREATE INDEX deployments_due ON deployments (status, not_before_ms);
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'ledger: settings, hosts, admissions over time, allocations, capacity windows, change feed', sql: LEDGER_CORE },
  { version: 2, name: 'ledger: event outbox, subscriptions and delivery claims, idempotency keys, audit', sql: LEDGER_OUTBOX },
  { version: 3, name: 'ledger: decision log, audit by subject and time, held offers by service, free-capacity band', sql: LEDGER_LOGS },
  { version: 4, name: "ledger: operators' capability overrides per host", sql: HOST_CAPABILITIES },
  { version: 5, name: 'ledger: charge plans, append-only charge records, balances', sql: CHARGES },
  { version: 6, name: 'ledger: deployments of confirmed admissions, VM by VM', sql: DEPLOYMENTS },
];

/** The newest schema version this code knows. */
export const NEWEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Key of the session-level advisory lock migrations run under ('eac-migrate' in ASCII, fits a bigint). */
export const MIGRATION_LOCK = 0x6561_632d_6d69_67n;

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  /** Epoch ms. */
  readonly appliedAt: number | null;
}

export interface PostgresMigrationStatus {
  /** The database URL without its password. */
  readonly database: string;
  /** Whether the database holds a ledger schema at all (false: empty, everything pending). */
  readonly exists: boolean;
  readonly applied: readonly AppliedMigration[];
  readonly pending: readonly { readonly version: number; readonly name: string }[];
  /** The newest version this code knows; applied beyond it means a newer release wrote the database. */
  readonly newestKnown: number;
  readonly current: number;
}

function tooNew(database: string, version: number): AdmissionError {
  return new AdmissionError(
    'AC_ERR_CONFIG',
    `the database ${database} has schema version ${version}, newer than this code's ${NEWEST_SCHEMA_VERSION}: it was written by a newer release`,
    [{ field: 'databaseUrl', reason: `schema version ${version} > ${NEWEST_SCHEMA_VERSION}` }],
  );
}

/** What is applied, read without changing anything. */
export async function readApplied(c: ClientBase, database: string): Promise<AppliedMigration[]> {
  const { rows } = await c.query<{ has: boolean; tables: number }>(
    `SELECT to_regclass('schema_migrations') IS NOT NULL AS has,
            (SELECT count(*)::int FROM pg_catalog.pg_tables WHERE schemaname = current_schema()) AS tables`,
  );
  if (rows[0]!.has) {
    const r = await c.query<AppliedMigration>('SELECT version, name, applied_at AS "appliedAt" FROM schema_migrations ORDER BY version');
    return r.rows.map((x) => ({ version: x.version, name: x.name, appliedAt: x.appliedAt }));
  }
  if (rows[0]!.tables === 0) return [];
  throw new AdmissionError('AC_ERR_CONFIG', `the database ${database} is not a ledger database (it has tables but no schema_migrations table)`, [
    { field: 'databaseUrl', reason: 'unrecognised schema' },
  ]);
}

function statusOf(database: string, applied: readonly AppliedMigration[]): PostgresMigrationStatus {
  const current = applied.reduce((m, a) => Math.max(m, a.version), 0);
  return {
    database,
    exists: applied.length > 0,
    applied,
    pending: MIGRATIONS.filter((m) => m.version > current).map((m) => ({ version: m.version, name: m.name })),
    newestKnown: NEWEST_SCHEMA_VERSION,
    current,
  };
}

const currentOf = (applied: readonly AppliedMigration[]): number => applied.reduce((m, a) => Math.max(m, a.version), 0);

/**
 * Brings the schema up to `to` (default: the newest). Cheap when nothing is pending (one read, no lock); otherwise
 * under the advisory lock, re-reading what is applied once it holds it. The client must not be in a transaction.
 */
export async function migrateClient(c: ClientBase, database: string, now: () => number, to = NEWEST_SCHEMA_VERSION): Promise<PostgresMigrationStatus> {
  const before = await readApplied(c, database);
  const current = currentOf(before);
  if (current > NEWEST_SCHEMA_VERSION) throw tooNew(database, current);
  if (current >= to) return statusOf(database, before);
  await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
  try {
    const applied = await readApplied(c, database);
    const cur = currentOf(applied);
    if (cur > NEWEST_SCHEMA_VERSION) throw tooNew(database, cur);
    await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint)');
    for (const m of MIGRATIONS) {
      if (m.version <= cur || m.version > to) continue;
      await c.query('BEGIN');
      try {
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now()]);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    }
    return statusOf(database, await readApplied(c, database));
  } finally {
    await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => undefined);
  }
}

async function withClient<T>(databaseUrl: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: databaseUrl, types: PG_TYPES, application_name: 'eac-migrate' });
  try {
    await c.connect();
  } catch (e) {
    throw new AdmissionError('AC_ERR_CONFIG', `cannot connect to the database ${redactUrl(databaseUrl)}: ${(e as Error).message}`, [
      { field: 'databaseUrl', reason: (e as Error).message },
    ]);
  }
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Applied / pending / newest known migrations of the database (read only; an empty database has all pending). */
export async function migrationStatus(databaseUrl: string): Promise<PostgresMigrationStatus> {
  const database = redactUrl(databaseUrl);
  return withClient(databaseUrl, async (c) => statusOf(database, await readApplied(c, database)));
}

/** Brings the database's schema up to date (or up to `to`, for tests of the upgrade path); what `eac db migrate` runs. */
export async function migrate(databaseUrl: string, options: { readonly to?: number; readonly clock?: () => number } = {}): Promise<PostgresMigrationStatus> {
  const database = redactUrl(databaseUrl);
  return withClient(databaseUrl, async (c) => migrateClient(c, database, options.clock ?? Date.now, options.to));
}
