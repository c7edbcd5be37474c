/**
 * Talking to peer providers: the order they are tried in, one bounded request to a peer's admission endpoint (this
 * service's JSON API or the OPTIMIS form endpoint) with its answer checked, and releasing a peer's booking.
 */
import { requirementText, satisfies } from '../model/capabilities';
import type { CapabilityRequirement } from '../model/types';
import axios, { type AxiosResponse } from 'axios';
import type { PeerConfig, PeerProtocol } from '../config/config';
import { readAllocationOffer, type OfferDecision } from '../formats/optimis-manifest/offer';
import { parseManifest } from '../formats/optimis-manifest/parse';
import { attribute, childElements, parseXml, textOf } from '../xml/safe-xml';
import { HEADER_BUDGET, HEADER_HOP, HEADER_ID, HEADER_ORIGIN, type SentComponent } from './types';

/*
 * Decisions:
 * - Order: configured priority (lower first, unset last), then priceHint (cheaper first, unset last), then trustHint
 *   (higher first), then the order of the configuration. A peer whose trustHint is below the manifest's MinimumTrustLevel
 *   is not asked: the SP demands that trust of whoever runs its VMs.
 * - Every request is bounded twice: axios' timeout and an AbortController timer for the whole exchange (axios' timeout
 *   alone does not bound a peer that trickles bytes), plus the caller's signal (the client's request deadline).
 * - Redirects are not followed (the bearer token must only ever go to the configured URL); answers over 8 MiB are refused.
 * - "Accepted" is verified, never trusted: the JSON decision and the decision inside the returned manifest must agree,
 *   the answer must be about the service and exactly the components sent, and each component must have at least its
 *   Initial VMs (peer-local plus whatever the peer itself federated). Anything else is a failed attempt.
 * - OPTIMIS peers get `doNotBackupSMflag`, which switches off OPTIMIS's text rewrite of "partial" into "accepted"
 *   (interfaces.md §1.6): a partial answer must read as partial. Their VM counts come from AllocationDetails.
 */

export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export interface PeerCallContext {
  readonly hop: number;
  readonly origin: readonly string[];
  readonly federationId: string;
  readonly requestId: string;
  readonly dryRun: boolean;
}

/** A peer's answer that passed the checks. */
export interface PeerAnswer {
  readonly decision: OfferDecision;
  /** The manifest the peer returned (sub-manifest + the peer's offer), standalone. */
  readonly manifest: string;
  readonly admissionId: string | null;
  /** The peer's reported cost for the service (eac peers), else null. */
  readonly cost: number | null;
  /** VMs the peer runs or federates per component (only filled for accepted answers). */
  readonly placedVms: ReadonlyMap<string, number>;
  readonly reasons: readonly { readonly code: string; readonly message: string; readonly componentId?: string }[];
  readonly summary?: string;
  readonly httpStatus: number;
}

export type PeerResult =
  | { readonly ok: true; readonly answer: PeerAnswer }
  | { readonly ok: false; readonly error: string; readonly httpStatus?: number };

export interface OrderedPeers {
  readonly ordered: readonly PeerConfig[];
  readonly skipped: readonly { readonly peer: PeerConfig; readonly reason: string }[];
}

export function protocolOf(peer: PeerConfig): PeerProtocol {
  return peer.protocol ?? 'eac';
}

/** The first required capability the peer does not advertise a satisfying value for, or undefined. */
function missingCapability(peer: PeerConfig, requires: readonly CapabilityRequirement[]): CapabilityRequirement | undefined {
  for (const r of requires) {
    if (r.kind !== 'required') continue; // forbidden: any peer can place on hosts without it
    const advertised = peer.capabilities?.[r.name];
    const values: readonly (string | true)[] = advertised === undefined ? [] : Array.isArray(advertised) ? advertised : [advertised as string | true];
    if (!values.some((v) => satisfies(v, r))) return r;
  }
  return undefined;
}

