/**
 * What host capabilities mean (the model's one definition, used by host lists, solvers' eligibility masks, the verifier
 * and explanations): matching a requirement against a host's value, requirement text, and per-host-list caches.
 *
 * Matching (docs/capabilities.md):
 * - `forbidden`: the host does not have the capability at all (whatever its value).
 * - `required` without a range: the host has it (any value, or the flag `true`).
 * - `required` with a range that is a semver range (`>=18 <21`, `^20`, `20.11.1`) and a host value that is a version:
 *   semver's `satisfies` as npm applies it — pre-releases (`21.0.0-rc.1`, `20.0.0-beta`) do NOT satisfy a range unless
 *   the range itself names a pre-release of the same major.minor.patch. A host version with fewer than three parts
 *   (`20`, `20.11`) is completed with zeros (`20.0.0`, `20.11.0`); a leading `v` is accepted.
 * - any other range (`a100`, `eu-west-1a`), or a host value that is not a version: the values must be equal exactly.
 * - a flag (`true`) satisfies only a requirement without a range: a flag has no version to compare.
 */
import semver from 'semver';
import type { CapabilityRequirement, CapabilityValue, Host } from './types';

/** Capability names: what inventories, OpenNebula templates and manifests can all spell. */
export const CAPABILITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
/** An exact value that is not a semver range (a zone, a GPU model, a licence id). */
const PLAIN_VALUE = /^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,255}$/;
const MAX_RANGE_LENGTH = 256;

/** Why a requirement's name or range is unusable; undefined when it is fine. */
export function requirementProblem(requirement: { readonly name?: unknown; readonly range?: unknown; readonly kind?: unknown }): string | undefined {
  if (requirement.kind !== 'required' && requirement.kind !== 'forbidden') return "kind must be 'required' or 'forbidden'";
  if (typeof requirement.name !== 'string' || !CAPABILITY_NAME.test(requirement.name)) {
    return `capability name must match ${CAPABILITY_NAME.source} (letters, digits, . _ : / -), got ${JSON.stringify(requirement.name)}`;
  }
  if (requirement.range === undefined) return undefined;
  if (requirement.kind === 'forbidden') return 'a forbidden capability takes no range';
  if (typeof requirement.range !== 'string' || requirement.range.trim() === '' || requirement.range.length > MAX_RANGE_LENGTH) {
    return `range must be a non-empty string of at most ${MAX_RANGE_LENGTH} characters`;
  }
  if (semver.validRange(requirement.range) === null && !PLAIN_VALUE.test(requirement.range.trim())) {
    return `range ${JSON.stringify(requirement.range)} is neither a semver range (e.g. ">=18 <21") nor a plain value (e.g. "a100")`;
  }
  return undefined;
}

/** Why a host's capability value is unusable; undefined when it is fine. */
export function capabilityValueProblem(name: string, value: unknown): string | undefined {
  if (!CAPABILITY_NAME.test(name)) return `capability name must match ${CAPABILITY_NAME.source}, got ${JSON.stringify(name)}`;
  if (value === true) return undefined;
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_RANGE_LENGTH) {
    return `capability ${name}: the value must be true (a flag) or a non-empty string of at most ${MAX_RANGE_LENGTH} characters`;
  }
  return undefined;
}

/** The host value as a version, or null when it is not one (see the module comment). */
export function versionOf(value: CapabilityValue | undefined): string | null {
  if (typeof value !== 'string') return null;
  const v = value.trim();
  const strict = semver.valid(v);
  if (strict) return strict;
  const short = /^v?(\d{1,9})(?:\.(\d{1,9}))?$/.exec(v);
  return short ? `${Number(short[1])}.${Number(short[2] ?? 0)}.0` : null;
}

/** Whether a host's value of the requirement's capability (undefined: the host lacks it) satisfies the requirement. */
export function satisfies(value: CapabilityValue | undefined, requirement: CapabilityRequirement): boolean {
  if (requirement.kind === 'forbidden') return value === undefined;
  if (value === undefined) return false;
  if (requirement.range === undefined) return true;
  if (value === true) return false;
  const range = requirement.range.trim();
  const version = semver.validRange(range) === null ? null : versionOf(value);
  return version !== null ? semver.satisfies(version, range) : value.trim() === range;
}

