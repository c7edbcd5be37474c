#!/usr/bin/env node
/**
 * The `eac` command line: admission of an OPTIMIS model directory. Exit 0 when solved (rejections are
 * answers), 2 with a one-line message on bad input, 1 on an internal error.
 */
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { admit, SOLVER_CHOICES, type AdmissionResult, type SolverChoice } from '../admission-controller/admit';
import { writeResultCsv } from '../admission-controller/result-csv';
import { ROLES, type Role } from '../config/config';
import { createToken } from '../gateway/auth';
import { AdmissionError, isAdmissionError } from '../model/errors';
import { loadModelDirectory } from '../trec-analyzer/model-directory';

const EXIT_BAD_INPUT = 2;
const EXIT_INTERNAL = 1;

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got '${value}'`);
  return n;
}

interface SolveCommandOptions {
  solver: SolverChoice;
  timeLimit?: number;
  format: 'json' | 'result-csv';
  out?: string;
}

function jsonReport(result: AdmissionResult, warnings: readonly string[]): string {
  return (
    JSON.stringify(
      {
        objective: result.objective,
        solver: result.solver,
        services: result.services,
        warnings,
      },
      null,
      2,
    ) + '\n'
  );
}

async function solveCommand(dir: string, opts: SolveCommandOptions): Promise<void> {
  const { model, warnings } = loadModelDirectory(dir);
  const result = await admit(model, { solver: opts.solver, ...(opts.timeLimit !== undefined ? { timeLimitSeconds: opts.timeLimit } : {}) });
  const text = opts.format === 'json' ? jsonReport(result, warnings) : writeResultCsv(model, result.allocation, result.verification);
  if (opts.out) writeFileSync(opts.out, text);
  else process.stdout.write(text);
}

function program(): Command {
  const cmd = new Command('eac')
    .description('Optimization-backed admission control (OPTIMIS-compatible)')
    .version(require('../../package.json').version as string)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.split('\n')[0] + '\n') });
  cmd
    .command('solve')
    .description('admit the services of an OPTIMIS CSV model directory')
    .argument('<model-dir>', 'OPTIMIS model directory (GAMS input format)')
    .addOption(new Option('--solver <name>', 'solver').choices(SOLVER_CHOICES as string[]).default('greedy'))
    .addOption(new Option('--time-limit <seconds>', 'time budget of the solver').argParser(positiveSeconds))
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'result-csv']).default('json'))
    .option('--out <file>', 'write the output to a file instead of standard output')
    .exitOverride()
    .action(solveCommand);
  const token = cmd.command('token').description('bearer tokens for the service (the config stores only their SHA-256)');
  token
    .command('create')
    .description('print a new random token and the line to add to the config file\'s "tokens"')
    .requiredOption('--name <name>', "the principal's name (owner of its admissions)")
    .addOption(new Option('--role <role>', 'what the token may do').choices(ROLES as string[]).makeOptionMandatory())
    .option('--json', 'print {"token", "entry"} as one JSON object')
    .exitOverride()
    .action((opts: { name: string; role: Role; json?: boolean }) => {
      if (!/^[A-Za-z0-9._:@-]{1,64}$/.test(opts.name)) {
        throw new AdmissionError('AC_ERR_BAD_ARGUMENT', `--name: expected letters, digits, . _ - : @ (at most 64), got '${opts.name}'`);
      }
      const { token: secret, entry } = createToken(opts.name, opts.role);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ token: secret, entry })}\n`);
        return;
      }
      process.stdout.write(
        `token (give it to ${opts.name}; it is shown only now):\n${secret}\n\nadd to "tokens" in the AC_CONFIG file:\n${JSON.stringify(entry)}\n`,
      );
    });
  return cmd;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its one-line message; help and version are not errors.
      return error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : EXIT_BAD_INPUT;
    }
    if (isAdmissionError(error)) {
      process.stderr.write(`eac: ${error.message}\n`);
      return error.status < 500 || error.code === 'AC_ERR_SOLVER_UNAVAILABLE' ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`eac: internal error: ${message}\n`);
    return EXIT_INTERNAL;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});

