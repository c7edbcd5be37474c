/**
 * PostgresLedger: the conformance suite on a throwaway cluster (test/support/postgres.ts), a fresh database per case
 * copied from a migrated template; then what only PostgreSQL has (see the second half of this file).
 */
import { PostgresLedger, type PostgresLedgerOptions } from '../../ledger/postgres/postgres-ledger';
import { migrate } from '../../ledger/postgres/migrations';
import { describePostgres, PostgresCluster } from '../support/postgres';
import { CONFORMANCE_OPTIONS, T0, freeCapacityThresholdCase, ledgerConformance } from './conformance';
import { ManualClock } from './manual-clock';

describePostgres('PostgresLedger', () => {
  let cluster: PostgresCluster;
  let template = '';
  beforeAll(async () => {
    // The conformance suite never crashes the server: fsync = off saves time (the durability tests below use a cluster with default settings).
    cluster = await PostgresCluster.start({ fsync: false });
    const url = await cluster.createDatabase();
    await migrate(url);
    template = new URL(url).pathname.slice(1);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  function options(databaseUrl: string, clock: ManualClock, extra: Partial<PostgresLedgerOptions> = {}): PostgresLedgerOptions {
    return { ...CONFORMANCE_OPTIONS, databaseUrl, clock: clock.fn, requireDurable: false, poolSize: 4, ...extra };
  }

  ledgerConformance('postgres', async () => {
    const url = await cluster.createDatabase(template);
    const clock = new ManualClock(T0);
    let ledger = await PostgresLedger.open(options(url, clock));
    const others: PostgresLedger[] = [];
    return {
      ledger,
      clock,
      async reopen() {
        await ledger.close();
        ledger = await PostgresLedger.open(options(url, clock));
        return ledger;
      },
      async second() {
        const l = await PostgresLedger.open(options(url, clock));
        others.push(l);
        return l;
      },
      async cleanup() {
        await ledger.close();
        for (const o of others) await o.close();
        await cluster.dropDatabase(url);
      },
    };
  });

  freeCapacityThresholdCase(async (thresholds) => {
    const url = await cluster.createDatabase(template);
    const clock = new ManualClock(T0);
    const withThresholds = options(url, clock, { freeCapacityThresholds: thresholds });
    return { clock, a: await PostgresLedger.open(withThresholds), b: await PostgresLedger.open(withThresholds), cleanup: () => cluster.dropDatabase(url) };
  });
});
