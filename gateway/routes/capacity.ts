/**
 * Capacity views and capacity windows (maintenance, drains, capacity that arrives): GET /api/v1/hosts (now),
 * GET /api/v1/capacity?from&to (per host and in total, over a window), and the operator's capacity windows.
 */
import type { HostCapabilityOverride } from '../../ledger/types';
import { hostSatisfies, parseRequirement, requirementText, satisfies } from '../../model/capabilities';
import { randomUUID } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'winston';
import { z } from 'zod';
import type { HostInfoProvider } from '../../host-info/types';
import type { CapacityView, CapacityWindowRecord, Ledger, WindowConflict } from '../../ledger/types';
import { AdmissionError } from '../../model/errors';
import { principalOf, requires } from '../auth';
import { jsonBody } from '../body';
import { sendJson } from '../http';
import { iso, parseInstant, windowJson } from '../time';
import { notFoundError, parseInput, requireContentType } from './common';

export interface CapacityRouteDeps {
  readonly ledger: Ledger;
  readonly hostInfo: HostInfoProvider;
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  readonly clock: () => number;
  /** Called after a change that moves what is due (the lifecycle scheduler re-plans). */
  readonly onChange?: () => void;
  /** Records a host snapshot in the ledger before the view is read (the service's syncHosts). */
  readonly syncHosts: (hosts: Awaited<ReturnType<HostInfoProvider['listHosts']>>) => Promise<void>;
}

/** `{"nodejs": "20.11.1", "avx512": true, "gpu": null}`: a value or true sets, null removes (ledger/rows.ts checks names and values). */
/** Requirements one host query may filter by (each is a pass over the fleet). */
const MAX_SATISFIES = 32;

