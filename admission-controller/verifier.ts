/**
 * Independent verifier: judges an Allocation against every constraint of OPTIMIS v6.0 + D1–D4 and recomputes
 * every reported value from the model and the allocation alone. It shares no code with any solver (types only), except
 * model/charge.ts: the one charge function, so that the charge it checks is by definition the charge the answer states.
 */
import { requirementText, satisfies } from '../model/capabilities';
import { placementCharge } from '../model/charge';
import type { AdmissionModel, Allocation, Component, ComponentAllocation, Host, Rule, Service } from '../model/types';
import type {
  ComponentEvaluation,
  ConstraintName,
  ServiceEvaluation,
  Verification,
  Violation,
} from './verification';

/** Slack for comparisons on non-integer quantities (cdf, cost, memory), so that rounding never decides feasibility. */
const TOLERANCE = 1e-9;

/** The allocation of one component, reduced to what the constraints need. */
interface ComponentState {
  readonly component: Component;
  /** y as 0/1, because the equations use it as a number. */
  readonly y: number;
  /** X = Σ_j x_j. */
  readonly localVms: number;
  /** φ. */
  readonly federatedVms: number;
  /** x_j per host index, only hosts that exist, duplicates merged (sparse: never one entry per host of the model). */
  readonly vmsByHost: ReadonlyMap<number, number>;
  /** Hosts carrying VMs (x_j > 0, i.e. x_j ≥ 1 for integer counts). */
  readonly hostsUsed: number;
  readonly cdf: number;
}

/** Collects violations with the ids the report promises. */
class Violations {
  readonly list: Violation[] = [];

