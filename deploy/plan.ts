/**
 * What a confirmed admission must deploy: one slot per VM of its local placements (basic and elastic VMs alike: the
 * booking holds them all), sized as the booking sized them. Reads the admission's stored answer only.
 */
import type { AdmissionRecord, DeploymentInput, DeploymentVm } from '../ledger/types';

/** Stored with each recorded answer (service/admission-service.ts): the VM size of every component, by id. */
export type VmSizes = Readonly<Record<string, { readonly vcpus: number; readonly memoryMb?: number }>>;

interface StoredComponent {
  readonly id?: unknown;
  readonly placements?: readonly { readonly hostId?: unknown; readonly vms?: unknown }[];
}

/**
 * The slots, component by component in the answer's order and, within one, by host in the answer's order: slot
 * `<componentId>-<n>`. Undefined with the reason when the answer cannot say (recorded before VM sizes were stored).
 */
export function deploymentPlan(record: AdmissionRecord, target: string): { readonly plan: DeploymentInput } | { readonly problem: string } {
  const response = record.response as { components?: readonly StoredComponent[]; vmSizes?: VmSizes } | null;
  const components = response?.components ?? [];
  const sizes = response?.vmSizes;
  const vms: DeploymentVm[] = [];
  for (const c of components) {
    if (typeof c.id !== 'string') return { problem: 'the stored answer has a component without an id' };
    const placements = (c.placements ?? []).filter((p) => typeof p.vms === 'number' && p.vms > 0);
    if (placements.length === 0) continue;
    const size = sizes?.[c.id];
    if (!size) return { problem: `the stored answer does not say the VM size of component '${c.id}' (admitted before deployment support)` };
    let n = 0;
    for (const p of placements) {
      if (typeof p.hostId !== 'string') return { problem: `component '${c.id}' has a placement without a host` };
      for (let k = 0; k < (p.vms as number); k++) {
        n += 1;
        vms.push({ slot: `${c.id}-${n}`, componentId: c.id, hostId: p.hostId, cpus: size.vcpus, memoryMb: size.memoryMb ?? 0, state: 'planned' });
      }
    }
  }
  return { plan: { target, vms } };
}
