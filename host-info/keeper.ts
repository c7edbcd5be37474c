/**
 * The snapshot a provider serves and what it knows about it, shared by the remote providers (through SnapshotCache) and
 * the inventory: which answer is believed (empty and drastically shorter lists are held back), how old the data is,
 * when it may no longer be served, and the per-snapshot record behind HostInfoProvider.snapshotInfo().
 * No I/O: the providers read their source and hand the answers (or failures) over.
 */
import { AdmissionError, type ErrorCode, type ErrorDetail } from '../model/errors';
import {
  DEFAULT_MAX_SHRINK,
  DEFAULT_MAX_STALE_MS,
  DEFAULT_SHRINK_CONFIRM_MS,
  freezeSnapshot,
  type HostCapacity,
  type HostInfoError,
  type HostInfoStatus,
  type HostSnapshot,
  type ShrinkGuardConfig,
  type SnapshotInfo,
  type SuspectInfo,
} from './types';

/**
 * listHosts() has no data young enough to serve: the last good snapshot is older than the maximum age and the source
 * fails, or its answers are held back. The message says how old the data is and why it was not refreshed.
 * Code AC_ERR_UPSTREAM (AC_ERR_CONFIG for the inventory) until the catalogue has a code of its own for it.
 */
export class HostSnapshotTooOldError extends AdmissionError {
  constructor(
    code: ErrorCode,
    message: string,
    details: readonly ErrorDetail[],
    /** Age of the last good snapshot, ms. */
    readonly ageMs: number,
    /** The maximum age it exceeded, ms. */
    readonly maxAgeMs: number,
    /** When the source last vouched for it (ISO 8601). */
    readonly readAt: string,
    /** Hosts in it. */
    readonly hosts: number,
  ) {
    super(code, message, details);
  }
}

/** Validates the settings shared by every provider kind (maxStaleMs, maxShrink, shrinkConfirmMs); AC_ERR_CONFIG. */
export function checkGuardConfig(provider: string, c: ShrinkGuardConfig & { maxStaleMs?: unknown }): void {
  const bad = (field: string, reason: string): never => {
    throw new AdmissionError('AC_ERR_CONFIG', `${provider}: ${field} ${reason}`, [{ field: `${provider}.${field}`, reason }]);
  };
  const { maxStaleMs, maxShrink, shrinkConfirmMs } = c as { maxStaleMs?: unknown; maxShrink?: unknown; shrinkConfirmMs?: unknown };
  if (maxStaleMs !== undefined && (typeof maxStaleMs !== 'number' || !Number.isFinite(maxStaleMs) || maxStaleMs < 0)) {
    bad('maxStaleMs', 'must be a number of ms ≥ 0');
  }
  if (maxShrink !== undefined && (typeof maxShrink !== 'number' || !Number.isFinite(maxShrink) || maxShrink < 0 || maxShrink > 1)) {
    bad('maxShrink', 'must be a share between 0 and 1');
  }
  if (shrinkConfirmMs !== undefined && (typeof shrinkConfirmMs !== 'number' || !Number.isFinite(shrinkConfirmMs) || shrinkConfirmMs < 0)) {
    bad('shrinkConfirmMs', 'must be a number of ms ≥ 0');
  }
}

export interface KeeperOptions {
  readonly provider: string;
  /** Path or URL without credentials. */
  readonly source: string;
  /** How messages start (`PhysicalHosts service http://…`, or the inventory path). */
  readonly where: string;
  /** Who answers, in reasons (`PhysicalHosts service`, `the inventory file`), and the verb (`answered`, `lists`). */
  readonly subject: string;
  readonly verb: string;
  readonly cacheTtlMs: number;
  readonly guard: ShrinkGuardConfig & { readonly maxStaleMs?: number };
  /** The code of HostSnapshotTooOldError for this provider. */
  readonly tooOldCode: ErrorCode;
  /** The error for a first answer with no hosts (there is nothing to fall back on). */
  readonly emptyError: (notes: readonly string[]) => AdmissionError;
  readonly clock: () => number;
}

/** Facts about one snapshot: fixed when it is believed, refreshed each time it is served. */
interface SnapshotRecord {
  /** When the source last vouched for it. Only ever moves forward. */
  readAt: number;
  readonly notes: readonly string[];
  readonly accepted?: SuspectInfo;
  stale: boolean;
  lastError?: HostInfoError;
  suspect?: SuspectInfo;
}

/** A run of suspicious answers, with the latest one (believed as is if a shrink persists). */
interface Pending {
  readonly kind: 'empty' | 'shrink';
  readonly since: number;
  answers: number;
  hosts: readonly HostCapacity[];
  notes: readonly string[];
}

export type Offered =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'held' }
  /** First answer with no hosts: nothing held, so nothing to serve. */
  | { readonly kind: 'refused'; readonly error: AdmissionError };

