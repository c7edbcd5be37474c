import * as fs from 'node:fs';
import * as path from 'node:path';
import { readResultCsv, resultCsvToAllocation, writeResultCsv } from '../admission-controller/result-csv';
import type { ServiceEvaluation, Verification } from '../admission-controller/verification';
import { verify } from '../admission-controller/verifier';
import { AdmissionError } from '../model/errors';
import type { AdmissionModel, Allocation } from '../model/types';
import { loadModelDirectory } from '../trec-analyzer/model-directory';

const FIXTURES = path.join(__dirname, 'fixtures');
const resultText = fs.readFileSync(path.join(FIXTURES, 'worked-example.result.csv'), 'utf8');
const { model } = loadModelDirectory(path.join(FIXTURES, 'worked-example'));

/** The optimal allocation of model.md §2.6 (host indices: ph1 = 0, ph2 = 1, ph3 = 2). */
const workedAllocation: Allocation = {
  services: [
    [
      { acceptedLocally: true, placements: [{ hostIndex: 1, vms: 1 }], federatedVms: 2 },
      { acceptedLocally: true, placements: [{ hostIndex: 0, vms: 1 }], federatedVms: 0 },
      { acceptedLocally: true, placements: [{ hostIndex: 0, vms: 1 }], federatedVms: 0 },
    ],
    [
      { acceptedLocally: true, placements: [{ hostIndex: 1, vms: 2 }, { hostIndex: 2, vms: 2 }], federatedVms: 0 },
      { acceptedLocally: true, placements: [{ hostIndex: 0, vms: 2 }], federatedVms: 0 },
    ],
  ],
};

/** The §2.6 numbers by hand, so the writer is also checked independently of the verifier. */
function handVerification(cost: [number, number]): Verification {
  const evaluation = (id: string, localVms: number, federatedVms: number, acceptedElasticVms: number, availability: number) => ({
    id, acceptedLocally: true, localVms, federatedVms, acceptedElasticVms, availability, hostsUsed: 1,
  });
  const service = (id: string, fields: Partial<ServiceEvaluation>): ServiceEvaluation => ({
    id, fullyAccepted: true, anyAcceptedLocally: true, localVms: 0, maxVms: 6, federatedVms: 0, acceptedElasticVms: 0,
    averageAvailability: 1, jointAvailability: 1, acceptedVmShare: 1, cost: 0, charge: 0, objectiveContribution: 0, components: [], ...fields,
  });
  return {
    feasible: true,
    violations: [],
    objective: 358.5134,
    services: [
      service('a1', {
        localVms: 3, federatedVms: 2, averageAvailability: 2.5 / 3, jointAvailability: 0.5, acceptedVmShare: 0.5, cost: cost[0], objectiveContribution: 155.764,
        components: [evaluation('vm1', 1, 2, 0, 1), evaluation('vm2', 1, 0, 0, 0.5), evaluation('vm3', 1, 0, 0, 1)],
      }),
      service('a2', {
        localVms: 6, acceptedElasticVms: 3, cost: cost[1], objectiveContribution: 202.75,
        components: [{ ...evaluation('vm1', 4, 0, 2, 1), hostsUsed: 2 }, evaluation('vm2', 2, 0, 1, 1)],
      }),
    ],
  };
}

function resultError(run: () => unknown): AdmissionError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AdmissionError);
    return error as AdmissionError;
  }
  throw new Error('expected an AC_ERR_RESULT_CSV error');
}

