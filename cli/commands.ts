/**
 * The service commands of `eac` (against a running service: --url / EAC_URL, --token / EAC_TOKEN): admit, admissions
 * (with their deployments: VMs in OpenNebula when AC_DEPLOY=opennebula), hosts, capacity, policy, constraints, windows,
 * events tail, decisions, audit. Human tables by default, --json for scripts (the server's answer as is, or one JSON
 * object per line for streams).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CliError, EacClient, EXIT } from './client';
import { fields, table, when, type Cell } from './format';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

type Json = Record<string, unknown>;
type Out = (text: string) => void;

const out: Out = (text) => {
  process.stdout.write(text);
};

function contextOf(cmd: Command): { client: EacClient; json: boolean; opts: Json } {
  const opts = cmd.optsWithGlobals<GlobalOptions & Json>();
  const url = opts.url ?? process.env.EAC_URL ?? DEFAULT_URL;
  const token = opts.token ?? process.env.EAC_TOKEN;
  return { client: new EacClient({ url, token: token === '' ? undefined : token }), json: opts.json === true, opts };
}

const printJson = (value: unknown): void => out(`${JSON.stringify(value, null, 2)}\n`);

/** RFC 3339, `now`, or relative to now: `+30m`, `+2h`, `+1d`, `-1h` (s, m, h, d). */
export function instantArg(value: string): string {
  if (value === 'now') return new Date().toISOString();
  const rel = /^([+-])(\d+(?:\.\d+)?)([smhd])$/.exec(value);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[3] as 's' | 'm' | 'h' | 'd'];
    return new Date(Date.now() + (rel[1] === '-' ? -1 : 1) * Number(rel[2]) * unit).toISOString();
  }
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/.test(value) || !Number.isFinite(Date.parse(value.replace(' ', 'T')))) {
    throw new InvalidArgumentError(`expected an RFC 3339 date-time (2030-06-01T12:00:00Z), now, or +30m / +2h / +1d; got '${value}'`);
  }
  const normal = value.replace(' ', 'T');
  return /:\d{2}:\d{2}/.test(normal) ? normal : normal.replace(/(T\d{2}:\d{2})/, '$1:00');
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number ≥ 1, got '${value}'`);
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number ≥ 0, got '${value}'`);
  return n;
}

function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return n;
}

function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, EXIT.USAGE);
  }
}

const reasonCodes = (s: Json): string[] => [...new Set(((s.components as Json[] | undefined) ?? []).flatMap((c) => ((c.reasons as Json[] | undefined) ?? []).map((r) => String(r.code))))];

// ---------------------------------------------------------------------------------------------
// admit, admissions

function admissionAnswerText(answer: Json): string {
  const services = (answer.services as Json[]) ?? [];
  let text = table(services, [
    { header: 'SERVICE', value: (s) => s.serviceId as string },
    { header: 'DECISION', value: (s) => s.decision as string },
    { header: 'ADMISSION', value: (s) => (s.admissionId as string | null) ?? (answer.dryRun ? '(dry-run)' : '-') },
    { header: 'STATUS', value: (s) => s.status as string | null },
    { header: 'HOLD EXPIRES', value: (s) => when(s.holdExpiresAt) },
    { header: 'LOCAL', value: (s) => s.localVms as number },
    { header: 'FEDERATED', value: (s) => s.federatedVms as number },
    { header: 'MAX', value: (s) => s.maxVms as number },
    { header: 'REASONS', value: (s) => reasonCodes(s).join(',') || '-' },
  ]);
  for (const s of services) {
    const reasons = ((s.components as Json[] | undefined) ?? []).flatMap((c) => ((c.reasons as Json[] | undefined) ?? []).map((r) => `  ${s.serviceId}/${c.id}: ${r.message as string} [${r.code as string}]`));
    if (reasons.length > 0) text += `${reasons.join('\n')}\n`;
    const fit = s.earliestFit as Json | undefined;
    if (fit && fit.start) text += `  ${s.serviceId}: earliest fit ${when(fit.start)}\n`;
  }
  for (const e of (answer.errors as Json[] | undefined) ?? []) {
    const err = e.error as Json;
    text += `manifest ${e.manifestIndex as number}: ${err.code as string}: ${err.message as string}\n`;
  }
  text += `window ${when((answer.window as Json).start)} → ${when((answer.window as Json).end, 'open')}; solver ${(answer.solver as Json).name as string} (${(answer.solver as Json).status as string})${answer.dryRun ? '; dry-run: nothing recorded' : ''}\n`;
  return text;
}

