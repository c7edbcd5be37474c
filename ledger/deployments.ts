/**
 * Deployment records for both stores (ledger/sqlite, ledger/postgres): validation of what callers write, the row as a
 * record, and the one rule of a lost VM (which slot, what leaves the booking). The cloud calls live in deploy/.
 */
import { z } from 'zod';
import { check, idSchema, invalid } from './validate';
import type { DeploymentFilter, DeploymentInput, DeploymentRecord, DeploymentUpdate, DeploymentVm, HostAmount } from './types';
import { DEPLOYMENT_STATUSES, DEPLOYMENT_VM_STATES } from './types';

const amount = z.number().refine((n) => Number.isFinite(n) && n >= 0, { error: 'expected a finite number ≥ 0' });
const vmId = z.number().int().min(0);
const vmSchema = z.strictObject({
  slot: idSchema,
  componentId: idSchema,
  hostId: idSchema,
  cpus: amount,
  memoryMb: amount,
  state: z.enum(DEPLOYMENT_VM_STATES as [string, ...string[]]),
  vmId: vmId.optional(),
  templateId: vmId.optional(),
  error: z.string().max(4000).optional(),
  terminateRequestedAt: z.number().refine(Number.isSafeInteger, { error: 'expected whole epoch milliseconds' }).optional(),
});
const vmsSchema = z.array(vmSchema).max(100_000).refine((vms) => new Set(vms.map((v) => v.slot)).size === vms.length, { error: 'a slot is listed twice' });
const statusSchema = z.enum(DEPLOYMENT_STATUSES as [string, ...string[]]);
const instant = z.number().refine(Number.isSafeInteger, { error: 'expected whole epoch milliseconds' });

const inputSchema = z.strictObject({ target: idSchema, vms: vmsSchema });
const updateSchema = z.strictObject({
  status: statusSchema,
  vms: vmsSchema,
  attempts: z.number().int().min(0),
  error: z.string().max(4000).nullable().optional(),
  lease: z.strictObject({ holder: idSchema, until: instant }).nullable().optional(),
  notBefore: instant.optional(),
});
const filterSchema = z.strictObject({
  statuses: z.array(statusSchema).optional(),
  dueBy: instant.optional(),
  admissionClosed: z.boolean().optional(),
  limit: z.number().int().min(1).max(1000).optional(),
});

export const validateDeployment = {
  input: (d: unknown): DeploymentInput => {
    const parsed = check(inputSchema, d, 'deployment') as DeploymentInput;
    parsed.vms.forEach((v, i) => {
      if (v.state !== 'planned') throw invalid(`deployment.vms[${i}].state`, `a new deployment's VMs are planned, not ${v.state}`);
    });
    return parsed;
  },
  update: (u: unknown): DeploymentUpdate => check(updateSchema, u, 'update') as DeploymentUpdate,
  filter: (f: unknown): Required<Pick<DeploymentFilter, 'limit'>> & DeploymentFilter => {
    const parsed = check(filterSchema, f, 'filter') as DeploymentFilter;
    return { ...parsed, limit: parsed.limit ?? 100 };
  },
  slot: (s: unknown): string => check(idSchema, s, 'slot'),
};

/** The columns both stores give a deployment (numbers may arrive as strings from PostgreSQL's BIGINT). */
export interface DeploymentRow {
  admission_id: string;
  owner: string;
  target: string;
  status: string;
  not_before_ms: number | string;
  generation: number | string;
  attempts: number | string;
  error: string | null;
  lease_holder: string | null;
  lease_until_ms: number | string | null;
  vms_json: string;
  created_ms: number | string;
  updated_ms: number | string;
}

export function deploymentRecord(r: DeploymentRow): DeploymentRecord {
  return {
    admissionId: r.admission_id,
    owner: r.owner,
    target: r.target,
    status: r.status as DeploymentRecord['status'],
    vms: JSON.parse(r.vms_json) as DeploymentVm[],
    attempts: Number(r.attempts),
    ...(r.error !== null ? { error: r.error } : {}),
    notBefore: Number(r.not_before_ms),
    ...(r.lease_holder !== null && r.lease_until_ms !== null ? { lease: { holder: r.lease_holder, until: Number(r.lease_until_ms) } } : {}),
    createdAt: Number(r.created_ms),
    updatedAt: Number(r.updated_ms),
    generation: Number(r.generation),
  };
}

/** The row values of an update over the stored record (error and lease: absent keeps, null clears). */
export function updatedColumns(before: DeploymentRecord, u: DeploymentUpdate): { status: string; vmsJson: string; attempts: number; error: string | null; leaseHolder: string | null; leaseUntil: number | null; notBefore: number } {
  const lease = u.lease === undefined ? before.lease : u.lease ?? undefined;
  return {
    status: u.status,
    vmsJson: JSON.stringify(u.vms),
    attempts: u.attempts,
    error: u.error === undefined ? before.error ?? null : u.error,
    leaseHolder: lease?.holder ?? null,
    leaseUntil: lease?.until ?? null,
    notBefore: u.notBefore ?? before.notBefore,
  };
}

/**
 * A lost VM: the slot's new list (state lost, the reason kept, cut to 4000 characters) and what leaves the booking on
 * its host, capped by what the booking still holds there (null when that is nothing). Undefined when the slot is
 * unknown; `unchanged` when it was lost already (nothing to write).
 */
export function lostVm(
  record: DeploymentRecord,
  slot: string,
  reason: string,
  booked: HostAmount | undefined,
): { vms: DeploymentVm[]; vm: DeploymentVm; freed: HostAmount | null; reason: string; unchanged: boolean } | undefined {
  const vm = record.vms.find((v) => v.slot === slot);
  if (!vm) return undefined;
  const why = reason.slice(0, 4000);
  if (vm.state === 'lost') return { vms: [...record.vms], vm, freed: null, reason: why, unchanged: true };
  const vms = record.vms.map((v) => (v.slot === slot ? { ...v, state: 'lost' as const, error: why } : v));
  const cpus = Math.min(vm.cpus, booked?.cpus ?? 0);
  const memoryMb = Math.min(vm.memoryMb, booked?.memoryMb ?? 0);
  return { vms, vm, freed: cpus > 0 || memoryMb > 0 ? { hostId: vm.hostId, cpus, memoryMb } : null, reason: why, unchanged: false };
}
