/**
 * Reads and writes the OPTIMIS CSV model directory (GAMS flavour, model.md §2) as an AdmissionModel.
 * Knows file layouts and labels only; the model's semantics are checked by model/validate.ts.
 *
 * Required files (no problem to solve without them): vms, basic, elastic, table, maxCpus, resCpus, basicCost.
 * Every other file is optional; a missing one gets a default and adds one warning:
 *   - services / components / hosts / combs_: derived from the vms.csv header / vms.csv rows / maxCpus.csv keys /
 *     combs.csv rows;
 *   - weights 0.25 each; constraints eco 0, trust 0, risk 7, cost 1000000; trust 3, eco 8, risk 0.001;
 *     extraCost 0; doNotFederate no; availability.csv 1.0 (it constrains nothing in v6.0, Q8);
 *     availability_sc 1.0; affinity_sc / anti_affinity_sc 0; no rules without the rule tables;
 *   - ecoHost 3 + (0-based host position), the Java fallback: ph1 → 3, ph2 → 4 (the worked example's values);
 *   - hostsInfo.csv: host id = label;
 *   - ServicesInfo.xml: service / component id = label, without a warning (the writer omits it when ids = labels,
 *     and OPTIMIS keeps it in a separate AllocationInfo directory);
 *   - riskHost.csv, free_mem.csv, memory_per_component.csv: the field stays absent (no warning), also per entry,
 *     so that a model carrying memory on some hosts only survives a round trip.
 * A declared label with no entry in a present file reads as 0 (GAMS) and adds a warning; a blank cell is 0 silently.
 *
 * Writer deviation: combs_.csv / combs.csv enumerate all 2^N − 1 subsets only while N ≤ 12 (as Java does); above
 * that only the singletons plus the combinations that rules use, numbered c1.. in the same size-then-lexicographic
 * order. A round trip returns rules canonically: members in component order, affinity before anti-affinity,
 * by combination, one rule per kind and member set (the higher level wins).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AdmissionError, type ErrorDetail } from '../model/errors';
import {
  DEFAULT_CONSTRAINTS,
  DEFAULT_SERVICE_ECO,
  DEFAULT_SERVICE_RISK,
  DEFAULT_SERVICE_TRUST,
  DEFAULT_WEIGHTS,
  type AdmissionModel,
  type Component,
  type Host,
  type Level,
  type Rule,
  type Service,
  type TrecConstraints,
  type Weights,
} from '../model/types';
import { checkModel, validateModel } from '../model/validate';

export const REQUIRED_FILES = ['vms.csv', 'basic.csv', 'elastic.csv', 'table.csv', 'maxCpus.csv', 'resCpus.csv', 'basicCost.csv'] as const;
/** Up to this many component labels the writer emits every combination, like the Java writer (4095 at 12). */
export const FULL_COMBINATIONS_MAX_COMPONENTS = 12;
export const DEFAULT_SERVICE_AVAILABILITY = 1;
export const DEFAULT_COMPONENT_AVAILABILITY = 1;
const SERVICES_INFO = 'ServicesInfo.xml';
/** Files the writer emits only when the model carries their data; stale copies would otherwise be loaded back. */
const CONDITIONAL_FILES = ['riskHost.csv', 'free_mem.csv', 'memory_per_component.csv', SERVICES_INFO];

// ---------------------------------------------------------------------------------------------
// Labels shared by the directory and result.csv.

export interface DirectoryLabels {
  readonly hosts: readonly string[];
  readonly services: readonly string[];
  /** `components[a][i]`: the label of component i of service a. */
  readonly components: readonly (readonly string[])[];
  /** The shared component labels in components.csv order (vm order whenever the services allow it). */
  readonly componentOrder: readonly string[];
}

