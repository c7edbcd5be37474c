/** A clock the test moves by hand (epoch ms), to hand to LedgerOptions.clock as `() => clock.now()`. */
export class ManualClock {
  private t: number;

  constructor(start = Date.parse('2030-01-01T00:00:00.000Z')) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  set(ms: number): void {
    this.t = ms;
  }

  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }

  /** The clock as a function (LedgerOptions.clock). */
  get fn(): () => number {
    return () => this.t;
  }
}
