/**
 * A priced offer as the ledger keeps it (extension: charging, docs/charging.md): per component, host group and
 * resource, the quantity charged and the prices over the window. The catalogue (charging/) builds it when the offer is
 * made; the ledger charges from it at each state change (commit, refund, adjustment, hourly usage) without reading the
 * catalogue again, so what a client was offered is what it is charged, whatever the catalogue says later.
 *
 * `amountOver` is the one place where an item's amount over part of its window is computed — for the offer's
 * breakdown (charging/pricing.ts) and for every charge record the ledger writes.
 */

/** How a resource's use turns into money (Aquarium's cost policies). */
export type CostPolicy =
  /** quantity × hours × price, to the millisecond (vCPU-hours, GB-hours). */
  | 'continuous'
  /** quantity × price for every started hour of the window (a VM that is on), priced at each hour's start. */
  | 'onoff'
  /** quantity × price once, at the window's start (a launch fee). */
  | 'discrete';

/** A price in force over [from, to). */
export interface PriceSegment {
  readonly from: number;
  /** null: open (an open window's hourly price, fixed when the offer was made). */
  readonly to: number | null;
  readonly price: number;
}

export interface ChargeItem {
  readonly componentId: string;
  /** The catalogue's host group, or null for hosts in none. */
  readonly hostGroup: string | null;
  readonly resource: string;
  readonly policy: CostPolicy;
  /** vCPUs, GB or VMs of this component on this group's hosts. */
  readonly quantity: number;
  /** Contiguous, covering the window from its start (the last one open for an open window). */
  readonly segments: readonly PriceSegment[];
}

export interface ChargePlan {
  readonly currency: string;
  readonly agreement: string;
  readonly priceList: string;
  readonly windowStart: number;
  /** null: an open window, charged per hour as it runs. */
  readonly windowEnd: number | null;
  readonly items: readonly ChargeItem[];
}

export const HOUR_MS = 3_600_000;

/** Money is kept in millionths of the currency unit (the ledger stores these integers, so sums are exact). */
export const MICROS = 1_000_000;
export function money(x: number): number {
  return Math.round(x * MICROS) / MICROS;
}

function priceAt(segments: readonly PriceSegment[], t: number): number {
  for (const s of segments) if (t >= s.from && (s.to === null || t < s.to)) return s.price;
  return segments.length > 0 ? segments[segments.length - 1]!.price : 0;
}

/**
 * What the item costs over [from, to) ∩ its window (to = null: up to the window's end; an open window needs a `to`).
 * continuous: pro rata of the segments; onoff: the hours of the window (counted from its start) that start in
 * [from, to), each at the price at its start; discrete: the whole amount when [from, to) holds the window's start.
 */
export function amountOver(plan: Pick<ChargePlan, 'windowStart' | 'windowEnd'>, item: ChargeItem, from: number, to: number | null): number {
  const end = to === null ? plan.windowEnd : plan.windowEnd === null ? to : Math.min(to, plan.windowEnd);
  if (end === null) throw new Error('amountOver: an open window needs an end');
  const start = Math.max(from, plan.windowStart);
  if (item.quantity === 0) return 0;
  switch (item.policy) {
    case 'discrete':
      return plan.windowStart >= from && (to === null || plan.windowStart < to) ? item.quantity * priceAt(item.segments, plan.windowStart) : 0;
    case 'continuous': {
      if (end <= start) return 0;
      let sum = 0;
      for (const s of item.segments) {
        const a = Math.max(start, s.from);
        const b = Math.min(end, s.to ?? Infinity);
        if (b > a) sum += ((b - a) / HOUR_MS) * s.price;
      }
      return item.quantity * sum;
    }
    case 'onoff': {
      if (end <= start) return 0;
      // Hour k of the window is [windowStart + k h, windowStart + (k+1) h); it counts when its start is in [start, end).
      const first = Math.ceil((start - plan.windowStart) / HOUR_MS);
      const last = Math.ceil((end - plan.windowStart) / HOUR_MS) - 1;
      let sum = 0;
      for (let k = first; k <= last; k++) sum += priceAt(item.segments, plan.windowStart + k * HOUR_MS);
      return item.quantity * sum;
    }
  }
}

/** The plan's amount over [from, to), per resource (rounded with `money`). */
export function planAmounts(plan: ChargePlan, from: number, to: number | null): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of plan.items) out.set(item.resource, (out.get(item.resource) ?? 0) + amountOver(plan, item, from, to));
  for (const [k, v] of out) out.set(k, money(v));
  return out;
}