/** The peers to try, in order, and those not to ask (with why). */
export function orderPeers(peers: readonly PeerConfig[], options: { minTrust?: number; requires?: readonly CapabilityRequirement[] } = {}): OrderedPeers {
  const skipped: { peer: PeerConfig; reason: string }[] = [];
  const eligible: { peer: PeerConfig; index: number }[] = [];
  peers.forEach((peer, index) => {
    const missing = options.requires ? missingCapability(peer, options.requires) : undefined;
    if (options.minTrust !== undefined && peer.trustHint !== undefined && peer.trustHint < options.minTrust) {
      skipped.push({ peer, reason: `trustHint ${peer.trustHint} is below the manifest's MinimumTrustLevel ${options.minTrust}` });
    } else if (missing) {
      skipped.push({ peer, reason: `the peer does not advertise ${requirementText(missing)} (peer capabilities: ${Object.keys(peer.capabilities ?? {}).join(', ') || 'none'})` });
    } else eligible.push({ peer, index });
  });
  const unsetLast = (a: number | undefined, b: number | undefined): number => (a ?? Infinity) - (b ?? Infinity) || 0;
  eligible.sort(
    (x, y) =>
      unsetLast(x.peer.priority, y.peer.priority) ||
      unsetLast(x.peer.priceHint, y.peer.priceHint) ||
      (y.peer.trustHint ?? -Infinity) - (x.peer.trustHint ?? -Infinity) ||
      x.index - y.index,
  );
  return { ordered: eligible.map((e) => e.peer), skipped };
}

function base(peer: PeerConfig): string {
  return peer.url.replace(/\/+$/, '');
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function federationHeaders(peer: PeerConfig, ctx: PeerCallContext, budgetMs: number): Record<string, string> {
  const h: Record<string, string> = {
    Authorization: `Bearer ${peer.secret}`,
    [HEADER_HOP]: String(ctx.hop),
    [HEADER_ORIGIN]: ctx.origin.join(','),
    [HEADER_ID]: ctx.federationId,
    [HEADER_BUDGET]: String(Math.max(1, Math.floor(budgetMs))),
  };
  if (SAFE_REQUEST_ID.test(ctx.requestId)) h['X-Request-Id'] = ctx.requestId;
  return h;
}

/** One HTTP exchange bounded by `timeoutMs` and by `signal`; errors come back as text, never thrown. */
async function exchange(
  config: { method: 'POST' | 'DELETE'; url: string; headers: Record<string, string>; data?: string },
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<{ ok: true; res: AxiosResponse<string> } | { ok: false; error: string }> {
  const timer = new AbortController();
  const t = setTimeout(() => timer.abort(), timeoutMs);
  const combined = signal ? AbortSignal.any([timer.signal, signal]) : timer.signal;
  try {
    const res = await axios.request<string>({
      ...config,
      timeout: timeoutMs,
      signal: combined,
      maxRedirects: 0,
      maxContentLength: MAX_ANSWER_BYTES,
      maxBodyLength: MAX_ANSWER_BYTES,
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      validateStatus: () => true,
    });
    return { ok: true, res };
  } catch (error) {
    if (timer.signal.aborted) return { ok: false, error: `no answer within ${timeoutMs} ms` };
    if (signal?.aborted) return { ok: false, error: 'the request deadline passed while waiting for the peer' };
    const e = error as { code?: string; message?: string };
    switch (e.code) {
      case 'ECONNABORTED':
      case 'ETIMEDOUT':
        return { ok: false, error: `no answer within ${timeoutMs} ms` };
      case 'ECONNREFUSED':
        return { ok: false, error: 'unreachable: connection refused' };
      case 'ECONNRESET':
        return { ok: false, error: 'the peer closed the connection' };
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return { ok: false, error: `unreachable: cannot resolve the peer's host (${e.code})` };
      case 'ERR_FR_MAX_BODY_LENGTH_EXCEEDED':
      case 'ERR_BAD_RESPONSE':
        return { ok: false, error: `invalid answer: ${e.message ?? e.code}` };
      default:
        return { ok: false, error: `request failed: ${e.code ? `${e.code} ` : ''}${e.message ?? String(error)}`.trim() };
    }
  } finally {
    clearTimeout(t);
  }
}

/** "HTTP 401 AC_ERR_UNAUTHORIZED: …" from an error answer (JSON catalogue error, or the start of the text). */
function httpError(res: AxiosResponse<string>): string {
  const text = typeof res.data === 'string' ? res.data : '';
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body.error && typeof body.error.code === 'string') {
      return `HTTP ${res.status} ${body.error.code}${typeof body.error.message === 'string' ? `: ${body.error.message}` : ''}`;
    }
  } catch {
    // not JSON: fall through
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 120);
  return `HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`;
}

