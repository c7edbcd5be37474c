/**
 * `npm run bench`: runs the benchmark sections and writes BENCHMARKS.md (command, date, machine, sections).
 * Owns only the report frame; each section module (heuristic-bench.ts, later others) measures and renders itself.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { chargingSection } from './charging-bench';
import { componentSection } from './component-bench';
import { heuristicSection } from './heuristic-bench';
import { httpSection } from './http-bench';
import { ledgerSection } from './ledger-bench';
import { postgresSection } from './postgres-bench';
import { benchProgress, durationMarker, previousDurations } from './progress';
import { exactSection } from './quality-bench';

/** What every section gets: the shared options of one bench invocation. */
export interface BenchContext {
  /** Seed of every generated instance (same seed on every size, so sizes share their services). */
  readonly seed: number;
  /** Overrides the per-size number of timed runs (sections choose their own default). */
  readonly runs?: number;
  /** Only these BENCH_SIZES ids (all when undefined). */
  readonly sizes?: readonly string[];
  /** Budget handed to solvers as SolveOptions.timeLimitSeconds; undefined: each solver's own default. */
  readonly timeLimitSeconds?: number;
  /** Progress to stderr; BENCHMARKS.md gets only the sections' markdown. */
  log(message: string): void;
}

export interface SectionResult {
  /** Markdown starting with a `## ` heading. */
  readonly markdown: string;
  /** false when the section found a bug (an infeasible result, a crash): the bench then exits non-zero. */
  readonly ok: boolean;
  /** One line per problem, echoed at the top of BENCHMARKS.md and on stderr. */
  readonly problems: readonly string[];
}

export interface BenchSection {
  /** Short id for `--sections`. */
  readonly id: string;
  readonly title: string;
  /** The `--sizes` ids this section understands (it is given only those); absent: the section has no sizes. */
  readonly sizeIds?: readonly string[];
  run(context: BenchContext): Promise<SectionResult>;
}

/** The sections in report order. Other bench modules add themselves here. */
export const SECTIONS: readonly BenchSection[] = [heuristicSection, componentSection, exactSection, ledgerSection, chargingSection, httpSection, postgresSection];

// ---------------------------------------------------------------------------------------------
// Machine facts (exported for sections that want to print or store them).

export interface MachineFacts {
  readonly cpuModel: string;
  /** Logical CPUs as Node sees them (os.availableParallelism, cgroup-aware). */
  readonly cores: number;
  readonly totalMemoryGb: number;
  readonly node: string;
  readonly os: string;
  readonly arch: string;
}

function osDescription(): string {
  // /etc/os-release names the distribution; os.type/release alone only name the kernel.
  let distro = '';
  try {
    const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (match) distro = `${match[1]}, `;
  } catch {
    // not Linux, or no os-release: the kernel line is enough
  }
  return `${distro}${os.type()} ${os.release()}`;
}

export function machineFacts(): MachineFacts {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() || 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    totalMemoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: osDescription(),
    arch: os.arch(),
  };
}

export function renderMachineFacts(facts: MachineFacts = machineFacts()): string {
  return [
    `- CPU: ${facts.cpuModel} (${facts.cores} logical cores)`,
    `- Memory: ${facts.totalMemoryGb} GB`,
    `- Node: ${facts.node} (${facts.arch})`,
    `- OS: ${facts.os}`,
  ].join('\n');
}

/** Load average line; a busy machine (other builds, tests) makes every timing below noisy, so say so. */
export function renderLoad(load: readonly number[] = os.loadavg(), cores: number = machineFacts().cores): string {
  const [one = 0, five = 0, fifteen = 0] = load;
  const busy = one > cores * 0.5;
  return (
    `- Load average at start: ${one.toFixed(2)}, ${five.toFixed(2)}, ${fifteen.toFixed(2)} (1, 5, 15 min)` +
    (busy ? ' — **the machine was busy: timings are noisy, rerun on an idle machine for reference figures**' : '')
  );
}

// ---------------------------------------------------------------------------------------------
// Report frame.

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command as the user typed it (npm run bench -- …, or node dist/bench/run.js …). */
export function invocation(args: readonly string[] = process.argv.slice(2)): string {
  const tail = args.map(shellQuote).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return tail ? `npm run bench -- ${tail}` : 'npm run bench';
  const script = path.relative(process.cwd(), process.argv[1] ?? 'dist/bench/run.js') || 'dist/bench/run.js';
  return `node ${script}${tail ? ` ${tail}` : ''}`;
}

interface RunOptions {
  seed: number;
  runs?: number;
  sizes?: string[];
  sections?: string[];
  timeLimit?: number;
  out: string;
}

function integerArg(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${value}'`);
  return n;
}

function positiveArg(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  return n;
}

