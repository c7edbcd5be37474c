/**
 * Deploys confirmed admissions into the cloud exactly where the offer placed them, all or nothing per admission, and
 * terminates their VMs when they end; notices VMs the cloud lost. State lives in the ledger's deployment records only.
 */
import { AdmissionError, isAdmissionError } from '../model/errors';
import type { AdmissionRecord, DeploymentRecord, DeploymentUpdate, DeploymentVm, EventType, Ledger } from '../ledger/types';
import type { CloudClient, CloudVm, VmTemplate } from './types';

/*
 * Decisions:
 * - Every step is recorded before the next one (planned → creating → created → deployed), and `creating` is recorded
 *   *before* the cloud is asked: a process that dies between the two leaves `creating`, and whoever resumes looks the VM
 *   up by its EAC_SLOT tag before creating one. So a retry never creates a second VM for a slot.
 * - VMs are created on hold and then deployed to the offer's host with enforce on: OpenNebula's own scheduler never
 *   places them, and oned refuses a host that lacks the capacity rather than overcommitting it.
 * - A failure rolls back: every VM of the admission created so far (and any found by its tag) is terminated, the
 *   deployment is `deploy_failed` with the cloud's message; the admission keeps its capacity (retry, or release).
 * - One process works on a deployment at a time: a lease in the record (renewed by each step) taken compare-and-set on
 *   its generation; a step that finds the generation moved stops (another process took over after the lease lapsed).
 * - A lost VM (gone from the VM pool, or in a *_FAILURE state) frees its capacity in the ledger; it is not recreated
 *   (an operator decides), and is terminated with the rest at the admission's end.
 * - An admission's end shuts its VMs down as an operator would: `terminate` (the guest is asked to shut down), and
 *   `terminate-hard` for a VM still there after the grace, or in a state where OpenNebula refuses a graceful shutdown (a
 *   failed one). A rollback removes VMs hard at once: they never served anyone, and the failure is reported promptly.
 */

export interface DeployerOptions {
  readonly ledger: Ledger;
  readonly cloud: CloudClient;
  readonly clock: () => number;
  /** Component id → template id or name; `*` for every other component. Unmapped components use EAC_COMPONENT. */
  readonly templates: Readonly<Record<string, string>>;
  /** This process (lease holder). */
  readonly holder: string;
  /** How long a claim holds without a step. */
  readonly leaseMs: number;
  /** How long a VM asked to shut down has to be gone before it is terminated hard (AC_DEPLOY_TERMINATE_GRACE_MS). */
  readonly terminateGraceMs: number;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, meta: Record<string, unknown>) => void;
  /** Called after each recorded change (streams, scheduler). */
  readonly onChange?: () => void;
}

/** The admission statuses whose VMs should run. */
const RUNNING_STATUSES = new Set(['confirmed', 'active']);
const LIVE_STATUSES = ['scheduled', 'deploying', 'deployed', 'deploy_failed', 'terminating'] as const;

/** A step found the record changed by someone else: stop working on it. */
class Superseded extends Error {}

export class Deployer {
  private readonly running = new Map<string, Promise<void>>();
  /** Per host name: what eac's deployed, placed VMs take there, by when the VM pool read that saw them had completed (newest last, a few kept). */
  private own: { readonly at: number; readonly byHost: ReadonlyMap<string, { cpus: number; memoryMb: number }> }[] = [];

  constructor(private readonly o: DeployerOptions) {}

  /**
   * Runs what is due: scheduled deployments whose start has come, deploying ones whose lease lapsed (a process died),
   * and the VMs of admissions that closed. Resolves when every started piece of work has finished.
   */
  async tick(): Promise<void> {
    const now = this.o.clock();
    const [due, closing] = await Promise.all([
      this.o.ledger.deployments({ statuses: ['scheduled', 'deploying', 'terminating'], dueBy: now, limit: 100 }),
      this.o.ledger.deployments({ statuses: LIVE_STATUSES, admissionClosed: true, limit: 100 }),
    ]);
    await Promise.all([...new Set([...due, ...closing].map((d) => d.admissionId))].map((id) => this.run(id)));
  }

