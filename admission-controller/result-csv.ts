/**
 * result.csv (model.md §5.1): written byte-compatible with GAMS from an allocation and its verification, read back
 * in the GAMS or the heuristic flavour, and mapped to an Allocation by the model-directory labels. Judges nothing.
 */
import { stringify } from 'csv-stringify/sync';
import { AdmissionError } from '../model/errors';
import type { AdmissionModel, Allocation, ComponentAllocation, HostPlacement } from '../model/types';
import { directoryLabels } from '../trec-analyzer/model-directory';
import type { Verification } from './verification';

/** The section titles, in file order; the Java parser dispatches on these exact strings. */
export const RESULT_SECTION_TITLES = {
  admission: 'Admission Control Result',
  placements: 'how many vms of service component i are allocated for service a in host j',
  serviceElasticVms: 'number of accepted elastic vms for each service',
  componentElasticVms: 'number of accepted elastic vms per service component',
  federatedVms: 'number of vms for federation',
  trust: 'Trust for new service',
  risk: 'Probability the service will fail',
  eco: 'Eco for new service',
  cost: 'cost of hosting the service',
} as const;

export type ResultSection = keyof typeof RESULT_SECTION_TITLES;

/** Every row keeps its 1-based line so that later checks can point at it. */
export interface ServiceRow {
  readonly service: string;
  readonly value: number;
  readonly line: number;
}

export interface ComponentRow extends ServiceRow {
  readonly component: string;
}

export interface PlacementRow extends ComponentRow {
  readonly host: string;
}

export interface ParsedResultCsv {
  /** Section 1: 1 = fully accepted (GAMS); the heuristic writes the locally placed share instead. */
  readonly admission: readonly ServiceRow[];
  /** Section 2: local VMs per (host, component, service). */
  readonly placements: readonly PlacementRow[];
  readonly serviceElasticVms: readonly ServiceRow[];
  readonly componentElasticVms: readonly ComponentRow[];
  readonly federatedVms: readonly ComponentRow[];
  readonly trust: readonly ServiceRow[];
  readonly risk: readonly ServiceRow[];
  readonly eco: readonly ServiceRow[];
  readonly cost: readonly ServiceRow[];
}

function fail(line: number, problem: string): never {
  const field = `result.csv:${line}`;
  throw new AdmissionError('AC_ERR_RESULT_CSV', `${field}: ${problem}`, [{ field, reason: problem }]);
}

function mismatch(problem: string): never {
  throw new AdmissionError('AC_ERR_INTERNAL', `result.csv: the allocation does not match the model: ${problem}`);
}

/** GAMS `put` with `.nd = 2`; a negative zero would otherwise print as `-0.00`. */
function formatNumber(value: number): string {
  const text = value.toFixed(2);
  return text === '-0.00' ? '0.00' : text;
}

export function writeResultCsv(model: AdmissionModel, allocation: Allocation, verification: Verification): string {
  const labels = directoryLabels(model);
  if (allocation.services.length !== model.services.length) mismatch(`${allocation.services.length} services for ${model.services.length}`);
  if (verification.services.length !== model.services.length) mismatch(`${verification.services.length} verified services for ${model.services.length}`);
  model.services.forEach((s, a) => {
    if (allocation.services[a]!.length !== s.components.length) mismatch(`service ${s.id} has ${allocation.services[a]!.length} component allocations`);
    if (verification.services[a]!.components.length !== s.components.length) mismatch(`service ${s.id} has ${verification.services[a]!.components.length} component evaluations`);
  });
  const localVms = model.hosts.map(() => model.services.map((s) => s.components.map(() => 0)));
  allocation.services.forEach((components, a) =>
    components.forEach((c, i) =>
      c.placements.forEach((p) => {
        if (!localVms[p.hostIndex]) mismatch(`host index ${p.hostIndex} does not exist`);
        localVms[p.hostIndex]![a]![i]! += p.vms;
      }),
    ),
  );
  // GAMS iterates its sets: components in vm order, then services; only existing (component, service) pairs.
  const existing = labels.componentOrder.flatMap((label) =>
    labels.services.flatMap((service, a) => {
      const i = labels.components[a]!.indexOf(label);
      return i < 0 ? [] : [{ a, i, key: [label, service] }];
    }),
  );
  type Row = (string | number)[];
  const perService = (value: (a: number) => number): Row[] => labels.services.map((service, a) => [service, value(a)]);
  const sections: Record<ResultSection, Row[]> = {
    admission: perService((a) => (verification.services[a]!.fullyAccepted ? 1 : 0)),
    placements: labels.hosts.flatMap((host, j) => existing.map(({ a, i, key }) => [host, ...key, localVms[j]![a]![i]!])),
    serviceElasticVms: perService((a) => verification.services[a]!.acceptedElasticVms),
    componentElasticVms: existing.map(({ a, i, key }) => [...key, verification.services[a]!.components[i]!.acceptedElasticVms]),
    federatedVms: existing.map(({ a, i, key }) => [...key, allocation.services[a]![i]!.federatedVms]),
    trust: perService((a) => model.services[a]!.trust),
    risk: perService((a) => model.services[a]!.risk),
    eco: perService((a) => model.services[a]!.eco),
    cost: perService((a) => verification.services[a]!.cost),
  };
  return (Object.keys(RESULT_SECTION_TITLES) as ResultSection[]).map((section) => `${gamsResultCsv([['**', RESULT_SECTION_TITLES[section], '**']])}\n${gamsResultCsv(sections[section])}`).join('\n');
}

/**
 * GAMS's put-file CSV (csv-stringify): labels always quoted (a quote inside doubled), numbers never, with two
 * decimals (-0.00 written 0.00), `\n` after every row.
 */
