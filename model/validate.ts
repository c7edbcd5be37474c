/**
 * Validation of an AdmissionModel: structure (zod) plus the semantic checks the solvers rely on
 * (maximum ≥ basic, N ≥ 1, availability in [0,1], rules naming known components…). Bad models never reach a solver.
 */
import { z } from 'zod';
import { CAPABILITY_NAME, capabilityValueProblem, requirementProblem } from './capabilities';
import { AdmissionError, type ErrorDetail } from './errors';
import type { AdmissionModel, Host } from './types';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const nonNegativeInt = z.number().int('must be an integer').min(0, 'must be ≥ 0');
const level = z.union([z.literal(0), z.literal(1), z.literal(2)], { error: 'must be 0 (Low), 1 (Medium) or 2 (High)' });
const fraction = finite.refine((v) => v >= 0 && v <= 1, 'must be within [0, 1]');
const id = z.string().min(1, 'must be a non-empty string');

const requirementSchema = z
  .object({ kind: z.enum(['required', 'forbidden']), name: z.string(), range: z.string().optional() })
  .superRefine((r, ctx) => {
    const problem = requirementProblem(r);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const capabilitiesSchema = z.record(z.string(), z.union([z.string(), z.literal(true)])).superRefine((caps, ctx) => {
  for (const [name, value] of Object.entries(caps)) {
    const problem = capabilityValueProblem(name, value);
    if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
  }
});

const componentSchema = z
  .object({
    id,
    label: z.string().optional(),
    basic: nonNegativeInt,
    maxVms: z.number().int('must be an integer').min(1, 'must be ≥ 1'),
    vcpus: z.number().int('must be an integer').min(1, 'must be ≥ 1'),
    memoryMb: finite.refine((v) => v >= 0, 'must be ≥ 0').optional(),
    availability: fraction,
    affinity: level,
    antiAffinity: level,
    requires: z.array(requirementSchema).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.maxVms < c.basic) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxVms'],
        message: `maximum VMs (${c.maxVms}) is below basic VMs (${c.basic})`,
      });
    }
  });

const ruleSchema = z.object({
  kind: z.enum(['affinity', 'antiAffinity']),
  level: z.union([z.literal(1), z.literal(2)], { error: 'must be 1 (Medium) or 2 (High); Low rules are omitted' }),
  members: z.array(id).min(1, 'a rule needs at least one member'),
});

const serviceSchema = z
  .object({
    id,
    label: z.string().optional(),
    gain: finite,
    extraCost: finite,
    trust: finite,
    risk: finite,
    eco: finite,
    availability: fraction,
    federationAllowed: z.boolean(),
    components: z.array(componentSchema).min(1, 'a service needs at least one component (N = 0)'),
    rules: z.array(ruleSchema),
    sameValue: z
      .array(
        z.object({
          capability: z.string().regex(CAPABILITY_NAME, `must match ${CAPABILITY_NAME.source}`),
          members: z.array(id).min(1, 'a rule needs at least one member'),
        }),
      )
      .optional(),
    constraints: z.object({ eco: finite, trust: finite, risk: finite, cost: finite }),
    chargeBound: finite.refine((v) => v >= 0, 'must be ≥ 0').optional(),
  })
  .superRefine((s, ctx) => {
    const ids = new Set<string>();
    s.components.forEach((c, i) => {
      if (ids.has(c.id)) ctx.addIssue({ code: 'custom', path: ['components', i, 'id'], message: `duplicate component id '${c.id}'` });
      ids.add(c.id);
    });
    s.rules.forEach((r, k) => {
      const seen = new Set<string>();
      r.members.forEach((m, j) => {
        if (!ids.has(m)) {
          ctx.addIssue({ code: 'custom', path: ['rules', k, 'members', j], message: `unknown component '${m}' (service has ${[...ids].join(', ')})` });
        }
        if (seen.has(m)) ctx.addIssue({ code: 'custom', path: ['rules', k, 'members', j], message: `component '${m}' is listed twice` });
        seen.add(m);
      });
    });
    (s.sameValue ?? []).forEach((r, k) => {
      const seen = new Set<string>();
      r.members.forEach((m, j) => {
        if (!ids.has(m)) ctx.addIssue({ code: 'custom', path: ['sameValue', k, 'members', j], message: `unknown component '${m}' (service has ${[...ids].join(', ')})` });
        if (seen.has(m)) ctx.addIssue({ code: 'custom', path: ['sameValue', k, 'members', j], message: `component '${m}' is listed twice` });
        seen.add(m);
      });
    });
  });

