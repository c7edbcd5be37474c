/**
 * Capacity over time, independent of storage (the SQLite ledger and a later PostgreSQL one share it).
 *
 * Per host, what is booked and what capacity windows add or take away are step functions of time: each booking or
 * window contributes its amount over its half-open window [start, end) (end = ∞ when open). A host's timeline keeps
 * the sorted breakpoints of the items that count and, over the segments between them, segment trees of
 *   - the CPUs / memory booked (range max → reservedCpus, the peak),
 *   - the Σ deltas of capacity windows (range min → windowCpusDelta),
 *   - delta − booked (range min → the free capacity is cpus − usedCpus + that minimum).
 * A timeline is rebuilt lazily (O(k log k) for its k items) on the first query after one of its items changed, so a
 * booking costs one rebuild of the hosts it touches, and a fleet query costs O(hosts · log k).
 *
 * A held admission stops counting at its hold expiry (judged at the ledger's clock): FleetIndex.setNow() takes lapsed
 * holds out (a heap ordered by expiry) and puts them back if the clock goes backwards.
 */
import type { HostCapacityView, HostInventory, CapacityView, TimeWindow } from './types';

/** Amounts compared with this slack: sums of fractional CPUs are not exact in binary floating point. */
export const EPSILON = 1e-9;

/** One contribution to a host's timeline. `end` is Infinity for an open window. */
export interface TimelineItem {
  readonly start: number;
  readonly end: number;
  /** CPUs booked (a booking) or the CPU delta (a capacity window). */
  readonly cpus: number;
  readonly memoryMb: number;
  readonly kind: 'booking' | 'window';
}

/** The extremes of one host's step functions over a query window. */
export interface RangeSummary {
  readonly maxBookedCpus: number;
  readonly maxBookedMemoryMb: number;
  readonly minDeltaCpus: number;
  readonly minDeltaMemoryMb: number;
  /** min over the window of (Σ deltas − Σ booked). */
  readonly minNetCpus: number;
  readonly minNetMemoryMb: number;
}

/** A signed change of one host's load over an interval, for checks that must pretend something is (not) booked. */
export interface Adjustment {
  readonly start: number;
  readonly end: number;
  /** Positive frees capacity (an old booking that is being replaced), negative takes it (another booking of the same request). */
  readonly cpus: number;
  readonly memoryMb: number;
}

export const endOf = (w: TimeWindow): number => (w.end === null ? Infinity : w.end);

/** Half-open overlap with open ends. */
export function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Number of elements of the sorted array that are < x. */
function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of elements of the sorted array that are ≤ x. */
function upperBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Changes a timeline absorbs on top of its trees before it rebuilds them. */
const PENDING_LIMIT = 8;

interface Pending {
  readonly start: number;
  readonly end: number;
  /** Signed contributions to booked CPUs / memory and to the window deltas. */
  readonly bc: number;
  readonly bm: number;
  readonly dc: number;
  readonly dm: number;
}

const snap = (x: number): number => (Math.abs(x) < EPSILON ? 0 : x);

const ZERO_SUMMARY: RangeSummary = { maxBookedCpus: 0, maxBookedMemoryMb: 0, minDeltaCpus: 0, minDeltaMemoryMb: 0, minNetCpus: 0, minNetMemoryMb: 0 };

/**
 * One host's items and the structure built from them. Segment j covers [times[j−1], times[j]) with times[−1] = −∞ and
 * times[n] = +∞, so there are n + 1 segments for n distinct breakpoints.
 */
export class HostTimeline {
  private readonly items = new Map<string, TimelineItem>();
  /** Keys of items that are stored but do not count now (lapsed holds). */
  private readonly inactive = new Set<string>();
  private dirty = true;
  private n = 0;
  private times = new Float64Array(0);
  /** Segment tree over the segments, leaves at [size, 2·size), six values per node (see rebuild). */
  private size = 0;
  private tree = new Float64Array(0);

