/**
 * The reason catalogue: every code a component's `reasons` can carry, the data it carries and the one sentence built
 * from that data. Each reason is made by its builder below, which prints its message from the very values it puts in
 * `data` (through `fmt`), so that message and data can never disagree. Which reason applies is decided in explain.ts.
 *
 * | code | when | data |
 * |---|---|---|
 * | TREC_BOUND | the service's trust / risk / eco misses its bound, so it may not be fully accepted | metric, value, bound |
 * | ALL_OR_NOTHING | federation is forbidden: the service is admitted whole or not at all | federationAllowed: false, blockedBy? (components that cannot be admitted) |
 * | ANTI_AFFINITY_HIGH | High anti-affinity: only the basic VMs may run here | basicVms, maxVms |
 * | ANTI_AFFINITY_HIGH_RULE | a High anti-affinity rule lets one member run here, and another does | members, acceptedMember |
 * | AFFINITY_RULE_GROUP | an affinity rule's members are admitted together or not at all | members, level, notAdmitted |
 * | CAPABILITY_UNAVAILABLE | no host satisfies the component's capability requirements (and same-value rule) | requirements, hosts, perRequirement[] (hostsSatisfying, values seen, hostsWithout) |
 * | CAPABILITY_SCARCE | some hosts qualify, but their free capacity (bookings taken) cannot hold the step even alone | requirements, hostsQualifying, hostIds, vmsNeeded, vmsThatFit (or hostsAble / largest group room) |
 * | VM_LARGER_THAN_ANY_HOST | one VM needs more CPUs than the largest host has in total | vcpus, largestHostCpus |
 * | AFFINITY_GROUP_TOO_BIG | a same-host (High affinity) group needs more CPUs than the largest host has in total | groupCpus, largestHostCpus, members |
 * | HOST_TOO_SMALL | a VM or a same-host group fits a host's total, but no host has that much free (bookings aside) | neededCpusOnOneHost, largestFreeHostCpus (or the memory variant), members? |
 * | NOT_ENOUGH_HOSTS | Medium anti-affinity: fewer hosts can take one VM (bookings aside) than VMs are needed | hostsNeeded, hostsAble, vcpus, memoryMb? |
 * | INSUFFICIENT_CAPACITY | the fleet's free capacity (host-info's usage, not bookings) has room for fewer VMs than needed | vmsNeeded, vmsThatFit, vcpus, neededCpus, freeCpus, … |
 * | CAPACITY_IN_USE | it would fit without bookings: recorded admissions hold what is missing | hosts, hostIds, heldCpus, heldMemoryMb, holders[], holdersTotal, … |
 * | CAPACITY_TAKEN_BY_THIS_ADMISSION | it would fit on the free capacity, but VMs this same admission placed use it | hosts, users[], usersTotal, usedCpus, … |
 * | EXCLUDED_BY_RULE | it would fit on hosts a Medium anti-affinity rule keeps it off | ruleKind, ruleLevel, members, hosts, hostIds |
 * | AVAILABILITY_FORCES_VMS | the availability target requires more VMs than fit, where fewer would | target, vmsRequired, maxVms, fewerVms, cdfWithFewer, vmsThatFit |
 * | CONSTRAINT | the next step fits but would break a named constraint | constraint |
 * | OBJECTIVE | the next step fits but would not raise the objective | objectiveDelta |
 * | NOT_IMPROVED | the next step fits and would raise the objective: the solver did not find it | objectiveDelta |
 * | NOT_DETERMINED | none of the above could be established | tried, … |
 */

export type ReasonCode =
  | 'TREC_BOUND'
  | 'ALL_OR_NOTHING'
  | 'ANTI_AFFINITY_HIGH'
  | 'ANTI_AFFINITY_HIGH_RULE'
  | 'AFFINITY_RULE_GROUP'
  | 'CAPABILITY_UNAVAILABLE'
  | 'CAPABILITY_SCARCE'
  | 'VM_LARGER_THAN_ANY_HOST'
  | 'AFFINITY_GROUP_TOO_BIG'
  | 'HOST_TOO_SMALL'
  | 'NOT_ENOUGH_HOSTS'
  | 'INSUFFICIENT_CAPACITY'
  | 'CAPACITY_IN_USE'
  | 'CAPACITY_TAKEN_BY_THIS_ADMISSION'
  | 'EXCLUDED_BY_RULE'
  | 'AVAILABILITY_FORCES_VMS'
  | 'CONSTRAINT'
  | 'OBJECTIVE'
  | 'NOT_IMPROVED'
  | 'NOT_DETERMINED';

