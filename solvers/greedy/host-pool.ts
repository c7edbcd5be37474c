/**
 * Free capacity of the hosts, bucketed by free CPUs so that a best-fit query costs O(max CPUs per host),
 * not O(hosts): hosts with equal free capacity are interchangeable (model.md §4.4). Changes are undoable.
 */
import type { AdmissionModel } from '../../model/types';

/**
 * Pools as first built, per frozen host list and smallest VM: a gateway's admissions share one frozen host list
 * (trec-analyzer's HostModelMemo), and copying a pool costs a fraction of building it. Invisible to callers: a solve
 * still gets a pool of its own, equal to a freshly built one.
 */
const templates = new WeakMap<readonly unknown[], Map<number, HostPool>>();

interface PoolState {
  readonly modelIndex: Int32Array;
  readonly freeCpus: Int32Array;
  readonly freeMemoryMb: Float64Array;
  readonly buckets: number[][];
  readonly position: Int32Array;
  readonly totalFreeCpus: number;
  readonly totalFreeMemoryMb: number;
}

/** Slots are the hosts able to hold the smallest VM, bucketed by free CPUs. Plain indexed loops: this runs per solve. */
function initialState(model: AdmissionModel, smallestVcpus: number): PoolState {
  const hosts = model.hosts;
  const slots: number[] = [];
  let max = 0;
  for (let j = 0; j < hosts.length; j++) {
    const h = hosts[j]!;
    const free = h.cpus - h.usedCpus;
    // D1: a host that cannot hold the smallest VM is ignored.
    if (free >= smallestVcpus && (h.freeMemoryMb === undefined || h.freeMemoryMb >= 0)) {
      slots.push(j);
      if (free > max) max = free;
    }
  }
  const n = slots.length;
  const modelIndex = new Int32Array(n);
  const freeCpus = new Int32Array(n);
  const freeMemoryMb = new Float64Array(n);
  let totalFreeCpus = 0;
  let totalFreeMemoryMb = 0;
  for (let s = 0; s < n; s++) {
    const h = hosts[slots[s]!]!;
    modelIndex[s] = slots[s]!;
    freeCpus[s] = h.cpus - h.usedCpus;
    freeMemoryMb[s] = h.freeMemoryMb ?? Infinity;
    totalFreeCpus += freeCpus[s]!;
    totalFreeMemoryMb += freeMemoryMb[s]!;
  }
  const buckets = new Array<number[]>(max + 1);
  for (let c = 0; c <= max; c++) buckets[c] = [];
  const position = new Int32Array(n);
  // Inserted in reverse so that, among equal hosts, the lowest model index is taken first (a stable, readable order).
  for (let s = n - 1; s >= 0; s--) {
    const b = buckets[freeCpus[s]!]!;
    position[s] = b.length;
    b.push(s);
  }
  return { modelIndex, freeCpus, freeMemoryMb, buckets, position, totalFreeCpus, totalFreeMemoryMb };
}

export class HostPool {
  /** Pool slot → index in model.hosts. */
  readonly modelIndex: Int32Array;
  readonly freeCpus: Int32Array;
  /** Infinity for hosts that do not carry memory. */
  readonly freeMemoryMb: Float64Array;
  private readonly buckets: number[][];
  private readonly position: Int32Array;
  private readonly undo: number[] = [];
  private readonly undoMemory: number[] = [];
  /** Running totals of free capacity, kept in step with take/rollback for O(1) quick rejections. */
  totalFreeCpus: number;
  totalFreeMemoryMb: number;

  /** A pool of the model's hosts that can hold a VM of `smallestVcpus` CPUs (D1). */
  static of(model: AdmissionModel, smallestVcpus: number): HostPool {
    if (!Object.isFrozen(model.hosts)) return new HostPool(initialState(model, smallestVcpus));
    let bySize = templates.get(model.hosts);
    if (!bySize) templates.set(model.hosts, (bySize = new Map()));
    let template = bySize.get(smallestVcpus);
    if (!template) bySize.set(smallestVcpus, (template = new HostPool(initialState(model, smallestVcpus))));
    return new HostPool({
      modelIndex: template.modelIndex, // never written after construction
      freeCpus: template.freeCpus.slice(),
      freeMemoryMb: template.freeMemoryMb.slice(),
      buckets: template.buckets.map((b) => b.slice()),
      position: template.position.slice(),
      totalFreeCpus: template.totalFreeCpus,
      totalFreeMemoryMb: template.totalFreeMemoryMb,
    });
  }

