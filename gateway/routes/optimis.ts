/**
 * The OPTIMIS-compatible surface (interfaces.md §3.1) so an OPTIMIS client works unchanged: performACTest
 * (form in, form out, with AllocationDetails), performOneManifestACTest (raw XML), setPolicy and
 * perServiceConstraints (original GET paths, plus POST/PUT equivalents), and the csv getters.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from 'winston';
import type { SolverChoice } from '../../admission-controller/admit';
import { AdmissionError } from '../../model/errors';
import { allows, requiresAdmitOrFederate, principalOf, requires } from '../auth';
import type { TrecConstraints, Weights } from '../../model/types';
import { writeResultCsv } from '../../admission-controller/result-csv';
import { optimisAcceptedRewrite } from '../../formats/optimis-manifest/offer';
import type { AdmissionAnswer, AdmissionService, LastSolved } from '../../service/admission-service';
import { renderModelDirectory } from '../../trec-analyzer/model-directory';
import { formBody, rawManifestBody } from '../body';
import { escapeAttribute } from '../../xml/safe-xml';
import type { Metrics } from '../metrics';
import type { Ledger } from '../../ledger/types';

export interface OptimisRouteDeps {
  readonly service: AdmissionService;
  readonly ledger: Ledger;
  readonly metrics: Metrics;
  readonly bodyLimitBytes: number;
  /** optimis.allowStateChangingGet: the original GET paths of setPolicy / perServiceConstraints may change state. */
  readonly allowStateChangingGet: boolean;
  readonly logger: Logger;
}

/** The getters answer any known principal: OPTIMIS clients read the weights they are judged by. */
function requiresPrincipal(req: Request, res: Response, next: NextFunction): void {
  if (req.principal) return next();
  requires('view')(req, res, next);
}

/** OPTIMIS's `AllocationDetails`: VM counts per service, component and host, and federated VMs. */
export function allocationDetailsXml(answer: AdmissionAnswer): string {
  const services = answer.services
    .map((s) => {
      const comps = s.components
        .map((c) => {
          const hosts = c.placements
            .map((p) => `<physical_host id="${escapeAttribute(p.hostId)}"><assigned_VMs>${p.vms}</assigned_VMs></physical_host>`)
            .join('');
          return `<service_component id="${escapeAttribute(c.id)}" federatedVMs="${c.federatedVms}">${hosts}</service_component>`;
        })
        .join('');
      return `<service id="${escapeAttribute(s.serviceId)}">${comps}</service>`;
    })
    .join('');
  return `<allocation_details>${services}</allocation_details>`;
}

function flag(body: Record<string, unknown>, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(body, name);
}

function asList(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map((v) => String(v));
}

/** The solver an OPTIMIS request names (use_GAMS → the exact solver; the heuristics → greedy). */
function solverFlag(body: Record<string, unknown>): SolverChoice | undefined {
  if (flag(body, 'use_GAMS')) return 'highs';
  if (flag(body, 'use_Heuristic') || flag(body, 'use_HeuristicSolver_Python_243')) return 'greedy';
  return undefined;
}

/** What every admission log line carries (as the JSON API's): ids, decisions, reason codes, solver and duration. */
function admissionLog(req: Request, answer: AdmissionAnswer, started: number): Record<string, unknown> {
  return {
    requestId: req.requestId,
    owner: principalOf(req).name,
    dryRun: answer.dryRun,
    services: answer.services.map((s) => ({
      serviceId: s.serviceId,
      admissionId: s.admissionId,
      decision: s.decision,
      reasons: [...new Set(s.components.flatMap((c) => c.reasons.map((r) => r.code)))],
    })),
    solver: answer.solver.name,
    status: answer.solver.status,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    degraded: answer.degraded.length,
  };
}

/** Java's Float.toString for the values OPTIMIS stored: whole numbers keep a `.0`. */
function javaFloat(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

function weight(value: string, field: string): number {
  const n = number(value, field);
  if (n < 0) throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${field}: expected a weight ≥ 0, got '${value}'`, [{ field, reason: 'negative' }]);
  return n;
}

function number(value: string, field: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${field}: expected a number, got '${value}'`, [{ field, reason: 'not a number' }]);
  }
  return n;
}

