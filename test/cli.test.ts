/**
 * The real `eac` process (dist/bin/eac.js, built by the global setup): solve the worked example in both
 * formats, and bad directories / arguments → exit 2 with a one-line message naming the file and line.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'bin', 'eac.js');
const WORKED = join(__dirname, 'fixtures', 'worked-example');

function eac(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'eac-cli-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function brokenCopy(name: string, file: string, content: string): string {
  const dir = join(scratch, name);
  cpSync(WORKED, dir, { recursive: true });
  writeFileSync(join(dir, file), content);
  return dir;
}

describe('eac solve', () => {
  it('solves the worked example to 358.5134 and prints decisions as JSON', () => {
    const r = eac('solve', WORKED);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.objective).toBeCloseTo(358.5134, 4);
    expect(out.solver).toMatchObject({ name: 'greedy', status: 'feasible', gap: null });
    expect(typeof out.solver.seconds).toBe('number');
    expect(out.services.map((s: { id: string; decision: string }) => [s.id, s.decision])).toEqual([
      ['a1', 'partial'],
      ['a2', 'accepted'],
    ]);
  });

  it('writes result.csv in the GAMS flavour with every (host, component, service) row', () => {
    const out = join(scratch, 'result.csv');
    const r = eac('solve', WORKED, '--format', 'result-csv', '--out', out);
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text.startsWith('"**","Admission Control Result","**"\n\n"a1",1.00\n"a2",1.00\n')).toBe(true);
    const section2 = text.split('"**","how many vms of service component i are allocated for service a in host j","**"\n\n')[1]!.split('\n\n')[0]!;
    expect(section2.split('\n')).toHaveLength(15); // 3 hosts × 5 existing (component, service) pairs
    expect(text).toContain('"**","cost of hosting the service","**"\n\n"a1",261.11\n"a2",0.00\n');
  });

  it('several directories: one JSON line each, in order, in one process; a bad one is its own line and exit 2', () => {
    const r = eac('solve', WORKED, WORKED);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.dir).toBe(WORKED);
      expect(line.objective).toBeCloseTo(358.5134, 4);
    }
    // Not a terminal: no progress bar on stderr.
    expect(r.stderr).toBe('');
    const missing = join(scratch, 'nope-batch');
    const mixed = eac('solve', WORKED, missing, WORKED);
    expect(mixed.code).toBe(2);
    const out = mixed.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(out.map((l: { dir: string; error?: { code: string } }) => [l.dir, l.error?.code ?? null])).toEqual([
      [WORKED, null],
      [missing, 'AC_ERR_MODEL_DIRECTORY'],
      [WORKED, null],
    ]);
    expect(mixed.stderr.trim().split('\n')).toHaveLength(1);
    expect(eac('solve', WORKED, WORKED, '--format', 'result-csv').code).toBe(2);
  });

  it('--help exits 0', () => {
    expect(eac('solve', '--help').code).toBe(0);
    expect(eac('--help').stdout).toContain('solve');
  });
});

describe('bad input: exit 2, one line, the file and line named', () => {
  it.each([
    ['a missing directory', () => [join(scratch, 'nope')], /nope/],
    ['a missing required file', () => [(() => { const d = brokenCopy('nobasic', 'basic.csv', ''); rmSync(join(d, 'basic.csv')); return d; })()], /basic\.csv/],
    ['a non-numeric cell', () => [brokenCopy('nan', 'basic.csv', 'dummy,a1,a2\nvm1,1,x\nvm2,1,1\nvm3,1, \n')], /basic\.csv:2/],
    ['maximum below basic', () => [brokenCopy('maxbelow', 'elastic.csv', 'dummy,a1,a2\nvm1,3,1\nvm2,2,2\nvm3,1, \n')], /elastic\.csv:2/],
    ['an unknown solver', () => [WORKED, '--solver', 'cplex'], /cplex/],
    ['a bad time limit', () => [WORKED, '--time-limit', '-3'], /time-limit|seconds/],
    ['an unknown format', () => [WORKED, '--format', 'yaml'], /yaml/],
  ])('%s', (_label, args, pattern) => {
    const r = eac('solve', ...(args() as string[]));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
  });

  it('an unknown command exits 2', () => {
    expect(eac('frobnicate').code).toBe(2);
  });
});
