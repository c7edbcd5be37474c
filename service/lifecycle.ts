/**
 * The ledger's clock hand: calls Ledger.advance() when the next transition is due (holds expiring, reservations starting,
 * ending, capacity windows), not lazily on the next request. Owns no state of its own; several processes may run one.
 */
import type { EpochMs, Ledger, LedgerEvent } from '../ledger/types';

/*
 * Decisions:
 * - The ledger says when the next thing is due (AdvanceResult.nextDueAt); the scheduler sleeps until then, but never
 *   longer than `maxSleepMs`: another process (a second worker, a replica) may have recorded something due sooner.
 * - After a change this process made (a booking, a window), kick() re-plans at once: the new admission's hold may be
 *   the next thing due.
 * - advance() is idempotent and safe to call concurrently from several processes (each transition is recorded once in
 *   the ledger's write), so no leader election is needed.
 * - A failing advance() (database busy) is retried after `retryMs`; it never stops the loop.
 */

export interface LifecycleOptions {
  readonly clock: () => EpochMs;
  /** Longest sleep between two looks at the ledger (other processes' changes). Default 1000 ms. */
  readonly maxSleepMs?: number;
  readonly retryMs?: number;
  /** Called with the events each advance() emitted (metrics, logs). */
  readonly onEvents?: (events: readonly LedgerEvent[]) => void;
  readonly onError?: (error: unknown) => void;
  /** Timers; injectable for tests that drive time by hand. */
  readonly setTimer?: (fn: () => void, ms: number) => { unref?(): void };
  readonly clearTimer?: (timer: unknown) => void;
}

export class LifecycleScheduler {
  private timer: unknown;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly ledger: Ledger,
    private readonly options: LifecycleOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.kick();
  }

  /** Runs advance() now (or right after the one in progress) and re-plans. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.clear();
    this.running = this.tick().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves when the advance() in progress (if any) has finished; for tests and shutdown. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clear();
    await this.idle();
  }

  private async tick(): Promise<void> {
    const maxSleep = this.options.maxSleepMs ?? 1000;
    let sleep = maxSleep;
    try {
      const result = await this.ledger.advance(this.options.clock());
      if (result.events.length > 0) this.options.onEvents?.(result.events);
      if (result.nextDueAt !== null) sleep = Math.max(0, Math.min(maxSleep, result.nextDueAt - this.options.clock()));
    } catch (error) {
      this.options.onError?.(error);
      sleep = this.options.retryMs ?? 250;
    }
    if (this.stopped) return;
    const set = this.options.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
    const t = set(() => this.kick(), sleep);
    t.unref?.();
    this.timer = t;
  }

  private clear(): void {
    if (this.timer !== undefined) (this.options.clearTimer ?? ((t: unknown) => clearTimeout(t as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
  }
}
