/** XSD validation of manifests with xmllint (Debian's libxml2-utils) against the OPTIMIS 1.0.8 schemas. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SCHEMA = path.join(__dirname, '..', 'fixtures', 'schema', 'wrapper.xsd');
let tmpDir: string | undefined;
let count = 0;

/** Runs xmllint. Fails loudly when xmllint is missing: these checks must not be skipped. */
export function xsd(xml: string): { valid: boolean; output: string } {
  const probe = spawnSync('xmllint', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(
      'xmllint is not installed, and the XSD validation tests need it. Install it with: apt-get install -y libxml2-utils (Debian/Ubuntu package libxml2-utils).',
    );
  }
  tmpDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'xsd-'));
  const file = path.join(tmpDir, `doc-${process.pid}-${++count}.xml`);
  fs.writeFileSync(file, xml);
  const r = spawnSync('xmllint', ['--noout', '--nonet', '--schema', SCHEMA, file], { encoding: 'utf8' });
  fs.rmSync(file, { force: true });
  return { valid: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

export function expectXsdValid(xml: string): void {
  const r = xsd(xml);
  if (!r.valid) throw new Error(`the document does not validate against the OPTIMIS XSDs:\n${r.output}`);
}
