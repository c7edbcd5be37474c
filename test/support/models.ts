/** Small hand-made models for tests: the worked example of model.md §2.6 and a builder for one-off cases. */
import type { AdmissionModel, Component, Host, Rule, Service } from '../../model/types';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../../model/types';

export function component(id: string, c: Partial<Component> = {}): Component {
  return { id, basic: 1, maxVms: 1, vcpus: 1, availability: 1, affinity: 0, antiAffinity: 0, ...c };
}

export function service(id: string, components: Component[], s: Partial<Omit<Service, 'components'>> = {}): Service {
  return {
    id,
    gain: 1000,
    extraCost: 0,
    trust: 3,
    risk: 0.001,
    eco: 8,
    availability: 0.9,
    federationAllowed: true,
    rules: [],
    constraints: DEFAULT_CONSTRAINTS,
    components,
    ...s,
  };
}

export function hosts(...freeCpus: number[]): Host[] {
  return freeCpus.map((cpus, j) => ({ id: `h${j + 1}`, cpus, usedCpus: 0, eco: 3 + j }));
}

export function model(services: Service[], hostList: Host[], weights = DEFAULT_WEIGHTS): AdmissionModel {
  return { services, hosts: hostList, weights };
}

export function rule(kind: Rule['kind'], level: 1 | 2, ...members: string[]): Rule {
  return { kind, level, members };
}

/** model.md §2.6: optimum 358.5134. */
export function workedExample(): AdmissionModel {
  return model(
    [
      service(
        'a1',
        [
          component('vm1', { basic: 1, maxVms: 3, vcpus: 1, availability: 0.5, antiAffinity: 1 }),
          component('vm2', { basic: 1, maxVms: 2, vcpus: 2, availability: 0.5 }),
          component('vm3', { basic: 1, maxVms: 1, vcpus: 4, availability: 1 }),
        ],
        { gain: 1000, extraCost: 10, availability: 0.99, rules: [rule('affinity', 2, 'vm2', 'vm3')] },
      ),
      service(
        'a2',
        [
          component('vm1', { basic: 2, maxVms: 4, vcpus: 2, availability: 0.8 }),
          component('vm2', { basic: 1, maxVms: 2, vcpus: 1, availability: 0.5 }),
        ],
        { gain: 800, extraCost: 10, availability: 0.9, federationAllowed: false, rules: [rule('antiAffinity', 1, 'vm1', 'vm2')] },
      ),
    ],
    [
      { id: 'host-17', label: 'ph1', cpus: 16, usedCpus: 8, eco: 3, risk: 0.01 },
      { id: 'host-03', label: 'ph2', cpus: 8, usedCpus: 2, eco: 4, risk: 0.02 },
      { id: 'host-09', label: 'ph3', cpus: 8, usedCpus: 4, eco: 5, risk: 0.05 },
    ],
  );
}