  get itemCount(): number {
    return this.items.size;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  /**
   * Changes since the last rebuild, as signed step contributions: queries add them piecewise on top of the trees, so a
   * booking costs no rebuild until PENDING_LIMIT of them have piled up (then one rebuild, O(k log k)).
   */
  private pending: Pending[] = [];

  private note(item: TimelineItem, sign: 1 | -1): void {
    if (this.dirty) return;
    if (this.pending.length >= PENDING_LIMIT) {
      this.dirty = true;
      this.pending = [];
      return;
    }
    const booking = item.kind === 'booking';
    this.pending.push({
      start: item.start,
      end: item.end,
      bc: booking ? sign * item.cpus : 0,
      bm: booking ? sign * item.memoryMb : 0,
      dc: booking ? 0 : sign * item.cpus,
      dm: booking ? 0 : sign * item.memoryMb,
    });
  }

  private counting(key: string): TimelineItem | undefined {
    const it = this.items.get(key);
    return it && !this.inactive.has(key) ? it : undefined;
  }

  set(key: string, item: TimelineItem): void {
    const old = this.counting(key);
    if (old) this.note(old, -1);
    this.items.set(key, item);
    this.inactive.delete(key);
    this.note(item, 1);
  }

  delete(key: string): void {
    const old = this.counting(key);
    if (old) this.note(old, -1);
    if (this.items.delete(key)) this.inactive.delete(key);
  }

  setActive(key: string, active: boolean): void {
    const it = this.items.get(key);
    if (!it) return;
    const was = !this.inactive.has(key);
    if (was === active) return;
    if (active) this.inactive.delete(key);
    else this.inactive.add(key);
    this.note(it, active ? 1 : -1);
  }

  /** The counting items (for holders, conflicts and brute-force checks). */
  *entries(): IterableIterator<[string, TimelineItem]> {
    for (const e of this.items) if (!this.inactive.has(e[0])) yield e;
  }

  private rebuild(): void {
    this.dirty = false;
    this.pending = [];
    // The counting items once into flat arrays (Map iteration and string lookups are the slow part of a rebuild).
    let m = 0;
    const count = this.items.size;
    const starts = new Float64Array(count);
    const ends = new Float64Array(count);
    const cpus = new Float64Array(count);
    const mems = new Float64Array(count);
    const isBooking = new Uint8Array(count);
    const checkInactive = this.inactive.size > 0;
    for (const [key, it] of this.items) {
      if (checkInactive && this.inactive.has(key)) continue;
      starts[m] = it.start;
      ends[m] = it.end;
      cpus[m] = it.cpus;
      mems[m] = it.memoryMb;
      isBooking[m] = it.kind === 'booking' ? 1 : 0;
      m++;
    }
    const points = new Float64Array(2 * m);
    let np = 0;
    for (let i = 0; i < m; i++) {
      points[np++] = starts[i]!;
      if (ends[i] !== Infinity) points[np++] = ends[i]!;
    }
    const sorted = points.subarray(0, np).sort();
    let n = 0;
    for (let i = 0; i < np; i++) if (n === 0 || sorted[n - 1] !== sorted[i]) sorted[n++] = sorted[i]!;
    const times = sorted.slice(0, n);
    this.n = n;
    this.times = times;
    const segments = n + 1;
    // Difference arrays over segments: an item [s, e) starts counting at segment upperBound(s) (= index of s + 1).
    const dBc = new Float64Array(segments + 1);
    const dBm = new Float64Array(segments + 1);
    const dDc = new Float64Array(segments + 1);
    const dDm = new Float64Array(segments + 1);
    for (let i = 0; i < m; i++) {
      const from = upperBound(times, n, starts[i]!);
      const to = ends[i] === Infinity ? segments : upperBound(times, n, ends[i]!);
      const c = cpus[i]!;
      const mm = mems[i]!;
      if (isBooking[i] === 1) {
        dBc[from] += c;
        dBc[to] -= c;
        dBm[from] += mm;
        dBm[to] -= mm;
      } else {
        dDc[from] += c;
        dDc[to] -= c;
        dDm[from] += mm;
        dDm[to] -= mm;
      }
    }
    let size = 1;
    while (size < segments) size <<= 1;
    // One interleaved array, node i at [6i, 6i + 6): max booked cpus, max booked mem, min delta cpus, min delta mem,
    // min net cpus, min net mem (one cache line per node instead of six arrays).
    if (size !== this.size || this.tree.length === 0) this.tree = new Float64Array(12 * size);
    this.size = size;
    const t = this.tree;
    for (let leaf = size + segments; leaf < 2 * size; leaf++) {
      const o = 6 * leaf;
      t[o] = -Infinity;
      t[o + 1] = -Infinity;
      t[o + 2] = Infinity;
      t[o + 3] = Infinity;
      t[o + 4] = Infinity;
      t[o + 5] = Infinity;
    }
    let bc = 0;
    let bm = 0;
    let dc = 0;
    let dm = 0;
    for (let j = 0; j < segments; j++) {
      bc += dBc[j]!;
      bm += dBm[j]!;
      dc += dDc[j]!;
      dm += dDm[j]!;
      // Sums of the same items added and taken away cancel up to rounding: snap near-zero residues to 0.
      if (Math.abs(bc) < EPSILON) bc = 0;
      if (Math.abs(bm) < EPSILON) bm = 0;
      if (Math.abs(dc) < EPSILON) dc = 0;
      if (Math.abs(dm) < EPSILON) dm = 0;
      const o = 6 * (size + j);
      t[o] = bc;
      t[o + 1] = bm;
      t[o + 2] = dc;
      t[o + 3] = dm;
      t[o + 4] = dc - bc;
      t[o + 5] = dm - bm;
    }
    for (let i = size - 1; i >= 1; i--) {
      const o = 6 * i;
      const l = 12 * i;
      const r = l + 6;
      t[o] = Math.max(t[l]!, t[r]!);
      t[o + 1] = Math.max(t[l + 1]!, t[r + 1]!);
      t[o + 2] = Math.min(t[l + 2]!, t[r + 2]!);
      t[o + 3] = Math.min(t[l + 3]!, t[r + 3]!);
      t[o + 4] = Math.min(t[l + 4]!, t[r + 4]!);
      t[o + 5] = Math.min(t[l + 5]!, t[r + 5]!);
    }
  }

  /** Extremes over [start, end) (start < end), pending changes included. */
  summary(start: number, end: number): RangeSummary {
    if (this.dirty) this.rebuild();
    if (this.pending.length === 0) return this.treeSummary(start, end);
    return this.piecewise(start, end, this.pending);
  }

  /**
   * Extremes over [start, end) of the trees plus signed contributions: the window is cut at the contributions' edges;
   * on each piece they are constant, so they add to the piece's extremes.
   */
  private piecewise(start: number, end: number, extra: readonly Pending[]): RangeSummary {
    let overlapping = false;
    for (let i = 0; i < extra.length && !overlapping; i++) overlapping = extra[i]!.start < end && start < extra[i]!.end;
    if (!overlapping) return this.treeSummary(start, end);
    const cuts: number[] = [start];
    for (const a of extra) {
      if (a.start > start && a.start < end) cuts.push(a.start);
      if (a.end > start && a.end < end) cuts.push(a.end);
    }
    cuts.sort((a, b) => a - b);
    let maxBc = -Infinity;
    let maxBm = -Infinity;
    let minDc = Infinity;
    let minDm = Infinity;
    let minNc = Infinity;
    let minNm = Infinity;
    for (let i = 0; i < cuts.length; i++) {
      const s = cuts[i]!;
      if (i > 0 && s === cuts[i - 1]) continue;
      let j = i + 1;
      while (j < cuts.length && cuts[j] === s) j++;
      const e = j < cuts.length ? cuts[j]! : end;
      const t = this.treeSummary(s, e);
      let bc = 0;
      let bm = 0;
      let dc = 0;
      let dm = 0;
      for (const a of extra) {
        if (a.start <= s && s < a.end) {
          bc += a.bc;
          bm += a.bm;
          dc += a.dc;
          dm += a.dm;
        }
      }
      maxBc = Math.max(maxBc, t.maxBookedCpus + bc);
      maxBm = Math.max(maxBm, t.maxBookedMemoryMb + bm);
      minDc = Math.min(minDc, t.minDeltaCpus + dc);
      minDm = Math.min(minDm, t.minDeltaMemoryMb + dm);
      minNc = Math.min(minNc, t.minNetCpus + dc - bc);
      minNm = Math.min(minNm, t.minNetMemoryMb + dm - bm);
    }
    return { maxBookedCpus: snap(maxBc), maxBookedMemoryMb: snap(maxBm), minDeltaCpus: snap(minDc), minDeltaMemoryMb: snap(minDm), minNetCpus: snap(minNc), minNetMemoryMb: snap(minNm) };
  }

  /** Extremes of the trees alone (the items as of the last rebuild). */
  private treeSummary(start: number, end: number): RangeSummary {
    const n = this.n;
    if (n === 0) return ZERO_SUMMARY;
    // Segments [lo, hi] cover [start, end): lo holds start, hi holds the last instant before end.
    const lo = upperBound(this.times, n, start);
    const hi = end === Infinity ? n : lowerBound(this.times, n, end);
    const t = this.tree;
    let maxBc = -Infinity;
    let maxBm = -Infinity;
    let minDc = Infinity;
    let minDm = Infinity;
    let minNc = Infinity;
    let minNm = Infinity;
    const take = (node: number): void => {
      const o = 6 * node;
      if (t[o]! > maxBc) maxBc = t[o]!;
      if (t[o + 1]! > maxBm) maxBm = t[o + 1]!;
      if (t[o + 2]! < minDc) minDc = t[o + 2]!;
      if (t[o + 3]! < minDm) minDm = t[o + 3]!;
      if (t[o + 4]! < minNc) minNc = t[o + 4]!;
      if (t[o + 5]! < minNm) minNm = t[o + 5]!;
    };
    let l = lo + this.size;
    let r = hi + this.size + 1;
    while (l < r) {
      if (l & 1) take(l++);
      if (r & 1) take(--r);
      l >>= 1;
      r >>= 1;
    }
    return { maxBookedCpus: maxBc, maxBookedMemoryMb: maxBm, minDeltaCpus: minDc, minDeltaMemoryMb: minDm, minNetCpus: minNc, minNetMemoryMb: minNm };
  }

  /**
   * min over [start, end) of (Σ deltas − Σ booked + Σ adjustments): the window is cut at the adjustments' edges and
   * each piece asks the trees, so a check that pretends a few bookings away (or adds the request's own) stays exact.
   */
  minNet(start: number, end: number, adjustments: readonly Adjustment[] = []): { cpus: number; memoryMb: number } {
    if (this.dirty) this.rebuild();
    // An adjustment changes the net only: as a delta it adds to it with its sign.
    const extra: Pending[] = adjustments.length === 0 ? this.pending : [...this.pending, ...adjustments.map((a) => ({ start: a.start, end: a.end, bc: 0, bm: 0, dc: a.cpus, dm: a.memoryMb }))];
    const s = extra.length === 0 ? this.treeSummary(start, end) : this.piecewise(start, end, extra);
    return { cpus: s.minNetCpus, memoryMb: s.minNetMemoryMb };
  }
}

/** A booking as the index keeps it: its window, while a hold: its expiry, and what it takes per host. */
export interface IndexedBooking {
  readonly start: number;
  readonly end: number;
  /** Infinity unless the admission is held (a held admission stops counting when now ≥ holdUntil). */
  readonly holdUntil: number;
  readonly hosts: readonly { readonly hostId: string; readonly cpus: number; readonly memoryMb: number }[];
}

export interface IndexedWindow {
  readonly start: number;
  readonly end: number;
  readonly cpusDelta: number;
  readonly memoryMbDelta: number;
  readonly hostIds: readonly string[];
}

/** A binary min-heap of (at, key). */
class ExpiryHeap {
  private readonly at: number[] = [];
  private readonly keys: string[] = [];

