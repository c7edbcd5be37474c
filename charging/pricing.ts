/**
 * Prices from the catalogue: which host group a host is in, the price of a resource over a window (segments cut at
 * price changes and time-frame edges), the model's charge classes (what one vCPU, GB and VM cost over the window on
 * each group's hosts — linear, so the solvers can bound it), and the charge plan of an offer. The amount of a plan item
 * over any interval is model/charge-plan.ts's `amountOver`, the one definition the ledger charges with too.
 */
import { hostSatisfies } from '../model/capabilities';
import { HOUR_MS, amountOver, money, type ChargeItem, type ChargePlan, type PriceSegment } from '../model/charge-plan';
import type { ChargeRates, ModelCharging } from '../model/types';
import { AdmissionError } from '../model/errors';
import type { Agreement, Catalogue, HostGroup, Measure, PriceList, PriceListVersion, TimeFrame } from './catalogue';

const DAY_MS = 86_400_000;
/** Longest window priced segment by segment (a closed window beyond is refused by the caller as a limit). */
export const MAX_PRICED_WINDOW_MS = 3 * 366 * DAY_MS;

export interface PricedHost {
  readonly id: string;
  readonly capabilities?: Readonly<Record<string, string | true>>;
}

/** The first host group (catalogue order) the host is in, or null. */
export function hostGroupOf(catalogue: Catalogue, host: PricedHost): HostGroup | null {
  for (const g of catalogue.hostGroups) {
    if (g.hosts.has(host.id)) return g;
    if (g.satisfies.length > 0 && hostSatisfies(host, g.satisfies)) return g;
  }
  return null;
}

function frameCovers(f: TimeFrame, t: number): boolean {
  const d = new Date(t);
  const day = d.getUTCDay();
  const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
  if (!f.minutes) return f.days.has(day);
  const { from, to } = f.minutes;
  if (from < to) return f.days.has(day) && minute >= from && minute < to;
  // Wraps past midnight: the part after midnight belongs to the day the frame started.
  return (minute >= from && f.days.has(day)) || (minute < to && f.days.has((day + 6) % 7));
}

function versionAt(list: PriceList, t: number): { version: PriceListVersion; next: number } {
  let i = 0;
  while (i + 1 < list.versions.length && list.versions[i + 1]!.from <= t) i++;
  return { version: list.versions[i]!, next: i + 1 < list.versions.length ? list.versions[i + 1]!.from : Infinity };
}

/** The price of one unit of the resource on the group's hosts at t (time frames first, in catalogue order). */
export function priceAt(list: PriceList, group: string | null, resource: string, t: number): number {
  const { version } = versionAt(list, t);
  for (const f of version.timeframes) {
    if (!frameCovers(f, t)) continue;
    const p = (group !== null ? f.hostGroups[group]?.[resource] : undefined) ?? f.prices[resource];
    if (p !== undefined) return p;
  }
  return (group !== null ? version.hostGroups[group]?.[resource] : undefined) ?? version.prices[resource] ?? 0;
}

/** The next instant after t at which a time frame of the version may begin or end (a minute edge or midnight). */
function nextFrameEdge(version: PriceListVersion, t: number): number {
  if (version.timeframes.length === 0) return Infinity;
  const midnight = Math.floor(t / DAY_MS) * DAY_MS;
  const edges = new Set<number>([0]);
  for (const f of version.timeframes) if (f.minutes) edges.add(f.minutes.from).add(f.minutes.to % 1440);
  let best = midnight + DAY_MS;
  for (const m of edges) {
    const at = midnight + m * 60_000;
    if (at > t && at < best) best = at;
  }
  return best;
}

/**
 * The resource's price on the group's hosts over [start, end), as contiguous segments of one price each; an open
 * window (end null) is priced per hour at the price in force at its start (one open segment).
 */
