/**
 * The service commands of the real `eac` binary (dist/bin/eac.js, built by the global setup) against the real service
 * process on 127.0.0.1 with tokens: admit a manifest, list, show, confirm, release, hosts with totals, --json that
 * parses, settings, windows, the decision and audit logs, events tail, and the exit codes (3 for 401 / 403 / 404, 4 for
 * an unreachable service, 2 for bad usage); and a second service deploying into an OpenNebula stub (AC_DEPLOY=opennebula):
 * the deployment and its VM ids in `admissions show` and `admissions deployment`, a failed one retried with
 * `admissions deploy`. The token is never printed.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { tokenHash } from '../gateway/auth';
import { manyComponentManifest } from './support/manifests';
import { ACTION, OpenNebulaStub } from './support/opennebula-stub';
import { startServerProcess, type ServerProcess } from './support/server-process';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'bin', 'eac.js');
const SM = path.join(__dirname, 'fixtures', 'manifests', 'decision', 'SM_1c2.xml');
const BIG = path.join(__dirname, 'fixtures', 'manifests', 'decision', 'BigSM_1c2.xml');
const TOKENS = { olga: 'eac_test-operator-token-0123456789', alice: 'eac_test-client-token-0123456789', rita: 'eac_test-reader-token-0123456789' };

let server: ServerProcess;
let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-cli-svc-'));
  fs.writeFileSync(
    path.join(tmp, 'inventory.json'),
    JSON.stringify({
      hosts: [
        { id: 'h1', cpus: 8, usedCpus: 2, memoryMb: 16384, usedMemoryMb: 1024 },
        { id: 'h2', cpus: 8, usedCpus: 0, memoryMb: 16384, usedMemoryMb: 0 },
        { id: 'h3', cpus: 16, usedCpus: 4, memoryMb: 32768, usedMemoryMb: 2048 },
      ],
    }),
  );
  fs.writeFileSync(
    path.join(tmp, 'config.json'),
    JSON.stringify({
      tokens: [
        { name: 'olga', role: 'operator', sha256: tokenHash(TOKENS.olga) },
        { name: 'alice', role: 'client', sha256: tokenHash(TOKENS.alice) },
        { name: 'rita', role: 'reader', sha256: tokenHash(TOKENS.rita) },
      ],
    }),
  );
  server = await startServerProcess({ AC_CONFIG: path.join(tmp, 'config.json'), AC_INVENTORY: path.join(tmp, 'inventory.json'), AC_SOLVER: 'greedy', AC_DATA_DIR: path.join(tmp, 'data') });
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
const runs: Run[] = [];

/** Runs the CLI with EAC_URL / EAC_TOKEN of `who` (unless the args say otherwise). */
function eac(who: keyof typeof TOKENS | null, ...args: string[]): Run {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', EAC_URL: server.url };
  if (who) env.EAC_TOKEN = TOKENS[who];
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT, env, timeout: 30_000 });
  const run = { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  runs.push(run);
  return run;
}
const json = (r: Run): Record<string, unknown> & Record<string, any> => {
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
};

afterAll(() => {
  // Whatever happened, no run printed a token.
  for (const r of runs) for (const t of Object.values(TOKENS)) expect(`${r.stdout}${r.stderr}`).not.toContain(t);
});