const admissionColumns = [
  { header: 'ID', value: (a: Json) => a.id as string },
  { header: 'OWNER', value: (a: Json) => a.owner as string },
  { header: 'SERVICE', value: (a: Json) => a.serviceId as string },
  { header: 'DECISION', value: (a: Json) => a.decision as string },
  { header: 'STATUS', value: (a: Json) => a.status as string },
  { header: 'START', value: (a: Json) => when(a.start) },
  { header: 'END', value: (a: Json) => when(a.end, 'open') },
  { header: 'HOLD EXPIRES', value: (a: Json) => (a.status === 'held' ? when(a.holdExpiresAt) : '-') },
  { header: 'CPUS', value: (a: Json) => ((a.hosts as Json[] | undefined) ?? []).reduce((n, h) => n + (h.cpus as number), 0), right: true },
];

function admissionText(a: Json): string {
  const response = (a.response as Json | undefined) ?? {};
  const service = ((response.services as Json[] | undefined) ?? [])[0] ?? (response as Json);
  let text = fields([
    ['id', a.id as string],
    ['owner', a.owner as string],
    ['service', a.serviceId as string],
    ['decision', a.decision as string],
    ['status', a.status as string],
    ['window', `${when(a.start)} → ${when(a.end, 'open')}`],
    ['hold expires', when(a.holdExpiresAt)],
    ['created', when(a.createdAt)],
    ...(a.confirmedAt ? ([['confirmed', when(a.confirmedAt)]] as [string, Cell][]) : []),
    ...(a.closedAt ? ([['closed', when(a.closedAt)]] as [string, Cell][]) : []),
    ...(a.replaces ? ([['replaces', a.replaces as string]] as [string, Cell][]) : []),
    ['generation', a.generation as number],
    ...(service.summary ? ([['summary', service.summary as string]] as [string, Cell][]) : []),
  ]);
  const hosts = (a.hosts as Json[] | undefined) ?? [];
  if (hosts.length > 0) {
    text += `\n${table(hosts, [
      { header: 'HOST', value: (h) => h.hostId as string },
      { header: 'CPUS', value: (h) => h.cpus as number },
      { header: 'MEMORY MB', value: (h) => h.memoryMb as number },
    ])}`;
  }
  return text;
}

/**
 * A deployment (GET …/deployment, or the `deployment` of an admission): status, attempts, the last error, progress,
 * then one row per VM slot with its OpenNebula VM id once it has one (and a slot's own error below the table).
 */
function deploymentText(d: Json, admissionId?: string): string {
  const p = (d.progress as Json | undefined) ?? {};
  let text = fields([
    ...(admissionId !== undefined ? ([['admission', admissionId]] as [string, Cell][]) : []),
    ['deployment', d.status as string],
    ['target', d.target as string],
    ['attempts', d.attempts as number],
    ...(d.error !== undefined ? ([['error', d.error as string]] as [string, Cell][]) : []),
    ['progress', progressText(p)],
    ['not before', when(d.notBefore)],
    ['updated', when(d.updatedAt)],
  ]);
  const vms = (d.vms as Json[] | undefined) ?? [];
  if (vms.length > 0) {
    text += `\n${table(vms, [
      { header: 'SLOT', value: (v) => v.slot as string },
      { header: 'COMPONENT', value: (v) => v.componentId as string },
      { header: 'HOST', value: (v) => v.hostId as string },
      { header: 'STATE', value: (v) => v.state as string },
      { header: 'VM ID', value: (v) => v.vmId as number | undefined, right: true },
    ])}`;
    const errors = vms.filter((v) => v.error !== undefined).map((v) => `  ${v.slot as string}: ${v.error as string}`);
    if (errors.length > 0) text += `${errors.join('\n')}\n`;
  }
  return text;
}

