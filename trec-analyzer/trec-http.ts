/**
 * HTTP plumbing for the TREC fetchers: JSON POSTs with a per-attempt timeout, bounded retries with exponential backoff, a
 * circuit breaker per source that lives as long as its TrecHttp (one per service process), a cap on calls in flight per fetch,
 * and the caller's AbortSignal. The retry, timeout and breaker are cockatiel policies; this file decides what counts as what.
 * Knows nothing about TREC values. It returns a 2xx body or the reason it got none, and never throws for upstream trouble.
 *
 * Per call (one service and source, or one host batch), from the outside in:
 *   SourceCircuit.run (cockatiel circuitBreaker, ConsecutiveBreaker)  — one success or failure per call, after its retries
 *     retry (cockatiel retry, handleType(RetryableFailure), ExponentialBackoff with half jitter)
 *       a slot (Slots, per fetch) — then the circuit is asked again: it may have opened while this attempt waited
 *         timeout (cockatiel timeout, cooperative: its signal aborts the axios request) — one attempt
 * cockatiel's `wrap` is not used because the slot has to sit between the retry and the timeout: the timeout counts from the
 * slot, and the backoff sleeps without one.
 *
 * What the policies see: timeouts, connection errors and 5xx throw RetryableFailure, the only error they handle (retried, and
 * counted by the breaker). 4xx, 3xx and other refusals are returned as values: the server is up, which resets the breaker's count.
 * An abort (CallAborted) or a refusal by the circuit (CallSkipped) is an error no policy handles: it is not retried and the
 * breaker records nothing for it.
 */
import { REDACTED, redactUrl } from '../model/redact';
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import axios from 'axios';
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TimeoutStrategy,
  circuitBreaker,
  halfJitterGenerator,
  handleType,
  retry,
  timeout,
  type CircuitBreakerPolicy,
  type RetryPolicy as CockatielRetryPolicy,
  type TimeoutPolicy,
} from 'cockatiel';

export interface RetryPolicy {
  /** Budget of one attempt, from the moment it holds a slot to the last byte of the answer. */
  readonly timeoutMs: number;
  /** Further attempts after the first one, only for timeouts, connection errors and 5xx. */
  readonly retries: number;
  /** Delay before the first retry. It doubles for each later retry. */
  readonly backoffMs: number;
}

export type CallOutcome =
  | { readonly ok: true; readonly body: string; readonly attempts: number }
  /** `retryable`: the last failure was a timeout, connection error or 5xx, so the server may be down rather than wrong. */
  | {
      readonly ok: false;
      readonly reason: string;
      readonly attempts: number;
      readonly aborted: boolean;
      readonly retryable: boolean;
      /** The circuit refused the call (no request was sent for the refused attempt). */
      readonly skipped?: boolean;
    };

/** Answers are a number or a small XML document. A 1 MiB cap keeps a misbehaving server from filling memory. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** Name of the abort reason fetchTrec uses when its own budget (TrecFetchOptions.budgetMs) runs out. */
export const TREC_BUDGET_EXCEEDED = 'TrecBudgetExceeded';

/** A delay never grows past this, whatever the retry count. */
const MAX_BACKOFF_MS = 30_000;

/** Socket-level failures worth another attempt: the server may be restarting, or the network may be briefly away. */
const CONNECTION_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection broken',
  ECONNABORTED: 'connection aborted',
  ETIMEDOUT: 'connect timeout',
  EHOSTUNREACH: 'host unreachable',
  EHOSTDOWN: 'host down',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network down',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'DNS lookup failed',
};

/** What an attempt gives back without throwing: a 2xx body, or a refusal that asking again would not change (4xx, 3xx, …). */
type Answer = { readonly kind: 'ok'; readonly body: string } | { readonly kind: 'refused'; readonly reason: string };

/** A timeout, connection error or 5xx: retried, and counted by the circuit breaker once the retries are spent. */
class RetryableFailure extends Error {
  constructor(
    readonly reason: string,
    readonly attempts: number,
  ) {
    super(`${reason} (${plural(attempts, 'attempt')})`);
    this.name = 'RetryableFailure';
  }
}

/** The caller's signal (or the fetch budget) stopped the call. Says nothing about the server. */
class CallAborted extends Error {
  constructor() {
    super('aborted');
    this.name = 'CallAborted';
  }
}