describe('readResultCsv: the worked example result (GAMS flavour)', () => {
  const parsed = readResultCsv(resultText);

  it('reads all nine sections with their lines', () => {
    expect(parsed.admission).toEqual([
      { service: 'a1', value: 1, line: 3 },
      { service: 'a2', value: 1, line: 4 },
    ]);
    expect(parsed.placements).toHaveLength(15);
    expect(parsed.placements[2]).toEqual({ host: 'ph1', component: 'vm2', service: 'a1', value: 1, line: 10 });
    expect(parsed.serviceElasticVms.map((r) => r.value)).toEqual([0, 3]);
    expect(parsed.componentElasticVms.map((r) => [r.component, r.service, r.value])).toEqual([
      ['vm1', 'a1', 0], ['vm1', 'a2', 2], ['vm2', 'a1', 0], ['vm2', 'a2', 1], ['vm3', 'a1', 0],
    ]);
    expect(parsed.federatedVms.filter((r) => r.value > 0)).toEqual([{ component: 'vm1', service: 'a1', value: 2, line: 39 }]);
    expect(parsed.trust.map((r) => r.value)).toEqual([3, 3]);
    expect(parsed.risk.map((r) => r.value)).toEqual([0, 0]);
    expect(parsed.eco.map((r) => r.value)).toEqual([8, 8]);
    expect(parsed.cost.map((r) => r.value)).toEqual([261.11, 0]);
  });

  it('maps back to the §2.6 allocation', () => {
    expect(resultCsvToAllocation(model, parsed)).toEqual(workedAllocation);
  });
});

describe('writeResultCsv', () => {
  it('writes the fixture byte for byte from the verifier of the §2.6 allocation', () => {
    const verification = verify(model, workedAllocation);
    expect(verification.feasible).toBe(true);
    expect(writeResultCsv(model, workedAllocation, verification)).toBe(resultText);
  });

  it('writes the fixture byte for byte from hand-computed §2.6 values', () => {
    expect(writeResultCsv(model, workedAllocation, handVerification([500 / 6 + 1600 / 9, 0]))).toBe(resultText);
  });

  it('never prints -0.00', () => {
    const text = writeResultCsv(model, workedAllocation, handVerification([-0.001, -0]));
    expect(text.endsWith('"**","cost of hosting the service","**"\n\n"a1",0.00\n"a2",0.00\n')).toBe(true);
  });

  it('uses the model labels and reads back to the same allocation', () => {
    const relabelled: AdmissionModel = {
      ...model,
      hosts: model.hosts.map((h, j) => ({ ...h, label: `ph${3 - j}` })),
      services: model.services.map((s) => ({ ...s, label: `${s.label}x` })),
    };
    const text = writeResultCsv(relabelled, workedAllocation, verify(relabelled, workedAllocation));
    expect(text).toContain('"ph3","vm1","a1x",0.00\n"ph3","vm1","a2x",0.00\n"ph3","vm2","a1x",1.00\n');
    expect(resultCsvToAllocation(relabelled, readResultCsv(text))).toEqual(workedAllocation);
  });

  it('refuses an allocation of another shape', () => {
    const short: Allocation = { services: [workedAllocation.services[0]!] };
    expect(() => writeResultCsv(model, short, handVerification([0, 0]))).toThrow(expect.objectContaining({ code: 'AC_ERR_INTERNAL' }));
  });
});

