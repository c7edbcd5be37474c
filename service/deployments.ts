/**
 * Deployment of confirmed admissions (AC_DEPLOY, docs/deployment.md): confirm records the plan in the same ledger
 * transaction, a loop runs the Deployer (deploy/) when work is due, each host-info poll reconciles the VM pool.
 */
import { deploymentPlan } from '../deploy/plan';
import { Deployer, type DeployerOptions } from '../deploy/deployer';
import type { AdmissionRecord, DeploymentRecord } from '../ledger/types';
import { AdmissionError } from '../model/errors';
import type { HostInfoProvider, HostSnapshot } from '../host-info/types';

export interface DeploymentServiceOptions extends DeployerOptions {
  /** How often due work is looked for (other processes' confirms, lapsed leases, ends). */
  readonly pollMs: number;
}

export class DeploymentService {
  readonly target: string;
  private readonly deployer: Deployer;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private reconciling: Promise<number> | undefined;

  constructor(private readonly o: DeploymentServiceOptions) {
    this.target = o.cloud.name;
    this.deployer = new Deployer(o);
  }

  /**
   * Confirms the admission with its deployment plan in one ledger transaction and starts deploying when its start has
   * come. An admission whose stored answer cannot say what to deploy is not confirmed (AC_ERR_CONFLICT, the reason).
   */
  async confirm(record: AdmissionRecord, actor: string, expectedGeneration?: number): Promise<AdmissionRecord> {
    const planned = deploymentPlan(record, this.target);
    if ('problem' in planned) {
      throw new AdmissionError('AC_ERR_CONFLICT', `admission '${record.id}' cannot be deployed (AC_DEPLOY=${this.target}): ${planned.problem}`, [{ field: 'id', reason: planned.problem }]);
    }
    const confirmed = await this.o.ledger.confirm(record.id, actor, expectedGeneration, { deployment: planned.plan });
    this.kick();
    return confirmed;
  }

  /** After a release: its VMs go now, not at the next poll. */
  released(admissionId: string): void {
    void this.deployer.run(admissionId);
  }

  retry(admissionId: string, actor: string): Promise<DeploymentRecord> {
    return this.deployer.retry(admissionId, actor);
  }

  /** Host-info polled: compare the VM pool with the deployed slots (lost VMs free their capacity). Never throws. */
  async reconcile(): Promise<number> {
    this.reconciling ??= this.deployer.reconcile().finally(() => (this.reconciling = undefined));
    try {
      return await this.reconciling;
    } catch (error) {
      this.o.log?.('warn', 'could not compare the VM pool with the deployments', { error: error instanceof Error ? error.message : String(error) });
      return 0;
    }
  }

  /**
   * host-info over OpenNebula with eac's own running VMs taken out of the hosts' used figures: OpenNebula counts them
   * as used, and the ledger books them already (each booked CPU is counted once). Snapshots keep their identity per
   * (snapshot, VM pool read), as HostInfoProvider promises.
   */
  excludingOwnVms(provider: HostInfoProvider): HostInfoProvider {
    const adjusted = new WeakMap<HostSnapshot, { own: unknown; snapshot: HostSnapshot }>();
    const original = new WeakMap<HostSnapshot, HostSnapshot>();
    const adjust = (hosts: HostSnapshot): HostSnapshot => {
      const info = provider.snapshotInfo?.(hosts);
      const own = info ? this.deployer.ownUsage(Date.parse(info.readAt)) : undefined;
      if (!own || own.size === 0) return hosts;
      const known = adjusted.get(hosts);
      if (known && known.own === own) return known.snapshot;
      const snapshot: HostSnapshot = Object.freeze(
        hosts.map((h) => {
          const mine = own.get(h.id);
          if (!mine) return h;
          return Object.freeze({
            ...h,
            usedCpus: Math.max(0, h.usedCpus - mine.cpus),
            ...(h.usedMemoryMb !== undefined ? { usedMemoryMb: Math.max(0, h.usedMemoryMb - mine.memoryMb) } : {}),
          });
        }),
      );
      adjusted.set(hosts, { own, snapshot });
      original.set(snapshot, hosts);
      return snapshot;
    };
    return {
      name: provider.name,
      listHosts: async (signal) => adjust(await provider.listHosts(signal)),
      ...(provider.status ? { status: () => provider.status!() } : {}),
      ...(provider.snapshotInfo ? { snapshotInfo: (snapshot: HostSnapshot) => provider.snapshotInfo!(original.get(snapshot) ?? snapshot) } : {}),
    };
  }

  /** Looks for due work now (or right after the look in progress). */
  kick(): void {
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.deployer
      .tick()
      .catch((error: unknown) => this.o.log?.('warn', 'deployment loop: looking for due work failed', { error: error instanceof Error ? error.message : String(error) }))
      .finally(() => {
        this.ticking = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  start(): void {
    this.kick();
    this.timer = setInterval(() => this.kick(), this.o.pollMs);
    this.timer.unref();
  }

  /** Waits for what is in progress (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.ticking || this.reconciling) await Promise.all([this.ticking, this.reconciling?.catch(() => 0)]);
    await this.deployer.idle();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }
}
