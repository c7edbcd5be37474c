/**
 * The ledger module: open the configured implementation. Callers depend on ledger/types.ts only; today the one
 * implementation is the embedded SQLite ledger (a PostgreSQL one will be selected here by the options).
 */
import { SqliteLedger } from './sqlite/sqlite-ledger';
import type { Ledger, LedgerOptions } from './types';

export type * from './types';
export { ADMISSION_STATUSES, HOLDING_STATUSES } from './types';
export { CapacityConflictError, type CapacityShortage } from './errors';
export { migrationStatus, type MigrationStatus } from './sqlite/migrations';

export interface OpenLedgerOptions extends LedgerOptions {
  /** The SQLite database is `<dataDir>/eac.sqlite`. */
  readonly dataDir: string;
  /** How long a write waits for another process's lock before AC_ERR_TIMEOUT, ms. Default 5000. */
  readonly busyTimeoutMs?: number;
}

export async function openLedger(options: OpenLedgerOptions): Promise<Ledger> {
  return SqliteLedger.open(options);
}