describe('readResultCsv: the heuristic flavour', () => {
  const heuristic = [
    '"**","Admission Control Result","**"', '', '"a1",0.6666666666666666', '',
    '"**","how many vms of service component i are allocated for service a in host j","**"', '',
    '"ph2","vm1","a1",1.0', '"ph1","vm2","a1",1.0', '"ph1","vm3","a1",1.0', '',
    '"**","number of accepted elastic vms for each service","**"', '', '"a1",0', '',
    '"**","number of accepted elastic vms per service component","**"', '', '',
    '"**","number of vms for federation","**"', '', '"vm1","a1",2', '',
    '"**","Trust for new service","**"', '', '"a1",0.5', '',
    '"**","Probability the service will fail","**"', '', '"a1",0.16666666666666663', '',
    '"**","Eco for new service","**"', '', '"a1",1.6666', '',
    '"**","cost of hosting the service","**"', '', '"a1",-44.44444444444444', '',
  ].join('\r\n');

  it('tolerates fractional values, missing rows and CRLF', () => {
    const parsed = readResultCsv(heuristic);
    expect(parsed.admission).toEqual([{ service: 'a1', value: 0.6666666666666666, line: 3 }]);
    expect(parsed.componentElasticVms).toEqual([]);
    expect(parsed.cost[0]!.value).toBeCloseTo(-44.4444, 4);
    expect(resultCsvToAllocation(model, parsed)).toEqual({
      services: [
        workedAllocation.services[0],
        [
          { acceptedLocally: false, placements: [], federatedVms: 0 },
          { acceptedLocally: false, placements: [], federatedVms: 0 },
        ],
      ],
    });
  });

  it('reads a heuristic file whose sections are all empty', () => {
    const empty = ['Admission Control Result', 'cost of hosting the service'].map((t) => `"**","${t}","**"\n\n`).join('');
    const allocation = resultCsvToAllocation(model, readResultCsv(empty));
    expect(allocation.services.flat().every((c) => !c.acceptedLocally && c.placements.length === 0 && c.federatedVms === 0)).toBe(true);
  });

  it('marks every component of a fully accepted service as accepted, even with no local VM', () => {
    const text = '"**","Admission Control Result","**"\n\n"a2",1.00\n';
    expect(resultCsvToAllocation(model, readResultCsv(text)).services[1]!.map((c) => c.acceptedLocally)).toEqual([true, true]);
  });
});

describe('result.csv errors name the line', () => {
  const header = (title: string) => `"**","${title}","**"\n\n`;
  const placements = header('how many vms of service component i are allocated for service a in host j');
  const cases: [string, string, string][] = [
    ['an unknown section', header('Admission Control Result') + '"a1",1.00\n\n"**","objective","**"\n', "result.csv:5: unknown section 'objective'"],
    ['a repeated section', header('Trust for new service') + header('Trust for new service'), "result.csv:3: section 'Trust for new service' appears twice"],
    ['a row before any header', '"a1",1.00\n', 'result.csv:1: data row before the first section header'],
    ['a non-numeric value', placements + '"ph1","vm1","a1",many\n', "result.csv:3: expected a number, got 'many'"],
    ['a wrong field count', placements + '"ph1","vm1",1.00\n', "result.csv:3: expected 3 labels and a value in section 'how many vms of service component i are allocated for service a in host j', got 3 fields"],
    ['no header at all', '\n\n', 'result.csv:1: no section header found'],
  ];
  it.each(cases)('readResultCsv: %s', (_, text, message) => {
    const error = resultError(() => readResultCsv(text));
    expect(error.code).toBe('AC_ERR_RESULT_CSV');
    expect(error.message).toBe(message);
    expect(error.details[0]!.field).toBe(message.split(': ')[0]);
  });

  const mappingCases: [string, string, string][] = [
    ['an unknown host', placements + '"ph1","vm1","a1",1.00\n"ph9","vm1","a1",1.00\n', "result.csv:4: unknown host 'ph9'"],
    ['an unknown service', placements + '"ph1","vm1","a7",1.00\n', "result.csv:3: unknown service 'a7'"],
    ['a component the service lacks', placements + '"ph1","vm3","a2",1.00\n', "result.csv:3: service a2 has no component 'vm3'"],
    ['a fractional VM count', placements + '"ph1","vm1","a1",1.50\n', 'result.csv:3: ph1/vm1/a1: expected a whole number of VMs, got 1.5'],
    ['a duplicate row', placements + '"ph1","vm1","a1",1.00\n"ph1","vm1","a1",0.00\n', 'result.csv:4: duplicate row for ph1/vm1/a1'],
    ['negative federated VMs', header('number of vms for federation') + '"vm1","a1",-1.00\n', 'result.csv:3: vm1/a1: expected a whole number of VMs, got -1'],
  ];
  it.each(mappingCases)('resultCsvToAllocation: %s', (_, text, message) => {
    const error = resultError(() => resultCsvToAllocation(model, readResultCsv(text)));
    expect(error.code).toBe('AC_ERR_RESULT_CSV');
    expect(error.message).toBe(message);
  });
});
