/**
 * The ledger's rows as records, for both stores (ledger/sqlite, ledger/postgres): the columns they share have the same
 * names and meanings, so each record has one mapping. Row types name only the columns read here; each store's own row
 * types (which add store-specific columns such as booleans stored as 0/1) are assignable to them.
 */
import { CAPABILITY_NAME, capabilityValueProblem } from '../model/capabilities';
import type { HostCapabilityOverride } from './types';
import { MICROS, type ChargePlan } from '../model/charge-plan';
import type { ChargeBalance, ChargeKind, ChargeRecord } from './charges';
import { invalid } from './validate';
import type { ServiceDecisionKind } from '../admission-controller/decisions';
import type { AdmissionRecord, AdmissionStatus, CapacityWindowRecord, EventType, HostInventory, LedgerEvent, TimeWindow } from './types';

export interface HostInventoryRow {
  id: string;
  cpus: number;
  used_cpus: number;
  memory_mb: number | null;
  used_memory_mb: number | null;
}
export interface AdmissionRecordRow {
  id: string;
  owner: string;
  service_id: string;
  decision: ServiceDecisionKind;
  status: AdmissionStatus;
  start_ms: number;
  end_ms: number | null;
  hold_expires_ms: number;
  expiry_seconds: number | null;
  created_ms: number;
  confirmed_ms: number | null;
  closed_ms: number | null;
  replaces: string | null;
  generation: number;
  response_json: string;
  /** SQLite only (charges): the plan the offer was priced with. */
  charge_plan_json?: string | null;
}
export interface AllocationRow { admission_id: string; host_id: string; cpus: number; memory_mb: number }
export interface WindowRecordRow {
  id: string;
  start_ms: number;
  end_ms: number | null;
  cpus_delta: number;
  memory_mb_delta: number;
  reason: string;
  created_ms: number;
  created_by: string;
}
export interface EventRow { seq: number; id: string; type: EventType; at_ms: number; owner: string | null; subject: string; data_json: string }

export function inventoryOf(r: HostInventoryRow): HostInventory {
  return {
    id: r.id,
    cpus: r.cpus,
    usedCpus: r.used_cpus,
    ...(r.memory_mb !== null ? { memoryMb: r.memory_mb } : {}),
    ...(r.used_memory_mb !== null ? { usedMemoryMb: r.used_memory_mb } : {}),
  };
}

export function sameInventory(a: HostInventory, b: HostInventory): boolean {
  return a.cpus === b.cpus && a.usedCpus === b.usedCpus && a.memoryMb === b.memoryMb && a.usedMemoryMb === b.usedMemoryMb;
}

export function windowOf(start: number, end: number | null): TimeWindow {
  return { start, end };
}

/** The admission as of `now`: a lapsed hold reads `expired`, closed at its hold expiry. */
export function admissionRecord(row: AdmissionRecordRow, hosts: readonly AllocationRow[], now: number): AdmissionRecord {
  const lapsed = row.status === 'held' && now >= row.hold_expires_ms;
  const closed = lapsed ? row.hold_expires_ms : row.closed_ms;
  return {
    id: row.id,
    owner: row.owner,
    serviceId: row.service_id,
    decision: row.decision,
    status: lapsed ? 'expired' : row.status,
    window: windowOf(row.start_ms, row.end_ms),
    holdExpiresAt: row.hold_expires_ms,
    ...(row.expiry_seconds !== null ? { expirySeconds: row.expiry_seconds } : {}),
    createdAt: row.created_ms,
    ...(row.confirmed_ms !== null ? { confirmedAt: row.confirmed_ms } : {}),
    ...(closed !== null ? { closedAt: closed } : {}),
    ...(row.replaces !== null ? { replaces: row.replaces } : {}),
    hosts: hosts.map((h) => ({ hostId: h.host_id, cpus: h.cpus, memoryMb: h.memory_mb })),
    response: JSON.parse(row.response_json) as unknown,
    generation: row.generation,
    ...(row.charge_plan_json ? { chargePlan: JSON.parse(row.charge_plan_json) as ChargePlan } : {}),
  };
}