  get size(): number {
    return this.at.length;
  }

  push(at: number, key: string): void {
    this.at.push(at);
    this.keys.push(key);
    let i = this.at.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.at[p]! <= this.at[i]!) break;
      this.swap(i, p);
      i = p;
    }
  }

  peek(): number {
    return this.at.length > 0 ? this.at[0]! : Infinity;
  }

  pop(): [number, string] {
    const top: [number, string] = [this.at[0]!, this.keys[0]!];
    const lastAt = this.at.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.at.length > 0) {
      this.at[0] = lastAt;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.at.length && this.at[l]! < this.at[m]!) m = l;
        if (r < this.at.length && this.at[r]! < this.at[m]!) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  clear(): void {
    this.at.length = 0;
    this.keys.length = 0;
  }

  private swap(i: number, j: number): void {
    const a = this.at[i]!;
    this.at[i] = this.at[j]!;
    this.at[j] = a;
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
  }
}

/**
 * The whole fleet's timelines: bookings and capacity windows by id, kept per host. Not tied to the host inventory (a
 * timeline exists for every host something is booked on); views join it with the inventory.
 */
export class FleetIndex {
  private readonly timelines = new Map<string, HostTimeline>();
  private readonly bookings = new Map<string, IndexedBooking>();
  private readonly windows = new Map<string, IndexedWindow>();
  private readonly heap = new ExpiryHeap();
  /** Bookings whose hold has lapsed at the current `now` (kept to be put back should the clock go backwards). */
  private readonly lapsed = new Set<string>();
  private now = -Infinity;

