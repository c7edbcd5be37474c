export { PostgresLedger, type PostgresLedgerOptions } from './postgres-ledger';
export { migrationStatus, migrate, MIGRATIONS, NEWEST_SCHEMA_VERSION, MIGRATION_LOCK, type PostgresMigrationStatus, type AppliedMigration } from './migrations';
