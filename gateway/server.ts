/**
 * Entry point of `npm start`: configuration (defaults → AC_CONFIG file → environment), the state store,
 * the host-info provider, the HTTP server, and a graceful shutdown on SIGTERM / SIGINT.
 */
import cluster from 'node:cluster';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { describeConfig, isOpenMode, loadConfig, type AppConfig } from '../config/config';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createHostInfoProvider } from '../host-info';
import { OpenNebulaCloud } from '../deploy/opennebula';
import { DeploymentService } from '../service/deployments';
import type { HostInfoConfig } from '../host-info/types';

/** `web=7` entries (config, validated) as a mapping. */
function templateMapping(entries: readonly string[]): Record<string, string> {
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** `NODEJS_VERSION=nodejs` entries (config, validated) as a mapping. */
function capabilityAttributes(entries: readonly string[]): Record<string, string> {
  return Object.fromEntries(entries.map((e) => e.split('=', 2) as [string, string]));
}
import { isAdmissionError } from '../model/errors';
import { redactDatabaseUrl } from '../model/redact';
import { configureGreedyWorkers, shutdownGreedyWorkers, warmUpGreedyWorkers } from '../solvers/greedy';
import { shutdownHighsWorker } from '../solvers/highs';
import { ChargingCatalogue } from '../service/charging';
import { AdmissionError } from '../model/errors';
import { AdmissionService } from '../service/admission-service';
import { createApp } from './app';
import { openLedger } from '../ledger';
import { ManualClock, systemClock, type Clock } from '../service/clock';
import { EventHub } from '../service/event-hub';
import { LifecycleScheduler } from '../service/lifecycle';
import { WebhookDeliverer } from '../service/webhooks';
import { AdmissionIntake } from '../service/intake';
import { createLogger } from './logger';
import { Metrics } from './metrics';

/** OPTIMIS's bundled cost.xml has planFloor 10, i.e. a gain of 100, for services without a price plan. */
const DEFAULT_GAIN = 100;

export function hostInfoConfig(config: AppConfig): HostInfoConfig {
  const h = config.hostInfo;
  // The configured maximum age counts from when the source last vouched for the data; host-info counts it as the cache
  // time plus how long a stale or held-back snapshot may still be served.
  const guard = { maxStaleMs: Math.max(0, h.maxAgeMs - h.cacheMs), maxShrink: h.maxShrink, shrinkConfirmMs: h.shrinkConfirmMs };
  switch (h.source) {
    case 'inventory':
      return { kind: 'inventory', path: h.inventoryPath, ...guard };
    case 'physical-hosts':
      return { kind: 'physical-hosts', url: h.physicalHostsUrl!, timeoutMs: h.timeoutMs, cacheTtlMs: h.cacheMs, ...guard };
    case 'opennebula':
      return { kind: 'opennebula', url: h.openNebulaUrl!, auth: h.openNebulaAuth ?? '', capabilityAttributes: capabilityAttributes(h.openNebulaCapabilities), timeoutMs: h.timeoutMs, cacheTtlMs: h.cacheMs, ...guard };
  }
}

/**
 * The TREC stage's share of a request's deadline: what is left after keeping time to solve (the solver's budget, at most
 * half of the deadline). A TREC service that never answers then costs fallbacks, not the whole request (a 503).
 */
export function trecBudgetMs(requestTimeoutMs: number, solverSeconds: number): number {
  const reserve = Math.min(solverSeconds * 1000 + 250, requestTimeoutMs / 2);
  return Math.max(1, Math.floor(requestTimeoutMs - reserve));
}

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

export async function startServer(config: AppConfig, options: { silent?: boolean } = {}): Promise<RunningServer> {
  const logger = createLogger(config.logLevel, options.silent);
  configureGreedyWorkers({ size: config.solver.greedyWorkers });
  // Started before the first admission, which would otherwise pay for the workers' start-up.
  const warming = warmUpGreedyWorkers().catch((error: unknown) => logger.warn('greedy workers did not start', { error: String(error) }));
  const clock: Clock = config.ledger.clock === 'manual' ? new ManualClock() : systemClock;
  const now = (): number => clock.now();
  const charging = config.ledger.chargingCatalogue !== null ? new ChargingCatalogue(config.ledger.chargingCatalogue, (level, message, meta) => logger.log(level, message, meta)) : undefined;
  if (charging && !charging.current()) throw new AdmissionError('AC_ERR_CONFIG', charging.status().error!.message, charging.status().error!.details);
  charging?.watch();
  // AC_DATABASE_URL: the PostgreSQL ledger shared by every replica; otherwise the embedded SQLite file in dataDir.
  const ledger = await openLedger({
    dataDir: config.dataDir,
    ...(config.databaseUrl !== undefined ? { databaseUrl: config.databaseUrl } : {}),
    clock: now,
    defaultWeights: config.defaultWeights,
    defaultConstraints: config.defaultConstraints,
    endingLeadMs: config.ledger.endingLeadSeconds * 1000,
    retentionMs: config.ledger.retentionDays * 86_400_000,
    decisionRetentionMs: config.ledger.decisionRetentionDays * 86_400_000,
    freeCapacityThresholds: config.ledger.freeCapacityThresholds,
  });
  const hub = new EventHub(ledger);
  const webhooks = new WebhookDeliverer(ledger, {
    clock: now,
    timeoutMs: config.ledger.webhooks.timeoutMs,
    maxAttempts: config.ledger.webhooks.maxAttempts,
    allowsPrivate: (claim) => claim.subscription.seesAll || config.ledger.webhooks.allowPrivateTargets,
    onOutcome: (claim, o) =>
      logger.log(o.ok ? 'debug' : 'warn', o.ok ? 'webhook delivered' : o.deadLettered ? 'webhook dead-lettered' : 'webhook attempt failed', {
        subscriptionId: claim.subscription.id,
        eventId: claim.event.id,
        attempt: claim.attempt,
        ...(o.status !== undefined ? { status: o.status } : {}),
        ...(o.error ? { error: o.error } : {}),
      }),
  });
  const lifecycle = new LifecycleScheduler(ledger, {
    clock: now,
    onEvents: (events) => {
      hub.poke();
      webhooks.poke();
      logger.info('lifecycle', { events: events.map((e) => `${e.type}:${e.subject}`) });
    },
    onError: (error) => logger.warn('lifecycle: advance failed, retrying', { error: error instanceof Error ? error.message : String(error) }),
  });
  const changed = (): void => {
    lifecycle.kick();
    hub.poke();
    webhooks.poke();
  };
  const sourceHostInfo = createHostInfoProvider(hostInfoConfig(config));
  // AC_DEPLOY=opennebula (docs/deployment.md): confirms create VMs through host-info's endpoint and session.
  const deployments =
    config.deploy.target === 'opennebula'
      ? new DeploymentService({
          ledger,
          cloud: new OpenNebulaCloud({ url: config.hostInfo.openNebulaUrl!, auth: config.hostInfo.openNebulaAuth!, timeoutMs: config.deploy.timeoutMs }),
          clock: now,
          templates: templateMapping(config.deploy.templates),
          holder: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
          leaseMs: config.deploy.leaseMs,
          pollMs: config.deploy.pollMs,
          terminateGraceMs: config.deploy.terminateGraceMs,
          log: (level, message, meta) => logger.log(level, message, meta),
          onChange: () => changed(),
        })
      : undefined;
  // Over OpenNebula, eac's own VMs are in the hosts' used figures and in the ledger's bookings: counted once.
  const hostInfo = deployments && sourceHostInfo.name === 'opennebula' ? deployments.excludingOwnVms(sourceHostInfo) : sourceHostInfo;
  const t = config.trec;
  const metrics = new Metrics();
  const intake = new AdmissionIntake(metrics.intakeObserver);
  metrics.watchIntake(intake);
  const service = new AdmissionService(hostInfo, ledger, {
    intake,
    clock: now,
    onBooked: changed,
    earliestFitHorizonHours: config.ledger.earliestFitHorizonHours,
    ...(charging ? { charging } : {}),
    onDecisionLogError: (error) => logger.warn('decision log: write failed', { error: error instanceof Error ? error.message : String(error) }),
    unknownTrec: config.trec.unknownValues,
    solver: config.solver.name,
    timeLimitSeconds: config.solver.timeLimitSeconds,
    mipRelGap: config.solver.mipGap,
    maxManifests: config.server.maxManifests,
    limits: config.limits,
    reservationTtlSeconds: config.reservationTtlSeconds,
    defaultGain: DEFAULT_GAIN,
    providerId: config.providerId,
    // Federation (docs/federation.md): off when no peer is configured.
    federation: { peers: config.peers, maxHops: config.federationMaxHops, log: (level, message, meta) => logger.log(level, message, meta) },
    trec: {
      endpoints: {
        ...(t.trustUrl ? { trust: t.trustUrl } : {}),
        ...(t.riskUrl ? { risk: t.riskUrl } : {}),
        ...(t.ecoUrl ? { eco: t.ecoUrl } : {}),
        ...(t.costUrl ? { cost: t.costUrl } : {}),
        ...(t.hostRiskUrl ? { hostRisk: t.hostRiskUrl } : {}),
        ...(t.hostEcoUrl ? { hostEco: t.hostEcoUrl } : {}),
      },
      fallbacks: t.fallbacks,
      timeoutMs: t.timeoutMs,
      retries: t.retries,
      backoffMs: t.backoffMs,
      breakerThreshold: t.breakerThreshold,
      breakerOpenMs: t.breakerOpenMs,
      budgetMs: trecBudgetMs(config.server.requestTimeoutMs, config.solver.timeLimitSeconds),
    },
  });
  const app = createApp({
    service,
    ledger,
    hub,
    clock: now,
    onChange: changed,
    ...(clock instanceof ManualClock ? { manualClock: clock } : {}),
    hostInfo,
    logger,
    metrics,
    bodyLimitBytes: config.server.bodyLimitBytes,
    requestTimeoutMs: config.server.requestTimeoutMs,
    configView: describeConfig(config),
    trecStatus: () => service.trecStatus(),
    ...(charging ? { chargingStatus: () => charging.status() } : {}),
    ...(deployments ? { deployments } : {}),
    auth: { tokens: config.tokens, optimis: config.optimis, ...(config.peerSecret !== undefined ? { peerSecret: config.peerSecret } : {}) },
  });
  // Before the port is taken: an inventory that cannot be read is a start-up error, not the first admission's 500.
  await hostInfo
    .listHosts()
    .then((hosts) => service.syncHosts(hosts))
    .catch((error: unknown) => {
    if (hostInfo.name === 'inventory') throw error;
    // A remote source that is down at start-up is reported by /ready; the service starts and keeps asking.
    logger.warn('host-info source not reachable at start-up', { source: hostInfo.name, error: error instanceof Error ? error.message : String(error) });
  });
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      const where = `${config.server.host}:${config.server.port}`;
      reject(new Error(error.code === 'EADDRINUSE' ? `port ${where} is already in use` : error.code === 'EACCES' ? `no permission to listen on ${where}` : `cannot listen on ${where}: ${error.message}`));
    };
    server.once('error', failed);
    server.listen(config.server.port, config.server.host, () => {
      server.off('error', failed);
      resolve();
    });
  }).catch(async (error: unknown) => {
    await shutdownHighsWorker();
    await shutdownGreedyWorkers();
    service.close();
    charging?.close();
    await ledger.close();
    throw error;
  });
  await warming;
  lifecycle.start();
  webhooks.start();
  deployments?.start();
  // Every request is bounded in time, including slow clients that never finish sending.
  server.requestTimeout = config.server.requestTimeoutMs + 5000;
  server.headersTimeout = Math.min(60_000, config.server.requestTimeoutMs + 5000);
  // Answers written during a shutdown carry `Connection: close`: otherwise a keep-alive client keeps its socket open
  // after its answer, and the process waits for the client (or for the cut-off below) before it can exit.
  let stopping = false;
  const inFlight = new Set<ServerResponse>();
  server.prependListener('request', (_req, res: ServerResponse) => {
    if (stopping) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  // The host snapshot is refreshed in the background too, so that /ready reports the source's real state (the providers
  // are passive: without admissions nobody would ask) and the first admission after a quiet spell does not wait for it.
  // The ledger's inventory follows it: hosts added, removed or resized emit capacity.changed.
  // With deployments, each poll first compares the VM pool with the deployed VMs (lost ones free their capacity).
  const refresh = setInterval(() => {
    void (deployments ? deployments.reconcile() : Promise.resolve(0))
      .then(() => hostInfo.listHosts())
      .then((hosts) => service.syncHosts(hosts))
      .catch(() => undefined); // failures are kept in the provider's status (/ready)
  }, Math.max(1000, config.hostInfo.cacheMs));
  refresh.unref();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const open = isOpenMode(config);
  logger.info('listening', {
    port,
    host: config.server.host,
    hostInfo: hostInfo.name,
    solver: config.solver.name,
    ledger: ledger.kind,
    ...(config.databaseUrl !== undefined ? { database: redactDatabaseUrl(config.databaseUrl) } : { dataDir: config.dataDir }),
    mode: open ? 'open' : 'tokens',
    ...(open
      ? { warning: `open mode: no tokens are configured, so every caller that can reach ${config.server.host}:${port} acts as the operator 'anonymous' (configure tokens to require them)` }
      : { tokens: config.tokens.length }),
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      logger.info('shutting down: finishing in-flight requests');
      stopping = true;
      clearInterval(refresh);
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // In-flight requests get their own deadline; after it, connections are cut.
        setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, config.server.requestTimeoutMs).unref();
      });
      hub.close();
      await lifecycle.stop();
      await webhooks.stop();
      await deployments?.stop();
      await shutdownHighsWorker();
      await shutdownGreedyWorkers();
      service.close();
      await ledger.close();
      logger.info('stopped');
    })());
  return { server, port, close };
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`eac: ${isAdmissionError(error) ? error.message : String(error)}\n`);
    process.exit(2);
  }
  if (config.server.workers > 1 && cluster.isPrimary) {
    runPrimary(config.server.workers);
    return;
  }
  const running = await startServer(config);
  let signals = 0;
  const stop = (signal: string): void => {
    if (++signals > 1) process.exit(1); // a second signal means "now"
    process.stdout.write(`received ${signal}\n`);
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * Cluster primary: forks the HTTP workers (they share the port; node:cluster balances connections), relays
 * SIGTERM / SIGINT so each drains its requests, and exits when they have all stopped. A worker that dies
 * unexpectedly is replaced.
 */
function runPrimary(workers: number): void {
  let stopping = false;
  const listened = new Set<number>();
  for (let k = 0; k < workers; k++) cluster.fork();
  cluster.on('listening', (worker) => listened.add(worker.id));
  // A worker that cannot start tells why (IPC); the primary prints it once, however many workers fail the same way.
  const whyFailed = new Map<number, string>();
  cluster.on('message', (worker, message: { type?: string; message?: string }) => {
    if (message?.type === 'start-failed' && typeof message.message === 'string') whyFailed.set(worker.id, message.message);
  });
  cluster.on('exit', (worker, code) => {
    if (!stopping && !listened.has(worker.id)) {
      // It never served: replacing it would fail the same way, forever (a busy port, an unreadable inventory).
      process.stderr.write(`eac: failed to start: ${whyFailed.get(worker.id) ?? `worker ${worker.process.pid} exited with ${code} before listening`}\n`);
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exitCode = 1;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
      return;
    }
    if (stopping && Object.keys(cluster.workers ?? {}).length === 0) process.exit(process.exitCode ?? 0);
    if (!stopping && code !== 0) {
      process.stderr.write(`eac: worker ${worker.process.pid} exited with ${code}; starting another\n`);
      cluster.fork();
    }
    if (stopping && Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    if (cluster.isWorker && process.send) {
      process.send({ type: 'start-failed', message }, undefined, {}, () => process.exit(1));
      return;
    }
    process.stderr.write(`eac: failed to start: ${message}\n`);
    process.exit(1);
  });
}