/** JSON values, as the answer carries them. */
export type ReasonValue = number | string | boolean | null | readonly ReasonValue[] | { readonly [key: string]: ReasonValue };

export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
  readonly data: Readonly<Record<string, ReasonValue>>;
}

/** At most this many admissions, services or host ids are listed in one reason (totals say how many there are). */
export const MAX_LISTED = 10;

/**
 * The one number format of reasons: integers as they are, other values with 6 significant digits (0.001 stays
 * "0.001", 1/3 is "0.333333"), never rounded to a fixed number of decimals.
 */
export function fmt(n: number): string {
  if (Number.isInteger(n) || !Number.isFinite(n)) return String(n);
  return String(Number(n.toPrecision(6)));
}

/**
 * A data record from parts, in order, without undefined values. (Not object spreads: `{ ...a, b, c, … }` takes some
 * microseconds in Node 20's V8, and thousands of reasons are built per admission.)
 */
export function record(...parts: readonly Readonly<Record<string, ReasonValue | undefined>>[]): Record<string, ReasonValue> {
  const out: Record<string, ReasonValue> = {};
  for (const part of parts) {
    for (const key of Object.keys(part)) {
      const value = part[key];
      if (value !== undefined) out[key] = value;
    }
  }
  return out;
}

const list = (items: readonly string[]): string => items.join(', ');
const cpusAndMemory = (cpus: number, memoryMb: number | undefined): string =>
  `${fmt(cpus)} CPU${cpus === 1 ? '' : 's'}${memoryMb ? ` and ${fmt(memoryMb)} MB` : ''}`;
const more = (shown: number, total: number): string => (total > shown ? ` and ${total - shown} more` : '');

/** Bookings aside: what a reason counts as free when recorded admissions hold part of the fleet. */
const aside = (bookings: boolean): string => (bookings ? ' (bookings aside)' : '');

// ---------------------------------------------------------------------------------------------
// Builders, one per code.

export function trecBound(metric: string, value: number, bound: number, op: '≥' | '≤'): Reason {
  return {
    code: 'TREC_BOUND',
    message: `service ${metric} ${fmt(value)} does not meet the bound ${op} ${fmt(bound)}, so the service may not be fully accepted`,
    data: { metric, value, bound },
  };
}

export function allOrNothing(service: string, blockedBy: readonly string[] = []): Reason {
  return {
    code: 'ALL_OR_NOTHING',
    message:
      `federation is forbidden for ${service}, so it is admitted whole or not at all` +
      (blockedBy.length ? `, and ${list(blockedBy)} cannot be admitted (see ${blockedBy.length === 1 ? 'its' : 'their'} reasons)` : ''),
    data: blockedBy.length ? { federationAllowed: false, blockedBy } : { federationAllowed: false },
  };
}

export function antiAffinityHigh(component: string, basicVms: number, maxVms: number): Reason {
  return {
    code: 'ANTI_AFFINITY_HIGH',
    message: `High anti-affinity keeps the ${maxVms - basicVms} elastic VM(s) of ${component} in other clouds: at most ${basicVms} run locally`,
    data: { basicVms, maxVms },
  };
}

export function antiAffinityHighRule(members: readonly string[], acceptedMember: string): Reason {
  return {
    code: 'ANTI_AFFINITY_HIGH_RULE',
    message: `High anti-affinity rule over ${list(members)}: only one may run locally, and ${acceptedMember} does`,
    data: { members, acceptedMember },
  };
}

