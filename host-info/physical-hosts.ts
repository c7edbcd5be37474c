/**
 * Host capacity from an OPTIMIS-style PhysicalHosts XML document fetched over HTTP (AC_PhHostsInfo_aaS, or AC_ONE's variant).
 * Knows the document format and the conversion to HostCapacity; HTTP, deadline, cache and stale answers come from remote.ts.
 */
import { AdmissionError, type ErrorDetail } from '../model/errors';
import { attribute, childElements } from '../xml/safe-xml';
import { answerRoot, checkDurations, checkUrl, httpText, SnapshotCache, type Snapshot } from './remote';
import type { HostCapacity, HostInfoConfig, HostInfoProvider, HostInfoStatus, HostSnapshot, SnapshotInfo } from './types';

/** A few thousand hosts are ~150 bytes each; anything near this limit is not a PhysicalHosts answer. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const LABEL = 'PhysicalHosts service';
/** Problems listed in an error's details; the message names the first. */
const MAX_DETAILS = 20;

export type PhysicalHostsConfig = Extract<HostInfoConfig, { kind: 'physical-hosts' }>;

export class PhysicalHostsProvider implements HostInfoProvider {
  readonly name = 'physical-hosts';
  private readonly cache: SnapshotCache;

  constructor(config: PhysicalHostsConfig, options: { clock?: () => number } = {}) {
    const shownUrl = checkUrl('physical-hosts', config.url);
    checkDurations('physical-hosts', config);
    const url = config.url;
    this.cache = new SnapshotCache({
      provider: this.name,
      source: shownUrl,
      label: LABEL,
      durations: config,
      ...options,
      fetch: async (signal): Promise<Snapshot> => {
        const body = await httpText({
          method: 'GET',
          url,
          shownUrl,
          label: LABEL,
          headers: { Accept: 'application/xml, text/xml, text/plain' },
          signal,
          maxBytes: MAX_ANSWER_BYTES,
          followRedirects: true,
        });
        return { hosts: parsePhysicalHosts(body, `${LABEL} ${shownUrl}`) };
      },
    });
  }

  listHosts(signal?: AbortSignal): Promise<HostSnapshot> {
    return this.cache.get(signal);
  }

  status(): HostInfoStatus {
    return this.cache.status();
  }

  snapshotInfo(snapshot: HostSnapshot): SnapshotInfo | undefined {
    return this.cache.info(snapshot);
  }
}

/**
 * Converts a PhysicalHosts document. Throws AC_ERR_UPSTREAM whose message starts with `where` and names the problem.
 *
 * - `usedCores` (AC_PhHostsInfo_aaS) or `availableCores` (AC_ONE, used = maxCores − availableCores): both shapes are read,
 *   so the incompatibility of defect D12 does not reach us; when both are present usedCores wins.
 * - Used figures above the total are clamped to the total, as OPTIMIS's TRECAnalyzer does: a host overcommitted by
 *   its manager simply has no free capacity. Fractions are rounded against us (total down, used up).
 * - Memory needs both maxMemoryInGigabytes and freeMemoryInGigabytes (AC_ONE reports neither: memory is then not
 *   constrained); 1 GB = 1024 MB.
 * - The "free" figures (freeMemoryInGigabytes, availableCores) are computed by the services as total − allocated and go
 *   negative on an overcommitted host: accepted, and the used figure is clamped (OPTIMIS clamps negative free memory).
 *   Negative totals or used figures, non-numeric figures, a missing id, duplicate ids or a wrong root make the whole
 *   answer invalid: a source that sends garbage for one host cannot be trusted for the others.
 */
