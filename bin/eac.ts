#!/usr/bin/env node
/**
 * The `eac` command line: admission of an OPTIMIS model directory, bearer tokens, the ledger's schema (`eac db status`,
 * `eac db migrate`). Exit 0 when done (rejections are answers), 2 with a one-line message on bad input or
 * configuration (a database that cannot be reached, a schema newer than this release), 1 on an internal error.
 */
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { admit, SOLVER_CHOICES, type AdmissionResult, type SolverChoice } from '../admission-controller/admit';
import { writeResultCsv } from '../admission-controller/result-csv';
import { loadConfig, ROLES, type AppConfig, type Role } from '../config/config';
import { ledgerMigrationStatus, migrateLedger, type LedgerMigrationStatus } from '../ledger';
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
  const db = cmd
    .command('db')
    .description("the ledger's schema: SQLite in AC_DATA_DIR, or PostgreSQL when AC_DATABASE_URL is set (same configuration as npm start)");
  db.command('status')
    .description('print the schema version, the migrations applied and those pending (reads only)')
    .option('--json', 'print the status as one JSON object')
    .exitOverride()
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      printStatus(await ledgerMigrationStatus(ledgerLocation(config)), opts.json === true);
    });
  db.command('migrate')
    .description('apply the pending migrations (under the migration lock; refuses a schema newer than this release), then print the status')
    .option('--json', 'print the status as one JSON object')
    .exitOverride()
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const before = await ledgerMigrationStatus(ledgerLocation(config));
      const after = await migrateLedger({ ...ledgerLocation(config), defaultWeights: config.defaultWeights, defaultConstraints: config.defaultConstraints });
      const applied = after.applied.filter((a) => !before.applied.some((b) => b.version === a.version));
      if (!opts.json) process.stdout.write(applied.length > 0 ? `applied ${applied.map((a) => `${a.version} (${a.name})`).join(', ')}\n` : 'nothing to apply: the schema is up to date\n');
      printStatus(after, opts.json === true);
    });
  return cmd;
}

function ledgerLocation(config: AppConfig): { dataDir: string; databaseUrl?: string } {
  return { dataDir: config.dataDir, ...(config.databaseUrl !== undefined ? { databaseUrl: config.databaseUrl } : {}) };
}

function printStatus(s: LedgerMigrationStatus, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return;
  }
  const lines = [
    `ledger: ${s.kind} ${s.location}${s.exists ? '' : ' (no ledger schema yet)'}`,
    `schema version: ${s.current} (this release knows up to ${s.newestKnown})`,
    ...s.applied.map((a) => `  applied ${a.version} ${a.name}${a.appliedAt !== null ? ` at ${new Date(a.appliedAt).toISOString()}` : ''}`),
    ...s.pending.map((p) => `  pending ${p.version} ${p.name}`),
  ];
  if (s.current > s.newestKnown) lines.push(`the database was written by a newer release (schema ${s.current}): this release refuses to start on it`);
  else if (s.pending.length > 0) lines.push(`${s.pending.length} pending: run 'eac db migrate' (npm start applies them too)`);
  else lines.push('up to date');
  process.stdout.write(`${lines.join('\n')}\n`);
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
      // AC_ERR_CONFIG: the configuration (or the database it names) is what must be fixed, as for npm start.
      return error.status < 500 || error.code === 'AC_ERR_SOLVER_UNAVAILABLE' || error.code === 'AC_ERR_CONFIG' ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`eac: internal error: ${message}\n`);
    return EXIT_INTERNAL;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});

