/**
 * Places one service configuration on the host pool, honouring every placement rule (same-host blocks,
 * one VM per host, members of Medium anti-affinity rules on different hosts). All or nothing: on failure
 * the pool is rolled back. Hardest items go first: same-host blocks, then spread components, then the rest.
 */
import type { HostPool } from './host-pool';
import type { ServiceConfig, ServiceData } from './service-options';

/** VMs per pool slot, per component: placements[i] = [slot, vms, slot, vms, …]. */
export type ServicePlacement = number[][];

export function placeService(pool: HostPool, sd: ServiceData, config: ServiceConfig): ServicePlacement | null {
  const mark = pool.mark();
  const comps = sd.components;
  const x = config.localVms;
  const placements: ServicePlacement = comps.map(() => []);
  const used: Set<number>[] = comps.map(() => new Set<number>());

  const partnerHosts = (i: number): Set<number> | undefined => {
    const partners = comps[i]!.antiPartners;
    if (partners.length === 0) return undefined;
    const out = new Set<number>();
    for (const k of partners) for (const s of used[k]!) out.add(s);
    return out;
  };
  const put = (i: number, slot: number, vms: number): void => {
    const c = comps[i]!;
    pool.take(slot, c.vcpus * vms, c.memoryMb * vms);
    const p = placements[i]!;
    if (p.length >= 2 && p[p.length - 2] === slot) p[p.length - 1]! += vms;
    else p.push(slot, vms);
    used[i]!.add(slot);
  };
  const fail = (): null => {
    pool.rollback(mark);
    return null;
  };

  // 1. Same-host blocks, largest first.
  const blocks = sd.blocks
    .map((members) => members.filter((i) => x[i]! > 0))
    .filter((members) => members.length > 0)
    .map((members) => ({
      members,
      cpus: members.reduce((t, i) => t + x[i]! * comps[i]!.vcpus, 0),
      memoryMb: members.reduce((t, i) => t + x[i]! * comps[i]!.memoryMb, 0),
    }))
    .sort((a, b) => b.cpus - a.cpus || b.memoryMb - a.memoryMb);
  for (const block of blocks) {
    for (const i of block.members) {
      if (comps[i]!.antiAffinity === 1 && x[i]! > 1) return fail();
      for (const k of comps[i]!.antiPartners) if (k !== i && block.members.includes(k)) return fail();
    }
    let excluded: Set<number> | undefined;
    for (const i of block.members) {
      const h = partnerHosts(i);
      if (h) excluded = excluded ? new Set([...excluded, ...h]) : h;
    }
    const slot = pool.find(block.cpus, block.memoryMb, excluded);
    if (slot < 0) return fail();
    for (const i of block.members) put(i, slot, x[i]!);
  }

  // 2. The other components, spread ones first, larger VMs first.
  const rest: number[] = [];
  comps.forEach((c, i) => {
    if (c.block < 0 && x[i]! > 0) rest.push(i);
  });
  const spread = (i: number): number => (comps[i]!.antiAffinity === 1 ? 2 : comps[i]!.antiPartners.length > 0 ? 1 : 0);
  rest.sort((a, b) => spread(b) - spread(a) || comps[b]!.vcpus - comps[a]!.vcpus || a - b);
  for (const i of rest) {
    const c = comps[i]!;
    const oneEach = c.antiAffinity === 1;
    let excluded = partnerHosts(i);
    if (oneEach && !excluded) excluded = new Set<number>();
    for (let v = 0; v < x[i]!; v++) {
      const slot = pool.find(c.vcpus, c.memoryMb, excluded);
      if (slot < 0) return fail();
      put(i, slot, 1);
      if (oneEach) excluded!.add(slot);
    }
  }
  return placements;
}

/** Gives a placement's capacity back to the pool. */
export function releaseService(pool: HostPool, sd: ServiceData, placement: ServicePlacement): void {
  placement.forEach((p, i) => {
    const c = sd.components[i]!;
    for (let k = 0; k < p.length; k += 2) pool.take(p[k]!, -c.vcpus * p[k + 1]!, -c.memoryMb * p[k + 1]!);
  });
}
