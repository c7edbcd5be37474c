/**
 * Fetches the TREC values (trust, risk, eco, cost per service; risk, eco per host) from the TREC HTTP services, in parallel, falling back when they fail.
 * Returns plain values plus a degraded note for every fallback. It does not build the model and does not decide what a degraded answer means for admission.
 *
 * WIRE PROTOCOL (ours; replaces OPTIMIS's form-encoded AC_TRECcommon_aaS, §3.6)
 *
 *   Per service and source (trust, risk, eco, cost): `POST {endpoint}` with
 *     Content-Type: application/json
 *     {"serviceId": "...", "serviceProviderId": "..." | null, "manifest": "<the service manifest XML as a string>"}
 *   Accepted 2xx answers (by content, not by Content-Type, because OPTIMIS tools answer numbers as text/plain):
 *     trust, eco   `4.2` (text or JSON) | `{"trust": 4.2}` / `{"eco": 4.2}` | `{"value": 4.2}`; numeric strings such as "4.20" are accepted.
 *     risk         the same (`{"risk": 2}`), or OPTIMIS `<RiskAssesor><sp rank="0" pof="2.0">NAME</sp>…</RiskAssesor>`: the pof of rank 0.
 *     cost         OPTIMIS `<pricePlan><currency>EUR</currency><planCap>70</planCap><planFloor>10</planFloor>…</pricePlan>`
 *                  or `{"planFloor": 10, "planCap": 70, "currency": "EUR"}`. planFloor is required (gain = 10 × planFloor).
 *   Per host source (hostRisk, hostEco), one batch: `POST {endpoint}` with `{"hostIds": ["h1", …]}` → `{"h1": 0.01, …}` or `{"values": {"h1": 0.01, …}}`.
 *
 * RISK SCALE. Service risk is the IPRA risk level, on a 1..7 scale (accepted range [0, 7]). OPTIMIS calls it "pof", but IPRA
 *   computes it as RiskLevelConverter.convertRiskLevel(pofLevel × impactLevel). The default risk bound, 7, is the top of that scale.
 *   It is therefore used as is: not divided by 100, and not replaced by OPTIMIS's hard-coded 0.001 (D4).
 *   Host risk is a true probability of failure in [0, 1] (IPRA calculatePhyHostPoF).
 * VALIDATION. Values must be finite. Trust ≥ 0. Eco > 0: as in OPTIMIS, 0 means "not assessed" and falls back.
 *   Cost: 0 ≤ planFloor ≤ planCap. Anything else is garbage: fallback, degraded, reason "invalid answer: …".
 * RETRIES. Only timeouts, connection errors and 5xx are retried, at most `retries` times, with exponential backoff (jittered down by up to half).
 *   4xx, 3xx and invalid answers are not retried. A source whose calls exhaust their retries for `breakerThreshold` services in a row
 *   is skipped for the remaining services of this call, so a dead service costs one timeout series instead of one per service.
 * DEGRADED POLICY. An unconfigured endpoint is a deliberate choice: source 'default', no note. A configured endpoint that fails
 *   (or is skipped, or is cut off by the caller's AbortSignal) gives source 'fallback' and one DegradedNote with the reason.
 *   Host notes: target 'hosts' when the whole batch failed, the host id when one host is missing or invalid.
 *   Cost has no numeric fallback: planFloor stays undefined and the note's fallback is "no price plan".
 * ABORT. When the caller's signal aborts, or the optional budgetMs of the whole call passes, running calls stop at once.
 *   fetchTrec still resolves: the values that arrived are kept, and everything else falls back with an "aborted" note.
 *   Only bad options or duplicate ids throw (AdmissionError), before any I/O.
 */
import { AdmissionError, type ErrorDetail } from '../model/errors';
import {
  checkEco,
  checkHostRisk,
  checkServiceRisk,
  checkTrust,
  parseCostAnswer,
  parseEcoAnswer,
  parseHostAnswer,
  parseRiskAnswer,
  parseTrustAnswer,
  SERVICE_RISK_MAX,
  type Check,
  type HostEntry,
  type Parsed,
  type PricePlan,
} from './trec-answers';
import { TREC_BUDGET_EXCEEDED, TrecHttp, type CallOutcome, type Circuit } from './trec-http';

