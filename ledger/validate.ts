/**
 * Validation of what callers hand the ledger (shared by every implementation): what would corrupt the arithmetic or
 * the records is refused with AC_ERR_INVALID_REQUEST, naming the field.
 */
import { z } from 'zod';
import { constraintsSchema, weightsSchema } from '../config/config';
import { AdmissionError, type ErrorDetail } from '../model/errors';
import type { TrecConstraints, Weights } from '../model/types';
import type { BookingInput, CapacityWindowInput, DecisionInput, HostAmount, HostInventory, SubscriptionInput, TimeWindow } from './types';
import { ADMISSION_STATUSES } from './types';

const finite = z.number({ error: 'expected a number' }).refine(Number.isFinite, { error: 'expected a finite number' });
const nonNegative = finite.refine((n) => n >= 0, { error: 'expected a number ≥ 0' });
const instant = z.number({ error: 'expected epoch milliseconds' }).refine(Number.isSafeInteger, { error: 'expected whole epoch milliseconds' });
export const idSchema = z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' }).max(512, { error: 'expected at most 512 characters' });
const generationSchema = z.number().int().min(0).optional();

export const windowSchema = z
  .object({ start: instant, end: instant.nullable() })
  .refine((w) => w.end === null || w.end > w.start, { error: 'expected end > start (windows are half-open [start, end))', path: ['end'] });

export const hostAmountSchema = z.object({ hostId: idSchema, cpus: nonNegative, memoryMb: nonNegative });

const bookingSchema = z.object({
  id: idSchema,
  owner: idSchema,
  serviceId: idSchema,
  decision: z.enum(['accepted', 'partial', 'rejected'], { error: 'expected accepted, partial or rejected' }),
  window: windowSchema,
  holdExpiresAt: instant,
  expirySeconds: nonNegative.optional(),
  hosts: z.array(hostAmountSchema),
  seenGenerations: z.record(z.string(), z.number()).optional(),
});

// No booking at all is allowed with an idempotency key only: a request that books nothing (everything rejected, or
// its booking made earlier in the same flow) still records its answer under the key.
const bookRequestSchema = z
  .object({
    bookings: z.array(bookingSchema),
    replaceHeld: z.boolean().optional(),
    idempotency: z.object({ owner: idSchema, key: idSchema, requestHash: idSchema }).optional(),
    actor: idSchema,
  })
  .refine((r) => r.bookings.length > 0 || r.idempotency !== undefined, { error: 'expected at least one booking (or an idempotency key)', path: ['bookings'] });

const inventorySchema = z.object({
  id: idSchema,
  cpus: nonNegative,
  usedCpus: nonNegative,
  memoryMb: nonNegative.optional(),
  usedMemoryMb: nonNegative.optional(),
});

const capacityWindowSchema = z.object({
  id: idSchema,
  hosts: z.array(idSchema).min(1, { error: 'expected at least one host' }),
  window: windowSchema,
  cpusDelta: finite,
  memoryMbDelta: finite,
  reason: z.string({ error: 'expected a string' }),
  actor: idSchema,
});

const pattern = z.string().regex(/^([a-z_]+(\.[a-z_]+)*(\.\*)?|\*)$/, { error: 'expected an event type or a `prefix.*` pattern' });
const subscriptionSchema = z.object({
  id: idSchema,
  owner: idSchema,
  seesAll: z.boolean(),
  url: z.string().min(1),
  events: z.array(pattern).min(1, { error: 'expected at least one event pattern' }),
  secret: z.string().min(1, { error: 'expected a non-empty secret' }),
  actor: idSchema,
});

export const partialConstraintsSchema = constraintsSchema.partial().refine((c) => Object.values(c).some((v) => v !== undefined), {
  error: 'expected at least one of eco, trust, risk, cost',
});
/** Manifests are validated by their parser; here only what would corrupt arithmetic is refused. */
const manifestConstraintsSchema = z.object({ eco: finite.optional(), trust: finite.optional(), risk: finite.optional(), cost: finite.optional() });

function dotted(p: readonly PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

export function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const details: ErrorDetail[] = r.error.issues.map((i) => ({ field: dotted([what, ...i.path]), reason: i.message }));
  throw new AdmissionError('AC_ERR_INVALID_REQUEST', `invalid ${what}: ${details[0]!.field}: ${details[0]!.reason}`, details);
}

export function invalid(field: string, reason: string): AdmissionError {
  return new AdmissionError('AC_ERR_INVALID_REQUEST', `invalid ${field}: ${reason}`, [{ field, reason }]);
}

/** JSON text of a value the ledger stores as is; undefined (or a function…) is refused. */
export function jsonOf(value: unknown, field: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw invalid(field, `not serialisable as JSON: ${(e as Error).message}`);
  }
  if (text === undefined) throw invalid(field, 'expected a JSON value');
  return text;
}

