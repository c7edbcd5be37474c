/** Ledgers for tests: a real SQLite ledger in a temp dir, usable at once from synchronous set-up code. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openLedger } from '../../ledger';
import type { Ledger } from '../../ledger/types';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../../model/types';

/**
 * A ledger whose every method waits for the database to open first (all Ledger methods are async), so describe-level
 * code can build services with it; `cleanup` closes it and removes its directory.
 */
export function tempLedger(clock?: () => number): { ledger: Ledger; cleanup: () => Promise<void> } {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-ledger-'));
  const opened = openLedger({ dataDir, defaultWeights: DEFAULT_WEIGHTS, defaultConstraints: DEFAULT_CONSTRAINTS, ...(clock ? { clock } : {}) });
  const ledger = new Proxy({} as Ledger, {
    get: (_t, prop: string) => (prop === 'kind' ? 'sqlite' : prop === 'then' ? undefined : (...args: unknown[]) => opened.then((l) => (l as unknown as Record<string, (...a: unknown[]) => unknown>)[prop]!(...args))),
  });
  return {
    ledger,
    cleanup: async () => {
      await (await opened).close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
