/**
 * Free capacity of the hosts, bucketed by free CPUs so that a best-fit query costs O(max CPUs per host),
 * not O(hosts): hosts with equal free capacity are interchangeable (model.md §4.4). Changes are undoable.
 * Reads hosts only as a HostTable (two typed arrays), which a worker thread can share without copying.
 */
import type { Host } from '../../model/types';
import { hostCapacities, isDeepFrozenHostList } from '../../model/validate';

/**
 * The only host facts the greedy needs, as typed arrays (over SharedArrayBuffers when reusable): a million hosts cost
 * 16 MB here instead of a million objects, and a worker thread receives a reusable table without a structured clone.
 */
export interface HostTable {
  /** cpus − usedCpus per host (may be negative). */
  readonly freeCpus: Float64Array;
  /** Free memory per host; Infinity where the host does not carry memory. */
  readonly freeMemoryMb: Float64Array;
  /** Whether the table is reused between solves (a frozen host list), so pool templates are worth keeping. */
  readonly reusable: boolean;
}

/** Tables of frozen host lists: a gateway's admissions share one frozen list (trec-analyzer's HostModelMemo). */
const tables = new WeakMap<readonly Host[], HostTable>();

function sharedFloat64(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * Math.max(1, length)), 0, length);
}

/** The table of a host list; built once per frozen list, O(hosts) otherwise. */
export function hostTableOf(hosts: readonly Host[]): HostTable {
  const cached = tables.get(hosts);
  if (cached) return cached;
  // Only a frozen list of frozen hosts cannot change under the cached table.
  const reusable = isDeepFrozenHostList(hosts);
  const source = hostCapacities(hosts);
  if (!reusable) return { freeCpus: source.freeCpus, freeMemoryMb: source.freeMemoryMb, reusable };
  // Kept and shared with worker threads: copied once into shareable memory.
  const freeCpus = sharedFloat64(hosts.length);
  const freeMemoryMb = sharedFloat64(hosts.length);
  freeCpus.set(source.freeCpus);
  freeMemoryMb.set(source.freeMemoryMb);
  const table: HostTable = { freeCpus, freeMemoryMb, reusable };
  if (reusable) tables.set(hosts, table);
  return table;
}

/**
 * Pools as first built, per reusable host table and smallest VM: copying a pool costs a fraction of building it.
 * Invisible to callers: a solve still gets a pool of its own, equal to a freshly built one.
 */
const templates = new WeakMap<HostTable, Map<number, HostPool>>();

interface PoolState {
  readonly modelIndex: Int32Array;
  readonly freeCpus: Int32Array;
  readonly freeMemoryMb: Float64Array;
  readonly buckets: number[][];
  /** Per bucket: whether this pool owns its array (a copy's buckets are the template's until first written). */
  readonly owned: Uint8Array;
  readonly position: Int32Array;
  readonly totalFreeCpus: number;
  readonly totalFreeMemoryMb: number;
  /** Facts of the initial state, shared by a template and its copies (see HostPool.initial). */
  readonly initial: InitialFacts;
}

/** Fleet-wide facts of a pool as first built: computed once per template instead of once per solve. */
export interface InitialFacts {
  readonly largestCpus: number;
  readonly largestMemoryMb: number;
  /** hostsFitting(cpus/memoryMb) memo. */
  readonly fitting: Map<string, number>;
}

