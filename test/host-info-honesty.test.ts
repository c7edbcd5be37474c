/**
 * host-info tells the truth about its snapshots: how old the data is (time since the source last vouched for it), whether
 * it is served stale after failed refreshes or held back because the source answered an empty or much shorter list, and
 * when it is too old to serve at all. Remote providers against the stub servers of test/support/stubs.ts on 127.0.0.1,
 * the inventory against files in a scratch directory; time is an injected clock, so no assertion depends on timing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdmissionError } from '../model/errors';
import {
  createHostInfoProvider,
  HostSnapshotTooOldError,
  InventoryProvider,
  OpenNebulaProvider,
  PhysicalHostsProvider,
  type HostSnapshot,
  type RemoteConfig,
} from '../host-info';
import {
  answer,
  hostPoolXml,
  openNebulaHandler,
  physicalHostsXml,
  startStub,
  status,
  type OneHostSpec,
  type PhysicalHostSpec,
  type StubServer,
} from './support/stubs';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

async function errorOf(p: Promise<unknown> | (() => unknown)): Promise<AdmissionError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (error) {
    if (error instanceof AdmissionError) return error;
    throw error;
  }
  throw new Error('expected an AdmissionError, but nothing was thrown');
}

const fleet = (n: number, prefix = 'node'): PhysicalHostSpec[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${String(i + 1).padStart(3, '0')}`, maxCores: 16, usedCores: 2, maxMemoryInGigabytes: 64, freeMemoryInGigabytes: 32 }));

/** A PhysicalHosts stub whose answer is switched by setting `hosts` (or its handler). */
class PhysicalHostsSource {
  hosts: PhysicalHostSpec[] = fleet(320);
  constructor(readonly stub: StubServer) {}
  static async start(): Promise<PhysicalHostsSource> {
    const source: PhysicalHostsSource = new PhysicalHostsSource(await startStub((req, res, stub) => answer(physicalHostsXml(source.hosts))(req, res, stub)));
    return source;
  }
  get url(): string {
    return `${this.stub.url}/PhysicalHostsInfo`;
  }
  healthy(): void {
    this.stub.handler = (req, res, stub) => answer(physicalHostsXml(this.hosts))(req, res, stub);
  }
}

let clockNow = T0;
const clock = (): number => clockNow;

/** A PhysicalHosts stub per test, at T0, and a provider on it (cache 5 s, timeout 2 s unless overridden). */
function physicalHostsPerTest(): { readonly source: () => PhysicalHostsSource; readonly provider: (extra?: Partial<RemoteConfig>) => PhysicalHostsProvider } {
  let current: PhysicalHostsSource;
  beforeEach(async () => {
    clockNow = T0;
    current = await PhysicalHostsSource.start();
  });
  afterEach(() => current.stub.close());
  return {
    source: () => current,
    provider: (extra = {}) => new PhysicalHostsProvider({ kind: 'physical-hosts', url: current.url, timeoutMs: 2000, cacheTtlMs: 5000, ...extra }, { clock }),
  };
}