const progressText = (p: Json): string =>
  `${n(p.deployed) ?? 0} of ${n(p.vms) ?? 0} VMs deployed, ${n(p.pending) ?? 0} pending, ${n(p.lost) ?? 0} lost, ${n(p.removed) ?? 0} removed, ${n(p.terminated) ?? 0} terminated${(n(p.terminating) ?? 0) > 0 ? `, ${n(p.terminating)} shutting down` : ''}`;

/** One line after confirm / deploy: where the deployment stands. */
function deploymentLine(id: string, d: Json): string {
  const p = (d.progress as Json | undefined) ?? {};
  const due = typeof d.notBefore === 'string' && Date.parse(d.notBefore) > Date.now() ? `, not before ${when(d.notBefore)}` : '';
  return `${id}: deployment ${d.status as string} (${n(p.vms) ?? 0} VMs on ${d.target as string}; attempts so far ${d.attempts as number}${due})\n`;
}

/** Follows nextCursor when `all`; else one page, and says on stderr how to get the next. */
async function pages(client: EacClient, path: string, key: string, query: Json, all: boolean): Promise<{ items: Json[]; nextCursor: string | null }> {
  const items: Json[] = [];
  let cursor = query.cursor as string | undefined;
  for (;;) {
    const page = await client.request<Json>('GET', path, { query: { ...(query as Record<string, string>), ...(cursor ? { cursor } : {}) } });
    items.push(...((page[key] as Json[]) ?? []));
    const next = (page.nextCursor as string | null) ?? null;
    if (!all || next === null) return { items, nextCursor: next };
    cursor = next;
  }
}

function moreHint(nextCursor: string | null): void {
  if (nextCursor) process.stderr.write(`(more: --cursor ${nextCursor}, or --all)\n`);
}

// ---------------------------------------------------------------------------------------------
// hosts, capacity

const n = (v: unknown): number | null => (typeof v === 'number' ? v : null);

function capacityTable(hosts: readonly Json[], totals: Json | undefined, idKey: 'id' | 'hostId'): string {
  return table(
    hosts,
    [
      { header: 'HOST', value: (h) => h[idKey] as string },
      { header: 'CPUS', value: (h) => n(h.cpus), right: true },
      { header: 'USED', value: (h) => n(h.usedCpus), right: true },
      { header: 'RESERVED', value: (h) => n(h.reservedCpus), right: true },
      { header: 'WINDOWS', value: (h) => n(h.windowCpusDelta), right: true },
      { header: 'FREE', value: (h) => n(h.freeCpus), right: true },
      { header: 'MEM MB', value: (h) => n(h.memoryMb), right: true },
      { header: 'MEM USED', value: (h) => n(h.usedMemoryMb), right: true },
      { header: 'MEM RESERVED', value: (h) => n(h.reservedMemoryMb), right: true },
      { header: 'MEM FREE', value: (h) => n(h.freeMemoryMb), right: true },
    ],
    totals
      ? [`TOTAL (${hosts.length})`, n(totals.cpus), n(totals.usedCpus), n(totals.reservedCpus), '', n(totals.freeCpus), n(totals.memoryMb), n(totals.usedMemoryMb), n(totals.reservedMemoryMb), n(totals.freeMemoryMb)]
      : undefined,
  );
}

// ---------------------------------------------------------------------------------------------
// settings

const BOUNDS = ['trust', 'risk', 'eco', 'cost'] as const;
type Bound = (typeof BOUNDS)[number];

function boundOptions(cmd: Command, what: string): Command {
  for (const b of BOUNDS) cmd.addOption(new Option(`--${b} <number>`, `${b} ${what}`).argParser(finiteNumber));
  return cmd;
}

function given(opts: Json): Partial<Record<Bound, number>> {
  const r: Partial<Record<Bound, number>> = {};
  for (const b of BOUNDS) if (typeof opts[b] === 'number') r[b] = opts[b] as number;
  return r;
}