/** The ledger names its argument (`capabilities.<name>`); over HTTP that is the body. */
async function asBodyError<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (error) {
    if (error instanceof AdmissionError && error.code === 'AC_ERR_INVALID_REQUEST') {
      const details = error.details.map((d) => ({ field: d.field.replace(/^capabilities/, 'body'), reason: d.reason }));
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${details[0]?.field ?? 'body'}: ${details[0]?.reason ?? error.message}`, details);
    }
    throw error;
  }
}

const capabilitiesBody = z.record(z.string().max(128), z.union([z.string().max(256), z.literal(true), z.null()], { error: 'expected a version or value (string), true, or null to remove' }));

const rangeQuery = z.object({ from: z.string().optional(), to: z.string().optional(), hostId: z.string().optional() });
const finite = z.number({ error: 'expected a number' }).refine(Number.isFinite, { error: 'expected a finite number' });
const windowBody = z.strictObject({
  hosts: z.array(z.string({ error: 'expected a host id' }).min(1, 'expected a host id'), { error: 'expected an array of host ids' }).min(1, 'expected at least one host').max(10_000, 'expected at most 10,000 hosts'),
  start: z.string({ error: 'expected an RFC 3339 date-time' }),
  end: z.string({ error: 'expected an RFC 3339 date-time or null' }).nullable().optional(),
  cpusDelta: finite.optional(),
  memoryMbDelta: finite.optional(),
  reason: z.string({ error: 'expected a string' }).min(1, 'expected a reason').max(500, 'expected at most 500 characters'),
});

export function capacityViewJson(view: CapacityView): Record<string, unknown> {
  return { ...windowJson(view.window), totals: view.totals, hosts: view.hosts };
}

export function windowRecordJson(w: CapacityWindowRecord): Record<string, unknown> {
  return { id: w.id, hosts: w.hosts, ...windowJson(w.window), cpusDelta: w.cpusDelta, memoryMbDelta: w.memoryMbDelta, reason: w.reason, createdAt: iso(w.createdAt), createdBy: w.createdBy };
}

function conflictJson(c: WindowConflict): Record<string, unknown> {
  return { admissionId: c.admissionId, owner: c.owner, serviceId: c.serviceId, ...windowJson(c.window), hostId: c.hostId, missingCpus: c.missingCpus, missingMemoryMb: c.missingMemoryMb };
}

export function capacityRoutes(deps: CapacityRouteDeps): Router {
  const { ledger, hostInfo } = deps;
  const router = express.Router();
  const json = jsonBody({ limit: deps.bodyLimitBytes });

  /** The view over [from, to) (from default now, to default open), with the ledger's inventory up to date. */
  const view = async (req: Request, from?: string, to?: string): Promise<CapacityView> => {
    await deps.syncHosts(await hostInfo.listHosts(req.deadline));
    const start = from !== undefined ? parseInstant(from, 'query.from') : deps.clock();
    const end = to !== undefined ? parseInstant(to, 'query.to') : null;
    if (end !== null && end <= start) throw new AdmissionError('AC_ERR_INVALID_REQUEST', `query.to (${iso(end)}) must be after query.from (${iso(start)})`, [{ field: 'query.to', reason: 'not after from' }]);
    return ledger.capacity({ start, end });
  };

  router.get('/api/v1/hosts', requires('view'), async (req: Request, res: Response) => {
    const satisfiesTexts = ([] as unknown[]).concat(req.query['satisfies'] ?? []);
    if (satisfiesTexts.length > MAX_SATISFIES) {
      throw new AdmissionError('AC_ERR_LIMIT_EXCEEDED', `query.satisfies: at most ${MAX_SATISFIES} requirements`, [{ field: 'query.satisfies', reason: `${satisfiesTexts.length} given, at most ${MAX_SATISFIES}` }]);
    }
    const requirements = satisfiesTexts.map((text, k) => {
      if (typeof text !== 'string') throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'query.satisfies: expected text such as nodejs@>=18 <21, avx512 or !gpu', [{ field: `query.satisfies[${k}]`, reason: 'not a string' }]);
      try {
        return parseRequirement(text);
      } catch (e) {
        throw new AdmissionError('AC_ERR_INVALID_REQUEST', `query.satisfies: ${(e as Error).message}`, [{ field: `query.satisfies[${k}]`, reason: (e as Error).message }]);
      }
    });
    const all = await hostInfo.listHosts(req.deadline);
    await deps.syncHosts(all);
    // ?satisfies=…: only the hosts that meet every requirement, and how many hosts each requirement leaves out.
    const hosts = requirements.length > 0 ? all.filter((h) => hostSatisfies(h, requirements)) : all;
    const filter =
      requirements.length > 0
        ? {
            satisfies: requirements.map(requirementText),
            qualifying: hosts.length,
            of: all.length,
            notSatisfied: requirements.map((r) => ({ requirement: requirementText(r), hosts: all.filter((h) => !satisfies(h.capabilities?.[r.name], r)).length })),
          }
        : {};
    const now = deps.clock();
    const capacity = await ledger.capacity({ start: now, end: now + 1 });
    const byId = new Map(capacity.hosts.map((h) => [h.hostId, h]));
    sendJson(res, 200, {
      source: hostInfo.name,
      at: iso(now),
      ...filter,
      totals: capacity.totals,
      hosts: hosts.map((h) => {
        const v = byId.get(h.id);
        return {
          ...h,
          generation: v?.generation ?? 0,
          reservedCpus: v?.reservedCpus ?? 0,
          windowCpusDelta: v?.windowCpusDelta ?? 0,
          freeCpus: v?.freeCpus ?? Math.max(0, h.cpus - h.usedCpus),
          ...(h.memoryMb !== undefined
            ? { reservedMemoryMb: v?.reservedMemoryMb ?? 0, windowMemoryMbDelta: v?.windowMemoryMbDelta ?? 0, freeMemoryMb: v?.freeMemoryMb ?? Math.max(0, h.memoryMb - (h.usedMemoryMb ?? 0)) }
            : {}),
        };
      }),
    });
  });

  router.get('/api/v1/capacity', requires('view'), async (req: Request, res: Response) => {
    const q = parseInput(rangeQuery, req.query, 'query');
    sendJson(res, 200, capacityViewJson(await view(req, q.from, q.to)));
  });

  router.post('/api/v1/capacity/windows', requires('operate'), json, async (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const body = parseInput(windowBody, req.body, 'body');
    const start = parseInstant(body.start, 'body.start');
    const end = body.end === undefined || body.end === null ? null : parseInstant(body.end, 'body.end');
    if (end !== null && end <= start) throw new AdmissionError('AC_ERR_INVALID_REQUEST', `body.end (${iso(end)}) must be after body.start (${iso(start)})`, [{ field: 'body.end', reason: 'not after the start' }]);
    await deps.syncHosts(await hostInfo.listHosts(req.deadline));
    const actor = principalOf(req).name;
    const { window, conflicts } = await ledger.addWindow({
      id: `win-${randomUUID()}`,
      hosts: body.hosts,
      window: { start, end },
      cpusDelta: body.cpusDelta ?? 0,
      memoryMbDelta: body.memoryMbDelta ?? 0,
      reason: body.reason,
      actor,
    });
    deps.onChange?.();
    deps.logger.info('capacity window created', { requestId: req.requestId, windowId: window.id, hosts: window.hosts.length, by: actor, conflicts: conflicts.length });
    res.setHeader('Location', `/api/v1/capacity/windows/${window.id}`);
    sendJson(res, 201, { window: windowRecordJson(window), conflicts: conflicts.map(conflictJson) });
  });

  router.get('/api/v1/capacity/windows', requires('view'), async (req: Request, res: Response) => {
    const q = parseInput(rangeQuery, req.query, 'query');
    const windows = await ledger.listWindows({
      ...(q.from !== undefined ? { from: parseInstant(q.from, 'query.from') } : {}),
      ...(q.to !== undefined ? { to: parseInstant(q.to, 'query.to') } : {}),
      ...(q.hostId !== undefined ? { hostId: q.hostId } : {}),
    });
    sendJson(res, 200, { windows: windows.map(windowRecordJson) });
  });

  router.get('/api/v1/capacity/windows/:id', requires('view'), async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const w = (await ledger.listWindows()).find((x) => x.id === id);
    if (!w) throw notFoundError('capacity window', id);
    sendJson(res, 200, windowRecordJson(w));
  });

  router.delete('/api/v1/capacity/windows/:id', requires('operate'), async (req: Request, res: Response) => {
    const id = String(req.params.id);
    if (!(await ledger.removeWindow(id, principalOf(req).name))) throw notFoundError('capacity window', id);
    deps.onChange?.();
    deps.logger.info('capacity window removed', { requestId: req.requestId, windowId: id, by: principalOf(req).name });
    res.status(204).end();
  });

  // Capability overrides (operator): merged over host-info's by every admission and by GET /api/v1/hosts.
  const capabilityAnswer = async (req: Request, hostId: string, override: HostCapabilityOverride): Promise<Record<string, unknown>> => {
    const host = (await hostInfo.listHosts(req.deadline)).find((h) => h.id === hostId);
    return { hostId, override: { set: override.set, removed: override.removed, generation: override.generation, updatedAt: iso(override.updatedAt) }, inInventory: host !== undefined, capabilities: host?.capabilities ?? {} };
  };

  router.put('/api/v1/hosts/:id/capabilities', requires('operate'), json, async (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const hostId = String(req.params.id);
    const body = parseInput(capabilitiesBody, req.body, 'body');
    const override = await asBodyError(ledger.setHostCapabilities(hostId, body, principalOf(req).name));
    deps.onChange?.();
    deps.logger.info('host capabilities set', { requestId: req.requestId, hostId, by: principalOf(req).name, names: Object.keys(body) });
    sendJson(res, 200, await capabilityAnswer(req, hostId, override));
  });

  router.delete('/api/v1/hosts/:id/capabilities/:name', requires('operate'), async (req: Request, res: Response) => {
    const hostId = String(req.params.id);
    const name = String(req.params.name);
    const override = await ledger.setHostCapabilities(hostId, { [name]: null }, principalOf(req).name);
    deps.onChange?.();
    deps.logger.info('host capability removed', { requestId: req.requestId, hostId, name, by: principalOf(req).name });
    sendJson(res, 200, await capabilityAnswer(req, hostId, override));
  });

  return router;
}
