/**
 * /health (alive: the process serves) and /ready (able to admit): what each dependency reports — the host-info source
 * and the age of its snapshot, the TREC circuit breakers, the database. Passive reads only, so both answer at once.
 */
import type { HostInfoProvider, HostInfoStatus } from '../host-info/types';

export interface DependencyReport {
  readonly mode: 'open' | 'tokens';
  readonly hostInfo: HostInfoStatus;
  readonly database: { readonly ok: boolean; readonly kind?: string; readonly error?: string };
  /** Per TREC source (absent when the service has no TREC client). */
  readonly trec?: unknown;
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not (or what an operator should know while still ready). */
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
}

export interface HealthSources {
  readonly hostInfo: HostInfoProvider;
  readonly openMode: boolean;
  /** Throws when the database cannot answer. */
  readonly databaseCheck: () => Promise<{ kind: string }> | { kind: string };
  /** Which store the database is (`sqlite`, `postgres`), reported even when it does not answer. */
  readonly databaseKind?: string;
  /** Longest wait for databaseCheck, ms (default DATABASE_CHECK_TIMEOUT_MS). */
  readonly databaseTimeoutMs?: number;
  readonly trecStatus?: () => { readonly sources: readonly { readonly configured?: boolean; readonly state?: string; readonly source: string }[] } | unknown;
}

/** How long /health and /ready wait for the database before reporting it as not answering, ms. */
export const DATABASE_CHECK_TIMEOUT_MS = 2000;

export async function dependencyReport(s: HealthSources): Promise<DependencyReport> {
  let database: DependencyReport['database'];
  try {
    // A database server that accepts the connection but never answers must not hold the probe: bounded.
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = s.databaseTimeoutMs ?? DATABASE_CHECK_TIMEOUT_MS;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      database = { ok: true, ...(await Promise.race([Promise.resolve(s.databaseCheck()), late])) };
    } finally {
      clearTimeout(timer);
    }
  } catch (error) {
    database = { ok: false, ...(s.databaseKind !== undefined ? { kind: s.databaseKind } : {}), error: error instanceof Error ? error.message : String(error) };
  }
  const hostInfo = s.hostInfo.status?.() ?? (await askBriefly(s.hostInfo));
  return { mode: s.openMode ? 'open' : 'tokens', hostInfo, database, ...(s.trecStatus ? { trec: s.trecStatus() } : {}) };
}

/** A source without status() (a test double, a plug-in) is asked directly, for at most 100 ms. */
async function askBriefly(hostInfo: HostInfoProvider): Promise<HostInfoStatus> {
  const base = { provider: hostInfo.name, source: hostInfo.name, stale: false, cacheTtlMs: 0, maxAgeMs: Infinity };
  try {
    const hosts = await hostInfo.listHosts(AbortSignal.timeout(100));
    return { ...base, ok: true, hosts: hosts.length, ageMs: 0 };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ...base, ok: false, lastError: { code: (error as { code?: string }).code ?? 'AC_ERR_UPSTREAM', message, at: new Date().toISOString() } };
  }
}

/**
 * Able to admit: a host snapshot exists and is within the maximum age (the provider refuses older ones), and the
 * database answers. A held-back host list, a stale snapshot or an open TREC circuit still admits (marked degraded), so
 * they are warnings.
 */
export function readiness(report: DependencyReport): Readiness {
  const reasons: string[] = [];
  const warnings: string[] = [];
  if (!report.database.ok) reasons.push(`the database does not answer: ${report.database.error}`);
  const h = report.hostInfo;
  {
    if (h.hosts === undefined || h.hosts === 0) {
      reasons.push(`no host list from ${h.provider}${h.lastError ? `: ${h.lastError.message}` : ' yet'}`);
    } else if (h.ageMs !== undefined && h.maxAgeMs !== undefined && h.ageMs > h.maxAgeMs) {
      reasons.push(`the host list is ${(h.ageMs / 1000).toFixed(1)} s old, more than the maximum age of ${(h.maxAgeMs / 1000).toFixed(1)} s${h.lastError ? `: ${h.lastError.message}` : ''}`);
    } else {
      if (h.suspect) warnings.push(`host list held back: ${h.suspect.reason}`);
      if (h.stale && h.lastError) warnings.push(`host source failing, serving the list read at ${h.lastSuccessAt}: ${h.lastError.message}`);
    }
  }
  const trec = report.trec as { sources?: readonly { source: string; configured?: boolean; state?: string; lastFailure?: { reason: string } }[] } | undefined;
  for (const t of trec?.sources ?? []) {
    if (t.configured !== false && t.state !== undefined && t.state !== 'closed') warnings.push(`TREC ${t.source}: circuit ${t.state}${t.lastFailure ? ` (${t.lastFailure.reason})` : ''}`);
  }
  return { ready: reasons.length === 0, reasons, warnings };
}