  get bookingCount(): number {
    return this.bookings.size;
  }

  get windowCount(): number {
    return this.windows.size;
  }

  clear(): void {
    this.timelines.clear();
    this.bookings.clear();
    this.windows.clear();
    this.heap.clear();
    this.lapsed.clear();
    this.now = -Infinity;
  }

  timeline(hostId: string): HostTimeline | undefined {
    return this.timelines.get(hostId);
  }

  private timelineOf(hostId: string): HostTimeline {
    let t = this.timelines.get(hostId);
    if (!t) this.timelines.set(hostId, (t = new HostTimeline()));
    return t;
  }

  booking(id: string): IndexedBooking | undefined {
    return this.bookings.get(id);
  }

  /** Adds or replaces a booking (an admission that holds capacity). */
  putBooking(id: string, b: IndexedBooking): void {
    this.removeBooking(id);
    this.bookings.set(id, b);
    const key = `a:${id}`;
    for (const h of b.hosts) this.timelineOf(h.hostId).set(key, { start: b.start, end: b.end, cpus: h.cpus, memoryMb: h.memoryMb, kind: 'booking' });
    if (b.holdUntil !== Infinity) {
      if (b.holdUntil <= this.now) this.setLapsed(id, b, true);
      else this.heap.push(b.holdUntil, id);
    }
  }