describe('eac admit and eac admissions: the lifecycle of one admission', () => {
  let id = '';

  it('admit prints a table with the decision and the admission id; --json is the server answer', () => {
    const r = eac('alice', 'admit', SM);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const [header, row] = r.stdout.split('\n');
    expect(header).toMatch(/^SERVICE\s+DECISION\s+ADMISSION\s+STATUS/);
    expect(row).toMatch(/^ACTestsDecisionAccepted\s+accepted\s+adm-[0-9a-f-]+\s+held/);
    id = /adm-[0-9a-f-]+/.exec(row!)![0];
    const dry = json(eac('alice', 'admit', SM, '--dry-run', '--json'));
    expect(dry.dryRun).toBe(true);
    expect(dry.services[0]).toMatchObject({ serviceId: 'ACTestsDecisionAccepted', decision: 'accepted', admissionId: null });
  });

  it('a rejection is an answer (exit 0) with its reasons in words', () => {
    const r = eac('alice', 'admit', BIG, '--start', '+1h', '--end', '+3h');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ACTestsDecisionRejected\s+rejected/);
    expect(r.stdout).toContain('[ALL_OR_NOTHING]');
  });

  it('admissions list shows it (and --json parses, with the same id)', () => {
    const r = eac('alice', 'admissions', 'list');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^ID\s+OWNER\s+SERVICE\s+DECISION\s+STATUS\s+START\s+END/);
    expect(r.stdout).toMatch(new RegExp(`${id}\\s+alice\\s+ACTestsDecisionAccepted\\s+accepted\\s+held`));
    const list = json(eac('alice', 'admissions', 'list', '--json', '--status', 'held'));
    expect(list.admissions.map((a: { id: string }) => a.id)).toEqual([id]);
    expect(list.nextCursor).toBeNull();
  });

  it('admissions show, confirm, release', () => {
    const show = eac('alice', 'admissions', 'show', id);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^id:\s+adm-/m);
    expect(show.stdout).toMatch(/^status:\s+held$/m);
    expect(show.stdout).toMatch(/^HOST\s+CPUS\s+MEMORY MB$/m);
    const confirm = eac('alice', 'admissions', 'confirm', id);
    expect([confirm.code, confirm.stdout]).toEqual([0, expect.stringMatching(new RegExp(`^${id}: active`))]);
    expect(json(eac('rita', 'admissions', 'show', id, '--json')).status).toBe('active');
    const release = eac('olga', 'admissions', 'release', id);
    expect([release.code, release.stdout]).toEqual([0, `${id}: released\n`]);
    expect(json(eac('alice', 'admissions', 'show', id, '--json')).status).toBe('released');
    // Releasing again: not an error, and says so.
    expect(eac('alice', 'admissions', 'release', id).stdout).toBe(`${id}: not released (already released)\n`);
  });

  it('the decision log and the audit log show what happened', () => {
    const decisions = json(eac('olga', 'decisions', 'list', '--json'));
    expect(decisions.decisions.map((d: { decision: string; dryRun: boolean }) => [d.decision, d.dryRun])).toEqual([
      ['accepted', false],
      ['accepted', true],
      ['rejected', false],
    ]);
    const table = eac('rita', 'decisions', 'list', '--decision', 'rejected');
    expect(table.stdout).toMatch(/ACTestsDecisionRejected\s+rejected/);
    const shown = eac('alice', 'decisions', 'show', decisions.decisions[2].id);
    expect(shown.stdout).toMatch(/^decision:\s+rejected$/m);
    expect(shown.stdout).toContain('[ALL_OR_NOTHING]');
    const audit = json(eac('rita', 'audit', '--subject', id, '--json'));
    expect(audit.audit.map((r: { actor: string; action: string }) => [r.actor, r.action])).toEqual([
      ['alice', 'admission.confirmed'],
      ['olga', 'admission.released'],
    ]);
    expect(eac('rita', 'audit', '--action', 'admission.released').stdout).toMatch(/olga\s+admission\.released/);
  });
});

