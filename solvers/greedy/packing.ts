/**
 * Places service configurations on the host pool, honouring every placement rule (same-host blocks, one VM
 * per host, members of Medium anti-affinity rules on different hosts). All or nothing: on failure the pool is
 * rolled back. Several services are packed together, hardest items first across all of them (blocks by size,
 * then spread components, then the other VMs by size), which packs a tight fleet far better than one service
 * after another.
 */
import type { HostPool } from './host-pool';
import type { ServiceConfig, ServiceData } from './evaluation';

/** VMs per pool slot, per component: placements[i] = [slot, vms, slot, vms, …]. */
export type ServicePlacement = number[][];

/** Placement state of one service while packing. */
class ServicePacking {
  readonly placements: ServicePlacement;
  private readonly used: Set<number>[];
  /** Per slot, how many of this service's components use it: touches() in O(1), not O(components). */
  private readonly users = new Map<number, number>();

  constructor(
    readonly sd: ServiceData,
    readonly config: ServiceConfig,
  ) {
    this.placements = sd.components.map(() => []);
    this.used = sd.components.map(() => new Set<number>());
  }

  /** Whether this service has any VM on the slot. */
  touches(slot: number): boolean {
    return this.users.has(slot);
  }

  /** Hosts that component i must avoid: those of its Medium anti-affinity partners (and its own, if one VM per host). */
  excluded(i: number): Set<number> | undefined {
    const c = this.sd.components[i]!;
    let out: Set<number> | undefined;
    if (c.antiAffinity === 1) out = new Set(this.used[i]);
    for (const k of c.antiPartners) {
      if (this.used[k]!.size === 0) continue;
      out ??= new Set<number>();
      for (const s of this.used[k]!) out.add(s);
    }
    return out;
  }

  /**
   * A host this component already uses that still takes one more VM: components with anti-affinity partners
   * stack on as few hosts as possible, since every host they touch is lost to their partners.
   */
  stackingSlot(pool: HostPool, i: number, excluded: Set<number> | undefined): number {
    const c = this.sd.components[i]!;
    if (c.antiAffinity === 1 || c.antiPartners.length === 0) return -1;
    for (const slot of this.used[i]!) {
      if (pool.freeCpus[slot]! >= c.vcpus && pool.freeMemoryMb[slot]! >= c.memoryMb && !excluded?.has(slot)) return slot;
    }
    return -1;
  }

  /** Undoes the last put of (i, slot, vms); the pool is rolled back separately by the caller. */
  unput(i: number, slot: number, vms: number): void {
    const p = this.placements[i]!;
    p[p.length - 1]! -= vms;
    if (p[p.length - 1] === 0) p.length -= 2;
    let still = false;
    for (let k = 0; k < p.length; k += 2) if (p[k] === slot) still = true;
    if (!still && this.used[i]!.delete(slot)) {
      const left = this.users.get(slot)! - 1;
      if (left === 0) this.users.delete(slot);
      else this.users.set(slot, left);
    }
  }

  put(pool: HostPool, i: number, slot: number, vms: number): void {
    const c = this.sd.components[i]!;
    pool.take(slot, c.vcpus * vms, c.memoryMb * vms);
    const p = this.placements[i]!;
    if (p.length >= 2 && p[p.length - 2] === slot) p[p.length - 1]! += vms;
    else p.push(slot, vms);
    if (!this.used[i]!.has(slot)) {
      this.used[i]!.add(slot);
      this.users.set(slot, (this.users.get(slot) ?? 0) + 1);
    }
  }
}

/** One thing to place: a same-host block (several components on one host) or one VM of a component. */
interface Item {
  readonly service: ServicePacking;
  /** Component indices (a block) or a single component. */
  readonly members: readonly number[];
  readonly cpus: number;
  readonly memoryMb: number;
  /** 2: block, 1: spread VM (one per host or anti-affinity partners), 0: free VM. */
  readonly hardness: number;
  /** Tie-break that keeps the order deterministic. */
  readonly seq: number;
  /** Hosts every member may use (model order; capabilities), null: every host. */
  readonly allowed: Uint8Array | null;
}