  add(constraint: ConstraintName, message: string, where: { service?: Service; component?: Component; host?: Host } = {}): void {
    this.list.push({
      constraint,
      ...(where.service ? { service: where.service.id } : {}),
      ...(where.component ? { component: where.component.id } : {}),
      ...(where.host ? { host: where.host.id } : {}),
      message,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting: messages name things the way an operator reads them (label first, real id in brackets).

function nameOf(item: { readonly id: string; readonly label?: string }): string {
  return item.label !== undefined && item.label !== item.id ? `${item.label} (${item.id})` : item.id;
}

function componentName(service: Service, component: Component): string {
  return `component ${nameOf(service)}/${nameOf(component)}`;
}

function num(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

function exceeds(lhs: number, rhs: number): boolean {
  return lhs > rhs + TOLERANCE * Math.max(1, Math.abs(rhs));
}

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

// ---------------------------------------------------------------------------------------------
// Shape

/** Length mismatches make the allocation impossible to read against the model: report them and stop. */
function checkStructure(model: AdmissionModel, allocation: Allocation, out: Violations): boolean {
  const rows: unknown = allocation?.services;
  if (!Array.isArray(rows)) {
    out.add('allocation-shape', `the allocation needs a services array of ${model.services.length} entries, has none`);
    return false;
  }
  let readable = true;
  if (rows.length !== model.services.length) {
    out.add('allocation-shape', `the model has ${model.services.length} services, the allocation has ${rows.length}`);
    readable = false;
  }
  model.services.forEach((service, a) => {
    if (a >= rows.length) return;
    const row: unknown = rows[a];
    if (!Array.isArray(row)) {
      out.add('allocation-shape', `service ${nameOf(service)}: the allocation has no component list`, { service });
      readable = false;
    } else if (row.length !== service.components.length) {
      out.add(
        'allocation-shape',
        `service ${nameOf(service)}: the model has ${service.components.length} components, the allocation has ${row.length}`,
        { service },
      );
      readable = false;
    } else {
      service.components.forEach((component, i) => {
        const entry = row[i] as Partial<ComponentAllocation> | null | undefined;
        if (typeof entry !== 'object' || entry === null || !Array.isArray(entry.placements)) {
          out.add('allocation-shape', `${componentName(service, component)}: the allocation has no placement list`, {
            service,
            component,
          });
          readable = false;
        }
      });
    }
  });
  return readable;
}

/**
 * Reads one component's allocation, reporting per-entry shape problems. The values are still used as given
 * (a fractional count stays fractional) so that every other constraint is judged on what the allocation says;
 * placements on a host that does not exist are reported and left out, since there is no host to charge them to.
 * Names are built only for a problem, and the state is one object literal (one hidden class for every component:
 * loops over 1,000 states built by spreading ran some 30× slower).
 */
function readComponent(
  model: AdmissionModel,
  service: Service,
  component: Component,
  entry: ComponentAllocation,
  out: Violations,
): ComponentState {
  const where = { service, component };
  let named: string | undefined;
  const nameOf_ = (): string => (named ??= componentName(service, component));
  if (typeof entry.acceptedLocally !== 'boolean') {
    out.add('allocation-shape', `${nameOf_()}: acceptedLocally must be a boolean, is ${String(entry.acceptedLocally)}`, where);
  }
  if (!isCount(entry.federatedVms)) {
    out.add('allocation-shape', `${nameOf_()}: federatedVms must be an integer ≥ 0, is ${String(entry.federatedVms)}`, where);
  }
  const vmsByHost = new Map<number, number>();
  let localVms = 0;
  for (const placement of entry.placements) {
    const { hostIndex, vms } = placement;
    if (!Number.isInteger(hostIndex) || hostIndex < 0 || hostIndex >= model.hosts.length) {
      out.add(
        'allocation-shape',
        `${nameOf_()}: host index must be an integer in [0, ${model.hosts.length - 1}], is ${String(hostIndex)}`,
        where,
      );
      continue;
    }
    const host = model.hosts[hostIndex];
    if (!isCount(vms)) {
      out.add('allocation-shape', `${nameOf_()}: VMs on host ${nameOf(host)} must be an integer ≥ 0, is ${String(vms)}`, {
        ...where,
        host,
      });
    }
    const previous = vmsByHost.get(hostIndex);
    if (previous !== undefined) {
      out.add('allocation-shape', `${nameOf_()}: host ${nameOf(host)} appears more than once in the placements`, {
        ...where,
        host,
      });
    }
    vmsByHost.set(hostIndex, (previous ?? 0) + vms);
    localVms += vms;
  }
  let hostsUsed = 0;
  for (const vms of vmsByHost.values()) if (vms > 0) hostsUsed += 1;
  const y = entry.acceptedLocally === true ? 1 : 0;
  const federatedVms = entry.federatedVms;
  return { component, y, localVms, federatedVms, vmsByHost, hostsUsed, cdf: componentCdf(service, component, y, localVms, federatedVms) };
}

// ---------------------------------------------------------------------------------------------
// Host capacity [cpu_res_Eq, cpu_res_threshold; v1 free_memory]

/** Charges every placement to its host; only hosts that carry VMs are visited. */
function checkHosts(model: AdmissionModel, states: readonly (readonly ComponentState[])[], out: Violations): void {
  const cpus = new Map<number, number>();
  const memory = new Map<number, number>();
  for (const row of states) {
    for (const state of row) {
      for (const [j, vms] of state.vmsByHost) {
        cpus.set(j, (cpus.get(j) ?? 0) + state.component.vcpus * vms);
        if (model.hosts[j].freeMemoryMb !== undefined) {
          memory.set(j, (memory.get(j) ?? 0) + (state.component.memoryMb ?? 0) * vms);
        }
      }
    }
  }
  for (const [j, used] of cpus) {
    const host = model.hosts[j];
    const free = Math.max(0, host.cpus - host.usedCpus);
    if (exceeds(used, free)) {
      out.add('host-capacity-cpu', `host ${nameOf(host)}: ${num(used)} CPUs used, ${num(free)} free`, { host });
    }
  }
  for (const [j, used] of memory) {
    const host = model.hosts[j];
    const free = host.freeMemoryMb as number;
    if (exceeds(used, free)) {
      out.add('host-capacity-memory', `host ${nameOf(host)}: ${num(used)} MB memory used, ${num(free)} MB free`, {
        host,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Per component

/** cdf_sc_eq (federation allowed) / cdf_sc_eq_plus (forbidden, where φ = 0 by fed_vms_eq). */
function componentCdf(service: Service, c: Component, y: number, localVms: number, federatedVms: number): number {
  const elastic = c.maxVms - c.basic;
  return service.federationAllowed
    ? (localVms + federatedVms - c.basic + 1) / (elastic + 1)
    : (y * (localVms - c.basic + 1)) / (elastic + 1);
}

/** VM counts [allocation, allocation_], federation [fed_vms_eq, new, fed_vm_eq_plus] and availability. */
function checkCounts(service: Service, s: ComponentState, out: Violations): void {
  const c = s.component;
  const where = { service, component: c };
  const name = componentName(service, c);
  const { y, localVms: X, federatedVms: phi, cdf } = s;
  const accepted = y === 1 ? 'accepted locally' : 'rejected locally';

  if (X < c.basic * y) {
    out.add('basic-vms', `${name}: ${accepted} needs ≥ ${c.basic} local VMs (basic), has ${num(X)}`, where);
  }
  if (X > c.maxVms * y) {
    out.add('maximum-vms', `${name}: ${accepted} allows ≤ ${c.maxVms * y} local VMs, has ${num(X)}`, where);
  }
  if (!service.federationAllowed && phi !== 0) {
    out.add('federation-forbidden', `${name}: federation is forbidden for this service, ${num(phi)} VMs federated`, where);
  }
  // A negative or fractional φ is an allocation-shape problem (reported when reading); this is the model's bound.
  if (phi > c.maxVms) {
    out.add('federation-range', `${name}: at most ${c.maxVms} VMs may be federated, has ${num(phi)}`, where);
  }
  if (cdf < -TOLERANCE || cdf > 1 + TOLERANCE) {
    // For federation-allowed services this is b − 1 ≤ X + φ ≤ U: a rejected component with b ≥ 2 must federate (Q5).
    const detail = service.federationAllowed
      ? `needs ${c.basic - 1} ≤ local + federated VMs ≤ ${c.maxVms}, has ${num(X + phi)}`
      : `needs ${c.basic - 1} ≤ local VMs ≤ ${c.maxVms} when accepted, has ${num(X)}`;
    out.add('availability-range', `${name}: availability ${num(cdf)} is outside [0, 1]; ${detail}`, where);
  }
  // A zero requirement is just cdf ≥ 0, already reported as availability-range; only positive targets add a fact.
  const localTarget = c.availability * y;
  if (c.antiAffinity !== 2 && localTarget > 0 && cdf < localTarget - TOLERANCE) {
    out.add(
      'component-availability',
      `${name}: accepted locally needs availability ≥ ${num(c.availability)}, has ${num(cdf)}`,
      where,
    );
  }
  if (service.federationAllowed) {
    const federatedTarget = c.availability * (1 - y) * (phi >= 1 ? 1 : 0);
    if (federatedTarget > 0 && cdf < federatedTarget - TOLERANCE) {
      out.add(
        'federated-availability',
        `${name}: rejected locally but federated needs availability ≥ ${num(c.availability)}, has ${num(cdf)}`,
        where,
      );
    }
    if (c.antiAffinity === 2 && phi < y) {
      out.add(
        'anti-affinity-high-federation',
        `${name}: High anti-affinity and accepted locally needs ≥ 1 federated VM, has ${num(phi)}`,
        where,
      );
    }
  }
}

/** Component-level placement rules [anti_affinity_sc_, anti_affinity_sc, affinity_sc]; Medium affinity is a no-op (Q6). */
function checkPlacement(model: AdmissionModel, service: Service, s: ComponentState, out: Violations): void {
  const c = s.component;
  const where = { service, component: c };
  const name = componentName(service, c);
  if (c.antiAffinity === 2 && s.localVms > c.basic) {
    out.add(
      'anti-affinity-high-basic',
      `${name}: High anti-affinity allows ≤ ${c.basic} local VMs (basic), has ${num(s.localVms)}`,
      where,
    );
  }
  if (c.antiAffinity === 1) {
    for (const [j, vms] of s.vmsByHost) {
      if (vms > 1) {
        const host = model.hosts[j];
        out.add(
          'anti-affinity-medium-component',
          `${name}: Medium anti-affinity allows ≤ 1 VM per host, host ${nameOf(host)} has ${num(vms)}`,
          { ...where, host },
        );
      }
    }
  }
  if (c.affinity === 2 && s.hostsUsed !== s.y) {
    out.add(
      'affinity-high-component',
      `${name}: High affinity needs ${s.y === 1 ? 'exactly 1 host when accepted' : 'no host when rejected'}, uses ${s.hostsUsed}`,
      where,
    );
  }
  if (c.requires && c.requires.length > 0) {
    for (const [j, vms] of s.vmsByHost) {
      if (!(vms > 0)) continue;
      const host = model.hosts[j];
      for (const r of c.requires) {
        const value = host.capabilities?.[r.name];
        if (satisfies(value, r)) continue;
        const has = value === undefined ? 'has no ' + r.name : value === true ? `has ${r.name} as a flag (no version)` : `has ${r.name} ${value}`;
        out.add('capability-requirement', `${name}: requires ${requirementText(r)}, host ${nameOf(host)} ${has}`, { ...where, host });
      }
    }
  }
}

/** [eac:SameValue] every host the members use has one and the same value of the capability. */
function checkSameValue(model: AdmissionModel, service: Service, states: readonly ComponentState[], out: Violations): void {
  for (const rule of service.sameValue ?? []) {
    const values = new Map<string, string>();
    for (const member of rule.members) {
      const i = service.components.findIndex((c) => c.id === member);
      if (i < 0) continue;
      for (const [j, vms] of states[i].vmsByHost) {
        if (!(vms > 0)) continue;
        const host = model.hosts[j];
        const value = host.capabilities?.[rule.capability];
        const shown = value === undefined ? '(none)' : value === true ? '(flag)' : value;
        if (!values.has(shown)) values.set(shown, nameOf(host));
      }
    }
    if (values.size > 1 || values.has('(none)')) {
      const seen = [...values].map(([v, host]) => `${v} on ${host}`).join(', ');
      out.add(
        'capability-same-value',
        `service ${nameOf(service)}: ${rule.members.join(', ')} must run on hosts with one value of ${rule.capability}, found ${seen}`,
        { service },
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Per service

/**
 * xbool_low, xbool_up: a federation-forbidden service is all-or-nothing, b·X_a ≤ X ≤ U·X_a. With X_a = 1 both sides
 * restate basic-vms / maximum-vms (y = 1), and a rejected component with VMs is already a maximum-vms violation,
 * so what remains to report is an accepted component with local VMs in a service that is not fully accepted.
 */
function checkAllOrNothing(service: Service, states: readonly ComponentState[], fully: number, out: Violations): void {
  if (service.federationAllowed || fully === 1) return;
  const rejected = states.filter((s) => s.y === 0).map((s) => s.component.id);
  for (const s of states) {
    if (s.y === 1 && s.localVms > 0) {
      out.add(
        'all-or-nothing',
        `${componentName(service, s.component)}: service ${nameOf(service)} forbids federation and is not fully accepted ` +
          `(rejected: ${rejected.join(', ')}), so no local VM is allowed; has ${num(s.localVms)}`,
        { service, component: s.component },
      );
    }
  }
}

/** Members of a rule as component states; members that are not components of the service are free in GAMS, so ignored. */
function ruleMembers(rule: Rule, states: readonly ComponentState[], index: ReadonlyMap<string, number>): ComponentState[] {
  const members: ComponentState[] = [];
  for (const id of new Set(rule.members)) {
    const i = index.get(id);
    if (i !== undefined) members.push(states[i]);
  }
  return members;
}

/** Component id → position in the service (ids are unique in a valid model; the last wins otherwise, as a Map of states did). */
function componentIndex(service: Service): Map<string, number> {
  return new Map(service.components.map((c, i) => [c.id, i]));
}

/** Service-level rules [affinity_rule_, low/up/affinity_rule, affinity_rule_plus, anti_affinity_rule_, anti_affinity_rule]. */
function checkRules(
  model: AdmissionModel,
  service: Service,
  states: readonly ComponentState[],
  out: Violations,
  only?: ReadonlySet<number>,
  index: ReadonlyMap<string, number> = componentIndex(service),
): void {
  service.rules.forEach((rule, r) => {
    if (only && !only.has(r)) return;
    const members = ruleMembers(rule, states, index);
    if (members.length === 0) return;
    const ids = members.map((m) => m.component.id).join(', ');
    const label = `service ${nameOf(service)}: ${rule.level === 2 ? 'High' : 'Medium'} ${rule.kind === 'affinity' ? 'affinity' : 'anti-affinity'} rule ${r + 1} {${ids}}`;
    const accepted = members.filter((m) => m.y === 1);

    if (rule.kind === 'affinity') {
      if (rule.level === 1 && accepted.length !== 0 && accepted.length !== members.length) {
        out.add(
          'affinity-medium-rule',
          `${label} needs all members accepted or all rejected; accepted: ${accepted.map((m) => m.component.id).join(', ')}`,
          { service },
        );
      }
      if (rule.level === 2) {
        const all = accepted.length === members.length ? 1 : 0;
        const hosts = new Set<number>();
        for (const m of members) for (const [j, vms] of m.vmsByHost) if (vms > 0) hosts.add(j);
        if (hosts.size !== all) {
          const required = all === 1 ? 'all member VMs on exactly 1 host' : 'no local member VM, as not all members are accepted';
          out.add('affinity-high-rule', `${label} needs ${required}; member VMs are on ${hosts.size} hosts`, { service });
        }
      }
      // affinity_rule_plus holds for Medium and High alike.
      for (const m of accepted) {
        if (m.federatedVms !== 0) {
          out.add(
            'affinity-rule-federation',
            `${label}: accepted member ${m.component.id} may not be federated, has ${num(m.federatedVms)} federated VMs`,
            { service, component: m.component },
          );
        }
      }
      return;
    }

    if (rule.level === 1) {
      // Only hosts the members actually use are examined, so the cost follows the placements, not the host count.
      const onHost = new Map<number, string[]>();
      for (const m of members) {
        for (const [j, vms] of m.vmsByHost) {
          if (vms <= 0) continue;
          const list = onHost.get(j);
          if (list) list.push(m.component.id);
          else onHost.set(j, [m.component.id]);
        }
      }
      for (const [j, list] of onHost) {
        if (list.length > 1) {
          const host = model.hosts[j];
          out.add('anti-affinity-medium-rule', `${label} allows ≤ 1 member per host; host ${nameOf(host)} has ${list.join(', ')}`, {
            service,
            host,
          });
        }
      }
    } else if (accepted.length > 1) {
      out.add(
        'anti-affinity-high-rule',
        `${label} allows ≤ 1 member accepted locally, has ${accepted.length} (${accepted.map((m) => m.component.id).join(', ')})`,
        { service },
      );
    }
  });
}

/** eco_cons, risk_cons, trust_cons: a bound the service's own TREC data miss forbids full acceptance (for AF only that, Q7). */
function checkTrec(service: Service, fully: number, out: Violations): void {
  if (fully !== 1) return;
  const { constraints: bound } = service;
  const name = `service ${nameOf(service)}`;
  if (service.eco < bound.eco) {
    out.add('trec-eco', `${name}: full acceptance needs eco ≥ ${num(bound.eco)}, has ${num(service.eco)}`, { service });
  }
  if (service.risk > bound.risk) {
    out.add('trec-risk', `${name}: full acceptance needs risk ≤ ${num(bound.risk)}, has ${num(service.risk)}`, { service });
  }
  if (service.trust < bound.trust) {
    out.add('trec-trust', `${name}: full acceptance needs trust ≥ ${num(bound.trust)}, has ${num(service.trust)}`, {
      service,
    });
  }
}

/** The service's aggregate values; one function for verify and for what-ifs, so both compute them bit for bit alike. */
interface ServiceTotals {
  readonly localVms: number;
  readonly maxVms: number;
  readonly federatedVms: number;
  readonly acceptedElasticVms: number;
  readonly average: number;
  readonly jointAvailability: number;
  readonly share: number;
  readonly cost: number;
  /** Σ placementCharge over the local placements (extension: charging); 0 without model charging. */
  readonly charge: number;
  readonly objectiveContribution: number;
  readonly anyAccepted: boolean;
}

function serviceTotals(model: AdmissionModel, service: Service, states: readonly ComponentState[], fully: number): ServiceTotals {
  const n = service.components.length;
  const penalty = 0.5 * service.gain;
  let localVms = 0;
  let maxVms = 0;
  let federatedVms = 0;
  let acceptedElasticVms = 0;
  let cdfSum = 0;
  let jointAvailability = 1;
  let federationCost = 0;
  let anyAccepted = false;
  let charge = 0;
  for (const s of states) {
    const c = s.component;
    // Only local VMs are charged here (federated VMs are the peer's to charge); hosts in ascending index order, so
    // the sum does not depend on the order of the placements.
    if (model.charging) {
      for (const j of [...s.vmsByHost.keys()].sort((p, q) => p - q)) charge += placementCharge(model, model.hosts[j], c, s.vmsByHost.get(j)!);
    }
    localVms += s.localVms;
    maxVms += c.maxVms;
    federatedVms += s.federatedVms;
    acceptedElasticVms += s.localVms - c.basic * s.y;
    cdfSum += s.cdf;
    federationCost += ((0.8 * service.gain) / (n * c.maxVms)) * s.federatedVms;
    if (s.y === 1) {
      anyAccepted = true;
      jointAvailability *= s.cdf;
    }
  }
  const average = service.federationAllowed ? cdfSum / n : (fully * cdfSum) / n;
  const share = localVms / maxVms;
  const cost = penalty * (1 - average) + federationCost;
  const w = model.weights;
  // D3: no Z ≥ 0 bound, D4: no ε-gaps; the z_j terms are 0 in v6.0.
  const objectiveContribution =
    (w.cost * service.gain + w.eco * service.eco + w.trust * service.trust - w.risk * service.risk) * average -
    w.risk * penalty * share * (1 - average) -
    w.cost * federationCost;
  return { localVms, maxVms, federatedVms, acceptedElasticVms, average, jointAvailability, share, cost, charge, objectiveContribution, anyAccepted };
}

/** The cost bound (D2), which binds only with local acceptance. */
function checkCostBound(service: Service, totals: ServiceTotals, out: Violations): void {
  if (totals.anyAccepted && exceeds(totals.cost, service.constraints.cost)) {
    out.add(
      'cost-bound',
      `service ${nameOf(service)}: cost must be ≤ ${num(service.constraints.cost)} when a component is accepted locally, is ${num(totals.cost)}`,
      { service },
    );
  }
}

/**
 * The charge bound (extension: charging), which binds only with local acceptance like D2: a client's cap applies to what
 * the provider runs for it, and a service with nothing local is charged nothing here. Only with model charging.
 */
function checkChargeBound(model: AdmissionModel, service: Service, totals: ServiceTotals, out: Violations): void {
  const bound = service.chargeBound;
  if (!model.charging || bound === undefined) return;
  if (totals.anyAccepted && exceeds(totals.charge, bound)) {
    out.add(
      'charge-bound',
      `service ${nameOf(service)}: charge must be ≤ ${num(bound)} when a component is accepted locally, is ${num(totals.charge)}`,
      { service },
    );
  }
}

/** Recomputes the service's values and objective term; checks the cost and charge bounds. */
function evaluateService(
  model: AdmissionModel,
  service: Service,
  states: readonly ComponentState[],
  fully: number,
  out: Violations,
): ServiceEvaluation {
  const totals = serviceTotals(model, service, states, fully);
  checkCostBound(service, totals, out);
  checkChargeBound(model, service, totals, out);
  const components: ComponentEvaluation[] = states.map((s) => ({
    id: s.component.id,
    acceptedLocally: s.y === 1,
    localVms: s.localVms,
    federatedVms: s.federatedVms,
    acceptedElasticVms: s.localVms - s.component.basic * s.y,
    availability: s.cdf,
    hostsUsed: s.hostsUsed,
  }));
  return {
    id: service.id,
    fullyAccepted: fully === 1,
    anyAcceptedLocally: totals.anyAccepted,
    localVms: totals.localVms,
    maxVms: totals.maxVms,
    federatedVms: totals.federatedVms,
    acceptedElasticVms: totals.acceptedElasticVms,
    averageAvailability: totals.average,
    jointAvailability: totals.jointAvailability,
    acceptedVmShare: totals.share,
    cost: totals.cost,
    charge: totals.charge,
    objectiveContribution: totals.objectiveContribution,
    components,
  };
}

// ---------------------------------------------------------------------------------------------

export function verify(model: AdmissionModel, allocation: Allocation): Verification {
  const out = new Violations();
  if (!checkStructure(model, allocation, out)) {
    return { feasible: false, violations: out.list, objective: Number.NaN, services: [] };
  }

  const states: ComponentState[][] = model.services.map((service, a) =>
    service.components.map((component, i) => {
      return readComponent(model, service, component, allocation.services[a][i], out);
    }),
  );

  checkHosts(model, states, out);

  const services = model.services.map((service, a) => {
    const row = states[a];
    const fully = row.every((s) => s.y === 1) ? 1 : 0;
    for (const s of row) {
      checkCounts(service, s, out);
      checkPlacement(model, service, s, out);
    }
    checkAllOrNothing(service, row, fully, out);
    checkRules(model, service, row, out);
    checkSameValue(model, service, row, out);
    checkTrec(service, fully, out);
    return evaluateService(model, service, row, fully, out);
  });

  return {
    feasible: out.list.length === 0,
    violations: out.list,
    objective: services.reduce((sum, s) => sum + s.objectiveContribution, 0),
    services,
  };
}

// ---------------------------------------------------------------------------------------------
// What-ifs: variants of one allocation that differ in one service

export interface ChangeVerification {
  readonly feasible: boolean;
  readonly violations: readonly Violation[];
  readonly objective: number;
}

/** A host's users in verify's loop order (services, then components): what its usage sums, in that order. */
interface HostUser {
  readonly a: number;
  readonly i: number;
  readonly vms: number;
}

/**
 * Judges variants of one allocation that each change some components of one service, exactly as `verify` judges the
 * whole changed allocation: the same feasibility, the same violations in the same order, the same objective to the
 * bit (the same functions run in the same order). Set up once per allocation in O(placements); a variant then costs
 * O(its service + the hosts it touches) instead of O(model), which is what makes explaining 1,000 components cheap.
 * A base allocation `verify` did not accept, or a variant that breaks a host's capacity, is judged by `verify` itself.
 */
export class ChangeVerifier {
  private readonly rows = new Map<number, ComponentState[]>();
  private readonly rulesByComponent = new Map<number, number[][]>();
  private users: Map<number, HostUser[]> | null = null;

  constructor(
    private readonly model: AdmissionModel,
    private readonly allocation: Allocation,
    private readonly verification: Verification,
  ) {}

  verifyChange(a: number, changes: ReadonlyMap<number, ComponentAllocation>): ChangeVerification {
    if (!this.verification.feasible) return verify(this.model, this.merged(a, changes));
    const model = this.model;
    const service = model.services[a];
    const base = this.row(a);
    const row = base.slice();
    const changed = [...changes.keys()].sort((x, y) => x - y);
    const out = new Violations();
    for (const i of changed) {
      const component = service.components[i];
      row[i] = readComponent(model, service, component, changes.get(i)!, out);
    }
    if (this.breaksAHost(a, changed, base, row)) return verify(model, this.merged(a, changes));
    const fully = row.every((s) => s.y === 1) ? 1 : 0;
    // Unchanged components passed in the base allocation and depend on nothing else: only the changed are checked.
    for (const i of changed) {
      checkCounts(service, row[i], out);
      checkPlacement(model, service, row[i], out);
    }
    checkAllOrNothing(service, row, fully, out);
    const rules = this.rulesOf(a);
    const involved = new Set<number>();
    for (const i of changed) for (const r of rules[i]) involved.add(r);
    checkRules(model, service, row, out, involved, this.indexOf(a));
    checkSameValue(model, service, row, out);
    checkTrec(service, fully, out);
    const totals = serviceTotals(model, service, row, fully);
    checkCostBound(service, totals, out);
    checkChargeBound(model, service, totals, out);
    const contributions = this.verification.services;
    let objective = 0;
    for (let b = 0; b < contributions.length; b++) objective += b === a ? totals.objectiveContribution : contributions[b].objectiveContribution;
    return { feasible: out.list.length === 0, violations: out.list, objective };
  }

  /** The base allocation's component states of service a (it passed verify, so reading reports nothing). */
  private row(a: number): ComponentState[] {
    let row = this.rows.get(a);
    if (!row) {
      const service = this.model.services[a];
      const ignored = new Violations();
      row = service.components.map((component, i) => {
        return readComponent(this.model, service, component, this.allocation.services[a][i], ignored);
      });
      this.rows.set(a, row);
    }
    return row;
  }

  private readonly indexes = new Map<number, Map<string, number>>();

  private indexOf(a: number): Map<string, number> {
    let index = this.indexes.get(a);
    if (!index) this.indexes.set(a, (index = componentIndex(this.model.services[a])));
    return index;
  }

  private rulesOf(a: number): number[][] {
    let rules = this.rulesByComponent.get(a);
    if (!rules) {
      const service = this.model.services[a];
      const index = new Map(service.components.map((c, i) => [c.id, i]));
      rules = service.components.map(() => []);
      service.rules.forEach((rule, r) => {
        for (const id of new Set(rule.members)) {
          const i = index.get(id);
          if (i !== undefined) rules![i].push(r);
        }
      });
      this.rulesByComponent.set(a, rules);
    }
    return rules;
  }

  /**
   * Whether a host the changed components touch would exceed its capacity. Its usage is summed as checkHosts sums it,
   * in verify's loop order with the changed components in their places, so borderline sums round alike.
   */
  private breaksAHost(a: number, changed: readonly number[], base: readonly ComponentState[], row: readonly ComponentState[]): boolean {
    const model = this.model;
    const users = this.hostUsers();
    const touched = new Set<number>();
    const added = new Map<number, HostUser[]>();
    for (const i of changed) {
      for (const j of base[i].vmsByHost.keys()) touched.add(j);
      for (const [j, vms] of row[i].vmsByHost) {
        touched.add(j);
        const list = added.get(j);
        if (list) list.push({ a, i, vms });
        else added.set(j, [{ a, i, vms }]);
      }
    }
    const isChanged = new Set(changed);
    for (const j of touched) {
      const host = model.hosts[j];
      const list: HostUser[] = (users.get(j) ?? []).filter((u) => u.a !== a || !isChanged.has(u.i));
      list.push(...(added.get(j) ?? []));
      list.sort((p, q) => p.a - q.a || p.i - q.i);
      let cpus = 0;
      let memory = 0;
      for (const u of list) {
        const c = model.services[u.a].components[u.i];
        cpus += c.vcpus * u.vms;
        memory += (c.memoryMb ?? 0) * u.vms;
      }
      if (exceeds(cpus, Math.max(0, host.cpus - host.usedCpus))) return true;
      if (host.freeMemoryMb !== undefined && exceeds(memory, host.freeMemoryMb)) return true;
    }
    return false;
  }

  private hostUsers(): Map<number, HostUser[]> {
    if (this.users) return this.users;
    const users = new Map<number, HostUser[]>();
    this.model.services.forEach((_, a) =>
      this.row(a).forEach((state, i) => {
        for (const [j, vms] of state.vmsByHost) {
          const list = users.get(j);
          if (list) list.push({ a, i, vms });
          else users.set(j, [{ a, i, vms }]);
        }
      }),
    );
    return (this.users = users);
  }

  private merged(a: number, changes: ReadonlyMap<number, ComponentAllocation>): Allocation {
    return {
      services: this.allocation.services.map((comps, b) => (b === a ? comps.map((ca, i) => changes.get(i) ?? ca) : comps)),
    };
  }
}