export function affinityRuleGroup(members: readonly string[], level: 1 | 2, notAdmitted: readonly string[]): Reason {
  return {
    code: 'AFFINITY_RULE_GROUP',
    message: `${level === 2 ? 'High' : 'Medium'} affinity rule over ${list(members)}: the members are admitted together or not at all`,
    data: { members, level, notAdmitted },
  };
}

/** How the fleet stands towards one requirement: hosts satisfying it, and the values (with counts) it has instead. */
export interface RequirementFigures {
  readonly requirement: string;
  readonly hostsSatisfying: number;
  /** The capability's values among the hosts, most common first (at most MAX_LISTED), with their host counts. */
  readonly values: readonly { readonly value: string; readonly hosts: number }[];
  readonly hostsWithout: number;
}

function requirementSentence(f: RequirementFigures): string {
  const name = f.requirement.replace(/^!/, '').split('@')[0]!;
  const seen = f.values.map((v) => `${v.hosts} host${v.hosts === 1 ? ' has' : 's have'} ${name}${v.value === 'flag' ? '' : ` ${v.value}`}`);
  if (f.hostsWithout > 0) seen.push(`${f.hostsWithout} ha${f.hostsWithout === 1 ? 's' : 've'} none`);
  return `${f.requirement}: ${f.hostsSatisfying} host(s) satisfy it${seen.length ? ` (${list(seen)})` : ''}`;
}

/** `sameValue`: the capability the component must share with others, when that narrows the hosts too. */
export function capabilityUnavailable(component: string, requirements: readonly string[], hosts: number, perRequirement: readonly RequirementFigures[], sameValue?: string): Reason {
  const what = requirements.length === 1 ? requirements[0]! : `all of ${list(requirements)}`;
  return {
    code: 'CAPABILITY_UNAVAILABLE',
    message:
      `no host offers what ${component} requires (${what}${sameValue ? `, on one value of ${sameValue} shared with its rule` : ''}): of ${hosts} host(s), ` +
      perRequirement.map(requirementSentence).join('; '),
    data: record({
      requirements,
      hosts,
      sameValue,
      perRequirement: perRequirement.map((f) => ({ requirement: f.requirement, hostsSatisfying: f.hostsSatisfying, values: f.values.map((v) => ({ value: v.value, hosts: v.hosts })), hostsWithout: f.hostsWithout })),
    }),
  };
}

export interface ScarceFigures {
  readonly hostsQualifying: number;
  /** The qualifying hosts (at most MAX_LISTED). */
  readonly hostIds: readonly string[];
  readonly vmsNeeded: number;
  /** plain: VMs that fit on them; spread: hosts that can take one; group: 0 (no one host holds the group). */
  readonly vmsThatFit: number;
  readonly kind: 'plain' | 'spread' | 'group';
  readonly vcpus: number;
  readonly memoryMb: number;
}

/** `what`: "one more VM of app", "the 2 basic VM(s) of app", … */
export function capabilityScarce(what: string, requirements: readonly string[], f: ScarceFigures): Reason {
  const hosts = `the ${f.hostsQualifying} host(s) that satisfy ${list(requirements)} (${list(f.hostIds)}${more(f.hostIds.length, f.hostsQualifying)})`;
  const room =
    f.kind === 'group'
      ? 'none of them has room for the same-host group'
      : f.kind === 'spread'
        ? `${f.vmsThatFit} of them can take one VM of ${cpusAndMemory(f.vcpus, f.memoryMb)}, and Medium anti-affinity needs ${f.vmsNeeded} hosts`
        : `they have room for ${f.vmsThatFit} VM(s) of ${cpusAndMemory(f.vcpus, f.memoryMb)}, ${f.vmsNeeded} needed`;
  return {
    code: 'CAPABILITY_SCARCE',
    message: `${what} does not fit: ${hosts} are the only ones it may use, and with their free capacity now (bookings taken) ${room}`,
    data: record({ requirements, hostsQualifying: f.hostsQualifying, hostIds: f.hostIds, kind: f.kind, vmsNeeded: f.vmsNeeded, vmsThatFit: f.vmsThatFit, vcpus: f.vcpus, memoryMb: f.memoryMb > 0 ? f.memoryMb : undefined }),
  };
}

