/**
 * Evaluation of javascript-lp-solver (pure JS simplex + branch-and-bound) as an exact solver for our MILP, e.g. as a
 * fallback when HiGHS's WebAssembly cannot load. It solves the very LP text HiGHS solves (buildLpModel), converted
 * to the package's JSON model; every answer is decoded with decodeAllocation, judged by the verifier and compared
 * with HiGHS's proven optimum. Findings: docs/javascript-lp-solver.md.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/lp-solver-eval.js   (prints the markdown report)
 *
 * Each solve runs in a worker thread: the package's `timeout` is only checked between branch-and-bound nodes (an
 * LP relaxation itself is never interrupted), so the worker is terminated at timeout + HARD_KILL_GRACE_MS.
 */
import { Worker } from 'node:worker_threads';
import { verify } from '../admission-controller/verifier';
import type { AdmissionModel } from '../model/types';
import { buildLpModel, decodeAllocation } from '../solvers/highs/lp-model';
import { shutdownHighsWorker, solveHighs, warmUpHighs } from '../solvers/highs';
import path from 'node:path';
import { loadModelDirectory } from '../trec-analyzer/model-directory';
import { generateModel, tinyModel } from './generator';

// ---------------------------------------------------------------------------------------------
// LP text (the subset lp-model.ts's LpWriter emits) → javascript-lp-solver JSON model

type Sense = '<=' | '>=' | '=';

export interface ParsedLp {
  /** Objective coefficients (maximised). */
  readonly objective: Map<string, number>;
  readonly objectiveConstant: number;
  readonly rows: { name: string; terms: Map<string, number>; sense: Sense; rhs: number }[];
  /** Every column, with its bounds (LP defaults: [0, +∞); binaries [0, 1]). */
  readonly columns: Map<string, { lower: number; upper: number; kind: 'continuous' | 'integer' | 'binary' }>;
}

/** javascript-lp-solver's JSON model (the fields used here). */
export interface JsLpModel {
  optimize: string;
  opType: 'max' | 'min';
  constraints: Record<string, { max?: number; min?: number; equal?: number }>;
  variables: Record<string, Record<string, number>>;
  ints: Record<string, 1>;
  binaries: Record<string, 1>;
  unrestricted: Record<string, 1>;
  options: { timeout: number; tolerance: number };
}

const SENSES: Readonly<Record<string, Sense>> = { '<=': '<=', '=<': '<=', '<': '<=', '>=': '>=', '=>': '>=', '>': '>=', '=': '=' };

function num(token: string): number {
  const t = token.toLowerCase();
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  const v = Number(token);
  if (token === '' || Number.isNaN(v)) throw new Error(`LP parse: expected a number, got "${token}"`);
  return v;
}

const isNumber = (t: string): boolean => /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || /^[+-]?inf(inity)?$/i.test(t);

/**
 * Linear expression from tokens: `[sign] [coef] name` terms and bare constants (`+ 4.5`). Our writer always
 * spaces sign, coefficient and name apart; a sign glued to the coefficient (`-3`) is accepted too.
 */
function linear(tokens: readonly string[]): { terms: Map<string, number>; constant: number } {
  const terms = new Map<string, number>();
  let constant = 0;
  let k = 0;
  while (k < tokens.length) {
    let sign = 1;
    while (tokens[k] === '+' || tokens[k] === '-') {
      if (tokens[k] === '-') sign = -sign;
      k++;
    }
    let coef = 1;
    let hadCoef = false;
    if (k < tokens.length && isNumber(tokens[k]!)) {
      coef = num(tokens[k]!);
      hadCoef = true;
      k++;
    }
    const next = tokens[k];
    if (next === undefined || next === '+' || next === '-') {
      if (!hadCoef) throw new Error('LP parse: dangling sign');
      constant += sign * coef;
      continue;
    }
    terms.set(next, (terms.get(next) ?? 0) + sign * coef);
    k++;
  }
  return { terms, constant };
}