/** Endpoint URLs (http or https), POSTed to as given. Absent = not configured: the fallback is used as a default, not as degradation. */
export interface TrecEndpoints {
  trust?: string;
  risk?: string;
  eco?: string;
  cost?: string;
  hostRisk?: string;
  hostEco?: string;
}

export interface TrecFallbacks {
  trust: number;
  eco: number;
  /** On the 1..7 risk-level scale (OPTIMIS's fallback RiskAssesor says pof 2.0). */
  risk: number;
  /** Probability of failure in [0, 1] (OPTIMIS: 0.01). */
  hostRisk: number;
  /** 'index': 3 + the host's 0-based position in `hostIds`, as OPTIMIS did. */
  hostEco: 'index' | number;
}

export interface TrecFetchOptions {
  endpoints: TrecEndpoints;
  fallbacks: TrecFallbacks;
  /** Per attempt, counted from when the attempt gets a slot. */
  timeoutMs: number;
  /** Further attempts after the first (0..10). */
  retries: number;
  /** Delay before the first retry, doubled for each later one. */
  backoffMs: number;
  /** Calls in flight at once, over all sources (default 16). */
  maxInFlight?: number;
  /** Consecutive services whose calls to one source exhausted their retries before that source is skipped (default 3; 0 = never skip). */
  breakerThreshold?: number;
  /**
   * Deadline of the whole fetchTrec call, in ms from its start (default: none, only the caller's signal). When it passes,
   * calls stop as on an abort and whatever has not arrived falls back, so the caller keeps time to use the fallbacks.
   */
  budgetMs?: number;
}

export interface ServiceTrecRequest {
  serviceId: string;
  serviceProviderId?: string;
  manifestXml: string;
}

export type TrecSource = 'service' | 'fallback' | 'default';

export interface ServiceTrec {
  trust: number;
  /** IPRA risk level, 1..7 scale. */
  risk: number;
  eco: number;
  /** Price plan floor from the cost service (gain = 10 × planFloor), when the cost service answered. */
  planFloor?: number;
  planCap?: number;
  currency?: string;
  sources: Record<'trust' | 'risk' | 'eco' | 'cost', TrecSource>;
}

export interface HostTrec {
  /** Probability of failure in [0, 1]. */
  risk: number;
  eco: number;
}

export interface DegradedNote {
  /** `hostInfo`: the host snapshot was older than the cache time (stale or held back), see ageMs. */
  source: 'trust' | 'risk' | 'eco' | 'cost' | 'hostRisk' | 'hostEco' | 'hostInfo';
  /** Service id; for host sources 'hosts' (whole batch) or the host id (one host). */
  target: string;
  /** e.g. "timeout after 500 ms (3 attempts)", "invalid answer: not a number: \"<html>\"". */
  reason: string;
  fallback: number | string;
  /** hostInfo only: age of the host data the admission was made on, ms. */
  ageMs?: number;
}

export interface TrecSnapshot {
  services: Map<string, ServiceTrec>;
  hosts: Map<string, HostTrec>;
  degraded: DegradedNote[];
}

export const DEFAULT_MAX_IN_FLIGHT = 16;
export const DEFAULT_BREAKER_THRESHOLD = 3;
const MAX_RETRIES = 10;
const NO_PRICE_PLAN = 'no price plan';

type ServiceSourceName = 'trust' | 'risk' | 'eco' | 'cost';
type Fetched<T> = { kind: 'service'; value: T } | { kind: 'default' } | { kind: 'fallback'; reason: string };

/**
 * Fetches every service's and host's TREC values. Resolves even when every upstream fails; throws AdmissionError
 * (AC_ERR_CONFIG, AC_ERR_INVALID_REQUEST) only for invalid options or duplicate ids.
 */
