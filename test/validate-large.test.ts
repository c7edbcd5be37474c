/**
 * Validation of large host lists: duplicate ids are found by the hashed check above 50,000 hosts as by the Set below
 * it, and a frozen list is validated once.
 */
import { checkModel, isDeepFrozenHostList, validateModel } from '../model/validate';
import type { AdmissionModel, Host } from '../model/types';
import { component, model, service } from './support/models';

function fleet(n: number): Host[] {
  return Array.from({ length: n }, (_, j) => ({ id: `host-${j}`, cpus: 16, usedCpus: j % 16, eco: 3 }));
}

describe('host validation at scale', () => {
  it.each([1000, 60_000])('a duplicate host id among %d hosts is reported', (n) => {
    const hosts = fleet(n);
    hosts[n - 1] = { ...hosts[n - 1]!, id: hosts[n >> 1]!.id };
    const m: AdmissionModel = model([service('s', [component('c')])], hosts);
    expect(checkModel(m)).toEqual([{ field: `hosts[${n - 1}].id`, reason: `duplicate host id '${hosts[n >> 1]!.id}'` }]);
  });

  it('60,000 distinct ids (many sharing a 32-bit hash bucket of the table) are valid', () => {
    const m: AdmissionModel = model([service('s', [component('c')])], fleet(60_000));
    expect(checkModel(m)).toEqual([]);
  });

  it('a frozen list of frozen hosts is recognised as such, once', () => {
    const hosts = Object.freeze(fleet(10).map((h) => Object.freeze(h)));
    expect(isDeepFrozenHostList(hosts)).toBe(true);
    expect(isDeepFrozenHostList(fleet(10))).toBe(false);
    expect(isDeepFrozenHostList(Object.freeze(fleet(10)))).toBe(false);
    expect(() => validateModel(model([service('s', [component('c')])], hosts as Host[]))).not.toThrow();
  });
});
