#!/usr/bin/env node
/**
 * The `eac` command line: admission of OPTIMIS model directories offline (`eac solve`), tokens (`eac token create`),
 * the ledger's schema (`eac db status`, `eac db migrate`) and the service commands against a running service
 * (cli/commands.ts). Exit codes: 0 ok (rejections are answers), 1 internal error, 2 bad input, usage or configuration
 * (a database that cannot be reached, a schema newer than this release), 3 refused by the server (4xx), 4 server
 * failure (5xx) or unreachable.
 */
import { writeFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { admit, SOLVER_CHOICES, type AdmissionResult, type SolverChoice } from '../admission-controller/admit';
import { writeResultCsv } from '../admission-controller/result-csv';
import { loadConfig, ROLES, type AppConfig, type Role } from '../config/config';
import { ledgerMigrationStatus, migrateLedger, type LedgerMigrationStatus } from '../ledger';
import { createToken } from '../gateway/auth';
import { AdmissionError, isAdmissionError } from '../model/errors';
import { loadModelDirectory } from '../trec-analyzer/model-directory';
import { CliError, EXIT } from '../cli/client';
import { addServiceCommands, DEFAULT_URL } from '../cli/commands';

const EXIT_BAD_INPUT = EXIT.USAGE;
const EXIT_INTERNAL = EXIT.INTERNAL;

const EXIT_CODES_HELP = `
Exit codes:
  0  ok (a rejection is an answer, not an error)
  1  internal error
  2  bad input or usage (unknown option, unreadable file, bad model directory, bad date)
  3  refused by the server (4xx): 401 no or unknown token, 403 role or ownership, 404, 409, 400 …
  4  the server failed (5xx) or could not be reached

Service commands talk to --url (or EAC_URL, default ${DEFAULT_URL}) with --token (or EAC_TOKEN);
the token is sent as a bearer token and never printed.`;

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

/** The JSON of one directory among several: one line, its directory named (or its error). */
function jsonLine(dir: string, result: AdmissionResult, warnings: readonly string[]): string {
  return `${JSON.stringify({ dir, objective: result.objective, solver: result.solver, services: result.services, warnings })}\n`;
}

/**
 * One directory: as before (pretty JSON or result.csv). Several: one JSON line each, in order, solved in this one
 * process (the solver's workers stay warm), with a progress bar on stderr when it is a terminal; a directory that
 * cannot be read is a line with its error, the others are still solved, and the exit code is 2.
 */
async function solveCommand(dirs: string[], opts: SolveCommandOptions): Promise<void> {
  const solveOptions = { solver: opts.solver, ...(opts.timeLimit !== undefined ? { timeLimitSeconds: opts.timeLimit } : {}) };
  if (dirs.length === 1) {
    const { model, warnings } = loadModelDirectory(dirs[0]!);
    const result = await admit(model, solveOptions);
    const text = opts.format === 'json' ? jsonReport(result, warnings) : writeResultCsv(model, result.allocation, result.verification);
    if (opts.out) writeFileSync(opts.out, text);
    else process.stdout.write(text);
    return;
  }
  if (opts.format !== 'json') throw new AdmissionError('AC_ERR_BAD_ARGUMENT', `--format ${opts.format} takes one model directory; got ${dirs.length} (use --format json: one line each)`);
  const bar = process.stderr.isTTY ? new SingleBar({ stream: process.stderr, format: 'solving [{bar}] {value}/{total} {dir} | {duration_formatted} elapsed, ETA {eta_formatted}', hideCursor: true, etaBuffer: 20 }) : undefined;
  bar?.start(dirs.length, 0, { dir: '' });
  const lines: string[] = [];
  let failed = 0;
  const emit = (line: string): void => {
    if (opts.out) lines.push(line);
    else if (bar) {
      // Keep the bar on its own line: clear it, print, redraw.
      process.stderr.write('\r\x1b[K');
      process.stdout.write(line);
      bar.render();
    } else process.stdout.write(line);
  };
  try {
    for (const dir of dirs) {
      bar?.update({ dir });
      try {
        const { model, warnings } = loadModelDirectory(dir);
        emit(jsonLine(dir, await admit(model, solveOptions), warnings));
      } catch (error) {
        if (!isAdmissionError(error) || error.status >= 500) throw error;
        failed++;
        emit(`${JSON.stringify({ dir, error: { code: error.code, message: error.message } })}\n`);
      }
      bar?.increment();
    }
  } finally {
    bar?.stop();
  }
  if (opts.out) writeFileSync(opts.out, lines.join(''));
  if (failed > 0) throw new AdmissionError('AC_ERR_BAD_ARGUMENT', `${failed} of ${dirs.length} model directories could not be solved (see their lines)`);
}

function program(): Command {
  const cmd = new Command('eac')
    .description('Optimization-backed admission control (OPTIMIS-compatible)')
    .version(require('../../package.json').version as string)
    .option('--url <url>', `the service (default EAC_URL, else ${DEFAULT_URL})`)
    .option('--token <token>', 'bearer token (default EAC_TOKEN); never printed')
    .option('--json', 'print JSON for scripts (service commands: the server’s answer as is, one object per line for events tail; token create: {"token", "entry"})')
    .addHelpText('after', EXIT_CODES_HELP)
    // Every subcommand's help lists --url, --token and --json too (subcommands inherit this setting).
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.split('\n')[0] + '\n') });
  cmd
    .command('solve')
    .description('admit the services of OPTIMIS CSV model directories (several: one JSON line each, one warm solver)')
    .argument('<model-dir...>', 'OPTIMIS model directories (GAMS input format)')
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
    .exitOverride()
    .action((_o: unknown, command: Command) => {
      // --json is the program's global option.
      const opts = command.optsWithGlobals<{ name: string; role: Role; json?: boolean }>();
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
  // --json is the program's global option (it comes before or after the subcommand): read it with the globals.
  db.command('status')
    .description('print the schema version, the migrations applied and those pending (reads only); --json: one JSON object')
    .exitOverride()
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ json?: boolean }>();
      const config = loadConfig();
      printStatus(await ledgerMigrationStatus(ledgerLocation(config)), opts.json === true);
    });
  db.command('migrate')
    .description('apply the pending migrations (under the migration lock; refuses a schema newer than this release), then print the status; --json: one JSON object')
    .exitOverride()
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ json?: boolean }>();
      const config = loadConfig();
      const before = await ledgerMigrationStatus(ledgerLocation(config));
      const after = await migrateLedger({ ...ledgerLocation(config), defaultWeights: config.defaultWeights, defaultConstraints: config.defaultConstraints });
      const applied = after.applied.filter((a) => !before.applied.some((b) => b.version === a.version));
      if (!opts.json) process.stdout.write(applied.length > 0 ? `applied ${applied.map((a) => `${a.version} (${a.name})`).join(', ')}\n` : 'nothing to apply: the schema is up to date\n');
      printStatus(after, opts.json === true);
    });
  addServiceCommands(cmd);
  // Every subcommand: its errors exit through main() (exit codes above), its help shows them too.
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(cmd)) c.exitOverride().configureOutput({ outputError: (text, write) => write(text.split('\n')[0] + '\n') });
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
    if (error instanceof CliError) {
      process.stderr.write(`eac: ${error.message}\n`);
      return error.exitCode;
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