export async function fetchTrec(
  services: ServiceTrecRequest[],
  hostIds: readonly string[],
  options: TrecFetchOptions,
  signal?: AbortSignal,
): Promise<TrecSnapshot> {
  validateOptions(options);
  validateIds(services, hostIds);
  const { endpoints, fallbacks } = options;
  if (!Object.values(endpoints).some(Boolean)) {
    // Nothing configured: the configured defaults, no network, no notes. Hosts are left out so that the
    // values a host-info source knows (the inventory's eco and risk) are not overridden by defaults.
    const servicesOut = new Map<string, ServiceTrec>();
    for (const req of services) {
      servicesOut.set(req.serviceId, {
        trust: fallbacks.trust,
        risk: fallbacks.risk,
        eco: fallbacks.eco,
        sources: { trust: 'default', risk: 'default', eco: 'default', cost: 'default' },
      });
    }
    return { services: servicesOut, hosts: new Map(), degraded: [] };
  }
  const stage = withBudget(signal, options.budgetMs);
  const http = new TrecHttp(options, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, stage.signal);
  const breakers = new Map<string, Breaker>();
  const breaker = (name: string): Breaker => {
    let b = breakers.get(name);
    if (!b) breakers.set(name, (b = new Breaker(name, options.breakerThreshold ?? DEFAULT_BREAKER_THRESHOLD)));
    return b;
  };

  try {
    const serviceWork = services.map(async (req) => {
      // Serialised once per service and shared by its four calls: manifests can be large.
      const payload = JSON.stringify({ serviceId: req.serviceId, serviceProviderId: req.serviceProviderId ?? null, manifest: req.manifestXml });
      const call = <T>(name: ServiceSourceName, parse: (body: string) => Parsed<T>): Promise<Fetched<T>> =>
        fetchOne(http, breaker(name), endpoints[name], payload, parse);
      const [trust, risk, eco, cost] = await Promise.all([
        call('trust', parseTrustAnswer),
        call('risk', parseRiskAnswer),
        call('eco', parseEcoAnswer),
        call('cost', parseCostAnswer),
      ]);
      return { req, trust, risk, eco, cost };
    });
    const hostWork = Promise.all([
      fetchHostBatch(http, endpoints.hostRisk, hostIds, checkHostRisk),
      fetchHostBatch(http, endpoints.hostEco, hostIds, checkEco),
    ]);
    const [serviceResults, [hostRisk, hostEco]] = await Promise.all([Promise.all(serviceWork), hostWork]);

    // Assembled in input order, so that the notes come out in the same order whatever the timing.
    const degraded: DegradedNote[] = [];
    const servicesOut = new Map<string, ServiceTrec>();
    for (const { req, trust, risk, eco, cost } of serviceResults) {
      const target = req.serviceId;
      const pick = (name: 'trust' | 'risk' | 'eco', f: Fetched<number>): number => {
        if (f.kind === 'service') return f.value;
        if (f.kind === 'fallback') degraded.push({ source: name, target, reason: f.reason, fallback: fallbacks[name] });
        return fallbacks[name];
      };
      const out: ServiceTrec = {
        trust: pick('trust', trust),
        risk: pick('risk', risk),
        eco: pick('eco', eco),
        sources: { trust: trust.kind, risk: risk.kind, eco: eco.kind, cost: cost.kind },
      };
      if (cost.kind === 'service') {
        const plan: PricePlan = cost.value;
        out.planFloor = plan.planFloor;
        if (plan.planCap !== undefined) out.planCap = plan.planCap;
        if (plan.currency !== undefined) out.currency = plan.currency;
      } else if (cost.kind === 'fallback') {
        degraded.push({ source: 'cost', target, reason: cost.reason, fallback: NO_PRICE_PLAN });
      }
      servicesOut.set(target, out);
    }

    const hostsOut = new Map<string, HostTrec>();
    const hostEcoFallback = fallbacks.hostEco;
    const ecoFallback = (i: number): number => (hostEcoFallback === 'index' ? 3 + i : hostEcoFallback);
    collectHostNotes('hostRisk', hostRisk, hostIds, fallbacks.hostRisk, () => fallbacks.hostRisk, degraded);
    collectHostNotes('hostEco', hostEco, hostIds, hostEcoFallback === 'index' ? '3 + host index' : hostEcoFallback, ecoFallback, degraded);
    hostIds.forEach((id, i) => {
      hostsOut.set(id, {
        risk: hostValue(hostRisk, id) ?? fallbacks.hostRisk,
        eco: hostValue(hostEco, id) ?? ecoFallback(i),
      });
    });

    return { services: servicesOut, hosts: hostsOut, degraded };
  } finally {
    http.close();
    stage.dispose();
  }
}

