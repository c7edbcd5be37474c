/**
 * Delivers the ledger's outbox to webhook subscriptions: at least once, in order per subscription, signed, retried with
 * backoff and dead-lettered after the last attempt. Delivery state lives in the ledger (claim / settle), so a crash or
 * a kill -9 loses nothing: an unsettled claim is retaken after its lease.
 */
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { addressMatcher } from '../config/config';
import type { DeliveryClaim, EpochMs, Ledger, LedgerEvent } from '../ledger/types';

/*
 * Decisions:
 * - Body: the event as JSON (`{"id", "seq", "type", "at" (RFC 3339), "owner", "subject", "data"}`), headers
 *   `X-EAC-Event-Id` (the de-duplication key), `X-EAC-Event-Type`, `X-EAC-Delivery-Attempt`, and `X-EAC-Signature:
 *   sha256=<hex HMAC-SHA256 of the exact body bytes with the subscription's secret>`. Any 2xx is delivered; anything else
 *   (status, timeout, refused connection) is a failed attempt.
 * - One claim per subscription at a time (the ledger enforces it across processes), so events reach a receiver in
 *   seq order; a failed event is retried before any later one, with exponential backoff (with jitter) capped at
 *   maxBackoffMs; after maxAttempts it is dead-lettered (visible in GET /api/v1/subscriptions/{id}) and delivery moves on.
 * - Targets: a subscription whose owner is not allowed private targets (clients, unless webhooks.allowPrivateTargets)
 *   may not reach loopback, link-local, private or unspecified addresses: checked on the resolved address at connect
 *   time, so DNS cannot rebind a public name to an internal one (SSRF). Redirects are not followed.
 */

export const PRIVATE_NETWORKS = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16',
  '::/128', '::1/128', 'fc00::/7', 'fe80::/10',
];
const isPrivate = addressMatcher(PRIVATE_NETWORKS);

export interface WebhookOptions {
  readonly clock: () => EpochMs;
  /** Per attempt, ms. Default 5000. */
  readonly timeoutMs?: number;
  /** Attempts per event before it is dead-lettered. Default 8. */
  readonly maxAttempts?: number;
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How long a claim is held before another deliverer may retake it, ms. Default timeoutMs + 5 s. */
  readonly leaseMs?: number;
  /** Parallel deliveries (to different subscriptions). Default 4. */
  readonly concurrency?: number;
  /** Look for due deliveries at least this often, ms (other processes' events). Default 500. */
  readonly pollMs?: number;
  /** Whether this subscription may reach private addresses (e.g. operators always, clients by configuration). */
  readonly allowsPrivate: (claim: DeliveryClaim) => boolean;
  readonly onOutcome?: (claim: DeliveryClaim, outcome: { ok: boolean; status?: number; error?: string; deadLettered?: boolean }) => void;
}

export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export function eventJson(e: LedgerEvent): string {
  return JSON.stringify({ id: e.id, seq: e.seq, type: e.type, at: new Date(e.at).toISOString(), owner: e.owner, subject: e.subject, data: e.data });
}

/** Delay before attempt `attempt + 1` after `attempt` failures: base · 2^(attempt−1), capped, jittered down by ≤ 25 %. */
export function backoffMs(attempt: number, base: number, cap: number, random: () => number = Math.random): number {
  const raw = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (1 - 0.25 * random()));
}

export class WebhookDeliverer {
  private stopped = true;
  /** The sleeping loops' wake-ups; each removes itself when it wakes (by poke or by its timer). */
  private readonly sleepers = new Set<() => void>();
  private loops: Promise<void>[] = [];

  constructor(
    private readonly ledger: Ledger,
    private readonly options: WebhookOptions,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const n = this.options.concurrency ?? 4;
    this.loops = Array.from({ length: n }, () => this.loop());
  }

  /** New events were committed here: look now instead of at the next poll. */
  poke(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 5000;
    const lease = this.options.leaseMs ?? timeoutMs + 5000;
    while (!this.stopped) {
      let claim: DeliveryClaim | undefined;
      try {
        claim = await this.ledger.claimDelivery(this.options.clock(), lease);
      } catch {
        claim = undefined; // busy database: try again at the next poll
      }
      if (!claim) {
        await this.sleep(this.options.pollMs ?? 500);
        continue;
      }
      await this.deliver(claim, timeoutMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    // Every sleeping loop wakes on a poke. (A set, not a chain of closures: a chain grew by one link per sleep for
    // the life of the process, and every poke — one per booking — called all of them.)
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref();
      this.sleepers.add(done);
    });
  }

  private async deliver(claim: DeliveryClaim, timeoutMs: number): Promise<void> {
    const body = eventJson(claim.event);
    const result = await post(claim.subscription.url, body, {
      'Content-Type': 'application/json',
      'User-Agent': 'eac-webhooks',
      'X-EAC-Event-Id': claim.event.id,
      'X-EAC-Event-Type': claim.event.type,
      'X-EAC-Delivery-Attempt': String(claim.attempt),
      'X-EAC-Signature': signature(body, claim.subscription.secret),
    }, timeoutMs, this.options.allowsPrivate(claim));
    const ok = result.status !== undefined && result.status >= 200 && result.status < 300;
    const error = ok ? undefined : result.error ?? `HTTP ${result.status}`;
    const maxAttempts = this.options.maxAttempts ?? 8;
    const deadLettered = !ok && claim.attempt >= maxAttempts;
    const retryAt = deadLettered ? null : this.options.clock() + backoffMs(claim.attempt, this.options.baseBackoffMs ?? 1000, this.options.maxBackoffMs ?? 300_000);
    try {
      await this.ledger.settleDelivery(claim.token, ok ? { ok: true } : { ok: false, error: error!, retryAt });
    } catch {
      // The claim lapses after its lease and is retaken: the receiver may see this event again (at least once).
    }
    this.options.onOutcome?.(claim, { ok, ...(result.status !== undefined ? { status: result.status } : {}), ...(error ? { error } : {}), ...(deadLettered ? { deadLettered } : {}) });
  }
}

/** One POST; never throws. Redirects are not followed; private targets are refused unless allowed. */
function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number, allowPrivate: boolean): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      resolve({ error: 'not a valid URL' });
      return;
    }
    // An address literal is connected to without a lookup: check it here (names are checked at lookup, below).
    const literal = u.hostname.replace(/^\[|\]$/g, '');
    if (!allowPrivate && isIP(literal) !== 0 && isPrivate(literal)) {
      resolve({ error: `target address ${literal} is private (not allowed for this subscription)` });
      return;
    }
    const guardedLookup: LookupFunction = (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 0);
        const list = addresses as unknown as LookupAddress[];
        const bad = !allowPrivate ? list.find((a) => isPrivate(a.address)) : undefined;
        if (bad) return callback(Object.assign(new Error(`target address ${bad.address} is private (not allowed for this subscription)`), { code: 'EAC_PRIVATE_TARGET' }), '', 0);
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        callback(null, list[0]!.address, list[0]!.family);
      });
    };
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(
      u,
      { method: 'POST', headers: { ...headers, 'Content-Length': Buffer.byteLength(body) }, timeout: timeoutMs, lookup: guardedLookup },
      (res) => {
        res.resume(); // the answer's body is not read beyond draining it
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code && e.code !== 'EAC_PRIVATE_TARGET' ? `${e.code}: ${e.message}` : e.message }));
    req.end(body);
  });
}