export function parseLp(text: string): ParsedLp {
  const sections = new Map<string, string[]>();
  let current = '';
  const headers: Readonly<Record<string, string>> = {
    maximize: 'max', maximise: 'max', maximum: 'max', max: 'max',
    'subject to': 'st', 'such that': 'st', 'st': 'st', 's.t.': 'st',
    bounds: 'bounds', bound: 'bounds', general: 'int', generals: 'int', gen: 'int',
    binary: 'bin', binaries: 'bin', bin: 'bin', end: 'end',
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\\.*$/, '').trim(); // '\' starts a comment
    if (line === '') continue;
    const h = headers[line.toLowerCase()];
    if (h !== undefined) {
      current = h;
      if (h === 'end') break;
      sections.set(h, []);
      continue;
    }
    if (/^minimi[sz]e$|^min$|^minimum$/i.test(line)) throw new Error('LP parse: only Maximize models are written by lp-model.ts');
    if (current === '') throw new Error(`LP parse: text before the objective section: "${line}"`);
    sections.get(current)!.push(line);
  }
  if (!sections.has('max')) throw new Error('LP parse: no Maximize section');

  // Objective: optional "name:" label, terms and an optional constant, over any number of lines.
  const objTokens = sections.get('max')!.join(' ').split(/\s+/).filter((t) => t !== '');
  if (objTokens[0]?.endsWith(':')) objTokens.shift();
  const obj = linear(objTokens);

  // Rows: "[name:] terms sense rhs", possibly spanning lines; a row ends at its right-hand side.
  const rows: ParsedLp['rows'] = [];
  const stTokens = (sections.get('st') ?? []).join(' ').replace(/(<=|>=|=<|=>|<|>|=)/g, ' $1 ').split(/\s+/).filter((t) => t !== '');
  // (re-join split two-character senses)
  const tokens: string[] = [];
  for (const t of stTokens) {
    const prev = tokens[tokens.length - 1];
    if ((t === '=' && (prev === '<' || prev === '>')) || ((t === '<' || t === '>') && prev === '=')) tokens[tokens.length - 1] = prev + t;
    else tokens.push(t);
  }
  let start = 0;
  for (let k = 0; k < tokens.length; k++) {
    const sense = SENSES[tokens[k]!];
    if (sense === undefined) continue;
    let body = tokens.slice(start, k);
    let name = `r${rows.length}`;
    if (body[0]?.endsWith(':')) name = body.shift()!.slice(0, -1);
    else if (body[1] === ':') {
      name = body[0]!;
      body = body.slice(2);
    }
    const rhsSign = tokens[k + 1] === '-' ? -1 : 1;
    if (tokens[k + 1] === '-' || tokens[k + 1] === '+') k++;
    const rhsToken = tokens[k + 1];
    if (rhsToken === undefined) throw new Error(`LP parse: row ${name} has no right-hand side`);
    const lin = linear(body);
    rows.push({ name, terms: lin.terms, sense, rhs: rhsSign * num(rhsToken) - lin.constant });
    k++;
    start = k + 1;
  }
  if (start < tokens.length) throw new Error(`LP parse: unterminated row "${tokens.slice(start).join(' ')}"`);

  const columns: ParsedLp['columns'] = new Map();
  const col = (name: string): { lower: number; upper: number; kind: 'continuous' | 'integer' | 'binary' } => {
    let c = columns.get(name);
    if (!c) columns.set(name, (c = { lower: 0, upper: Infinity, kind: 'continuous' }));
    return c;
  };
  for (const n of obj.terms.keys()) col(n);
  for (const r of rows) for (const n of r.terms.keys()) col(n);

  // Bounds: "lo <= x <= hi", "x <= hi", "x >= lo", "lo <= x", "x = v", "x free".
  const explicitUpper = new Set<string>();
  for (const line of sections.get('bounds') ?? []) {
    const t = line.replace(/(<=|>=|=<|=>|=)/g, ' $1 ').split(/\s+/).filter((s) => s !== '');
    const joined: string[] = [];
    for (const s of t) {
      const prev = joined[joined.length - 1];
      if (s === '=' && (prev === '<' || prev === '>')) joined[joined.length - 1] = prev + s;
      else joined.push(s);
    }
    if (joined.length === 2 && joined[1]!.toLowerCase() === 'free') {
      const c = col(joined[0]!);
      c.lower = -Infinity;
      c.upper = Infinity;
      continue;
    }
    if (joined.length === 5 && SENSES[joined[1]!] === '<=' && SENSES[joined[3]!] === '<=') {
      const c = col(joined[2]!);
      c.lower = num(joined[0]!);
      c.upper = num(joined[4]!);
      explicitUpper.add(joined[2]!);
      continue;
    }
    if (joined.length === 3) {
      const s = SENSES[joined[1]!];
      const [a, , b] = joined as [string, string, string];
      const nameFirst = !isNumber(a);
      const name = nameFirst ? a : b;
      const value = num(nameFirst ? b : a);
      // "v <= x" is "x >= v".
      const eff: Sense | undefined = s === '=' || nameFirst ? s : s === '<=' ? '>=' : '<=';
      const c = col(name);
      if (eff === '=') {
        c.lower = value;
        c.upper = value;
        explicitUpper.add(name);
      } else if (eff === '<=') {
        c.upper = value;
        explicitUpper.add(name);
      } else if (eff === '>=') c.lower = value;
      else throw new Error(`LP parse: bound "${line}"`);
      continue;
    }
    throw new Error(`LP parse: unsupported bound "${line}"`);
  }
  const names = (key: string): string[] => (sections.get(key) ?? []).join(' ').split(/\s+/).filter((s) => s !== '');
  for (const n of names('int')) col(n).kind = 'integer';
  for (const n of names('bin')) {
    const c = col(n);
    c.kind = 'binary';
    if (!explicitUpper.has(n)) c.upper = 1;
    c.lower = Math.max(0, c.lower);
  }
  return { objective: obj.terms, objectiveConstant: obj.constant, rows, columns };
}