const hostSchema = z.object({
  id,
  label: z.string().optional(),
  cpus: nonNegativeInt,
  usedCpus: nonNegativeInt,
  freeMemoryMb: finite.refine((v) => v >= 0, 'must be ≥ 0').optional(),
  eco: finite,
  risk: finite.optional(),
  capabilities: capabilitiesSchema.optional(),
  chargeClass: nonNegativeInt.optional(),
});

const weight = finite.refine((v) => v >= 0, 'must be ≥ 0');
const rate = finite.refine((v) => v >= 0, 'must be ≥ 0');
const chargingSchema = z.object({
  classes: z.array(z.object({ perVcpu: rate, perMemoryGb: rate, perVm: rate })).min(1, 'charging needs at least one class'),
});
const modelSchema = z
  .object({
    hosts: z.array(hostSchema),
    services: z.array(serviceSchema),
    weights: z.object({ cost: weight, eco: weight, risk: weight, trust: weight }),
    charging: chargingSchema.optional(),
  })
  .superRefine((m, ctx) => {
    // A charge class is an index into the model's classes: out of range (or without charging) it names no rates,
    // and the solvers and the verifier would charge such a host nothing.
    const classCount = m.charging?.classes.length ?? 0;
    m.hosts.forEach((h, j) => {
      if (h.chargeClass === undefined) return;
      if (classCount === 0) ctx.addIssue({ code: 'custom', path: ['hosts', j, 'chargeClass'], message: 'a charge class needs model charging' });
      else if (h.chargeClass >= classCount) {
        ctx.addIssue({ code: 'custom', path: ['hosts', j, 'chargeClass'], message: `charge class ${h.chargeClass} does not exist (the model has ${classCount})` });
      }
    });
    const hostIds = new Set<string>();
    m.hosts.forEach((h, j) => {
      if (hostIds.has(h.id)) ctx.addIssue({ code: 'custom', path: ['hosts', j, 'id'], message: `duplicate host id '${h.id}'` });
      hostIds.add(h.id);
    });
    const serviceIds = new Set<string>();
    m.services.forEach((s, a) => {
      if (serviceIds.has(s.id)) ctx.addIssue({ code: 'custom', path: ['services', a, 'id'], message: `duplicate service id '${s.id}'` });
      serviceIds.add(s.id);
    });
  });

/** Formats a zod path as `services[0].components[1].maxVms`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(model)';
}

const isFinite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown, min: number): boolean => Number.isInteger(v) && (v as number) >= min;
const isId = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
const isOptLabel = (v: unknown): boolean => v === undefined || typeof v === 'string';
const isLevel = (v: unknown): boolean => v === 0 || v === 1 || v === 2;
const isFraction = (v: unknown): boolean => isFinite(v) && v >= 0 && v <= 1;

/**
 * The same rules as the schema above, as plain loops: on the admission hot path a valid model (hundreds of
 * hosts) is confirmed without building zod's per-field results. Anything it doubts goes to the schema,
 * which names every problem; it may be stricter than the schema, never looser.
 */
/**
 * Host lists already confirmed valid. Only frozen arrays of frozen hosts are entered (they cannot change
 * afterwards), so a hit is as good as a check: the gateway's models share one frozen host list between admissions.
 */
const validHostLists = new WeakSet<readonly Host[]>();
/** Host lists known to be frozen arrays of frozen hosts (checking a million hosts costs tens of milliseconds). */
const deepFrozenHostLists = new WeakSet<readonly Host[]>();

/**
 * Whether a host list is a frozen array of frozen hosts, so that whatever is derived from it may be kept for as long
 * as the list lives (solvers and explanations cache per list). Remembered per list.
 */
export function isDeepFrozenHostList(hosts: readonly Host[]): boolean {
  if (deepFrozenHostLists.has(hosts)) return true;
  if (!Object.isFrozen(hosts)) return false;
  for (const h of hosts) if (!Object.isFrozen(h)) return false;
  deepFrozenHostLists.add(hosts);
  return true;
}

/** Above this many hosts duplicate ids are found with an open-addressing table of hashes instead of a Set of strings. */
const HASHED_ID_CHECK_MIN_HOSTS = 50_000;

/**
 * Whether two hosts share an id. A Set of a million fresh id strings costs ~0.6 s; a linear-probing table of 32-bit
 * FNV-1a hashes in typed arrays costs a few tens of milliseconds, and only equal hashes compare the strings.
 */