describe('remote snapshots: age, staleness and the maximum age', () => {
  const perTest = physicalHostsPerTest();
  const provider = perTest.provider;
  let source: PhysicalHostsSource;
  beforeEach(() => {
    source = perTest.source();
  });

  it('source fails: the last snapshot is served stale with its growing age and the failure, then refused past the maximum age', async () => {
    const p = provider(); // defaults: maxStaleMs 120 s, i.e. maximum age 125 s
    const first = await p.listHosts();
    expect(first).toHaveLength(320);
    expect(p.snapshotInfo(first)).toEqual({
      provider: 'physical-hosts',
      source: source.url,
      hosts: 320,
      readAt: iso(T0),
      ageMs: 0,
      cacheTtlMs: 5000,
      maxAgeMs: 125_000,
      fresh: true,
      stale: false,
      current: true,
    });

    clockNow = T0 + 2000; // within the cache time: same snapshot, the source is not asked
    expect(await p.listHosts()).toBe(first);
    expect(source.stub.requests).toHaveLength(1);
    expect(p.snapshotInfo(first)).toMatchObject({ ageMs: 2000, fresh: true, stale: false });

    source.stub.handler = status(503, 'down for maintenance');
    clockNow = T0 + 7000; // expired; the refresh fails: the old data is served, and says so
    expect(await p.listHosts()).toBe(first);
    expect(source.stub.requests).toHaveLength(2);
    const failure = `PhysicalHosts service ${source.url}: answered HTTP 503 Service Unavailable (down for maintenance)`;
    expect(p.snapshotInfo(first)).toEqual({
      provider: 'physical-hosts',
      source: source.url,
      hosts: 320,
      readAt: iso(T0),
      ageMs: 7000,
      cacheTtlMs: 5000,
      maxAgeMs: 125_000,
      fresh: false,
      stale: true,
      lastError: { code: 'AC_ERR_UPSTREAM', message: failure, at: iso(T0 + 7000) },
      current: true,
    });

    clockNow = T0 + 9000; // a failure less than the cache time ago: answered at once, the dead source is not asked
    expect(await p.listHosts()).toBe(first);
    expect(source.stub.requests).toHaveLength(2);

    clockNow = T0 + 67_000; // the age keeps growing: it is the age of the data, not of the last attempt
    expect(await p.listHosts()).toBe(first);
    expect(p.snapshotInfo(first)).toMatchObject({ ageMs: 67_000, stale: true, lastError: { at: iso(T0 + 67_000) } });
    expect(p.status()).toMatchObject({ ok: false, stale: true, hosts: 320, lastSuccessAt: iso(T0), ageMs: 67_000, maxAgeMs: 125_000 });

    await source.stub.down();
    clockNow = T0 + 125_000; // exactly the maximum age: still served
    expect(await p.listHosts()).toBe(first);
    // The first request after down() may meet the closed keep-alive socket (reset); later ones find the port closed.
    expect(p.snapshotInfo(first)!.lastError!.message).toMatch(/: connection (refused \(ECONNREFUSED\)|reset by the server \(ECONNRESET\))$/);

    clockNow = T0 + 125_001; // older than the maximum age and the source still fails: refused, saying how old and why
    const error = await errorOf(p.listHosts());
    expect(error).toBeInstanceOf(HostSnapshotTooOldError);
    expect(error.code).toBe('AC_ERR_HOST_INFO_STALE');
    expect(error.message).toBe(
      `PhysicalHosts service ${source.url}: the last good host list (320 hosts, read at ${iso(T0)}) is 125.001 s old, ` +
        'more than the maximum age of 125 s; refreshing failed: connection refused (ECONNREFUSED)',
    );
    expect(error.details).toEqual([
      { field: source.url, reason: 'last good host list is 125.001 s old (maximum 125 s)' },
      { field: source.url, reason: 'refreshing failed: connection refused (ECONNREFUSED)' },
    ]);
    const tooOld = error as HostSnapshotTooOldError;
    expect([tooOld.ageMs, tooOld.maxAgeMs, tooOld.readAt, tooOld.hosts]).toEqual([125_001, 125_000, iso(T0), 320]);
    expect(p.status()).toMatchObject({ ok: false, hosts: 320, ageMs: 125_001, lastError: { code: 'AC_ERR_UPSTREAM', at: iso(T0 + 125_001) } });

    // Back: new data, fresh; the old snapshot keeps what was true when it was last served.
    source.healthy();
    await source.stub.up();
    clockNow = T0 + 126_000;
    const next = await p.listHosts();
    expect(next).not.toBe(first);
    expect(p.snapshotInfo(next)).toMatchObject({ readAt: iso(T0 + 126_000), ageMs: 0, fresh: true, stale: false, current: true });
    expect(p.snapshotInfo(next)!.lastError).toBeUndefined();
    expect(p.snapshotInfo(first)).toMatchObject({ ageMs: 126_000, fresh: false, stale: true, current: false });
    expect(p.status()).toEqual({
      provider: 'physical-hosts',
      source: source.url,
      ok: true,
      stale: false,
      cacheTtlMs: 5000,
      maxAgeMs: 125_000,
      hosts: 320,
      lastSuccessAt: iso(T0 + 126_000),
      ageMs: 0,
    });
    // An array the provider never returned is unknown to it.
    expect(p.snapshotInfo([...next])).toBeUndefined();
  });

  it('answers the facts of the snapshot a caller holds, even when another caller refreshed in between', async () => {
    const p = provider({ cacheTtlMs: 0 });
    const a = await p.listHosts();
    source.stub.handler = status(500, 'boom');
    clockNow = T0 + 1000;
    const b = await p.listHosts(); // stale
    expect(b).toBe(a);
    source.healthy();
    clockNow = T0 + 2000;
    const c = await p.listHosts(); // someone else's refresh: new data
    expect(c).not.toBe(a);
    // The holder of `a` (served stale at T0 + 1000) still learns that it ran on stale data, 2 s old by now.
    expect(p.snapshotInfo(a)).toMatchObject({ stale: true, fresh: false, current: false, ageMs: 2000, lastError: { at: iso(T0 + 1000) } });
    expect(p.snapshotInfo(c)).toMatchObject({ stale: false, fresh: true, current: true, ageMs: 0 });
  });

  it('maxStaleMs 0: no stale serving at all, and the refusal still says how old the data is', async () => {
    const p = provider({ cacheTtlMs: 1000, maxStaleMs: 0 });
    await p.listHosts();
    source.stub.handler = status(502, 'bad gateway');
    clockNow = T0 + 1000;
    const error = await errorOf(p.listHosts());
    expect(error).toBeInstanceOf(HostSnapshotTooOldError);
    expect(error.message).toBe(
      `PhysicalHosts service ${source.url}: the last good host list (320 hosts, read at ${iso(T0)}) is 1 s old, more than the maximum age of 1 s; ` +
        'refreshing failed: answered HTTP 502 Bad Gateway (bad gateway)',
    );
  });
});

