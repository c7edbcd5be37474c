/**
 * Builds dist/ once before the suite: some tests start the real CLI and server processes from it.
 * Type errors do not stop the emit (the build itself fails on them in `npm ci`), so they are only reported here.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

module.exports = async () => {
  const root = path.join(__dirname, '..');
  const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`\n[global-setup] tsc reported errors (dist/ emitted anyway):\n${r.stdout}${r.stderr}\n`);
};