function hasDuplicateIds(hosts: readonly Host[]): boolean {
  const n = hosts.length;
  if (n < HASHED_ID_CHECK_MIN_HOSTS) {
    const seen = new Set<string>();
    for (const h of hosts) {
      if (seen.has(h.id)) return true;
      seen.add(h.id);
    }
    return false;
  }
  let size = 1;
  while (size < 2 * n) size *= 2;
  const mask = size - 1;
  const slotHost = new Int32Array(size).fill(-1);
  const slotHash = new Int32Array(size);
  for (let j = 0; j < n; j++) {
    const id = hosts[j]!.id;
    let x = 0x811c9dc5; // FNV-1a
    for (let k = 0; k < id.length; k++) x = Math.imul(x ^ id.charCodeAt(k), 0x01000193);
    for (let slot = x & mask; ; slot = (slot + 1) & mask) {
      const other = slotHost[slot]!;
      if (other < 0) {
        slotHost[slot] = j;
        slotHash[slot] = x;
        break;
      }
      if (slotHash[slot] === x && hosts[other]!.id === id) return true;
    }
  }
  return false;
}

/** The capacity figures of a host list as typed arrays: what solvers and explanations read of every host. */
export interface HostCapacities {
  /** cpus − usedCpus per host (negative when over-used). */
  readonly freeCpus: Float64Array;
  /** Free memory per host; Infinity where the host does not carry memory. */
  readonly freeMemoryMb: Float64Array;
}

/** Capacities of deep-frozen host lists, filled by the validation pass (one walk over a million hosts, not three). */
const capacities = new WeakMap<readonly Host[], HostCapacities>();

/**
 * The host list's capacities as typed arrays, kept per deep-frozen list: the greedy's host table and the fleet facts
 * of explanations are built from these (typed-array loops) instead of reading every host object again.
 */
export function hostCapacities(hosts: readonly Host[]): HostCapacities {
  const cached = capacities.get(hosts);
  if (cached) return cached;
  const n = hosts.length;
  const out: HostCapacities = { freeCpus: new Float64Array(n), freeMemoryMb: new Float64Array(n) };
  for (let j = 0; j < n; j++) {
    const h = hosts[j]!;
    out.freeCpus[j] = h.cpus - h.usedCpus;
    out.freeMemoryMb[j] = h.freeMemoryMb ?? Infinity;
  }
  if (isDeepFrozenHostList(hosts)) capacities.set(hosts, out);
  return out;
}

function plainlyValidCapabilities(caps: unknown): boolean {
  if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) return false;
  for (const [name, value] of Object.entries(caps)) if (capabilityValueProblem(name, value) !== undefined) return false;
  return true;
}

/** Largest charge class a valid host list uses (−1: none), kept beside validHostLists: the model's classes must cover it. */
const maxChargeClass = new WeakMap<readonly Host[], number>();

/** Whether the host list is valid on its own; its largest charge class is written to `classOut[0]` (−1: none). */
function plainlyValidHosts(hosts: readonly Host[], classOut: number[]): boolean {
  if (validHostLists.has(hosts)) {
    classOut[0] = maxChargeClass.get(hosts) ?? -1;
    return true;
  }
  let maxClass = -1;
  const n = hosts.length;
  const freeCpus = new Float64Array(n);
  const freeMemoryMb = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const h = hosts[j]!;
    if (typeof h !== 'object' || h === null || !isId(h.id) || !isOptLabel(h.label)) return false;
    if (!isInt(h.cpus, 0) || !isInt(h.usedCpus, 0) || !isFinite(h.eco)) return false;
    if (h.freeMemoryMb !== undefined && !(isFinite(h.freeMemoryMb) && h.freeMemoryMb >= 0)) return false;
    if (h.risk !== undefined && !isFinite(h.risk)) return false;
    if (h.capabilities !== undefined && !plainlyValidCapabilities(h.capabilities)) return false;
    if (h.chargeClass !== undefined) {
      if (!isInt(h.chargeClass, 0)) return false;
      if (h.chargeClass > maxClass) maxClass = h.chargeClass;
    }
    freeCpus[j] = h.cpus - h.usedCpus;
    freeMemoryMb[j] = h.freeMemoryMb ?? Infinity;
  }
  if (hasDuplicateIds(hosts)) return false;
  classOut[0] = maxClass;
  if (isDeepFrozenHostList(hosts)) {
    validHostLists.add(hosts);
    maxChargeClass.set(hosts, maxClass);
    if (!capacities.has(hosts)) capacities.set(hosts, { freeCpus, freeMemoryMb });
  }
  return true;
}

