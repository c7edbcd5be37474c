/**
 * The host part of the admission model: capacity after reservations, TREC values, risk order, labels; and the memo that
 * lets the gateway reuse it between admissions (and the validator's memo of frozen host lists that rides on it).
 */
import { buildAdmissionModel, buildHostModel, HostModelMemo, type BuildModelInput, type HostInput } from '../trec-analyzer/build-model';
import { checkModel } from '../model/validate';
import { freezeSnapshot } from '../host-info/types';
import type { Host } from '../model/types';

const snapshot = (hosts: HostInput[]): readonly HostInput[] => freezeSnapshot(hosts.map((h) => ({ ...h })));

const fleet = snapshot([
  { id: 'a', cpus: 16, usedCpus: 2, memoryMb: 65536, usedMemoryMb: 1024, risk: 0.05 },
  { id: 'b', cpus: 8, usedCpus: 8, risk: 0.01 },
  { id: 'c', cpus: 32, usedCpus: 0, eco: 4.5 },
  { id: 'd', cpus: 4, usedCpus: 1, risk: 0.05 },
]);

const modelInput = (over: Partial<BuildModelInput> = {}): BuildModelInput => ({
  hosts: fleet,
  services: [
    {
      id: 's1',
      federationAllowed: true,
      availability: 0.99,
      components: [{ id: 'web', basic: 1, maxVms: 2, vcpus: 2, availability: 0.9, affinity: 0, antiAffinity: 0 }],
      rules: [],
      constraints: { eco: 0, trust: 0, risk: 1, cost: 1e9 },
    },
  ],
  serviceTrec: new Map(),
  weights: { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 },
  defaultGain: 100,
  fallbackTrec: { trust: 5, risk: 0.001, eco: 3 },
  ...over,
});

describe('buildHostModel', () => {
  it('orders by ascending risk (no risk counts as 0, ties keep the provider order), labels ph1…, subtracts reservations', () => {
    const hosts = buildHostModel({ hosts: fleet, reserved: new Map([['a', { cpus: 4, memoryMb: 2048 }], ['d', { cpus: 9, memoryMb: 0 }]]) });
    expect(hosts).toEqual<Host[]>([
      { id: 'c', label: 'ph1', cpus: 32, usedCpus: 0, eco: 4.5 },
      { id: 'b', label: 'ph2', cpus: 8, usedCpus: 8, eco: 4, risk: 0.01 },
      { id: 'a', label: 'ph3', cpus: 16, usedCpus: 6, freeMemoryMb: 65536 - 1024 - 2048, eco: 3, risk: 0.05 },
      // More reserved than free (another process, a shrunk host): used is capped at the total.
      { id: 'd', label: 'ph4', cpus: 4, usedCpus: 4, eco: 6, risk: 0.05 },
    ]);
    expect(Object.isFrozen(hosts) && hosts.every((h) => Object.isFrozen(h))).toBe(true);
  });

  it('host TREC values override the inventory; ignoreUsage (cleanTestbed) empties every host and ignores reservations', () => {
    const hosts = buildHostModel({
      hosts: fleet,
      reserved: new Map([['a', { cpus: 4, memoryMb: 2048 }]]),
      hostTrec: new Map([['c', { risk: 0.5, eco: 1 }]]),
      ignoreUsage: true,
    });
    expect(hosts.map((h) => [h.id, h.usedCpus, h.freeMemoryMb, h.risk, h.eco])).toEqual([
      ['b', 0, undefined, 0.01, 4],
      ['a', 0, 65536, 0.05, 3],
      ['d', 0, undefined, 0.05, 6],
      ['c', 0, undefined, 0.5, 1],
    ]);
  });
});