describe('eac hosts and eac capacity', () => {
  it('hosts: one row per host and a totals row that adds them up', () => {
    const r = eac('rita', 'hosts');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^HOST\s+CPUS\s+USED\s+RESERVED\s+WINDOWS\s+FREE\s+MEM MB/);
    expect(lines.slice(1, 4).map((l) => l.split(/\s+/)[0])).toEqual(['h1', 'h2', 'h3']);
    expect(lines[4]).toMatch(/^-+\s+-+/);
    const total = lines[5]!.split(/\s{2,}/);
    expect(total.slice(0, 3)).toEqual(['TOTAL (3)', '32', '6']);
    const parsed = json(eac('rita', 'hosts', '--json'));
    expect(parsed.totals).toMatchObject({ cpus: 32, usedCpus: 6, memoryMb: 65536, usedMemoryMb: 3072 });
    expect(parsed.hosts.reduce((n: number, h: { freeCpus: number }) => n + h.freeCpus, 0)).toBe(parsed.totals.freeCpus);
  });

  it('capacity over a window', () => {
    const r = eac('rita', 'capacity', '--from', '+1h', '--to', '+2h');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^window \d{4}-\d{2}-\d{2} /);
    expect(r.stdout).toMatch(/^TOTAL \(3\)\s+32\s+6/m);
  });
});

describe('eac policy, constraints, windows', () => {
  it('policy set changes the given weights and keeps the others; get shows them', () => {
    const set = eac('olga', 'policy', 'set', '--cost', '0.4', '--trust', '0.1');
    expect(set.code).toBe(0);
    expect(set.stdout).toBe("policy generation 2: trust=0.1 risk=0.25 eco=0.25 cost=0.4\n");
    expect(eac('rita', 'policy', 'get').stdout).toMatch(/^cost:\s+0.4$/m);
    expect(json(eac('rita', 'policy', 'get', '--json')).weights).toEqual({ trust: 0.1, risk: 0.25, eco: 0.25, cost: 0.4 });
  });

  it('constraints: default and per service', () => {
    expect(eac('olga', 'constraints', 'set', '--service', 'web', '--cost', '50').stdout).toBe('constraints of web generation 1: cost=50\n');
    const got = eac('rita', 'constraints', 'get', '--service', 'web');
    expect(got.stdout).toMatch(/^cost\s+50\s+service\s+50$/m);
    expect(eac('olga', 'constraints', 'delete', '--service', 'web').code).toBe(0);
    expect(eac('olga', 'constraints', 'delete', '--service', 'web').code).toBe(3); // gone: 404
  });

  it('windows create, list, delete', () => {
    const created = json(eac('olga', 'windows', 'create', '--hosts', 'h1,h2', '--start', '+1d', '--end', '+2d', '--cpus-delta', '-8', '--reason', 'firmware', '--json'));
    const wid = created.window.id as string;
    const list = eac('rita', 'windows', 'list');
    expect(list.stdout).toMatch(new RegExp(`${wid}\\s+.*-8\\s+0\\s+h1,h2\\s+firmware\\s+olga`));
    expect(eac('olga', 'windows', 'delete', wid).stdout).toBe(`${wid} deleted\n`);
    expect(json(eac('rita', 'windows', 'list', '--json')).windows).toEqual([]);
  });
});

