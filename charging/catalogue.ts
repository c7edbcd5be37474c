/**
 * The charging catalogue (issue "Charging policies", after Aquarium's policy DSL): resources with their cost policy,
 * host groups, price lists with changes on dates and recurring time frames (peak / off-peak), credit plans, and
 * agreements assigned to principals or groups, with inheritance. YAML (the `yaml` package, keeping node positions) is
 * validated with zod like every other input; each problem names file, line and field. docs/charging.md is the manual.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isNode, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseRequirement } from '../model/capabilities';
import type { CapabilityRequirement } from '../model/types';
import type { CostPolicy } from '../model/charge-plan';
import { AdmissionError, type ErrorDetail } from '../model/errors';

export type Measure = 'vcpus' | 'memoryGb' | 'vms';

export interface Resource {
  readonly name: string;
  /** What is counted: a VM's vCPUs, its memory in GB, or the VM. */
  readonly measure: Measure;
  readonly policy: CostPolicy;
  readonly unit: string;
}

export interface HostGroup {
  readonly name: string;
  /** Hosts by id. */
  readonly hosts: ReadonlySet<string>;
  /** Hosts by capability (model/capabilities.ts): every requirement must hold. */
  readonly satisfies: readonly CapabilityRequirement[];
}

/** Prices of resources, and per host group those that differ. */
export interface PriceTable {
  readonly prices: Readonly<Record<string, number>>;
  readonly hostGroups: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** A recurring time frame, in UTC: the days of the week and minutes of the day it covers. */
export interface TimeFrame extends PriceTable {
  readonly name: string;
  /** 0 = Sunday … 6 = Saturday. */
  readonly days: ReadonlySet<number>;
  /** [from, to) in minutes after midnight; to ≤ from wraps past midnight (20:00-08:00). Whole day when absent. */
  readonly minutes?: { readonly from: number; readonly to: number };
}

/** A price list as in force from `from` (the base version has from = −∞). */
export interface PriceListVersion extends PriceTable {
  readonly from: number;
  readonly timeframes: readonly TimeFrame[];
}

export interface PriceList {
  readonly name: string;
  /** Sorted by `from`; the first from −∞. */
  readonly versions: readonly PriceListVersion[];
}

export type CreditPeriod = 'day' | 'week' | 'month';

export interface CreditPlan {
  readonly name: string;
  /** Credits granted per period, in the catalogue's currency; unused credits do not carry over. */
  readonly credits: number;
  readonly period: CreditPeriod;
}

/** An agreement with its inheritance resolved. */
export interface Agreement {
  readonly name: string;
  readonly priceList: string;
  /** null: no credit limit. */
  readonly creditPlan: string | null;
}

export interface PrincipalGroup {
  readonly name: string;
  readonly members: ReadonlySet<string>;
  readonly roles: ReadonlySet<string>;
  readonly agreement: string | null;
  readonly parent: string | null;
}

export interface Catalogue {
  readonly file: string;
  readonly currency: string;
  readonly resources: ReadonlyMap<string, Resource>;
  /** In catalogue order: a host is in the first group it matches. */
  readonly hostGroups: readonly HostGroup[];
  readonly priceLists: ReadonlyMap<string, PriceList>;
  readonly creditPlans: ReadonlyMap<string, CreditPlan>;
  readonly agreements: ReadonlyMap<string, Agreement>;
  /** In catalogue order: a principal's group is the first listing its name, then the first listing its role. */
  readonly groups: readonly PrincipalGroup[];
  readonly principals: ReadonlyMap<string, string>;
  readonly defaultAgreement: string | null;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const name = z.string().regex(NAME, 'expected a name of letters, digits, . _ - (at most 64)');
const price = z.number({ error: 'expected a price (a number ≥ 0)' }).finite().min(0, 'expected a price ≥ 0');
const prices = z.record(name, price);
const priceTable = {
  prices: prices.optional(),
  hostGroups: z.record(name, prices).optional(),
};
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const HOURS = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;
const instant = z.union([z.string(), z.date()]).transform((v, ctx) => {
  const ms = v instanceof Date ? v.getTime() : /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v) ? Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v) : NaN;
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected an RFC 3339 date-time with offset (2027-01-01T00:00:00Z) or a date (2027-01-01, UTC)' });
    return z.NEVER;
  }
  return ms;
});
const timeframe = z.strictObject({
  name,
  days: z.array(z.enum(DAY_NAMES, { error: `expected one of ${DAY_NAMES.join(', ')}` })).min(1).optional(),
  hours: z.string().regex(HOURS, 'expected HH:MM-HH:MM (UTC), e.g. 20:00-08:00').optional(),
  ...priceTable,
});
const schema = z.strictObject({
  currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code such as EUR'),
  resources: z.record(
    name,
    z.strictObject({
      measure: z.enum(['vcpus', 'memoryGb', 'vms'], { error: 'expected vcpus, memoryGb or vms' }),
      policy: z.enum(['continuous', 'onoff', 'discrete'], { error: 'expected continuous, onoff or discrete' }),
      unit: z.string().min(1).max(64).optional(),
    }),
  ),
  hostGroups: z
    .record(
      name,
      z.strictObject({
        hosts: z.array(z.string().min(1).max(256)).optional(),
        satisfies: z.array(z.string().min(1).max(300)).optional(),
      }),
    )
    .optional(),
  priceLists: z.record(
    name,
    z.strictObject({
      ...priceTable,
      timeframes: z.array(timeframe).optional(),
      changes: z.array(z.strictObject({ from: instant, ...priceTable, timeframes: z.array(timeframe).optional() })).optional(),
    }),
  ),
  creditPlans: z
    .record(name, z.strictObject({ credits: price, period: z.enum(['day', 'week', 'month'], { error: 'expected day, week or month' }) }))
    .optional(),
  agreements: z.record(
    name,
    z.strictObject({ extends: name.optional(), priceList: name.optional(), creditPlan: name.nullable().optional() }),
  ),
  groups: z
    .record(
      name,
      z.strictObject({
        members: z.array(z.string().min(1).max(128)).optional(),
        roles: z.array(z.enum(['client', 'reader', 'operator', 'peer'])).optional(),
        agreement: name.optional(),
        extends: name.optional(),
      }),
    )
    .optional(),
  principals: z.record(z.string().min(1).max(128), z.strictObject({ agreement: name })).optional(),
  default: name.optional(),
});