/** Whether a host satisfies every requirement. */
export function hostSatisfies(host: Pick<Host, 'capabilities'>, requires: readonly CapabilityRequirement[] | undefined): boolean {
  if (!requires || requires.length === 0) return true;
  for (const r of requires) if (!satisfies(host.capabilities?.[r.name], r)) return false;
  return true;
}

/** `nodejs@>=18 <21`, `avx512`, `!gpu`: the one text form (query strings, messages, keys). */
export function requirementText(requirement: CapabilityRequirement): string {
  if (requirement.kind === 'forbidden') return `!${requirement.name}`;
  return requirement.range === undefined ? requirement.name : `${requirement.name}@${requirement.range}`;
}

/** Reads the text form back; throws an Error naming the problem. */
export function parseRequirement(text: string): CapabilityRequirement {
  const t = text.trim();
  let requirement: CapabilityRequirement;
  if (t.startsWith('!')) requirement = { kind: 'forbidden', name: t.slice(1).trim() };
  else {
    const at = t.indexOf('@');
    requirement = at < 0 ? { kind: 'required', name: t } : { kind: 'required', name: t.slice(0, at).trim(), range: t.slice(at + 1).trim() };
  }
  const problem = requirementProblem(requirement);
  if (problem) throw new Error(`${JSON.stringify(text)}: ${problem}`);
  return requirement;
}

/** A stable key for a list of requirements (order and duplicates do not matter). */
export function requirementsKey(requires: readonly CapabilityRequirement[] | undefined): string {
  if (!requires || requires.length === 0) return '';
  return [...new Set(requires.map(requirementText))].sort().join('\u0000');
}

const signatures = new WeakMap<object, string>();

/** A host's capabilities as one comparable string: hosts are interchangeable only when these are equal too. */
export function capabilitySignature(host: Pick<Host, 'capabilities'>): string {
  const caps = host.capabilities;
  if (!caps) return '';
  let s = signatures.get(caps);
  if (s === undefined) {
    s = Object.keys(caps)
      .sort()
      .map((k) => `${k}=${caps[k] === true ? '' : `"${caps[k] as string}"`}`)
      .join('\u0000');
    signatures.set(caps, s);
  }
  return s;
}

/** Whether any host of the list carries capabilities (a list without any needs no masks at all). */
export function anyCapabilities(hosts: readonly Pick<Host, 'capabilities'>[]): boolean {
  for (const h of hosts) if (h.capabilities && Object.keys(h.capabilities).length > 0) return true;
  return false;
}

const masks = new WeakMap<readonly Host[], Map<string, Uint8Array>>();

/**
 * Per host of the list (model order), 1 where the host satisfies every requirement. Kept per frozen host list and
 * requirement set, so that admissions sharing one host snapshot match each requirement set once.
 */
export function eligibilityMask(hosts: readonly Host[], requires: readonly CapabilityRequirement[]): Uint8Array {
  const key = requirementsKey(requires);
  const frozen = Object.isFrozen(hosts);
  let perList = frozen ? masks.get(hosts) : undefined;
  const cached = perList?.get(key);
  if (cached) return cached;
  const mask = new Uint8Array(hosts.length);
  for (let j = 0; j < hosts.length; j++) mask[j] = hostSatisfies(hosts[j]!, requires) ? 1 : 0;
  if (frozen) {
    if (!perList) masks.set(hosts, (perList = new Map()));
    perList.set(key, mask);
  }
  return mask;
}

/** How many hosts have each value of a capability (`true` counts as "flag"), and how many lack it. */
export function valueCounts(hosts: readonly Pick<Host, 'capabilities'>[], name: string): { readonly byValue: ReadonlyMap<string, number>; readonly without: number } {
  const byValue = new Map<string, number>();
  let without = 0;
  for (const h of hosts) {
    const v = h.capabilities?.[name];
    if (v === undefined) without++;
    else {
      const key = v === true ? 'flag' : v;
      byValue.set(key, (byValue.get(key) ?? 0) + 1);
    }
  }
  return { byValue, without };
}

// ---------------------------------------------------------------------------------------------
// What solvers need: per component the hosts it may use, per same-value rule the value of each host.

/** A same-value rule resolved against a host list: value ids per host (−1: the host lacks the capability). */
export interface SameValueGroup {
  readonly capability: string;
  /** Component indices of the service. */
  readonly members: readonly number[];
  /** The distinct values, by id. */
  readonly values: readonly string[];
  /** Per host (model order): index into `values`, or −1. */
  readonly valueOf: Int32Array;
}