function listArg(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Runs the selected sections and writes the report; resolves to the process exit code. */
export async function runBench(argv: readonly string[] = process.argv): Promise<number> {
  const command = new Command('bench')
    .description('Run the benchmarks and write BENCHMARKS.md.')
    .option('--seed <n>', 'seed of the generated instances', integerArg, 1)
    .option('--runs <n>', 'timed runs per size (default: more for small sizes)', (v) => Math.max(1, integerArg(v)))
    .option('--sizes <ids>', 'comma-separated size ids of the sections (an unknown id lists them), e.g. 5x5-100-loose,1000', listArg)
    .option('--sections <ids>', `comma-separated sections (${SECTIONS.map((s) => s.id).join(', ')})`, listArg)
    .option('--time-limit <s>', "SolveOptions.timeLimitSeconds handed to solvers (default: each solver's own)", positiveArg)
    .option('--out <file>', 'report file', path.resolve(__dirname, '..', '..', 'BENCHMARKS.md'));
  command.parse(argv as string[]);
  const o = command.opts<RunOptions>();

  const unknown = (o.sections ?? []).filter((id) => !SECTIONS.some((s) => s.id === id));
  if (unknown.length > 0) {
    process.stderr.write(`unknown section(s): ${unknown.join(', ')}\n`);
    return 2;
  }
  const named = o.sections ? SECTIONS.filter((s) => o.sections!.includes(s.id)) : SECTIONS;
  // Checked before anything runs: a typo must not overwrite BENCHMARKS.md with a crash report.
  const unknownSizes = (o.sizes ?? []).filter((id) => !named.some((s) => s.sizeIds?.includes(id)));
  if (unknownSizes.length > 0) {
    const known = named.filter((s) => s.sizeIds).map((s) => `${s.id}: ${s.sizeIds!.join(', ')}`);
    process.stderr.write(`unknown size(s): ${unknownSizes.join(', ')}\nknown sizes per section:\n  ${known.join('\n  ')}\n`);
    return 2;
  }
  // --sizes without --sections runs only the sections that know one of those sizes.
  const selected = o.sizes && !o.sections ? named.filter((s) => s.sizeIds?.some((id) => o.sizes!.includes(id))) : named;
  let previousReport: string | undefined;
  try {
    previousReport = readFileSync(o.out, 'utf8');
  } catch {
    // no earlier report: every section's duration is unknown
  }
  const progress = benchProgress(selected, previousDurations(previousReport));
  const context: BenchContext = {
    seed: o.seed,
    runs: o.runs,
    sizes: o.sizes,
    timeLimitSeconds: o.timeLimit,
    log: (message) => progress.log(message),
  };

  const started = new Date();
  const loadAtStart = os.loadavg();
  const command_ = invocation(argv.slice(2));
  const results: SectionResult[] = [];
  for (const [index, section] of selected.entries()) {
    progress.startSection(index);
    const sectionStarted = Date.now();
    try {
      // A section named in --sections that knows none of the --sizes runs all of its own.
      const mine = o.sizes && section.sizeIds ? o.sizes.filter((id) => section.sizeIds!.includes(id)) : [];
      const sizes = mine.length > 0 ? mine : undefined;
      const result = await section.run({ ...context, sizes });
      // The marker lets the next run estimate its remaining time (bench/progress.ts).
      results.push({ ...result, markdown: `${result.markdown.trimEnd()}\n\n${durationMarker(section.id, (Date.now() - sectionStarted) / 1000)}\n` });
    } catch (error) {
      // A crashing section must not lose the others' figures; it is reported as a failure instead.
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      results.push({
        markdown: `## ${section.title}\n\n**The section crashed:**\n\n\`\`\`\n${message}\n\`\`\`\n`,
        ok: false,
        problems: [`section ${section.id} crashed: ${error instanceof Error ? error.message : String(error)}`],
      });
    }
  }
  progress.finish();
  const finished = new Date();

  const problems = results.flatMap((r) => r.problems);
  const header = [
    '# Benchmarks',
    '',
    `Generated by \`${command_}\` on ${started.toISOString()} ` +
      `(took ${Math.round((finished.getTime() - started.getTime()) / 1000)} s).`,
    o.sections || o.sizes || o.runs
      ? '\n**Partial run** (sections, sizes or run counts were restricted on the command line).'
      : '',
    '',
    '## Machine',
    '',
    renderMachineFacts(),
    renderLoad(loadAtStart),
    '',
    problems.length > 0
      ? `> **⚠ PROBLEMS — bugs found or targets missed:**\n${problems.map((p) => `> - ${p}`).join('\n')}\n`
      : '',
  ]
    .filter((line, k, all) => !(line === '' && all[k - 1] === ''))
    .join('\n');
  const body = results.map((r) => r.markdown.trimEnd()).join('\n\n');
  writeFileSync(o.out, `${header.trimEnd()}\n\n${body}\n`);
  context.log(`wrote ${o.out}`);
  for (const p of problems) process.stderr.write(`[bench] PROBLEM: ${p}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) {
  runBench().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