/** The circuit refused the call, or one of its attempts. Says nothing about the server either. */
class CallSkipped extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'CallSkipped';
  }
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker per source

export type CircuitStateName = 'closed' | 'open' | 'half-open';

export interface CircuitView {
  /** 'half-open' also once the open period has passed: the next call goes through as the one trial call. */
  readonly state: CircuitStateName;
  /** Calls in a row that failed on timeouts, connection errors or 5xx after their retries (what opens the circuit). */
  readonly consecutiveFailures: number;
  /** The last call that fell back (any reason but an abort or a skip), and when (ISO 8601). */
  readonly lastFailure?: { readonly reason: string; readonly at: string };
  /** The last call whose answer was used (ISO 8601). */
  readonly lastSuccessAt?: string;
  /** When the circuit opened (ISO 8601), while it is not closed. */
  readonly openedAt?: string;
  /** When the open period ends (ISO 8601), while the state is 'open'. */
  readonly openUntil?: string;
}

/**
 * The circuit of one TREC source, shared by every fetch of a TrecClient: a cockatiel circuit breaker (ConsecutiveBreaker)
 * that opens after `threshold` calls in a row failed with RetryableFailure, stays open for `openMs` (calls fail at once),
 * then lets one trial call through (half-open): its success closes the circuit, its failure opens it again. While the trial
 * runs, the other calls are skipped rather than queued behind it. Also keeps the facts status() reports.
 */
export class SourceCircuit {
  private policy!: CircuitBreakerPolicy;
  private breaker!: ConsecutiveBreaker;
  private openedAt: number | undefined;
  private tripReason = '';
  private lastFailure: { reason: string; at: number } | undefined;
  private lastSuccessAt: number | undefined;

  /** `threshold` 0: the circuit never opens (failures are still counted). */
  constructor(
    readonly name: string,
    private readonly threshold: number,
    readonly openMs: number,
  ) {
    this.build(undefined);
  }

  /**
   * Runs one call through the breaker. `work(trial)` is told whether it is the half-open trial call. Rejects with
   * CallSkipped when the circuit refuses the call, else with whatever `work` throws.
   */
  async run<T>(work: (trial: boolean) => Promise<T>): Promise<T> {
    const policy = this.policy;
    // cockatiel would queue this call behind the trial call and then run it; skipping it keeps the caller's time.
    if (policy.state === CircuitState.HalfOpen) throw new CallSkipped(this.refusalReason(true));
    let beforeTrial: { state: unknown; openedAt: number | undefined } | undefined;
    try {
      return await policy.execute(() => {
        // cockatiel runs the function outside the closed state only as the half-open trial call.
        const trial = policy.state !== CircuitState.Closed;
        if (trial) beforeTrial = { state: policy.toJSON(), openedAt: this.openedAt };
        return work(trial);
      });
    } catch (error) {
      if (error instanceof BrokenCircuitError) throw new CallSkipped(this.refusalReason(false));
      // cockatiel closes the circuit when the trial call ends with an error it does not handle. An aborted trial says nothing
      // about the server, so the circuit goes back to where it was: open, with the open period over (the next call is the trial).
      if (beforeTrial !== undefined && error instanceof CallAborted && this.policy === policy) {
        this.build(beforeTrial.state);
        this.openedAt = beforeTrial.openedAt;
      }
      throw error;
    }
  }

  /**
   * Asked by each attempt once it holds its slot (the circuit may have opened while it waited, or between its attempts):
   * the skip reason, or undefined to go ahead. Only the trial call goes ahead while the circuit is not closed.
   */
  refusal(trial: boolean): string | undefined {
    const state = this.policy.state;
    if (state === CircuitState.Closed || (trial && state === CircuitState.HalfOpen)) return undefined;
    return this.refusalReason(state === CircuitState.HalfOpen);
  }

  /** The answer of a call was used. */
  noteSuccess(at = Date.now()): void {
    this.lastSuccessAt = at;
  }

  /** A call fell back for `reason` (HTTP failure or invalid answer; not for aborts or skips). */
  noteFailure(reason: string, at = Date.now()): void {
    this.lastFailure = { reason, at };
  }