export function vmLargerThanAnyHost(component: string, vcpus: number, largestHostCpus: number): Reason {
  return {
    code: 'VM_LARGER_THAN_ANY_HOST',
    message: `one VM of ${component} needs ${fmt(vcpus)} CPUs; the largest host has ${fmt(largestHostCpus)} in total`,
    data: { vcpus, largestHostCpus },
  };
}

export function affinityGroupTooBig(what: string, groupCpus: number, largestHostCpus: number, members: readonly string[]): Reason {
  return {
    code: 'AFFINITY_GROUP_TOO_BIG',
    message: `High affinity puts ${what} on one host: ${fmt(groupCpus)} CPUs, more than the largest host has in total (${fmt(largestHostCpus)})`,
    data: { groupCpus, largestHostCpus, members },
  };
}

/** Why no host can take `needCpus` (and `needMemoryMb`) at once: which of the two is short, from the fleet's figures. */
export type TooSmall =
  | { readonly kind: 'cpus'; readonly largestFreeHostCpus: number }
  | { readonly kind: 'memory'; readonly largestFreeHostMemoryMb: number }
  | { readonly kind: 'both'; readonly largestFreeHostCpusWithThatMemory: number };

export function hostTooSmall(
  what: { readonly group: boolean; readonly label: string; readonly members?: readonly string[] },
  needCpus: number,
  needMemoryMb: number,
  short: TooSmall,
  bookings: boolean,
): Reason {
  const memory = needMemoryMb > 0 && short.kind !== 'cpus';
  const need = `${what.label} needs ${fmt(needCpus)} CPUs${memory ? ` and ${fmt(needMemoryMb)} MB` : ''} on one host`;
  const have =
    short.kind === 'cpus'
      ? `the largest free host has ${fmt(short.largestFreeHostCpus)}`
      : short.kind === 'memory'
        ? `the most free memory on a host is ${fmt(short.largestFreeHostMemoryMb)} MB`
        : `hosts with ${fmt(needMemoryMb)} MB free have at most ${fmt(short.largestFreeHostCpusWithThatMemory)} CPUs free`;
  const figures: Record<string, number> =
    short.kind === 'cpus'
      ? { largestFreeHostCpus: short.largestFreeHostCpus }
      : short.kind === 'memory'
        ? { largestFreeHostMemoryMb: short.largestFreeHostMemoryMb }
        : { largestFreeHostCpusWithThatMemory: short.largestFreeHostCpusWithThatMemory };
  return {
    code: 'HOST_TOO_SMALL',
    message: `${need}; ${have}${aside(bookings)}`,
    data: record({ neededCpusOnOneHost: needCpus, neededMemoryMbOnOneHost: memory ? needMemoryMb : undefined }, figures, { members: what.members && what.group ? what.members : undefined }),
  };
}

export function notEnoughHosts(component: string, hostsNeeded: number, hostsAble: number, vcpus: number, memoryMb: number, bookings: boolean): Reason {
  return {
    code: 'NOT_ENOUGH_HOSTS',
    message:
      `Medium anti-affinity puts each VM of ${component} on its own host: ${hostsNeeded} VM(s) need ${hostsNeeded} hosts with ` +
      `${cpusAndMemory(vcpus, memoryMb)} free; ${hostsAble} can take one${aside(bookings)}`,
    data: record({ hostsNeeded, hostsAble, vcpus, memoryMb: memoryMb ? memoryMb : undefined }),
  };
}

export interface InsufficientFigures {
  readonly vmsNeeded: number;
  readonly vmsThatFit: number;
  readonly vcpus: number;
  readonly memoryMb: number;
  readonly freeCpus: number;
  /** Only when every host carries memory (otherwise memory does not limit every host and a total says nothing). */
  readonly freeMemoryMb?: number | undefined;
}

