/**
 * The express application: JSON API v1, the OPTIMIS-compatible surface, health, metrics and OpenAPI.
 * Routes validate input (zod), call the AdmissionService / StateStore, and never contain admission logic.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'winston';
import { z } from 'zod';
import { constraintsSchema, weightsSchema } from '../config/config';
import type { HostInfoProvider } from '../host-info/types';
import { AdmissionError } from '../model/errors';
import type { TrecConstraints } from '../model/types';
import { formatPath } from '../model/validate';
import type { AdmissionService } from '../service/admission-service';
import { allows, requiresAdmitOrFederate, authenticate, changesAll, principalOf, refuseCrossSite, requires, seesAll, type AuthOptions, type Principal } from './auth';
import { jsonBody, xmlBody } from './body';
import { federationInbound } from './federation-inbound';
import { dependencyReport, readiness } from './health';
import { errorHandler, notFound, requestContext, sendJson } from './http';
import type { Metrics } from './metrics';
import { openApiDocument } from './openapi';
import { optimisRoutes } from './optimis-routes';
import type { StateStore } from './state-store';

export interface AppDeps {
  readonly service: AdmissionService;
  readonly store: StateStore;
  readonly hostInfo: HostInfoProvider;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  /** Effective configuration with secrets redacted, for GET /api/v1/config. */
  readonly configView: unknown;
  /** Tokens, the inbound peer secret and the OPTIMIS surface's access (gateway/auth.ts). */
  readonly auth: AuthOptions;
  /** The TREC circuit breakers' state, for /health and /ready. */
  readonly trecStatus?: () => unknown;
}

export const XML_TYPES = ['application/xml', 'text/xml', 'application/*+xml'];