describe('HostModelMemo', () => {
  it('returns the same frozen host list while snapshot, reservations and host TREC values are equal', () => {
    const memo = new HostModelMemo();
    const first = memo.build({ hosts: fleet, reserved: new Map([['a', { cpus: 1, memoryMb: 0 }]]) });
    expect(memo.build({ hosts: fleet, reserved: new Map([['a', { cpus: 1, memoryMb: 0 }]]) })).toBe(first);
    // Empty and absent maps are the same thing.
    const empty = memo.build({ hosts: fleet, reserved: new Map() });
    expect(memo.build({ hosts: fleet })).toBe(empty);
    expect(memo.build({ hosts: fleet, hostTrec: new Map() })).toBe(empty);
  });

  it('rebuilds when anything that shapes the hosts changes', () => {
    const memo = new HostModelMemo();
    const base = memo.build({ hosts: fleet, reserved: new Map([['a', { cpus: 1, memoryMb: 0 }]]) });
    const changes: [string, Parameters<HostModelMemo['build']>[0], (hosts: readonly Host[]) => unknown, unknown][] = [
      ['a new snapshot (source changed)', { hosts: snapshot([...fleet]), reserved: new Map([['a', { cpus: 1, memoryMb: 0 }]]) }, (h) => h.length, 4],
      ['more reserved CPUs', { hosts: fleet, reserved: new Map([['a', { cpus: 2, memoryMb: 0 }]]) }, (h) => h.find((x) => x.id === 'a')!.usedCpus, 4],
      ['reserved memory', { hosts: fleet, reserved: new Map([['a', { cpus: 1, memoryMb: 10 }]]) }, (h) => h.find((x) => x.id === 'a')!.freeMemoryMb, 65536 - 1024 - 10],
      ['another host reserved', { hosts: fleet, reserved: new Map([['c', { cpus: 1, memoryMb: 0 }]]) }, (h) => h.find((x) => x.id === 'c')!.usedCpus, 1],
      ['a host TREC value', { hosts: fleet, reserved: new Map([['c', { cpus: 1, memoryMb: 0 }]]), hostTrec: new Map([['b', { risk: 0.9, eco: 4 }]]) }, (h) => h.at(-1)!.id, 'b'],
      ['cleanTestbed', { hosts: fleet, ignoreUsage: true }, (h) => h.find((x) => x.id === 'b')!.usedCpus, 0],
    ];
    let previous = base;
    for (const [what, input, probe, expected] of changes) {
      const next = memo.build(input);
      expect([what, next === previous]).toEqual([what, false]);
      expect([what, probe(next)]).toEqual([what, expected]);
      expect([what, next]).toEqual([what, buildHostModel(input)]);
      previous = next;
    }
  });

  it('models built with and without the memo are equal, and valid', () => {
    const memo = new HostModelMemo();
    const reserved = new Map([['a', { cpus: 3, memoryMb: 100 }]]);
    const once = buildAdmissionModel(modelInput({ reserved }), memo);
    const twice = buildAdmissionModel(modelInput({ reserved: new Map(reserved) }), memo);
    expect(twice.hosts).toBe(once.hosts);
    expect(twice).toEqual(buildAdmissionModel(modelInput({ reserved })));
    expect(checkModel(twice)).toEqual([]);
  });
});

describe('validation of shared host lists', () => {
  it('a frozen host list that was invalid stays invalid on every check', () => {
    const bad = Object.freeze([Object.freeze({ id: 'x', cpus: 4, usedCpus: -1, eco: 3 })]);
    const model = { ...buildAdmissionModel(modelInput()), hosts: bad };
    for (let k = 0; k < 2; k++) expect(checkModel(model)).toEqual([{ field: 'hosts[0].usedCpus', reason: 'must be ≥ 0' }]);
  });

  it('an unfrozen host list is checked every time (it may have changed since)', () => {
    const hosts = [{ id: 'x', cpus: 4, usedCpus: 0, eco: 3 }];
    const model = { ...buildAdmissionModel(modelInput()), hosts };
    expect(checkModel(model)).toEqual([]);
    hosts[0]!.cpus = 2.5;
    expect(checkModel(model)).toEqual([{ field: 'hosts[0].cpus', reason: expect.any(String) }]);
  });
});
