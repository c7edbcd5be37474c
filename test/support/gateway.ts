/** An in-process gateway for supertest: a real SQLite ledger in a temp dir, an in-memory host list, a manual clock. */
import fs from 'node:fs';
import type { ChargingCatalogue } from '../../service/charging';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import type { Logger } from 'winston';
import type { SolverChoice } from '../../admission-controller/admit';
import { DEFAULT_CONFIG, type OptimisAccessConfig, type PeerConfig, type TokenConfig } from '../../config/config';
import { createApp } from '../../gateway/app';
import { createLogger } from '../../gateway/logger';
import { Metrics } from '../../gateway/metrics';
import type { HostCapacity, HostInfoProvider } from '../../host-info/types';
import { openLedger } from '../../ledger';
import type { AdmissionRecord, Ledger } from '../../ledger/types';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../../model/types';
import { AdmissionService } from '../../service/admission-service';
import { ManualClock } from '../../service/clock';
import { EventHub } from '../../service/event-hub';
import { AdmissionIntake } from '../../service/intake';
import { DeploymentService } from '../../service/deployments';
import type { CloudClient } from '../../deploy/types';

export const MANIFESTS = path.join(__dirname, '..', 'fixtures', 'manifests');
export const readManifest = (rel: string): string => fs.readFileSync(path.join(MANIFESTS, rel), 'utf8');

export interface TestGateway {
  readonly app: Express;
  readonly ledger: Ledger;
  readonly service: AdmissionService;
  readonly hosts: HostCapacity[];
  /** The ledger's clock (starts at the real time; tests move it). */
  readonly clock: ManualClock;
  /** Runs the ledger's due transitions at the clock's time (what the scheduler does on time in the service). */
  advance(): Promise<void>;
  /** Every admission recorded (all owners, all statuses), oldest first. */
  admissions(): Promise<AdmissionRecord[]>;
  /** With `deploy`: the deployment service (its loop is not started: tests kick, reconcile and wait for it). */
  readonly deployments?: DeploymentService;
  close(): Promise<void>;
}

/** `n` hosts of `cpus` CPUs and 64 GB, all free. */
export function fleet(n: number, cpus = 8): HostCapacity[] {
  return Array.from({ length: n }, (_, j) => ({ id: `host-${j + 1}`, cpus, usedCpus: 0, memoryMb: 65536, usedMemoryMb: 0 }));
}

export interface TestGatewayOptions {
  hosts?: HostCapacity[];
  /** AC_CHARGING: a loaded catalogue (service/charging.ts). */
  charging?: ChargingCatalogue;
  solver?: SolverChoice;
  trustFallback?: number;
  bodyLimitBytes?: number;
  hostInfo?: HostInfoProvider;
  /** Tokens (none: open mode). */
  tokens?: readonly TokenConfig[];
  peerSecret?: string;
  optimis?: Partial<OptimisAccessConfig>;
  limits?: { maxComponentsPerManifest: number; maxVmsPerComponent: number };
  maxManifests?: number;
  reservationTtlSeconds?: number;
  unknownTrec?: 'satisfy' | 'violate';
  /** Peers to federate to (with this provider's id). */
  peers?: readonly PeerConfig[];
  providerId?: string;
  /** Where the ledger lives (kept on close: a second gateway on it is a restart); default a fresh temp dir. */
  dataDir?: string;
  /** Default a silent one. */
  logger?: Logger;
  /** LedgerOptions.freeCapacityThresholds (AC_CAPACITY_THRESHOLDS). */
  freeCapacityThresholds?: readonly number[];
  /** AC_DEPLOY: confirms deploy into this cloud (host-info named opennebula is then read without eac's own VMs). */
  deploy?: { readonly cloud: CloudClient; readonly templates?: Readonly<Record<string, string>>; readonly leaseMs?: number; readonly terminateGraceMs?: number; readonly holder?: string };
}

