/**
 * CLI: writes one generated instance as an OPTIMIS CSV model directory (for GAMS / the Python heuristic / us).
 * Argument parsing and reporting only; generation is bench/generator.ts, the file format trec-analyzer's.
 */
import { Command, InvalidArgumentError } from 'commander';
import { isAdmissionError } from '../model/errors';
import { writeModelDirectory } from '../trec-analyzer/model-directory';
import { capacityRatio, generateModel, totalFreeCpus, totalMaxDemand, type GeneratorOptions } from './generator';

function integer(min?: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || (min !== undefined && n < min)) {
      throw new InvalidArgumentError(`expected ${min === undefined ? 'an integer' : `an integer ≥ ${min}`}, got '${value}'`);
    }
    return n;
  };
}

function share(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`expected a number in [0, 1], got '${value}'`);
  return n;
}

interface CliOptions {
  seed: number;
  services: number;
  components: number;
  hosts: number;
  tight?: boolean;
  rules?: boolean;
  variableSizes?: boolean;
  memory?: boolean;
  federationForbiddenShare?: number;
  trecViolationShare?: number;
  costBoundShare?: number;
  out: string;
}

export function buildCommand(): Command {
  return new Command('generate')
    .description('Write a seeded random OPTIMIS-like instance as an OPTIMIS CSV model directory.')
    .requiredOption('--seed <n>', 'PRNG seed (integer)', integer())
    .requiredOption('--services <n>', 'number of services', integer(0))
    .requiredOption('--components <n>', 'components per service (maximum with --variable-sizes)', integer(1))
    .requiredOption('--hosts <n>', 'number of hosts', integer(0))
    .option('--tight', 'capacity-bound: free CPUs ≈ 40–70 % of the maximum demand (default: loose, ≥ 3×)')
    .option('--rules', 'component (anti-)affinity levels and service rules')
    .option('--variable-sizes', 'services with different component counts')
    .option('--memory', 'memory as a second capacity (extension)')
    .option('--federation-forbidden-share <x>', 'share of services with federation forbidden (default 0.2)', share)
    .option('--trec-violation-share <x>', 'share of services violating a TREC bound (default 0.1)', share)
    .option('--cost-bound-share <x>', 'share of services with a low cost bound (default 0)', share)
    .requiredOption('--out <dir>', 'model directory to write');
}

export function main(argv: readonly string[] = process.argv): void {
  const command = buildCommand();
  command.parse(argv as string[]);
  const o = command.opts<CliOptions>();
  const options: GeneratorOptions = {
    seed: o.seed,
    services: o.services,
    components: o.components,
    hosts: o.hosts,
    capacity: o.tight ? 'tight' : 'loose',
    rules: o.rules === true,
    variableSizes: o.variableSizes === true,
    memory: o.memory === true,
    federationForbiddenShare: o.federationForbiddenShare,
    trecViolationShare: o.trecViolationShare,
    costBoundShare: o.costBoundShare,
  };
  try {
    const model = generateModel(options);
    writeModelDirectory(model, o.out);
    const vms = model.services.reduce((sum, s) => sum + s.components.reduce((n, c) => n + c.maxVms, 0), 0);
    process.stdout.write(
      `wrote ${o.out}: ${model.services.length} services, ${vms} VMs at most, ${model.hosts.length} hosts, ` +
        `free CPUs ${totalFreeCpus(model)} / maximum demand ${totalMaxDemand(model)} ` +
        `(ratio ${capacityRatio(model).toFixed(2)}, ${options.capacity})\n`,
    );
  } catch (error) {
    // Known errors get their stable code; anything else is a bug and keeps its stack.
    if (isAdmissionError(error)) {
      process.stderr.write(`${error.code}: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}

if (require.main === module) main();
