/**
 * Exhaustive search for tiny admission models, written straight from the equations of model.md §3 in their
 * nonlinear form (v6.0 + D1–D4). Test support only: it shares no code with the MILP (never imports solvers/).
 */
import type { AdmissionModel, Allocation, ComponentAllocation, Service } from '../../model/types';

export interface ExhaustiveLimits {
  readonly maxServices?: number;
  readonly maxComponents?: number;
  readonly maxHosts?: number;
  /** Budget of evaluated per-service combinations (leaves), all services together. */
  readonly maxLeaves?: number;
}

export type ExhaustiveResult =
  | { readonly status: 'optimal'; readonly objective: number; readonly allocation: Allocation; readonly leaves: number }
  | { readonly status: 'infeasible'; readonly leaves: number }
  | { readonly status: 'too-large'; readonly reason: string };

/** GAMS's big-M constant K (only appears in xbool_* rows, evaluated literally below). */
const K = 10;
const EPS = 1e-9;

/** One choice for one component: local VMs per host, y, φ, and what follows from them. */
interface Option {
  readonly x: readonly number[];
  readonly y: 0 | 1;
  readonly phi: number;
  readonly X: number;
  readonly cdf: number;
  /** cpu_ia·x_jia and mem_ia·x_jia per host. */
  readonly cpu: readonly number[];
  readonly mem: readonly number[];
}

interface ServiceChoice {
  readonly objective: number;
  readonly cpu: readonly number[];
  readonly mem: readonly number[];
  readonly options: readonly Option[];
}

class TooLarge extends Error {}

export function exhaustiveSolve(model: AdmissionModel, limits: ExhaustiveLimits = {}): ExhaustiveResult {
  const maxServices = limits.maxServices ?? 2;
  const maxComponents = limits.maxComponents ?? 3;
  const maxHosts = limits.maxHosts ?? 3;
  const maxLeaves = limits.maxLeaves ?? 3_000_000;
  if (model.services.length > maxServices) return { status: 'too-large', reason: `${model.services.length} services` };
  if (model.hosts.length > maxHosts) return { status: 'too-large', reason: `${model.hosts.length} hosts` };
  if (model.services.some((s) => s.components.length > maxComponents)) return { status: 'too-large', reason: 'too many components' };

  const H = model.hosts.length;
  // §3.2: cap_j = maxCpus_j − resCpus_j (model.md types: free = max(0, cpus − used)). D1 needs no code here: a
  // host that holds no VM simply gets none from the capacity check, and its v6.0 `bool` row is dropped (z = 0).
  const cap = model.hosts.map((h) => Math.max(0, h.cpus - h.usedCpus));
  const memCap = model.hosts.map((h) => h.freeMemoryMb);

  const budget = { leaves: 0 };
  let perService: Map<string, ServiceChoice>[];
  try {
    perService = model.services.map((s) => enumerateService(model, s, H, cap, memCap, budget, maxLeaves));
  } catch (e) {
    if (e instanceof TooLarge) return { status: 'too-large', reason: e.message };
    throw e;
  }

  // Services interact only through host capacity (cpu_res_Eq / free memory): combine their best choices per usage.
  const lists = perService.map((m) => [...m.values()]);
  let best: { objective: number; picks: ServiceChoice[] } | null = null;
  const used = new Array<number>(H).fill(0);
  const usedMem = new Array<number>(H).fill(0);
  const picks: ServiceChoice[] = [];
  const combine = (a: number, acc: number): void => {
    if (a === lists.length) {
      if (best === null || acc > best.objective) best = { objective: acc, picks: [...picks] };
      return;
    }
    for (const choice of lists[a]!) {
      let fits = true;
      for (let j = 0; j < H && fits; j++) {
        if (used[j]! + choice.cpu[j]! > cap[j]!) fits = false;
        const m = memCap[j];
        if (m !== undefined && usedMem[j]! + choice.mem[j]! > m) fits = false;
      }
      if (!fits) continue;
      for (let j = 0; j < H; j++) {
        used[j] += choice.cpu[j]!;
        usedMem[j] += choice.mem[j]!;
      }
      picks.push(choice);
      combine(a + 1, acc + choice.objective);
      picks.pop();
      for (let j = 0; j < H; j++) {
        used[j] -= choice.cpu[j]!;
        usedMem[j] -= choice.mem[j]!;
      }
    }
  };
  combine(0, 0);
  const found = best as { objective: number; picks: ServiceChoice[] } | null;
  if (found === null) return { status: 'infeasible', leaves: budget.leaves };
  const allocation: Allocation = {
    services: found.picks.map((choice) =>
      choice.options.map(
        (o): ComponentAllocation => ({
          acceptedLocally: o.y === 1,
          placements: o.x.flatMap((vms, hostIndex) => (vms > 0 ? [{ hostIndex, vms }] : [])),
          federatedVms: o.phi,
        }),
      ),
    ),
  };
  return { status: 'optimal', objective: found.objective, allocation, leaves: budget.leaves };
}