export const validate = {
  weights: (w: unknown): Weights => check(weightsSchema, w, 'weights'),
  constraints: (c: unknown): TrecConstraints => check(constraintsSchema, c, 'constraints'),
  partialConstraints: (c: unknown): Partial<TrecConstraints> => check(partialConstraintsSchema, c, 'constraints'),
  manifestConstraints: (c: unknown): Partial<TrecConstraints> => check(manifestConstraintsSchema, c, 'manifest constraints'),
  generation: (g: unknown): number | undefined => check(generationSchema, g, 'expectedGeneration'),
  id: (v: unknown, what: string): string => check(idSchema, v, what),
  window: (w: unknown, what = 'window'): TimeWindow => check(windowSchema, w, what),
  instant: (t: unknown, what: string): number => check(instant, t, what),
  hosts: (h: unknown): HostInventory[] => {
    const hosts = check(z.array(inventorySchema), h, 'hosts') as HostInventory[];
    const seen = new Set<string>();
    hosts.forEach((x, i) => {
      if (seen.has(x.id)) throw invalid(`hosts[${i}].id`, `host '${x.id}' is listed twice`);
      seen.add(x.id);
    });
    return hosts;
  },
  hostAmounts: (h: unknown, what: string): HostAmount[] => check(z.array(hostAmountSchema), h, what),
  book: (r: unknown): { bookings: BookingInput[] } => {
    const parsed = check(bookRequestSchema, r, 'request');
    const ids = new Set<string>();
    parsed.bookings.forEach((b, i) => {
      if (ids.has(b.id)) throw invalid(`request.bookings[${i}].id`, `admission '${b.id}' is listed twice`);
      ids.add(b.id);
    });
    return parsed as unknown as { bookings: BookingInput[] };
  },
  capacityWindow: (w: unknown): CapacityWindowInput => {
    const parsed = check(capacityWindowSchema, w, 'capacity window') as CapacityWindowInput;
    if (new Set(parsed.hosts).size !== parsed.hosts.length) throw invalid('capacity window.hosts', 'a host is listed twice');
    return parsed;
  },
  subscription: (s: unknown): SubscriptionInput => check(subscriptionSchema, s, 'subscription') as SubscriptionInput,
  statuses: (s: unknown): void => {
    check(z.array(z.enum(ADMISSION_STATUSES as [string, ...string[]])).optional(), s, 'filter.statuses');
  },
  /** The decision log's rows (every store checks them the same way before writing). */
  decisions: (decisions: readonly DecisionInput[]): void => {
    for (const d of decisions) {
      validate.id(d.id, 'id');
      validate.id(d.owner, 'owner');
      validate.instant(d.at, 'at');
      if (typeof d.serviceId !== 'string' || typeof d.requestId !== 'string') throw invalid('serviceId', 'expected strings');
      if (!['accepted', 'partial', 'rejected'].includes(d.decision)) throw invalid('decision', 'expected accepted, partial or rejected');
      if (!Number.isFinite(d.durationMs) || d.durationMs < 0) throw invalid('durationMs', 'expected a number ≥ 0');
    }
  },
  /** LedgerOptions.freeCapacityThresholds: ascending, distinct, each strictly inside (0, 1). */
  thresholds: (t: readonly number[] | undefined): readonly number[] => {
    const sorted = [...new Set(t ?? [])].sort((a, b) => a - b);
    for (const x of sorted) if (!(x > 0 && x < 1)) throw invalid('freeCapacityThresholds', `expected shares strictly between 0 and 1, got ${x}`);
    return sorted;
  },
};

/**
 * The free-capacity band: how many of the (ascending) thresholds the free share is below, 0 while above them all; and,
 * when it moves from `before` to `after`, the thresholds crossed and the direction (LedgerOptions.freeCapacityThresholds).
 */
export function freeBandOf(thresholds: readonly number[], share: number): number {
  return thresholds.filter((t) => share < t).length;
}

export function bandCrossing(thresholds: readonly number[], before: number, after: number, totals: { readonly cpus: number; readonly freeCpus: number }): Record<string, unknown> {
  const n = thresholds.length;
  const share = totals.cpus > 0 ? totals.freeCpus / totals.cpus : 0;
  return {
    reason: 'threshold',
    direction: after > before ? 'below' : 'above',
    thresholds: thresholds.slice(n - Math.max(after, before), n - Math.min(after, before)),
    freeShare: Math.round(share * 1e4) / 1e4,
    freeCpus: totals.freeCpus,
    cpus: totals.cpus,
  };
}

/** Whether an event type matches one of the patterns (`admission.*` = the prefix `admission.`; `*` = all). */
export function matchesPatterns(type: string, patterns: readonly string[]): boolean {
  for (const p of patterns) {
    if (p === '*' || p === type) return true;
    if (p.endsWith('.*') && type.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}

/** Per host, the amounts of a list of HostAmounts added up, sorted by host id. */
export function sumByHost(hosts: readonly HostAmount[]): HostAmount[] {
  const m = new Map<string, { cpus: number; memoryMb: number }>();
  for (const h of hosts) {
    const s = m.get(h.hostId) ?? { cpus: 0, memoryMb: 0 };
    s.cpus += h.cpus;
    s.memoryMb += h.memoryMb;
    m.set(h.hostId, s);
  }
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([hostId, s]) => ({ hostId, ...s }));
}
