/**
 * The express application: request context, cross-site refusal, authentication and federation inbound, then the route
 * modules (admissions, capacity, settings, events, operations, the console's static files, the OPTIMIS surface). HTTP
 * only: routes validate input (zod), call the AdmissionService or the ledger, and never contain admission logic.
 */
import { withCapabilityOverrides } from '../service/host-capabilities';
import type { DeploymentService } from '../service/deployments';
import express, { type Request } from 'express';
import type { Logger } from 'winston';
import type { HostInfoProvider } from '../host-info/types';
import type { Ledger } from '../ledger/types';
import type { AdmissionService } from '../service/admission-service';
import type { ManualClock } from '../service/clock';
import type { EventHub } from '../service/event-hub';
import { authenticate, refuseCrossSite, type AuthOptions } from './auth';
import { federationInbound } from './federation-inbound';
import { errorHandler, notFound, requestContext } from './http';
import type { Metrics } from './metrics';
import { admissionRoutes } from './routes/admissions';
import { capacityRoutes } from './routes/capacity';
import { consoleRoutes } from './routes/console';
import { eventRoutes } from './routes/events';
import { logRoutes } from './routes/logs';
import { optimisRoutes } from './routes/optimis';
import { opsRoutes } from './routes/ops';
import { billRoutes } from './routes/bills';
import type { CatalogueStatus } from '../service/charging';
import { settingsRoutes } from './routes/settings';

export { parseInput, XML_TYPES } from './routes/common';

export interface AppDeps {
  readonly service: AdmissionService;
  readonly ledger: Ledger;
  readonly hostInfo: HostInfoProvider;
  readonly hub: EventHub;
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
  /** The ledger's clock (epoch ms). */
  readonly clock: () => number;
  /** Something this process changed moves what is due next (scheduler) or what streams should see (hub). */
  readonly onChange?: () => void;
  /** Most SSE streams per process. */
  readonly maxEventStreams?: number;
  /** Present with AC_CLOCK=manual: PUT /api/v1/test/clock moves it (tests only). */
  readonly manualClock?: ManualClock;
  /** AC_CHARGING: the catalogue's state for /ready and /health. */
  readonly chargingStatus?: () => CatalogueStatus;
  /** AC_DEPLOY: confirms deploy VMs (service/deployments.ts). */
  readonly deployments?: DeploymentService;
}

/** The OPTIMIS originals that change state on GET (defect D11): allowed only where the operator enabled them. */
export function isOptimisStateChangingGet(req: Request): boolean {
  return req.method === 'GET' && /^\/ACGateway\/data\/(setPolicy|perServiceConstraints)\//.test(req.path);
}

export function createApp(deps: AppDeps): express.Express {
  const { service, ledger, metrics } = deps;
  // GET /api/v1/hosts shows what admissions place against: host-info with the operators' capability overrides.
  const hostInfo = withCapabilityOverrides(deps.hostInfo, ledger);
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
  const onChange = (): void => {
    deps.onChange?.();
    deps.hub.poke();
  };
  app.use(admissionRoutes({ service, ledger, logger: deps.logger, metrics, bodyLimitBytes: limit, clock: deps.clock, onChange, ...(deps.deployments ? { deployments: deps.deployments } : {}) }));
  app.use(capacityRoutes({ ledger, hostInfo, logger: deps.logger, bodyLimitBytes: limit, clock: deps.clock, onChange, syncHosts: (hosts) => service.syncHosts(hosts) }));
  app.use(settingsRoutes({ ledger, logger: deps.logger, bodyLimitBytes: limit }));
  app.use(logRoutes({ ledger }));
  app.use(billRoutes({ ledger }));
  app.use(eventRoutes({ ledger, hub: deps.hub, logger: deps.logger, bodyLimitBytes: limit, maxStreams: deps.maxEventStreams ?? 200 }));
  app.use(
    opsRoutes({
      ledger,
      hostInfo,
      metrics,
      openMode: deps.auth.tokens.length === 0,
      configView: deps.configView,
      ...(deps.manualClock ? { manualClock: deps.manualClock, onClockChange: onChange } : {}),
      ...(deps.trecStatus ? { trecStatus: deps.trecStatus } : {}),
      ...(deps.chargingStatus ? { chargingStatus: deps.chargingStatus } : {}),
    }),
  );
  // The operator's console: static page and script; its data comes from the API above with the user's token.
  app.use(consoleRoutes());
  app.use(optimisRoutes({ service, ledger, metrics, logger: deps.logger, bodyLimitBytes: limit, allowStateChangingGet: deps.auth.optimis.allowStateChangingGet }));

  app.use((req: Request) => notFound(req));
  app.use(errorHandler(deps.logger));
  return app;
}
