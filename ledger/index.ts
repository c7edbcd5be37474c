/**
 * The ledger module: open the configured implementation. Callers depend on ledger/types.ts only. Two
 * implementations: the embedded SQLite ledger (`<dataDir>/eac.sqlite`, the default) and the PostgreSQL ledger, selected
 * by `databaseUrl` (several replicas of the service on one database).
 */
import { PostgresLedger } from './postgres/postgres-ledger';
import { migrate as migratePostgres, migrationStatus as postgresMigrationStatus } from './postgres/migrations';
import { SqliteLedger } from './sqlite/sqlite-ledger';
import { migrationStatus as sqliteMigrationStatus } from './sqlite/migrations';
import type { Ledger, LedgerOptions } from './types';

export type * from './types';
export { ADMISSION_STATUSES, HOLDING_STATUSES } from './types';
export { CapacityConflictError, type CapacityShortage } from './errors';
export { migrationStatus, type MigrationStatus } from './sqlite/migrations';
export type { PostgresMigrationStatus } from './postgres/migrations';

export interface OpenLedgerOptions extends LedgerOptions {
  /** The SQLite database is `<dataDir>/eac.sqlite` (not used when `databaseUrl` is given). */
  readonly dataDir: string;
  /**
   * `postgres://user:password@host:port/database`: the PostgreSQL ledger, shared by every replica that names the same
   * database. Absent: the SQLite ledger in `dataDir`.
   */
  readonly databaseUrl?: string;
  /** How long a write waits for another process's lock before AC_ERR_TIMEOUT, ms. Default 5000. */
  readonly busyTimeoutMs?: number;
}

const usesPostgres = (o: { readonly databaseUrl?: string }): o is { readonly databaseUrl: string } => typeof o.databaseUrl === 'string' && o.databaseUrl !== '';

export async function openLedger(options: OpenLedgerOptions): Promise<Ledger> {
  if (usesPostgres(options)) return PostgresLedger.open({ ...options, databaseUrl: options.databaseUrl });
  return SqliteLedger.open(options);
}

/** Where a ledger's schema stands, for `eac db status` (either store, read only). */
export interface LedgerMigrationStatus {
  readonly kind: 'sqlite' | 'postgres';
  /** The SQLite file, or the database URL without its password. */
  readonly location: string;
  /** Whether the database exists and holds a ledger schema. */
  readonly exists: boolean;
  readonly applied: readonly { readonly version: number; readonly name: string; readonly appliedAt: number | null }[];
  readonly pending: readonly { readonly version: number; readonly name: string }[];
  /** The newest version this code knows (applied beyond it: a newer release wrote the database). */
  readonly newestKnown: number;
  readonly current: number;
}

export async function ledgerMigrationStatus(options: { readonly dataDir: string; readonly databaseUrl?: string }): Promise<LedgerMigrationStatus> {
  if (usesPostgres(options)) {
    const s = await postgresMigrationStatus(options.databaseUrl);
    return { kind: 'postgres', location: s.database, exists: s.exists, applied: s.applied, pending: s.pending, newestKnown: s.newestKnown, current: s.current };
  }
  const s = await sqliteMigrationStatus(options.dataDir);
  return { kind: 'sqlite', location: s.file, exists: s.exists, applied: s.applied, pending: s.pending, newestKnown: s.newestKnown, current: s.current };
}

/**
 * Brings the ledger's schema up to date without serving (`eac db migrate`). PostgreSQL: under the migration advisory
 * lock, the settings are not seeded (the first open does). SQLite: opening the file migrates it (and seeds settings
 * with `defaults`, since the SQLite ledger has no separate migrate step).
 */
export async function migrateLedger(options: Pick<OpenLedgerOptions, 'dataDir' | 'databaseUrl' | 'defaultWeights' | 'defaultConstraints' | 'clock'>): Promise<LedgerMigrationStatus> {
  if (usesPostgres(options)) {
    await migratePostgres(options.databaseUrl, { ...(options.clock ? { clock: options.clock } : {}) });
  } else {
    await (await SqliteLedger.open(options)).close();
  }
  return ledgerMigrationStatus(options);
}