function policyText(w: Weights): string {
  return `TRUST_weight = ${w.trust}\nECO_weight = ${w.eco}\nRISK_weight = ${w.risk}\nCOST_weight = ${w.cost}\n`;
}

function constraintsText(c: TrecConstraints): string {
  return `TRUST_constraint = ${c.trust}\nRISK_constraint = ${c.risk}\nECO_constraint = ${c.eco}\nCOST_constraint = ${c.cost}\n`;
}

export function optimisRoutes(deps: OptimisRouteDeps): Router {
  const { service, ledger } = deps;
  let last: { files?: Map<string, string>; solved: LastSolved } | undefined;
  const remember = (): void => {
    const solved = service.lastSolved();
    if (solved && solved !== last?.solved) last = { solved };
  };
  const lastFiles = (): Map<string, string> | undefined => {
    if (!last) return undefined;
    if (!last.files) {
      last.files = renderModelDirectory(last.solved.model);
      last.files.set('result.csv', writeResultCsv(last.solved.model, last.solved.result.allocation, last.solved.result.verification));
    }
    return last.files;
  };
  const router = express.Router();
  const form = formBody({ limit: deps.bodyLimitBytes, parameterLimit: 1000 });
  const raw = rawManifestBody({ limit: deps.bodyLimitBytes, parameterLimit: 1000 });
  const dryRunOf = (req: Request, body: Record<string, unknown>): boolean =>
    req.query.dryRun === 'true' || req.query.dryRun === '1' || String(body.dryRun ?? '') === 'true';

  router.post('/ACGateway/model/performACTest', requiresAdmitOrFederate, form, async (req: Request, res: Response) => {
    if (!req.is('application/x-www-form-urlencoded')) {
      throw new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'performACTest takes application/x-www-form-urlencoded', [{ field: 'Content-Type', reason: 'expected a form' }]);
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const manifests = asList(body.serviceManifest);
    if (manifests.length === 0) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'form field serviceManifest is missing', [{ field: 'serviceManifest', reason: 'at least one manifest is required' }]);
    }
    const solver = solverFlag(body);
    if (flag(body, 'cleanTestbed') && !(req.principal && allows(req.principal, 'operate'))) {
      throw new AdmissionError('AC_ERR_FORBIDDEN', `cleanTestbed is an operator's flag (it ignores every booking); principal '${req.principal?.name}' is ${req.principal?.role}`, [
        { field: 'cleanTestbed', reason: 'operator only' },
      ]);
    }
    const started = performance.now();
    const answer = await service.admit({
      manifests,
      owner: principalOf(req).name,
      dryRun: dryRunOf(req, body),
      ...(solver ? { solver } : {}),
      cleanTestbed: flag(body, 'cleanTestbed'),
      forbidFederation: asList(body.isFederationAllowed).map((v) => v.includes('No') || v.includes('no')),
      signal: req.deadline,
      requestId: req.requestId,
      deadlineAt: req.deadlineAt,
      ...(req.federation ? { federation: req.federation } : {}), // a peer asking through the OPTIMIS surface
    });
    deps.metrics.recordAdmission(answer);
    // OPTIMIS's SLA manager counts on one manifest back per manifest sent, in order: one that could not be admitted at
    // all comes back as it was sent (no offer), and the reason is in the `Errors` field.
    const rewrite = !flag(body, 'doNotBackupSMflag');
    const byIndex = new Map(answer.services.map((s) => [s.manifestIndex, s]));
    const out = new URLSearchParams();
    manifests.forEach((xml, k) => {
      const s = byIndex.get(k);
      out.append('serviceManifest', s ? (rewrite ? optimisAcceptedRewrite(s.manifest) : s.manifest) : xml);
    });
    out.append('AllocationDetails', allocationDetailsXml(answer));
    if (answer.errors && answer.errors.length > 0) out.append('Errors', JSON.stringify(answer.errors));
    deps.logger.info('optimis admission', {
      ...admissionLog(req, answer, started),
      route: 'performACTest',
      errors: answer.errors?.length ?? 0,
      partialRewrite: rewrite,
      cleanTestbed: flag(body, 'cleanTestbed'),
    });
    remember();
    res.type('application/x-www-form-urlencoded').send(out.toString());
  });

  router.post('/ACGateway/model/performOneManifestACTest', requiresAdmitOrFederate, raw, async (req: Request, res: Response) => {
    let xml = typeof req.body === 'string' ? req.body : '';
    // Tolerate clients that send the manifest as a form field after all.
    if (xml.startsWith('serviceManifest=')) xml = new URLSearchParams(xml).get('serviceManifest') ?? '';
    if (xml.trim() === '') throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'empty body: expected one service manifest', [{ field: 'body', reason: 'empty' }]);
    const started = performance.now();
    const answer = await service.admit({
      manifests: [xml],
      owner: principalOf(req).name,
      dryRun: dryRunOf(req, {}),
      signal: req.deadline,
      requestId: req.requestId,
      deadlineAt: req.deadlineAt,
      ...(req.federation ? { federation: req.federation } : {}),
    });
    deps.metrics.recordAdmission(answer);
    deps.logger.info('optimis admission', { ...admissionLog(req, answer, started), route: 'performOneManifestACTest' });
    remember();
    // No flags can be sent here, so OPTIMIS always applied its partial → accepted rewrite on this endpoint.
    res.type('application/xml').send(optimisAcceptedRewrite(answer.services[0]!.manifest));
  });

  const setPolicy = async (req: Request, res: Response): Promise<void> => {
    const p = req.params as Record<string, string>;
    const given: Weights = {
      trust: weight(p.trust!, 'trust_weight'),
      eco: weight(p.eco!, 'eco_weight'),
      risk: weight(p.risk!, 'risk_weight'),
      cost: weight(p.cost!, 'cost_weight'),
    };
    // OPTIMIS took any weights; ours must sum to 1 (the objective's scale), so they are normalised — and the answer says so.
    const sum = given.trust + given.eco + given.risk + given.cost;
    if (sum <= 0) throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'the weights are all 0: at least one must be positive', [{ field: 'trust_weight', reason: 'all weights are 0' }]);
    const normalised = Math.abs(sum - 1) > 1e-9;
    const weights: Weights = normalised ? { trust: given.trust / sum, eco: given.eco / sum, risk: given.risk / sum, cost: given.cost / sum } : given;
    const record = await ledger.setPolicy(weights, principalOf(req).name);
    if (!normalised) shownText.set(`policy:${record.generation}`, { trust: p.trust!.trim(), eco: p.eco!.trim(), risk: p.risk!.trim(), cost: p.cost!.trim() });
    deps.logger.info('policy changed', { requestId: req.requestId, by: principalOf(req).name, via: `optimis ${req.method}`, weights: record.weights, generation: record.generation, normalised });
    const note = normalised ? `the weights summed to ${sum}; normalised to sum 1\n` : '';
    res.type('text/plain').send(`policy set (generation ${record.generation})\n${note}${policyText(record.weights)}`);
  };
  // The original is a GET (defect D11): a link or an <img> could change the policy. It works only where the operator
  // enabled it (optimis.allowStateChangingGet); POST and PUT do the same for clients that can.
  const getAllowed = (req: Request, _res: Response, next: NextFunction): void => {
    if (!deps.allowStateChangingGet) {
      throw new AdmissionError('AC_ERR_FORBIDDEN', `GET ${req.path} would change state; use POST or PUT, or enable optimis.allowStateChangingGet in the configuration`, [
        { field: 'method', reason: 'state-changing GET disabled' },
      ]);
    }
    next();
  };
  const operate = requires('operate');
  const policyPath = '/ACGateway/data/setPolicy/:trust/:eco/:risk/:cost';
  router.get(policyPath, operate, getAllowed, setPolicy);
  router.post(policyPath, operate, setPolicy);
  router.put(policyPath, operate, setPolicy);

  const setConstraints = async (req: Request, res: Response): Promise<void> => {
    const p = req.params as Record<string, string>;
    const constraints: TrecConstraints = {
      trust: number(p.trust!, 'trustLevel_constraint'),
      risk: number(p.risk!, 'riskLevel_constraint'),
      eco: number(p.eco!, 'ecoValue_constraint'),
      cost: number(p.cost!, 'costInEuros_constraint'),
    };
    // Global, as in OPTIMIS despite the name; per-service bounds live at /api/v1/services/{id}/constraints.
    const record = await ledger.setDefaultConstraints(constraints, principalOf(req).name);
    deps.logger.info('default constraints changed', { requestId: req.requestId, by: principalOf(req).name, via: `optimis ${req.method}`, constraints: record.constraints, generation: record.generation });
    shownText.set(`constraints:${record.generation}`, { trust: p.trust!.trim(), risk: p.risk!.trim(), eco: p.eco!.trim(), cost: p.cost!.trim() });
    res.type('text/plain').send(`default constraints set (generation ${record.generation})\n${constraintsText(record.constraints)}`);
  };
  const constraintsPath = '/ACGateway/data/perServiceConstraints/:trust/:risk/:eco/:cost';
  router.get(constraintsPath, operate, getAllowed, setConstraints);
  router.post(constraintsPath, operate, setConstraints);
  router.put(constraintsPath, operate, setConstraints);

  /**
   * OPTIMIS's getters answer the text the setter was given (`0.0` stays `0.0`, `100000` stays `100000`): kept here per
   * setting generation. A value set otherwise (the JSON API, another process, before a restart) is shown in Java's
   * float notation, as OPTIMIS's own files held it when it wrote them (`0.0`, `7.0`, `0.25`).
   */
  const shownText = new Map<string, Record<string, string>>();
  const shown = async (kind: 'policy' | 'constraints', metric: keyof Weights): Promise<string> => {
    const record = kind === 'policy' ? await ledger.policy() : await ledger.defaultConstraints();
    const value = kind === 'policy' ? (record as { weights: Weights }).weights[metric] : (record as { constraints: TrecConstraints }).constraints[metric];
    return shownText.get(`${kind}:${record.generation}`)?.[metric] ?? javaFloat(value);
  };
  const csv: Record<string, () => Promise<string>> = {
    getTrust_Weight: () => shown('policy', 'trust'),
    getRisk_Weight: () => shown('policy', 'risk'),
    getEco_Weight: () => shown('policy', 'eco'),
    getCost_Weight: () => shown('policy', 'cost'),
    getTrust_Constraint: () => shown('constraints', 'trust'),
    getRisk_Constraint: () => shown('constraints', 'risk'),
    getEco_Constraint: () => shown('constraints', 'eco'),
    getCost_Constraint: () => shown('constraints', 'cost'),
  };
  router.get('/ACGateway/csv/getHostsInfoFile', requiresPrincipal, (_req: Request, res: Response) => {
    res.type('text/plain').send(lastFiles()?.get('hostsInfo.csv') ?? '');
  });
  // The files of the last model this process solved, as OPTIMIS's GAMS working directory held them (empty if none).
  router.get('/ACGateway/csv/getCSV/:file', requiresPrincipal, (req: Request, res: Response) => {
    const file = String(req.params.file);
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(file)) throw new AdmissionError('AC_ERR_INVALID_REQUEST', `file: expected a file name, got '${file.slice(0, 40)}'`, [{ field: 'file', reason: 'not a file name' }]);
    res.type('text/plain').send(lastFiles()?.get(file) ?? '');
  });
  router.get('/ACGateway/csv/:name', requiresPrincipal, async (req: Request, res: Response) => {
    const get = csv[String(req.params.name)];
    if (!get) throw new AdmissionError('AC_ERR_NOT_FOUND', `unknown csv '${req.params.name}'`, [{ field: 'name', reason: `one of ${Object.keys(csv).join(', ')}, getCSV/{file}, getHostsInfoFile` }]);
    res.type('text/plain').send(await get());
  });
  return router;
}

