/**
 * A throwaway PostgreSQL cluster for tests: the server binaries of the machine (pg_config --bindir,
 * /usr/lib/postgresql/<version>/bin, or initdb / pg_ctl / postgres on PATH), `initdb` into a temp dir, `postgres` on
 * 127.0.0.1 with a free port and its unix socket in the temp dir, databases created on demand, everything stopped and
 * removed afterwards (also when the test process exits without afterAll).
 *
 * PostgreSQL refuses to run as root. This machine and CI run as root, so there initdb and the server run as an
 * unprivileged user — `postgres` when it exists (Debian's package creates it), else `nobody` — through
 * `runuser -u <user> --`, with the temp dir chowned to it. The test process connects over TCP as the cluster's
 * superuser `postgres` (trust authentication, loopback only).
 *
 * Suites call `describePostgres(name, fn)`: with no binaries it says loudly that the PostgreSQL suite was SKIPPED
 * (and with CI=true it fails instead — CI must run them).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';

export interface PostgresBinaries {
  readonly bindir: string;
  readonly version: string;
}

function hasServer(dir: string): boolean {
  return ['initdb', 'pg_ctl', 'postgres'].every((b) => fs.existsSync(path.join(dir, b)));
}

/** Where the server binaries are, or undefined when this machine has none. */
export function findPostgres(): PostgresBinaries | undefined {
  const candidates: string[] = [];
  if (process.env.EAC_PG_BINDIR) candidates.push(process.env.EAC_PG_BINDIR);
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    // no pg_config
  }
  try {
    const root = '/usr/lib/postgresql';
    const versions = fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(path.join(root, v, 'bin'));
  } catch {
    // not Debian's layout
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(dir);
  for (const c of candidates) {
    if (!c || !hasServer(c)) continue;
    // A PATH entry may hold symlinks into the real bindir (Debian's /usr/local/bin links): use the real one.
    const real = path.dirname(fs.realpathSync(path.join(c, 'postgres')));
    const bindir = hasServer(real) ? real : c;
    const out = spawnSync(path.join(bindir, 'postgres'), ['--version'], { encoding: 'utf8' });
    if (out.status !== 0) continue;
    return { bindir, version: out.stdout.trim() };
  }
  return undefined;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** The unprivileged user the server runs as when we are root. */
function serverUser(): { name: string; uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error('running as root, and neither a `postgres` nor a `nobody` user exists to run the PostgreSQL server as');
}

function chownTree(dir: string, uid: number, gid: number): void {
  fs.chownSync(dir, uid, gid);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else fs.chownSync(p, uid, gid);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ClusterOptions {
  /**
   * false: `fsync = off`, `synchronous_commit` stays on (the conformance suite, to save time: a crash of the
   * machine could lose its data, which those tests never look at). Default true: the server's default settings —
   * the durability tests use those.
   */
  readonly fsync?: boolean;
  /** Extra `-c name=value` server settings. */
  readonly settings?: Readonly<Record<string, string>>;
}

export class PostgresCluster {
  readonly port: number;
  readonly dir: string;
  readonly user: string;
  private readonly bindir: string;
  private readonly runAs: { name: string; uid: number; gid: number } | undefined;
  private running = false;
  private dbCount = 0;
  private readonly onExit = (): void => this.stopSync();

  private constructor(bindir: string, dir: string, port: number, runAs: { name: string; uid: number; gid: number } | undefined) {
    this.bindir = bindir;
    this.dir = dir;
    this.port = port;
    this.runAs = runAs;
    this.user = runAs?.name ?? os.userInfo().username;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get socketDir(): string {
    return path.join(this.dir, 'socket');
  }

  /** initdb + start. Throws when there are no binaries (callers check findPostgres first). */
  static async start(options: ClusterOptions = {}): Promise<PostgresCluster> {
    const bins = findPostgres();
    if (!bins) throw new Error('no PostgreSQL server binaries on this machine');
    const runAs = serverUser();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-pg-'));
    fs.mkdirSync(path.join(dir, 'socket'));
    if (runAs) chownTree(dir, runAs.uid, runAs.gid);
    const cluster = new PostgresCluster(bins.bindir, dir, await freePort(), runAs);
    try {
      // --no-sync: the initial files are not fsynced (a machine crash during the test could lose the cluster itself,
      // which is thrown away anyway); the server's own fsync setting is what the durability tests rely on.
      cluster.run('initdb', ['-D', cluster.dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions']);
      const settings: Record<string, string> = {
        listen_addresses: '127.0.0.1',
        port: String(cluster.port),
        unix_socket_directories: cluster.socketDir,
        max_connections: '200',
        shared_buffers: '128MB',
        ...(options.fsync === false ? { fsync: 'off', full_page_writes: 'off' } : {}),
        ...(options.settings ?? {}),
      };
      fs.appendFileSync(path.join(cluster.dataDir, 'postgresql.conf'), Object.entries(settings).map(([k, v]) => `${k} = '${v}'\n`).join(''));
      cluster.running = true;
      process.on('exit', cluster.onExit);
      cluster.run('pg_ctl', ['-D', cluster.dataDir, '-l', path.join(cluster.dir, 'server.log'), '-w', '-t', '60', 'start']);
      return cluster;
    } catch (e) {
      cluster.stopSync();
      throw new Error(`${(e as Error).message}\n${cluster.log()}`);
    }
  }

  private run(bin: string, args: readonly string[]): string {
    const exe = path.join(this.bindir, bin);
    const [cmd, argv] = this.runAs ? ['runuser', ['-u', this.runAs.name, '--', exe, ...args]] : [exe, [...args]];
    const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** The server's log so far (for failure messages). */
  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
    const c = new Client({ connectionString: this.url(database) });
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  }

  /** A new empty database (optionally a copy of a template database); returns its URL. */
  async createDatabase(template?: string): Promise<string> {
    const name = `t${++this.dbCount}_${process.pid}`;
    await this.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template} STRATEGY FILE_COPY` : ''}`);
    return this.url(name);
  }

  async dropDatabase(url: string): Promise<void> {
    const name = new URL(url).pathname.slice(1);
    await this.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }

  /** Stops the server the hard way (SIGQUIT to the postmaster: no checkpoint, WAL recovery at the next start). */
  crash(): void {
    this.run('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
  }

  /** Starts it again after crash(). */
  restart(): void {
    this.run('pg_ctl', ['-D', this.dataDir, '-l', path.join(this.dir, 'server.log'), '-w', '-t', '60', 'start']);
  }

  private stopSync(): void {
    if (this.running) {
      this.running = false;
      process.removeListener('exit', this.onExit);
      try {
        this.run('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']);
      } catch {
        // not running (failed start) — nothing to stop
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    this.stopSync();
  }
}

/**
 * describe() for suites that need PostgreSQL: runs them when the server binaries are present; otherwise prints a loud
 * SKIPPED banner and registers one skipped test saying so — or, with CI=true, one failing test (CI must run them).
 */
export function describePostgres(name: string, fn: () => void): void {
  const bins = findPostgres();
  if (bins) {
    describe(name, fn);
    return;
  }
  const why = 'no PostgreSQL server binaries (looked at pg_config --bindir, /usr/lib/postgresql/*/bin, PATH; set EAC_PG_BINDIR to point at them)';
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('PostgreSQL is required on CI', () => {
        throw new Error(`${name}: ${why}; CI=true, so this is a failure, not a skip`);
      });
    });
    return;
  }
  const banner = `\n${'!'.repeat(100)}\n!!! SKIPPED: ${name}: ${why}\n${'!'.repeat(100)}\n`;
  process.stderr.write(banner);
  console.warn(banner);
  describe(name, () => {
    test.skip(`SKIPPED — ${why}`, () => undefined);
  });
}
