/**
 * The charge bound for the greedy (extension: charging). The greedy chooses a service's local counts before it packs
 * them onto hosts, so it cannot know which hosts, hence which charge classes, the VMs will get. It is conservative
 * instead: a component's VMs are charged the most one VM of it costs on any host it may use (where one fits), so a
 * configuration that passes is within the bound wherever the packing puts it. With a single charge class (or every
 * host a component may use in one class) that is exact. The capacity-free proof bound uses the least such charge
 * instead, so that it stays an upper bound of the objective.
 */
import { chargeBoundActive, vmCharge } from '../../model/charge';
import type { AdmissionModel, ChargeRates, Service } from '../../model/types';
import type { HostTable } from './host-pool';

/** What the greedy (and a worker's MILP) needs of charging: the classes, and each host's class (model order). */
export interface HostChargeClasses {
  readonly classes: readonly ChargeRates[];
  /** Charge class per model host (absent chargeClass = 0). */
  readonly hostClass: Int32Array;
}

/** The model's charge plan, or null when no charge bound is in the model (the greedy then runs exactly as before). */
export function hostChargeClasses(model: AdmissionModel): HostChargeClasses | null {
  if (!chargeBoundActive(model)) return null;
  const hostClass = new Int32Array(model.hosts.length);
  model.hosts.forEach((h, j) => (hostClass[j] = h.chargeClass ?? 0));
  return { classes: model.charging!.classes, hostClass };
}

/** Per component: the most and the least one VM costs over the hosts it may use where one fits (0 and 0 if none). */
export interface ComponentCharges {
  readonly high: readonly number[];
  readonly low: readonly number[];
}

/**
 * The per-VM charge range of each component of a service. `allowed[i]`: the hosts component i may use (null: every
 * host). Which classes a component can reach is found once per (mask, VM size): O(hosts) each.
 */
export function componentCharges(plan: HostChargeClasses, service: Service, allowed: readonly (Uint8Array | null)[], table: HostTable, memo: Map<Uint8Array | null, Map<string, Uint8Array>>): ComponentCharges {
  const high: number[] = [];
  const low: number[] = [];
  service.components.forEach((c, i) => {
    const mask = allowed[i] ?? null;
    let perMask = memo.get(mask);
    if (!perMask) memo.set(mask, (perMask = new Map()));
    const mem = c.memoryMb ?? 0;
    const key = `${c.vcpus}/${mem}`;
    let reached = perMask.get(key);
    if (!reached) {
      reached = new Uint8Array(plan.classes.length);
      for (let j = 0; j < plan.hostClass.length; j++) {
        if (mask && mask[j] !== 1) continue;
        if (Math.floor(table.freeCpus[j]! / c.vcpus) < 1) continue;
        if (mem > 0 && Math.floor(table.freeMemoryMb[j]! / mem) < 1) continue;
        reached[plan.hostClass[j]!] = 1;
      }
      perMask.set(key, reached);
    }
    let hi = -Infinity;
    let lo = Infinity;
    for (let k = 0; k < reached.length; k++) {
      if (reached[k] !== 1) continue;
      const charge = vmCharge(plan.classes[k]!, c);
      if (charge > hi) hi = charge;
      if (charge < lo) lo = charge;
    }
    high.push(Number.isFinite(hi) ? hi : 0);
    low.push(Number.isFinite(lo) ? lo : 0);
  });
  return { high, low };
}

/**
 * Whether a charge exceeds the bound. The verifier allows a relative 1e-9; the greedy allows a hundredth of that, so
 * a configuration it accepts can never be one the verifier rejects through rounding of a differently ordered sum.
 */
export function chargeExceeds(charge: number, bound: number): boolean {
  return charge > bound + 1e-11 * Math.max(1, Math.abs(bound));
}