  removeBooking(id: string): void {
    const old = this.bookings.get(id);
    if (!old) return;
    this.bookings.delete(id);
    this.lapsed.delete(id);
    const key = `a:${id}`;
    for (const h of old.hosts) this.timelines.get(h.hostId)?.delete(key);
  }

  putWindow(id: string, w: IndexedWindow): void {
    this.removeWindow(id);
    this.windows.set(id, w);
    const key = `w:${id}`;
    for (const hostId of w.hostIds) this.timelineOf(hostId).set(key, { start: w.start, end: w.end, cpus: w.cpusDelta, memoryMb: w.memoryMbDelta, kind: 'window' });
  }

  removeWindow(id: string): void {
    const old = this.windows.get(id);
    if (!old) return;
    this.windows.delete(id);
    const key = `w:${id}`;
    for (const hostId of old.hostIds) this.timelines.get(hostId)?.delete(key);
  }

  private setLapsed(id: string, b: IndexedBooking, lapsed: boolean): void {
    if (lapsed) this.lapsed.add(id);
    else this.lapsed.delete(id);
    const key = `a:${id}`;
    for (const h of b.hosts) this.timelines.get(h.hostId)?.setActive(key, !lapsed);
  }

  /** Moves the index to the ledger's clock: holds with holdUntil ≤ now stop counting (and count again if time goes back). */
  setNow(now: number): void {
    if (now < this.now) {
      for (const id of [...this.lapsed]) {
        const b = this.bookings.get(id);
        if (b && b.holdUntil > now) {
          this.setLapsed(id, b, false);
          this.heap.push(b.holdUntil, id);
        }
      }
    }
    this.now = now;
    while (this.heap.peek() <= now) {
      const [at, id] = this.heap.pop();
      const b = this.bookings.get(id);
      // Stale heap entries (the booking was replaced, confirmed or removed since) are skipped.
      if (b && b.holdUntil === at && !this.lapsed.has(id)) this.setLapsed(id, b, true);
    }
  }

