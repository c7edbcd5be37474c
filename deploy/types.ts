/**
 * The cloud a deployer creates VMs in, behind one small interface (OpenNebula today: deploy/opennebula.ts). Ids are the
 * cloud's; host names are eac's host ids (host-info reads OpenNebula hosts by NAME).
 */

/** A VM as the cloud reports it. */
export interface CloudVm {
  readonly id: number;
  readonly name: string;
  /** `<admission id>/<slot>` when eac created it (the EAC_SLOT attribute), else undefined. */
  readonly slotTag?: string;
  /** The host it runs on (its name), when placed. */
  readonly hostName?: string;
  /** The cloud's state, readable (`ACTIVE/RUNNING`, `HOLD`, `ACTIVE/BOOT_FAILURE`). */
  readonly state: string;
  /** Waiting to be placed (OpenNebula HOLD or PENDING): it takes no host capacity yet. */
  readonly unplaced: boolean;
  /** Failed in the cloud (a *_FAILURE state): it will not run without an operator. */
  readonly failed: boolean;
}

export interface VmTemplate {
  readonly id: number;
  readonly name: string;
  /** The template's EAC_COMPONENT attribute: the component id it is the template of. */
  readonly component?: string;
}

export interface VmSpec {
  readonly templateId: number;
  readonly name: string;
  readonly cpus: number;
  /** Absent: the template's memory stays. */
  readonly memoryMb?: number;
  /** Written as VM attributes (EAC_ADMISSION, EAC_SLOT). */
  readonly tags: Readonly<Record<string, string>>;
}

export interface CloudClient {
  /** `opennebula`. */
  readonly name: string;
  /** Host name → the cloud's host id. */
  hostIds(signal?: AbortSignal): Promise<ReadonlyMap<string, number>>;
  templates(signal?: AbortSignal): Promise<readonly VmTemplate[]>;
  /** Creates the VM on hold (the cloud's own scheduler must not place it) and returns its id. */
  create(spec: VmSpec, signal?: AbortSignal): Promise<number>;
  /** Places a VM created on hold on the host, the cloud enforcing the host's capacity. */
  deploy(vmId: number, hostId: number, signal?: AbortSignal): Promise<void>;
  /**
   * Asks the cloud to terminate the VM: `graceful` shuts the guest down first (it may take a while, or be ignored by the
   * guest: the VM is then still listed by vms()); `hard` destroys it at once. `accepted`: the cloud took the action;
   * `absent`: it does not know the VM (already gone); `wrong-state`: it refuses this action in the VM's state (a failed VM
   * cannot be shut down gracefully). Other failures throw.
   */
  terminate(vmId: number, how: 'graceful' | 'hard', signal?: AbortSignal): Promise<'accepted' | 'absent' | 'wrong-state'>;
  /** Every VM the cloud has that is not done (eac's among them, with their slot tags). */
  vms(signal?: AbortSignal): Promise<readonly CloudVm[]>;
}