/** `what`: "the 6 basic VM(s) of web", "3 VM(s) of db", … */
export function insufficientCapacity(what: string, f: InsufficientFigures, bookings: boolean): Reason {
  const neededCpus = f.vmsNeeded * f.vcpus;
  const neededMemoryMb = f.vmsNeeded * f.memoryMb;
  const memory = f.memoryMb > 0;
  return {
    code: 'INSUFFICIENT_CAPACITY',
    message:
      `${what} need ${fmt(neededCpus)} CPUs${memory ? ` and ${fmt(neededMemoryMb)} MB` : ''}; the fleet has ` +
      `${fmt(f.freeCpus)}${memory ? ' CPUs' : ''}${f.freeMemoryMb !== undefined && memory ? ` and ${fmt(f.freeMemoryMb)} MB` : ''} free${aside(bookings)}, ` +
      `room for ${fmt(f.vmsThatFit)} such VM(s)`,
    data: record({
      vmsNeeded: f.vmsNeeded,
      vmsThatFit: f.vmsThatFit,
      vcpus: f.vcpus,
      neededCpus,
      freeCpus: f.freeCpus,
      memoryMb: memory ? f.memoryMb : undefined,
      neededMemoryMb: memory ? neededMemoryMb : undefined,
      freeMemoryMb: memory ? f.freeMemoryMb : undefined,
    }),
  };
}

/** The whole service at its minimum does not fit the fleet's free capacity, counted in CPUs. */
export function insufficientCapacityForService(service: string, neededCpus: number, freeCpus: number, bookings: boolean): Reason {
  return {
    code: 'INSUFFICIENT_CAPACITY',
    message: `admitting ${service} whole needs ${fmt(neededCpus)} CPUs; the fleet has ${fmt(freeCpus)} free${aside(bookings)}`,
    data: { service, neededCpus, freeCpus },
  };
}

/** One recorded admission holding capacity (on one host, or summed over the hosts a reason concerns); end null = open. */
export type HolderFigures = {
  readonly admissionId: string;
  readonly owner: string;
  readonly serviceId: string;
  readonly window: { readonly start: string; readonly end: string | null };
  readonly cpus: number;
  readonly memoryMb: number;
};

export interface HeldFigures {
  /** Hosts where bookings hold capacity the step would need. */
  readonly hostIds: readonly string[];
  readonly heldCpus: number;
  readonly heldMemoryMb: number;
  /** Largest first, at most MAX_LISTED; null when the holders were not looked up (no holdersByHost). */
  readonly holders: readonly HolderFigures[] | null;
  readonly holdersTotal: number;
}

/** `what`: "1 more VM of web (2 CPUs)", "admitting s whole", … */
export function capacityInUse(what: string, need: Readonly<Record<string, ReasonValue>>, held: HeldFigures): Reason {
  const shownIds = held.hostIds.slice(0, MAX_LISTED);
  const who =
    held.holders === null
      ? ' (who holds it was not looked up)'
      : `: ${held.holders.map((h) => `${h.admissionId} (${h.owner}, ${fmt(h.cpus)} CPUs${h.memoryMb ? `, ${fmt(h.memoryMb)} MB` : ''})`).join(', ')}${more(held.holders.length, held.holdersTotal)}`;
  return {
    code: 'CAPACITY_IN_USE',
    message:
      `${what} would fit without bookings, but recorded admissions hold ${fmt(held.heldCpus)} CPUs` +
      `${held.heldMemoryMb ? ` and ${fmt(held.heldMemoryMb)} MB` : ''} on the ${held.hostIds.length} host(s) it would need ` +
      `(${list(shownIds)}${more(shownIds.length, held.hostIds.length)})${who}`,
    data: record(need, {
      hosts: held.hostIds.length,
      hostIds: shownIds,
      heldCpus: held.heldCpus,
      heldMemoryMb: held.heldMemoryMb,
      holders: held.holders ?? [],
      holdersTotal: held.holdersTotal,
      holdersKnown: held.holders !== null,
    }),
  };
}

/** One component of this admission using capacity a reason needs (amounts on the hosts concerned only). */
export type UserFigures = {
  readonly serviceId: string;
  readonly componentId: string;
  readonly cpus: number;
  readonly memoryMb: number;
};