  view(now = Date.now()): CircuitView {
    const s = this.policy.state;
    const openUntil = s !== CircuitState.Closed && this.openedAt !== undefined ? this.openedAt + this.openMs : undefined;
    const state: CircuitStateName =
      s === CircuitState.Closed ? 'closed' : s === CircuitState.HalfOpen || (openUntil !== undefined && now >= openUntil) ? 'half-open' : 'open';
    const iso = (ms: number): string => new Date(ms).toISOString();
    return {
      state,
      consecutiveFailures: this.breaker.state,
      ...(this.lastFailure ? { lastFailure: { reason: this.lastFailure.reason, at: iso(this.lastFailure.at) } } : {}),
      ...(this.lastSuccessAt !== undefined ? { lastSuccessAt: iso(this.lastSuccessAt) } : {}),
      ...(s !== CircuitState.Closed && this.openedAt !== undefined ? { openedAt: iso(this.openedAt) } : {}),
      ...(state === 'open' && openUntil !== undefined ? { openUntil: iso(openUntil) } : {}),
    };
  }

  private refusalReason(trialRunning: boolean): string {
    const since = this.openedAt !== undefined ? ` since ${new Date(this.openedAt).toISOString()}` : '';
    return `skipped: the ${this.name} service is failing (circuit open${since}${trialRunning ? ', a trial call is running' : ''}, last: ${this.tripReason})`;
  }

  /** A fresh cockatiel breaker, or one restored from toJSON() (cockatiel's documented way to carry its state over). */
  private build(initialState: unknown): void {
    this.breaker = new ConsecutiveBreaker(this.threshold > 0 ? this.threshold : Infinity);
    this.policy = circuitBreaker(handleType(RetryableFailure), {
      halfOpenAfter: this.openMs,
      breaker: this.breaker,
      ...(initialState !== undefined ? { initialState } : {}),
    });
    this.policy.onBreak((why) => {
      this.openedAt = Date.now();
      if ('error' in why && why.error instanceof RetryableFailure) this.tripReason = why.error.message;
    });
    this.policy.onReset(() => {
      this.openedAt = undefined;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Slots

/** Counting semaphore with abortable waits, so that queued calls also stop when the caller gives up. */
export class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /** Resolves to a release function, or to undefined if `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<(() => void) | undefined> {
    if (signal.aborted) return Promise.resolve(undefined);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(this.releaser());
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter, so a new caller cannot take it first.
      if (next) next();
      else this.free++;
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The long-lived part: connections and policies

/**
 * One per TrecClient (per service process): keep-alive agents and the retry and timeout policies, shared by every fetch.
 * close() releases the sockets.
 */
export class TrecHttp {
  readonly retries: CockatielRetryPolicy;
  readonly attemptTimeout: TimeoutPolicy;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(
    readonly policy: RetryPolicy,
    readonly maxInFlight: number,
  ) {
    // Retry only what may go away (RetryableFailure), `retries` times. Delays: backoffMs·2^(retry−1), jittered down by up to
    // half (so that calls that failed together do not retry together), at most MAX_BACKOFF_MS. The delay timer is unref'd:
    // a call whose caller aborted during a backoff has already been answered and must not keep the process alive.
    this.retries = retry(handleType(RetryableFailure), {
      maxAttempts: policy.retries,
      backoff: new ExponentialBackoff({ generator: halfJitterGenerator, initialDelay: policy.backoffMs, maxDelay: MAX_BACKOFF_MS }),
    }).dangerouslyUnref();
    // Cooperative: the timeout aborts the attempt's signal, which aborts the axios request (connect, send, receive). Our own
    // deadline, not axios's `timeout`: that one is a socket-idle timeout, and a server that trickles bytes would never trip it.
    this.attemptTimeout = timeout(policy.timeoutMs, TimeoutStrategy.Cooperative);
    // Keep-alive reuses the few connections to each TREC service across fetches (node honours the server's Keep-Alive
    // timeout hint). Sockets are bounded by the calls in flight (maxInFlight per fetch), so maxSockets is not capped here:
    // concurrent fetches must not queue behind each other inside the agent while their attempt timers run.
    this.httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: maxInFlight });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxFreeSockets: maxInFlight });
  }