const LABEL = /^[^\s,"]+$/;

function invalidModel(field: string, reason: string): never {
  throw new AdmissionError('AC_ERR_INVALID_MODEL', `${field}: ${reason}`, [{ field, reason }]);
}

function uniqueLabels(labels: string[], field: (k: number) => string): string[] {
  const seen = new Set<string>();
  labels.forEach((label, k) => {
    if (!LABEL.test(label)) invalidModel(field(k), `label '${label}' cannot be written to a CSV directory`);
    if (seen.has(label)) invalidModel(field(k), `duplicate label '${label}'`);
    seen.add(label);
  });
  return labels;
}

/** Labels of the model (label ?? positional `ph<k>` / `a<k>` / `vm<k>`); throws AC_ERR_INVALID_MODEL when they clash. */
export function directoryLabels(model: AdmissionModel): DirectoryLabels {
  const hosts = uniqueLabels(model.hosts.map((h, j) => h.label ?? `ph${j + 1}`), (j) => `hosts[${j}].label`);
  const services = uniqueLabels(model.services.map((s, a) => s.label ?? `a${a + 1}`), (a) => `services[${a}].label`);
  const components = model.services.map((s, a) =>
    uniqueLabels(s.components.map((c, i) => c.label ?? `vm${i + 1}`), (i) => `services[${a}].components[${i}].label`),
  );
  return { hosts, services, components, componentOrder: mergeComponentOrder(components) };
}

/**
 * One component order that every service's own order follows, since a service lists its components in
 * components.csv order on load; ties go to vm number, then first appearance, so `vm<k>` labels come out sorted.
 */
function mergeComponentOrder(components: readonly (readonly string[])[]): string[] {
  const firstSeen = [...new Set(components.flat())];
  const predecessors = new Map(firstSeen.map((label) => [label, new Set<string>()]));
  for (const labels of components) labels.forEach((label, i) => i > 0 && predecessors.get(label)!.add(labels[i - 1]!));
  const vmNumber = (label: string) => Number(/^vm(\d+)$/.exec(label)?.[1] ?? Infinity);
  const byRank = (x: string, y: string) => vmNumber(x) - vmNumber(y) || firstSeen.indexOf(x) - firstSeen.indexOf(y);
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < firstSeen.length) {
    const ready = firstSeen.filter((label) => !placed.has(label) && [...predecessors.get(label)!].every((p) => placed.has(p)));
    if (ready.length === 0) invalidModel('services', 'the services list their component labels in conflicting orders, so no components.csv order fits them all');
    const next = ready.sort(byRank)[0]!;
    order.push(next);
    placed.add(next);
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// Reading: files → cells that remember where they came from.

interface Line {
  readonly line: number;
  readonly cells: readonly string[];
}

interface Cell {
  readonly file: string;
  /** 1-based; absent when the value has no line (a missing entry). */
  readonly line?: number;
  readonly text: string;
  /** Context for parse errors: `column a2` in tables, the key in keyed files. */
  readonly where: string;
  /** What the value belongs to, for semantic errors: `vm3/a1`, `ph2`, `a1`. */
  readonly subject: string;
}

interface RawTable {
  readonly headerLine: number;
  readonly columns: readonly string[];
  readonly rows: readonly { readonly label: string; readonly line: Line }[];
}

type Noun = 'service' | 'component' | 'host' | 'combination';

function fail(file: string, line: number | undefined, problem: string): never {
  const field = line === undefined ? file : `${file}:${line}`;
  throw new AdmissionError('AC_ERR_MODEL_DIRECTORY', `${field}: ${problem}`, [{ field, reason: problem }]);
}

const cellKey = (row: string, column: string) => `${row},${column}`;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function parseNumber(cell: Cell): number {
  if (cell.text === '') return 0;
  const value = Number(cell.text);
  if (!NUMBER.test(cell.text) || !Number.isFinite(value)) fail(cell.file, cell.line, `${cell.where}: expected a number, got '${cell.text}'`);
  return value;
}

function parseCount(cell: Cell): number {
  const value = cell.text === '' || NUMBER.test(cell.text) ? Number(cell.text) : NaN;
  if (!Number.isInteger(value) || value < 0) fail(cell.file, cell.line, `${cell.where}: expected a non-negative integer, got '${cell.text}'`);
  return value;
}

function parseLevel(cell: Cell): Level {
  const value = cell.text === '' ? 0 : Number(cell.text);
  if (value !== 0 && value !== 1 && value !== 2) fail(cell.file, cell.line, `${cell.where}: expected a level 0, 1 or 2, got '${cell.text}'`);
  return value;
}

function parseFlag(cell: Cell): boolean {
  const text = cell.text.toLowerCase();
  if (text === 'yes' || text === '1') return true;
  if (text === 'no' || text === '0' || text === '') return false;
  return fail(cell.file, cell.line, `${cell.where}: expected yes or no, got '${cell.text}'`);
}

function parseBit(cell: Cell): boolean {
  if (cell.text !== '' && cell.text !== '0' && cell.text !== '1') fail(cell.file, cell.line, `${cell.where}: expected 0 or 1, got '${cell.text}'`);
  return cell.text === '1';
}

/** Labels are GAMS identifiers here; whitespace or quotes inside one could not be written back. */
function checkLabel(file: string, line: number, label: string): string {
  if (label === '') fail(file, line, 'empty label');
  if (!LABEL.test(label)) fail(file, line, `label '${label}' contains whitespace or a quote`);
  return label;
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

class DirectoryReader {
  readonly warnings: string[] = [];
  private readonly texts = new Map<string, string | null>();
  private readonly tables = new Map<string, RawTable | null>();

  constructor(private readonly dir: string) {}

  text(file: string): string | undefined {
    if (!this.texts.has(file)) {
      try {
        this.texts.set(file, fs.readFileSync(path.join(this.dir, file), 'utf8').replace(/^\uFEFF/, ''));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') fail(file, undefined, `cannot be read (${code ?? String(error)})`);
        this.texts.set(file, null);
      }
    }
    return this.texts.get(file) ?? undefined;
  }

  exists(file: string): boolean {
    return this.text(file) !== undefined;
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  /** Records a whole-file default. */
  missing<T>(file: string, instead: string, value: T): T {
    this.warn(`${file}: missing, ${instead}`);
    return value;
  }

  lines(file: string): Line[] | undefined {
    const text = this.text(file);
    if (text === undefined) return undefined;
    return text.split(/\r\n|\r|\n/).flatMap((raw, k) => (raw.trim() === '' ? [] : [{ line: k + 1, cells: raw.split(',').map((c) => c.trim()) }]));
  }

  set(file: string, noun: Noun): string[] | undefined {
    const lines = this.lines(file);
    if (!lines) return undefined;
    const members = new Set<string>();
    for (const { line, cells } of lines) {
      for (const label of cells) {
        if (label === '') continue;
        checkLabel(file, line, label);
        if (members.has(label)) fail(file, line, `duplicate ${noun} '${label}'`);
        members.add(label);
      }
    }
    return [...members];
  }

  /** `label,value` lines, structurally checked but not yet filtered by the declared set. */
  entries(file: string): { label: string; cell: Cell }[] | undefined {
    const lines = this.lines(file);
    if (!lines) return undefined;
    const seen = new Set<string>();
    return lines.map(({ line, cells }) => {
      if (cells.length !== 2) fail(file, line, `expected 'label,value', got ${cells.length} cells`);
      const label = checkLabel(file, line, cells[0]!);
      if (seen.has(label)) fail(file, line, `duplicate label '${label}'`);
      seen.add(label);
      return { label, cell: { file, line, text: cells[1]!, where: label, subject: label } };
    });
  }

  keyed(file: string, declared: readonly string[], noun: Noun): Map<string, Cell> | undefined {
    const entries = this.entries(file);
    if (!entries) return undefined;
    const known = new Set(declared);
    const cells = new Map<string, Cell>();
    for (const { label, cell } of entries) {
      if (known.has(label)) cells.set(label, cell);
      else this.warn(`${file}:${cell.line}: '${label}' is not a declared ${noun}, ignored`);
    }
    return cells;
  }

  rawTable(file: string): RawTable | undefined {
    if (!this.tables.has(file)) this.tables.set(file, this.parseTable(file) ?? null);
    return this.tables.get(file) ?? undefined;
  }

  private parseTable(file: string): RawTable | undefined {
    const lines = this.lines(file);
    if (!lines) return undefined;
    const [header, ...body] = lines;
    if (!header) fail(file, 1, "missing the 'dummy,...' header line");
    if (header.cells[0] !== 'dummy') fail(file, header.line, `first header cell must be 'dummy', got '${header.cells[0]}'`);
    const columns = header.cells.slice(1);
    columns.forEach((label, k) => {
      checkLabel(file, header.line, label);
      if (columns.indexOf(label) !== k) fail(file, header.line, `duplicate column '${label}'`);
    });
    const seen = new Set<string>();
    const rows = body.map((line) => {
      if (line.cells.length !== header.cells.length) {
        fail(file, line.line, `expected ${header.cells.length} cells as in the header, got ${line.cells.length}`);
      }
      const label = checkLabel(file, line.line, line.cells[0]!);
      if (seen.has(label)) fail(file, line.line, `duplicate row '${label}'`);
      seen.add(label);
      return { label, line };
    });
    return { headerLine: header.line, columns, rows };
  }

  /** Cells of the declared rows × columns, keyed by `cellKey(row, column)`; other rows and columns are dropped with a warning. */
  table(file: string, rows: readonly string[], rowNoun: Noun, columns: readonly string[], columnNoun: Noun): Map<string, Cell> | undefined {
    const raw = this.rawTable(file);
    if (!raw) return undefined;
    const knownColumns = new Set(columns);
    const knownRows = new Set(rows);
    for (const c of raw.columns) if (!knownColumns.has(c)) this.warn(`${file}:${raw.headerLine}: column '${c}' is not a declared ${columnNoun}, ignored`);
    const cells = new Map<string, Cell>();
    for (const { label, line } of raw.rows) {
      if (!knownRows.has(label)) {
        this.warn(`${file}:${line.line}: row '${label}' is not a declared ${rowNoun}, ignored`);
        continue;
      }
      raw.columns.forEach((column, k) => {
        if (!knownColumns.has(column)) return;
        const text = line.cells[k + 1]!;
        cells.set(cellKey(label, column), { file, line: line.line, text, where: `column ${column}`, subject: `${label}/${column}` });
      });
    }
    return cells;
  }

  scalar(file: string): Cell | undefined {
    const lines = this.lines(file);
    if (!lines) return undefined;
    if (lines.length !== 1 || lines[0]!.cells.length !== 1) fail(file, lines[1]?.line ?? lines[0]?.line ?? 1, 'expected a single number');
    return { file, line: lines[0]!.line, text: lines[0]!.cells[0]!, where: 'weight', subject: 'weight' };
  }
}

// ---------------------------------------------------------------------------------------------
// Loading.

interface Origin {
  readonly file: string;
  readonly line?: number;
  readonly subject: string;
}

/** Service and component ids from ServicesInfo.xml, keyed by label. */
interface IdMap {
  readonly services: Map<string, string>;
  readonly components: Map<string, Map<string, string>>;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function attribute(node: Record<string, unknown>, name: string): string | undefined {
  const value = node[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function readServicesInfo(reader: DirectoryReader, services: readonly string[]): IdMap | undefined {
  const text = reader.text(SERVICES_INFO);
  if (text === undefined) return undefined;
  const doctype = /<!DOCTYPE/i.exec(text);
  // Entity declarations are how XML bombs and external-entity reads get in; OPTIMIS never writes one.
  if (doctype) fail(SERVICES_INFO, lineOf(text, doctype.index), 'DOCTYPE is forbidden');
  const valid = XMLValidator.validate(text);
  if (valid !== true) fail(SERVICES_INFO, valid.err.line, `malformed XML: ${valid.err.msg}`);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'service' || name === 'vm' });
  const root = (parser.parse(text) as Record<string, unknown>)['services'];
  if (root === undefined) fail(SERVICES_INFO, undefined, 'expected a <services> root element');
  const ids: IdMap = { services: new Map(), components: new Map() };
  const declared = new Set(services);
  for (const node of (record(root)?.['service'] as unknown[] | undefined) ?? []) {
    const service = record(node) ?? {};
    const name = attribute(service, 'name');
    if (name === undefined || !declared.has(name)) {
      reader.warn(`${SERVICES_INFO}: <service name="${name ?? ''}"> is not a declared service, ignored`);
      continue;
    }
    const id = attribute(service, 'id');
    if (id !== undefined) ids.services.set(name, id);
    const components = new Map<string, string>();
    for (const vmNode of (service['vm'] as unknown[] | undefined) ?? []) {
      const vm = record(vmNode) ?? {};
      const vmName = attribute(vm, 'name');
      const componentId = attribute(vm, 'componentId');
      if (vmName !== undefined && componentId !== undefined) components.set(vmName, componentId);
    }
    ids.components.set(name, components);
  }
  return ids;
}

const blankCell = (file: string, key: string): Cell => ({ file, text: '', where: key, subject: key });

/** The cells of one file, or no cells when the file is missing. */
interface Source {
  readonly file: string;
  readonly cells: Map<string, Cell> | undefined;
}

function load(dir: string): { model: AdmissionModel; warnings: string[] } {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    fail(dir, undefined, code === 'ENOENT' || code === 'ENOTDIR' ? 'no such directory' : `cannot be read (${code ?? String(error)})`);
  }
  if (!stat.isDirectory()) fail(dir, undefined, 'not a directory');

  const reader = new DirectoryReader(dir);
  const missing = REQUIRED_FILES.filter((file) => !reader.exists(file));
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : '';
    throw new AdmissionError(
      'AC_ERR_MODEL_DIRECTORY',
      `${missing[0]}: missing required file${more}`,
      missing.map((file) => ({ field: file, reason: 'missing required file' })),
    );
  }
  const origins = new Map<string, Origin>();

  // Sets.
  const vmsTable = reader.rawTable('vms.csv')!;
  const services = reader.set('services.csv', 'service') ?? reader.missing('services.csv', 'services taken from the vms.csv header', [...vmsTable.columns]);
  const labels =
    reader.set('components.csv', 'component') ?? reader.missing('components.csv', 'components taken from the vms.csv rows', vmsTable.rows.map((r) => r.label));
  const hosts =
    reader.set('hosts.csv', 'host') ?? reader.missing('hosts.csv', 'hosts taken from the maxCpus.csv keys', reader.entries('maxCpus.csv')!.map((e) => e.label));
  const combs =
    reader.set('combs_.csv', 'combination') ??
    reader.missing('combs_.csv', 'combinations taken from the combs.csv rows', reader.rawTable('combs.csv')?.rows.map((r) => r.label) ?? []);

  const keyed = (file: string, declared: readonly string[], noun: Noun, instead?: string): Source => {
    const cells = reader.keyed(file, declared, noun);
    if (!cells && instead !== undefined) reader.missing(file, instead, undefined);
    return { file, cells };
  };
  const componentTable = (file: string, instead?: string): Source => {
    const cells = reader.table(file, labels, 'component', services, 'service');
    if (!cells && instead !== undefined) reader.missing(file, instead, undefined);
    return { file, cells };
  };
  /** One value: a missing file gives `fileDefault`; a declared label without an entry is 0 as in GAMS, with a warning. */
  const value = <T>(modelPath: string, source: Source, key: string, parse: (cell: Cell) => T, fileDefault: T, subject = key): T => {
    if (!source.cells) return fileDefault;
    let cell = source.cells.get(key);
    if (!cell) {
      cell = blankCell(source.file, subject);
      reader.warn(`${source.file}: no entry for ${subject}, using ${String(parse(cell))}`);
    }
    origins.set(modelPath, { ...cell, subject });
    return parse(cell);
  };
  /** Per-entry optional data (risk, memory): missing or blank stays absent. */
  const optional = (modelPath: string, cell: Cell | undefined): number | undefined => {
    if (!cell || cell.text === '') return undefined;
    origins.set(modelPath, cell);
    return parseNumber(cell);
  };

  // Hosts.
  const maxCpus = keyed('maxCpus.csv', hosts, 'host');
  const resCpus = keyed('resCpus.csv', hosts, 'host');
  const ecoHost = keyed('ecoHost.csv', hosts, 'host', 'host eco is 3 + position (ph1 → 3)');
  const riskHost = keyed('riskHost.csv', hosts, 'host');
  const freeMemory = keyed('free_mem.csv', hosts, 'host');
  const hostIds = keyed('hostsInfo.csv', hosts, 'host', 'host ids are the labels');
  const hostList: Host[] = hosts.map((label, j) => {
    const at = `hosts[${j}]`;
    const idCell = hostIds.cells?.get(label);
    if (idCell) origins.set(`${at}.id`, idCell);
    const risk = optional(`${at}.risk`, riskHost.cells?.get(label));
    const freeMemoryMb = optional(`${at}.freeMemoryMb`, freeMemory.cells?.get(label));
    return {
      id: idCell && idCell.text !== '' ? idCell.text : label,
      label,
      cpus: value(`${at}.cpus`, maxCpus, label, parseCount, 0),
      usedCpus: value(`${at}.usedCpus`, resCpus, label, parseCount, 0),
      eco: value(`${at}.eco`, ecoHost, label, parseNumber, 3 + j),
      ...(risk !== undefined && { risk }),
      ...(freeMemoryMb !== undefined && { freeMemoryMb }),
    };
  });

  // Services and their components.
  const vms = componentTable('vms.csv').cells!;
  const basic = componentTable('basic.csv');
  const elastic = componentTable('elastic.csv');
  const vcpus = componentTable('table.csv');
  const availabilitySc = componentTable('availability_sc.csv', `component availability is ${DEFAULT_COMPONENT_AVAILABILITY}`);
  const affinitySc = componentTable('affinity_sc.csv', 'component affinity is 0 (Low)');
  const antiAffinitySc = componentTable('anti_affinity_sc.csv', 'component anti-affinity is 0 (Low)');
  const memory = componentTable('memory_per_component.csv');
  const gain = keyed('basicCost.csv', services, 'service');
  const extraCost = keyed('extraCost.csv', services, 'service', 'extra cost is 0');
  const trust = keyed('trust.csv', services, 'service', `trust is ${DEFAULT_SERVICE_TRUST}`);
  const eco = keyed('eco.csv', services, 'service', `eco is ${DEFAULT_SERVICE_ECO}`);
  const risk = keyed('risk.csv', services, 'service', `risk is ${DEFAULT_SERVICE_RISK}`);
  const availability = keyed('availability.csv', services, 'service', `service availability is ${DEFAULT_SERVICE_AVAILABILITY}`);
  const doNotFederate = keyed('doNotFederate.csv', services, 'service', 'federation is allowed (no)');
  const bound = (name: keyof TrecConstraints) => keyed(`${name}_constraint.csv`, services, 'service', `${name} bound is ${DEFAULT_CONSTRAINTS[name]}`);
  const bounds = { eco: bound('eco'), trust: bound('trust'), risk: bound('risk'), cost: bound('cost') };
  // Absent ServicesInfo.xml is the writer's convention for "ids are the labels", so it adds no warning.
  const ids = readServicesInfo(reader, services);

  const ruleTables = readRuleTables(reader, services, labels, combs);
  const componentLabels = services.map((a) => labels.filter((i) => parseFlag(vms.get(cellKey(i, a)) ?? blankCell('vms.csv', i))));
  const serviceList: Service[] = services.map((serviceLabel, a) => {
    const at = `services[${a}]`;
    origins.set(`${at}.components`, vmsTable.columns.includes(serviceLabel)
      ? { file: 'vms.csv', line: vmsTable.headerLine, subject: serviceLabel }
      : { file: 'services.csv', line: 1, subject: serviceLabel });
    const components: Component[] = componentLabels[a]!.map((label, i) => {
      const componentValue = <T>(field: keyof Component, source: Source, parse: (cell: Cell) => T, fileDefault: T): T =>
        value(`${at}.components[${i}].${field}`, source, cellKey(label, serviceLabel), parse, fileDefault, `${label}/${serviceLabel}`);
      const memoryMb = optional(`${at}.components[${i}].memoryMb`, memory.cells?.get(cellKey(label, serviceLabel)));
      return {
        id: ids?.components.get(serviceLabel)?.get(label) ?? label,
        label,
        basic: componentValue('basic', basic, parseCount, 0),
        maxVms: componentValue('maxVms', elastic, parseCount, 0),
        vcpus: componentValue('vcpus', vcpus, parseCount, 0),
        ...(memoryMb !== undefined && { memoryMb }),
        availability: componentValue('availability', availabilitySc, parseNumber, DEFAULT_COMPONENT_AVAILABILITY),
        affinity: componentValue('affinity', affinitySc, parseLevel, 0 as Level),
        antiAffinity: componentValue('antiAffinity', antiAffinitySc, parseLevel, 0 as Level),
      };
    });
    const serviceValue = (field: string, source: Source, fileDefault: number) => value(`${at}.${field}`, source, serviceLabel, parseNumber, fileDefault);
    return {
      id: ids?.services.get(serviceLabel) ?? serviceLabel,
      label: serviceLabel,
      gain: serviceValue('gain', gain, 0),
      extraCost: serviceValue('extraCost', extraCost, 0),
      trust: serviceValue('trust', trust, DEFAULT_SERVICE_TRUST),
      risk: serviceValue('risk', risk, DEFAULT_SERVICE_RISK),
      eco: serviceValue('eco', eco, DEFAULT_SERVICE_ECO),
      availability: serviceValue('availability', availability, DEFAULT_SERVICE_AVAILABILITY),
      federationAllowed: !value(`${at}.federationAllowed`, doNotFederate, serviceLabel, parseFlag, false),
      components,
      rules: serviceRules(reader, ruleTables, a, serviceLabel, componentLabels[a]!, components, origins),
      constraints: {
        eco: serviceValue('constraints.eco', bounds.eco, DEFAULT_CONSTRAINTS.eco),
        trust: serviceValue('constraints.trust', bounds.trust, DEFAULT_CONSTRAINTS.trust),
        risk: serviceValue('constraints.risk', bounds.risk, DEFAULT_CONSTRAINTS.risk),
        cost: serviceValue('constraints.cost', bounds.cost, DEFAULT_CONSTRAINTS.cost),
      },
    };
  });

  const weight = (name: keyof Weights): number => {
    const file = `${name}_weight.csv`;
    const cell = reader.scalar(file);
    if (!cell) return reader.missing(file, `weight is ${DEFAULT_WEIGHTS[name]}`, DEFAULT_WEIGHTS[name]);
    origins.set(`weights.${name}`, cell);
    return parseNumber(cell);
  };
  const weights: Weights = { cost: weight('cost'), eco: weight('eco'), risk: weight('risk'), trust: weight('trust') };

  const model: AdmissionModel = { hosts: hostList, services: serviceList, weights };
  const problems = checkModel(model).map((problem) => locate(problem, origins));
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new AdmissionError('AC_ERR_MODEL_DIRECTORY', `${problems[0]!.field}: ${problems[0]!.reason}${more}`, problems);
  }
  return { model, warnings: reader.warnings };
}

const PARENT_STEP = /(\.[^.[\]]+|\[\d+\])$/;

/** Turns `services[0].components[2].maxVms` into `elastic.csv:4` + `vm3/a1: …`, using the longest recorded prefix. */
function locate(problem: ErrorDetail, origins: ReadonlyMap<string, Origin>): ErrorDetail {
  for (let at = problem.field; ; at = at.replace(PARENT_STEP, '')) {
    const origin = origins.get(at);
    if (origin) {
      return { field: origin.line === undefined ? origin.file : `${origin.file}:${origin.line}`, reason: `${origin.subject}: ${problem.reason}` };
    }
    if (!PARENT_STEP.test(at)) return problem;
  }
}

interface RuleTables {
  readonly combs: readonly string[];
  /** Component labels of a combination (`M_c`). */
  membersOf(comb: string): readonly string[];
  readonly tables: readonly { readonly kind: Rule['kind']; readonly file: string; readonly cells: Map<string, Cell> }[];
}

function readRuleTables(reader: DirectoryReader, services: readonly string[], labels: readonly string[], combs: readonly string[]): RuleTables {
  const combsTable = reader.table('combs.csv', combs, 'combination', labels, 'component') ?? reader.missing('combs.csv', 'combinations have no members', undefined);
  const tables: RuleTables['tables'][number][] = [];
  for (const [kind, file, noun] of [['affinity', 'affinity_rules.csv', 'affinity'], ['antiAffinity', 'anti_affinity_rules.csv', 'anti-affinity']] as const) {
    const raw = reader.rawTable(file);
    if (!raw) {
      reader.missing(file, `no ${noun} rules`, undefined);
      continue;
    }
    if (!combsTable) {
      // Without combs.csv a rule cell has no members; say so rather than drop the rule.
      for (const { line } of raw.rows) {
        const k = line.cells.findIndex((text, k) => k > 0 && text !== '' && text !== '0');
        if (k > 0) fail(file, line.line, `column ${raw.columns[k - 1]}: a rule needs combs.csv, which is missing`);
      }
    }
    tables.push({ kind, file, cells: reader.table(file, services, 'service', combs, 'combination')! });
  }
  const members = new Map<string, string[]>();
  const membersOf = (comb: string): readonly string[] => {
    if (!members.has(comb)) members.set(comb, labels.filter((i) => parseBit(combsTable?.get(cellKey(comb, i)) ?? blankCell('combs.csv', i))));
    return members.get(comb)!;
  };
  return { combs, membersOf, tables };
}

/** Rules of one service: members = M_c ∩ P_a as component ids; one rule per kind and member set (the higher level). */
function serviceRules(
  reader: DirectoryReader,
  ruleTables: RuleTables,
  a: number,
  serviceLabel: string,
  present: readonly string[],
  components: readonly Component[],
  origins: Map<string, Origin>,
): Rule[] {
  const rules: Rule[] = [];
  for (const { kind, file, cells } of ruleTables.tables) {
    for (const comb of ruleTables.combs) {
      const cell = cells.get(cellKey(serviceLabel, comb));
      const level = cell ? parseLevel(cell) : 0;
      if (!cell || level === 0) continue;
      const members = ruleTables.membersOf(comb).flatMap((i) => (present.includes(i) ? [components[present.indexOf(i)]!.id] : []));
      if (members.length === 0) {
        reader.warn(`${file}:${cell.line}: ${serviceLabel}/${comb}: no member of ${comb} is a component of ${serviceLabel}, rule ignored`);
        continue;
      }
      const same = rules.findIndex((r) => r.kind === kind && r.members.join('\n') === members.join('\n'));
      if (same < 0) {
        origins.set(`services[${a}].rules[${rules.length}]`, cell);
        rules.push({ kind, level, members });
        continue;
      }
      reader.warn(`${file}:${cell.line}: ${serviceLabel}/${comb}: same members as an earlier ${kind} rule, the higher level is kept`);
      if (level > rules[same]!.level) rules[same] = { kind, level, members };
    }
  }
  return rules;
}

/** Loads a model directory; throws AC_ERR_MODEL_DIRECTORY naming file and line of the first problem. */
export function loadModelDirectory(dir: string): { model: AdmissionModel; warnings: string[] } {
  try {
    return load(dir);
  } catch (error) {
    if (error instanceof AdmissionError) throw error;
    throw new AdmissionError('AC_ERR_INTERNAL', `${dir}: loading the model directory failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing.

/** Every non-empty subset of 0..n−1, by size and then lexicographically (the Java enumeration). */
function allSubsets(n: number): number[][] {
  const out: number[][] = [];
  const extend = (prefix: number[], from: number, size: number): void => {
    if (prefix.length === size) {
      out.push(prefix);
      return;
    }
    for (let k = from; k < n; k++) extend([...prefix, k], k + 1, size);
  };
  for (let size = 1; size <= n; size++) extend([], 0, size);
  return out;
}

function bySizeThenLex(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) return x.length - y.length;
  const k = x.findIndex((v, i) => v !== y[i]);
  return k < 0 ? 0 : x[k]! - y[k]!;
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** File name → content, exactly as the Java TRECAnalyzer lays them out. */
/** The directory's files as text, by file name (what writeModelDirectory writes; the OPTIMIS getCSV endpoint shows them). */
/**
 * The CSV of a GAMS model directory (csv-stringify): `,` between cells, `\n` after every row (`eof` false: not after
 * the last, as Java writes the sets), and no quoting at all — GAMS and OPTIMIS read cells raw (so does
 * loadModelDirectory), so a cell is written exactly as it is; the callers refuse what would need quoting (a delimiter
 * or a line break in a host id).
 */
function gamsCsv(rows: readonly (readonly string[])[], eof = true): string {
  return stringify(rows as string[][], { delimiter: ',', record_delimiter: '\n', quote: '', eof });
}

export function renderModelDirectory(model: AdmissionModel): Map<string, string> {
  const labels = directoryLabels(model);
  model.hosts.forEach((h, j) => {
    if (h.id !== h.id.trim() || /[,\r\n]/.test(h.id)) invalidModel(`hosts[${j}].id`, `host id '${h.id}' cannot be written to hostsInfo.csv`);
  });
  const files = new Map<string, string>();
  const keyed = (keys: readonly string[], values: readonly string[]) => gamsCsv(keys.map((key, k) => [key, values[k]!]));
  const table = (rows: readonly string[], columns: readonly string[], cell: (row: string, column: string) => string) =>
    gamsCsv([['dummy', ...columns], ...rows.map((row) => [row, ...columns.map((column) => cell(row, column))])]);

  const { hosts, services, componentOrder } = labels;
  const byLabel = model.services.map((s, a) => new Map(s.components.map((c, i) => [labels.components[a]![i]!, c])));
  const componentTable = (file: string, cell: (c: Component) => string, filler = ' ') =>
    files.set(file, table(componentOrder, services, (i, a) => {
      const component = byLabel[services.indexOf(a)]!.get(i);
      return component ? cell(component) : filler;
    }));

  // Sets and weights: no trailing newline, as Java writes them.
  files.set('services.csv', gamsCsv([services], false));
  files.set('components.csv', gamsCsv([componentOrder], false));
  files.set('hosts.csv', gamsCsv([hosts], false));
  for (const name of ['cost', 'eco', 'risk', 'trust'] as const) files.set(`${name}_weight.csv`, String(model.weights[name]));

  // Hosts.
  const hostFile = (file: string, values: (h: Host) => number | string | undefined) => {
    const present = model.hosts.flatMap((h, j) => (values(h) === undefined ? [] : [[hosts[j]!, String(values(h))] as const]));
    files.set(file, keyed(present.map((p) => p[0]), present.map((p) => p[1])));
  };
  hostFile('maxCpus.csv', (h) => h.cpus);
  hostFile('resCpus.csv', (h) => h.usedCpus);
  hostFile('ecoHost.csv', (h) => h.eco);
  hostFile('hostsInfo.csv', (h) => h.id);
  if (model.hosts.some((h) => h.risk !== undefined)) hostFile('riskHost.csv', (h) => h.risk);
  if (model.hosts.some((h) => h.freeMemoryMb !== undefined)) hostFile('free_mem.csv', (h) => h.freeMemoryMb);

  // Services.
  const serviceFile = (file: string, value: (s: Service) => string) => files.set(file, keyed(services, model.services.map(value)));
  serviceFile('basicCost.csv', (s) => String(s.gain));
  serviceFile('extraCost.csv', (s) => String(s.extraCost));
  serviceFile('trust.csv', (s) => String(s.trust));
  serviceFile('eco.csv', (s) => String(s.eco));
  serviceFile('risk.csv', (s) => String(s.risk));
  serviceFile('availability.csv', (s) => String(s.availability));
  serviceFile('doNotFederate.csv', (s) => (s.federationAllowed ? 'no' : 'yes'));
  for (const name of ['eco', 'trust', 'risk', 'cost'] as const) serviceFile(`${name}_constraint.csv`, (s) => String(s.constraints[name]));

  // Components.
  componentTable('vms.csv', () => 'yes', 'no');
  componentTable('basic.csv', (c) => String(c.basic));
  componentTable('elastic.csv', (c) => String(c.maxVms));
  componentTable('table.csv', (c) => String(c.vcpus));
  componentTable('availability_sc.csv', (c) => String(c.availability));
  componentTable('affinity_sc.csv', (c) => String(c.affinity));
  componentTable('anti_affinity_sc.csv', (c) => String(c.antiAffinity));
  if (model.services.some((s) => s.components.some((c) => c.memoryMb !== undefined))) {
    componentTable('memory_per_component.csv', (c) => (c.memoryMb === undefined ? ' ' : String(c.memoryMb)));
  }

  // Rules, as cells of the combination tables.
  const position = new Map(componentOrder.map((label, k) => [label, k]));
  const ruleSubsets = model.services.map((s, a) =>
    s.rules.map((rule) => rule.members.map((id) => position.get(labels.components[a]![s.components.findIndex((c) => c.id === id)]!)!).sort((x, y) => x - y)),
  );
  const n = componentOrder.length;
  const subsets =
    n <= FULL_COMBINATIONS_MAX_COMPONENTS
      ? allSubsets(n)
      : [...new Map([...componentOrder.map((_, k) => [k]), ...ruleSubsets.flat()].map((subset) => [subset.join(','), subset])).values()].sort(bySizeThenLex);
  const combLabels = subsets.map((_, k) => `c${k + 1}`);
  const combOf = new Map(subsets.map((subset, k) => [subset.join(','), combLabels[k]!]));
  files.set('combs_.csv', gamsCsv([combLabels], false));
  files.set('combs.csv', table(combLabels, componentOrder, (c, i) => (subsets[combLabels.indexOf(c)]!.includes(position.get(i)!) ? '1' : '0')));
  for (const [kind, file] of [['affinity', 'affinity_rules.csv'], ['antiAffinity', 'anti_affinity_rules.csv']] as const) {
    const levels = new Map<string, number>();
    model.services.forEach((s, a) =>
      s.rules.forEach((rule, r) => {
        if (rule.kind !== kind) return;
        const key = cellKey(services[a]!, combOf.get(ruleSubsets[a]![r]!.join(','))!);
        levels.set(key, Math.max(levels.get(key) ?? 0, rule.level));
      }),
    );
    files.set(file, table(services, combLabels, (a, c) => String(levels.get(cellKey(a, c)) ?? 0)));
  }

  // Ids that differ from labels survive only through ServicesInfo.xml (the OPTIMIS AllocationInfo mapping).
  const idsDiffer = model.services.some((s, a) => s.id !== services[a] || s.components.some((c, i) => c.id !== labels.components[a]![i]));
  if (idsDiffer) {
    const xml = model.services.map((s, a) => {
      const vms = s.components.map((c, i) => {
        const id = escapeXml(c.id);
        return `    <vm id="${id}" name="${labels.components[a]![i]}" componentId="${id}"/>\n`;
      });
      return `  <service id="${escapeXml(s.id)}" name="${services[a]}" xmlCostFile="cost_${a + 1}.xml">\n${vms.join('')}  </service>\n`;
    });
    files.set(SERVICES_INFO, `<?xml version="1.0" encoding="UTF-8"?>\n<services>\n${xml.join('')}</services>\n`);
  }
  return files;
}

/** Writes the model as a GAMS model directory (creating `dir` if missing); throws AC_ERR_INVALID_MODEL for an invalid model. */
export function writeModelDirectory(model: AdmissionModel, dir: string): void {
  validateModel(model);
  const files = renderModelDirectory(model);
  try {
    fs.mkdirSync(dir, { recursive: true });
    for (const [file, content] of files) fs.writeFileSync(path.join(dir, file), content);
    for (const file of CONDITIONAL_FILES) if (!files.has(file)) fs.rmSync(path.join(dir, file), { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new AdmissionError('AC_ERR_MODEL_DIRECTORY', `${dir}: cannot write the model directory (${code})`, [{ field: dir, reason: code }]);
  }
}
