/**
 * Fair intake of admissions: they start in arrival order, one per turn of the event loop, with a poll for new
 * requests between two starts. Starting is all it orders: an admission that waits on I/O (a TREC service, a peer,
 * the HiGHS worker) does not hold up the next one.
 *
 * Why: node reads ready connections in the order epoll reports them, and epoll reports a connection whose request
 * arrived just after the loop polled behind every connection already on its ready list. Under a steady load from N
 * clients that connection waits for two rounds of everybody's work instead of one: about 1/N of the requests took
 * twice the median (p99 ≈ 2 × p50 even when every request costs the same; BENCHMARKS.md). Started from this FIFO,
 * a request waits only for those that really arrived before it.
 */
import { performance } from 'node:perf_hooks';

interface Waiter {
  readonly queuedAt: number;
  readonly start: () => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export interface IntakeObserver {
  /** Called as each admission starts, with the time it waited in the queue (seconds). */
  started?(waitedSeconds: number): void;
}

export class AdmissionIntake {
  private readonly queue: Waiter[] = [];
  private scheduled = false;

  constructor(private readonly observer: IntakeObserver = {}) {}

  /** Admissions waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves when it is this caller's turn to start. Rejects with the signal's reason if the signal aborts first (the
   * caller's deadline passed, or its client closed the connection): the waiter leaves the queue and costs nothing more.
   */
  turn(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        queuedAt: performance.now(),
        signal,
        start: () => {
          signal?.removeEventListener('abort', waiter.onAbort);
          this.observer.started?.((performance.now() - waiter.queuedAt) / 1000);
          resolve();
        },
        onAbort: () => {
          const at = this.queue.indexOf(waiter);
          if (at >= 0) this.queue.splice(at, 1);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(this.startNext);
  }

  // A setImmediate callback runs in the loop's check phase; one queued from inside it runs on the next turn, after the
  // loop has polled for I/O again. So exactly one admission starts per turn, and late arrivals join the queue first.
  private readonly startNext = (): void => {
    this.scheduled = false;
    const next = this.queue.shift();
    this.schedule();
    next?.start();
  };
}