function gamsResultCsv(rows: readonly (readonly (string | number)[])[]): string {
  return stringify(rows as (string | number)[][], { delimiter: ',', record_delimiter: '\n', quoted_string: true, cast: { number: formatNumber } });
}

const SECTION_BY_TITLE = new Map<string, ResultSection>(Object.entries(RESULT_SECTION_TITLES).map(([section, title]) => [title, section as ResultSection]));
const LABEL_COUNT: Record<ResultSection, number> = {
  admission: 1,
  placements: 3,
  serviceElasticVms: 1,
  componentElasticVms: 2,
  federatedVms: 2,
  trust: 1,
  risk: 1,
  eco: 1,
  cost: 1,
};
interface RawRow {
  readonly labels: readonly string[];
  readonly value: number;
  readonly line: number;
}
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Reads either flavour; sections may be missing or empty, rows may be missing, numbers may have any decimals. */
export function readResultCsv(text: string): ParsedResultCsv {
  const rows = Object.fromEntries(Object.keys(RESULT_SECTION_TITLES).map((section) => [section, []])) as unknown as Record<ResultSection, RawRow[]>;
  const seen = new Set<ResultSection>();
  let current: ResultSection | undefined;
  text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .forEach((raw, k) => {
      const line = k + 1;
      if (raw.trim() === '') return;
      const cells = raw.split(',').map((cell) => cell.trim().replace(/^"(.*)"$/, '$1'));
      if (cells[0] === '**') {
        const title = cells[1] ?? '';
        current = SECTION_BY_TITLE.get(title);
        if (!current) fail(line, `unknown section '${title}'`);
        if (seen.has(current)) fail(line, `section '${title}' appears twice`);
        seen.add(current);
        return;
      }
      if (!current) fail(line, 'data row before the first section header');
      const labelCount = LABEL_COUNT[current];
      if (cells.length !== labelCount + 1) {
        fail(line, `expected ${labelCount} labels and a value in section '${RESULT_SECTION_TITLES[current]}', got ${cells.length} fields`);
      }
      if (cells.some((cell) => cell === '')) fail(line, 'empty field');
      const valueText = cells[labelCount]!;
      const value = Number(valueText);
      if (!NUMBER.test(valueText) || !Number.isFinite(value)) fail(line, `expected a number, got '${valueText}'`);
      rows[current].push({ labels: cells.slice(0, labelCount), value, line });
    });
  if (seen.size === 0) fail(1, 'no section header found');
  const byService = (section: ResultSection): ServiceRow[] => rows[section].map(({ labels: [service], value, line }) => ({ service: service!, value, line }));
  const byComponent = (section: ResultSection): ComponentRow[] =>
    rows[section].map(({ labels: [component, service], value, line }) => ({ component: component!, service: service!, value, line }));
  return {
    admission: byService('admission'),
    placements: rows.placements.map(({ labels: [host, component, service], value, line }) => ({ host: host!, component: component!, service: service!, value, line })),
    serviceElasticVms: byService('serviceElasticVms'),
    componentElasticVms: byComponent('componentElasticVms'),
    federatedVms: byComponent('federatedVms'),
    trust: byService('trust'),
    risk: byService('risk'),
    eco: byService('eco'),
    cost: byService('cost'),
  };
}

/**
 * Maps a parsed result back onto the model by label. acceptedLocally = some local VM, or the service is fully
 * accepted (section 1 value 1); a component accepted with zero local VMs (basic 0) is otherwise not recoverable.
 */
export function resultCsvToAllocation(model: AdmissionModel, parsed: ParsedResultCsv): Allocation {
  const labels = directoryLabels(model);
  const hostIndex = new Map(labels.hosts.map((label, j) => [label, j]));
  const serviceIndex = new Map(labels.services.map((label, a) => [label, a]));
  const locate = (row: ComponentRow): [number, number] => {
    const a = serviceIndex.get(row.service) ?? fail(row.line, `unknown service '${row.service}'`);
    const i = labels.components[a]!.indexOf(row.component);
    if (i < 0) fail(row.line, `service ${row.service} has no component '${row.component}'`);
    return [a, i];
  };
  const vmCount = (row: ComponentRow, what: string): number => {
    if (!Number.isInteger(row.value) || row.value < 0) fail(row.line, `${what}: expected a whole number of VMs, got ${row.value}`);
    return row.value;
  };

  const local = model.services.map((s) => s.components.map(() => new Map<number, number>()));
  for (const row of parsed.placements) {
    const [a, i] = locate(row);
    const j = hostIndex.get(row.host) ?? fail(row.line, `unknown host '${row.host}'`);
    const subject = `${row.host}/${row.component}/${row.service}`;
    if (local[a]![i]!.has(j)) fail(row.line, `duplicate row for ${subject}`);
    local[a]![i]!.set(j, vmCount(row, subject));
  }
  const federated = model.services.map((s) => s.components.map(() => 0));
  for (const row of parsed.federatedVms) {
    const [a, i] = locate(row);
    federated[a]![i] = vmCount(row, `${row.component}/${row.service}`);
  }
  const fullyAccepted = model.services.map(() => false);
  for (const row of parsed.admission) {
    fullyAccepted[serviceIndex.get(row.service) ?? fail(row.line, `unknown service '${row.service}'`)] = row.value === 1;
  }

  return {
    services: model.services.map((s, a) =>
      s.components.map((_, i): ComponentAllocation => {
        const placements: HostPlacement[] = [...local[a]![i]!]
          .filter(([, vms]) => vms > 0)
          .sort(([x], [y]) => x - y)
          .map(([hostIndex, vms]) => ({ hostIndex, vms }));
        return { acceptedLocally: placements.length > 0 || fullyAccepted[a]!, placements, federatedVms: federated[a]![i]! };
      }),
    ),
  };
}
