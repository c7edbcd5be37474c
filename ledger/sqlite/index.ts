export { SqliteLedger, DATABASE_FILE, type SqliteLedgerOptions } from './sqlite-ledger';
export { migrationStatus, MIGRATIONS, NEWEST_SCHEMA_VERSION, LEGACY_OWNER, type MigrationStatus, type AppliedMigration } from './migrations';
