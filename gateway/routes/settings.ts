/** The operator's settings: TREC objective weights (policy), the global default TREC constraints, per-service bounds. */
import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'winston';
import { z } from 'zod';
import { constraintsSchema, weightsSchema } from '../../config/config';
import type { ConstraintsRecord, Ledger, PolicyRecord, ServiceConstraintsRecord } from '../../ledger/types';
import type { TrecConstraints } from '../../model/types';
import { principalOf, requires } from '../auth';
import { jsonBody } from '../body';
import { sendJson } from '../http';
import { iso } from '../time';
import { expectedGeneration, generationField, notFoundError, parseInput, requireContentType } from './common';

const policyBody = z.strictObject({ weights: weightsSchema, generation: generationField });
const constraintsBody = z.strictObject({ constraints: constraintsSchema, generation: generationField });
const serviceConstraintsBody = z.strictObject({ constraints: constraintsSchema.partial(), generation: generationField });

export const policyJson = (r: PolicyRecord) => ({ weights: r.weights, generation: r.generation, updatedAt: iso(r.updatedAt) });
export const constraintsJson = (r: ConstraintsRecord) => ({ constraints: r.constraints, generation: r.generation, updatedAt: iso(r.updatedAt) });
const serviceConstraintsJson = (r: ServiceConstraintsRecord) => ({ serviceId: r.serviceId, constraints: r.constraints, generation: r.generation, updatedAt: iso(r.updatedAt) });

export function settingsRoutes(deps: { readonly ledger: Ledger; readonly logger: Logger; readonly bodyLimitBytes: number }): Router {
  const { ledger } = deps;
  const router = express.Router();
  const json = jsonBody({ limit: deps.bodyLimitBytes });

  router.get('/api/v1/policy', requires('view'), async (_req: Request, res: Response) => {
    sendJson(res, 200, policyJson(await ledger.policy()));
  });
  router.put('/api/v1/policy', requires('operate'), json, async (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const body = parseInput(policyBody, req.body, 'body');
    const record = await ledger.setPolicy(body.weights, principalOf(req).name, expectedGeneration(req, body));
    deps.logger.info('policy changed', { requestId: req.requestId, by: principalOf(req).name, weights: record.weights, generation: record.generation });
    sendJson(res, 200, policyJson(record));
  });

  router.get('/api/v1/constraints/default', requires('view'), async (_req: Request, res: Response) => {
    sendJson(res, 200, constraintsJson(await ledger.defaultConstraints()));
  });
  router.put('/api/v1/constraints/default', requires('operate'), json, async (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const body = parseInput(constraintsBody, req.body, 'body');
    const record = await ledger.setDefaultConstraints(body.constraints as TrecConstraints, principalOf(req).name, expectedGeneration(req, body));
    deps.logger.info('default constraints changed', { requestId: req.requestId, by: principalOf(req).name, constraints: record.constraints, generation: record.generation });
    sendJson(res, 200, constraintsJson(record));
  });

  router.get('/api/v1/services/:id/constraints', requires('view'), async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const own = await ledger.serviceConstraints(id);
    sendJson(res, 200, { serviceId: id, override: own ? serviceConstraintsJson(own) : null, effective: await ledger.effectiveConstraints(id) });
  });
  router.put('/api/v1/services/:id/constraints', requires('operate'), json, async (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const body = parseInput(serviceConstraintsBody, req.body, 'body');
    const record = await ledger.setServiceConstraints(String(req.params.id), body.constraints, principalOf(req).name, expectedGeneration(req, body));
    deps.logger.info('service constraints changed', { requestId: req.requestId, by: principalOf(req).name, serviceId: record.serviceId, constraints: record.constraints });
    sendJson(res, 200, serviceConstraintsJson(record));
  });
  router.delete('/api/v1/services/:id/constraints', requires('operate'), async (req: Request, res: Response) => {
    const id = String(req.params.id);
    if (!(await ledger.deleteServiceConstraints(id, principalOf(req).name, expectedGeneration(req)))) throw notFoundError('constraints override of service', id);
    res.status(204).end();
  });
  return router;
}