export async function testGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'eac-gw-'));
  const clock = new ManualClock();
  const now = (): number => clock.now();
  const ledger = await openLedger({
    dataDir,
    clock: now,
    defaultWeights: DEFAULT_WEIGHTS,
    defaultConstraints: DEFAULT_CONSTRAINTS,
    ...(options.freeCapacityThresholds ? { freeCapacityThresholds: options.freeCapacityThresholds } : {}),
  });
  const hosts = options.hosts ?? fleet(4);
  const hub = new EventHub(ledger, 50);
  const deployments = options.deploy
    ? new DeploymentService({
        ledger,
        cloud: options.deploy.cloud,
        clock: now,
        templates: options.deploy.templates ?? {},
        holder: options.deploy.holder ?? 'test-process',
        leaseMs: options.deploy.leaseMs ?? 60_000,
        terminateGraceMs: options.deploy.terminateGraceMs ?? 300_000,
        pollMs: 60_000,
        onChange: () => hub.poke(),
      })
    : undefined;
  const sourceHostInfo: HostInfoProvider = options.hostInfo ?? { name: 'test', listHosts: async () => hosts.map((h) => ({ ...h })) };
  const hostInfo = deployments && sourceHostInfo.name === 'opennebula' ? deployments.excludingOwnVms(sourceHostInfo) : sourceHostInfo;
  const metrics = new Metrics(false);
  const intake = new AdmissionIntake(metrics.intakeObserver);
  metrics.watchIntake(intake);
  const service = new AdmissionService(hostInfo, ledger, {
    intake,
    clock: now,
    onBooked: () => hub.poke(),
    solver: options.solver ?? 'greedy',
    timeLimitSeconds: 2,
    mipRelGap: 0,
    maxManifests: options.maxManifests ?? 10,
    ...(options.limits ? { limits: options.limits } : {}),
    reservationTtlSeconds: options.reservationTtlSeconds ?? 900,
    defaultGain: 100,
    providerId: options.providerId ?? 'test',
    ...(options.charging ? { charging: options.charging } : {}),
    ...(options.unknownTrec ? { unknownTrec: options.unknownTrec } : {}),
    ...(options.peers ? { federation: { peers: options.peers, maxHops: 2 } } : {}),
    trec: {
      endpoints: {},
      // The OPTIMIS decision manifests demand MinimumTrustLevel 5: the provider's trust must reach it.
      fallbacks: { trust: options.trustFallback ?? 5, eco: 8, risk: 2, hostRisk: 0.01, hostEco: 'index' },
      timeoutMs: 200,
      retries: 0,
      backoffMs: 10,
    },
  });
  const app = createApp({
    service,
    ledger,
    ...(options.charging ? { chargingStatus: () => options.charging!.status() } : {}),
    ...(deployments ? { deployments } : {}),
    hub,
    clock: now,
    manualClock: clock,
    onChange: () => hub.poke(),
    hostInfo,
    logger: options.logger ?? createLogger('error', true),
    metrics,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    requestTimeoutMs: 10_000,
    configView: { test: true },
    trecStatus: () => service.trecStatus(),
    auth: {
      tokens: options.tokens ?? [],
      optimis: { ...DEFAULT_CONFIG.optimis, ...options.optimis },
      ...(options.peerSecret !== undefined ? { peerSecret: options.peerSecret } : {}),
    },
  });
  return {
    app,
    ledger,
    service,
    hosts,
    clock,
    advance: async () => {
      await ledger.advance(clock.now());
    },
    admissions: async () => {
      const out: AdmissionRecord[] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<Ledger['list']>> = await ledger.list({}, { limit: 1000, ...(cursor ? { cursor } : {}) });
        out.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      return out;
    },
    ...(deployments ? { deployments } : {}),
    close: async () => {
      await deployments?.stop();
      hub.close();
      service.close();
      await ledger.close();
      if (options.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
