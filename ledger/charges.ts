/**
 * Charges, storage-independent (issue "Charging policies"; docs/charging.md). Every state change of a charged
 * admission settles its charges in the same transaction as the change: the ledger computes what the admission should
 * have been charged by now in its state (`chargeTarget`), subtracts what its records already charge, and appends the
 * difference per resource. So a transition replayed, or retried after a crash, appends nothing — and each record also
 * carries a key unique per admission and resource (`commit:<generation>`, `usage:<hour>`, …) that the stores enforce.
 *
 * A record's `amount` is its effect on the owner's balance: a charge is negative, a refund or a credit grant positive.
 * A balance is the sum of its owner's records, kept in the same transaction (so a kill -9 leaves them equal).
 */
import { HOUR_MS, amountOver, money, type ChargePlan } from '../model/charge-plan';
import type { AdmissionStatus, EpochMs, TimeWindow } from './types';

export type ChargeKind = 'grant' | 'expire' | 'commit' | 'usage' | 'refund' | 'adjust';

export interface ChargeRecord {
  readonly seq: number;
  readonly id: string;
  readonly owner: string;
  /** null: an owner-level record (a credit grant or expiry). */
  readonly admissionId: string | null;
  readonly serviceId: string | null;
  readonly key: string;
  readonly kind: ChargeKind;
  /** null for credits (they are not per resource). */
  readonly resource: string | null;
  /** Effect on the balance: charges < 0, refunds and grants > 0. */
  readonly amount: number;
  readonly currency: string;
  readonly at: EpochMs;
}

export interface ChargeFilter {
  readonly owner?: string;
  readonly admissionId?: string;
  /** Records with at in [from, to). */
  readonly from?: EpochMs;
  readonly to?: EpochMs;
}

export interface ChargeBalance {
  readonly owner: string;
  readonly currency: string;
  /** The sum of the owner's records. */
  readonly amount: number;
  readonly records: number;
}

/** What a charged admission's state has cost it by `now`, per resource (≥ 0). */
export function chargeTarget(
  plan: ChargePlan,
  admission: { readonly status: AdmissionStatus; readonly window: TimeWindow; readonly confirmedAt?: EpochMs; readonly closedAt?: EpochMs },
  now: EpochMs,
): Map<string, number> {
  const out = new Map<string, number>();
  const { start, end } = admission.window;
  let upTo: number | null;
  if (admission.confirmedAt === undefined) upTo = start; // never confirmed: never charged
  else if (admission.status === 'released') upTo = Math.max(start, end === null ? admission.closedAt ?? now : Math.min(end, admission.closedAt ?? now));
  else if (end !== null) upTo = end; // confirmed, active or ended: the whole closed window, committed at confirmation
  else if (admission.status === 'active' || now >= start) upTo = start + (Math.floor((Math.max(now, start) - start) / HOUR_MS) + 1) * HOUR_MS; // an open window: each started hour
  else upTo = start;
  const windowed = { windowStart: plan.windowStart, windowEnd: plan.windowEnd };
  for (const item of plan.items) out.set(item.resource, (out.get(item.resource) ?? 0) + amountOver(windowed, item, start, upTo));
  for (const [k, v] of out) out.set(k, money(v));
  return out;
}

/** When the admission's charges next change by time alone: the next hour of an active open window, else null. */
export function nextChargeAt(plan: ChargePlan | undefined, admission: { readonly status: AdmissionStatus; readonly window: TimeWindow }, now: EpochMs): EpochMs | null {
  if (!plan || admission.window.end !== null) return null;
  if (admission.status !== 'active' && admission.status !== 'confirmed') return null;
  const start = admission.window.start;
  if (now < start) return start;
  return start + (Math.floor((now - start) / HOUR_MS) + 1) * HOUR_MS;
}

/** The records to append: per resource, the target minus what is charged already (net: the records' sum per resource). */
export function chargeDeltas(target: ReadonlyMap<string, number>, net: ReadonlyMap<string, number>): { resource: string; amount: number }[] {
  const out: { resource: string; amount: number }[] = [];
  const resources = new Set([...target.keys(), ...net.keys()]);
  for (const r of [...resources].sort()) {
    // net is the balance effect (≤ 0 for charges); the balance effect to add is −(target + net).
    const amount = money(-((target.get(r) ?? 0) + (net.get(r) ?? 0)));
    if (amount !== 0) out.push({ resource: r, amount });
  }
  return out;
}

/** The record kind a settlement writes, by what caused it. */
export function settlementKind(cause: 'confirm' | 'reschedule' | 'release' | 'advance', amount: number): ChargeKind {
  if (cause === 'confirm') return 'commit';
  if (cause === 'reschedule') return 'adjust';
  if (cause === 'release') return 'refund';
  return amount < 0 ? 'usage' : 'refund';
}
