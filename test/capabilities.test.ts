/**
 * Host capabilities: what a requirement matches (semver ranges with pre-releases and short versions, exact values,
 * flags, forbidden capabilities), the requirement text form, and the validation of models that carry them.
 */
import {
  eligibilityMask,
  parseRequirement,
  requirementProblem,
  requirementText,
  satisfies,
  valueCounts,
  versionOf,
} from '../model/capabilities';
import { checkModel } from '../model/validate';
import type { AdmissionModel, CapabilityRequirement, CapabilityValue, Host } from '../model/types';

const needs = (name: string, range?: string): CapabilityRequirement => ({ kind: 'required', name, ...(range !== undefined ? { range } : {}) });
const forbids = (name: string): CapabilityRequirement => ({ kind: 'forbidden', name });

describe('satisfies: one row per edge', () => {
  const rows: [string, CapabilityValue | undefined, CapabilityRequirement, boolean][] = [
    ['a version inside the range', '20.11.1', needs('nodejs', '>=18 <21'), true],
    ['the lower bound itself', '18.0.0', needs('nodejs', '>=18 <21'), true],
    ['the exclusive upper bound', '21.0.0', needs('nodejs', '>=18 <21'), false],
    ['a version below', '16.20.2', needs('nodejs', '>=18 <21'), false],
    ['a pre-release of the excluded major', '21.0.0-rc.1', needs('nodejs', '>=18 <21'), false],
    ['a pre-release inside the range (npm: not without a pre-release in the range)', '20.0.0-beta', needs('nodejs', '>=18 <21'), false],
    ['a pre-release the range names', '20.0.0-rc.2', needs('nodejs', '>=20.0.0-rc.1 <21'), true],
    ['a short version is completed with zeros', '20', needs('nodejs', '>=18 <21'), true],
    ['a two-part version', '20.11', needs('nodejs', '^20.11.0'), true],
    ['a leading v', 'v20.1.0', needs('nodejs', '>=20'), true],
    ['a caret range', '20.99.0', needs('nodejs', '^20'), true],
    ['an exact version', '20.11.1', needs('nodejs', '20.11.1'), true],
    ['a flag has no version', true, needs('nodejs', '>=18'), false],
    ['a missing capability', undefined, needs('nodejs', '>=18'), false],
    ['a bare requirement and any value', '16.0.0', needs('nodejs'), true],
    ['a bare requirement and a flag', true, needs('avx512'), true],
    ['a bare requirement and nothing', undefined, needs('avx512'), false],
    ['an exact non-version value', 'a100', needs('gpu', 'a100'), true],
    ['another non-version value', 'h100', needs('gpu', 'a100'), false],
    ['a zone', 'eu-west-1a', needs('zone', 'eu-west-1a'), true],
    ['a version range against a value that is not a version', 'latest', needs('nodejs', '>=18'), false],
    ['forbidden and absent', undefined, forbids('gpu'), true],
    ['forbidden and present', 'a100', forbids('gpu'), false],
    ['forbidden and a flag', true, forbids('gpu'), false],
  ];
  it.each(rows)('%s', (_title, value, requirement, expected) => {
    expect(satisfies(value, requirement)).toBe(expected);
  });

  it('reads versions, and refuses what is not one', () => {
    expect(versionOf('20')).toBe('20.0.0');
    expect(versionOf('v20.11')).toBe('20.11.0');
    expect(versionOf('20.11.1-rc.1')).toBe('20.11.1-rc.1');
    expect(versionOf('a100')).toBeNull();
    expect(versionOf(true)).toBeNull();
  });
});

describe('requirement text and validation', () => {
  it('round-trips the text form', () => {
    for (const text of ['nodejs@>=18 <21', 'avx512', '!gpu', 'zone@eu-west-1a']) expect(requirementText(parseRequirement(text))).toBe(text);
    expect(parseRequirement(' nodejs @ >=18 ')).toEqual(needs('nodejs', '>=18'));
  });

  it.each([
    ['an empty name', { kind: 'required', name: '' }, /capability name/],
    ['a name with spaces', { kind: 'required', name: 'node js' }, /capability name/],
    ['a broken range', { kind: 'required', name: 'nodejs', range: '>=18 <<21' }, /neither a semver range/],
    ['a range on a forbidden capability', { kind: 'forbidden', name: 'gpu', range: 'a100' }, /takes no range/],
    ['an unknown kind', { kind: 'preferred', name: 'gpu' }, /kind must be/],
  ])('refuses %s', (_title, requirement, message) => {
    expect(requirementProblem(requirement)).toMatch(message);
  });

  it('refuses a model whose requirement or host capability is malformed, naming the field', () => {
    const model: AdmissionModel = {
      hosts: [{ id: 'h0', cpus: 4, usedCpus: 0, eco: 1, capabilities: { nodejs: '20.1.0', 'bad name': true } }],
      services: [
        {
          id: 's',
          gain: 1,
          extraCost: 0,
          trust: 3,
          eco: 8,
          risk: 0,
          availability: 0,
          federationAllowed: true,
          components: [{ id: 'c', basic: 1, maxVms: 1, vcpus: 1, availability: 0, affinity: 0, antiAffinity: 0, requires: [needs('nodejs', '>=18 <<21')] }],
          rules: [],
          sameValue: [{ capability: 'zone', members: ['c', 'nope'] }],
          constraints: { eco: 0, trust: 0, risk: 7, cost: 1e6 },
        },
      ],
      weights: { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 },
    };
    const fields = checkModel(model).map((d) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['hosts[0].capabilities.bad name', 'services[0].components[0].requires[0]', 'services[0].sameValue[0].members[1]']));
  });
});

describe('eligibility masks and value counts', () => {
  const hosts: Host[] = Object.freeze([
    Object.freeze({ id: 'a', cpus: 4, usedCpus: 0, eco: 1, capabilities: { nodejs: '16.20.2' } }),
    Object.freeze({ id: 'b', cpus: 4, usedCpus: 0, eco: 1, capabilities: { nodejs: '20.11.1', gpu: 'a100' } }),
    Object.freeze({ id: 'c', cpus: 4, usedCpus: 0, eco: 1 }),
    Object.freeze({ id: 'd', cpus: 4, usedCpus: 0, eco: 1, capabilities: { nodejs: '20.11.1' } }),
  ]) as unknown as Host[];

  it('marks the hosts that satisfy every requirement, and reuses the mask for a frozen list', () => {
    const mask = eligibilityMask(hosts, [needs('nodejs', '>=18 <21'), forbids('gpu')]);
    expect([...mask]).toEqual([0, 0, 0, 1]);
    expect(eligibilityMask(hosts, [forbids('gpu'), needs('nodejs', '>=18 <21')])).toBe(mask);
  });

  it('counts hosts per value and without the capability', () => {
    const counts = valueCounts(hosts, 'nodejs');
    expect([...counts.byValue]).toEqual([
      ['16.20.2', 1],
      ['20.11.1', 2],
    ]);
    expect(counts.without).toBe(1);
  });
});
