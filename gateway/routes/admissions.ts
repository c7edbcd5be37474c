/**
 * Admissions over time (JSON API v1): admit (with a window, an expiry and an Idempotency-Key), list by window and status
 * with a cursor, get, confirm, reschedule, release. Ownership: clients and peers see and change only their own.
 */
import { CAPABILITY_NAME, parseRequirement } from '../../model/capabilities';
import type { CapabilityRequirement } from '../../model/types';
import type { ManifestCapabilities } from '../../service/admission-service';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from 'winston';
import { z } from 'zod';
import { ADMISSION_STATUSES, type AdmissionRecord, type AdmissionStatus, type DeploymentRecord, type Ledger } from '../../ledger/types';
import type { DeploymentService } from '../../service/deployments';
import { AdmissionError } from '../../model/errors';
import type { AdmissionService } from '../../service/admission-service';
import { allows, changesAll, principalOf, requires, requiresAdmitOrFederate, seesAll, type Principal } from '../auth';
import { jsonBody, xmlBody } from '../body';
import { sendJson } from '../http';
import type { Metrics } from '../metrics';
import { iso, isoOrNull, parseInstant, parseWindow, windowJson } from '../time';
import { booleanFlag, expectedGeneration, generationField, limitParam, mediaType, notFoundError, parseInput, requireContentType, XML_TYPES } from './common';

export interface AdmissionRouteDeps {
  readonly service: AdmissionService;
  readonly ledger: Ledger;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly bodyLimitBytes: number;
  readonly clock: () => number;
  /** After a confirm, reschedule or release: what is due next moved (scheduler), streams have news (hub). */
  readonly onChange?: () => void;
  /** AC_DEPLOY: confirming deploys the admission's VMs, releasing terminates them. */
  readonly deployments?: DeploymentService;
}

const SOLVERS = z.enum(['greedy', 'highs', 'auto'], { error: 'expected greedy, highs or auto' }).optional();
const expiryField = z.coerce.number({ error: 'expected a number of seconds' }).int('expected whole seconds').min(1, 'expected at least 1 second').max(10 * 365 * 86400, 'expected at most ten years').optional();
const admissionQuery = z.object({
  dryRun: booleanFlag,
  solver: SOLVERS,
  start: z.string().optional(),
  end: z.string().optional(),
  expirySeconds: expiryField,
});
const manifestsBody = z.strictObject({
  manifests: z.array(z.string({ error: 'expected an XML string' }).min(1, 'expected a non-empty XML string'), { error: 'expected an array of XML strings' }).min(1, 'expected at least one manifest'),
  start: z.string({ error: 'expected an RFC 3339 date-time' }).optional(),
  end: z.string({ error: 'expected an RFC 3339 date-time' }).nullable().optional(),
  expirySeconds: expiryField,
  /** Per manifest (same positions), per component id: `requires` in text form (`nodejs@>=18 <21`, `!gpu`), `sameValue` capability names. */
  capabilities: z
    .array(
      z
        .record(
          z.string(),
          z.strictObject({
            requires: z.array(z.string().max(300)).max(64).optional(),
            sameValue: z.array(z.string().max(128)).max(16).optional(),
          }),
        )
        .nullable(),
    )
    .max(1000)
    .optional(),
});

/** The JSON body's capability texts as requirements; a bad one is a 400 naming its field. */
function readCapabilities(raw: z.infer<typeof manifestsBody>['capabilities']): ManifestCapabilities[] | undefined {
  if (!raw) return undefined;
  const details: { field: string; reason: string }[] = [];
  const out = raw.map((entry, k): ManifestCapabilities => {
    const m: Record<string, { requires?: CapabilityRequirement[]; sameValue?: string[] }> = {};
    for (const [id, spec] of Object.entries(entry ?? {})) {
      const requires: CapabilityRequirement[] = [];
      (spec.requires ?? []).forEach((text, r) => {
        try {
          requires.push(parseRequirement(text));
        } catch (e) {
          details.push({ field: `body.capabilities[${k}].${id}.requires[${r}]`, reason: (e as Error).message });
        }
      });
      (spec.sameValue ?? []).forEach((name, r) => {
        if (!CAPABILITY_NAME.test(name)) details.push({ field: `body.capabilities[${k}].${id}.sameValue[${r}]`, reason: `must match ${CAPABILITY_NAME.source}` });
      });
      m[id] = { requires, sameValue: spec.sameValue ?? [] };
    }
    return m;
  });
  if (details.length > 0) throw new AdmissionError('AC_ERR_INVALID_REQUEST', `invalid capabilities: ${details[0]!.field}: ${details[0]!.reason}`, details);
  return out;
}
const statusList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === '') return undefined;
    const list = v.split(',').map((s) => s.trim());
    for (const s of list) if (!(ADMISSION_STATUSES as readonly string[]).includes(s)) ctx.addIssue({ code: 'custom', message: `expected statuses among ${ADMISSION_STATUSES.join(', ')}; got '${s}'` });
    return list as AdmissionStatus[];
  });