/** The caller's signal, also aborted when `budgetMs` passes (reason named TREC_BUDGET_EXCEEDED, for the notes). */
function withBudget(signal: AbortSignal | undefined, budgetMs: number | undefined): { signal: AbortSignal | undefined; dispose: () => void } {
  if (budgetMs === undefined) return { signal, dispose: () => undefined };
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal!.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    const reason = new Error(`the TREC budget of ${budgetMs} ms ran out`);
    reason.name = TREC_BUDGET_EXCEEDED;
    controller.abort(reason);
  }, budgetMs);
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One service value

async function fetchOne<T>(
  http: TrecHttp,
  breaker: Breaker,
  url: string | undefined,
  payload: string,
  parse: (body: string) => Parsed<T>,
): Promise<Fetched<T>> {
  if (url === undefined) return { kind: 'default' };
  const outcome = await http.post(url, payload, breaker);
  if (!outcome.ok) return { kind: 'fallback', reason: outcome.reason };
  const parsed = parse(outcome.body);
  return parsed.ok ? { kind: 'service', value: parsed.value } : { kind: 'fallback', reason: `invalid answer: ${parsed.reason}` };
}

/**
 * Per source and per fetchTrec call (no state across requests): counts services in a row whose calls exhausted their retries on
 * timeouts, connection errors or 5xx. A server that answers, even with a 4xx or garbage, is up, so those answers reset the count.
 */
class Breaker implements Circuit {
  private failuresInRow = 0;
  private lastReason = '';

  constructor(
    private readonly name: string,
    private readonly threshold: number,
  ) {}

  skipReason(): string | undefined {
    if (this.threshold <= 0 || this.failuresInRow < this.threshold) return undefined;
    return `skipped: the ${this.name} service failed for ${this.failuresInRow} services in a row (last: ${this.lastReason})`;
  }