describe('remote snapshots: empty and much shorter answers are held back', () => {
  const perTest = physicalHostsPerTest();
  const provider = perTest.provider;
  let source: PhysicalHostsSource;
  beforeEach(() => {
    source = perTest.source();
  });

  it('zero hosts after a good answer: the previous snapshot is served, marked suspect, never replaced, then refused past the maximum age', async () => {
    const p = provider();
    const first = await p.listHosts();
    source.hosts = [];
    clockNow = T0 + 5000;
    expect(await p.listHosts()).toBe(first);
    const suspect = {
      reason: 'PhysicalHosts service answered 0 hosts, previously 320',
      answeredHosts: 0,
      previousHosts: 320,
      since: iso(T0 + 5000),
      answers: 1,
    };
    expect(p.snapshotInfo(first)).toEqual({
      provider: 'physical-hosts',
      source: source.url,
      hosts: 320,
      readAt: iso(T0),
      ageMs: 5000,
      cacheTtlMs: 5000,
      maxAgeMs: 125_000,
      fresh: false,
      stale: false,
      suspect,
      current: true,
    });
    expect(p.status()).toEqual({
      provider: 'physical-hosts',
      source: source.url,
      ok: false,
      stale: false,
      cacheTtlMs: 5000,
      maxAgeMs: 125_000,
      hosts: 320,
      lastSuccessAt: iso(T0),
      ageMs: 5000,
      suspect,
    });

    // The source keeps answering nothing, every cache period: never believed (no acceptAt), the data ages.
    for (let t = 10_000; t <= 125_000; t += 5000) {
      clockNow = T0 + t;
      expect(await p.listHosts()).toBe(first);
    }
    expect(source.stub.requests).toHaveLength(1 + 25);
    expect(p.snapshotInfo(first)).toMatchObject({ ageMs: 125_000, suspect: { ...suspect, answers: 25 } });
    expect(p.snapshotInfo(first)!.suspect!.acceptAt).toBeUndefined();

    clockNow = T0 + 130_000;
    const error = await errorOf(p.listHosts());
    expect(error).toBeInstanceOf(HostSnapshotTooOldError);
    expect(error.message).toBe(
      `PhysicalHosts service ${source.url}: the last good host list (320 hosts, read at ${iso(T0)}) is 130 s old, more than the maximum age of 125 s; ` +
        `PhysicalHosts service answered 0 hosts, previously 320, since ${iso(T0 + 5000)} (26 answers), and an empty host list is never believed`,
    );

    // A plausible list again (300 of 320: 6 % fewer) is believed at once, and the suspicion ends.
    source.hosts = fleet(300);
    clockNow = T0 + 131_000;
    const back = await p.listHosts();
    expect(back).toHaveLength(300);
    expect(p.snapshotInfo(back)).toMatchObject({ fresh: true, ageMs: 0, hosts: 300 });
    expect(p.status()).toMatchObject({ ok: true, hosts: 300 });
    expect(p.status().suspect).toBeUndefined();
  });

  it('a drop of more than half the hosts is held back; a plausible answer ends the run; a persisting one is believed after 60 s and reported once', async () => {
    const p = provider();
    const first = await p.listHosts();

    source.hosts = fleet(100);
    clockNow = T0 + 5000;
    expect(await p.listHosts()).toBe(first);
    expect(p.snapshotInfo(first)!.suspect).toEqual({
      reason: 'PhysicalHosts service answered 100 hosts, previously 320: more than 50 % fewer',
      answeredHosts: 100,
      previousHosts: 320,
      since: iso(T0 + 5000),
      answers: 1,
      acceptAt: iso(T0 + 65_000),
    });

    // The full list comes back: believed, and the run of suspicious answers is over.
    source.hosts = fleet(320);
    clockNow = T0 + 10_000;
    const again = await p.listHosts();
    expect(again).toHaveLength(320);
    expect(p.snapshotInfo(again)).toMatchObject({ fresh: true, readAt: iso(T0 + 10_000) });
    expect(p.status().suspect).toBeUndefined();

    // The shorter list again: a new run, from this answer.
    source.hosts = fleet(100);
    clockNow = T0 + 15_000;
    expect(await p.listHosts()).toBe(again);
    expect(p.status().suspect).toMatchObject({ since: iso(T0 + 15_000), answers: 1, acceptAt: iso(T0 + 75_000) });

    // A failed read in the middle neither ends the run nor counts in it; the data is both stale and suspect.
    source.stub.handler = status(503);
    clockNow = T0 + 20_000;
    expect(await p.listHosts()).toBe(again);
    expect(p.snapshotInfo(again)).toMatchObject({ stale: true, fresh: false, ageMs: 10_000, suspect: { since: iso(T0 + 15_000), answers: 1 } });
    source.healthy();

    for (let t = 25_000; t <= 70_000; t += 5000) {
      clockNow = T0 + t;
      expect(await p.listHosts()).toBe(again);
    }
    expect(p.snapshotInfo(again)).toMatchObject({ stale: false, ageMs: 60_000, suspect: { answers: 11, since: iso(T0 + 15_000) } });

    clockNow = T0 + 75_000; // persisted for 60 s: believed, and the record of the run goes with the new snapshot
    const shrunk = await p.listHosts();
    expect(shrunk).toHaveLength(100);
    const accepted = {
      reason: 'PhysicalHosts service answered 100 hosts, previously 320: more than 50 % fewer',
      answeredHosts: 100,
      previousHosts: 320,
      since: iso(T0 + 15_000),
      answers: 12,
      acceptAt: iso(T0 + 75_000),
    };
    expect(p.snapshotInfo(shrunk)).toMatchObject({ hosts: 100, fresh: true, ageMs: 0, accepted, current: true });
    expect(p.status()).toMatchObject({ ok: true, hosts: 100, accepted });
    expect(p.status().suspect).toBeUndefined();

    // The next answer is an ordinary one: the acceptance was reported on one snapshot only.
    clockNow = T0 + 80_000;
    const after = await p.listHosts();
    expect(after).not.toBe(shrunk);
    expect(p.snapshotInfo(after)!.accepted).toBeUndefined();
    expect(p.status().accepted).toBeUndefined();
  });

  it('the share is a bound: 320 → 160 is believed at once, 160 → 79 is held back', async () => {
    const p = provider();
    await p.listHosts();
    source.hosts = fleet(160);
    clockNow = T0 + 5000;
    expect(await p.listHosts()).toHaveLength(160);
    expect(p.status()).toMatchObject({ ok: true, hosts: 160 });
    source.hosts = fleet(79);
    clockNow = T0 + 10_000;
    expect(await p.listHosts()).toHaveLength(160);
    expect(p.status().suspect!.reason).toBe('PhysicalHosts service answered 79 hosts, previously 160: more than 50 % fewer');
  });

  it('maxShrink and shrinkConfirmMs are configurable; shrinkConfirmMs 0 believes at once but still reports it', async () => {
    const strict = provider({ maxShrink: 0.2, shrinkConfirmMs: 10_000 });
    await strict.listHosts();
    source.hosts = fleet(255); // 20.3 % fewer
    clockNow = T0 + 5000;
    expect(await strict.listHosts()).toHaveLength(320);
    expect(strict.status().suspect).toMatchObject({
      reason: 'PhysicalHosts service answered 255 hosts, previously 320: more than 20 % fewer',
      acceptAt: iso(T0 + 15_000),
    });
    clockNow = T0 + 10_000;
    expect(await strict.listHosts()).toHaveLength(320);
    clockNow = T0 + 15_000;
    expect(await strict.listHosts()).toHaveLength(255);
    expect(strict.status()).toMatchObject({ ok: true, accepted: { answers: 3, since: iso(T0 + 5000) } });

    clockNow = T0;
    source.hosts = fleet(320);
    const immediate = provider({ shrinkConfirmMs: 0 });
    await immediate.listHosts();
    source.hosts = fleet(10);
    clockNow = T0 + 5000;
    const ten = await immediate.listHosts();
    expect(ten).toHaveLength(10);
    expect(immediate.snapshotInfo(ten)).toMatchObject({ fresh: true, accepted: { answeredHosts: 10, previousHosts: 320, answers: 1 } });

    // Even with maxShrink 1 (no shrink is held back) an empty answer is.
    clockNow = T0;
    source.hosts = fleet(320);
    const lax = provider({ maxShrink: 1 });
    await lax.listHosts();
    source.hosts = fleet(1);
    clockNow = T0 + 5000;
    expect(await lax.listHosts()).toHaveLength(1);
    source.hosts = [];
    clockNow = T0 + 10_000;
    expect(await lax.listHosts()).toHaveLength(1);
    expect(lax.status().suspect!.reason).toBe('PhysicalHosts service answered 0 hosts, previously 1');
  });

  it('a first answer with no hosts is an error, reported in status(), until the source lists hosts', async () => {
    source.hosts = [];
    const p = provider();
    const error = await errorOf(p.listHosts());
    expect(error.code).toBe('AC_ERR_UPSTREAM');
    expect(error.message).toBe(
      `PhysicalHosts service ${source.url}: answered 0 hosts: there is no capacity to offer (an empty host list is never taken as the truth)`,
    );
    expect(p.status()).toEqual({
      provider: 'physical-hosts',
      source: source.url,
      ok: false,
      stale: false,
      cacheTtlMs: 5000,
      maxAgeMs: 125_000,
      lastError: { code: 'AC_ERR_UPSTREAM', message: error.message, at: iso(T0) },
    });
    // Nothing to fall back on: the source is asked again at once.
    clockNow = T0 + 1000;
    expect((await errorOf(p.listHosts())).message).toBe(error.message);
    expect(source.stub.requests).toHaveLength(2);
    source.hosts = fleet(3);
    clockNow = T0 + 2000;
    expect(await p.listHosts()).toHaveLength(3);
    expect(p.status()).toMatchObject({ ok: true, hosts: 3 });
  });

  it('rejects bad guard settings with AC_ERR_CONFIG', async () => {
    const bad = async (extra: Record<string, unknown>): Promise<string> =>
      (await errorOf(() => createHostInfoProvider({ kind: 'physical-hosts', url: source.url, timeoutMs: 100, cacheTtlMs: 0, ...extra } as never))).message;
    expect(await bad({ maxShrink: 1.5 })).toBe('physical-hosts: maxShrink must be a share between 0 and 1');
    expect(await bad({ maxShrink: '0.5' })).toBe('physical-hosts: maxShrink must be a share between 0 and 1');
    expect(await bad({ shrinkConfirmMs: -1 })).toBe('physical-hosts: shrinkConfirmMs must be a number of ms ≥ 0');
    expect(await bad({ maxStaleMs: Number.NaN })).toBe('physical-hosts: maxStaleMs must be a number of ms ≥ 0');
  });
});