/** Slots are the hosts able to hold the smallest VM, bucketed by free CPUs. Plain indexed loops: this runs per solve. */
function initialState(table: HostTable, smallestVcpus: number): PoolState {
  const cpusOf = table.freeCpus;
  const memoryOf = table.freeMemoryMb;
  const slots: number[] = [];
  let max = 0;
  for (let j = 0; j < cpusOf.length; j++) {
    const free = cpusOf[j]!;
    // D1: a host that cannot hold the smallest VM is ignored.
    if (free >= smallestVcpus && memoryOf[j]! >= 0) {
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
  let largestMemoryMb = 0;
  for (let s = 0; s < n; s++) {
    const j = slots[s]!;
    modelIndex[s] = j;
    freeCpus[s] = cpusOf[j]!;
    freeMemoryMb[s] = memoryOf[j]!;
    totalFreeCpus += freeCpus[s]!;
    totalFreeMemoryMb += freeMemoryMb[s]!;
    largestMemoryMb = Math.max(largestMemoryMb, freeMemoryMb[s]!);
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
  const initial: InitialFacts = { largestCpus: max, largestMemoryMb, fitting: new Map() };
  return { modelIndex, freeCpus, freeMemoryMb, buckets, owned: new Uint8Array(max + 1).fill(1), position, totalFreeCpus, totalFreeMemoryMb, initial };
}

export class HostPool {
  /** Pool slot → index in model.hosts. */
  readonly modelIndex: Int32Array;
  readonly freeCpus: Int32Array;
  /** Infinity for hosts that do not carry memory. */
  readonly freeMemoryMb: Float64Array;
  private readonly buckets: number[][];
  private readonly owned: Uint8Array;
  private readonly position: Int32Array;
  private readonly undo: number[] = [];
  private readonly undoMemory: number[] = [];
  /** Running totals of free capacity, kept in step with take/rollback for O(1) quick rejections. */
  totalFreeCpus: number;
  totalFreeMemoryMb: number;
  /** Facts of this pool before any change (a solve reads them before it places anything). */
  readonly initial: InitialFacts;

  /** A pool of the table's hosts that can hold a VM of `smallestVcpus` CPUs (D1). */
  static of(table: HostTable, smallestVcpus: number): HostPool {
    if (!table.reusable) return new HostPool(initialState(table, smallestVcpus));
    let bySize = templates.get(table);
    if (!bySize) templates.set(table, (bySize = new Map()));
    let template = bySize.get(smallestVcpus);
    if (!template) bySize.set(smallestVcpus, (template = new HostPool(initialState(table, smallestVcpus))));
    return new HostPool({
      modelIndex: template.modelIndex, // never written after construction
      freeCpus: template.freeCpus.slice(),
      freeMemoryMb: template.freeMemoryMb.slice(),
      // Copy on write: a solve touches a few buckets; copying all of them cost most of a solve on 1,000,000 hosts.
      buckets: template.buckets.slice(),
      owned: new Uint8Array(template.buckets.length),
      position: template.position.slice(),
      totalFreeCpus: template.totalFreeCpus,
      totalFreeMemoryMb: template.totalFreeMemoryMb,
      initial: template.initial,
    });
  }

  /** One constructor for built and copied pools, so that every pool has the same shape (monomorphic hot paths). */
  private constructor(state: PoolState) {
    this.modelIndex = state.modelIndex;
    this.freeCpus = state.freeCpus;
    this.freeMemoryMb = state.freeMemoryMb;
    this.buckets = state.buckets;
    this.owned = state.owned;
    this.position = state.position;
    this.totalFreeCpus = state.totalFreeCpus;
    this.totalFreeMemoryMb = state.totalFreeMemoryMb;
    this.initial = state.initial;
  }

  get size(): number {
    return this.modelIndex.length;
  }

  get maxCpus(): number {
    return this.buckets.length - 1;
  }

  /** The bucket of free-CPU value c, copied first if it is still the template's. */
  private writable(c: number): number[] {
    if (this.owned[c] === 0) {
      this.buckets[c] = this.buckets[c]!.slice();
      this.owned[c] = 1;
    }
    return this.buckets[c]!;
  }

  private insert(slot: number): void {
    const b = this.writable(this.freeCpus[slot]!);
    this.position[slot] = b.length;
    b.push(slot);
  }

  private remove(slot: number): void {
    const b = this.writable(this.freeCpus[slot]!);
    const p = this.position[slot]!;
    const last = b.pop()!;
    if (last !== slot) {
      b[p] = last;
      this.position[last] = p;
    }
  }

  /**
   * Best fit: the host with the fewest free CPUs that still holds (cpus, memoryMb), skipping excluded slots and, with
   * `allowed` (a mask over model host indices: capabilities), the hosts it does not allow.
   */
  find(cpus: number, memoryMb: number, excluded?: ReadonlySet<number>, allowed?: Uint8Array | null, avoid?: Uint8Array | null): number {
    if (avoid) {
      // First without the hosts restricted items need (capabilities), then, if nothing else holds it, with them.
      const elsewhere = this.findWhere(cpus, memoryMb, excluded, allowed, avoid);
      if (elsewhere >= 0) return elsewhere;
    }
    return this.findWhere(cpus, memoryMb, excluded, allowed, null);
  }

  private findWhere(cpus: number, memoryMb: number, excluded: ReadonlySet<number> | undefined, allowed: Uint8Array | null | undefined, avoid: Uint8Array | null): number {
    const buckets = this.buckets;
    for (let c = Math.max(cpus, 0); c < buckets.length; c++) {
      const b = buckets[c]!;
      for (let k = b.length - 1; k >= 0; k--) {
        const slot = b[k]!;
        if (
          this.freeMemoryMb[slot]! >= memoryMb &&
          (!excluded || !excluded.has(slot)) &&
          (!allowed || allowed[this.modelIndex[slot]!] === 1) &&
          (!avoid || avoid[this.modelIndex[slot]!] !== 1)
        ) {
          return slot;
        }
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

  /** Hosts able to take one VM of this size in the pool as first built (memoised per template). */
  initialFitting(cpus: number, memoryMb: number): number {
    const key = `${cpus}/${memoryMb}`;
    let n = this.initial.fitting.get(key);
    if (n !== undefined) return n;
    // Asked first after a change (a solve normally asks for all its sizes before placing): count what is left.
    if (this.undoMemory.length > 0) return this.countFitting(cpus, memoryMb);
    this.initial.fitting.set(key, (n = this.countFitting(cpus, memoryMb)));
    return n;
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