  /** The calls of one fetch: their own slots, and a stop signal linked to the caller's. Close it when the fetch is done. */
  session(caller?: AbortSignal): TrecSession {
    return new TrecSession(this, caller);
  }

  /** Releases the sockets (idle ones and those of calls still running). The object stays usable: later calls reconnect. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** One request. Throws RetryableFailure or CallAborted; a refusal that another attempt would not change is returned. */
  async request(url: string, payload: string, signal: AbortSignal, stop: AbortSignal, attempt: number): Promise<Answer> {
    let res;
    try {
      res = await axios.post<string>(url, payload, {
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, application/xml;q=0.9, text/plain;q=0.8' },
        responseType: 'text',
        // The raw body is parsed by trec-answers, which tells a bare number from JSON, XML and garbage.
        transformResponse: [(data: unknown) => data],
        validateStatus: () => true,
        maxRedirects: 0,
        maxContentLength: MAX_ANSWER_BYTES,
        maxBodyLength: Infinity,
        // TREC services are infrastructure neighbours. Like OPTIMIS's Jersey clients, we ignore HTTP(S)_PROXY from the environment.
        proxy: false,
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
        signal,
      });
    } catch (error) {
      if (stop.aborted) throw new CallAborted();
      if (signal.aborted) throw new RetryableFailure(`timeout after ${this.policy.timeoutMs} ms`, attempt);
      const c = classify(error);
      if (c.retryable) throw new RetryableFailure(c.reason, attempt);
      return { kind: 'refused', reason: c.reason };
    }
    const status = res.status;
    if (status >= 200 && status < 300) return { kind: 'ok', body: typeof res.data === 'string' ? res.data : String(res.data ?? '') };
    const text = `HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}`;
    // 5xx: the server may recover. 3xx (not followed) and 4xx: asking again gets the same answer.
    if (status >= 500) throw new RetryableFailure(text, attempt);
    return { kind: 'refused', reason: status >= 300 && status < 400 ? `${text} (redirects are not followed)` : text };
  }
}

// ---------------------------------------------------------------------------------------------
// The per-fetch part: slots and the caller's signal

interface CallState {
  /** Requests sent (attempts that got past their slot and the circuit). */
  attempts: number;
  /** The slot of the call's last attempt, released once the circuit has recorded the call, so the next queued call sees it. */
  held?: () => void;
}

/** The calls of one fetch. Its listeners are released by close(). */
export class TrecSession {
  private readonly stop = new AbortController();
  private readonly slots: Slots;
  private readonly unlink: () => void;

  constructor(
    private readonly http: TrecHttp,
    private readonly caller?: AbortSignal,
  ) {
    this.slots = new Slots(http.maxInFlight);
    // Every queued or running call listens on this signal. Hundreds of listeners are expected here, not a leak.
    setMaxListeners(0, this.stop.signal);
    if (caller?.aborted) {
      this.stop.abort();
      this.unlink = () => undefined;
    } else if (caller) {
      const onAbort = (): void => this.stop.abort();
      caller.addEventListener('abort', onAbort, { once: true });
      this.unlink = () => caller.removeEventListener('abort', onAbort);
    } else {
      this.unlink = () => undefined;
    }
  }

  /**
   * POSTs `payload` (JSON text) to `url` with retries, through `circuit` when given. Resolves at once when the caller's
   * signal aborts, even during a backoff delay (cockatiel's delays are not abortable; what is left of the call then ends
   * on its own without sending anything).
   */
  post(url: string, payload: string, circuit?: SourceCircuit): Promise<CallOutcome> {
    const stop = this.stop.signal;
    if (stop.aborted) return Promise.resolve(this.abortedOutcome(0));
    const call: CallState = { attempts: 0 };
    const work = (trial: boolean): Promise<Answer> => this.http.retries.execute(() => this.attempt(url, payload, circuit, trial, call), stop);
    const settled = (circuit ? circuit.run(work) : work(false))
      .then(
        (answer): CallOutcome =>
          answer.kind === 'ok'
            ? { ok: true, body: answer.body, attempts: call.attempts }
            : { ok: false, reason: `${answer.reason} (${plural(call.attempts, 'attempt')})`, attempts: call.attempts, aborted: false, retryable: false },
        (error: unknown) => this.failedOutcome(error, call.attempts),
      )
      .finally(() => call.held?.());
    return new Promise<CallOutcome>((resolve) => {
      const onAbort = (): void => resolve(this.abortedOutcome(call.attempts));
      stop.addEventListener('abort', onAbort, { once: true });
      void settled.then((outcome) => {
        stop.removeEventListener('abort', onAbort);
        resolve(outcome);
      });
    });
  }