describe('eac events tail', () => {
  it('follows the stream from --since until interrupted, one JSON object per line with --json', async () => {
    const child = spawn(process.execPath, [CLI, 'events', 'tail', '--since', '0', '--json', '--types', 'admission.*'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', EAC_URL: server.url, EAC_TOKEN: TOKENS.olga },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const lines = (): Record<string, unknown>[] => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const until = async (ok: () => boolean): Promise<void> => {
      for (let k = 0; k < 200 && !ok(); k++) await new Promise((r) => setTimeout(r, 50));
    };
    // History first (the admission of the first describe), then something new while following.
    await until(() => lines().some((e) => e.type === 'admission.released'));
    expect(lines().map((e) => e.type)).toEqual(expect.arrayContaining(['admission.held', 'admission.confirmed', 'admission.released']));
    const admitted = eac('alice', 'admit', SM, '--json');
    const newId = JSON.parse(admitted.stdout).services[0].admissionId as string;
    await until(() => lines().some((e) => e.subject === newId));
    expect(lines().find((e) => e.subject === newId)).toMatchObject({ type: 'admission.held', owner: 'alice' });
    expect(lines().every((e) => String(e.type).startsWith('admission.'))).toBe(true);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});

describe('exit codes and messages', () => {
  it('401: no token or an unknown one → 3, the message says unauthorized and how to fix it', () => {
    const none = eac(null, 'hosts');
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/^eac: unauthorized \(401 AC_ERR_UNAUTHORIZED\): .*--token or EAC_TOKEN/);
    const wrong = eac(null, 'hosts', '--token', 'eac_not-a-real-token');
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/unauthorized \(401/);
    expect(wrong.stderr).not.toContain('eac_not-a-real-token');
    expect(wrong.stdout).toBe('');
  });

  it('403: the wrong role → 3, the message says forbidden', () => {
    const r = eac('alice', 'hosts');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^eac: forbidden \(403 AC_ERR_FORBIDDEN\): principal 'alice' \(role client\)/);
    const setAsReader = eac('rita', 'policy', 'set', '--cost', '0.25');
    expect([setAsReader.code, /forbidden \(403/.test(setAsReader.stderr)]).toEqual([3, true]);
    expect(eac('alice', 'audit').code).toBe(3);
  });

  it('404 and other refusals → 3', () => {
    const r = eac('olga', 'admissions', 'show', 'adm-nope');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/refused \(404 AC_ERR_NOT_FOUND\): no admission 'adm-nope'/);
    expect(eac('olga', 'policy', 'set', '--cost', '0.9').code).toBe(3); // weights no longer sum to 1: 400
  });

  it('an unreachable service → 4', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const r = eac('olga', 'hosts', '--url', `http://127.0.0.1:${port}`);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`^eac: cannot reach the service at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  });

  it('bad usage or local input → 2', () => {
    expect(eac('olga', 'admit', path.join(tmp, 'missing.xml')).code).toBe(2);
    const badStart = eac('olga', 'admit', SM, '--start', 'tomorrow');
    expect(badStart.code).toBe(2);
    expect(badStart.stderr).toMatch(/RFC 3339/);
    expect(eac('olga', 'admissions', 'frobnicate').code).toBe(2);
    expect(eac('olga', 'hosts', '--url', 'not a url').code).toBe(2);
  });

  it('the help documents the exit codes', () => {
    const help = eac(null, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:\n\s+0\s+ok[\s\S]*3\s+refused by the server \(4xx\): 401[\s\S]*4\s+the server failed \(5xx\) or could not be reached/);
  });
});

describe('eac admissions and deployments into OpenNebula (AC_DEPLOY=opennebula)', () => {
  // OpenNebula host ids are not eac's: eac names hosts by their OpenNebula names.
  const HOSTS = [
    { id: 3, name: 'one-1', cpus: 4, memoryMb: 8192 },
    { id: 7, name: 'one-2', cpus: 4, memoryMb: 8192 },
  ];
  const TEMPLATES = [{ id: 20, name: 'web', attributes: { CPU: '1', MEMORY: '512', EAC_COMPONENT: 'c1' } }];
  let stub: OpenNebulaStub;
  let one: ServerProcess;
  let manifest = '';

  beforeAll(async () => {
    stub = await OpenNebulaStub.start(HOSTS, TEMPLATES);
    manifest = path.join(tmp, 'shop.xml');
    fs.writeFileSync(manifest, manyComponentManifest({ serviceId: 'shop', components: 1, vcpus: 1, memoryMb: 512, initial: 2, upperBound: 2 }));
    one = await startServerProcess({
      AC_CONFIG: path.join(tmp, 'config.json'),
      AC_SOLVER: 'greedy',
      AC_DATA_DIR: path.join(tmp, 'data-opennebula'),
      AC_HOST_INFO: 'opennebula',
      AC_OPENNEBULA_URL: stub.url,
      AC_OPENNEBULA_AUTH: 'oneadmin:opennebula',
      AC_DEPLOY: 'opennebula',
      AC_DEPLOY_POLL_MS: '200',
    });
  });
  afterAll(async () => {
    await one?.stop();
    await stub?.close();
  });

  /**
   * The CLI against this service, without blocking: the OpenNebula stub answers from this very process, so a
   * spawnSync here would stall the service's calls to it for as long as the CLI runs.
   */
  function eacOne(who: keyof typeof TOKENS, ...args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args, '--url', one.url], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', EAC_TOKEN: TOKENS[who] }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        const run = { code: code ?? -1, stdout, stderr };
        runs.push(run);
        resolve(run);
      });
    });
  }

  /** Polls `admissions deployment --json` until its status is `status` (the deployment runs after confirm). */
  async function until(id: string, status: string): Promise<Record<string, any>> {
    let last: Record<string, any> = {};
    for (let k = 0; k < 100; k++) {
      last = json(await eacOne('rita', 'admissions', 'deployment', id, '--json'));
      if (last.status === status) return last;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`deployment of ${id} never reached ${status}: ${JSON.stringify(last)}`);
  }

  /** The VM table's rows: slot, component, host, state, VM id. */
  const vmRows = (stdout: string): string[][] => {
    const lines = stdout.split('\n');
    const start = lines.findIndex((l) => /^SLOT\s+COMPONENT\s+HOST\s+STATE\s+VM ID$/.test(l));
    expect(start).toBeGreaterThanOrEqual(0);
    const rows: string[][] = [];
    for (const l of lines.slice(start + 1)) {
      if (!/^c\d+-\d+\s/.test(l)) break;
      rows.push(l.trim().split(/\s+/));
    }
    return rows;
  };

  it('confirm says the deployment is on; show and deployment print its progress and every VM with its OpenNebula VM id', async () => {
    const admitted = json(await eacOne('alice', 'admit', manifest, '--json'));
    expect(admitted.services[0]).toMatchObject({ serviceId: 'shop', decision: 'accepted' });
    const id = admitted.services[0].admissionId as string;

    const confirm = await eacOne('alice', 'admissions', 'confirm', id);
    expect(confirm.code).toBe(0);
    expect(confirm.stdout).toMatch(new RegExp(`^${id}: active \\(`));
    expect(confirm.stdout).toMatch(new RegExp(`^${id}: deployment (scheduled|deploying|deployed) \\(2 VMs on opennebula; attempts so far [01]\\)$`, 'm'));

    const d = await until(id, 'deployed');
    expect(d).toMatchObject({ admissionId: id, target: 'opennebula', attempts: 1, progress: { vms: 2, deployed: 2, pending: 0, lost: 0, removed: 0, terminated: 0 } });
    // The VM ids eac shows are the ones OpenNebula runs, on the offer's hosts.
    const live = stub.live();
    expect(live.map((v) => v.id).sort()).toEqual(d.vms.map((v: { vmId: number }) => v.vmId).sort());
    for (const vm of d.vms as { slot: string; vmId: number; hostId: string }[]) {
      expect(HOSTS.find((h) => h.id === stub.vms.get(vm.vmId)!.hostId)!.name).toBe(vm.hostId);
    }
    const expected = (d.vms as { slot: string; componentId: string; hostId: string; vmId: number }[]).map((v) => [v.slot, v.componentId, v.hostId, 'deployed', String(v.vmId)]);
    expect(expected.map((r) => r[0])).toEqual(['c1-1', 'c1-2']);

    const show = await eacOne('alice', 'admissions', 'show', id);
    expect([show.code, show.stderr]).toEqual([0, '']);
    expect(show.stdout).toMatch(/^status:\s+active$/m);
    expect(show.stdout).toMatch(/^HOST\s+CPUS\s+MEMORY MB$/m);
    expect(show.stdout).toMatch(/^deployment:\s+deployed$/m);
    expect(show.stdout).toMatch(/^target:\s+opennebula$/m);
    expect(show.stdout).toMatch(/^attempts:\s+1$/m);
    expect(show.stdout).toMatch(/^progress:\s+2 of 2 VMs deployed, 0 pending, 0 lost, 0 removed, 0 terminated$/m);
    expect(show.stdout).not.toMatch(/^error:/m);
    expect(vmRows(show.stdout)).toEqual(expected);
    // --json stays the server's answer, deployment included.
    const raw = json(await eacOne('rita', 'admissions', 'show', id, '--json'));
    expect(raw.deployment.vms.map((v: { vmId: number }) => v.vmId)).toEqual(d.vms.map((v: { vmId: number }) => v.vmId));

    const table = await eacOne('rita', 'admissions', 'deployment', id);
    expect([table.code, table.stderr]).toEqual([0, '']);
    expect(table.stdout).toMatch(new RegExp(`^admission:\\s+${id}$`, 'm'));
    expect(table.stdout).toMatch(/^deployment:\s+deployed$/m);
    expect(vmRows(table.stdout)).toEqual(expected);
    // Nothing failed: there is nothing to retry (409 → 3).
    const again = await eacOne('alice', 'admissions', 'deploy', id);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/refused \(409 AC_ERR_CONFLICT\)/);
  });

  it("a failed deployment shows OpenNebula's error; admissions deploy retries it", async () => {
    stub.failOn('one.vm.deploy', { message: '[one.vm.deploy] Host capacity exceeded.', code: ACTION });
    const id = json(await eacOne('alice', 'admit', manifest, '--json')).services[0].admissionId as string;
    expect((await eacOne('alice', 'admissions', 'confirm', id)).code).toBe(0);
    await until(id, 'deploy_failed');

    const failed = await eacOne('alice', 'admissions', 'deployment', id);
    expect(failed.code).toBe(0);
    expect(failed.stdout).toMatch(/^deployment:\s+deploy_failed$/m);
    expect(failed.stdout).toMatch(/^error:\s+.*Host capacity exceeded\./m);
    expect(failed.stdout).toMatch(/^progress:\s+0 of 2 VMs deployed, /m);
    // Rolled back: none of its VMs is left running.
    expect(vmRows(failed.stdout).map((r) => r[3])).not.toContain('deployed');
    expect(stub.live()).toHaveLength(2);

    const retry = await eacOne('alice', 'admissions', 'deploy', id);
    expect([retry.code, retry.stderr]).toEqual([0, '']);
    expect(retry.stdout).toMatch(new RegExp(`^${id}: deployment (scheduled|deploying|deployed) \\(2 VMs on opennebula; attempts so far [12]\\)\n$`));
    const d = await until(id, 'deployed');
    expect(d.attempts).toBe(2);
    expect(d.error).toBeUndefined();
    const show = await eacOne('rita', 'admissions', 'show', id);
    expect(vmRows(show.stdout)).toEqual((d.vms as { slot: string; componentId: string; hostId: string; vmId: number }[]).map((v) => [v.slot, v.componentId, v.hostId, 'deployed', String(v.vmId)]));
    expect(stub.live()).toHaveLength(4);
  });

  it('without deployment (AC_DEPLOY none): admissions deployment is a 404 and deploy a 409, both exit 3', () => {
    const held = json(eac('alice', 'admit', SM, '--json')).services[0].admissionId as string;
    const none = eac('alice', 'admissions', 'deployment', held);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/refused \(404 AC_ERR_NOT_FOUND\): admission '.*' has no deployment/);
    const off = eac('alice', 'admissions', 'deploy', held);
    expect(off.code).toBe(3);
    expect(off.stderr).toMatch(/refused \(409 AC_ERR_CONFLICT\): deployment is off/);
    // show of an admission without a deployment prints no deployment block.
    expect(eac('alice', 'admissions', 'show', held).stdout).not.toMatch(/^deployment:/m);
  });
});
