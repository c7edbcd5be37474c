/** The service's notion of now: the system clock, or a manual one that tests move by hand (AC_CLOCK=manual). */

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Stands still until set or advanced; starts at the system time unless told otherwise. */
export class ManualClock implements Clock {
  private t: number;
  constructor(start: number = Date.now()) {
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