describe('OpenNebula: hosts that become unusable count as gone, with the reason', () => {
  const AUTH = 'oneadmin:v3ry-s3cret';
  let pool: OneHostSpec[];
  let one: StubServer;
  const host = (id: number, state: number): OneHostSpec => ({
    id,
    name: `kvm-${id}`,
    state,
    maxCpu: 800,
    cpuUsage: 100,
    maxMem: 16 * 1024 * 1024,
    memUsage: 1024 * 1024,
  });
  beforeEach(async () => {
    clockNow = T0;
    pool = [host(1, 2), host(2, 2), host(3, 2), host(4, 2)];
    one = await startStub(openNebulaHandler(() => hostPoolXml(pool)));
  });
  afterEach(() => one.close());
  const provider = (): OpenNebulaProvider =>
    new OpenNebulaProvider({ kind: 'opennebula', url: `${one.url}/RPC2`, auth: AUTH, timeoutMs: 2000, cacheTtlMs: 5000 }, { clock });

  it('3 of 4 hosts in ERROR: held back, the reason lists them; nothing usable at first: an error naming the skipped hosts', async () => {
    const p = provider();
    const first = await p.listHosts();
    expect(first.map((h) => h.id)).toEqual(['kvm-1', 'kvm-2', 'kvm-3', 'kvm-4']);
    pool = [host(1, 2), host(2, 3), host(3, 3), host(4, 5)];
    clockNow = T0 + 5000;
    expect(await p.listHosts()).toBe(first);
    expect(p.snapshotInfo(first)!.suspect).toEqual({
      reason:
        'OpenNebula answered 1 host, previously 4: more than 50 % fewer ' +
        '(skipped 3 hosts not usable in their state: kvm-2 (ERROR), kvm-3 (ERROR), kvm-4 (MONITORING_ERROR))',
      answeredHosts: 1,
      previousHosts: 4,
      since: iso(T0 + 5000),
      answers: 1,
      acceptAt: iso(T0 + 65_000),
    });

    pool = [host(1, 4), host(2, 3)];
    const fresh = provider();
    const error = await errorOf(fresh.listHosts());
    expect(error.code).toBe('AC_ERR_UPSTREAM');
    expect(error.message).toBe(
      `OpenNebula ${one.url}/RPC2: answered 0 hosts (skipped 2 hosts not usable in their state: kvm-1 (DISABLED), kvm-2 (ERROR)): ` +
        'there is no capacity to offer (an empty host list is never taken as the truth)',
    );
    expect(JSON.stringify([error, fresh.status(), p.status(), p.snapshotInfo(first)])).not.toContain('s3cret');
  });
});