/**
 * Rules (predictable, and safe to admit on):
 * - An answer is believed (replaces the held snapshot) unless it is empty, or drops more than maxShrink of the held hosts.
 * - A first answer with no hosts is an error (emptyError): the service cannot admit anything and must say so.
 * - An empty answer after a non-empty one is never believed: the held snapshot is served, marked suspect, until the
 *   source answers hosts again or the maximum age is passed (then listHosts() rejects).
 * - A drastically shorter answer is held back the same way and believed at the first answer that finds it has persisted
 *   (no plausible answer in between; failed reads do not count either way) for shrinkConfirmMs. Switching between empty
 *   and shorter answers starts the run again.
 * - The held snapshot is served while the latest answer believed it, and otherwise (failure, suspicion) while its age
 *   (time since the source last vouched for it) is within cacheTtlMs + maxStaleMs; with maxStaleMs 0, only while fresh.
 */
export class SnapshotKeeper {
  readonly maxAgeMs: number;
  private readonly maxStaleMs: number;
  private readonly maxShrink: number;
  private readonly shrinkConfirmMs: number;
  private readonly records = new WeakMap<HostSnapshot, SnapshotRecord>();
  private held: { readonly snapshot: HostSnapshot; readonly record: SnapshotRecord } | undefined;
  private pending: Pending | undefined;
  private lastError: { readonly error: AdmissionError; readonly at: number } | undefined;
  private servedStale = false;

  constructor(private readonly options: KeeperOptions) {
    this.maxStaleMs = options.guard.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
    this.maxShrink = options.guard.maxShrink ?? DEFAULT_MAX_SHRINK;
    this.shrinkConfirmMs = options.guard.shrinkConfirmMs ?? DEFAULT_SHRINK_CONFIRM_MS;
    this.maxAgeMs = options.cacheTtlMs + this.maxStaleMs;
  }

  get hasSnapshot(): boolean {
    return this.held !== undefined;
  }

  /** Whether `snapshot` is the one served now. */
  holds(snapshot: HostSnapshot): boolean {
    return this.held?.snapshot === snapshot;
  }

  /**
   * A successful read of the source. `count` false re-submits the pending answer without counting it again (an
   * unchanged inventory file still saying the same thing): it may then be believed, if it has persisted long enough.
   */
  offer(hosts: readonly HostCapacity[], notes: readonly string[], now: number, count = true): Offered {
    const held = this.held;
    if (hosts.length === 0 && !held) {
      const error = this.options.emptyError(notes);
      this.fail(error, now);
      return { kind: 'refused', error };
    }
    this.lastError = undefined;
    const previous = held?.snapshot.length ?? 0;
    const kind = hosts.length === 0 ? 'empty' : held && (previous - hosts.length) / previous > this.maxShrink ? 'shrink' : undefined;
    if (kind === undefined) {
      this.believe(hosts, notes, now);
      return { kind: 'accepted' };
    }
    let p = this.pending;
    if (p?.kind !== kind) {
      p = { kind, since: now, answers: 0, hosts, notes };
      this.pending = p;
    }
    if (count) p.answers++;
    p.hosts = hosts;
    p.notes = notes;
    if (kind === 'shrink' && now - p.since >= this.shrinkConfirmMs) {
      this.believe(hosts, notes, now, this.suspectInfo(p));
      return { kind: 'accepted' };
    }
    return { kind: 'held' };
  }

  /** Re-evaluates the pending answer (see offer's `count`); true when it was believed now. */
  recheck(now: number): boolean {
    const p = this.pending;
    return p !== undefined && this.offer(p.hosts, p.notes, now, false).kind === 'accepted';
  }

  /** A failed read. The held snapshot and any pending run stay. */
  fail(error: AdmissionError, now: number): void {
    this.lastError = { error, at: now };
  }

  /** The source vouches again for the held snapshot as of `at` (inventory: the file is unchanged). */
  confirm(at: number): void {
    const r = this.held?.record;
    if (r && at > r.readAt) r.readAt = at;
  }

  /** Whether listHosts() may answer with the held snapshot now. */
  servable(now: number): boolean {
    const held = this.held;
    if (!held) return false;
    if (!this.lastError && !this.pending) return true;
    const age = now - held.record.readAt;
    return this.maxStaleMs > 0 ? age <= this.maxAgeMs : age < this.options.cacheTtlMs;
  }

  /** The held snapshot, with what is known now recorded on it. Call only when servable(). */
  serve(): HostSnapshot {
    const held = this.held!;
    const r = held.record;
    r.stale = this.lastError !== undefined;
    r.lastError = this.errorView();
    r.suspect = this.pending ? this.suspectInfo(this.pending) : undefined;
    this.servedStale = r.stale;
    return held.snapshot;
  }