/** Block masks per service, by the block's member list (a block is packed again on every placement attempt). */
const blockMasks = new WeakMap<ServiceData, Map<string, Uint8Array | null>>();

function blockAllowed(sd: ServiceData, members: readonly number[]): Uint8Array | null {
  let perService = blockMasks.get(sd);
  if (!perService) blockMasks.set(sd, (perService = new Map()));
  const key = members.join(',');
  let mask = perService.get(key);
  if (mask === undefined) perService.set(key, (mask = allowedFor(sd.components, members)));
  return mask;
}

/** The hosts all members may use: the intersection of their masks. */
function allowedFor(comps: readonly { readonly allowed: Uint8Array | null }[], members: readonly number[]): Uint8Array | null {
  let out: Uint8Array | null = null;
  for (const i of members) {
    const m = comps[i]!.allowed;
    if (!m) continue;
    if (!out) out = m;
    else {
      const both: Uint8Array = new Uint8Array(m.length);
      for (let j = 0; j < m.length; j++) both[j] = out[j]! & m[j]!;
      out = both;
    }
  }
  return out;
}

function itemsOf(service: ServicePacking, seq: { n: number }): Item[] | null {
  const { sd, config } = service;
  const comps = sd.components;
  const x = config.localVms;
  const items: Item[] = [];
  for (const block of sd.blocks) {
    const members = block.filter((i) => x[i]! > 0);
    if (members.length === 0) continue;
    for (const i of members) {
      if (comps[i]!.antiAffinity === 1 && x[i]! > 1) return null; // one host, one VM per host: impossible
      for (const k of comps[i]!.antiPartners) if (k !== i && members.includes(k)) return null;
    }
    items.push({
      service,
      members,
      cpus: members.reduce((t, i) => t + x[i]! * comps[i]!.vcpus, 0),
      memoryMb: members.reduce((t, i) => t + x[i]! * comps[i]!.memoryMb, 0),
      hardness: 2,
      seq: seq.n++,
      allowed: blockAllowed(sd, members),
    });
  }
  comps.forEach((c, i) => {
    if (c.block >= 0) return;
    const hardness = c.antiAffinity === 1 || c.antiPartners.length > 0 ? 1 : 0;
    for (let v = 0; v < x[i]!; v++) items.push({ service, members: [i], cpus: c.vcpus, memoryMb: c.memoryMb, hardness, seq: seq.n++, allowed: c.allowed });
  });
  return items;
}

/** Hosts an item must avoid: the union of its members' exclusions. */
function excludedFor(item: Item): Set<number> | undefined {
  let excluded: Set<number> | undefined;
  for (const i of item.members) {
    const e = item.service.excluded(i);
    if (e) excluded = excluded ? new Set([...excluded, ...e]) : e;
  }
  return excluded;
}

/** The services' packing states and their items, hardest and largest first; null when a block cannot exist. */
/**
 * The hosts restricted items may use (the union of their masks), which unrestricted items avoid while other hosts have
 * room: a VM that runs anywhere should not take the few hosts a nodejs-20 VM can use. Null when no item is restricted.
 */
function wantedHosts(services: readonly ServicePacking[]): Uint8Array | null {
  const shared = sharedRestricted.get(services[0]!.sd);
  if (shared !== undefined && services.every((s) => sharedRestricted.get(s.sd) === shared)) return shared;
  if (services.length === 1) return services[0]!.sd.restrictedHosts;
  let out: Uint8Array | null = null;
  for (const s of services) {
    const m = s.sd.restrictedHosts;
    if (!m) continue;
    out ??= new Uint8Array(m.length);
    for (let j = 0; j < m.length; j++) out[j]! |= m[j]!;
  }
  return out;
}

