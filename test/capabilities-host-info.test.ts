/**
 * Capabilities from host-info sources: the JSON inventory's `capabilities` (checked, with the field named), and
 * OpenNebula HOST TEMPLATE attributes through the configured mapping and the EAC_CAP_ convention, read over real HTTP
 * from a stub XML-RPC server on 127.0.0.1.
 */
import { OpenNebulaProvider, parseInventory } from '../host-info';
import { hostPoolXml, openNebulaHandler, startStub, type StubServer } from './support/stubs';
import { loadConfig } from '../config/config';

describe('inventory capabilities', () => {
  it('reads versions, values and flags', () => {
    const hosts = parseInventory(
      JSON.stringify({ hosts: [{ id: 'a', cpus: 8, usedCpus: 0, capabilities: { nodejs: '20.11.1', avx512: true, zone: 'eu-west-1a' } }, { id: 'b', cpus: 8, usedCpus: 0 }] }),
      'inv.json',
    );
    expect(hosts).toEqual([
      { id: 'a', cpus: 8, usedCpus: 0, capabilities: { nodejs: '20.11.1', avx512: true, zone: 'eu-west-1a' } },
      { id: 'b', cpus: 8, usedCpus: 0 },
    ]);
  });

  it.each([
    ['a false flag', { avx512: false }, 'hosts[0].capabilities.avx512'],
    ['a bad name', { 'no spaces': true }, 'hosts[0].capabilities.no spaces'],
    ['an empty value', { nodejs: '' }, 'hosts[0].capabilities.nodejs'],
    ['a list', ['nodejs'], 'hosts[0].capabilities'],
  ])('refuses %s, naming the field', (_title, capabilities, field) => {
    try {
      parseInventory(JSON.stringify({ hosts: [{ id: 'a', cpus: 8, usedCpus: 0, capabilities }] }), 'inv.json');
      throw new Error('accepted');
    } catch (e) {
      expect((e as { details: { field: string }[] }).details.map((d) => d.field)).toContain(`inv.json: ${field}`);
    }
  });
});

describe('OpenNebula TEMPLATE attributes as capabilities (stub XML-RPC server)', () => {
  let stub: StubServer;
  let pool = '';
  beforeAll(async () => {
    stub = await startStub(openNebulaHandler(() => pool));
  });
  afterAll(() => stub.close());

  const base = { state: 2, maxCpu: 800, cpuUsage: 0, maxMem: 16 * 1024 * 1024, memUsage: 0 };

  it('maps configured attributes and EAC_CAP_*; YES is a flag, NO and empty are absent; unmapped attributes are ignored', async () => {
    pool = hostPoolXml([
      { id: 0, name: 'node01', ...base, template: { NODEJS_VERSION: '20.11.1', EAC_CAP_ZONE: 'eu-west-1a', EAC_CAP_AVX512: 'YES', GPU_MODEL: 'a100', OWNER_NOTE: 'x' } },
      { id: 1, name: 'node02', ...base, template: { NODEJS_VERSION: '16.20.2', EAC_CAP_AVX512: 'NO', EAC_CAP_ZONE: '' } },
      { id: 2, name: 'node03', ...base },
    ]);
    const provider = new OpenNebulaProvider({ kind: 'opennebula', url: `${stub.url}/RPC2`, auth: 'oneadmin:secret', capabilityAttributes: { NODEJS_VERSION: 'nodejs', GPU_MODEL: 'gpu' }, timeoutMs: 2000, cacheTtlMs: 0 });
    const hosts = await provider.listHosts();
    expect(hosts.map((h) => [h.id, h.capabilities ?? null])).toEqual([
      ['node01', { nodejs: '20.11.1', zone: 'eu-west-1a', avx512: true, gpu: 'a100' }],
      ['node02', { nodejs: '16.20.2' }],
      ['node03', null],
    ]);
  });

  it('without a mapping only EAC_CAP_* attributes count', async () => {
    pool = hostPoolXml([{ id: 0, name: 'node01', ...base, template: { NODEJS_VERSION: '20.11.1', EAC_CAP_NODEJS: '18.19.0' } }]);
    const provider = new OpenNebulaProvider({ kind: 'opennebula', url: `${stub.url}/RPC2`, auth: 'oneadmin:secret', timeoutMs: 2000, cacheTtlMs: 0 });
    expect((await provider.listHosts())[0]!.capabilities).toEqual({ nodejs: '18.19.0' });
  });

  it('AC_OPENNEBULA_CAPABILITIES configures the mapping, and a malformed entry is a config error naming the variable', () => {
    const ok = loadConfig({ AC_OPENNEBULA_CAPABILITIES: 'NODEJS_VERSION=nodejs,GPU_MODEL=gpu' });
    expect(ok.hostInfo.openNebulaCapabilities).toEqual(['NODEJS_VERSION=nodejs', 'GPU_MODEL=gpu']);
    expect(() => loadConfig({ AC_OPENNEBULA_CAPABILITIES: 'NODEJS_VERSION' })).toThrow(/AC_OPENNEBULA_CAPABILITIES/);
  });
});