  /** Deploys or terminates one admission as its state requires (one at a time per admission in this process). */
  run(admissionId: string): Promise<void> {
    const current = this.running.get(admissionId);
    if (current) return current;
    const p = this.step(admissionId)
      .catch((error: unknown) => {
        if (error instanceof Superseded) return;
        this.o.log?.('error', 'deployment step failed', { admissionId, error: error instanceof Error ? error.message : String(error) });
      })
      .finally(() => this.running.delete(admissionId));
    this.running.set(admissionId, p);
    return p;
  }

  /** Resolves when nothing is in progress in this process (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /** deploy_failed → scheduled now (the retry runs at once). AC_ERR_CONFLICT when it is not deploy_failed. */
  async retry(admissionId: string, actor: string): Promise<DeploymentRecord> {
    const d = await this.o.ledger.deployment(admissionId);
    if (!d) throw new AdmissionError('AC_ERR_NOT_FOUND', `admission '${admissionId}' has no deployment`, [{ field: 'id', reason: 'no deployment' }]);
    if (d.status !== 'deploy_failed') {
      throw new AdmissionError('AC_ERR_CONFLICT', `the deployment of '${admissionId}' is ${d.status}: only a failed one is retried`, [{ field: 'status', reason: d.status }]);
    }
    const after = await this.o.ledger.updateDeployment(admissionId, d.generation, { status: 'scheduled', vms: d.vms, attempts: d.attempts, notBefore: this.o.clock(), lease: null }, []);
    this.o.log?.('info', 'deployment retry scheduled', { admissionId, by: actor });
    void this.run(admissionId);
    return after;
  }