  /** Unlinks the caller's signal and stops whatever is left of aborted calls. */
  close(): void {
    this.unlink();
    this.stop.abort();
  }

  /** One attempt: a slot, the circuit's consent, then the request under the per-attempt timeout. */
  private async attempt(url: string, payload: string, circuit: SourceCircuit | undefined, trial: boolean, call: CallState): Promise<Answer> {
    const release = await this.slots.acquire(this.stop.signal);
    if (release === undefined) throw new CallAborted();
    let keep = true;
    try {
      const skip = circuit?.refusal(trial);
      if (skip !== undefined) throw new CallSkipped(skip);
      const n = ++call.attempts;
      try {
        return await this.http.attemptTimeout.execute(({ signal }) => this.http.request(url, payload, signal, this.stop.signal, n), this.stop.signal);
      } catch (error) {
        // Another attempt follows: the slot goes back now, so that the backoff does not hold up other calls.
        if (error instanceof RetryableFailure && n <= this.http.policy.retries && !this.stop.signal.aborted) keep = false;
        throw error;
      }
    } finally {
      if (keep) {
        call.held?.();
        call.held = release;
      } else {
        release();
      }
    }
  }

  private failedOutcome(error: unknown, attempts: number): CallOutcome {
    if (error instanceof CallAborted || this.stop.signal.aborted) return this.abortedOutcome(attempts);
    if (error instanceof CallSkipped) return { ok: false, reason: error.reason, attempts, aborted: false, retryable: false, skipped: true };
    if (error instanceof RetryableFailure) return { ok: false, reason: error.message, attempts, aborted: false, retryable: true };
    // Not expected (every failure above is classified); reported rather than thrown, as for any upstream trouble.
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `request failed: ${message.slice(0, 160)} (${plural(attempts, 'attempt')})`, attempts, aborted: false, retryable: false };
  }

  /** Why calls stopped early, for the degraded notes. */
  private abortedOutcome(attempts: number): CallOutcome {
    // By name, not instanceof: AbortSignal.timeout's DOMException may come from another realm (vm contexts, test runners).
    const reason = this.caller?.reason as { name?: unknown; message?: unknown } | undefined;
    const why =
      reason?.name === TREC_BUDGET_EXCEEDED ? String(reason.message) : reason?.name === 'TimeoutError' ? "the caller's deadline passed" : 'the caller aborted';
    const text = attempts === 0 ? `aborted before the call: ${why}` : `aborted after ${plural(attempts, 'attempt')}: ${why}`;
    return { ok: false, reason: text, attempts, aborted: true, retryable: false };
  }
}

function classify(error: unknown): { reason: string; retryable: boolean } {
  const code = errorCode(error);
  if (code !== undefined && code in CONNECTION_ERRORS) return { reason: `${CONNECTION_ERRORS[code]}: ${code}`, retryable: true };
  const message = error instanceof Error ? error.message : String(error);
  if (/maxContentLength/i.test(message)) return { reason: `invalid answer: larger than ${MAX_ANSWER_BYTES} bytes`, retryable: false };
  // Bad URL, TLS failure, protocol error: another attempt would fail the same way.
  return { reason: `request failed: ${code ? `${code}: ` : ''}${message.slice(0, 160)}`, retryable: false };
}

/** The system error code, from axios's error or from its cause (an AggregateError for dual-stack connects). */
function errorCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let e: unknown = error;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code in CONNECTION_ERRORS) return code;
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner) && inner.length > 0) {
      e = inner[0];
      continue;
    }
    e = (e as { cause?: unknown }).cause;
  }
  const top = (error as { code?: unknown } | null)?.code;
  return typeof top === 'string' ? top : undefined;
}

/** Endpoints as they may be shown (status, messages): model/redact.ts's rule. */
export const redactEndpoint = (url: string): string => redactUrl(url) ?? REDACTED;

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
