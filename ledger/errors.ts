/**
 * The ledger's errors beyond the plain AdmissionError: a capacity conflict carries what is short, where, and who holds
 * it, both as `details` (for the HTTP answer) and typed (for the gateway's explanation).
 */
import { AdmissionError, type ErrorDetail } from '../model/errors';
import type { TimeWindow } from './types';

export interface CapacityShortage {
  /** The booking (admission id) that does not fit. */
  readonly admissionId: string;
  readonly hostId: string;
  /** `host`: the host is not in the inventory or was removed. */
  readonly resource: 'cpus' | 'memoryMb' | 'host';
  readonly needed: number;
  /** The minimum free amount over the window (may be negative: the host is overfull there); 0 for `host`. */
  readonly free: number;
  readonly window: TimeWindow;
  /** Admissions holding capacity on the host in the window, largest first. */
  readonly holders: readonly string[];
  readonly reason?: 'unknown host' | 'removed host';
}

const isoOf = (ms: number | null): string => (ms === null ? '∞' : new Date(ms).toISOString());
const round = (n: number): number => Math.round(n * 1e6) / 1e6;

export class CapacityConflictError extends AdmissionError {
  readonly shortage: CapacityShortage;

  constructor(shortage: CapacityShortage) {
    const w = `[${isoOf(shortage.window.start)}, ${isoOf(shortage.window.end)})`;
    const unit = shortage.resource === 'cpus' ? 'CPUs' : 'MB of memory';
    const message =
      shortage.resource === 'host'
        ? `admission '${shortage.admissionId}' books host '${shortage.hostId}', which is ${shortage.reason === 'removed host' ? 'removed from' : 'not in'} the inventory`
        : `host '${shortage.hostId}' has ${round(shortage.free)} ${unit} free in ${w}; admission '${shortage.admissionId}' needs ${round(shortage.needed)}` +
          (shortage.holders.length > 0 ? ` (held by ${shortage.holders.slice(0, 10).join(', ')}${shortage.holders.length > 10 ? ', …' : ''})` : '');
    const details: ErrorDetail[] = [
      { field: 'admissionId', reason: shortage.admissionId },
      { field: 'hostId', reason: shortage.hostId },
      { field: 'resource', reason: shortage.resource },
      { field: 'needed', reason: String(round(shortage.needed)) },
      { field: 'free', reason: String(round(shortage.free)) },
      { field: 'window', reason: w },
      { field: 'holders', reason: shortage.holders.join(' ') },
    ];
    super('AC_ERR_CAPACITY_CONFLICT', message, details);
    this.shortage = shortage;
  }
}

export function notFound(what: string, id: string): AdmissionError {
  return new AdmissionError('AC_ERR_NOT_FOUND', `${what} '${id}' does not exist`, [{ field: 'id', reason: `no ${what} '${id}'` }]);
}

export function generationConflict(what: string, expected: number, current: number): AdmissionError {
  return new AdmissionError('AC_ERR_CONFLICT', `${what} was changed concurrently: expected generation ${expected}, current ${current}`, [
    { field: 'generation', reason: `expected ${expected}, current ${current}` },
  ]);
}

export function stateConflict(what: string, reason: string): AdmissionError {
  return new AdmissionError('AC_ERR_CONFLICT', `${what}: ${reason}`, [{ field: 'status', reason }]);
}