  /** One constructor for built and copied pools, so that every pool has the same shape (monomorphic hot paths). */
  private constructor(state: PoolState) {
    this.modelIndex = state.modelIndex;
    this.freeCpus = state.freeCpus;
    this.freeMemoryMb = state.freeMemoryMb;
    this.buckets = state.buckets;
    this.position = state.position;
    this.totalFreeCpus = state.totalFreeCpus;
    this.totalFreeMemoryMb = state.totalFreeMemoryMb;
  }

  get size(): number {
    return this.modelIndex.length;
  }

  get maxCpus(): number {
    return this.buckets.length - 1;
  }

  private insert(slot: number): void {
    const b = this.buckets[this.freeCpus[slot]!]!;
    this.position[slot] = b.length;
    b.push(slot);
  }

  private remove(slot: number): void {
    const b = this.buckets[this.freeCpus[slot]!]!;
    const p = this.position[slot]!;
    const last = b.pop()!;
    if (last !== slot) {
      b[p] = last;
      this.position[last] = p;
    }
  }

  /** Best fit: the host with the fewest free CPUs that still holds (cpus, memoryMb), skipping excluded slots. */
  find(cpus: number, memoryMb: number, excluded?: ReadonlySet<number>): number {
    const buckets = this.buckets;
    for (let c = Math.max(cpus, 0); c < buckets.length; c++) {
      const b = buckets[c]!;
      for (let k = b.length - 1; k >= 0; k--) {
        const slot = b[k]!;
        if (this.freeMemoryMb[slot]! >= memoryMb && (!excluded || !excluded.has(slot))) return slot;
      }
    }
    return -1;
  }

  /** Takes capacity from a slot (negative amounts give it back). */
  take(slot: number, cpus: number, memoryMb: number): void {
    this.remove(slot);
    this.freeCpus[slot] -= cpus;
    this.freeMemoryMb[slot] -= memoryMb;
    this.totalFreeCpus -= cpus;
    this.totalFreeMemoryMb -= memoryMb;
    this.insert(slot);
    this.undo.push(slot, cpus);
    this.undoMemory.push(memoryMb);
  }

  mark(): number {
    return this.undoMemory.length;
  }

  rollback(mark: number): void {
    while (this.undoMemory.length > mark) {
      const memoryMb = this.undoMemory.pop()!;
      const cpus = this.undo.pop()!;
      const slot = this.undo.pop()!;
      this.remove(slot);
      this.freeCpus[slot] += cpus;
      this.freeMemoryMb[slot] += memoryMb;
      this.totalFreeCpus += cpus;
      this.totalFreeMemoryMb += memoryMb;
      this.insert(slot);
    }
  }

  /** Forget the undo history (after a committed change) so the log does not grow without bound. */
  commit(): void {
    this.undo.length = 0;
    this.undoMemory.length = 0;
  }

  /** Sum of free CPUs and memory, and the largest single host. */
  totals(): { cpus: number; memoryMb: number; largestCpus: number; largestMemoryMb: number } {
    let cpus = 0;
    let memoryMb = 0;
    let largestCpus = 0;
    let largestMemoryMb = 0;
    for (let s = 0; s < this.size; s++) {
      cpus += this.freeCpus[s]!;
      memoryMb += this.freeMemoryMb[s]!;
      largestCpus = Math.max(largestCpus, this.freeCpus[s]!);
      largestMemoryMb = Math.max(largestMemoryMb, this.freeMemoryMb[s]!);
    }
    return { cpus, memoryMb, largestCpus, largestMemoryMb };
  }

  /** Hosts able to take one VM of this size. */
  countFitting(cpus: number, memoryMb: number): number {
    let n = 0;
    for (let c = Math.max(cpus, 0); c < this.buckets.length; c++) {
      for (const slot of this.buckets[c]!) if (this.freeMemoryMb[slot]! >= memoryMb) n++;
    }
    return n;
  }
}
