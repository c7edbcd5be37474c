/**
 * Free capacity of the hosts, bucketed by free CPUs so that a best-fit query costs O(max CPUs per host),
 * not O(hosts): hosts with equal free capacity are interchangeable (model.md §4.4). Changes are undoable.
 */
import type { AdmissionModel } from '../../model/types';

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
  totalFreeCpus = 0;
  totalFreeMemoryMb = 0;

  constructor(model: AdmissionModel, smallestVcpus: number) {
    // Plain indexed loops (not forEach / TypedArray.from with a mapper): built once per solve, on every admission.
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
    this.modelIndex = new Int32Array(n);
    this.freeCpus = new Int32Array(n);
    this.freeMemoryMb = new Float64Array(n);
    for (let s = 0; s < n; s++) {
      const h = hosts[slots[s]!]!;
      this.modelIndex[s] = slots[s]!;
      this.freeCpus[s] = h.cpus - h.usedCpus;
      this.freeMemoryMb[s] = h.freeMemoryMb ?? Infinity;
      this.totalFreeCpus += this.freeCpus[s]!;
      this.totalFreeMemoryMb += this.freeMemoryMb[s]!;
    }
    this.buckets = new Array<number[]>(max + 1);
    for (let c = 0; c <= max; c++) this.buckets[c] = [];
    this.position = new Int32Array(n);
    // Insert in reverse so that, among equal hosts, the lowest model index is taken first (a stable, readable order).
    for (let s = n - 1; s >= 0; s--) this.insert(s);
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