type Raw = z.infer<typeof schema>;

const MAX_BYTES = 1 << 20;

/** Reads and validates a catalogue file; AC_ERR_CONFIG naming file, line and field on any problem. */
export function loadCatalogue(path: string): Catalogue {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new AdmissionError('AC_ERR_CONFIG', `charging catalogue ${path}: ${(error as Error).message}`, [{ field: path, reason: (error as Error).message }]);
  }
  return parseCatalogue(text, path);
}

export function parseCatalogue(text: string, file = 'catalogue'): Catalogue {
  if (Buffer.byteLength(text) > MAX_BYTES) fail(file, [{ field: file, reason: `larger than ${MAX_BYTES} bytes` }]);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return file;
    const pos = lines.linePos(offset);
    return `${file}:${pos.line}`;
  };
  if (doc.errors.length > 0) {
    fail(
      file,
      doc.errors.map((e) => ({ field: at(e.pos[0]), reason: e.message.split('\n')[0]! })),
    );
  }
  /** file:line of the deepest node on the path that exists, then the field path. */
  const where = (path: readonly PropertyKey[]): string => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return `${at(node.range[0])} ${path.map(String).join('.') || '(document)'}`;
    }
    return `${file} ${path.map(String).join('.')}`;
  };
  let data: unknown;
  try {
    // toJS resolves aliases: an unresolved one, or an alias bomb (past maxAliasCount), throws here, not in doc.errors.
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    fail(file, [{ field: file, reason: (error as Error).message }]);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) fail(file, parsed.error.issues.map((i) => ({ field: where(i.path), reason: i.message })));
  const issues: ErrorDetail[] = [];
  const catalogue = build(parsed.data!, file, (path, reason) => issues.push({ field: where(path), reason }));
  if (issues.length > 0) fail(file, issues);
  return catalogue;
}