/**
 * The capability facts of a model as solvers read them (typed arrays, cheap to send to a worker thread). `null` when
 * the model constrains nothing: then every host is open to every component, exactly as before capabilities existed.
 */
export interface CapabilityPlan {
  /** [service][component]: 1 per host the component may use (model order); null: every host. */
  readonly allowed: readonly (readonly (Uint8Array | null)[])[];
  /** [service]: its same-value rules. */
  readonly sameValue: readonly (readonly SameValueGroup[])[];
}

const valueIdCache = new WeakMap<readonly Host[], Map<string, { values: string[]; valueOf: Int32Array }>>();

/** Value ids of a capability over a host list, kept per frozen list (solvers and explanations ask per admission). */
function valueIds(hosts: readonly Host[], capability: string): { values: string[]; valueOf: Int32Array } {
  const frozen = Object.isFrozen(hosts);
  let perList = frozen ? valueIdCache.get(hosts) : undefined;
  const hit = perList?.get(capability);
  if (hit) return hit;
  const computed = computeValueIds(hosts, capability);
  if (frozen) {
    if (!perList) valueIdCache.set(hosts, (perList = new Map()));
    perList.set(capability, computed);
  }
  return computed;
}

function computeValueIds(hosts: readonly Host[], capability: string): { values: string[]; valueOf: Int32Array } {
  const values: string[] = [];
  const ids = new Map<string, number>();
  const valueOf = new Int32Array(hosts.length).fill(-1);
  for (let j = 0; j < hosts.length; j++) {
    const v = hosts[j]!.capabilities?.[capability];
    if (v === undefined) continue;
    const key = v === true ? '' : v;
    let id = ids.get(key);
    if (id === undefined) {
      ids.set(key, (id = values.length));
      values.push(v === true ? 'true' : v);
    }
    valueOf[j] = id;
  }
  return { values, valueOf };
}

export function capabilityPlan(model: { readonly hosts: readonly Host[]; readonly services: readonly { readonly components: readonly { readonly id: string; readonly requires?: readonly CapabilityRequirement[] }[]; readonly sameValue?: readonly { readonly capability: string; readonly members: readonly string[] }[] }[] }): CapabilityPlan | null {
  let any = false;
  const allowed = model.services.map((s) =>
    s.components.map((c) => {
      if (!c.requires || c.requires.length === 0) return null;
      any = true;
      return eligibilityMask(model.hosts, c.requires);
    }),
  );
  const sameValue = model.services.map((s) =>
    (s.sameValue ?? []).map((rule): SameValueGroup => {
      any = true;
      const index = new Map(s.components.map((c, i) => [c.id, i]));
      return { capability: rule.capability, members: rule.members.map((m) => index.get(m)!).filter((i) => i !== undefined), ...valueIds(model.hosts, rule.capability) };
    }),
  );
  return any ? { allowed, sameValue } : null;
}

/** Whether component i of service a may use host j under the plan (same-value rules aside: they choose a value). */
export function allowedOn(plan: CapabilityPlan | null, a: number, i: number, j: number): boolean {
  if (!plan) return true;
  const mask = plan.allowed[a]?.[i];
  if (mask && mask[j] !== 1) return false;
  for (const g of plan.sameValue[a] ?? []) if (g.valueOf[j]! < 0 && g.members.includes(i)) return false;
  return true;
}

/**
 * A per-host string that is equal for two hosts exactly when every component sees them alike (allowed or not, and the
 * same value for every same-value rule): hosts are interchangeable for a solver only within one such group.
 */
export function planGroupKeys(plan: CapabilityPlan, hostCount: number): string[] {
  const keys = new Array<string>(hostCount).fill('');
  const masks: Uint8Array[] = [];
  const seen = new Set<Uint8Array>();
  for (const row of plan.allowed) for (const m of row) if (m && !seen.has(m)) seen.add(m), masks.push(m);
  const groups = plan.sameValue.flat();
  for (let j = 0; j < hostCount; j++) {
    let k = '';
    for (const m of masks) k += m[j] === 1 ? '1' : '0';
    for (const g of groups) k += `|${g.valueOf[j]}`;
    keys[j] = k;
  }
  return keys;
}
