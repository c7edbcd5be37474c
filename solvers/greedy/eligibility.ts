/**
 * Capabilities for the greedy: which hosts each component may use, as masks over model host indices, with every
 * same-value rule resolved to one value up front (the value whose hosts can take the most of the members' CPUs), and
 * the capacity those hosts offer a component (its ranges must not promise more than eligible hosts can hold).
 * The exact choice of a same-value value is HiGHS's (one binary per value); the greedy's is a heuristic.
 */
import type { CapabilityPlan } from '../../model/capabilities';
import type { Service } from '../../model/types';
import type { HostTable } from './host-pool';

/** What the hosts a component may use can hold of it (an upper bound on its local VMs; exact when alone). */
export interface EligibleCapacity {
  /** Hosts that can take one VM. */
  readonly hosts: number;
  /** VMs that fit over all those hosts (each host counted by its own free CPUs and memory). */
  readonly vms: number;
  /** VMs that fit on the best single host. */
  readonly largestVms: number;
}

export interface ServiceEligibility {
  /** Per component: allowed hosts (model order), null: every host. */
  readonly allowed: readonly (Uint8Array | null)[];
  readonly eligible: readonly (EligibleCapacity | null)[];
}

function fitOn(table: HostTable, j: number, vcpus: number, memoryMb: number): number {
  let fit = Math.floor(table.freeCpus[j]! / vcpus);
  if (memoryMb > 0) fit = Math.min(fit, Math.floor(table.freeMemoryMb[j]! / memoryMb));
  return Math.max(0, fit);
}

function capacityOf(table: HostTable, mask: Uint8Array, vcpus: number, memoryMb: number): EligibleCapacity {
  let hosts = 0;
  let vms = 0;
  let largestVms = 0;
  for (let j = 0; j < mask.length; j++) {
    if (mask[j] !== 1) continue;
    const fit = fitOn(table, j, vcpus, memoryMb);
    if (fit <= 0) continue;
    hosts++;
    vms += fit;
    if (fit > largestVms) largestVms = fit;
  }
  return { hosts, vms, largestVms };
}

function and(a: Uint8Array | null, b: Uint8Array): Uint8Array {
  if (!a) return b;
  const out = new Uint8Array(b.length);
  for (let j = 0; j < b.length; j++) out[j] = a[j]! & b[j]!;
  return out;
}

/** Per service, or null when the plan constrains nothing (the greedy then runs exactly as without capabilities). */
export function serviceEligibility(plan: CapabilityPlan | null | undefined, services: readonly Service[], table: HostTable): (ServiceEligibility | null)[] | null {
  if (!plan) return null;
  return services.map((s, a) => {
    const allowed: (Uint8Array | null)[] = s.components.map((_, i) => plan.allowed[a]?.[i] ?? null);
    const groups = plan.sameValue[a] ?? [];
    if (groups.length === 0 && allowed.every((m) => m === null)) return null;
    for (const g of groups) {
      // Score each value by the CPUs its eligible hosts can give the members (capped by what they can use).
      const score = new Float64Array(g.values.length);
      for (const i of g.members) {
        const c = s.components[i]!;
        const perValue = new Float64Array(g.values.length);
        const mask = allowed[i];
        for (let j = 0; j < table.freeCpus.length; j++) {
          const v = g.valueOf[j]!;
          if (v < 0 || (mask && mask[j] !== 1)) continue;
          perValue[v]! += fitOn(table, j, c.vcpus, c.memoryMb ?? 0);
        }
        for (let v = 0; v < perValue.length; v++) score[v]! += Math.min(perValue[v]!, c.maxVms) * c.vcpus;
      }
      let best = -1;
      for (let v = 0; v < score.length; v++) if (best < 0 || score[v]! > score[best]!) best = v;
      const valueMask = new Uint8Array(table.freeCpus.length);
      if (best >= 0) for (let j = 0; j < valueMask.length; j++) valueMask[j] = g.valueOf[j] === best ? 1 : 0;
      for (const i of g.members) allowed[i] = and(allowed[i]!, valueMask);
    }
    const memo = new Map<Uint8Array, Map<string, EligibleCapacity>>();
    const eligible = s.components.map((c, i) => {
      const mask = allowed[i];
      if (!mask) return null;
      let perMask = memo.get(mask);
      if (!perMask) memo.set(mask, (perMask = new Map()));
      const key = `${c.vcpus}/${c.memoryMb ?? 0}`;
      let cap = perMask.get(key);
      if (!cap) perMask.set(key, (cap = capacityOf(table, mask, c.vcpus, c.memoryMb ?? 0)));
      return cap;
    });
    return { allowed, eligible };
  });
}
