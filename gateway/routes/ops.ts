/** Operations: /health (alive), /ready (able to admit), /metrics, /openapi.json, /api/v1/config (operator). */
import express, { type Request, type Response, type Router } from 'express';
import type { HostInfoProvider } from '../../host-info/types';
import type { Ledger } from '../../ledger/types';
import { z } from 'zod';
import type { ManualClock } from '../../service/clock';
import { requires } from '../auth';
import { jsonBody } from '../body';
import { iso, parseInstant } from '../time';
import { parseInput } from './common';
import { dependencyReport, readiness } from '../health';
import { sendJson } from '../http';
import type { Metrics } from '../metrics';
import { openApiDocument } from '../openapi';
import type { CatalogueStatus } from '../../service/charging';

export interface OpsRouteDeps {
  readonly ledger: Ledger;
  readonly hostInfo: HostInfoProvider;
  readonly metrics: Metrics;
  readonly openMode: boolean;
  /** Effective configuration with secrets redacted. */
  readonly configView: unknown;
  readonly trecStatus?: () => unknown;
  /** AC_CLOCK=manual only. */
  readonly manualClock?: ManualClock;
  readonly onClockChange?: () => void;
  /** AC_CHARGING: the catalogue's state (a refused reload is a warning, no catalogue at all a reason). */
  readonly chargingStatus?: () => CatalogueStatus;
}

function withCharging(r: { ready: boolean; reasons: string[]; warnings: string[] }, status: CatalogueStatus | undefined): { ready: boolean; reasons: string[]; warnings: string[]; charging?: CatalogueStatus } {
  if (!status) return r;
  const why = status.error ? `${status.error.message}` : 'not loaded';
  if (!status.loaded) return { ready: false, reasons: [...r.reasons, `charging catalogue ${status.file} could not be loaded: ${why}`], warnings: r.warnings, charging: status };
  if (status.error) return { ...r, warnings: [...r.warnings, `charging catalogue ${status.file}: the new version was refused (the one loaded at ${status.loadedAt} stays in force): ${why}`], charging: status };
  return { ...r, charging: status };
}

const clockBody = z.strictObject({ now: z.string().optional(), advanceSeconds: z.number().finite().optional() });

export function opsRoutes(deps: OpsRouteDeps): Router {
  const router = express.Router();
  // Passive: neither waits for a source or a solve, so a load balancer's probe is answered at once.
  const sources = {
    hostInfo: deps.hostInfo,
    openMode: deps.openMode,
    databaseKind: deps.ledger.kind,
    databaseCheck: async () => {
      await deps.ledger.ping();
      return { kind: deps.ledger.kind };
    },
    ...(deps.trecStatus ? { trecStatus: deps.trecStatus } : {}),
  };
  router.get('/health', async (_req: Request, res: Response) => {
    const report = await dependencyReport(sources);
    const r = withCharging(readiness(report) as { ready: boolean; reasons: string[]; warnings: string[] }, deps.chargingStatus?.());
    sendJson(res, 200, { status: r.ready && r.warnings.length === 0 ? 'ok' : 'degraded', ready: r.ready, reasons: r.reasons, warnings: r.warnings, ...report });
  });
  router.get('/ready', async (_req: Request, res: Response) => {
    const report = await dependencyReport(sources);
    const r = withCharging(readiness(report) as { ready: boolean; reasons: string[]; warnings: string[] }, deps.chargingStatus?.());
    sendJson(res, r.ready ? 200 : 503, { ready: r.ready, reasons: r.reasons, warnings: r.warnings, ...report, ...(r.charging ? { charging: r.charging } : {}) });
  });
  router.get('/metrics', requires('metrics'), async (_req: Request, res: Response) => {
    res.setHeader('Content-Type', deps.metrics.contentType);
    res.send(await deps.metrics.render());
  });
  router.get('/openapi.json', (_req: Request, res: Response) => {
    sendJson(res, 200, openApiDocument);
  });
  if (deps.manualClock) {
    const clock = deps.manualClock;
    // Tests only (AC_CLOCK=manual): the ledger's time moves when told, so lifecycle transitions can be driven exactly.
    router.get('/api/v1/test/clock', (_req: Request, res: Response) => sendJson(res, 200, { now: iso(clock.now()) }));
    router.put('/api/v1/test/clock', requires('operate'), jsonBody({ limit: 4096 }), (req: Request, res: Response) => {
      const body = parseInput(clockBody, req.body, 'body');
      if (body.now !== undefined) clock.set(parseInstant(body.now, 'body.now'));
      if (body.advanceSeconds !== undefined) clock.advance(body.advanceSeconds * 1000);
      deps.onClockChange?.();
      sendJson(res, 200, { now: iso(clock.now()) });
    });
  }
  router.get('/api/v1/config', requires('config'), (_req: Request, res: Response) => {
    sendJson(res, 200, deps.configView);
  });
  return router;
}