const boundsText = (v: Json | undefined | null): string => (v ? BOUNDS.filter((b) => v[b] !== undefined).map((b) => `${b}=${String(v[b])}`).join(' ') : '-');

// ---------------------------------------------------------------------------------------------
// events, decisions, audit

function eventLine(e: Json): string {
  const data = (e.data as Json | undefined) ?? {};
  const extra = [data.serviceId ? `service=${String(data.serviceId)}` : '', data.reason ? `reason=${JSON.stringify(data.reason)}` : ''].filter(Boolean).join(' ');
  return `${String(e.seq).padStart(6)}  ${when(e.at)}  ${String(e.type).padEnd(22)}  ${String(e.subject)}${e.owner ? `  owner=${String(e.owner)}` : ''}${extra ? `  ${extra}` : ''}\n`;
}

const decisionColumns = [
  { header: 'ID', value: (d: Json) => d.id as string },
  { header: 'AT', value: (d: Json) => when(d.at) },
  { header: 'OWNER', value: (d: Json) => d.owner as string },
  { header: 'SERVICE', value: (d: Json) => d.serviceId as string },
  { header: 'DECISION', value: (d: Json) => `${d.decision as string}${d.dryRun ? ' (dry-run)' : ''}` },
  { header: 'ADMISSION', value: (d: Json) => d.admissionId as string | null },
  { header: 'MS', value: (d: Json) => d.durationMs as number, right: true },
  { header: 'REASONS', value: (d: Json) => ((d.reasons as string[]) ?? []).join(',') || '-' },
];

function decisionText(d: Json): string {
  const detail = (d.detail as Json | undefined) ?? {};
  let text = fields([
    ['id', d.id as string],
    ['at', when(d.at)],
    ['request', d.requestId as string],
    ['owner', d.owner as string],
    ['service', d.serviceId as string],
    ['decision', d.decision as string],
    ['dry-run', d.dryRun as boolean],
    ['admission', d.admissionId as string | null],
    ['duration ms', d.durationMs as number],
    ['summary', detail.summary as string | undefined],
  ]);
  for (const c of (detail.components as Json[] | undefined) ?? []) {
    for (const r of (c.reasons as Json[] | undefined) ?? []) text += `  ${c.id as string}: ${r.message as string} [${r.code as string}]\n`;
  }
  return text;
}