/** The union of restricted hosts over all services of one solve, computed once (see shareRestrictedHosts). */
const sharedRestricted = new WeakMap<ServiceData, Uint8Array | null>();

/**
 * Records, once per solve, the hosts any service's restricted components may use, so that packing several services
 * together (every placement attempt) does not recompute the union over the whole fleet.
 */
export function shareRestrictedHosts(services: readonly ServiceData[]): void {
  let out: Uint8Array | null = null;
  for (const sd of services) {
    const m = sd.restrictedHosts;
    if (!m) continue;
    out ??= new Uint8Array(m.length);
    for (let j = 0; j < m.length; j++) out[j]! |= m[j]!;
  }
  for (const sd of services) sharedRestricted.set(sd, out);
}

function prepare(requests: readonly { sd: ServiceData; config: ServiceConfig }[]): { services: ServicePacking[]; items: Item[]; wanted: Uint8Array | null } | null {
  const services = requests.map((r) => new ServicePacking(r.sd, r.config));
  const seq = { n: 0 };
  const items: Item[] = [];
  for (const s of services) {
    const own = itemsOf(s, seq);
    if (!own) return null;
    items.push(...own);
  }
  // Items restricted to some hosts (capabilities) go before unrestricted ones of the same hardness: best fit would
  // otherwise hand the few hosts they may use to VMs that could run anywhere.
  items.sort((p, q) => q.hardness - p.hardness || (q.allowed ? 1 : 0) - (p.allowed ? 1 : 0) || q.cpus - p.cpus || q.memoryMb - p.memoryMb || p.seq - q.seq);
  return { services, items, wanted: wantedHosts(services) };
}

/** Packs the configurations of several services together; null (pool unchanged) when they do not all fit. */
export function placeServices(pool: HostPool, requests: readonly { sd: ServiceData; config: ServiceConfig }[]): ServicePlacement[] | null {
  const mark = pool.mark();
  const prepared = prepare(requests);
  if (!prepared) return null;
  const { services, items, wanted } = prepared;
  for (const item of items) {
    const s = item.service;
    const excluded = excludedFor(item);
    const single = item.members.length === 1 && item.hardness < 2;
    let slot = single ? s.stackingSlot(pool, item.members[0]!, excluded) : -1;
    if (slot < 0) slot = pool.find(item.cpus, item.memoryMb, excluded, item.allowed, item.allowed ? null : wanted);
    if (slot < 0) {
      pool.rollback(mark);
      return null;
    }
    if (single) s.put(pool, item.members[0]!, slot, 1);
    else for (const i of item.members) s.put(pool, i, slot, s.config.localVms[i]!);
  }
  return services.map((s) => s.placements);
}

/**
 * Depth-first packing with a node budget, for when the one-pass packer fails on a nearly full fleet: tries every
 * host for every item (one host per class of identical free capacity, identical VMs in host order), largest
 * items first. Null when no packing was found within the budget (which does not prove there is none).
 */
