/**
 * The greedy's one budget: a wall-clock deadline shared by every phase and an optional abort flag (set from another
 * thread through shared memory). Knows nothing of the search; phases ask it whether to go on.
 */

/**
 * Calls of `tick()` between two real clock reads: performance.now() costs tens of nanoseconds, inner loops of the
 * search cost a few, so the clock is read every few hundred iterations (each far below a millisecond).
 */
const TICKS_PER_CHECK = 256;

export class Budget {
  private ticks = 0;
  private over = false;

  /**
   * @param deadline performance.now() value after which every phase stops (Infinity: none)
   * @param abortFlag Int32Array whose first cell becomes non-zero when the caller gives up (worker pool)
   */
  constructor(
    readonly deadline: number,
    private readonly abortFlag?: Int32Array,
  ) {}

  static unlimited(): Budget {
    return new Budget(Infinity);
  }

  /** Reads the clock and the abort flag; once spent, always spent (phases must not resume after a stop). */
  expired(): boolean {
    if (this.over) return true;
    if (performance.now() >= this.deadline || (this.abortFlag !== undefined && Atomics.load(this.abortFlag, 0) !== 0)) this.over = true;
    return this.over;
  }

  /** Cheap check for inner loops: reads the clock only every TICKS_PER_CHECK calls. */
  tick(): boolean {
    if (this.over) return true;
    if (++this.ticks < TICKS_PER_CHECK) return false;
    this.ticks = 0;
    return this.expired();
  }

  get aborted(): boolean {
    return this.abortFlag !== undefined && Atomics.load(this.abortFlag, 0) !== 0;
  }
}
