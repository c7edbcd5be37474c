/**
 * Wakes the event streams (SSE) of this process when the ledger's outbox grows: one poll of the last event seq for all
 * streams (other processes' commits), plus an immediate poke after this process's own changes.
 */
import type { Ledger } from '../ledger/types';

export class EventHub {
  private last = -1;
  private waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly ledger: Ledger,
    private readonly pollMs = 250,
  ) {}

  /** Resolves on the next new event (or poke), after `maxMs` at the latest, or when `signal` aborts. */
  wait(maxMs: number, signal?: AbortSignal): Promise<void> {
    this.ensurePolling();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, maxMs);
      t.unref();
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  /** Something was committed here: wake every stream now. */
  poke(): void {
    for (const w of [...this.waiters]) w();
  }

  get streams(): number {
    return this.waiters.size;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.poke();
  }

  private ensurePolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    if (this.waiters.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    this.polling = true;
    try {
      const seq = await this.ledger.lastEventSeq();
      if (seq !== this.last) {
        this.last = seq;
        this.poke();
      }
    } catch {
      // a busy database: the next poll tries again
    } finally {
      this.polling = false;
    }
  }
}