const listQuery = z.object({
  active: booleanFlag,
  status: statusList,
  serviceId: z.string().optional(),
  owner: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  limit: limitParam,
  cursor: z.string().optional(),
});
const patchBody = z.strictObject({
  start: z.string({ error: 'expected an RFC 3339 date-time' }).optional(),
  end: z.string({ error: 'expected an RFC 3339 date-time or null' }).nullable().optional(),
  generation: generationField,
});
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** An admission as the API shows it (times in RFC 3339). The stored answer is omitted from lists. */
export function admissionJson(r: AdmissionRecord, withResponse = true): Record<string, unknown> {
  const response = r.response as Record<string, unknown> | null;
  return {
    id: r.id,
    owner: r.owner,
    serviceId: r.serviceId,
    decision: r.decision,
    status: r.status,
    ...windowJson(r.window),
    holdExpiresAt: iso(r.holdExpiresAt),
    ...(r.expirySeconds !== undefined ? { expirySeconds: r.expirySeconds } : {}),
    createdAt: iso(r.createdAt),
    ...(r.confirmedAt !== undefined ? { confirmedAt: iso(r.confirmedAt) } : {}),
    ...(r.closedAt !== undefined ? { closedAt: iso(r.closedAt) } : {}),
    ...(r.replaces !== undefined ? { replaces: r.replaces } : {}),
    generation: r.generation,
    hosts: r.hosts,
    // The input manifest is kept to solve the admission again (PATCH); it is the client's own document.
    ...(withResponse && response ? { response: Object.fromEntries(Object.entries(response).filter(([k]) => k !== 'inputManifest' && k !== 'inputCapabilities')) } : {}),
  };
}

/** A deployment as the API shows it: progress counts, then every VM (slot) with its OpenNebula id once it has one. */
export function deploymentJson(d: DeploymentRecord): Record<string, unknown> {
  const count = (state: string): number => d.vms.filter((v) => v.state === state).length;
  return {
    target: d.target,
    status: d.status,
    attempts: d.attempts,
    ...(d.error !== undefined ? { error: d.error } : {}),
    notBefore: iso(d.notBefore),
    updatedAt: iso(d.updatedAt),
    generation: d.generation,
    progress: { vms: d.vms.length, deployed: count('deployed'), pending: count('planned') + count('creating') + count('created'), lost: count('lost'), removed: count('removed'), terminating: count('terminating'), terminated: count('terminated') },
    vms: d.vms,
  };
}

/** Lists and single admissions: everyone's for viewers, one's own for clients and peers. */
function requiresOwnOrView(req: Request, res: Response, next: NextFunction): void {
  if (req.principal && (allows(req.principal, 'view') || allows(req.principal, 'own'))) return next();
  requires('view')(req, res, next);
}

