import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdmissionError } from '../model/errors';
import type { AdmissionModel, Component, Service } from '../model/types';
import { loadModelDirectory, writeModelDirectory } from '../trec-analyzer/model-directory';

const WORKED_EXAMPLE = path.join(__dirname, 'fixtures', 'worked-example');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'model-directory-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

let dirCount = 0;
function freshDir(): string {
  return path.join(scratch, `d${++dirCount}`);
}

/** A copy of the worked example, optionally with files replaced (content) or deleted (null). */
function workedExampleCopy(changes: Record<string, string | null> = {}): string {
  const dir = freshDir();
  fs.cpSync(WORKED_EXAMPLE, dir, { recursive: true });
  for (const [file, content] of Object.entries(changes)) {
    if (content === null) fs.rmSync(path.join(dir, file));
    else fs.writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

function readDirectory(dir: string): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(dir).sort().map((file) => [file, fs.readFileSync(path.join(dir, file), 'utf8')]));
}

function loadError(dir: string): AdmissionError {
  try {
    loadModelDirectory(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(AdmissionError);
    return error as AdmissionError;
  }
  throw new Error(`expected ${dir} to fail`);
}

function withoutLabels(model: AdmissionModel): AdmissionModel {
  const strip = <T extends { label?: string }>({ label: _label, ...rest }: T) => rest;
  return {
    ...model,
    hosts: model.hosts.map(strip),
    services: model.services.map((s) => ({ ...strip(s), components: s.components.map(strip) })),
  } as AdmissionModel;
}

function component(id: string, label: string, fields: Partial<Component>): Component {
  return { id, label, basic: 1, maxVms: 1, vcpus: 1, availability: 1, affinity: 0, antiAffinity: 0, ...fields };
}

const workedExampleModel: AdmissionModel = {
  hosts: [
    { id: 'host-17', label: 'ph1', cpus: 16, usedCpus: 8, eco: 3, risk: 0.01 },
    { id: 'host-03', label: 'ph2', cpus: 8, usedCpus: 2, eco: 4, risk: 0.02 },
    { id: 'host-09', label: 'ph3', cpus: 8, usedCpus: 4, eco: 5, risk: 0.05 },
  ],
  services: [
    {
      id: 'a1',
      label: 'a1',
      gain: 1000,
      extraCost: 10,
      trust: 3,
      risk: 0.001,
      eco: 8,
      availability: 0.99,
      federationAllowed: true,
      components: [
        component('vm1', 'vm1', { basic: 1, maxVms: 3, vcpus: 1, availability: 0.5, antiAffinity: 1 }),
        component('vm2', 'vm2', { basic: 1, maxVms: 2, vcpus: 2, availability: 0.5 }),
        component('vm3', 'vm3', { basic: 1, maxVms: 1, vcpus: 4, availability: 1 }),
      ],
      rules: [{ kind: 'affinity', level: 2, members: ['vm2', 'vm3'] }],
      constraints: { eco: 0, trust: 0, risk: 7, cost: 1_000_000 },
    },
    {
      id: 'a2',
      label: 'a2',
      gain: 800,
      extraCost: 10,
      trust: 3,
      risk: 0.001,
      eco: 8,
      availability: 0.9,
      federationAllowed: false,
      components: [
        component('vm1', 'vm1', { basic: 2, maxVms: 4, vcpus: 2, availability: 0.8 }),
        component('vm2', 'vm2', { basic: 1, maxVms: 2, vcpus: 1, availability: 0.5 }),
      ],
      rules: [{ kind: 'antiAffinity', level: 1, members: ['vm1', 'vm2'] }],
      constraints: { eco: 0, trust: 0, risk: 7, cost: 1_000_000 },
    },
  ],
  weights: { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 },
};

describe('loadModelDirectory: the worked example (model.md §2.6)', () => {
  const { model, warnings } = loadModelDirectory(WORKED_EXAMPLE);

  it('loads every value of §2.6 and warns about nothing', () => {
    expect(model).toStrictEqual(workedExampleModel);
    expect(warnings).toEqual([]);
  });

  it('gives free CPUs 8, 6, 4 and the real host ids', () => {
    expect(model.hosts.map((h) => Math.max(0, h.cpus - h.usedCpus))).toEqual([8, 6, 4]);
    expect(model.hosts.map((h) => h.id)).toEqual(['host-17', 'host-03', 'host-09']);
  });
});

describe('writeModelDirectory', () => {
  it('reproduces the Java worked example except for decimal spelling (1.0 / 3.0)', () => {
    const dir = freshDir();
    writeModelDirectory(workedExampleModel, dir);
    const expected = readDirectory(WORKED_EXAMPLE);
    expected['availability_sc.csv'] = expected['availability_sc.csv']!.replace('vm3,1.0, ', 'vm3,1, ');
    expected['ecoHost.csv'] = 'ph1,3\nph2,4\nph3,5\n';
    expect(readDirectory(dir)).toEqual(expected);
  });

  it('round-trips the worked example: load(write(M)) = M and the second write is byte-identical', () => {
    const first = freshDir();
    const second = freshDir();
    writeModelDirectory(workedExampleModel, first);
    const loaded = loadModelDirectory(first);
    expect(loaded.model).toStrictEqual(workedExampleModel);
    expect(loaded.warnings).toEqual([]);
    writeModelDirectory(loaded.model, second);
    expect(readDirectory(second)).toEqual(readDirectory(first));
  });

  const richModel: AdmissionModel = {
    hosts: [
      { id: 'node-a', cpus: 32, usedCpus: 40, eco: 0.5, freeMemoryMb: 65536, risk: 0.3 },
      { id: 'node b', cpus: 4, usedCpus: 0, eco: 0 },
      { id: 'node-c', cpus: 8, usedCpus: 1, eco: 7.25, freeMemoryMb: 1024.5 },
    ],
    services: [
      {
        id: 'svc&<"web">',
        gain: 1234.5,
        extraCost: 0.75,
        trust: 0,
        risk: 0.125,
        eco: 8.53,
        availability: 0.95,
        federationAllowed: true,
        components: [
          { id: 'web', basic: 0, maxVms: 5, vcpus: 2, memoryMb: 2048, availability: 0.9, affinity: 2, antiAffinity: 0 },
          { id: 'app', basic: 2, maxVms: 2, vcpus: 1, availability: 0.55, affinity: 1, antiAffinity: 2 },
          { id: 'db', basic: 1, maxVms: 3, vcpus: 4, memoryMb: 512.25, availability: 0, affinity: 0, antiAffinity: 1 },
        ],
        rules: [
          { kind: 'affinity', level: 1, members: ['web', 'db'] },
          { kind: 'affinity', level: 2, members: ['web', 'app', 'db'] },
          { kind: 'antiAffinity', level: 2, members: ['app'] },
        ],
        constraints: { eco: 1.5, trust: 2, risk: 0.5, cost: 999.99 },
      },
      {
        id: 'batch',
        gain: 10,
        extraCost: 0,
        trust: 5,
        risk: 0.001,
        eco: 1,
        availability: 1,
        federationAllowed: false,
        components: [{ id: 'worker', basic: 3, maxVms: 10, vcpus: 1, availability: 1, affinity: 0, antiAffinity: 0 }],
        rules: [{ kind: 'antiAffinity', level: 1, members: ['worker'] }],
        constraints: { eco: 0, trust: 0, risk: 7, cost: 1_000_000 },
      },
    ],
    weights: { cost: 0.4, eco: 0.1, risk: 0, trust: 0.5 },
  };

  it('cells are written raw, never CSV-quoted (GAMS reads them raw): a host id with a double quote round-trips', () => {
    const dir = freshDir();
    const model: AdmissionModel = { ...richModel, hosts: richModel.hosts.map((h, j) => (j === 0 ? { ...h, id: 'node "a"' } : h)) };
    writeModelDirectory(model, dir);
    expect(readDirectory(dir)['hostsInfo.csv']).toBe('ph1,node "a"\nph2,node b\nph3,node-c\n');
    expect(loadModelDirectory(dir).model.hosts[0]!.id).toBe('node "a"');
  });

  it('round-trips ids, memory, host risk, decimals and rules of a model without labels', () => {
    const first = freshDir();
    const second = freshDir();
    writeModelDirectory(richModel, first);
    const written = readDirectory(first);
    expect(written['free_mem.csv']).toBe('ph1,65536\nph3,1024.5\n');
    expect(written['memory_per_component.csv']).toBe('dummy,a1,a2\nvm1,2048, \nvm2, , \nvm3,512.25, \n');
    expect(written['hostsInfo.csv']).toBe('ph1,node-a\nph2,node b\nph3,node-c\n');
    expect(written['ServicesInfo.xml']).toContain('<service id="svc&amp;&lt;&quot;web&quot;&gt;" name="a1" xmlCostFile="cost_1.xml">');
    expect(written['ServicesInfo.xml']).toContain('<vm id="worker" name="vm1" componentId="worker"/>');
    expect(written['affinity_rules.csv']).toBe('dummy,c1,c2,c3,c4,c5,c6,c7\na1,0,0,0,0,1,0,2\na2,0,0,0,0,0,0,0\n');
    expect(written['anti_affinity_rules.csv']).toBe('dummy,c1,c2,c3,c4,c5,c6,c7\na1,0,2,0,0,0,0,0\na2,1,0,0,0,0,0,0\n');
    expect(written['vms.csv']).toBe('dummy,a1,a2\nvm1,yes,yes\nvm2,yes,no\nvm3,yes,no\n');
    expect(written['trust_weight.csv']).toBe('0.5');

    const loaded = loadModelDirectory(first);
    expect(loaded.warnings).toEqual([]);
    expect(withoutLabels(loaded.model)).toStrictEqual(richModel);
    expect(loaded.model.services[1]!.components[0]!.label).toBe('vm1');
    writeModelDirectory(loaded.model, second);
    expect(readDirectory(second)).toEqual(written);
  });

  it('keeps the higher level when two rules of one kind hit the same combination', () => {
    const dir = freshDir();
    const service = richModel.services[1]!;
    const doubled: AdmissionModel = {
      ...richModel,
      services: [richModel.services[0]!, { ...service, rules: [{ kind: 'antiAffinity', level: 1, members: ['worker'] }, { kind: 'antiAffinity', level: 2, members: ['worker'] }] }],
    };
    writeModelDirectory(doubled, dir);
    expect(loadModelDirectory(dir).model.services[1]!.rules).toEqual([{ kind: 'antiAffinity', level: 2, members: ['worker'] }]);
  });

  it('above 12 component labels writes only singletons plus the combinations rules use', () => {
    const components = Array.from({ length: 13 }, (_, k) => component(`c${k}`, `vm${k + 1}`, {}));
    const big: AdmissionModel = {
      hosts: [{ id: 'h', label: 'ph1', cpus: 64, usedCpus: 0, eco: 3 }],
      services: [
        {
          ...workedExampleModel.services[0]!,
          components,
          rules: [
            { kind: 'affinity', level: 2, members: ['c1', 'c12'] },
            { kind: 'antiAffinity', level: 1, members: ['c0', 'c5', 'c9'] },
          ],
        },
      ],
      weights: workedExampleModel.weights,
    };
    const first = freshDir();
    writeModelDirectory(big, first);
    const written = readDirectory(first);
    expect(written['combs_.csv']).toBe(Array.from({ length: 15 }, (_, k) => `c${k + 1}`).join(','));
    expect(written['combs.csv']!.split('\n')[14]).toBe('c14,0,1,0,0,0,0,0,0,0,0,0,0,1');
    expect(written['combs.csv']!.split('\n')[15]).toBe('c15,1,0,0,0,0,1,0,0,0,1,0,0,0');
    const loaded = loadModelDirectory(first);
    expect(loaded.model).toStrictEqual(big);
    const second = freshDir();
    writeModelDirectory(loaded.model, second);
    expect(readDirectory(second)).toEqual(written);
  });

  it('removes a stale free_mem.csv so that the directory describes the new model only', () => {
    const dir = freshDir();
    writeModelDirectory(richModel, dir);
    writeModelDirectory(workedExampleModel, dir);
    expect(fs.existsSync(path.join(dir, 'free_mem.csv'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'ServicesInfo.xml'))).toBe(false);
    expect(loadModelDirectory(dir).model).toStrictEqual(workedExampleModel);
  });

  it('finds one components.csv order for labels that are not vm<k>, so that every service keeps its order', () => {
    const a1 = workedExampleModel.services[0]!;
    const labelled = (labels: string[]): Service => ({
      ...a1,
      id: `s-${labels.join('')}`,
      label: `s-${labels.join('')}`,
      components: labels.map((label) => component(label, label, {})),
      rules: [],
    });
    const custom: AdmissionModel = { ...workedExampleModel, services: [labelled(['x', 'z']), labelled(['y', 'z']), labelled(['vm2', 'vm1'])] };
    const dir = freshDir();
    writeModelDirectory(custom, dir);
    expect(fs.readFileSync(path.join(dir, 'components.csv'), 'utf8')).toBe('vm2,vm1,x,y,z');
    expect(loadModelDirectory(dir).model).toStrictEqual(custom);
  });

  it('refuses labels that are not unique, not in vm order, or not writable', () => {
    const clash: AdmissionModel = {
      ...workedExampleModel,
      hosts: [{ ...workedExampleModel.hosts[0]!, label: 'ph2' }, ...workedExampleModel.hosts.slice(1)],
    };
    expect(() => writeModelDirectory(clash, freshDir())).toThrow(expect.objectContaining({ code: 'AC_ERR_INVALID_MODEL', message: "hosts[1].label: duplicate label 'ph2'" }));
    const a1 = workedExampleModel.services[0]!;
    const swapped: Service = { ...a1, components: [a1.components[1]!, a1.components[0]!, a1.components[2]!] };
    expect(() => writeModelDirectory({ ...workedExampleModel, services: [swapped, workedExampleModel.services[1]!] }, freshDir())).toThrow(
      expect.objectContaining({ code: 'AC_ERR_INVALID_MODEL', message: expect.stringContaining('conflicting orders') }),
    );
    const comma: AdmissionModel = { ...workedExampleModel, services: [{ ...a1, label: 'a,1' }] };
    expect(() => writeModelDirectory(comma, freshDir())).toThrow(expect.objectContaining({ code: 'AC_ERR_INVALID_MODEL' }));
    const invalid: AdmissionModel = { ...workedExampleModel, services: [{ ...a1, components: [] }] };
    expect(() => writeModelDirectory(invalid, freshDir())).toThrow(expect.objectContaining({ code: 'AC_ERR_INVALID_MODEL' }));
  });
});

describe('loadModelDirectory: parsing rules (§2.3)', () => {
  it('reads blank and single-space cells as 0, tolerates CRLF, blank lines, 1/0 flags and decimals', () => {
    const dir = workedExampleCopy({
      'services.csv': 'a1,a2\r\n',
      'vms.csv': 'dummy,a1,a2\r\n\r\nvm1,1,YES\r\nvm2, yes , 1\r\nvm3,yes,0\r\n',
      'basic.csv': 'dummy,a1,a2\nvm1,1,2\nvm2, ,1\nvm3,1,x\n',
      'affinity_sc.csv': 'dummy,a1,a2\nvm1,,0\nvm2,0,0\nvm3, ,\n',
      'doNotFederate.csv': 'a1,0\n\na2,1\n',
      'trust.csv': 'a1,0.00\na2,2.5\n',
      'eco.csv': 'a1,8.53\na2, \n',
      'maxCpus.csv': 'ph1,16.0\nph2,8\nph3,8',
    });
    const { model, warnings } = loadModelDirectory(dir);
    const [a1, a2] = model.services;
    expect(a1!.components.map((c) => c.basic)).toEqual([1, 0, 1]);
    expect(a1!.components.map((c) => c.affinity)).toEqual([0, 0, 0]);
    expect(a1!.federationAllowed).toBe(true);
    expect(a2!.federationAllowed).toBe(false);
    expect([a1!.trust, a2!.trust, a1!.eco, a2!.eco]).toEqual([0, 2.5, 8.53, 0]);
    expect(model.hosts[0]!.cpus).toBe(16);
    expect(warnings).toEqual([]);
  });

  it('loads a host whose used CPUs exceed its CPUs as given (no clamp)', () => {
    const { model } = loadModelDirectory(workedExampleCopy({ 'resCpus.csv': 'ph1,20\nph2,2\nph3,4\n' }));
    expect(model.hosts[0]).toMatchObject({ cpus: 16, usedCpus: 20 });
  });

  it('keeps only the members a service has and drops a rule left empty, with a warning', () => {
    const dir = workedExampleCopy({
      'affinity_rules.csv': 'dummy,c1,c2,c3,c4,c5,c6,c7\na1,0,0,0,0,0,2,0\na2,0,0,1,0,2,0,0\n',
    });
    const { model, warnings } = loadModelDirectory(dir);
    expect(model.services[1]!.rules).toEqual([
      { kind: 'affinity', level: 2, members: ['vm1'] },
      { kind: 'antiAffinity', level: 1, members: ['vm1', 'vm2'] },
    ]);
    expect(warnings).toEqual(['affinity_rules.csv:3: a2/c3: no member of c3 is a component of a2, rule ignored']);
  });

  it('drops labels that are not declared, with a warning', () => {
    const dir = workedExampleCopy({
      'basicCost.csv': 'a1,1000\na2,800\na3,500\n',
      'table.csv': 'dummy,a1,a2,a9\nvm1,1,2,7\nvm2,2,1,7\nvm3,4, ,7\nvm7,1,1,1\n',
    });
    const { model, warnings } = loadModelDirectory(dir);
    expect(model.services.map((s) => s.gain)).toEqual([1000, 800]);
    expect(model.services[0]!.components.map((c) => c.vcpus)).toEqual([1, 2, 4]);
    expect(warnings).toEqual([
      "table.csv:1: column 'a9' is not a declared service, ignored",
      "table.csv:5: row 'vm7' is not a declared component, ignored",
      "basicCost.csv:3: 'a3' is not a declared service, ignored",
    ]);
  });

  it('reads a missing entry of a present file as 0 (GAMS) with a warning', () => {
    const { model, warnings } = loadModelDirectory(workedExampleCopy({ 'trust.csv': 'a1,3\n' }));
    expect(model.services[1]!.trust).toBe(0);
    expect(warnings).toEqual(['trust.csv: no entry for a2, using 0']);
  });

  it('uses the §2.4 defaults for missing optional files, one warning per file', () => {
    const optional = [
      'services.csv', 'components.csv', 'hosts.csv', 'combs_.csv', 'combs.csv', 'affinity_rules.csv', 'anti_affinity_rules.csv',
      'cost_weight.csv', 'eco_weight.csv', 'risk_weight.csv', 'trust_weight.csv', 'eco_constraint.csv', 'trust_constraint.csv',
      'risk_constraint.csv', 'cost_constraint.csv', 'trust.csv', 'eco.csv', 'risk.csv', 'extraCost.csv', 'availability.csv',
      'doNotFederate.csv', 'ecoHost.csv', 'hostsInfo.csv', 'riskHost.csv', 'availability_sc.csv', 'affinity_sc.csv', 'anti_affinity_sc.csv',
    ];
    const dir = workedExampleCopy(Object.fromEntries(optional.map((file) => [file, null])));
    expect(fs.readdirSync(dir).sort()).toEqual(['basic.csv', 'basicCost.csv', 'elastic.csv', 'maxCpus.csv', 'resCpus.csv', 'table.csv', 'vms.csv']);
    const { model, warnings } = loadModelDirectory(dir);
    expect(model.weights).toEqual({ cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 });
    expect(model.hosts).toEqual([
      { id: 'ph1', label: 'ph1', cpus: 16, usedCpus: 8, eco: 3 },
      { id: 'ph2', label: 'ph2', cpus: 8, usedCpus: 2, eco: 4 },
      { id: 'ph3', label: 'ph3', cpus: 8, usedCpus: 4, eco: 5 },
    ]);
    for (const s of model.services) {
      expect(s).toMatchObject({ trust: 3, eco: 8, risk: 0.001, extraCost: 0, availability: 1, federationAllowed: true, rules: [] });
      expect(s.constraints).toEqual({ eco: 0, trust: 0, risk: 7, cost: 1_000_000 });
      for (const c of s.components) expect(c).toMatchObject({ availability: 1, affinity: 0, antiAffinity: 0 });
    }
    expect(model.services.map((s) => s.components.map((c) => c.id))).toEqual([['vm1', 'vm2', 'vm3'], ['vm1', 'vm2']]);
    // riskHost.csv is information only: its absence leaves host risk absent without a warning.
    expect(warnings).toHaveLength(optional.length - 1);
    for (const file of optional.filter((f) => f !== 'riskHost.csv')) {
      expect(warnings.filter((w) => w.startsWith(`${file}: missing, `))).toHaveLength(1);
    }
  });

  it('loads a directory as the OPTIMIS Java writer leaves it, with extra files', () => {
    const dir = workedExampleCopy({
      'free_mem.csv': 'ph1,16384\nph2,8192\nph3,0\n',
      'memory_per_component.csv': 'dummy,a1,a2\nvm1,1024,2048\nvm2,512,512\nvm3,4096, \n',
      'riskHost_UNSORTED.csv': 'ph2,0.02\nph1,0.01\nph3,0.05\n',
      'ecoHost_UNSORTED.csv': 'ph2,4.0\nph1,3.0\nph3,5.0\n',
      'TRUST__constraint.csv': 'a1,0\n',
      'result.csv': fs.readFileSync(path.join(__dirname, 'fixtures', 'worked-example.result.csv'), 'utf8'),
      'ServicesInfo.xml':
        '<?xml version="1.0" encoding="UTF-8"?>\n<services>\n' +
        '<service id="shop-7" name="a1" xmlCostFile="cost_1.xml"><vm id="vs-web" name="vm1" componentId="web"/>' +
        '<vm id="vs-app" name="vm2" componentId="app"/><vm id="vs-db" name="vm3" componentId="db"/></service>\n' +
        '<service id="batch-9" name="a2" xmlCostFile="cost_2.xml"><vm id="vs-w" name="vm1" componentId="worker"/>' +
        '<vm id="vs-q" name="vm2" componentId="queue"/></service>\n</services>',
    });
    const { model, warnings } = loadModelDirectory(dir);
    expect(warnings).toEqual([]);
    expect(model.hosts.map((h) => h.freeMemoryMb)).toEqual([16384, 8192, 0]);
    expect(model.services.map((s) => s.components.map((c) => c.memoryMb))).toEqual([[1024, 512, 4096], [2048, 512]]);
    expect(model.services.map((s) => s.id)).toEqual(['shop-7', 'batch-9']);
    expect(model.services[0]!.components.map((c) => [c.id, c.label])).toEqual([['web', 'vm1'], ['app', 'vm2'], ['db', 'vm3']]);
    expect(model.services[0]!.rules).toEqual([{ kind: 'affinity', level: 2, members: ['app', 'db'] }]);
    expect(model.services[1]!.rules).toEqual([{ kind: 'antiAffinity', level: 1, members: ['worker', 'queue'] }]);
  });
});

describe('loadModelDirectory: bad directories name the file and the line', () => {
  const cases: [string, Record<string, string | null>, string][] = [
    ['a missing required file', { 'vms.csv': null }, 'vms.csv: missing required file'],
    ['a non-numeric cell', { 'basic.csv': 'dummy,a1,a2\nvm1,1,2\nvm2,1,x\nvm3,1, \n' }, "basic.csv:3: column a2: expected a non-negative integer, got 'x'"],
    ['a fractional count', { 'table.csv': 'dummy,a1,a2\nvm1,1.5,2\nvm2,2,1\nvm3,4, \n' }, "table.csv:2: column a1: expected a non-negative integer, got '1.5'"],
    ['a wrong header', { 'elastic.csv': 'vm,a1,a2\nvm1,3,4\nvm2,2,2\nvm3,1, \n' }, "elastic.csv:1: first header cell must be 'dummy', got 'vm'"],
    ['elastic below basic', { 'basic.csv': 'dummy,a1,a2\nvm1,1,2\nvm2,1,1\nvm3,2, \n' }, 'elastic.csv:4: vm3/a1: maximum VMs (1) is below basic VMs (2)'],
    ['a row length mismatch', { 'table.csv': 'dummy,a1,a2\nvm1,1,2\nvm2,2\nvm3,4, \n' }, 'table.csv:3: expected 3 cells as in the header, got 2'],
    ['a keyed line without value', { 'maxCpus.csv': 'ph1,16\nph2\nph3,8\n' }, "maxCpus.csv:2: expected 'label,value', got 1 cells"],
    ['a bad yes/no', { 'vms.csv': 'dummy,a1,a2\nvm1,yes,yes\nvm2,maybe,yes\nvm3,yes,no\n' }, "vms.csv:3: column a1: expected yes or no, got 'maybe'"],
    ['a level out of range', { 'anti_affinity_sc.csv': 'dummy,a1,a2\nvm1,3,0\nvm2,0,0\nvm3,0, \n' }, "anti_affinity_sc.csv:2: column a1: expected a level 0, 1 or 2, got '3'"],
    ['a bad rule level', { 'affinity_rules.csv': 'dummy,c1,c2,c3,c4,c5,c6,c7\na1,0,0,0,0,0,High,0\na2,0,0,0,0,0,0,0\n' }, "affinity_rules.csv:2: column c6: expected a level 0, 1 or 2, got 'High'"],
    ['zero vCPUs', { 'table.csv': 'dummy,a1,a2\nvm1,1,2\nvm2,0,1\nvm3,4, \n' }, 'table.csv:3: vm2/a1: must be ≥ 1'],
    ['an availability above 1', { 'availability_sc.csv': 'dummy,a1,a2\nvm1,0.5,0.8\nvm2,0.5,50\nvm3,1.0, \n' }, 'availability_sc.csv:3: vm2/a2: must be within [0, 1]'],
    ['a duplicate host id', { 'hostsInfo.csv': 'ph1,host-17\nph2,host-17\nph3,host-09\n' }, "hostsInfo.csv:2: ph2: duplicate host id 'host-17'"],
    ['a service without components', { 'vms.csv': 'dummy,a1,a2\nvm1,yes,no\nvm2,yes,no\nvm3,yes,no\n' }, 'vms.csv:1: a2: a service needs at least one component (N = 0)'],
    ['a negative weight', { 'risk_weight.csv': '-1' }, 'risk_weight.csv:1: weight: must be ≥ 0'],
    ['a weight file with two values', { 'eco_weight.csv': '0.25\n0.5' }, 'eco_weight.csv:2: expected a single number'],
    ['a duplicate row', { 'basic.csv': 'dummy,a1,a2\nvm1,1,2\nvm1,1,1\nvm3,1, \n' }, "basic.csv:3: duplicate row 'vm1'"],
    ['a label with a space', { 'hosts.csv': 'ph1,ph 2,ph3' }, "hosts.csv:1: label 'ph 2' contains whitespace or a quote"],
    ['a duplicate set member', { 'hosts.csv': 'ph1,ph2,ph1' }, "hosts.csv:1: duplicate host 'ph1'"],
    ['an empty table', { 'vms.csv': '\n' }, "vms.csv:1: missing the 'dummy,...' header line"],
    ['rules without combs.csv', { 'combs.csv': null }, 'affinity_rules.csv:2: column c6: a rule needs combs.csv, which is missing'],
    ['a DOCTYPE in ServicesInfo.xml', { 'ServicesInfo.xml': '<?xml version="1.0"?>\n<!DOCTYPE services [<!ENTITY x "y">]>\n<services/>' }, 'ServicesInfo.xml:2: DOCTYPE is forbidden'],
    ['malformed ServicesInfo.xml', { 'ServicesInfo.xml': '<services>\n<service name="a1">\n</services>' }, 'ServicesInfo.xml:3: malformed XML'],
  ];

  it.each(cases)('%s', (_, changes, message) => {
    const error = loadError(workedExampleCopy(changes));
    expect(error.code).toBe('AC_ERR_MODEL_DIRECTORY');
    expect(error.message.startsWith(message)).toBe(true);
    expect(error.details[0]!.field).toBe(message.split(': ')[0]);
  });

  it('reports every missing required file in the details', () => {
    const error = loadError(workedExampleCopy({ 'vms.csv': null, 'table.csv': null }));
    expect(error.message).toBe('vms.csv: missing required file (and 1 more)');
    expect(error.details.map((d) => d.field)).toEqual(['vms.csv', 'table.csv']);
  });

  it('refuses a path that is not a directory, or does not exist', () => {
    const file = path.join(WORKED_EXAMPLE, 'vms.csv');
    expect(loadError(file).message).toBe(`${file}: not a directory`);
    const nowhere = path.join(scratch, 'nowhere');
    expect(loadError(nowhere).message).toBe(`${nowhere}: no such directory`);
  });
});