/** Parses `value` with a zod schema; problems become AC_ERR_INVALID_REQUEST naming the field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const details = r.error.issues.map((i) => ({ field: i.path.length ? `${where}.${formatPath(i.path)}` : where, reason: i.message }));
  throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${details[0]!.field}: ${details[0]!.reason}`, details);
}

const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''], { error: "expected 'true' or 'false'" })
  .optional()
  .transform((v) => v === 'true' || v === '1' || v === '');
const admissionQuery = z.object({
  dryRun: booleanFlag,
  solver: z.enum(['greedy', 'highs', 'auto'], { error: 'expected greedy, highs or auto' }).optional(),
});
const manifestsBody = z.strictObject({
  manifests: z.array(z.string({ error: 'expected an XML string' }).min(1, 'expected a non-empty XML string'), { error: 'expected an array of XML strings' }).min(1, 'expected at least one manifest'),
});
const generationField = z.number().int().min(0).optional();
const policyBody = z.strictObject({ weights: weightsSchema, generation: generationField });
const constraintsBody = z.strictObject({ constraints: constraintsSchema, generation: generationField });
const serviceConstraintsBody = z.strictObject({ constraints: constraintsSchema.partial(), generation: generationField });

/** Optimistic concurrency: `If-Match: "<generation>"` or `generation` in the body. */
function expectedGeneration(req: Request, body: { generation?: number | undefined }): number | undefined {
  const header = req.get('if-match');
  if (header !== undefined) {
    const n = Number(header.replace(/^W\//, '').replace(/"/g, ''));
    if (!Number.isInteger(n) || n < 0) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', `If-Match: expected a generation number, got '${header}'`, [{ field: 'If-Match', reason: 'not a generation' }]);
    }
    return n;
  }
  return body.generation;
}

/** The request's media type, lower case, without parameters ('' when there is none). */
function mediaType(req: Request): string {
  const header = req.headers['content-type'];
  if (header === undefined) return '';
  const semicolon = header.indexOf(';');
  return (semicolon < 0 ? header : header.slice(0, semicolon)).trim().toLowerCase();
}

function requireContentType(req: Request, ...types: string[]): void {
  if (!req.is(types)) {
    throw new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type must be one of ${types.join(', ')}; got '${req.get('content-type') ?? 'none'}'`, [
      { field: 'Content-Type', reason: `expected ${types.join(' or ')}` },
    ]);
  }
}

/** The OPTIMIS originals that change state on GET (defect D11): allowed only where the operator enabled them. */
export function isOptimisStateChangingGet(req: Request): boolean {
  return req.method === 'GET' && /^\/ACGateway\/data\/(setPolicy|perServiceConstraints)\//.test(req.path);
}

/** Lists and single admissions: everyone's for viewers, one's own for clients and peers (filtered by the handler). */
function requiresOwnOrView(req: Request, res: Response, next: NextFunction): void {
  if (req.principal && (allows(req.principal, 'view') || allows(req.principal, 'own'))) return next();
  requires('view')(req, res, next);
}

export function createApp(deps: AppDeps): express.Express {
  const { service, store, hostInfo, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(deps.requestTimeoutMs));
  app.use(metrics.middleware());
  // Before anything reads a body or a token: state changes a browser sends for another site are refused in every mode.
  app.use(refuseCrossSite(isOptimisStateChangingGet));
  app.use(authenticate(deps.auth));
  // Peers' requests: a peer's credentials and the federation headers, together or not at all (docs/federation.md).
  app.use(
    federationInbound({
      unauthenticatedPeers: deps.auth.tokens.length === 0 && deps.auth.peerSecret === undefined,
      requestTimeoutMs: deps.requestTimeoutMs,
      logger: deps.logger,
    }),
  );
  const limit = deps.bodyLimitBytes;
  const json = jsonBody({ limit });
  const xml = xmlBody({ types: XML_TYPES, limit });

  // ---- JSON API v1 --------------------------------------------------------------------------
  // One body parser per request, picked by media type: running both cost every request the other's type check.
  const admissionBody = (req: Request, res: Response, next: NextFunction): void => (mediaType(req) === 'application/json' ? json : xml)(req, res, next);
  app.post('/api/v1/admissions', requiresAdmitOrFederate, admissionBody, async (req: Request, res: Response) => {
    const query = parseInput(admissionQuery, req.query, 'query');
    let manifests: string[];
    if (mediaType(req) === 'application/json') {
      manifests = parseInput(manifestsBody, req.body, 'body').manifests;
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
    const answer = await service.admit({
      manifests,
      owner: principalOf(req).name,
      dryRun: query.dryRun,
      ...(query.solver ? { solver: query.solver } : {}),
      signal: req.deadline,
      requestId: req.requestId,
      deadlineAt: req.deadlineAt,
      ...(req.federation ? { federation: req.federation } : {}),
    });
    metrics.recordAdmission(answer);
    const federated = answer.services.filter((s) => s.federation);
    deps.logger.info('admission', {
      requestId: req.requestId,
      dryRun: answer.dryRun,
      services: answer.services.map((s) => `${s.serviceId}:${s.decision}`),
      solver: answer.solver.name,
      status: answer.solver.status,
      seconds: answer.solver.seconds,
      degraded: answer.degraded.length,
      ...(federated.length > 0
        ? { federation: federated.map((s) => ({ serviceId: s.serviceId, status: s.federation!.status, peerId: s.federation!.peerId, attempts: s.federation!.attempts.length, seconds: s.federation!.seconds })) }
        : {}),
      ...(req.federation ? { inbound: { hop: req.federation.hop, origin: req.federation.origin, federationId: req.federation.id } } : {}),
    });
    const recordedIds = answer.services.map((s) => s.admissionId).filter((id): id is string => id !== null);
    if (recordedIds.length === 1) res.setHeader('Location', `/api/v1/admissions/${recordedIds[0]}`);
    sendJson(res, answer.dryRun || recordedIds.length === 0 ? 200 : 201, answer);
  });

  app.get('/api/v1/admissions', requiresOwnOrView, (req: Request, res: Response) => {
    const q = parseInput(z.object({ active: booleanFlag, serviceId: z.string().optional() }), req.query, 'query');
    const principal = principalOf(req);
    const list = store.listAdmissions({ activeOnly: q.active, ...(q.serviceId ? { serviceId: q.serviceId } : {}), ...(seesAll(principal) ? {} : { owner: principal.name }) });
    sendJson(res, 200, { admissions: list.map(({ response: _r, ...a }) => a) });
  });
  /** The admission if this principal may see it (another principal's is reported as absent: its existence is not disclosed). */
  const visibleAdmission = (req: Request, mayAct: (p: Principal) => boolean) => {
    const id = String(req.params.id);
    const record = store.getAdmission(id);
    const principal = principalOf(req);
    if (!record || (!mayAct(principal) && record.owner !== principal.name)) {
      throw new AdmissionError('AC_ERR_NOT_FOUND', `no admission '${id}'`, [{ field: 'id', reason: 'unknown admission' }]);
    }
    return record;
  };
  app.get('/api/v1/admissions/:id', requiresOwnOrView, (req: Request, res: Response) => {
    sendJson(res, 200, visibleAdmission(req, seesAll));
  });
  app.delete('/api/v1/admissions/:id', requires('own'), async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const record = visibleAdmission(req, changesAll);
    const released = store.releaseAdmission(id);
    // A federated admission's peer part goes with it (only on the release that actually ended the admission).
    const federation = released ? await service.releaseFederatedPart(record, req.requestId) : undefined;
    sendJson(res, 200, { id, released, capacityGeneration: store.capacityGeneration(), ...(federation ? { federation } : {}) });
  });

  app.get('/api/v1/hosts', requires('view'), async (req: Request, res: Response) => {
    const hosts = await hostInfo.listHosts(req.deadline);
    const snapshot = store.capacitySnapshot();
    sendJson(res, 200, {
      source: hostInfo.name,
      capacityGeneration: snapshot.generation,
      hosts: hosts.map((h) => {
        const r = snapshot.reserved.get(h.id) ?? { cpus: 0, memoryMb: 0 };
        const freeCpus = Math.max(0, h.cpus - h.usedCpus - r.cpus);
        return {
          ...h,
          reservedCpus: r.cpus,
          reservedMemoryMb: r.memoryMb,
          freeCpus,
          ...(h.memoryMb !== undefined ? { freeMemoryMb: Math.max(0, h.memoryMb - (h.usedMemoryMb ?? 0) - r.memoryMb) } : {}),
        };
      }),
    });
  });

  app.get('/api/v1/policy', requires('view'), (_req: Request, res: Response) => {
    sendJson(res, 200, store.getPolicy());
  });
  app.put('/api/v1/policy', requires('operate'), json, (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const body = parseInput(policyBody, req.body, 'body');
    const record = store.setPolicy(body.weights, expectedGeneration(req, body));
    deps.logger.info('policy changed', { requestId: req.requestId, weights: record.weights, generation: record.generation });
    sendJson(res, 200, record);
  });

  app.get('/api/v1/constraints/default', requires('view'), (_req: Request, res: Response) => {
    sendJson(res, 200, store.getDefaultConstraints());
  });
  app.put('/api/v1/constraints/default', requires('operate'), json, (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const body = parseInput(constraintsBody, req.body, 'body');
    sendJson(res, 200, store.setDefaultConstraints(body.constraints as TrecConstraints, expectedGeneration(req, body)));
  });
  app.get('/api/v1/services/:id/constraints', requires('view'), (req: Request, res: Response) => {
    const id = String(req.params.id);
    const own = store.getServiceConstraints(id);
    sendJson(res, 200, { serviceId: id, override: own ?? null, effective: store.explainConstraints(id) });
  });
  app.put('/api/v1/services/:id/constraints', requires('operate'), json, (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const body = parseInput(serviceConstraintsBody, req.body, 'body');
    const record = store.setServiceConstraints(String(req.params.id), body.constraints, expectedGeneration(req, body));
    sendJson(res, 200, record);
  });
  app.delete('/api/v1/services/:id/constraints', requires('operate'), (req: Request, res: Response) => {
    const id = String(req.params.id);
    if (!store.deleteServiceConstraints(id)) {
      throw new AdmissionError('AC_ERR_NOT_FOUND', `service '${id}' has no constraints of its own`, [{ field: 'id', reason: 'no override' }]);
    }
    res.status(204).end();
  });

  app.get('/api/v1/config', requires('config'), (_req: Request, res: Response) => {
    sendJson(res, 200, deps.configView);
  });

  // ---- Operations ---------------------------------------------------------------------------
  // Passive: neither waits for a source or a solve, so a load balancer's probe is answered at once.
  const healthSources = {
    hostInfo,
    openMode: deps.auth.tokens.length === 0,
    databaseCheck: () => {
      store.capacityGeneration();
      return { kind: 'sqlite' };
    },
    ...(deps.trecStatus ? { trecStatus: deps.trecStatus } : {}),
  };
  app.get('/health', async (_req: Request, res: Response) => {
    const report = await dependencyReport(healthSources);
    const r = readiness(report);
    sendJson(res, 200, { status: r.ready && r.warnings.length === 0 ? 'ok' : 'degraded', ready: r.ready, reasons: r.reasons, warnings: r.warnings, ...report });
  });
  app.get('/ready', async (_req: Request, res: Response) => {
    const report = await dependencyReport(healthSources);
    const r = readiness(report);
    sendJson(res, r.ready ? 200 : 503, { ready: r.ready, reasons: r.reasons, warnings: r.warnings, ...report });
  });
  app.get('/metrics', requires('metrics'), async (_req: Request, res: Response) => {
    res.setHeader('Content-Type', metrics.contentType);
    res.send(await metrics.render());
  });
  app.get('/openapi.json', (_req: Request, res: Response) => {
    sendJson(res, 200, openApiDocument);
  });

  app.use(optimisRoutes({ service, store, metrics, bodyLimitBytes: limit, allowStateChangingGet: deps.auth.optimis.allowStateChangingGet }));

  app.use((req: Request) => notFound(req));
  app.use(errorHandler(deps.logger));
  return app;
}