/** Every x vector with 0 ≤ x_j ≤ bound_j and Σ_j x_j ≤ total. */
function vectors(bounds: readonly number[], total: number): number[][] {
  const out: number[][] = [];
  const cur = new Array<number>(bounds.length).fill(0);
  const rec = (j: number, left: number): void => {
    if (j === bounds.length) {
      out.push([...cur]);
      return;
    }
    for (let v = 0; v <= Math.min(bounds[j]!, left); v++) {
      cur[j] = v;
      rec(j + 1, left - v);
    }
    cur[j] = 0;
  };
  rec(0, total);
  return out;
}

/** The options of one component that satisfy every equation of §3 that involves this component alone. */
function componentOptions(
  s: Service,
  i: number,
  H: number,
  cap: readonly number[],
  memCap: readonly (number | undefined)[],
): Option[] {
  const c = s.components[i]!;
  const fed = s.federationAllowed;
  const b = c.basic;
  const U = c.maxVms; // elastic.csv: the maximum total VMs
  const E = U - b; // elastic_vms
  const V = s.components.reduce((sum, k) => sum + k.maxVms, 0); // max_vms
  const mem = c.memoryMb ?? 0;
  // x bounded by capacity of each host alone (cpu_res_Eq) and Σ_j x ≤ U (allocation_): pruning, not modelling.
  const bounds = Array.from({ length: H }, (_, j) => {
    let n = Math.floor(cap[j]! / c.vcpus);
    const m = memCap[j];
    if (m !== undefined && mem > 0) n = Math.min(n, Math.floor(m / mem));
    return Math.max(0, Math.min(n, U));
  });
  const out: Option[] = [];
  for (const x of vectors(bounds, U)) {
    const X = x.reduce((p, q) => p + q, 0);
    const hostsUsed = x.filter((v) => v >= 1).length; // num_phs = Σ_j involved_ph
    for (const y of [0, 1] as const) {
      // [allocation, allocation_] b·y ≤ X ≤ U·y
      if (!(b * y <= X && X <= U * y)) continue;
      // [xbool_low_, xbool_up_] (A_F) X − b ≥ K·V·(y − 1), X ≤ K·V·y
      if (fed && !(X - b >= K * V * (y - 1) && X <= K * V * y)) continue;
      // [anti_affinity_sc] Medium: x_j ≤ 1; [anti_affinity_sc_] High: X ≤ b
      if (c.antiAffinity === 1 && x.some((v) => v > 1)) continue;
      if (c.antiAffinity === 2 && X > b) continue;
      // [involved_ph_low/up, mediator, affinity_sc] High component affinity: Σ_j [x_j ≥ 1] = y
      if (c.affinity === 2 && hostsUsed !== y) continue;
      // φ ∈ {0..U}; [fed_vms_eq] (A_N) Σ_i φ = 0 with φ ≥ 0, i.e. every φ = 0.
      const phiMax = fed ? U : 0;
      for (let phi = 0; phi <= phiMax; phi++) {
        // [cdf_sc_eq] (A_F) (E+1)·cdf = X + φ − b + 1;  [cdf_sc_eq_plus] (A_N) (E+1)·cdf = y·(X + φ − b + 1)
        const cdf = fed ? (X + phi - b + 1) / (E + 1) : (y * (X + phi - b + 1)) / (E + 1);
        if (cdf < -EPS || cdf > 1 + EPS) continue; // cdf ∈ [0, 1]
        // [cdf_sc_constraint] antiSC ≠ 2: cdf ≥ av·y  (ε-gap rows dropped: D4)
        if (c.antiAffinity !== 2 && cdf < c.availability * y - EPS) continue;
        if (fed) {
          const g = phi >= 1 ? 1 : 0; // [fed_vms_low/up] g = [φ ≥ 1]
          if (cdf < c.availability * (1 - y) * g - EPS) continue; // [new]
          if (c.antiAffinity === 2 && phi < y) continue; // [fed_vm_eq_plus]
        }
        out.push({
          x,
          y,
          phi,
          X,
          cdf,
          cpu: x.map((v) => v * c.vcpus),
          mem: x.map((v) => v * mem),
        });
      }
    }
  }
  return out;
}