function fail(file: string, details: readonly ErrorDetail[]): never {
  throw new AdmissionError('AC_ERR_CONFIG', `charging catalogue ${file}: ${details[0]!.field}: ${details[0]!.reason}${details.length > 1 ? ` (and ${details.length - 1} more)` : ''}`, details);
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

/** The semantic checks zod cannot express: references, inheritance, every resource priced. */
function build(raw: Raw, file: string, problem: (path: readonly PropertyKey[], reason: string) => void): Catalogue {
  const resources = new Map<string, Resource>();
  for (const [n, r] of Object.entries(raw.resources)) resources.set(n, { name: n, measure: r.measure, policy: r.policy, unit: r.unit ?? n });
  if (resources.size === 0) problem(['resources'], 'expected at least one resource');

  const hostGroups: HostGroup[] = [];
  for (const [n, g] of Object.entries(raw.hostGroups ?? {})) {
    const satisfies: CapabilityRequirement[] = [];
    (g.satisfies ?? []).forEach((text, i) => {
      try {
        satisfies.push(parseRequirement(text));
      } catch (error) {
        problem(['hostGroups', n, 'satisfies', i], (error as Error).message);
      }
    });
    if ((g.hosts ?? []).length === 0 && satisfies.length === 0 && (g.satisfies ?? []).length === 0) problem(['hostGroups', n], 'expected hosts or satisfies');
    hostGroups.push({ name: n, hosts: new Set(g.hosts ?? []), satisfies });
  }
  const groupNames = new Set(hostGroups.map((g) => g.name));

  const checkTable = (path: readonly PropertyKey[], t: { prices?: Record<string, number> | undefined; hostGroups?: Record<string, Record<string, number>> | undefined }): PriceTable => {
    for (const r of Object.keys(t.prices ?? {})) if (!resources.has(r)) problem([...path, 'prices', r], `no resource ${r} in resources`);
    for (const [g, ps] of Object.entries(t.hostGroups ?? {})) {
      if (!groupNames.has(g)) problem([...path, 'hostGroups', g], `no host group ${g} in hostGroups`);
      for (const r of Object.keys(ps)) if (!resources.has(r)) problem([...path, 'hostGroups', g, r], `no resource ${r} in resources`);
    }
    return { prices: t.prices ?? {}, hostGroups: t.hostGroups ?? {} };
  };
  const checkFrames = (path: readonly PropertyKey[], frames: Raw['priceLists'][string]['timeframes']): TimeFrame[] =>
    (frames ?? []).map((f, i) => {
      const table = checkTable([...path, i], f);
      let minutes: TimeFrame['minutes'];
      if (f.hours !== undefined) {
        const [a, b] = f.hours.split('-');
        minutes = { from: minutesOf(a!), to: minutesOf(b!) };
        if (minutes.from === minutes.to) problem([...path, i, 'hours'], 'an empty time frame (from equals to)');
      }
      if (f.days === undefined && f.hours === undefined) problem([...path, i], 'expected days or hours');
      const days = new Set((f.days ?? DAY_NAMES).map((d) => DAY_NAMES.indexOf(d)));
      return { name: f.name, days, ...(minutes ? { minutes } : {}), ...table };
    });

  const priceLists = new Map<string, PriceList>();
  for (const [n, pl] of Object.entries(raw.priceLists)) {
    const path = ['priceLists', n];
    const base = checkTable(path, pl);
    for (const r of resources.keys()) if (base.prices[r] === undefined) problem([...path, 'prices'], `resource ${r} has no price (a price list prices every resource; 0 is a price)`);
    const versions: PriceListVersion[] = [{ from: -Infinity, ...base, timeframes: checkFrames([...path, 'timeframes'], pl.timeframes) }];
    (pl.changes ?? []).forEach((c, i) => {
      const prev = versions[versions.length - 1]!;
      if (!(c.from > prev.from)) problem([...path, 'changes', i, 'from'], 'changes must be in increasing order of from');
      const t = checkTable([...path, 'changes', i], c);
      const hostGroupsMerged: Record<string, Record<string, number>> = { ...prev.hostGroups };
      for (const [g, ps] of Object.entries(t.hostGroups)) hostGroupsMerged[g] = { ...(prev.hostGroups[g] ?? {}), ...ps };
      versions.push({
        from: c.from,
        prices: { ...prev.prices, ...t.prices },
        hostGroups: hostGroupsMerged,
        timeframes: c.timeframes ? checkFrames([...path, 'changes', i, 'timeframes'], c.timeframes) : prev.timeframes,
      });
    });
    priceLists.set(n, { name: n, versions });
  }

  const creditPlans = new Map<string, CreditPlan>();
  for (const [n, c] of Object.entries(raw.creditPlans ?? {})) creditPlans.set(n, { name: n, credits: c.credits, period: c.period });

  const agreements = new Map<string, Agreement>();
  const resolve = (n: string, seen: string[]): { priceList?: string; creditPlan?: string | null } => {
    const a = raw.agreements[n];
    if (!a) return {};
    if (seen.includes(n)) {
      problem(['agreements', n, 'extends'], `inheritance cycle: ${[...seen, n].join(' → ')}`);
      return {};
    }
    const parent = a.extends !== undefined ? resolve(a.extends, [...seen, n]) : {};
    return { priceList: a.priceList ?? parent.priceList, creditPlan: a.creditPlan !== undefined ? a.creditPlan : parent.creditPlan } as { priceList?: string; creditPlan?: string | null };
  };
  for (const [n, a] of Object.entries(raw.agreements)) {
    if (a.extends !== undefined && !raw.agreements[a.extends]) problem(['agreements', n, 'extends'], `no agreement ${a.extends}`);
    const r = resolve(n, []);
    if (r.priceList === undefined) problem(['agreements', n], 'no priceList (neither its own nor inherited)');
    else if (!priceLists.has(r.priceList)) problem(['agreements', n, 'priceList'], `no price list ${r.priceList}`);
    if (r.creditPlan != null && !creditPlans.has(r.creditPlan)) problem(['agreements', n, 'creditPlan'], `no credit plan ${r.creditPlan}`);
    agreements.set(n, { name: n, priceList: r.priceList ?? '', creditPlan: r.creditPlan ?? null });
  }

  const groups: PrincipalGroup[] = [];
  for (const [n, g] of Object.entries(raw.groups ?? {})) {
    if (g.agreement !== undefined && !agreements.has(g.agreement)) problem(['groups', n, 'agreement'], `no agreement ${g.agreement}`);
    if (g.extends !== undefined && !(raw.groups ?? {})[g.extends]) problem(['groups', n, 'extends'], `no group ${g.extends}`);
    groups.push({ name: n, members: new Set(g.members ?? []), roles: new Set(g.roles ?? []), agreement: g.agreement ?? null, parent: g.extends ?? null });
  }
  for (const g of groups) {
    const seen = new Set<string>();
    for (let cur: PrincipalGroup | undefined = g; cur; cur = groups.find((x) => x.name === cur!.parent)) {
      if (seen.has(cur.name)) {
        problem(['groups', g.name, 'extends'], `inheritance cycle through ${cur.name}`);
        break;
      }
      seen.add(cur.name);
    }
  }
  const principals = new Map<string, string>();
  for (const [p, a] of Object.entries(raw.principals ?? {})) {
    if (!agreements.has(a.agreement)) problem(['principals', p, 'agreement'], `no agreement ${a.agreement}`);
    principals.set(p, a.agreement);
  }
  if (raw.default !== undefined && !agreements.has(raw.default)) problem(['default'], `no agreement ${raw.default}`);

  return { file, currency: raw.currency, resources, hostGroups, priceLists, creditPlans, agreements, groups, principals, defaultAgreement: raw.default ?? null };
}

/** Which agreement applies to a principal, and how it was found (for answers and logs). */
export interface AgreementMatch {
  readonly agreement: Agreement;
  readonly via: 'principal' | `group:${string}` | 'default';
}

/**
 * The principal's agreement: its own assignment, else its group's (the first group naming it, then the first naming
 * its role; a group without an agreement inherits its parent's), else the default. undefined: the catalogue charges
 * this principal nothing.
 */
export function agreementFor(catalogue: Catalogue, principal: { readonly name: string; readonly role?: string }): AgreementMatch | undefined {
  const own = catalogue.principals.get(principal.name);
  if (own) return { agreement: catalogue.agreements.get(own)!, via: 'principal' };
  const group = catalogue.groups.find((g) => g.members.has(principal.name)) ?? (principal.role ? catalogue.groups.find((g) => g.roles.has(principal.role!)) : undefined);
  for (let cur = group, hops = 0; cur && hops <= catalogue.groups.length; cur = catalogue.groups.find((x) => x.name === cur!.parent), hops++) {
    if (cur.agreement) return { agreement: catalogue.agreements.get(cur.agreement)!, via: `group:${group!.name}` };
  }
  if (catalogue.defaultAgreement) return { agreement: catalogue.agreements.get(catalogue.defaultAgreement)!, via: 'default' };
  return undefined;
}