const OBJ = '__objective';

/** JSON model for javascript-lp-solver; bounds become one-column constraints, binaries use its `binaries`. */
export function toJsLpModel(lp: ParsedLp, timeoutMs: number): JsLpModel {
  const m: JsLpModel = {
    optimize: OBJ,
    opType: 'max',
    constraints: {},
    variables: {},
    ints: {},
    binaries: {},
    unrestricted: {},
    options: { timeout: timeoutMs, tolerance: 0 },
  };
  for (const [name, c] of lp.columns) {
    const v: Record<string, number> = {};
    m.variables[name] = v;
    const coef = lp.objective.get(name);
    if (coef !== undefined && coef !== 0) v[OBJ] = coef;
    if (c.kind === 'binary') m.binaries[name] = 1;
    if (c.kind === 'integer') m.ints[name] = 1;
    if (c.lower < 0) m.unrestricted[name] = 1;
    const bound = `__bound_${name}`;
    if (c.lower === c.upper) {
      m.constraints[bound] = { equal: c.lower };
    } else {
      const b: { min?: number; max?: number } = {};
      if (c.lower !== 0 && Number.isFinite(c.lower)) b.min = c.lower;
      // A binary's upper bound of 1 is implied by `binaries`.
      if (Number.isFinite(c.upper) && !(c.kind === 'binary' && c.upper === 1)) b.max = c.upper;
      if (b.min !== undefined || b.max !== undefined) m.constraints[bound] = b;
    }
    if (m.constraints[bound]) v[bound] = 1;
  }
  lp.rows.forEach((r, k) => {
    const cname = `__row${k}_${r.name}`;
    m.constraints[cname] = r.sense === '<=' ? { max: r.rhs } : r.sense === '>=' ? { min: r.rhs } : { equal: r.rhs };
    for (const [n, c] of r.terms) if (c !== 0) m.variables[n]![cname] = c;
  });
  return m;
}

// ---------------------------------------------------------------------------------------------
// Solving in a worker thread (hard wall-clock limit)

const HARD_KILL_GRACE_MS = 3000;