describe('inventory file: the same rules for an edit to empty or to far fewer hosts', () => {
  let dir = '';
  let n = 0;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'host-info-honesty-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    clockNow = T0;
  });

  const hosts = (count: number): { id: string; cpus: number; usedCpus: number }[] =>
    Array.from({ length: count }, (_, i) => ({ id: `h${i + 1}`, cpus: 16, usedCpus: 1 }));
  /** Writes the file with mtime `at` (on the test clock), so that "when the file changed" is under the test's control. */
  const write = (file: string, count: number, at: number): void => {
    fs.writeFileSync(file, JSON.stringify({ hosts: hosts(count) }));
    fs.utimesSync(file, new Date(at), new Date(at));
  };
  const newFile = (): string => path.join(dir, `inventory-${++n}.json`);

  it('edited to zero hosts: the previous contents are served, marked suspect, for at most maxStaleMs after the file last vouched for them', async () => {
    const file = newFile();
    write(file, 10, T0 - 60_000);
    const p = new InventoryProvider(file, { statIntervalMs: 0, clock });
    const first = await p.listHosts();
    expect(first).toHaveLength(10);
    expect(p.snapshotInfo(first)).toMatchObject({ readAt: iso(T0), ageMs: 0, fresh: true, cacheTtlMs: 0, maxAgeMs: 120_000 });

    clockNow = T0 + 4000; // unchanged: checked again, the file vouches for it
    expect(await p.listHosts()).toBe(first);
    expect(p.snapshotInfo(first)).toMatchObject({ readAt: iso(T0 + 4000), ageMs: 0 });

    write(file, 0, T0 + 5000); // emptied at T0 + 5 s, noticed at T0 + 8 s: the old contents were true until T0 + 5 s
    clockNow = T0 + 8000;
    expect(await p.listHosts()).toBe(first);
    const suspect = { reason: 'the inventory file lists 0 hosts, previously 10', answeredHosts: 0, previousHosts: 10, since: iso(T0 + 8000), answers: 1 };
    expect(p.snapshotInfo(first)).toEqual({
      provider: 'inventory',
      source: file,
      hosts: 10,
      readAt: iso(T0 + 5000),
      ageMs: 3000,
      cacheTtlMs: 0,
      maxAgeMs: 120_000,
      fresh: false,
      stale: false,
      suspect,
      current: true,
    });
    expect(p.status()).toMatchObject({ ok: false, hosts: 10, ageMs: 3000, suspect });

    clockNow = T0 + 125_000; // 120 s after the file last vouched: still served (an unchanged file counts as one answer)
    expect(await p.listHosts()).toBe(first);
    expect(p.status().suspect).toEqual(suspect);

    clockNow = T0 + 125_001;
    const error = await errorOf(p.listHosts());
    expect(error).toBeInstanceOf(HostSnapshotTooOldError);
    expect(error.code).toBe('AC_ERR_CONFIG');
    expect(error.message).toBe(
      `${file}: the last good host list (10 hosts, read at ${iso(T0 + 5000)}) is 120.001 s old, more than the maximum age of 120 s; ` +
        `the inventory file lists 0 hosts, previously 10, since ${iso(T0 + 8000)} (1 answer), and an empty host list is never believed`,
    );

    write(file, 10, T0 + 130_000); // fixed
    clockNow = T0 + 130_000;
    const fixed = await p.listHosts();
    expect(fixed).toHaveLength(10);
    expect(p.status()).toMatchObject({ ok: true, hosts: 10, ageMs: 0 });
    expect(p.status().suspect).toBeUndefined();
  });

  it('edited to far fewer hosts: held back, then believed once the file has kept it for shrinkConfirmMs', async () => {
    const file = newFile();
    write(file, 10, T0 - 60_000);
    const p = new InventoryProvider({ path: file, shrinkConfirmMs: 30_000 }, { statIntervalMs: 0, clock });
    const first = await p.listHosts();

    write(file, 4, T0 + 1000); // 60 % fewer
    clockNow = T0 + 1000;
    expect(await p.listHosts()).toBe(first);
    expect(p.status().suspect).toEqual({
      reason: 'the inventory file lists 4 hosts, previously 10: more than 50 % fewer',
      answeredHosts: 4,
      previousHosts: 10,
      since: iso(T0 + 1000),
      answers: 1,
      acceptAt: iso(T0 + 31_000),
    });
    clockNow = T0 + 30_999;
    expect(await p.listHosts()).toBe(first);

    clockNow = T0 + 31_000; // the unchanged file has said so for 30 s: believed
    const four = await p.listHosts();
    expect(four).toHaveLength(4);
    expect(p.snapshotInfo(four)).toMatchObject({ fresh: true, accepted: { answeredHosts: 4, previousHosts: 10, since: iso(T0 + 1000), answers: 1 } });
    expect(p.status()).toMatchObject({ ok: true, hosts: 4 });

    clockNow = T0 + 32_000; // and then simply the file's contents
    expect(await p.listHosts()).toBe(four);
    expect(p.snapshotInfo(four)).toMatchObject({ readAt: iso(T0 + 32_000), ageMs: 0 });

    // A growth is always believed at once.
    write(file, 12, T0 + 33_000);
    clockNow = T0 + 33_000;
    expect(await p.listHosts()).toHaveLength(12);
  });

  it('a first file with no hosts is an error (AC_ERR_CONFIG), reported in status()', async () => {
    const file = newFile();
    write(file, 0, T0 - 1000);
    const p = createHostInfoProvider({ kind: 'inventory', path: file });
    const error = await errorOf(p.listHosts());
    expect(error.code).toBe('AC_ERR_CONFIG');
    expect(error.message).toBe(`${file}: hosts: must list at least one host`);
    expect(p.status!()).toMatchObject({ ok: false, lastError: { code: 'AC_ERR_CONFIG', message: error.message } });
    expect(p.status!().hosts).toBeUndefined();
  });

  it('an invalid edit is still reported at once, never covered by the old contents', async () => {
    const file = newFile();
    write(file, 10, T0 - 60_000);
    const p = new InventoryProvider(file, { statIntervalMs: 0, clock });
    const first: HostSnapshot = await p.listHosts();
    fs.writeFileSync(file, '{"hosts": [');
    fs.utimesSync(file, new Date(T0 + 1000), new Date(T0 + 1000));
    clockNow = T0 + 1000;
    expect((await errorOf(p.listHosts())).message).toBe(`${file}: not valid JSON at line 1, column 12: unexpected end of file, expected a value`);
    expect(p.status()).toMatchObject({ ok: false, hosts: 10, lastError: { code: 'AC_ERR_CONFIG' } });
    expect(p.snapshotInfo(first)).toMatchObject({ current: true, fresh: true });
  });

  it('rejects bad guard settings with AC_ERR_CONFIG', async () => {
    expect((await errorOf(() => new InventoryProvider({ path: 'x.json', maxShrink: -0.1 }))).message).toBe('inventory: maxShrink must be a share between 0 and 1');
    expect((await errorOf(() => createHostInfoProvider({ kind: 'inventory', path: 'x.json', maxStaleMs: -5 }))).message).toBe(
      'inventory: maxStaleMs must be a number of ms ≥ 0',
    );
  });
});
