/**
 * A max-heap of integer ids keyed by a number, with updates and removals by id, ties broken by the smaller id
 * (the order of a first-maximum linear scan). Used by the candidate walks; knows nothing of services.
 */
export class IndexedHeap {
  private readonly heap: Int32Array;
  private readonly position: Int32Array;
  private readonly key: Float64Array;
  private size = 0;

  constructor(capacity: number) {
    this.heap = new Int32Array(capacity);
    this.position = new Int32Array(capacity).fill(-1);
    this.key = new Float64Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Empties the heap in O(its size). */
  clear(): void {
    for (let p = 0; p < this.size; p++) this.position[this.heap[p]!] = -1;
    this.size = 0;
  }

  /** The id with the largest key (smallest id among equals); −1 when empty. */
  top(): number {
    return this.size > 0 ? this.heap[0]! : -1;
  }

  has(id: number): boolean {
    return this.position[id]! >= 0;
  }

  /** Inserts id or changes its key. */
  set(id: number, key: number): void {
    this.key[id] = key;
    let p = this.position[id]!;
    if (p < 0) {
      p = this.size++;
      this.heap[p] = id;
      this.position[id] = p;
    }
    this.down(this.up(p));
  }

  remove(id: number): void {
    const p = this.position[id]!;
    if (p < 0) return;
    this.position[id] = -1;
    const last = this.heap[--this.size]!;
    if (p === this.size) return;
    this.heap[p] = last;
    this.position[last] = p;
    this.down(this.up(p));
  }

  /** Whether a ranks before b. */
  private before(a: number, b: number): boolean {
    const ka = this.key[a]!;
    const kb = this.key[b]!;
    return ka > kb || (ka === kb && a < b);
  }

  private up(p: number): number {
    const id = this.heap[p]!;
    while (p > 0) {
      const parent = (p - 1) >> 1;
      const other = this.heap[parent]!;
      if (!this.before(id, other)) break;
      this.heap[p] = other;
      this.position[other] = p;
      p = parent;
    }
    this.heap[p] = id;
    this.position[id] = p;
    return p;
  }

  private down(p: number): void {
    const id = this.heap[p]!;
    for (;;) {
      let child = 2 * p + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && this.before(this.heap[child + 1]!, this.heap[child]!)) child++;
      const other = this.heap[child]!;
      if (!this.before(other, id)) break;
      this.heap[p] = other;
      this.position[other] = p;
      p = child;
    }
    this.heap[p] = id;
    this.position[id] = p;
  }
}