export function parsePhysicalHosts(xml: string, where = 'PhysicalHosts document'): HostCapacity[] {
  const fail = (reason: string, details: readonly ErrorDetail[] = [{ field: where, reason }]): never => {
    throw new AdmissionError('AC_ERR_UPSTREAM', `${where}: ${reason}`, details);
  };
  const root = answerRoot(xml, where);
  if (root.local !== 'PhysicalHosts') fail(`the answer is not a PhysicalHosts document (root element <${root.qname}>)`);

  const problems: ErrorDetail[] = [];
  const hosts: HostCapacity[] = [];
  const seen = new Map<string, number>();
  const elements = childElements(root, root.ns, 'PhysicalHost');
  elements.forEach((el, i) => {
    const at = `PhysicalHost[${i + 1}]`;
    const problem = (field: string, reason: string): void => {
      problems.push({ field: `${at}${field ? `@${field}` : ''}`, reason });
    };
    const id = (attribute(el, '', 'id') ?? '').trim();
    if (id === '') {
      problem('id', 'is missing');
    } else if (seen.has(id)) {
      problem('id', `duplicate id "${id}" (also PhysicalHost[${seen.get(id)! + 1}])`);
    } else {
      seen.set(id, i);
    }
    const read = (name: string, required: boolean, mayBeNegative = false): number | undefined => {
      const raw = attribute(el, '', name);
      if (raw === undefined) {
        if (required) problem(name, 'is missing');
        return undefined;
      }
      const value = parseFigure(raw, mayBeNegative);
      if (typeof value === 'string') {
        problem(name, value);
        return undefined;
      }
      return value;
    };
    const maxCores = read('maxCores', true);
    const usedCores = read('usedCores', false);
    const availableCores = attribute(el, '', 'usedCores') === undefined ? read('availableCores', false, true) : undefined;
    if (attribute(el, '', 'usedCores') === undefined && attribute(el, '', 'availableCores') === undefined) {
      problem('usedCores', 'is missing (neither usedCores nor availableCores is given)');
    }
    const maxMem = read('maxMemoryInGigabytes', false);
    const freeMem = read('freeMemoryInGigabytes', false, true);
    const hasMax = attribute(el, '', 'maxMemoryInGigabytes') !== undefined;
    const hasFree = attribute(el, '', 'freeMemoryInGigabytes') !== undefined;
    if (hasMax !== hasFree) {
      problem(hasMax ? 'freeMemoryInGigabytes' : 'maxMemoryInGigabytes', `is missing (${hasMax ? 'maxMemoryInGigabytes' : 'freeMemoryInGigabytes'} is given)`);
    }
    if (maxCores === undefined || (usedCores === undefined && availableCores === undefined)) return;
    if (hasMax && (maxMem === undefined || freeMem === undefined)) return;

    const cpus = Math.floor(maxCores);
    const used = usedCores ?? maxCores - availableCores!;
    const host: HostCapacity = { id, cpus, usedCpus: clamp(roundUp(used), cpus) };
    if (maxMem !== undefined && freeMem !== undefined) {
      const memoryMb = roundDown(maxMem * 1024);
      host.memoryMb = memoryMb;
      host.usedMemoryMb = clamp(roundUp((maxMem - freeMem) * 1024), memoryMb);
    }
    hosts.push(host);
  });

  if (problems.length > 0) {
    const first = problems[0]!;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    fail(`invalid answer: ${first.field}: ${first.reason}${more}`, problems.slice(0, MAX_DETAILS));
  }
  return hosts;
}

/** A decimal figure (non-negative unless allowed), or the reason it is not one. */
function parseFigure(raw: string, mayBeNegative: boolean): number | string {
  const s = raw.trim();
  if (/^-\d+(\.\d+)?$/.test(s)) return mayBeNegative ? Number(s) : `is negative (${s})`;
  if (!/^\+?\d+(\.\d+)?$/.test(s)) return `is not a number ("${s.length > 40 ? `${s.slice(0, 40)}…` : s}")`;
  return Number(s);
}

/**
 * Rounding against us, without letting binary floating point noise cost a unit: (16.1 − 0.1) × 1024 is
 * 16384.000000000002, which must stay 16384.
 */
function roundUp(x: number): number {
  return Math.ceil(x - 1e-9);
}

function roundDown(x: number): number {
  return Math.floor(x + 1e-9);
}

function clamp(value: number, max: number): number {
  return Math.min(max, Math.max(0, value));
}
