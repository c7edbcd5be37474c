/**
 * The catalogue parser on arbitrary input (fast-check): mutations of the shipped example and random text either load
 * or are refused as AC_ERR_CONFIG whose every detail names the file (and a line when the YAML has one) — never another
 * exception, never a hang.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parseCatalogue } from '../charging/catalogue';
import { AdmissionError } from '../model/errors';

const EXAMPLE = fs.readFileSync(path.join(__dirname, '..', 'examples', 'charging.yaml'), 'utf8');
const LINES = EXAMPLE.split('\n');

function judged(text: string): 'loaded' | 'refused' {
  try {
    parseCatalogue(text, 'fuzz.yaml');
    return 'loaded';
  } catch (error) {
    if (!(error instanceof AdmissionError)) throw error;
    expect(error.code).toBe('AC_ERR_CONFIG');
    expect(error.details.length).toBeGreaterThan(0);
    for (const d of error.details) expect(d.field).toMatch(/^fuzz\.yaml(:\d+)?( |$)/);
    return 'refused';
  }
}

const token = fc.oneof(fc.constantFrom('-1', '0', '1e309', 'null', 'true', '[]', '{}', '"x"', '&a', '*a', '<<: *a', 'yes', '25:00-99:00', '2027-13-45', 'nodejs@>=', '!'), fc.string({ maxLength: 12 }));

describe('the catalogue parser never crashes', () => {
  it('on mutations of the example: a line dropped, duplicated, or a value replaced', () => {
    const seen = { loaded: 0, refused: 0 };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(LINES.length - 1), fc.constantFrom('drop', 'dup', 'value', 'indent'), token), { minLength: 1, maxLength: 4 }), (edits) => {
        const lines = [...LINES];
        for (const [i, kind, t] of edits) {
          const at = i % lines.length;
          if (kind === 'drop') lines.splice(at, 1);
          else if (kind === 'dup') lines.splice(at, 0, lines[at]!);
          else if (kind === 'indent') lines[at] = ` ${lines[at]}`;
          else lines[at] = lines[at]!.replace(/:\s*\S.*$/, `: ${t}`);
        }
        seen[judged(lines.join('\n'))]++;
      }),
      { numRuns: 400, seed: 20261203 },
    );
    // Both outcomes occur: the mutations reach the semantic checks, not only the YAML reader.
    expect(seen.loaded).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });

  it('on random text and YAML-shaped noise', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.array(fc.tuple(fc.string({ maxLength: 8 }), token), { maxLength: 12 }).map((kv) => kv.map(([k, v]) => `${k}: ${v}`).join('\n'))), (text) => {
        judged(text);
      }),
      { numRuns: 400, seed: 20261204 },
    );
  });

  it('refuses alias bombs and oversized files as AC_ERR_CONFIG', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`)].join('\n');
    expect(judged(bomb)).toBe('refused');
    expect(judged(`# ${'x'.repeat(1 << 20)}\n${EXAMPLE}`)).toBe('refused');
  });
});