function enumerateService(
  model: AdmissionModel,
  s: Service,
  H: number,
  cap: readonly number[],
  memCap: readonly (number | undefined)[],
  budget: { leaves: number },
  maxLeaves: number,
): Map<string, ServiceChoice> {
  const N = s.components.length; // num_comps
  const V = s.components.reduce((sum, c) => sum + c.maxVms, 0); // max_vms
  const G = s.gain;
  const Pav = 0.5 * G;
  const fcv = s.components.map((c) => (0.8 * G) / (N * c.maxVms)); // fed_cost_per_vm
  const { cost: wc, eco: we, risk: wr, trust: wt } = model.weights;
  const idx = new Map(s.components.map((c, i) => [c.id, i]));
  const rules = s.rules.map((r) => ({ ...r, m: r.members.map((id) => idx.get(id)!).filter((i) => i !== undefined) }));
  const options = s.components.map((_, i) => componentOptions(s, i, H, cap, memCap));
  const best = new Map<string, ServiceChoice>();
  const chosen: Option[] = [];
  const cpu = new Array<number>(H).fill(0);
  const mem = new Array<number>(H).fill(0);

  const leaf = (): void => {
    if (++budget.leaves > maxLeaves) throw new TooLarge(`more than ${maxLeaves} combinations`);
    const y = chosen.map((o) => o.y);
    const Xa = y.every((v) => v === 1) ? 1 : 0; // [admittance] X_a = Π_i y_ia
    if (!s.federationAllowed) {
      // [xbool_low, xbool_up] (A_N): X_ia − b ≥ K·V·(X_a − 1), X_ia ≤ K·V·X_a
      for (let i = 0; i < N; i++) {
        const o = chosen[i]!;
        if (!(o.X - s.components[i]!.basic >= K * V * (Xa - 1) && o.X <= K * V * Xa)) return;
      }
    }
    for (const r of rules) {
      const M = r.m;
      if (M.length === 0) continue;
      const prodY = M.every((i) => y[i] === 1) ? 1 : 0;
      const sumY = M.reduce((p, i) => p + y[i]!, 0);
      if (r.kind === 'affinity') {
        // [affinity_rule_] Medium: Σ_M y = |M|·Π_M y
        if (r.level === 1 && sumY !== M.length * prodY) return;
        if (r.level === 2) {
          // [low, up, affinity_rule] High: Σ_j [Σ_M x_j ≥ 1] = Π_M y
          let hosts = 0;
          for (let j = 0; j < H; j++) if (M.some((i) => chosen[i]!.x[j]! >= 1)) hosts++;
          if (hosts !== prodY) return;
        }
        // [affinity_rule_plus] Σ_M y·φ = 0
        if (M.reduce((p, i) => p + y[i]! * chosen[i]!.phi, 0) !== 0) return;
      } else if (r.level === 1) {
        // [anti_affinity_rule_] Medium: Σ_M [x_j ≥ 1] ≤ 1 for every host
        for (let j = 0; j < H; j++) if (M.filter((i) => chosen[i]!.x[j]! >= 1).length > 1) return;
      } else if (sumY > 1) {
        return; // [anti_affinity_rule] High: Σ_M y ≤ 1
      }
    }
    // [eco_cons, risk_cons, trust_cons] EcoS ≥ ec·X_a, Risk·X_a ≤ rc, Trust ≥ tc·X_a: the data are constants, so a
    // violated bound only forbids X_a = 1 (model.md §3.5.10, C19).
    if (Xa === 1 && (s.eco < s.constraints.eco || s.risk > s.constraints.risk || s.trust < s.constraints.trust)) return;
    const sumCdf = chosen.reduce((p, o) => p + o.cdf, 0);
    // [average_cdf_fed_eq] (A_F) N·avg = Σ cdf;  [average_cdf_eq] (A_N) N·avg = X_a·Σ cdf
    const avg = s.federationAllowed ? sumCdf / N : (Xa * sumCdf) / N;
    if (avg < -EPS || avg > 1 + EPS) return;
    // [basic_vms_eq, elastic_vms_eq, accepted_vms_percent_eq] pct·V = Σ b·y + Σ y·(X − b)
    const accB = chosen.reduce((p, o, i) => p + s.components[i]!.basic * o.y, 0);
    const accE = chosen.reduce((p, o, i) => p + o.y * (o.X - s.components[i]!.basic), 0);
    const pct = (accB + accE) / V;
    if (pct < -EPS || pct > 1 + EPS) return;
    const fedCost = chosen.reduce((p, o, i) => p + fcv[i]! * o.phi, 0);
    // [cost_eq] cost = Pav·(1 − avg) + Σ fcv·φ (z = 0);  [cost_cons] with D2: binds only if some y = 1
    const cost = Pav * (1 - avg) + fedCost;
    if (y.some((v) => v === 1) && cost > s.constraints.cost + EPS) return;
    // [obj] (D3: no Z ≥ 0)
    const objective = (wc * G + we * s.eco + wt * s.trust - wr * s.risk) * avg - wr * Pav * pct * (1 - avg) - wc * fedCost;
    const key = `${cpu.join(',')}|${mem.join(',')}`;
    const prev = best.get(key);
    if (prev === undefined || objective > prev.objective) best.set(key, { objective, cpu: [...cpu], mem: [...mem], options: [...chosen] });
  };

  const rec = (i: number): void => {
    if (i === N) {
      leaf();
      return;
    }
    for (const o of options[i]!) {
      let fits = true;
      for (let j = 0; j < H && fits; j++) {
        if (cpu[j]! + o.cpu[j]! > cap[j]!) fits = false; // cpu_res_Eq within this service already
        const m = memCap[j];
        if (m !== undefined && mem[j]! + o.mem[j]! > m) fits = false;
      }
      if (!fits) continue;
      for (let j = 0; j < H; j++) {
        cpu[j] += o.cpu[j]!;
        mem[j] += o.mem[j]!;
      }
      chosen.push(o);
      rec(i + 1);
      chosen.pop();
      for (let j = 0; j < H; j++) {
        cpu[j] -= o.cpu[j]!;
        mem[j] -= o.mem[j]!;
      }
    }
  };
  rec(0);
  return best;
}