export function admissionRoutes(deps: AdmissionRouteDeps): Router {
  const { service, ledger } = deps;
  const router = express.Router();
  const json = jsonBody({ limit: deps.bodyLimitBytes });
  const xml = xmlBody({ types: XML_TYPES, limit: deps.bodyLimitBytes });
  // One body parser per request, picked by media type: running both cost every request the other's type check.
  const admissionBody = (req: Request, res: Response, next: NextFunction): void => (mediaType(req) === 'application/json' ? json : xml)(req, res, next);

  /** The admission if this principal may see (or change) it; another principal's is reported as absent. */
  const visible = async (req: Request, mayAct: (p: Principal) => boolean): Promise<AdmissionRecord> => {
    const id = String(req.params.id);
    const record = await ledger.get(id);
    const principal = principalOf(req);
    if (!record || (!mayAct(principal) && record.owner !== principal.name)) throw notFoundError('admission', id);
    return record;
  };

  router.post('/api/v1/admissions', requiresAdmitOrFederate, admissionBody, async (req: Request, res: Response) => {
    const query = parseInput(admissionQuery, req.query, 'query');
    let manifests: string[];
    let capabilities: ManifestCapabilities[] | undefined;
    let timing: { start?: string | undefined; end?: string | null | undefined; expirySeconds?: number | undefined } = query;
    let fields = { start: 'query.start', end: 'query.end' };
    if (mediaType(req) === 'application/json') {
      const body = parseInput(manifestsBody, req.body, 'body');
      manifests = body.manifests;
      capabilities = readCapabilities(body.capabilities);
      if (capabilities && capabilities.length > manifests.length) {
        throw new AdmissionError('AC_ERR_INVALID_REQUEST', `capabilities has ${capabilities.length} entries for ${manifests.length} manifests`, [{ field: 'body.capabilities', reason: 'one entry per manifest at most' }]);
      }
      timing = { start: body.start ?? query.start, end: body.end !== undefined ? body.end : query.end, expirySeconds: body.expirySeconds ?? query.expirySeconds };
      fields = { start: body.start !== undefined ? 'body.start' : 'query.start', end: body.end !== undefined ? 'body.end' : 'query.end' };
    } else if (typeof req.body === 'string' || req.is(XML_TYPES)) {
      // The XML parser leaves a string; an empty body is left undefined.
      if (typeof req.body !== 'string' || req.body.trim() === '') {
        throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'empty XML body', [{ field: 'body', reason: 'expected one service manifest' }]);
      }
      manifests = [req.body];
    } else {
      requireContentType(req, 'application/xml', 'application/json');
      manifests = [];
    }
    const window = parseWindow(timing, deps.clock(), fields);
    const key = req.get('idempotency-key');
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'Idempotency-Key: expected 1–255 printable ASCII characters', [{ field: 'Idempotency-Key', reason: 'malformed' }]);
    }
    const started = performance.now();
    const answer = await service.admit({
      manifests,
      ...(capabilities ? { capabilities } : {}),
      owner: principalOf(req).name,
      ownerRole: principalOf(req).role,
      dryRun: query.dryRun,
      ...(query.solver ? { solver: query.solver } : {}),
      window,
      ...(timing.expirySeconds !== undefined ? { expirySeconds: timing.expirySeconds } : {}),
      ...(key !== undefined ? { idempotencyKey: key } : {}),
      signal: req.deadline,
      requestId: req.requestId,
      deadlineAt: req.deadlineAt,
      ...(req.federation ? { federation: req.federation } : {}),
    });
    if (!answer.replayed) deps.metrics.recordAdmission(answer);
    const federated = answer.services.filter((s) => s.federation);
    deps.logger.info('admission', {
      requestId: req.requestId,
      owner: principalOf(req).name,
      ownerRole: principalOf(req).role,
      dryRun: answer.dryRun,
      ...(answer.replayed ? { replayed: true } : {}),
      services: answer.services.map((s) => ({
        serviceId: s.serviceId,
        admissionId: s.admissionId,
        decision: s.decision,
        reasons: [...new Set(s.components.flatMap((c) => c.reasons.map((r) => r.code)))],
      })),
      window: answer.window,
      solver: answer.solver.name,
      status: answer.solver.status,
      seconds: answer.solver.seconds,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      degraded: answer.degraded.length,
      ...(federated.length > 0
        ? { federation: federated.map((s) => ({ serviceId: s.serviceId, status: s.federation!.status, peerId: s.federation!.peerId, attempts: s.federation!.attempts.length, seconds: s.federation!.seconds })) }
        : {}),
      ...(req.federation ? { inbound: { hop: req.federation.hop, origin: req.federation.origin, federationId: req.federation.id } } : {}),
    });
    const recordedIds = answer.services.map((s) => s.admissionId).filter((id): id is string => id !== null);
    if (recordedIds.length === 1) res.setHeader('Location', `/api/v1/admissions/${recordedIds[0]}`);
    if (answer.replayed) res.setHeader('Idempotent-Replayed', 'true');
    sendJson(res, answer.dryRun || recordedIds.length === 0 ? 200 : 201, answer);
  });

  router.get('/api/v1/admissions', requiresOwnOrView, async (req: Request, res: Response) => {
    const q = parseInput(listQuery, req.query, 'query');
    const principal = principalOf(req);
    if (q.owner !== undefined && !seesAll(principal) && q.owner !== principal.name) throw new AdmissionError('AC_ERR_FORBIDDEN', `principal '${principal.name}' (role ${principal.role}) may list only its own admissions`, [{ field: 'owner', reason: 'not yours' }]);
    const statuses = q.status ?? (q.active ? (['held', 'confirmed', 'active'] as AdmissionStatus[]) : undefined);
    const page = await ledger.list(
      {
        ...(seesAll(principal) ? (q.owner !== undefined ? { owner: q.owner } : {}) : { owner: principal.name }),
        ...(q.serviceId !== undefined ? { serviceId: q.serviceId } : {}),
        ...(statuses ? { statuses } : {}),
        ...(q.from !== undefined ? { from: parseInstant(q.from, 'query.from') } : {}),
        ...(q.to !== undefined ? { to: parseInstant(q.to, 'query.to') } : {}),
      },
      { ...(q.limit !== undefined ? { limit: q.limit } : {}), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) },
    );
    sendJson(res, 200, { admissions: page.items.map((r) => admissionJson(r, false)), nextCursor: page.nextCursor });
  });

  /** The admission with its deployment, when it has one. */
  const withDeployment = async (record: AdmissionRecord): Promise<Record<string, unknown>> => {
    const d = await ledger.deployment(record.id);
    return { ...admissionJson(record), ...(d ? { deployment: deploymentJson(d) } : {}) };
  };

  router.get('/api/v1/admissions/:id', requiresOwnOrView, async (req: Request, res: Response) => {
    sendJson(res, 200, await withDeployment(await visible(req, seesAll)));
  });

  router.get('/api/v1/admissions/:id/deployment', requiresOwnOrView, async (req: Request, res: Response) => {
    const record = await visible(req, seesAll);
    const d = await ledger.deployment(record.id);
    if (!d) throw new AdmissionError('AC_ERR_NOT_FOUND', `admission '${record.id}' has no deployment${deps.deployments ? ' (it was not confirmed with deployment on)' : ' (AC_DEPLOY is none)'}`, [{ field: 'id', reason: 'no deployment' }]);
    sendJson(res, 200, { admissionId: record.id, ...deploymentJson(d) });
  });

  router.post('/api/v1/admissions/:id/confirm', requires('own'), async (req: Request, res: Response) => {
    const record = await visible(req, changesAll);
    const actor = principalOf(req).name;
    const confirmed = deps.deployments ? await deps.deployments.confirm(record, actor, expectedGeneration(req)) : await ledger.confirm(record.id, actor, expectedGeneration(req));
    deps.onChange?.();
    deps.logger.info('admission confirmed', { requestId: req.requestId, admissionId: record.id, owner: record.owner, by: actor, status: confirmed.status, ...(deps.deployments ? { deploy: deps.deployments.target } : {}) });
    sendJson(res, 200, await withDeployment(confirmed));
  });

  // A failed deployment is tried again (a new attempt: VMs already there for a slot are found by their tag, not duplicated).
  router.post('/api/v1/admissions/:id/deploy', requires('own'), async (req: Request, res: Response) => {
    const record = await visible(req, changesAll);
    if (!deps.deployments) throw new AdmissionError('AC_ERR_CONFLICT', 'deployment is off (AC_DEPLOY is none)', [{ field: 'AC_DEPLOY', reason: 'none' }]);
    if (record.status !== 'confirmed' && record.status !== 'active') throw new AdmissionError('AC_ERR_CONFLICT', `admission '${record.id}' is ${record.status}: only a confirmed or active admission is deployed`, [{ field: 'status', reason: record.status }]);
    const d = await deps.deployments.retry(record.id, principalOf(req).name);
    deps.onChange?.();
    deps.logger.info('deployment retried', { requestId: req.requestId, admissionId: record.id, by: principalOf(req).name, attempts: d.attempts });
    sendJson(res, 202, { admissionId: record.id, ...deploymentJson(d) });
  });

  router.patch('/api/v1/admissions/:id', requires('own'), json, async (req: Request, res: Response) => {
    requireContentType(req, 'application/json', 'application/merge-patch+json');
    const record = await visible(req, changesAll);
    const body = parseInput(patchBody, req.body, 'body');
    const window = {
      start: body.start !== undefined ? Math.max(deps.clock(), parseInstant(body.start, 'body.start')) : record.window.start,
      end: body.end === undefined ? record.window.end : body.end === null ? null : parseInstant(body.end, 'body.end'),
    };
    if (window.end !== null && window.end <= window.start) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', `body.end (${iso(window.end)}) must be after the start (${iso(window.start)})`, [{ field: 'body.end', reason: 'not after the start' }]);
    }
    // A deployed admission's VMs stay where they run: it may move in time, not to other hosts.
    const deployment = await ledger.deployment(record.id);
    const keepHosts = deployment !== undefined && deployment.status !== 'terminated';
    const updated = await service.reschedule(record, window, principalOf(req).name, expectedGeneration(req, body), { keepHosts });
    deps.onChange?.();
    deps.logger.info('admission rescheduled', { requestId: req.requestId, admissionId: record.id, from: windowJson(record.window), to: windowJson(updated.window), by: principalOf(req).name });
    sendJson(res, 200, admissionJson(updated));
  });

  router.delete('/api/v1/admissions/:id', requires('own'), async (req: Request, res: Response) => {
    const record = await visible(req, changesAll);
    const { record: after, released } = await ledger.release(record.id, principalOf(req).name);
    // A federated admission's peer part goes with it (only on the release that actually ended the admission).
    const federation = released ? await service.releaseFederatedPart(record, req.requestId) : undefined;
    if (released) deps.deployments?.released(record.id);
    deps.onChange?.();
    deps.logger.info('admission released', { requestId: req.requestId, admissionId: record.id, owner: record.owner, by: principalOf(req).name, released });
    sendJson(res, 200, { id: record.id, released, status: after.status, closedAt: isoOrNull(after.closedAt), ...(federation ? { federation } : {}) });
  });

  return router;
}
