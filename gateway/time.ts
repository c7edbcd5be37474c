/** RFC 3339 instants and windows at the HTTP boundary: parsed strictly (field named on error), written as ISO 8601 UTC. */
import { AdmissionError } from '../model/errors';
import type { EpochMs, TimeWindow } from '../ledger/types';

/** Full date-time with a time zone (RFC 3339 §5.6); fractions of a second up to nanoseconds. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseInstant(value: unknown, field: string): EpochMs {
  if (typeof value !== 'string' || !RFC3339.test(value)) {
    throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${field}: expected an RFC 3339 date-time such as 2026-12-24T18:00:00Z, got ${JSON.stringify(value)?.slice(0, 60)}`, [
      { field, reason: 'not an RFC 3339 date-time' },
    ]);
  }
  const m = RFC3339.exec(value)!;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  const ms = Date.parse(value.toUpperCase());
  // Date.parse rolls 2026-02-30 over to March: compare the fields with what came out.
  const check = new Date(ms + offsetMs(m[8]!));
  if (!Number.isFinite(ms) || check.getUTCMonth() + 1 !== month || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${field}: ${value} is not a real instant`, [{ field, reason: 'no such date or time' }]);
  }
  return ms;
}

function offsetMs(zone: string): number {
  if (zone === 'Z' || zone === 'z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
}

export const iso = (ms: EpochMs): string => new Date(ms).toISOString();
export const isoOrNull = (ms: EpochMs | null | undefined): string | null => (ms === null || ms === undefined ? null : iso(ms));

/**
 * A request's window: start defaults to now, end to open. `start` in the past is taken as now (a reservation cannot
 * begin before it is made); end must be after start.
 */
export function parseWindow(input: { start?: unknown; end?: unknown }, now: EpochMs, fields: { start: string; end: string } = { start: 'start', end: 'end' }): TimeWindow {
  const start = input.start === undefined || input.start === null || input.start === '' ? now : Math.max(now, parseInstant(input.start, fields.start));
  const end = input.end === undefined || input.end === null || input.end === '' ? null : parseInstant(input.end, fields.end);
  if (end !== null && end <= start) {
    throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${fields.end} (${iso(end)}) must be after the start (${iso(start)})`, [
      { field: fields.end, reason: 'not after the start' },
    ]);
  }
  return { start, end };
}

export function windowJson(w: TimeWindow): { start: string; end: string | null } {
  return { start: iso(w.start), end: isoOrNull(w.end) };
}