export function windowRecord(row: WindowRecordRow, hosts: readonly string[]): CapacityWindowRecord {
  return {
    id: row.id,
    hosts,
    window: windowOf(row.start_ms, row.end_ms),
    cpusDelta: row.cpus_delta,
    memoryMbDelta: row.memory_mb_delta,
    reason: row.reason,
    createdAt: row.created_ms,
    createdBy: row.created_by,
  };
}

export function eventOf(r: EventRow): LedgerEvent {
  return { seq: r.seq, id: r.id, type: r.type, at: r.at_ms, owner: r.owner, subject: r.subject, data: JSON.parse(r.data_json) as Record<string, unknown> };
}

/** What the audit trail and events say about an admission. */
export function admissionSummary(r: AdmissionRecord): Record<string, unknown> {
  return { status: r.status, window: r.window, hosts: r.hosts, holdExpiresAt: r.holdExpiresAt, generation: r.generation };
}

export function frozen<T extends object>(record: T): T {
  for (const v of Object.values(record)) if (typeof v === 'object' && v !== null) Object.freeze(v);
  return Object.freeze(record);
}

// ---------------------------------------------------------------------------------------------
// Capability overrides (operator API): one row per host, the change applied the same way by every store.

export interface HostCapabilityRow {
  host_id: string;
  set_json: string;
  removed_json: string;
  generation: number | string;
  updated_ms: number | string;
}

export function capabilityOverrideOf(row: HostCapabilityRow): HostCapabilityOverride {
  return {
    hostId: row.host_id,
    set: JSON.parse(row.set_json) as Record<string, string | true>,
    removed: JSON.parse(row.removed_json) as string[],
    generation: Number(row.generation),
    updatedAt: Number(row.updated_ms),
  };
}

/**
 * The override after a change: a value sets the capability (and un-hides it), null removes it (from the override, and
 * hides host-info's value). Names and values are checked here, before any store writes them.
 */
export function changedCapabilities(
  before: Pick<HostCapabilityOverride, 'set' | 'removed'> | undefined,
  change: Readonly<Record<string, string | true | null>>,
): { readonly set: Record<string, string | true>; readonly removed: string[] } {
  const entries = Object.entries(change ?? {});
  if (entries.length === 0) throw invalid('capabilities', 'expected at least one capability (a value, true, or null to remove it)');
  if (entries.length > 256) throw invalid('capabilities', 'at most 256 capabilities per change');
  const set: Record<string, string | true> = { ...(before?.set ?? {}) };
  const removed = new Set(before?.removed ?? []);
  for (const [name, value] of entries) {
    const problem = value === null ? (CAPABILITY_NAME.test(name) ? undefined : `capability name must match ${CAPABILITY_NAME.source}`) : capabilityValueProblem(name, value);
    if (problem) throw invalid(`capabilities.${name}`, problem);
    if (value === null) {
      delete set[name];
      removed.add(name);
    } else {
      set[name] = value;
      removed.delete(name);
    }
  }
  return { set, removed: [...removed].sort() };
}

/** A charge record's row, as both stores keep it (amounts in millionths; bigint columns may come back as strings). */
export interface ChargeRecordRow {
  seq: number | string;
  id: string;
  owner: string;
  /** '' for an owner-level record (a credit grant or expiry). */
  ref: string;
  service_id: string | null;
  key: string;
  kind: ChargeKind;
  /** '' for credits. */
  resource: string;
  amount_micros: number | string;
  currency: string;
  at_ms: number | string;
}
export interface ChargeBalanceRow {
  owner: string;
  currency: string;
  amount_micros: number | string;
  records: number | string;
}

export function chargeRecord(r: ChargeRecordRow): ChargeRecord {
  return {
    seq: Number(r.seq),
    id: r.id,
    owner: r.owner,
    admissionId: r.ref === '' ? null : r.ref,
    serviceId: r.service_id,
    key: r.key,
    kind: r.kind,
    resource: r.resource === '' ? null : r.resource,
    amount: Number(r.amount_micros) / MICROS,
    currency: r.currency,
    at: Number(r.at_ms),
  };
}

export function chargeBalance(r: ChargeBalanceRow): ChargeBalance {
  return { owner: r.owner, currency: r.currency, amount: Number(r.amount_micros) / MICROS, records: Number(r.records) };
}