  record(outcome: CallOutcome): void {
    if (outcome.ok) this.failuresInRow = 0;
    else if (outcome.aborted || outcome.skipped) return; // says nothing about the server
    else if (!outcome.retryable) this.failuresInRow = 0;
    else {
      this.failuresInRow++;
      this.lastReason = outcome.reason;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host batches

type HostFetch =
  | { kind: 'default' }
  | { kind: 'batchFailed'; reason: string }
  | { kind: 'answered'; values: Map<string, HostEntry> };

async function fetchHostBatch(
  http: TrecHttp,
  url: string | undefined,
  hostIds: readonly string[],
  check: Check,
): Promise<HostFetch> {
  if (url === undefined || hostIds.length === 0) return { kind: 'default' };
  const outcome = await http.post(url, JSON.stringify({ hostIds }));
  if (!outcome.ok) return { kind: 'batchFailed', reason: outcome.reason };
  const parsed = parseHostAnswer(outcome.body, hostIds, check);
  if (!parsed.ok) return { kind: 'batchFailed', reason: `invalid answer: ${parsed.reason}` };
  return { kind: 'answered', values: parsed.value };
}

function hostValue(f: HostFetch, id: string): number | undefined {
  if (f.kind !== 'answered') return undefined;
  const v = f.values.get(id);
  return v?.ok ? v.value : undefined;
}

/** Notes in host order: one for a failed batch, else one per missing or invalid host. */
function collectHostNotes(
  source: 'hostRisk' | 'hostEco',
  f: HostFetch,
  hostIds: readonly string[],
  batchFallback: number | string,
  perHostFallback: (i: number) => number,
  degraded: DegradedNote[],
): void {
  if (f.kind === 'batchFailed') {
    degraded.push({ source, target: 'hosts', reason: f.reason, fallback: batchFallback });
    return;
  }
  if (f.kind !== 'answered') return;
  hostIds.forEach((id, i) => {
    const v = f.values.get(id);
    if (v === undefined || v.ok) return;
    degraded.push({ source, target: id, reason: v.missing ? v.reason : `invalid answer: ${v.reason}`, fallback: perHostFallback(i) });
  });
}

// ---------------------------------------------------------------------------------------------
// Input checks: configuration mistakes are reported at once, never hidden as degraded answers

function validateOptions(o: TrecFetchOptions): void {
  const details: ErrorDetail[] = [];
  const bad = (field: string, reason: string): void => {
    details.push({ field, reason });
  };
  for (const [name, url] of Object.entries(o.endpoints ?? {})) {
    if (url === undefined) continue;
    let parsed: URL | undefined;
    try {
      parsed = typeof url === 'string' ? new URL(url) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) bad(`endpoints.${name}`, `${JSON.stringify(url)} is not an http(s) URL`);
  }
  const num = (field: string, v: unknown, ok: (n: number) => boolean, what: string): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(field, `${String(v)} is not ${what}`);
  };
  num('timeoutMs', o.timeoutMs, (n) => n > 0 && n <= 2_147_483_647, 'a positive number of milliseconds');
  num('retries', o.retries, (n) => Number.isInteger(n) && n >= 0 && n <= MAX_RETRIES, `an integer in [0, ${MAX_RETRIES}]`);
  num('backoffMs', o.backoffMs, (n) => n >= 0, 'a non-negative number of milliseconds');
  if (o.maxInFlight !== undefined) num('maxInFlight', o.maxInFlight, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');
  if (o.breakerThreshold !== undefined) num('breakerThreshold', o.breakerThreshold, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  if (o.budgetMs !== undefined) num('budgetMs', o.budgetMs, (n) => n > 0 && n <= 2_147_483_647, 'a positive number of milliseconds');
  const f = o.fallbacks;
  if (!f) bad('fallbacks', 'missing');
  else {
    // The fallbacks go into the model as they are, so they must pass the checks a service answer would.
    const fb = (field: string, v: unknown, check: (n: number) => string | undefined): void => {
      const problem = typeof v === 'number' ? check(v) : `${String(v)} is not a number`;
      if (problem !== undefined) bad(`fallbacks.${field}`, problem);
    };
    fb('trust', f.trust, checkTrust);
    fb('eco', f.eco, checkEco);
    fb('risk', f.risk, checkServiceRisk);
    fb('hostRisk', f.hostRisk, checkHostRisk);
    if (f.hostEco !== 'index') fb('hostEco', f.hostEco, checkEco);
  }
  if (details.length > 0) {
    throw new AdmissionError('AC_ERR_CONFIG', `Invalid TREC fetch options: ${details.map((d) => `${d.field}: ${d.reason}`).join('; ')}`, details);
  }
}

/** Frozen host-id lists already found valid: the gateway asks with the same frozen list while its host snapshot holds. */
const checkedHostIds = new WeakSet<readonly string[]>();

function validateIds(services: readonly ServiceTrecRequest[], hostIds: readonly string[]): void {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  services.forEach((s, i) => {
    if (typeof s.serviceId !== 'string' || s.serviceId === '') details.push({ field: `services[${i}].serviceId`, reason: 'missing' });
    else if (seen.has(s.serviceId)) details.push({ field: `services[${i}].serviceId`, reason: `duplicate service id ${JSON.stringify(s.serviceId)}` });
    else seen.add(s.serviceId);
  });
  if (!checkedHostIds.has(hostIds)) {
    const hosts = new Set<string>();
    const before = details.length;
    hostIds.forEach((h, i) => {
      if (typeof h !== 'string' || h === '') details.push({ field: `hostIds[${i}]`, reason: 'missing' });
      else if (hosts.has(h)) details.push({ field: `hostIds[${i}]`, reason: `duplicate host id ${JSON.stringify(h)}` });
      else hosts.add(h);
    });
    if (details.length === before && Object.isFrozen(hostIds)) checkedHostIds.add(hostIds);
  }
  if (details.length > 0) {
    // Results are keyed by id, so a duplicate would silently overwrite another entry.
    throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'Duplicate or missing ids in the TREC request', details);
  }
}

export { SERVICE_RISK_MAX };