export function placeServicesSearch(
  pool: HostPool,
  requests: readonly { sd: ServiceData; config: ServiceConfig }[],
  nodeBudget: number,
): ServicePlacement[] | null {
  const start = pool.mark();
  const prepared = prepare(requests);
  if (!prepared) return null;
  const { services, items } = prepared;
  const chosen = new Int32Array(items.length).fill(-1);
  let nodes = 0;
  // Hosts alike by free capacity are alike for the search only if every item's mask treats them alike too.
  const masks = [...new Set(items.map((it) => it.allowed).filter((m): m is Uint8Array => m !== null))];
  const maskKey = (slot: number): string => {
    let k = '';
    for (const m of masks) k += m[pool.modelIndex[slot]!] === 1 ? '1' : '0';
    return k;
  };
  const identical = (a: Item, b: Item): boolean =>
    a.service === b.service && a.members.length === 1 && b.members.length === 1 && a.members[0] === b.members[0] && a.hardness < 2;

  const dfs = (k: number): boolean => {
    if (k === items.length) return true;
    if (++nodes > nodeBudget) return false;
    const item = items[k]!;
    const s = item.service;
    const excluded = excludedFor(item);
    const single = item.members.length === 1 && item.hardness < 2;
    const minSlot = k > 0 && identical(items[k - 1]!, item) ? chosen[k - 1]! : -1;
    const candidates: number[] = [];
    const classes = new Set<string>();
    for (let slot = Math.max(0, minSlot); slot < pool.size; slot++) {
      if (pool.freeCpus[slot]! < item.cpus || pool.freeMemoryMb[slot]! < item.memoryMb || excluded?.has(slot)) continue;
      if (item.allowed && item.allowed[pool.modelIndex[slot]!] !== 1) continue;
      // Untouched-by-this-service hosts with equal free capacity lead to the same subtrees: try one of them.
      const touched = services.some((sv) => sv.touches(slot));
      if (!touched) {
        const key = `${pool.freeCpus[slot]}:${pool.freeMemoryMb[slot]}:${masks.length > 0 ? maskKey(slot) : ''}`;
        if (classes.has(key)) continue;
        classes.add(key);
      }
      candidates.push(slot);
    }
    candidates.sort((p, q) => pool.freeCpus[p]! - pool.freeCpus[q]! || p - q);
    for (const slot of candidates) {
      const mark = pool.mark();
      if (single) s.put(pool, item.members[0]!, slot, 1);
      else for (const i of item.members) s.put(pool, i, slot, s.config.localVms[i]!);
      chosen[k] = slot;
      if (dfs(k + 1)) return true;
      pool.rollback(mark);
      if (single) s.unput(item.members[0]!, slot, 1);
      else for (const i of item.members) s.unput(i, slot, s.config.localVms[i]!);
      if (nodes > nodeBudget) return false;
    }
    return false;
  };
  if (dfs(0)) return services.map((s) => s.placements);
  pool.rollback(start);
  return null;
}

export function placeService(pool: HostPool, sd: ServiceData, config: ServiceConfig): ServicePlacement | null {
  return placeServices(pool, [{ sd, config }])?.[0] ?? null;
}

/** Gives a placement's capacity back to the pool. */
export function releaseService(pool: HostPool, sd: ServiceData, placement: ServicePlacement): void {
  placement.forEach((p, i) => {
    const c = sd.components[i]!;
    for (let k = 0; k < p.length; k += 2) pool.take(p[k]!, -c.vcpus * p[k + 1]!, -c.memoryMb * p[k + 1]!);
  });
}

/**
 * Changes one component's local VMs to `count` in place: extra VMs go best fit, surplus ones leave from its last
 * hosts. Only for components without placement rules (no block, no anti-affinity). A new placement, or null with
 * the pool unchanged when the extra VMs do not fit.
 */
export function adjustComponent(pool: HostPool, sd: ServiceData, placement: ServicePlacement, i: number, count: number): ServicePlacement | null {
  const c = sd.components[i]!;
  const pairs = placement[i]!.slice();
  let current = 0;
  for (let k = 1; k < pairs.length; k += 2) current += pairs[k]!;
  const mark = pool.mark();
  for (; current < count; current++) {
    const slot = pool.find(c.vcpus, c.memoryMb, undefined, c.allowed, c.allowed ? null : sd.restrictedHosts);
    if (slot < 0) {
      pool.rollback(mark);
      return null;
    }
    pool.take(slot, c.vcpus, c.memoryMb);
    let k = 0;
    while (k < pairs.length && pairs[k] !== slot) k += 2;
    if (k < pairs.length) pairs[k + 1]!++;
    else pairs.push(slot, 1);
  }
  for (; current > count; current--) {
    const slot = pairs[pairs.length - 2]!;
    pool.take(slot, -c.vcpus, -c.memoryMb);
    if (--pairs[pairs.length - 1]! === 0) pairs.length -= 2;
  }
  const next = placement.slice();
  next[i] = pairs;
  return next;
}
