/**
 * The bench runner's frame: --sizes known per section (an unknown id refuses to run and lists them; BENCHMARKS.md is
 * not touched) and the progress estimate read back from a previous report's per-section markers.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { durationMarker, formatSeconds, previousDurations, remainingEstimate } from '../bench/progress';
import { SECTIONS, runBench } from '../bench/run';

describe('bench progress', () => {
  it('reads back the durations its own markers record, and ignores a report without them', () => {
    const report = `## A\n\n${durationMarker('heuristic', 95.4)}\n\n## B\n\n${durationMarker('http', 130)}\n`;
    expect([...previousDurations(report)]).toEqual([
      ['heuristic', 95],
      ['http', 130],
    ]);
    expect(previousDurations('# Benchmarks\n(took 573 s)').size).toBe(0);
    expect(previousDurations(undefined).size).toBe(0);
  });

  it('estimates what is left from the sections not finished, counting never-timed sections as unknown', () => {
    const sections = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    const estimates = new Map([
      ['a', 100],
      ['c', 40],
    ]);
    expect(remainingEstimate(sections, 0, 30, estimates)).toEqual({ seconds: 70 + 40, unknown: 1 });
    // A section running longer than last time contributes nothing rather than a negative time.
    expect(remainingEstimate(sections, 0, 250, estimates)).toEqual({ seconds: 40, unknown: 1 });
    expect(remainingEstimate(sections, 2, 10, estimates)).toEqual({ seconds: 30, unknown: 0 });
    expect(formatSeconds(59.4)).toBe('59 s');
    expect(formatSeconds(125)).toBe('2 min 05 s');
  });
});

describe('bench --sizes', () => {
  let dir: string;
  let stderr: jest.SpyInstance;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'eac-bench-'));
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    stderr.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every section with sizes declares unique ids, and the ledger section takes its reservation counts', () => {
    const ledger = SECTIONS.find((s) => s.id === 'ledger')!;
    expect(ledger.sizeIds).toEqual(['1000', '10000', '100000']);
    for (const section of SECTIONS.filter((s) => s.sizeIds)) expect(new Set(section.sizeIds).size).toBe(section.sizeIds!.length);
    expect(SECTIONS.find((s) => s.id === 'components')!.sizeIds).toContain('1000-forbidden-tight');
    expect(SECTIONS.find((s) => s.id === 'exact')!.sizeIds).toContain('highs-20x5-5000-tight');
  });

  it('refuses an id no selected section knows, lists the known ones, and leaves the report alone', async () => {
    const out = path.join(dir, 'BENCHMARKS.md');
    writeFileSync(out, 'previous report\n');
    const code = await runBench(['node', 'run.js', '--sizes', '1000,no-such-size', '--out', out]);
    expect(code).toBe(2);
    const printed = stderr.mock.calls.map((c) => String(c[0])).join('');
    expect(printed).toContain('unknown size(s): no-such-size');
    expect(printed).toContain('ledger: 1000, 10000, 100000');
    expect(readFileSync(out, 'utf8')).toBe('previous report\n');
    // A size of another section is unknown once --sections leaves that section out.
    expect(await runBench(['node', 'run.js', '--sections', 'heuristic', '--sizes', '1000', '--out', out])).toBe(2);
    expect(existsSync(out)).toBe(true);
  });
});