export function priceSegments(list: PriceList, group: string | null, resource: string, start: number, end: number | null): PriceSegment[] {
  if (end === null) return [{ from: start, to: null, price: priceAt(list, group, resource, start) }];
  const out: PriceSegment[] = [];
  let t = start;
  while (t < end) {
    const { version, next } = versionAt(list, t);
    const until = Math.min(end, next, nextFrameEdge(version, t));
    const price = priceAt(list, group, resource, t);
    const last = out[out.length - 1];
    if (last && last.price === price) out[out.length - 1] = { from: last.from, to: until, price };
    else out.push({ from: t, to: until, price });
    t = until;
  }
  return out;
}

export interface ChargeWindow {
  readonly start: number;
  /** null: open. */
  readonly end: number | null;
}

/** What the bound and the answer count for a window: all of a closed one; an open one's first hour. */
export function boundedEnd(window: ChargeWindow): number {
  return window.end ?? window.start + HOUR_MS;
}

export interface ChargeClasses {
  /** For the model: the rates of each class. */
  readonly charging: ModelCharging;
  /** Host id → class index. */
  readonly classOf: ReadonlyMap<string, number>;
  /** Class index → host group name (null: hosts in no group). */
  readonly groups: readonly (string | null)[];
  /** Per class and resource, the segments (the plan's items reuse them). */
  readonly segments: readonly ReadonlyMap<string, readonly PriceSegment[]>[];
}

const MEASURE_FIELD: Record<Measure, keyof ChargeRates> = { vcpus: 'perVcpu', memoryGb: 'perMemoryGb', vms: 'perVm' };

/**
 * The model's charge classes for an agreement and window: one class per host group present (and one for hosts in
 * none), each with what one vCPU, one GB and one VM cost over the window (an open window: over its first hour).
 */
export function chargeClasses(catalogue: Catalogue, agreement: Agreement, window: ChargeWindow, hosts: readonly PricedHost[]): ChargeClasses {
  const list = catalogue.priceLists.get(agreement.priceList)!;
  const { classOf, groups } = hostClasses(catalogue, hosts);
  const segments: Map<string, readonly PriceSegment[]>[] = [];
  const classes: ChargeRates[] = groups.map((g) => {
    const rates = { perVcpu: 0, perMemoryGb: 0, perVm: 0 };
    const bySource = new Map<string, readonly PriceSegment[]>();
    for (const r of catalogue.resources.values()) {
      const segs = priceSegments(list, g, r.name, window.start, window.end);
      bySource.set(r.name, segs);
      const unit: ChargeItem = { componentId: '', hostGroup: g, resource: r.name, policy: r.policy, quantity: 1, segments: segs };
      rates[MEASURE_FIELD[r.measure]] += amountOver({ windowStart: window.start, windowEnd: window.end }, unit, window.start, boundedEnd(window));
    }
    segments.push(bySource);
    return rates;
  });
  return { charging: { classes }, classOf, groups, segments };
}

/** Which class each host is in: one per host group present (and one for hosts in none), in order of first appearance. */
interface HostClasses {
  readonly classOf: ReadonlyMap<string, number>;
  readonly groups: readonly (string | null)[];
}

/**
 * Per host list (host-info's snapshots are frozen and kept while unchanged) and catalogue: matching every host against
 * the groups is O(hosts × groups), and the classes do not depend on the window, so admissions reuse them.
 */
const hostClassMemo = new WeakMap<readonly PricedHost[], { readonly catalogue: Catalogue; readonly classes: HostClasses }>();

export function hostClasses(catalogue: Catalogue, hosts: readonly PricedHost[]): HostClasses {
  const memo = hostClassMemo.get(hosts);
  if (memo && memo.catalogue === catalogue) return memo.classes;
  const index = new Map<string | null, number>();
  const classOf = new Map<string, number>();
  const groups: (string | null)[] = [];
  for (const h of hosts) {
    const g = hostGroupOf(catalogue, h)?.name ?? null;
    let k = index.get(g);
    if (k === undefined) {
      k = groups.length;
      index.set(g, k);
      groups.push(g);
    }
    classOf.set(h.id, k);
  }
  if (groups.length === 0) groups.push(null);
  const classes = { classOf, groups };
  if (Object.isFrozen(hosts)) hostClassMemo.set(hosts, { catalogue, classes });
  return classes;
}

