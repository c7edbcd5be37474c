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
 * RETRIES. Only timeouts, connection errors and 5xx are retried, at most `retries` times, with exponential backoff from `backoffMs`
 *   (doubling, jittered down by up to half, at most 30 s); each attempt has its own `timeoutMs`. 4xx, 3xx and invalid answers are
 *   not retried. The retry and the per-attempt timeout are cockatiel policies (trec-http.ts).
 * BREAKER. One circuit breaker per configured source (trust, risk, eco, cost, hostRisk, hostEco), kept by the TrecClient and so
 *   shared by every admission of the service process (cockatiel circuitBreaker with a ConsecutiveBreaker). A call is one service's
 *   request to a source (or one host batch), retries included. After `breakerThreshold` calls in a row failed on timeouts,
 *   connection errors or 5xx (after their retries), the circuit opens for `breakerOpenMs`: calls to that source fall back at once,
 *   without a request, with the note "skipped: the trust service is failing (circuit open since <ISO time>, last: <reason>)";
 *   calls already waiting for a slot or for a retry when it opens are skipped too. Then it is half-open: the next call goes
 *   through as the one trial call (the others are still skipped while it runs); its success closes the circuit, its failure opens
 *   it for another `breakerOpenMs`. An answer, even a 4xx, a 3xx or garbage, shows that the server is up: it resets the count
 *   (and closes a half-open circuit). Aborted and skipped calls say nothing about the server: they neither count nor reset,
 *   and an aborted trial call leaves the circuit open with the open period over. So a service that hangs costs one admission
 *   its timeout series (for `breakerThreshold` calls), then about nothing per admission until a trial call every `breakerOpenMs`.
 *   TrecClient.status() reports each circuit (state, failures in a row, last failure and success, open until), URLs redacted.
 *   fetchTrec, the one-shot form, uses a throwaway client: its breakers last one call.
 * DEGRADED POLICY. An unconfigured endpoint is a deliberate choice: source 'default', no note. A configured endpoint that fails
 *   (or is skipped, or is cut off by the caller's AbortSignal) gives source 'fallback' and one DegradedNote with the reason.
 *   Host notes: target 'hosts' when the whole batch failed, the host id when one host is missing or invalid.
 *   Cost has no numeric fallback: planFloor stays undefined and the note's fallback is "no price plan".
 * ABORT. When the caller's signal aborts, or the optional budgetMs of the whole call passes, running calls stop at once.
 *   fetch (and fetchTrec) still resolves: the values that arrived are kept, and everything else falls back with an "aborted" note.
 *   Only bad options (new TrecClient, fetchTrec) or duplicate ids (fetch) throw (AdmissionError), before any I/O.
 * CONCURRENCY. `maxInFlight` bounds the calls in flight of one fetch, over all sources; the per-attempt timeout counts from when
 *   the attempt gets its slot, and a backoff waits without one. Fetches of one client run side by side, sharing breakers and
 *   keep-alive connections.
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
import { redactEndpoint, SourceCircuit, TREC_BUDGET_EXCEEDED, TrecHttp, type CallOutcome, type CircuitView, type TrecSession } from './trec-http';

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
  /** Calls in flight at once in one fetch, over all sources (default 16). */
  maxInFlight?: number;
  /**
   * Calls in a row to one source that failed on timeouts, connection errors or 5xx (after their retries) before its circuit opens
   * (default 3; 0 = never open). The count lives as long as the TrecClient: across admissions.
   */
  breakerThreshold?: number;
  /** How long an open circuit stays open before one trial call is let through, ms (default 30 000). */
  breakerOpenMs?: number;
  /**
   * Deadline of each whole fetch (TrecClient.fetch, fetchTrec), in ms from its start (default: none, only the caller's signal). When it passes,
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
export const DEFAULT_BREAKER_OPEN_MS = 30_000;

/** The TREC sources, in the order status() lists them. */
export const TREC_SOURCE_NAMES = ['trust', 'risk', 'eco', 'cost', 'hostRisk', 'hostEco'] as const;
export type TrecSourceName = (typeof TREC_SOURCE_NAMES)[number];

/** A configured source and its circuit (see CircuitView for the fields). */
export interface TrecSourceHealth extends CircuitView {
  readonly source: TrecSourceName;
  readonly configured: true;
  /** The endpoint with user info, query values, fragment and credential-like path segments replaced by '[redacted]'. */
  readonly url: string;
}

export type TrecSourceStatus = TrecSourceHealth | { readonly source: TrecSourceName; readonly configured: false };

/** TrecClient.status(): every source, configured or not, in TREC_SOURCE_NAMES order. */
export interface TrecStatus {
  readonly breakerThreshold: number;
  readonly breakerOpenMs: number;
  readonly sources: readonly TrecSourceStatus[];
}

const MAX_RETRIES = 10;
const NO_PRICE_PLAN = 'no price plan';

type ServiceSourceName = 'trust' | 'risk' | 'eco' | 'cost';
type Fetched<T> = { kind: 'service'; value: T } | { kind: 'default' } | { kind: 'fallback'; reason: string };

interface Source {
  readonly url: string;
  readonly circuit: SourceCircuit;
}

/**
 * The TREC client of a service process: create it once from the options, call fetch() for every admission, show status() in
 * health output, close() on shutdown. Its circuit breakers and keep-alive connections outlive each fetch (see BREAKER).
 */
export class TrecClient {
  private readonly options: TrecFetchOptions;
  private readonly http: TrecHttp;
  private readonly sources = new Map<TrecSourceName, Source>();
  private readonly breakerThreshold: number;
  private readonly breakerOpenMs: number;

  /** Throws AdmissionError AC_ERR_CONFIG for invalid options. */
  constructor(options: TrecFetchOptions) {
    validateOptions(options);
    this.options = { ...options, endpoints: { ...options.endpoints }, fallbacks: { ...options.fallbacks } };
    this.breakerThreshold = options.breakerThreshold ?? DEFAULT_BREAKER_THRESHOLD;
    this.breakerOpenMs = options.breakerOpenMs ?? DEFAULT_BREAKER_OPEN_MS;
    this.http = new TrecHttp(options, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    for (const name of TREC_SOURCE_NAMES) {
      const url = this.options.endpoints[name];
      if (url !== undefined) this.sources.set(name, { url, circuit: new SourceCircuit(name, this.breakerThreshold, this.breakerOpenMs) });
    }
  }

  /**
   * Fetches every service's and host's TREC values. Resolves even when every upstream fails; throws AdmissionError
   * (AC_ERR_INVALID_REQUEST) only for duplicate or missing ids.
   */
  async fetch(services: ServiceTrecRequest[], hostIds: readonly string[], signal?: AbortSignal): Promise<TrecSnapshot> {
    validateIds(services, hostIds);
    const { fallbacks } = this.options;
    if (this.sources.size === 0) {
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
    const stage = withBudget(signal, this.options.budgetMs);
    const session = this.http.session(stage.signal);
    const source = (name: TrecSourceName): Source | undefined => this.sources.get(name);

    try {
      const serviceWork = services.map(async (req) => {
        // Serialised once per service and shared by its four calls: manifests can be large.
        const payload = JSON.stringify({ serviceId: req.serviceId, serviceProviderId: req.serviceProviderId ?? null, manifest: req.manifestXml });
        const call = <T>(name: ServiceSourceName, parse: (body: string) => Parsed<T>): Promise<Fetched<T>> => fetchOne(session, source(name), payload, parse);
        const [trust, risk, eco, cost] = await Promise.all([
          call('trust', parseTrustAnswer),
          call('risk', parseRiskAnswer),
          call('eco', parseEcoAnswer),
          call('cost', parseCostAnswer),
        ]);
        return { req, trust, risk, eco, cost };
      });
      const hostWork = Promise.all([
        fetchHostBatch(session, source('hostRisk'), hostIds, checkHostRisk),
        fetchHostBatch(session, source('hostEco'), hostIds, checkEco),
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
      session.close();
      stage.dispose();
    }
  }

  /** Every source's circuit, synchronously, without I/O: for /health and /ready. No credentials (URLs are redacted). */
  status(): TrecStatus {
    const now = Date.now();
    return {
      breakerThreshold: this.breakerThreshold,
      breakerOpenMs: this.breakerOpenMs,
      sources: TREC_SOURCE_NAMES.map((name): TrecSourceStatus => {
        const s = this.sources.get(name);
        if (!s) return { source: name, configured: false };
        return { source: name, configured: true, url: redactEndpoint(s.url), ...s.circuit.view(now) };
      }),
    };
  }

  /** Releases the keep-alive connections (calls still running are cut off). The client stays usable: later fetches reconnect. */
  close(): void {
    this.http.close();
  }
}

/**
 * One-shot form of TrecClient.fetch, for tests and the command line: a throwaway client, so its breakers last this call only
 * (a source is still skipped for the rest of the call once `breakerThreshold` of its calls failed). Throws AdmissionError
 * (AC_ERR_CONFIG, AC_ERR_INVALID_REQUEST) only for invalid options or duplicate ids.
 */
export async function fetchTrec(
  services: ServiceTrecRequest[],
  hostIds: readonly string[],
  options: TrecFetchOptions,
  signal?: AbortSignal,
): Promise<TrecSnapshot> {
  const client = new TrecClient(options);
  try {
    return await client.fetch(services, hostIds, signal);
  } finally {
    client.close();
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

/** Tells the source's circuit what the call showed, for status(): aborts and skips show nothing. */
function noteOutcome(source: Source, outcome: CallOutcome, invalid?: string): void {
  if (!outcome.ok) {
    if (!outcome.aborted && !outcome.skipped) source.circuit.noteFailure(outcome.reason);
  } else if (invalid !== undefined) {
    source.circuit.noteFailure(invalid);
  } else {
    source.circuit.noteSuccess();
  }
}

async function fetchOne<T>(session: TrecSession, source: Source | undefined, payload: string, parse: (body: string) => Parsed<T>): Promise<Fetched<T>> {
  if (source === undefined) return { kind: 'default' };
  const outcome = await session.post(source.url, payload, source.circuit);
  if (!outcome.ok) {
    noteOutcome(source, outcome);
    return { kind: 'fallback', reason: outcome.reason };
  }
  const parsed = parse(outcome.body);
  if (parsed.ok) {
    noteOutcome(source, outcome);
    return { kind: 'service', value: parsed.value };
  }
  const reason = `invalid answer: ${parsed.reason}`;
  noteOutcome(source, outcome, reason);
  return { kind: 'fallback', reason };
}

// ---------------------------------------------------------------------------------------------
// Host batches

type HostFetch =
  | { kind: 'default' }
  | { kind: 'batchFailed'; reason: string }
  | { kind: 'answered'; values: Map<string, HostEntry> };

async function fetchHostBatch(session: TrecSession, source: Source | undefined, hostIds: readonly string[], check: Check): Promise<HostFetch> {
  if (source === undefined || hostIds.length === 0) return { kind: 'default' };
  const outcome = await session.post(source.url, JSON.stringify({ hostIds }), source.circuit);
  if (!outcome.ok) {
    noteOutcome(source, outcome);
    return { kind: 'batchFailed', reason: outcome.reason };
  }
  const parsed = parseHostAnswer(outcome.body, hostIds, check);
  if (!parsed.ok) {
    const reason = `invalid answer: ${parsed.reason}`;
    noteOutcome(source, outcome, reason);
    return { kind: 'batchFailed', reason };
  }
  // A batch that parsed was used, even if some hosts are missing or invalid (those get their own notes).
  noteOutcome(source, outcome);
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
  if (o.breakerOpenMs !== undefined) num('breakerOpenMs', o.breakerOpenMs, (n) => n > 0 && n <= 2_147_483_647, 'a positive number of milliseconds');
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
export type { CircuitStateName, CircuitView } from './trec-http';