  /** Why listHosts() cannot answer now (when !servable()): the data is too old, or there never was any. */
  unservable(now: number, fallback?: AdmissionError): AdmissionError {
    const held = this.held;
    if (!held) {
      return (
        fallback ??
        this.lastError?.error ??
        new AdmissionError('AC_ERR_UPSTREAM', `${this.options.where}: no host list has been read yet`, [{ field: this.options.source, reason: 'nothing read yet' }])
      );
    }
    const age = now - held.record.readAt;
    const readAt = iso(held.record.readAt);
    const whys: string[] = [];
    const p = this.pending;
    if (p) {
      const info = this.suspectInfo(p);
      whys.push(
        `${info.reason}, since ${info.since} (${info.answers} answer${info.answers === 1 ? '' : 's'}), ` +
          (info.acceptAt ? `believed only if it persists until ${info.acceptAt}` : 'and an empty host list is never believed'),
      );
    }
    if (this.lastError) whys.push(`refreshing failed: ${this.withoutWhere(this.lastError.error.message)}`);
    if (whys.length === 0) whys.push('it was not refreshed');
    const howOld = `the last good host list (${held.snapshot.length} hosts, read at ${readAt}) is ${seconds(age)} old, more than the maximum age of ${seconds(this.maxAgeMs)}`;
    return new HostSnapshotTooOldError(
      this.options.tooOldCode,
      `${this.options.where}: ${howOld}; ${whys.join('; ')}`,
      [
        { field: this.options.source, reason: `last good host list is ${seconds(age)} old (maximum ${seconds(this.maxAgeMs)})` },
        ...whys.map((reason) => ({ field: this.options.source, reason })),
      ],
      age,
      this.maxAgeMs,
      readAt,
      held.snapshot.length,
    );
  }

  info(snapshot: HostSnapshot, now: number): SnapshotInfo | undefined {
    const r = this.records.get(snapshot);
    if (!r) return undefined;
    return {
      provider: this.options.provider,
      source: this.options.source,
      hosts: snapshot.length,
      readAt: iso(r.readAt),
      ageMs: now - r.readAt,
      cacheTtlMs: this.options.cacheTtlMs,
      maxAgeMs: this.maxAgeMs,
      fresh: !r.stale && r.suspect === undefined,
      stale: r.stale,
      ...(r.lastError ? { lastError: r.lastError } : {}),
      ...(r.suspect ? { suspect: r.suspect } : {}),
      ...(r.accepted ? { accepted: r.accepted } : {}),
      current: this.held?.snapshot === snapshot,
      ...(r.notes.length > 0 ? { notes: r.notes } : {}),
    };
  }

  status(now: number): HostInfoStatus {
    const held = this.held;
    const error = this.errorView();
    return {
      provider: this.options.provider,
      source: this.options.source,
      ok: error === undefined && this.pending === undefined,
      stale: this.servedStale,
      cacheTtlMs: this.options.cacheTtlMs,
      maxAgeMs: this.maxAgeMs,
      ...(held
        ? {
            hosts: held.snapshot.length,
            lastSuccessAt: iso(held.record.readAt),
            ageMs: now - held.record.readAt,
            ...(held.record.accepted ? { accepted: held.record.accepted } : {}),
            ...(held.record.notes.length > 0 ? { notes: held.record.notes } : {}),
          }
        : {}),
      ...(this.pending ? { suspect: this.suspectInfo(this.pending) } : {}),
      ...(error ? { lastError: error } : {}),
    };
  }

  private believe(hosts: readonly HostCapacity[], notes: readonly string[], now: number, accepted?: SuspectInfo): void {
    const snapshot = freezeSnapshot(hosts);
    const record: SnapshotRecord = { readAt: now, notes, stale: false, ...(accepted ? { accepted } : {}) };
    this.records.set(snapshot, record);
    this.held = { snapshot, record };
    this.pending = undefined;
    this.lastError = undefined;
    this.servedStale = false;
  }

  private suspectInfo(p: Pending): SuspectInfo {
    const previous = this.held?.snapshot.length ?? 0;
    const { subject, verb } = this.options;
    const n = p.hosts.length;
    const why = p.kind === 'shrink' ? `: more than ${percent(this.maxShrink)} % fewer` : '';
    const notes = p.notes.length > 0 ? ` (${p.notes.join('; ')})` : '';
    return {
      reason: `${subject} ${verb} ${n} host${n === 1 ? '' : 's'}, previously ${previous}${why}${notes}`,
      answeredHosts: n,
      previousHosts: previous,
      since: iso(p.since),
      answers: p.answers,
      ...(p.kind === 'shrink' ? { acceptAt: iso(p.since + this.shrinkConfirmMs) } : {}),
    };
  }

  private errorView(): HostInfoError | undefined {
    const e = this.lastError;
    return e ? { code: e.error.code, message: e.error.message, at: iso(e.at) } : undefined;
  }

  private withoutWhere(message: string): string {
    const prefix = `${this.options.where}: `;
    return message.startsWith(prefix) ? message.slice(prefix.length) : message;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** `6.001 s`, `125 s`: exact to the millisecond, so that "older than the maximum" never reads as equal to it. */
export function seconds(ms: number): string {
  return `${Math.round(ms) / 1000} s`;
}

function percent(share: number): string {
  return String(Math.round(share * 1000) / 10);
}