  summary(hostId: string, start: number, end: number): RangeSummary {
    return this.timelines.get(hostId)?.summary(start, end) ?? ZERO_SUMMARY;
  }

  minNet(hostId: string, start: number, end: number, adjustments: readonly Adjustment[] = []): { cpus: number; memoryMb: number } {
    const t = this.timelines.get(hostId);
    if (t) return t.minNet(start, end, adjustments);
    return new HostTimeline().minNet(start, end, adjustments);
  }

  /** Booking ids counting on the host and overlapping [start, end). */
  holdersOn(hostId: string, start: number, end: number): { id: string; cpus: number; memoryMb: number; start: number; end: number }[] {
    const t = this.timelines.get(hostId);
    if (!t) return [];
    const out: { id: string; cpus: number; memoryMb: number; start: number; end: number }[] = [];
    for (const [key, it] of t.entries()) {
      if (it.kind === 'booking' && it.start < end && start < it.end) out.push({ id: key.slice(2), cpus: it.cpus, memoryMb: it.memoryMb, start: it.start, end: it.end });
    }
    return out;
  }
}

/** One host's view over a window, from its inventory and its timeline's extremes. */
export function hostView(host: HostInventory & { readonly generation: number }, s: RangeSummary): HostCapacityView {
  // Object literals, not spreads: this runs once per host per capacity() call, and spreading is ~50× slower in V8.
  const freeCpus = Math.max(0, host.cpus - host.usedCpus + s.minNetCpus);
  if (host.memoryMb === undefined) {
    return { hostId: host.id, generation: host.generation, cpus: host.cpus, usedCpus: host.usedCpus, reservedCpus: s.maxBookedCpus, windowCpusDelta: s.minDeltaCpus, freeCpus };
  }
  const usedMemoryMb = host.usedMemoryMb ?? 0;
  return {
    hostId: host.id,
    generation: host.generation,
    cpus: host.cpus,
    usedCpus: host.usedCpus,
    reservedCpus: s.maxBookedCpus,
    windowCpusDelta: s.minDeltaCpus,
    freeCpus,
    memoryMb: host.memoryMb,
    usedMemoryMb,
    reservedMemoryMb: s.maxBookedMemoryMb,
    windowMemoryMbDelta: s.minDeltaMemoryMb,
    freeMemoryMb: Math.max(0, host.memoryMb - usedMemoryMb + s.minNetMemoryMb),
  };
}

export function capacityView(window: TimeWindow, hosts: readonly HostCapacityView[]): CapacityView {
  let cpus = 0;
  let usedCpus = 0;
  let reservedCpus = 0;
  let freeCpus = 0;
  let memoryMb = 0;
  let usedMemoryMb = 0;
  let reservedMemoryMb = 0;
  let freeMemoryMb = 0;
  for (const h of hosts) {
    cpus += h.cpus;
    usedCpus += h.usedCpus;
    reservedCpus += h.reservedCpus;
    freeCpus += h.freeCpus;
    if (h.memoryMb !== undefined) {
      memoryMb += h.memoryMb;
      usedMemoryMb += h.usedMemoryMb ?? 0;
      reservedMemoryMb += h.reservedMemoryMb ?? 0;
      freeMemoryMb += h.freeMemoryMb ?? 0;
    }
  }
  return { window, hosts, totals: { cpus, usedCpus, reservedCpus, freeCpus, memoryMb, usedMemoryMb, reservedMemoryMb, freeMemoryMb } };
}

/** Free CPUs / memory of a host over [start, end) from its inventory and timeline (not clamped; negative = overfull). */
export function freeOver(host: HostInventory, net: { cpus: number; memoryMb: number }): { cpus: number; memoryMb: number } {
  return {
    cpus: host.cpus - host.usedCpus + net.cpus,
    memoryMb: host.memoryMb === undefined ? Infinity : host.memoryMb - (host.usedMemoryMb ?? 0) + net.memoryMb,
  };
}
