/**
 * Connections to the ledger's PostgreSQL database: type parsing (bigint epoch ms and counters as numbers), URL
 * redaction for messages, and which server errors mean "try the transaction again" or "the database is not answering".
 */
import { types as pgTypes, type CustomTypesConfig } from 'pg';
import { AdmissionError } from '../../model/errors';
import { redactDatabaseUrl } from '../../model/redact';

const INT8 = 20;
const NUMERIC = 1700;

/**
 * bigint (int8) and numeric come back as JavaScript numbers: every bigint the ledger stores is an epoch ms, a
 * generation, a count or a sequence number, all far below 2^53.
 */
export const PG_TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
    return (pgTypes.getTypeParser as (o: number, f?: 'text' | 'binary') => unknown)(oid, format);
  }) as CustomTypesConfig['getTypeParser'],
};

/** The URL without its password or secret query values (for messages and status): model/redact's rule. */
export function redactUrl(url: string): string {
  return redactDatabaseUrl(url);
}

export interface PgError {
  readonly code?: string;
  readonly constraint?: string;
  readonly message: string;
}

export const pgCode = (e: unknown): string | undefined => (typeof e === 'object' && e !== null ? ((e as PgError).code as string | undefined) : undefined);

/** serialization_failure, deadlock_detected: the transaction may simply be run again. */
export function retryable(e: unknown): boolean {
  const code = pgCode(e);
  return code === '40001' || code === '40P01';
}

/** Errors that mean the database did not answer in time or the connection is gone: AC_ERR_TIMEOUT (503). */
export function unavailable(e: unknown, database: string): AdmissionError | undefined {
  const code = pgCode(e);
  const message = (e as Error)?.message ?? String(e);
  const timeout =
    code === '55P03' || // lock_not_available (lock_timeout)
    code === '57014' || // query_canceled (statement_timeout)
    code === '57P01' || // admin_shutdown
    code === '57P02' ||
    code === '57P03' || // cannot_connect_now
    code === '53300' || // too_many_connections
    (typeof code === 'string' && code.startsWith('08')) || // connection exceptions
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended/i.test(message);
  if (!timeout) return undefined;
  return new AdmissionError('AC_ERR_TIMEOUT', `the ledger database ${database} did not answer in time (${code ?? 'connection'}): ${message}`, [{ field: 'databaseUrl', reason: message }]);
}
