/**
 * HTTP plumbing for the TREC fetchers: JSON POSTs with a per-attempt timeout, bounded retries with exponential backoff, a cap on calls in flight, and the caller's AbortSignal.
 * Knows nothing about TREC values. It returns a 2xx body or the reason it got none, and never throws for upstream trouble.
 */
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import axios from 'axios';

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

type Attempt =
  | { kind: 'ok'; body: string }
  | { kind: 'aborted' }
  | { kind: 'failed'; reason: string; retryable: boolean };

/**
 * Per-source circuit breaker, consulted by post(). skipReason() is asked when an attempt holds its slot (the answer may have changed
 * while it was queued). record() gets each call's final outcome before its slot is released, so the next queued call sees it.
 */
export interface Circuit {
  skipReason(): string | undefined;
  record(outcome: CallOutcome): void;
}

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

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Delay before retry number `retry` (1-based): backoffMs·2^(retry−1), jittered down by up to half, so that services that failed
 * together do not all retry at the same moment. The upper bound stays deterministic, which keeps the worst case easy to state.
 */
export function backoffDelay(backoffMs: number, retry: number): number {
  const base = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** Math.min(retry - 1, 30));
  return base / 2 + (Math.random() * base) / 2;
}

/** One per fetchTrec call. Its agents and listeners are released by close(), so no state outlives a request. */
export class TrecHttp {
  private readonly stop = new AbortController();
  private readonly slots: Slots;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly unlink: () => void;

  constructor(
    private readonly policy: RetryPolicy,
    maxInFlight: number,
    private readonly caller?: AbortSignal,
  ) {
    this.slots = new Slots(maxInFlight);
    // Every queued or running call listens on this signal. Hundreds of listeners are expected here, not a leak.
    setMaxListeners(0, this.stop.signal);
    // Keep-alive reuses the few connections to each TREC service. maxSockets matches the slots, so sockets never exceed calls in flight.
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: maxInFlight });
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

  /** Why calls stopped early, for the degraded notes. */
  private abortReason(attempts: number): string {
    // By name, not instanceof: AbortSignal.timeout's DOMException may come from another realm (vm contexts, test runners).
    const reason = this.caller?.reason as { name?: unknown; message?: unknown } | undefined;
    const why =
      reason?.name === TREC_BUDGET_EXCEEDED ? String(reason.message) : reason?.name === 'TimeoutError' ? "the caller's deadline passed" : 'the caller aborted';
    return attempts === 0 ? `aborted before the call: ${why}` : `aborted after ${plural(attempts, 'attempt')}: ${why}`;
  }

  /** POSTs `payload` (JSON text) to `url` with retries. */
  async post(url: string, payload: string, circuit?: Circuit): Promise<CallOutcome> {
    const maxAttempts = this.policy.retries + 1;
    for (let attempt = 1; ; attempt++) {
      const release = await this.slots.acquire(this.stop.signal);
      if (release === undefined) return this.abortedOutcome(attempt - 1);
      try {
        const skip = circuit?.skipReason();
        if (skip !== undefined) return { ok: false, reason: skip, attempts: attempt - 1, aborted: false, retryable: false, skipped: true };
        const r = await this.attempt(url, payload);
        let outcome: CallOutcome | undefined;
        if (r.kind === 'ok') outcome = { ok: true, body: r.body, attempts: attempt };
        else if (r.kind === 'aborted') outcome = this.abortedOutcome(attempt);
        else if (!r.retryable || attempt >= maxAttempts) {
          outcome = { ok: false, reason: `${r.reason} (${plural(attempt, 'attempt')})`, attempts: attempt, aborted: false, retryable: r.retryable };
        }
        if (outcome) {
          circuit?.record(outcome);
          return outcome;
        }
      } finally {
        release();
      }
      // The backoff sleeps without a slot, so that a retrying call does not hold up the others.
      if (!(await sleep(backoffDelay(this.policy.backoffMs, attempt), this.stop.signal))) return this.abortedOutcome(attempt);
    }
  }

  /** Releases sockets and the link to the caller's signal. Calls still running are aborted. */
  close(): void {
    this.unlink();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private abortedOutcome(attempts: number): CallOutcome {
    return { ok: false, reason: this.abortReason(attempts), attempts, aborted: true, retryable: false };
  }

  /** One request; the caller holds a slot. */
  private async attempt(url: string, payload: string): Promise<Attempt> {
    // Our own timer, not axios's `timeout`: that one is a socket-idle timeout, and a server that trickles bytes would never trip it.
    const attemptAbort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      attemptAbort.abort();
    }, this.policy.timeoutMs);
    const onStop = (): void => attemptAbort.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await axios.post<string>(url, payload, {
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
        signal: attemptAbort.signal,
      });
      const status = res.status;
      if (status >= 200 && status < 300) return { kind: 'ok', body: typeof res.data === 'string' ? res.data : String(res.data ?? '') };
      const text = `HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}`;
      // 5xx: the server may recover. 3xx (not followed) and 4xx: asking again gets the same answer.
      return { kind: 'failed', reason: status >= 300 && status < 400 ? `${text} (redirects are not followed)` : text, retryable: status >= 500 };
    } catch (error) {
      if (this.stop.signal.aborted) return { kind: 'aborted' };
      if (timedOut) return { kind: 'failed', reason: `timeout after ${this.policy.timeoutMs} ms`, retryable: true };
      return classify(error);
    } finally {
      clearTimeout(timer);
      this.stop.signal.removeEventListener('abort', onStop);
    }
  }
}

function classify(error: unknown): Attempt {
  const code = errorCode(error);
  if (code !== undefined && code in CONNECTION_ERRORS) return { kind: 'failed', reason: `${CONNECTION_ERRORS[code]}: ${code}`, retryable: true };
  const message = error instanceof Error ? error.message : String(error);
  if (/maxContentLength/i.test(message)) return { kind: 'failed', reason: `invalid answer: larger than ${MAX_ANSWER_BYTES} bytes`, retryable: false };
  // Bad URL, TLS failure, protocol error: another attempt would fail the same way.
  return { kind: 'failed', reason: `request failed: ${code ? `${code}: ` : ''}${message.slice(0, 160)}`, retryable: false };
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

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