/** The model's charge classes: absent (then no host may name a class), or at least one of finite rates ≥ 0 covering every class used. */
function plainlyValidCharging(charging: unknown, maxClass: number): boolean {
  if (charging === undefined) return maxClass < 0;
  const classes = (charging as { classes?: unknown } | null)?.classes;
  if (!Array.isArray(classes) || classes.length === 0 || maxClass >= classes.length) return false;
  for (const r of classes as unknown[]) {
    if (typeof r !== 'object' || r === null) return false;
    const rates = r as Record<string, unknown>;
    if (!['perVcpu', 'perMemoryGb', 'perVm'].every((k) => isFinite(rates[k]) && (rates[k] as number) >= 0)) return false;
  }
  return true;
}

function plainlyValid(model: unknown): boolean {
  const m = model as AdmissionModel;
  if (typeof m !== 'object' || m === null || !Array.isArray(m.hosts) || !Array.isArray(m.services)) return false;
  const w = m.weights as unknown as Record<string, unknown> | undefined;
  if (!w || !['cost', 'eco', 'risk', 'trust'].every((k) => isFinite(w[k]) && (w[k] as number) >= 0)) return false;
  const classOut = [-1];
  if (!plainlyValidHosts(m.hosts, classOut)) return false;
  if (!plainlyValidCharging(m.charging, classOut[0]!)) return false;
  const serviceIds = new Set<string>();
  for (const s of m.services) {
    if (typeof s !== 'object' || s === null || !isId(s.id) || serviceIds.has(s.id) || !isOptLabel(s.label)) return false;
    serviceIds.add(s.id);
    if (![s.gain, s.extraCost, s.trust, s.risk, s.eco].every(isFinite) || !isFraction(s.availability) || typeof s.federationAllowed !== 'boolean') return false;
    const c = s.constraints as unknown as Record<string, unknown> | undefined;
    if (!c || !['eco', 'trust', 'risk', 'cost'].every((k) => isFinite(c[k]))) return false;
    if (s.chargeBound !== undefined && !(isFinite(s.chargeBound) && s.chargeBound >= 0)) return false;
    if (!Array.isArray(s.components) || s.components.length === 0 || !Array.isArray(s.rules)) return false;
    const ids = new Set<string>();
    for (const k of s.components) {
      if (typeof k !== 'object' || k === null || !isId(k.id) || ids.has(k.id) || !isOptLabel(k.label)) return false;
      ids.add(k.id);
      if (!isInt(k.basic, 0) || !isInt(k.maxVms, 1) || !isInt(k.vcpus, 1) || k.maxVms < k.basic) return false;
      if (k.memoryMb !== undefined && !(isFinite(k.memoryMb) && k.memoryMb >= 0)) return false;
      if (!isFraction(k.availability) || !isLevel(k.affinity) || !isLevel(k.antiAffinity)) return false;
      if (k.requires !== undefined && (!Array.isArray(k.requires) || !k.requires.every((r: unknown) => typeof r === 'object' && r !== null && requirementProblem(r as Record<string, unknown>) === undefined))) return false;
    }
    if (s.sameValue !== undefined) {
      if (!Array.isArray(s.sameValue)) return false;
      for (const r of s.sameValue) {
        if (typeof r !== 'object' || r === null || typeof r.capability !== 'string' || !CAPABILITY_NAME.test(r.capability)) return false;
        if (!Array.isArray(r.members) || r.members.length === 0 || new Set(r.members).size !== r.members.length) return false;
        if (!r.members.every((x: unknown) => typeof x === 'string' && ids.has(x))) return false;
      }
    }
    for (const r of s.rules) {
      if (typeof r !== 'object' || r === null || (r.kind !== 'affinity' && r.kind !== 'antiAffinity') || (r.level !== 1 && r.level !== 2)) return false;
      if (!Array.isArray(r.members) || r.members.length === 0 || new Set(r.members).size !== r.members.length) return false;
      if (!r.members.every((x: unknown) => typeof x === 'string' && ids.has(x))) return false;
    }
  }
  return true;
}

/** Returns the list of problems; empty when the model is valid. */
export function checkModel(model: unknown): ErrorDetail[] {
  if (plainlyValid(model)) return [];
  const parsed = modelSchema.safeParse(model);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => ({ field: formatPath(issue.path), reason: issue.message }));
}

/** Throws AC_ERR_INVALID_MODEL naming every problem; returns the model typed when valid. */
export function validateModel(model: unknown): AdmissionModel {
  const details = checkModel(model);
  if (details.length > 0) {
    const first = details[0]!;
    const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
    throw new AdmissionError('AC_ERR_INVALID_MODEL', `invalid model: ${first.field}: ${first.reason}${more}`, details);
  }
  return model as AdmissionModel;
}