export interface PlacedVms {
  readonly componentId: string;
  readonly hostId: string;
  readonly vms: number;
  readonly vcpus: number;
  readonly memoryMb?: number;
}

function quantityOf(measure: Measure, p: Pick<PlacedVms, 'vms' | 'vcpus' | 'memoryMb'>): number {
  return measure === 'vcpus' ? p.vms * p.vcpus : measure === 'memoryGb' ? (p.vms * (p.memoryMb ?? 0)) / 1024 : p.vms;
}

/** The charge plan of an offer: per component, host group and resource, the quantity placed and its prices. */
export function chargePlan(catalogue: Catalogue, agreement: Agreement, window: ChargeWindow, classes: ChargeClasses, placements: readonly PlacedVms[]): ChargePlan {
  const items = new Map<string, ChargeItem>();
  for (const p of placements) {
    if (p.vms <= 0) continue;
    const k = classes.classOf.get(p.hostId) ?? 0;
    const group = classes.groups[k] ?? null;
    for (const r of catalogue.resources.values()) {
      const key = `${p.componentId}\u0000${k}\u0000${r.name}`;
      const prev = items.get(key);
      const quantity = (prev?.quantity ?? 0) + quantityOf(r.measure, p);
      items.set(key, { componentId: p.componentId, hostGroup: group, resource: r.name, policy: r.policy, quantity, segments: classes.segments[k]!.get(r.name)! });
    }
  }
  return { currency: catalogue.currency, agreement: agreement.name, priceList: agreement.priceList, windowStart: window.start, windowEnd: window.end, items: [...items.values()] };
}

/**
 * The plan over a new window: the same items (placements, agreement, price list), priced again. A price list the
 * catalogue no longer has is an AC_ERR_CONFLICT: the admission cannot be priced for a new window.
 */
export function repricePlan(catalogue: Catalogue, plan: ChargePlan, window: ChargeWindow): ChargePlan {
  const list = catalogue.priceLists.get(plan.priceList);
  if (!list) {
    throw new AdmissionError('AC_ERR_CONFLICT', `price list ${plan.priceList} is no longer in the charging catalogue: the admission cannot be priced over a new window`, [{ field: 'window', reason: `no price list ${plan.priceList}` }]);
  }
  return {
    ...plan,
    windowStart: window.start,
    windowEnd: window.end,
    items: plan.items.map((item) => ({ ...item, segments: priceSegments(list, item.hostGroup, item.resource, window.start, window.end) })),
  };
}

/** One line of an answer's cost breakdown. */
export interface ChargeLine {
  readonly componentId: string;
  readonly hostGroup: string | null;
  readonly resource: string;
  readonly unit: string;
  readonly policy: string;
  readonly quantity: number;
  readonly amount: number;
}

export interface ChargeBreakdown {
  readonly currency: string;
  readonly agreement: string;
  readonly priceList: string;
  /** closed: over the whole window; open: per hour (the first hour, discrete fees included). */
  readonly basis: 'window' | 'per-hour';
  readonly total: number;
  readonly lines: readonly ChargeLine[];
}

export function breakdownOf(catalogue: Catalogue, plan: ChargePlan): ChargeBreakdown {
  const end = boundedEnd({ start: plan.windowStart, end: plan.windowEnd });
  const lines = plan.items.map((item) => ({
    componentId: item.componentId,
    hostGroup: item.hostGroup,
    resource: item.resource,
    unit: catalogue.resources.get(item.resource)?.unit ?? item.resource,
    policy: item.policy,
    quantity: money(item.quantity),
    amount: money(amountOver(plan, item, plan.windowStart, end)),
  }));
  return {
    currency: plan.currency,
    agreement: plan.agreement,
    priceList: plan.priceList,
    basis: plan.windowEnd === null ? 'per-hour' : 'window',
    total: money(lines.reduce((s, l) => s + l.amount, 0)),
    lines,
  };
}