  private async step(admissionId: string): Promise<void> {
    const d = await this.o.ledger.deployment(admissionId);
    if (!d) return;
    const now = this.o.clock();
    if (d.lease && d.lease.until > now && d.lease.holder !== this.o.holder) return;
    const admission = await this.o.ledger.get(admissionId);
    const shouldRun = admission !== undefined && RUNNING_STATUSES.has(admission.status);
    if (!shouldRun) {
      if (d.status !== 'terminated') await this.terminate(d);
      return;
    }
    if (d.status === 'scheduled' || d.status === 'deploying') {
      if (d.notBefore > now) return;
      await this.deploy(d, admission);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Recording

  /** Writes the record (compare-and-set) with a renewed lease; Superseded when someone else moved it. */
  private async save(d: DeploymentRecord, change: Partial<DeploymentUpdate> & { readonly vms?: readonly DeploymentVm[] }, events: readonly { type: EventType; data: Record<string, unknown> }[] = []): Promise<DeploymentRecord> {
    const keepLease = change.lease === undefined;
    try {
      const after = await this.o.ledger.updateDeployment(
        d.admissionId,
        d.generation,
        {
          status: change.status ?? d.status,
          vms: change.vms ?? d.vms,
          attempts: change.attempts ?? d.attempts,
          ...(change.error !== undefined ? { error: change.error } : {}),
          lease: keepLease ? { holder: this.o.holder, until: this.o.clock() + this.o.leaseMs } : change.lease!,
          ...(change.notBefore !== undefined ? { notBefore: change.notBefore } : {}),
        },
        events,
      );
      if (events.length > 0 || change.status !== undefined) this.o.onChange?.();
      return after;
    } catch (error) {
      if (isAdmissionError(error) && error.code === 'AC_ERR_CONFLICT') throw new Superseded();
      throw error;
    }
  }

  private withVm(d: DeploymentRecord, slot: string, change: Partial<DeploymentVm>): DeploymentVm[] {
    return d.vms.map((v) => (v.slot === slot ? dropUndefined({ ...v, ...change }) : v));
  }

  // -------------------------------------------------------------------------------------------
  // Deploying

  private async deploy(start: DeploymentRecord, admission: AdmissionRecord): Promise<void> {
    const resumed = start.status === 'deploying';
    const attempt = resumed ? Math.max(1, start.attempts) : start.attempts + 1;
    let d = await this.save(start, { status: 'deploying', attempts: attempt, error: null }, resumed ? [] : [{ type: 'deployment.started', data: { attempt, vms: start.vms.length } }]);
    this.o.log?.('info', resumed ? 'deployment resumed' : 'deployment started', { admissionId: d.admissionId, attempt, vms: d.vms.length });
    let failedSlot: string | undefined;
    try {
      // Everything that can be checked before a VM exists is checked first.
      const [hostIds, templates, existing] = await Promise.all([this.o.cloud.hostIds(), this.o.cloud.templates(), this.o.cloud.vms()]);
      const missingHost = d.vms.find((v) => !hostIds.has(v.hostId));
      if (missingHost) throw new PlanError(`host '${missingHost.hostId}' of slot ${missingHost.slot} is not an OpenNebula host (no HOST with that NAME)`);
      const templateOf = new Map<string, number>();
      for (const componentId of new Set(d.vms.map((v) => v.componentId))) templateOf.set(componentId, resolveTemplate(componentId, this.o.templates, templates));
      const byTag = new Map(existing.filter((v) => v.slotTag !== undefined).map((v) => [v.slotTag!, v]));

      for (const slot of d.vms.map((v) => v.slot)) {
        failedSlot = slot;
        let vm = d.vms.find((v) => v.slot === slot)!;
        if (vm.state === 'deployed' || vm.state === 'lost') continue;
        const templateId = templateOf.get(vm.componentId)!;
        if (vm.state === 'planned' || vm.state === 'removed' || vm.state === 'terminated') {
          d = await this.save(d, { vms: this.withVm(d, slot, { state: 'creating', templateId, vmId: undefined, error: undefined }) });
          vm = d.vms.find((v) => v.slot === slot)!;
        }
        if (vm.state === 'creating') {
          // The intent was recorded: a VM with this slot's tag may exist from an attempt that died before recording it.
          const found = byTag.get(tagOf(d.admissionId, slot));
          const vmId = found ? found.id : await this.o.cloud.create({ templateId, name: `${d.admissionId}-${slot}`, cpus: vm.cpus, ...(vm.memoryMb > 0 ? { memoryMb: vm.memoryMb } : {}), tags: { EAC_ADMISSION: d.admissionId, EAC_SLOT: tagOf(d.admissionId, slot) } });
          const placed = found !== undefined && !found.unplaced && found.hostName === vm.hostId;
          d = await this.save(d, { vms: this.withVm(d, slot, { state: placed ? 'deployed' : 'created', vmId, templateId }) });
          vm = d.vms.find((v) => v.slot === slot)!;
          if (found) this.o.log?.('info', 'adopted a VM created by an earlier attempt', { admissionId: d.admissionId, slot, vmId });
        }
        if (vm.state === 'created') {
          const current = existing.find((v) => v.id === vm.vmId);
          if (!(current && !current.unplaced && current.hostName === vm.hostId)) await this.o.cloud.deploy(vm.vmId!, hostIds.get(vm.hostId)!);
          d = await this.save(d, { vms: this.withVm(d, slot, { state: 'deployed' }) });
        }
        // The admission may have been released meanwhile: stop creating, its end terminates what exists.
        const latest = await this.o.ledger.get(d.admissionId);
        if (!latest || !RUNNING_STATUSES.has(latest.status)) return this.terminate(await this.o.ledger.deployment(d.admissionId) ?? d);
      }
      failedSlot = undefined;
      d = await this.save(d, { status: 'deployed', error: null, lease: null }, [
        { type: 'deployment.succeeded', data: { attempt, vms: d.vms.filter((v) => v.state === 'deployed').map((v) => ({ slot: v.slot, vmId: v.vmId, hostId: v.hostId })) } },
      ]);
      this.o.log?.('info', 'deployment succeeded', { admissionId: d.admissionId, attempt, vms: d.vms.length, serviceId: admission.serviceId });
    } catch (error) {
      if (error instanceof Superseded) throw error;
      // A step that stalled past its lease may find another process at work: then that one owns the VMs, not this.
      const latest = await this.o.ledger.deployment(d.admissionId);
      if (!latest || latest.generation !== d.generation) throw new Superseded();
      const message = error instanceof Error ? error.message : String(error);
      const failed = failedSlot && !(error instanceof PlanError) ? d.vms.find((v) => v.slot === failedSlot) : undefined;
      const rolled = await this.rollBack(latest);
      await this.save(rolled.record, { status: 'deploy_failed', error: message, lease: null }, [
        {
          type: 'deployment.failed',
          data: { attempt, error: message, ...(failed ? { slot: failed.slot, hostId: failed.hostId } : {}), removed: rolled.removed, ...(rolled.left.length > 0 ? { notRemoved: rolled.left } : {}) },
        },
      ]);
      this.o.log?.('warn', 'deployment failed and was rolled back', { admissionId: d.admissionId, attempt, error: message, removed: rolled.removed.length, notRemoved: rolled.left.length });
    }
  }

  /** Terminates every VM of the deployment that exists (recorded, or found by its tag); what could not be is left as it is. */
  private async rollBack(d: DeploymentRecord): Promise<{ record: DeploymentRecord; removed: number[]; left: { slot: string; vmId: number; error: string }[] }> {
    const removed: number[] = [];
    const left: { slot: string; vmId: number; error: string }[] = [];
    let record = d;
    const byTag = await this.taggedVms(d);
    for (const vm of d.vms) {
      const vmId = vm.vmId ?? byTag.get(tagOf(d.admissionId, vm.slot))?.id;
      if (vm.state === 'planned' || (vmId === undefined && vm.state === 'creating')) {
        if (vm.state === 'creating') record = await this.save(record, { vms: this.withVm(record, vm.slot, { state: 'planned' }) });
        continue;
      }
      if (vmId === undefined || vm.state === 'removed' || vm.state === 'terminated') continue;
      try {
        if ((await this.o.cloud.terminate(vmId, 'hard')) === 'wrong-state') throw new Error(`OpenNebula refuses terminate-hard in the VM's state`);
        removed.push(vmId);
        record = await this.save(record, { vms: this.withVm(record, vm.slot, { state: 'removed', vmId }) });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        left.push({ slot: vm.slot, vmId, error: message });
        record = await this.save(record, { vms: this.withVm(record, vm.slot, { vmId, error: `could not be removed: ${message}` }) });
      }
    }
    return { record, removed, left };
  }

  /** eac's VMs of this admission in the cloud, by tag (empty when the pool cannot be read: recorded ids still serve). */
  private async taggedVms(d: DeploymentRecord): Promise<ReadonlyMap<string, CloudVm>> {
    return (await this.poolOf(d)) ?? new Map();
  }

  /** eac's VMs of this admission in the cloud, by tag; undefined when the pool cannot be read. */
  private async poolOf(d: DeploymentRecord): Promise<ReadonlyMap<string, CloudVm> | undefined> {
    try {
      const prefix = `${d.admissionId}/`;
      return new Map((await this.o.cloud.vms()).filter((v) => v.slotTag?.startsWith(prefix)).map((v) => [v.slotTag!, v]));
    } catch {
      return undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Ending

  /**
   * Ends the admission's VMs: each is asked to shut down (`terminate`), then looked for in the pool: gone → terminated;
   * still there past the grace → terminated hard. Stays `terminating` (looked at again at each tick) while a VM is
   * shutting down or a call failed; `terminated`, with one event, once every VM is gone.
   */
  private async terminate(start: DeploymentRecord): Promise<void> {
    // notBefore = now: a termination interrupted by a crash is due at once for whoever resumes it.
    let d = await this.save(start, { status: 'terminating', notBefore: Math.min(start.notBefore, this.o.clock()) });
    const errors: string[] = [];
    let waiting = 0;
    // Two passes at most: the first asks; a VM that was not running (on hold, powered off) is gone at once, which the
    // second pass sees, so that only VMs really shutting down keep the deployment terminating.
    for (let pass = 0; pass < 2; pass++) {
      const pool = await this.poolOf(d);
      const now = this.o.clock();
      let asked = 0;
      errors.length = 0;
      waiting = 0;
      for (const vm of d.vms) {
        const tag = tagOf(d.admissionId, vm.slot);
        const vmId = vm.vmId ?? pool?.get(tag)?.id;
        if (vmId === undefined || vm.state === 'removed' || vm.state === 'terminated') {
          if (vm.state === 'creating' || vm.state === 'planned') d = await this.save(d, { vms: this.withVm(d, vm.slot, { state: 'terminated' }) });
          continue;
        }
        try {
          if (vm.state === 'terminating') {
            const live = pool?.get(tag);
            if (pool && !live) {
              d = await this.save(d, { vms: this.withVm(d, vm.slot, { state: 'terminated', error: undefined }) });
            } else if (pool && now - (vm.terminateRequestedAt ?? now) >= this.o.terminateGraceMs) {
              if ((await this.o.cloud.terminate(vmId, 'hard')) === 'wrong-state') throw new Error(`OpenNebula refuses terminate-hard in state ${live!.state}`);
              d = await this.save(d, { vms: this.withVm(d, vm.slot, { state: 'terminated', error: undefined }) });
              this.o.log?.('warn', 'a VM did not shut down within the grace and was terminated hard', { admissionId: d.admissionId, slot: vm.slot, vmId, graceMs: this.o.terminateGraceMs });
            } else {
              waiting += 1; // shutting down (or the pool could not be read): looked at again
            }
            continue;
          }
          let outcome = await this.o.cloud.terminate(vmId, 'graceful');
          if (outcome === 'wrong-state') {
            // Not running, not stoppable gracefully (a *_FAILURE state): nothing to shut down.
            outcome = await this.o.cloud.terminate(vmId, 'hard');
            if (outcome === 'wrong-state') throw new Error('OpenNebula refuses both terminate and terminate-hard in the VM\'s state');
            d = await this.save(d, { vms: this.withVm(d, vm.slot, { state: 'terminated', vmId }) });
          } else if (outcome === 'absent') {
            d = await this.save(d, { vms: this.withVm(d, vm.slot, { state: 'terminated', vmId }) });
          } else {
            d = await this.save(d, { vms: this.withVm(d, vm.slot, { state: 'terminating', vmId, terminateRequestedAt: now }) });
            asked += 1;
            waiting += 1;
          }
        } catch (error) {
          errors.push(`VM ${vmId} (slot ${vm.slot}): ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      if (asked === 0) break;
    }
    if (errors.length > 0 || waiting > 0) {
      // Looked at again at the next tick (the status stays terminating).
      await this.save(d, { error: errors.length > 0 ? errors.join('; ') : null, lease: null });
      if (errors.length > 0) this.o.log?.('warn', 'could not terminate every VM of a closed admission', { admissionId: d.admissionId, errors });
      return;
    }
    const terminated = d.vms.filter((v) => v.state === 'terminated' && v.vmId !== undefined).map((v) => v.vmId!);
    await this.save(d, { status: 'terminated', error: null, lease: null }, [{ type: 'deployment.terminated', data: { vms: terminated } }]);
    this.o.log?.('info', 'deployment terminated', { admissionId: d.admissionId, vms: terminated.length });
  }

  // -------------------------------------------------------------------------------------------
  // Watching

  /**
   * Compares the VM pool with every deployed slot: a VM that is gone, or failed, is lost (its capacity freed in the
   * ledger, one event each). Also records what eac's running VMs take per host (ownUsage). Returns the slots lost.
   */
  async reconcile(): Promise<number> {
    const vms = await this.o.cloud.vms();
    // Wall time, as host-info stamps its reads (the ledger's clock may be a test's manual one).
    const readAt = Date.now();
    const byId = new Map(vms.map((v) => [v.id, v]));
    const byHost = new Map<string, { cpus: number; memoryMb: number }>();
    let lost = 0;
    // The deployed ones (a deploying one is checked by its own steps); at most a thousand per poll, oldest first.
    const deployments = await this.o.ledger.deployments({ statuses: ['deployed'], limit: 1000 });
    for (const d of deployments) {
      for (const slot of d.vms) {
        if (slot.state !== 'deployed' || slot.vmId === undefined) continue;
        const vm = byId.get(slot.vmId);
        const reason = !vm ? `VM ${slot.vmId} no longer exists in OpenNebula` : vm.failed ? `VM ${slot.vmId} failed in OpenNebula (${vm.state})` : undefined;
        if (reason) {
          if (this.running.has(d.admissionId)) continue; // a deploy or terminate step owns it right now
          const r = await this.o.ledger.loseDeploymentVm(d.admissionId, slot.slot, reason, 'host-info');
          if (r.freed) lost += 1;
          this.o.log?.('warn', 'a deployed VM was lost', { admissionId: d.admissionId, slot: slot.slot, vmId: slot.vmId, reason });
          continue;
        }
        if (vm && !vm.unplaced && vm.hostName === slot.hostId) {
          const e = byHost.get(slot.hostId) ?? { cpus: 0, memoryMb: 0 };
          e.cpus += slot.cpus;
          e.memoryMb += slot.memoryMb;
          byHost.set(slot.hostId, e);
        }
      }
    }
    this.own = [...this.own.slice(-3), { at: readAt, byHost }];
    if (lost > 0) this.o.onChange?.();
    return lost;
  }

  /**
   * What eac's own deployed VMs take per host, for a host snapshot read at `readAt`: host-info counts them as used,
   * and the ledger books them too. Only the newest VM pool read completed before the host read is used (the host read
   * then includes those VMs: OpenNebula allocates a host's share when it deploys a VM); with none, nothing is subtracted
   * (counting twice is safe, subtracting what is not there is not). A VM deployed between the two reads is counted twice
   * until the next poll; one gone between them is subtracted once more than it is used, which its loss (the next poll)
   * frees anyway.
   */
  ownUsage(readAt: number): ReadonlyMap<string, { cpus: number; memoryMb: number }> | undefined {
    for (let i = this.own.length - 1; i >= 0; i--) if (this.own[i]!.at <= readAt) return this.own[i]!.byHost;
    return undefined;
  }
}

/** The record's slot tag: the admission and the slot, unique across the cloud. */
export function tagOf(admissionId: string, slot: string): string {
  return `${admissionId}/${slot}`;
}

class PlanError extends Error {}

/**
 * The template of a component: the configured mapping (component id, else `*`), by numeric id or by name (unique), else
 * the template whose EAC_COMPONENT names the component (unique).
 */
export function resolveTemplate(componentId: string, mapping: Readonly<Record<string, string>>, templates: readonly VmTemplate[]): number {
  const ref = mapping[componentId] ?? mapping['*'];
  if (ref !== undefined) {
    if (/^\d+$/.test(ref)) {
      const id = Number(ref);
      if (!templates.some((t) => t.id === id)) throw new PlanError(`VM template ${id} (AC_DEPLOY_TEMPLATES, component '${componentId}') does not exist in OpenNebula`);
      return id;
    }
    const named = templates.filter((t) => t.name === ref);
    if (named.length !== 1) throw new PlanError(`VM template '${ref}' (AC_DEPLOY_TEMPLATES, component '${componentId}') ${named.length === 0 ? 'does not exist' : `names ${named.length} templates`} in OpenNebula`);
    return named[0]!.id;
  }
  const tagged = templates.filter((t) => t.component === componentId);
  if (tagged.length === 1) return tagged[0]!.id;
  throw new PlanError(
    tagged.length === 0
      ? `no VM template for component '${componentId}': map it in AC_DEPLOY_TEMPLATES or give one template EAC_COMPONENT="${componentId}"`
      : `${tagged.length} VM templates (${tagged.map((t) => t.id).join(', ')}) have EAC_COMPONENT="${componentId}": keep one, or map it in AC_DEPLOY_TEMPLATES`,
  );
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