interface WorkerReply {
  readonly ms: number;
  readonly solution: Record<string, unknown>;
}

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const solver = require(workerData.modulePath);
const t0 = performance.now();
const solution = solver.Solve(workerData.model);
parentPort.postMessage({ ms: performance.now() - t0, solution: JSON.parse(JSON.stringify(solution)) });
`;

function solveInWorker(model: JsLpModel, hardLimitMs: number): Promise<WorkerReply | { killedAfterMs: number }> {
  const modulePath = require.resolve('javascript-lp-solver');
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { modulePath, model } });
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      void worker.terminate().then(() => resolve({ killedAfterMs: performance.now() - t0 }));
    }, hardLimitMs);
    worker.once('message', (m: WorkerReply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void worker.terminate().then(() => resolve(m));
    });
    worker.once('error', (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(e);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export type EvalStatus = 'optimal' | 'feasible-suboptimal' | 'wrong' | 'timeout';

export interface EvalRow {
  readonly group: string;
  readonly label: string;
  readonly columns: number;
  readonly integerColumns: number;
  readonly rows: number;
  readonly status: EvalStatus;
  /** Why, for anything but optimal. */
  readonly detail: string;
  /** Solve time inside the worker (ms), or the wall time until it was killed. */
  readonly ms: number;
  readonly objective: number | null;
  readonly reference: number;
  /** HiGHS's solve time for the reference optimum (ms, SolveResult.seconds). */
  readonly highsMs: number;
}

/** Objectives agree when |a − b| ≤ OBJ_TOL · max(1, |b|). */
export const OBJ_TOL = 1e-6;
const INT_TOL = 1e-6;

export async function evaluateModel(group: string, label: string, model: AdmissionModel, timeoutMs: number): Promise<EvalRow> {
  const ref = await solveHighs(model, { timeLimitSeconds: 60, mipRelGap: 0 });
  const refCheck = verify(model, ref.allocation);
  if (ref.status !== 'optimal' || !refCheck.feasible) throw new Error(`${label}: no verified HiGHS optimum (status ${ref.status})`);
  const reference = refCheck.objective;

  const lp = buildLpModel(model);
  const parsed = parseLp(lp.text);
  const json = toJsLpModel(parsed, timeoutMs);
  const base = { group, label, columns: lp.size.columns, integerColumns: lp.size.integerColumns, rows: lp.size.rows, reference, highsMs: ref.seconds * 1000 };
  const reply = await solveInWorker(json, timeoutMs + HARD_KILL_GRACE_MS);
  if ('killedAfterMs' in reply) {
    return { ...base, status: 'timeout', detail: 'no answer; worker killed (timeout not honoured inside an LP)', ms: reply.killedAfterMs, objective: null };
  }
  const sol = reply.solution;
  const timedOut = reply.ms >= timeoutMs;
  if (sol['feasible'] !== true) {
    // Every model lp-model.ts writes is feasible (the reject-all point), so "infeasible" is a wrong answer.
    return { ...base, status: timedOut ? 'timeout' : 'wrong', detail: timedOut ? 'timed out, no feasible point' : 'claims infeasible', ms: reply.ms, objective: null };
  }
  const value = (name: string): number => {
    const v = sol[name];
    return typeof v === 'number' ? v : 0;
  };
  const fractional = [...parsed.columns].filter(([n, c]) => c.kind !== 'continuous' && Math.abs(value(n) - Math.round(value(n))) > INT_TOL);
  const allocation = decodeAllocation(lp.variables, value);
  const check = verify(model, allocation);
  if (timedOut) {
    const what = fractional.length > 0 || !check.feasible ? 'no verified incumbent (returned point rejected)' : `verified incumbent ${check.objective.toFixed(4)}`;
    return { ...base, status: 'timeout', detail: `hit ${timeoutMs} ms; ${what}`, ms: reply.ms, objective: check.feasible ? check.objective : null };
  }
  if (fractional.length > 0) {
    return { ...base, status: 'wrong', detail: `${fractional.length} fractional integer column(s), e.g. ${fractional[0]![0]} = ${value(fractional[0]![0])}`, ms: reply.ms, objective: check.feasible ? check.objective : null };
  }
  if (!check.feasible) {
    return { ...base, status: 'wrong', detail: `verifier: ${check.violations[0] ?? 'infeasible'}`, ms: reply.ms, objective: null };
  }
  if (Math.abs(check.objective - reference) <= OBJ_TOL * Math.max(1, Math.abs(reference))) {
    return { ...base, status: 'optimal', detail: '', ms: reply.ms, objective: check.objective };
  }
  // The package's own objective (plus the LP constant) tells whether it believed it had found the optimum.
  const claimed = typeof sol['result'] === 'number' ? (sol['result'] as number) + parsed.objectiveConstant : NaN;
  return {
    ...base,
    status: 'feasible-suboptimal',
    detail: `verified ${check.objective.toFixed(4)} vs HiGHS ${reference.toFixed(4)} (package reported ${claimed.toFixed(4)})`,
    ms: reply.ms,
    objective: check.objective,
  };
}

export interface EvalOptions {
  readonly timeoutMs?: number;
  readonly tinySeeds?: number;
  readonly small?: number;
  readonly progress?: (row: EvalRow) => void;
}

/** The instances of docs/javascript-lp-solver.md. */
export function evalInstances(o: EvalOptions = {}): { group: string; label: string; model: AdmissionModel }[] {
  const out: { group: string; label: string; model: AdmissionModel }[] = [];
  out.push({ group: 'worked example', label: 'model.md §2.6', model: loadModelDirectory(path.join(__dirname, '..', '..', 'examples', 'worked-example')).model });
  for (let s = 1; s <= (o.tinySeeds ?? 100); s++) out.push({ group: 'tinyModel', label: `seed ${s}`, model: tinyModel(s) });
  for (let k = 0; k < (o.small ?? 20); k++) {
    const hosts = 5 + (k % 6);
    const capacity = k % 2 === 0 ? 'tight' : 'loose';
    out.push({
      group: '2×3, 5–10 hosts',
      label: `seed ${7000 + k}, ${hosts} hosts, ${capacity}`,
      model: generateModel({ seed: 7000 + k, services: 2, components: 3, hosts, capacity, rules: true }),
    });
  }
  [20, 30, 40, 50].forEach((hosts, k) => {
    const capacity = k % 2 === 0 ? 'tight' : 'loose';
    out.push({
      group: '5×5, 20–50 hosts',
      label: `seed ${9000 + k}, ${hosts} hosts, ${capacity}`,
      model: generateModel({ seed: 9000 + k, services: 5, components: 5, hosts, capacity, rules: true }),
    });
  });
  return out;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs every instance and returns the markdown report. */
export async function evaluateLpSolver(o: EvalOptions = {}): Promise<{ markdown: string; rows: EvalRow[] }> {
  const timeoutMs = o.timeoutMs ?? 2000;
  const rows: EvalRow[] = [];
  await warmUpHighs();
  const t0 = performance.now();
  try {
    for (const inst of evalInstances(o)) {
      const row = await evaluateModel(inst.group, inst.label, inst.model, timeoutMs);
      rows.push(row);
      o.progress?.(row);
    }
  } finally {
    await shutdownHighsWorker();
  }
  const wall = (performance.now() - t0) / 1000;

  const fmtMs = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 1 : 0) : '–');
  const lines: string[] = [];
  lines.push(`javascript-lp-solver 1.0.3 on our MILP (buildLpModel text → JSON), timeout ${timeoutMs} ms per model ` +
    `(package option; worker killed at +${HARD_KILL_GRACE_MS} ms), Node ${process.version}. ` +
    `optimal = verified and within ${OBJ_TOL}·max(1,|ref|) of HiGHS's verified optimum.`, '');
  lines.push('| group | models | columns (int) | optimal | feasible-suboptimal | wrong | timeout | median ms | max ms | HiGHS median ms |');
  lines.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  const groups = [...new Set(rows.map((r) => r.group))];
  for (const g of groups) {
    const rs = rows.filter((r) => r.group === g);
    const count = (s: EvalStatus): number => rs.filter((r) => r.status === s).length;
    const cols = rs.map((r) => r.columns);
    const ints = rs.map((r) => r.integerColumns);
    const range = (xs: number[]): string => (Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}–${Math.max(...xs)}`);
    const ms = rs.map((r) => r.ms);
    lines.push(`| ${g} | ${rs.length} | ${range(cols)} (${range(ints)}) | ${count('optimal')} | ${count('feasible-suboptimal')} | ${count('wrong')} | ${count('timeout')} | ${fmtMs(median(ms))} | ${fmtMs(Math.max(...ms))} | ${fmtMs(median(rs.map((r) => r.highsMs)))} |`);
  }
  const bad = rows.filter((r) => r.status !== 'optimal');
  lines.push('');
  if (bad.length > 0) {
    lines.push('Not optimal:', '', '| group | instance | columns (int) | status | ms | detail |', '|---|---|---|---|---:|---|');
    for (const r of bad) lines.push(`| ${r.group} | ${r.label} | ${r.columns} (${r.integerColumns}) | ${r.status} | ${fmtMs(r.ms)} | ${r.detail} |`);
    lines.push('');
  }
  // Size envelope: the largest model solved to optimality vs the smallest that was not.
  const okCols = rows.filter((r) => r.status === 'optimal').map((r) => r.integerColumns);
  const badCols = bad.map((r) => r.integerColumns);
  lines.push(`Largest model solved to optimality: ${okCols.length ? Math.max(...okCols) : '–'} integer columns; ` +
    `smallest model not solved to optimality: ${badCols.length ? Math.min(...badCols) : '–'} integer columns. ` +
    `Total wall time ${wall.toFixed(1)} s (HiGHS reference solves included).`);
  return { markdown: lines.join('\n'), rows };
}

if (require.main === module) {
  const quiet = process.argv.includes('--quiet');
  evaluateLpSolver({
    progress: (r) => {
      if (!quiet) process.stderr.write(`${r.group} | ${r.label} | ${r.status} | ${r.ms.toFixed(1)} ms ${r.detail}\n`);
    },
  })
    .then(({ markdown }) => {
      process.stdout.write(markdown + '\n');
    })
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    });
}