const short = (v: unknown): string => {
  if (v === null || v === undefined) return '-';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

// ---------------------------------------------------------------------------------------------

/** Adds the service commands to the program (global options --url, --token, --json are the program's). */
export function addServiceCommands(program: Command): void {
  program
    .command('admit')
    .description('admit manifests (one: application/xml; several: solved jointly)')
    .argument('<file...>', 'OPTIMIS service manifests (XML); - reads standard input')
    .option('--dry-run', 'solve and answer, record nothing')
    .addOption(new Option('--start <when>', 'window start: RFC 3339, now, or +30m / +2h / +1d (default now)').argParser(instantArg))
    .addOption(new Option('--end <when>', 'window end (default open)').argParser(instantArg))
    .addOption(new Option('--expiry-seconds <seconds>', 'an offer not confirmed within this long after its start lapses').argParser(positiveInt))
    .addOption(new Option('--solver <name>', 'solver override').choices(['greedy', 'highs', 'auto']))
    .option('--idempotency-key <key>', 'the same key and request answer the first answer again, booking nothing more')
    .action(async (files: string[], _o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const manifests = files.map(readInput);
      const query = { dryRun: opts.dryRun ? 'true' : undefined, start: opts.start as string | undefined, end: opts.end as string | undefined, expirySeconds: opts.expirySeconds as number | undefined, solver: opts.solver as string | undefined };
      const headers = opts.idempotencyKey ? { 'Idempotency-Key': String(opts.idempotencyKey) } : undefined;
      const answer =
        manifests.length === 1
          ? await client.request<Json>('POST', '/api/v1/admissions', { query, body: manifests[0], contentType: 'application/xml', ...(headers ? { headers } : {}) })
          : await client.request<Json>('POST', '/api/v1/admissions', { query, body: { manifests }, ...(headers ? { headers } : {}) });
      if (json) printJson(answer);
      else out(admissionAnswerText(answer));
    });

  const admissions = program.command('admissions').description('recorded admissions: list, show, confirm, release; their deployments (AC_DEPLOY=opennebula): deployment, deploy');
  admissions
    .command('list')
    .description('admissions whose window overlaps [--from, --to), oldest first (a client sees its own)')
    .option('--status <list>', 'comma-separated: held, confirmed, active, ended, released, expired')
    .option('--active', 'held, confirmed or active only')
    .option('--service <id>', 'one service')
    .option('--owner <name>', 'one owner (operators, readers)')
    .addOption(new Option('--from <when>', 'window overlaps from').argParser(instantArg))
    .addOption(new Option('--to <when>', 'window overlaps until').argParser(instantArg))
    .addOption(new Option('--limit <n>', 'per page (1–1000)').argParser(positiveInt))
    .option('--cursor <cursor>', 'the page after this cursor')
    .option('--all', 'follow every page')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const query = { status: opts.status, active: opts.active ? 'true' : undefined, serviceId: opts.service, owner: opts.owner, from: opts.from, to: opts.to, limit: opts.limit, cursor: opts.cursor };
      const { items, nextCursor } = await pages(client, '/api/v1/admissions', 'admissions', query, opts.all === true);
      if (json) return printJson({ admissions: items, nextCursor });
      out(table(items, admissionColumns));
      moreHint(nextCursor);
    });
  admissions
    .command('show')
    .description('one admission: status, window, hold, hosts, and its deployment when it has one (status, progress, VMs with their OpenNebula ids)')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      const a = await client.request<Json>('GET', `/api/v1/admissions/${encodeURIComponent(id)}`);
      if (json) printJson(a);
      else out(a.deployment ? `${admissionText(a)}\n${deploymentText(a.deployment as Json)}` : admissionText(a));
    });
  admissions
    .command('confirm')
    .description('keep a held offer (confirmed, or active when its start has come); with AC_DEPLOY=opennebula its VMs are then deployed (from its start)')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      const a = await client.request<Json>('POST', `/api/v1/admissions/${encodeURIComponent(id)}/confirm`);
      if (json) return printJson(a);
      out(`${a.id as string}: ${a.status as string} (${when(a.start)} → ${when(a.end, 'open')})\n`);
      if (a.deployment) out(deploymentLine(a.id as string, a.deployment as Json));
    });
  admissions
    .command('deployment')
    .description("an admission's deployment: status, attempts, the last error, progress, and its VMs (slot, component, host, state, OpenNebula VM id)")
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      const d = await client.request<Json>('GET', `/api/v1/admissions/${encodeURIComponent(id)}/deployment`);
      if (json) printJson(d);
      else out(deploymentText(d, d.admissionId as string));
    });
  admissions
    .command('deploy')
    .description('retry a failed deployment (deploy_failed): a new attempt; VMs already there for a slot are found again, not duplicated')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      const d = await client.request<Json>('POST', `/api/v1/admissions/${encodeURIComponent(id)}/deploy`);
      if (json) printJson(d);
      else out(deploymentLine(d.admissionId as string, d));
    });
  admissions
    .command('release')
    .description('release an admission (its capacity is free at once)')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      const r = await client.request<Json>('DELETE', `/api/v1/admissions/${encodeURIComponent(id)}`);
      if (json) printJson(r);
      else out(`${r.id as string}: ${r.released ? 'released' : `not released (already ${r.status as string})`}\n`);
    });

  program
    .command('hosts')
    .description('capacity now: per host CPUs and memory (used, reserved, capacity-window delta, free) and totals')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      const r = await client.request<Json>('GET', '/api/v1/hosts');
      if (json) return printJson(r);
      out(capacityTable((r.hosts as Json[]) ?? [], r.totals as Json | undefined, 'id'));
    });

  program
    .command('capacity')
    .description('capacity over [--from, --to): peak reserved, minimum free, per host and in total')
    .addOption(new Option('--from <when>', 'default now').argParser(instantArg))
    .addOption(new Option('--to <when>', 'default open').argParser(instantArg))
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const r = await client.request<Json>('GET', '/api/v1/capacity', { query: { from: opts.from as string | undefined, to: opts.to as string | undefined } });
      if (json) return printJson(r);
      out(`window ${when(r.start)} → ${when(r.end, 'open')}\n`);
      out(capacityTable((r.hosts as Json[]) ?? [], r.totals as Json | undefined, 'hostId'));
    });

  const policy = program.command('policy').description('the TREC objective weights');
  policy
    .command('get')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      const p = await client.request<Json>('GET', '/api/v1/policy');
      if (json) return printJson(p);
      out(fields([...BOUNDS.map((b) => [b, (p.weights as Json)[b] as number] as [string, Cell]), ['generation', p.generation as number], ['updated', when(p.updatedAt)]]));
    });
  boundOptions(policy.command('set').description('set weights (operator); the ones not given keep their value; they must sum to 1'), 'weight')
    .addOption(new Option('--generation <n>', 'only if the policy is still at this generation (default: the one just read)').argParser(nonNegativeInt))
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const change = given(opts);
      if (Object.keys(change).length === 0) throw new CliError('policy set: give at least one of --trust, --risk, --eco, --cost', EXIT.USAGE);
      const current = await client.request<Json>('GET', '/api/v1/policy');
      const weights = { ...(current.weights as Json), ...change };
      const generation = (opts.generation as number | undefined) ?? (current.generation as number);
      const p = await client.request<Json>('PUT', '/api/v1/policy', { body: { weights, generation } });
      if (json) return printJson(p);
      out(`policy generation ${p.generation as number}: ${boundsText(p.weights as Json)}\n`);
    });

  const constraints = program.command('constraints').description('TREC constraints: the global default, or one service’s own bounds (--service)');
  constraints
    .command('get')
    .option('--service <id>', "a service's override and its effective bounds")
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      if (opts.service) {
        const r = await client.request<Json>('GET', `/api/v1/services/${encodeURIComponent(String(opts.service))}/constraints`);
        if (json) return printJson(r);
        const eff = r.effective as Json;
        return out(
          table(
            BOUNDS.map((b) => b),
            [
              { header: 'BOUND', value: (b) => b },
              { header: 'EFFECTIVE', value: (b) => (eff.constraints as Json)[b] as number, right: true },
              { header: 'SOURCE', value: (b) => (eff.sources as Json)[b] as string },
              { header: 'OVERRIDE', value: (b) => ((r.override as Json | null)?.constraints as Json | undefined)?.[b] as number | undefined, right: true },
            ],
          ),
        );
      }
      const c = await client.request<Json>('GET', '/api/v1/constraints/default');
      if (json) return printJson(c);
      out(fields([...BOUNDS.map((b) => [b, (c.constraints as Json)[b] as number] as [string, Cell]), ['generation', c.generation as number], ['updated', when(c.updatedAt)]]));
    });
  boundOptions(constraints.command('set').description('set the default bounds (operator; the ones not given keep their value), or with --service that service’s own bounds (exactly the ones given)'), 'bound')
    .option('--service <id>', "set this service's own bounds")
    .addOption(new Option('--generation <n>', 'only if still at this generation').argParser(nonNegativeInt))
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const change = given(opts);
      if (Object.keys(change).length === 0) throw new CliError('constraints set: give at least one of --trust, --risk, --eco, --cost', EXIT.USAGE);
      const generation = opts.generation as number | undefined;
      if (opts.service) {
        const r = await client.request<Json>('PUT', `/api/v1/services/${encodeURIComponent(String(opts.service))}/constraints`, { body: { constraints: change, ...(generation !== undefined ? { generation } : {}) } });
        if (json) return printJson(r);
        return out(`constraints of ${r.serviceId as string} generation ${r.generation as number}: ${boundsText(r.constraints as Json)}\n`);
      }
      const current = await client.request<Json>('GET', '/api/v1/constraints/default');
      const r = await client.request<Json>('PUT', '/api/v1/constraints/default', { body: { constraints: { ...(current.constraints as Json), ...change }, generation: generation ?? (current.generation as number) } });
      if (json) return printJson(r);
      out(`default constraints generation ${r.generation as number}: ${boundsText(r.constraints as Json)}\n`);
    });
  constraints
    .command('delete')
    .description("remove a service's own bounds (operator)")
    .requiredOption('--service <id>', 'the service')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      await client.request('DELETE', `/api/v1/services/${encodeURIComponent(String(opts.service))}/constraints`);
      if (json) return printJson({ serviceId: opts.service, deleted: true });
      out(`constraints of ${String(opts.service)} deleted\n`);
    });

  const windows = program.command('windows').description('capacity windows: maintenance, drains (negative), capacity that arrives (positive)');
  windows
    .command('list')
    .addOption(new Option('--from <when>').argParser(instantArg))
    .addOption(new Option('--to <when>').argParser(instantArg))
    .option('--host <id>', 'windows on this host')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const r = await client.request<Json>('GET', '/api/v1/capacity/windows', { query: { from: opts.from as string | undefined, to: opts.to as string | undefined, hostId: opts.host as string | undefined } });
      if (json) return printJson(r);
      out(
        table((r.windows as Json[]) ?? [], [
          { header: 'ID', value: (w) => w.id as string },
          { header: 'START', value: (w) => when(w.start) },
          { header: 'END', value: (w) => when(w.end, 'open') },
          { header: 'CPUS', value: (w) => w.cpusDelta as number, right: true },
          { header: 'MEM MB', value: (w) => w.memoryMbDelta as number, right: true },
          { header: 'HOSTS', value: (w) => ((w.hosts as string[]).length > 5 ? `${(w.hosts as string[]).slice(0, 5).join(',')},… (${(w.hosts as string[]).length})` : (w.hosts as string[]).join(',')) },
          { header: 'REASON', value: (w) => w.reason as string },
          { header: 'BY', value: (w) => w.createdBy as string },
        ]),
      );
    });
  windows
    .command('create')
    .description('record a capacity window (operator); prints the admissions it leaves without room')
    .requiredOption('--hosts <ids>', 'comma-separated host ids')
    .addOption(new Option('--start <when>', 'RFC 3339, now, +2h…').argParser(instantArg).makeOptionMandatory())
    .addOption(new Option('--end <when>', 'default open').argParser(instantArg))
    .addOption(new Option('--cpus-delta <n>', 'negative: maintenance / drain (−cpus of a host = all of it); positive: arriving').argParser(finiteNumber))
    .addOption(new Option('--memory-delta <mb>', 'memory, MB, likewise').argParser(finiteNumber))
    .requiredOption('--reason <text>', 'why (shown to operators, in events and the audit log)')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const hosts = String(opts.hosts).split(',').map((h) => h.trim()).filter(Boolean);
      const body = { hosts, start: opts.start, ...(opts.end !== undefined ? { end: opts.end } : {}), ...(opts.cpusDelta !== undefined ? { cpusDelta: opts.cpusDelta } : {}), ...(opts.memoryDelta !== undefined ? { memoryMbDelta: opts.memoryDelta } : {}), reason: opts.reason };
      const r = await client.request<Json>('POST', '/api/v1/capacity/windows', { body });
      if (json) return printJson(r);
      const w = r.window as Json;
      out(`${w.id as string}: ${hosts.length} host(s), ${when(w.start)} → ${when(w.end, 'open')}, cpus ${w.cpusDelta as number}, memory ${w.memoryMbDelta as number} MB\n`);
      const conflicts = (r.conflicts as Json[]) ?? [];
      if (conflicts.length > 0) {
        out(`${conflicts.length} admission(s) left without room:\n`);
        out(
          table(conflicts, [
            { header: 'ADMISSION', value: (c) => c.admissionId as string },
            { header: 'OWNER', value: (c) => c.owner as string },
            { header: 'SERVICE', value: (c) => c.serviceId as string },
            { header: 'HOST', value: (c) => c.hostId as string },
            { header: 'MISSING CPUS', value: (c) => c.missingCpus as number },
            { header: 'MISSING MB', value: (c) => c.missingMemoryMb as number },
          ]),
        );
      }
    });
  windows
    .command('delete')
    .description('remove a capacity window (operator)')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      await client.request('DELETE', `/api/v1/capacity/windows/${encodeURIComponent(id)}`);
      if (json) return printJson({ id, deleted: true });
      out(`${id} deleted\n`);
    });

  program
    .command('events')
    .description('the event stream')
    .command('tail')
    .description('follow the event stream (Server-Sent Events) until Ctrl-C; reconnects with Last-Event-ID')
    .addOption(new Option('--since <seq>', 'start after this event sequence number (0 = from the oldest kept); default: from now').argParser(nonNegativeInt))
    .option('--types <patterns>', 'comma-separated types or patterns (admission.*, capacity.changed)')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await client.stream('/api/v1/events/stream', { after: opts.since as number | undefined, types: opts.types as string | undefined }, (e) => {
          let data: Json;
          try {
            data = JSON.parse(e.data) as Json;
          } catch {
            return;
          }
          out(json ? `${JSON.stringify(data)}\n` : eventLine(data));
        }, controller.signal);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  const decisions = program.command('decisions').description('the decision log: every admission answer, rejections and dry-runs included');
  decisions
    .command('list')
    .option('--service <id>', 'one service')
    .option('--owner <name>', 'one owner (operators, readers)')
    .option('--admission <id>', 'the decision that recorded this admission')
    .option('--request <id>', 'the decisions of one request')
    .addOption(new Option('--decision <kind>').choices(['accepted', 'partial', 'rejected']))
    .addOption(new Option('--from <when>').argParser(instantArg))
    .addOption(new Option('--to <when>').argParser(instantArg))
    .addOption(new Option('--limit <n>', 'per page (1–1000)').argParser(positiveInt))
    .option('--cursor <cursor>')
    .option('--all', 'follow every page')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const query = { serviceId: opts.service, owner: opts.owner, admissionId: opts.admission, requestId: opts.request, decision: opts.decision, from: opts.from, to: opts.to, limit: opts.limit, cursor: opts.cursor };
      const { items, nextCursor } = await pages(client, '/api/v1/decisions', 'decisions', query, opts.all === true);
      if (json) return printJson({ decisions: items, nextCursor });
      out(table(items, decisionColumns));
      moreHint(nextCursor);
    });
  decisions
    .command('show')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { client, json } = contextOf(cmd);
      const d = await client.request<Json>('GET', `/api/v1/decisions/${encodeURIComponent(id)}`);
      if (json) printJson(d);
      else out(decisionText(d));
    });

  program
    .command('audit')
    .description('the audit log (operators, readers): who changed what, when, before and after')
    .option('--actor <name>')
    .option('--action <action>', 'policy.set, constraints.default.set, window.created, admission.released…')
    .option('--subject <id>', 'an admission, window, service or subscription id')
    .addOption(new Option('--from <when>').argParser(instantArg))
    .addOption(new Option('--to <when>').argParser(instantArg))
    .addOption(new Option('--limit <n>', 'per page (1–1000)').argParser(positiveInt))
    .option('--cursor <cursor>')
    .option('--all', 'follow every page')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, json, opts } = contextOf(cmd);
      const query = { actor: opts.actor, action: opts.action, subject: opts.subject, from: opts.from, to: opts.to, limit: opts.limit, cursor: opts.cursor };
      const { items, nextCursor } = await pages(client, '/api/v1/audit', 'audit', query, opts.all === true);
      if (json) return printJson({ audit: items, nextCursor });
      out(
        table(items, [
          { header: 'SEQ', value: (r) => r.seq as number },
          { header: 'AT', value: (r) => when(r.at) },
          { header: 'ACTOR', value: (r) => r.actor as string },
          { header: 'ACTION', value: (r) => r.action as string },
          { header: 'SUBJECT', value: (r) => r.subject as string },
          { header: 'BEFORE', value: (r) => short(r.before) },
          { header: 'AFTER', value: (r) => short(r.after) },
        ]),
      );
      moreHint(nextCursor);
    });
}