/** `hostIds`: the first hosts (at most MAX_LISTED) of the `hosts` concerned. */
export function capacityTakenByThisAdmission(
  what: string,
  need: Readonly<Record<string, ReasonValue>>,
  hosts: number,
  hostIds: readonly string[],
  users: readonly UserFigures[],
  usersTotal: number,
  usedCpus: number,
): Reason {
  const shownIds = hostIds.slice(0, MAX_LISTED);
  return {
    code: 'CAPACITY_TAKEN_BY_THIS_ADMISSION',
    message:
      `${what} would fit on the free capacity, but other VMs of this admission use the ${hosts} host(s) it would need ` +
      `(${list(shownIds)}${more(shownIds.length, hosts)}) with ${fmt(usedCpus)} CPUs: ` +
      `${users.map((u) => `${u.serviceId}/${u.componentId} (${fmt(u.cpus)} CPUs)`).join(', ')}${more(users.length, usersTotal)}`,
    data: record(need, { hosts, hostIds: shownIds, users, usersTotal, usedCpus }),
  };
}

export function excludedByRule(what: string, members: readonly string[], hostIds: readonly string[], vmsNeeded: number): Reason {
  const shownIds = hostIds.slice(0, MAX_LISTED);
  return {
    code: 'EXCLUDED_BY_RULE',
    message:
      `${what} would fit on ${hostIds.length} host(s) that the Medium anti-affinity rule over ${list(members)} keeps it off, ` +
      `because other members run there (${list(shownIds)}${more(shownIds.length, hostIds.length)})`,
    data: { ruleKind: 'antiAffinity', ruleLevel: 1, members, hosts: hostIds.length, hostIds: shownIds, vmsNeeded },
  };
}

export interface AvailabilityFigures {
  readonly target: number;
  readonly vmsRequired: number;
  readonly maxVms: number;
  readonly basicVms: number;
  /** The VMs that would fit where the required ones do not. */
  readonly vmsThatFit: number;
}

export function availabilityForcesVms(component: string, f: AvailabilityFigures): Reason {
  const fewerVms = f.vmsRequired - 1;
  const cdfWithFewer = (fewerVms - f.basicVms + 1) / (f.maxVms - f.basicVms + 1);
  return {
    code: 'AVAILABILITY_FORCES_VMS',
    message:
      `the availability target ${fmt(f.target)} of ${component} requires ${f.vmsRequired} of its ${f.maxVms} VM(s) locally ` +
      `(with ${fewerVms} its availability would be ${fmt(cdfWithFewer)}); ${f.vmsThatFit} would fit`,
    data: {
      target: f.target,
      vmsRequired: f.vmsRequired,
      maxVms: f.maxVms,
      basicVms: f.basicVms,
      allVms: f.vmsRequired === f.maxVms,
      fewerVms,
      cdfWithFewer,
      vmsThatFit: f.vmsThatFit,
    },
  };
}

/** `what`: "one more local VM", "admitting it locally", "admitting s whole". */
export function constraint(what: string, name: string, detail: string): Reason {
  return { code: 'CONSTRAINT', message: `${what} would violate ${name}: ${detail}`, data: { constraint: name } };
}

export function objective(what: string, objectiveDelta: number): Reason {
  return objectiveDelta <= 1e-9
    ? { code: 'OBJECTIVE', message: `${what} fits but would change the objective by ${fmt(objectiveDelta)}`, data: { objectiveDelta } }
    : {
        code: 'NOT_IMPROVED',
        message: `${what} fits and would raise the objective by ${fmt(objectiveDelta)}; the solver did not find it within its limits`,
        data: { objectiveDelta },
      };
}

/** `what`: what is not admitted ("the 2 basic VM(s) of c", "s not admitted whole"); `tried`: what was tried and found. */
export function notDetermined(what: string, tried: string, data: Readonly<Record<string, ReasonValue>> = {}): Reason {
  return { code: 'NOT_DETERMINED', message: `not determined why (${what}): ${tried}`, data: record(data, { tried }) };
}