function contentType(res: AxiosResponse<string>): string {
  return String(res.headers['content-type'] ?? '').toLowerCase();
}

export interface AskPeerInput {
  readonly peer: PeerConfig;
  readonly subManifest: string;
  readonly serviceId: string;
  readonly sent: readonly SentComponent[];
  readonly ctx: PeerCallContext;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** Sends the sub-manifest to one peer and checks its answer. Never throws. */
export async function askPeer(input: AskPeerInput): Promise<PeerResult> {
  const { peer, ctx, timeoutMs } = input;
  const protocol = protocolOf(peer);
  const query = ctx.dryRun ? '?dryRun=true' : '';
  // The peer may spend all but a little of our timeout: what remains covers the network and our own checks.
  const headers = federationHeaders(peer, ctx, Math.max(1, timeoutMs - Math.min(200, timeoutMs / 10)));
  const request =
    protocol === 'eac'
      ? { method: 'POST' as const, url: `${base(peer)}/api/v1/admissions${query}`, headers: { ...headers, 'Content-Type': 'application/xml', Accept: 'application/json' }, data: input.subManifest }
      : {
          method: 'POST' as const,
          url: `${base(peer)}/ACGateway/model/performACTest${query}`,
          headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/x-www-form-urlencoded' },
          data: optimisForm(input.subManifest, ctx.dryRun),
        };
  const r = await exchange(request, timeoutMs, input.signal);
  if (!r.ok) return r;
  const res = r.res;
  if (res.status === 401 || res.status === 403) return { ok: false, error: `${httpError(res)} (the peer refused our credentials)`, httpStatus: res.status };
  if (res.status < 200 || res.status >= 300) return { ok: false, error: httpError(res), httpStatus: res.status };
  try {
    const answer = protocol === 'eac' ? readJsonAnswer(res, input) : readFormAnswer(res, input);
    return { ok: true, answer };
  } catch (error) {
    return { ok: false, error: `invalid answer: ${error instanceof Error ? error.message : String(error)}`, httpStatus: res.status };
  }
}

/** performACTest's form: the manifest, doNotBackupSMflag (no partial→accepted rewrite), and dryRun for our own peers. */
function optimisForm(manifest: string, dryRun: boolean): string {
  const form = new URLSearchParams();
  form.append('serviceManifest', manifest);
  form.append('doNotBackupSMflag', 'true');
  if (dryRun) form.append('dryRun', 'true');
  return form.toString();
}

// ---------------------------------------------------------------------------------------------
// Reading answers

class BadAnswer extends Error {}
const bad = (message: string): never => {
  throw new BadAnswer(message);
};

const DECISIONS: readonly string[] = ['accepted', 'partial', 'rejected'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The returned manifest: a manifest of the same service whose offer states the same decision. */
function checkManifest(manifest: string, serviceId: string, decision: string | undefined): OfferDecision {
  let parsedId: string;
  try {
    parsedId = parseManifest(manifest).serviceId;
  } catch (error) {
    return bad(`the returned manifest does not parse (${error instanceof Error ? error.message : String(error)})`);
  }
  if (parsedId !== serviceId) bad(`the returned manifest is about service '${parsedId}', not '${serviceId}'`);
  let offer;
  try {
    offer = readAllocationOffer(manifest);
  } catch (error) {
    return bad(`the returned manifest's offer does not read (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!offer) return bad('the returned manifest carries no allocation offer');
  if (decision !== undefined && offer.decision !== decision) bad(`the answer says ${decision} but the returned manifest's offer says ${offer.decision}`);
  return offer.decision;
}

/** Each sent component must be covered: at least its Initial VMs, at most its UpperBound. */
function checkCoverage(placed: ReadonlyMap<string, number>, sent: readonly SentComponent[], what: string): void {
  for (const s of sent) {
    const n = placed.get(s.componentId) ?? 0;
    if (n < s.initial) bad(`${what} accepted, but places ${n} VM(s) of ${s.componentId}, fewer than the ${s.initial} asked for`);
    if (n > s.upperBound) bad(`${what} accepted, but places ${n} VM(s) of ${s.componentId}, more than the ${s.upperBound} allowed`);
  }
}

function readJsonAnswer(res: AxiosResponse<string>, input: AskPeerInput): PeerAnswer {
  if (!contentType(res).includes('json')) bad(`expected JSON, got '${contentType(res) || 'no content type'}'`);
  let body: unknown;
  try {
    body = JSON.parse(res.data);
  } catch {
    return bad('the body is not valid JSON');
  }
  if (!isRecord(body) || !Array.isArray(body.services)) return bad('no services array');
  if (body.services.length !== 1) bad(`expected one service, got ${body.services.length}`);
  const s = body.services[0];
  if (!isRecord(s)) return bad('services[0] is not an object');
  if (s.serviceId !== input.serviceId) bad(`the answer is about service ${JSON.stringify(s.serviceId)}, not '${input.serviceId}'`);
  if (typeof s.decision !== 'string' || !DECISIONS.includes(s.decision)) bad(`decision ${JSON.stringify(s.decision)} is not accepted, partial or rejected`);
  if (typeof s.manifest !== 'string') bad('no manifest');
  const decision = checkManifest(s.manifest as string, input.serviceId, s.decision as string);
  if (s.admissionId !== null && s.admissionId !== undefined && typeof s.admissionId !== 'string') bad('admissionId is neither a string nor null');
  const trec = isRecord(s.trec) ? s.trec : {};
  const cost = typeof trec.cost === 'number' && Number.isFinite(trec.cost) && trec.cost >= 0 ? trec.cost : null;
  if (!Array.isArray(s.components)) return bad('no components array');
  const placed = new Map<string, number>();
  const reasons: { code: string; message: string; componentId?: string }[] = [];
  for (const c of s.components) {
    if (!isRecord(c) || typeof c.id !== 'string') return bad('a component without an id');
    const local = c.localVms;
    const fed = c.federatedVms;
    if (typeof local !== 'number' || !Number.isInteger(local) || local < 0 || typeof fed !== 'number' || !Number.isInteger(fed) || fed < 0) {
      return bad(`component ${c.id}: localVms / federatedVms are not counts`);
    }
    if (placed.has(c.id)) bad(`component ${c.id} appears twice`);
    placed.set(c.id, local + fed);
    for (const r of Array.isArray(c.reasons) ? c.reasons : []) {
      if (isRecord(r) && typeof r.code === 'string' && typeof r.message === 'string') reasons.push({ code: r.code, message: r.message, componentId: c.id });
    }
  }
  const expected = input.sent.map((x) => x.componentId).sort();
  const got = [...placed.keys()].sort();
  if (expected.join('\u0000') !== got.join('\u0000')) bad(`the answer has components ${got.join(', ')}, the request had ${expected.join(', ')}`);
  // The peer's own federation block explains why it did not forward (hop limit, origin chain).
  if (isRecord(s.federation) && Array.isArray(s.federation.reasons)) {
    for (const r of s.federation.reasons) if (isRecord(r) && typeof r.code === 'string' && typeof r.message === 'string') reasons.push({ code: r.code, message: r.message });
  }
  if (decision === 'accepted') checkCoverage(placed, input.sent, 'the peer says');
  return {
    decision,
    manifest: s.manifest as string,
    admissionId: typeof s.admissionId === 'string' ? s.admissionId : null,
    cost,
    placedVms: placed,
    reasons,
    ...(typeof s.summary === 'string' ? { summary: s.summary } : {}),
    httpStatus: res.status,
  };
}

function readFormAnswer(res: AxiosResponse<string>, input: AskPeerInput): PeerAnswer {
  if (!contentType(res).includes('application/x-www-form-urlencoded')) bad(`expected a form, got '${contentType(res) || 'no content type'}'`);
  const form = new URLSearchParams(res.data);
  const manifests = form.getAll('serviceManifest');
  if (manifests.length !== 1) bad(`expected one serviceManifest, got ${manifests.length}`);
  const manifest = manifests[0]!;
  const decision = checkManifest(manifest, input.serviceId, undefined);
  const offer = readAllocationOffer(manifest)!;
  // Counts: AllocationDetails when present (OPTIMIS's real counts), else one per PhysicalHost entry (a lower bound).
  const placed = new Map<string, number>();
  for (const c of offer.components) placed.set(c.componentId, c.placements.reduce((t, p) => t + p.basicVms + p.elasticVms, 0));
  const details = form.get('AllocationDetails');
  if (details) {
    for (const [id, n] of readAllocationDetails(details, input.serviceId)) placed.set(id, n);
  }
  const reasons: { code: string; message: string; componentId?: string }[] = [];
  if (decision === 'accepted') {
    checkCoverage(placed, input.sent, 'the peer says');
  } else {
    reasons.push({ code: `OPTIMIS_${decision.toUpperCase()}`, message: `the OPTIMIS peer answered ${decision}` });
  }
  return { decision, manifest, admissionId: null, cost: null, placedVms: placed, reasons, httpStatus: res.status };
}

/** `<allocation_details><service id><service_component id federatedVMs><physical_host><assigned_VMs>` → VMs per component. */
function readAllocationDetails(xml: string, serviceId: string): Map<string, number> {
  const out = new Map<string, number>();
  let doc;
  try {
    doc = parseXml(xml);
  } catch {
    return bad('AllocationDetails is not well-formed XML');
  }
  const service = childElements(doc.root, '', 'service').find((s) => attribute(s, '', 'id') === serviceId);
  if (!service) return out;
  for (const c of childElements(service, '', 'service_component')) {
    const id = attribute(c, '', 'id') ?? '';
    let n = Number(attribute(c, '', 'federatedVMs') ?? '0');
    for (const h of childElements(c, '', 'physical_host')) {
      for (const a of childElements(h, '', 'assigned_VMs')) n += Number(textOf(a).trim());
    }
    if (!Number.isInteger(n) || n < 0) bad(`AllocationDetails: component ${id} has no valid VM count`);
    out.set(id, n);
  }
  return out;
}

/** Releases a booking a peer made for us (DELETE on its JSON API). Never throws. */
export async function releaseAtPeer(
  peer: PeerConfig,
  admissionId: string,
  ctx: PeerCallContext,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ released: boolean; error?: string }> {
  if (protocolOf(peer) !== 'eac') return { released: false, error: 'OPTIMIS peers hold nothing to release' };
  const r = await exchange(
    { method: 'DELETE', url: `${base(peer)}/api/v1/admissions/${encodeURIComponent(admissionId)}`, headers: { ...federationHeaders(peer, ctx, timeoutMs), Accept: 'application/json' } },
    timeoutMs,
    signal,
  );
  if (!r.ok) return { released: false, error: r.error };
  if (r.res.status !== 200) return { released: false, error: httpError(r.res) };
  try {
    const body = JSON.parse(r.res.data) as { released?: unknown };
    return { released: body.released === true };
  } catch {
    return { released: false, error: 'invalid answer: the body is not valid JSON' };
  }
}
