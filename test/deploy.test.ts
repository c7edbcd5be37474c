/**
 * Deploying confirmed admissions into OpenNebula (AC_DEPLOY=opennebula), in process, against a stateful OpenNebula
 * XML-RPC stub on 127.0.0.1: VMs on exactly the offer's hosts, all or nothing with rollback, retries that never duplicate
 * a VM, termination at the end, lost VMs noticed and their capacity freed, eac's own VMs counted once.
 * The kill -9 cases with real processes are in test/deploy-processes.test.ts.
 */
import request from 'supertest';
import { OpenNebulaCloud } from '../deploy/opennebula';
import type { CloudClient } from '../deploy/types';
import { OpenNebulaProvider } from '../host-info';
import type { LedgerEvent } from '../ledger/types';
import { DeploymentService } from '../service/deployments';
import { tokenHash } from '../gateway/auth';
import type { TokenConfig } from '../config/config';
import type { HostCapacity } from '../host-info/types';
import { testGateway, type TestGateway } from './support/gateway';
import { manyComponentManifest } from './support/manifests';
import { ACTION, ALLOCATE, OpenNebulaStub, type StubHost, type StubTemplate } from './support/opennebula-stub';

const AUTH = 'oneadmin:opennebula';
// OpenNebula host ids are not 0..n−1: the deployer must map names to them.
const HOSTS: StubHost[] = [
  { id: 3, name: 'one-1', cpus: 4, memoryMb: 8192 },
  { id: 7, name: 'one-2', cpus: 4, memoryMb: 8192 },
  { id: 11, name: 'one-3', cpus: 4, memoryMb: 8192 },
];
const TEMPLATES: StubTemplate[] = [
  { id: 20, name: 'web-image', attributes: { CPU: '1', MEMORY: '512', EAC_COMPONENT: 'c1' } },
  { id: 21, name: 'db-image', attributes: { CPU: '1', MEMORY: '512', EAC_COMPONENT: 'c2' } },
  { id: 22, name: 'spare', attributes: { CPU: '1', MEMORY: '512' } },
];
/** Two components × 2 VMs × 2 vCPUs, 1 GB: 8 of the 12 CPUs, on at least two hosts. */
const SHOP = manyComponentManifest({ serviceId: 'shop', components: 2, vcpus: 2, memoryMb: 1024, initial: 2, upperBound: 2 });
const SMALL = manyComponentManifest({ serviceId: 'small', components: 1, vcpus: 2, memoryMb: 1024, initial: 2, upperBound: 2 });

let stub: OpenNebulaStub;
let gw: TestGateway;
let t0: number;

async function open(over: { templates?: Record<string, string>; cloud?: CloudClient; leaseMs?: number; tokens?: TokenConfig[]; hosts?: HostCapacity[] } = {}): Promise<void> {
  gw = await testGateway({
    ...(over.tokens ? { tokens: over.tokens } : {}),
    hostInfo: over.hosts ? { name: 'inventory', listHosts: async () => over.hosts! } : new OpenNebulaProvider({ kind: 'opennebula', url: stub.url, auth: AUTH, timeoutMs: 2000, cacheTtlMs: 0 }),
    deploy: { cloud: over.cloud ?? cloud(), templates: over.templates ?? {}, ...(over.leaseMs !== undefined ? { leaseMs: over.leaseMs } : {}) },
  });
  t0 = Date.parse('2030-06-01T00:00:00.000Z');
  gw.clock.set(t0);
}
const cloud = (): OpenNebulaCloud => new OpenNebulaCloud({ url: stub.url, auth: AUTH, timeoutMs: 2000 });

beforeEach(async () => {
  stub = await OpenNebulaStub.start(HOSTS.map((h) => ({ ...h })), TEMPLATES);
});
afterEach(async () => {
  await gw?.close();
  await stub.close();
});

const at = (ms: number): string => new Date(ms).toISOString();
async function admit(xml: string, query = ''): Promise<string> {
  const res = await request(gw.app).post(`/api/v1/admissions${query}`).set('Content-Type', 'application/xml').send(xml);
  expect(res.status).toBe(201);
  expect(res.body.services[0].decision).toBe('accepted');
  return res.body.services[0].admissionId as string;
}
async function confirm(id: string): Promise<request.Response> {
  const res = await request(gw.app).post(`/api/v1/admissions/${id}/confirm`);
  await gw.deployments!.idle();
  return res;
}
const admission = async (id: string) => (await request(gw.app).get(`/api/v1/admissions/${id}`)).body;
const events = async (prefix = 'deployment.'): Promise<LedgerEvent[]> => (await gw.ledger.events(0, { limit: 1000 })).filter((e) => e.type.startsWith(prefix));
/** Per component, per host: how many VMs the offer placed there. */
function placed(body: { response: { components: { id: string; placements: { hostId: string; vms: number }[] }[] } }): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const c of body.response.components) for (const p of c.placements) (out[c.id] ??= {})[p.hostId] = (out[c.id]![p.hostId] ?? 0) + p.vms;
  return out;
}
/** The same, from the VMs OpenNebula runs. */
function running(): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const v of stub.live()) {
    const component = v.userTemplate['EAC_SLOT']!.split('/')[1]!.replace(/-\d+$/, '');
    const host = HOSTS.find((h) => h.id === v.hostId)?.name ?? `unplaced(${v.state})`;
    (out[component] ??= {})[host] = (out[component]![host] ?? 0) + 1;
  }
  return out;
}

describe('confirm deploys on the offer’s hosts', () => {
  test('every VM is created on hold from its component’s template, sized as booked, and deployed (enforced) to its host', async () => {
    await open();
    const id = await admit(SHOP);
    const res = await confirm(id);
    expect(res.status).toBe(200);
    expect(res.body.deployment).toMatchObject({ target: 'opennebula', status: 'scheduled', attempts: 0, progress: { vms: 4, deployed: 0, pending: 4 } });

    const body = await admission(id);
    expect(body.deployment).toMatchObject({ status: 'deployed', attempts: 1, progress: { vms: 4, deployed: 4, pending: 0, lost: 0 } });
    expect(running()).toEqual(placed(body));
    expect(Object.keys(placed(body)['c1']!).length + Object.keys(placed(body)['c2']!).length).toBeGreaterThan(1);
    const live = stub.live();
    expect(live).toHaveLength(4);
    for (const vm of body.deployment.vms) {
      const one = stub.vms.get(vm.vmId)!;
      expect(one).toMatchObject({ state: 3, lcmState: 3, templateId: vm.componentId === 'c1' ? 20 : 21, name: `${id}-${vm.slot}` });
      expect(HOSTS.find((h) => h.id === one.hostId)!.name).toBe(vm.hostId);
      expect(one.template).toMatchObject({ CPU: '2', VCPU: '2', MEMORY: '1024' });
      expect(one.userTemplate).toEqual({ EAC_ADMISSION: id, EAC_SLOT: `${id}/${vm.slot}` });
      expect(vm).toMatchObject({ state: 'deployed', cpus: 2, memoryMb: 1024, templateId: one.templateId });
    }
    // On hold (the 4th parameter), then one.vm.deploy with the host's OpenNebula id and enforce on.
    expect(stub.callsOf('one.template.instantiate').map((c) => c.params[3])).toEqual([true, true, true, true]);
    const deploys = stub.callsOf('one.vm.deploy').map((c) => ({ vm: c.params[1], host: c.params[2], enforce: c.params[3] }));
    expect(deploys).toHaveLength(4);
    for (const d of deploys) expect([3, 7, 11]).toContain(d.host);
    expect(deploys.every((d) => d.enforce === true)).toBe(true);
    expect((await events()).map((e) => [e.type, e.subject])).toEqual([
      ['deployment.started', id],
      ['deployment.succeeded', id],
    ]);
    expect((await events())[1]!.data['vms']).toHaveLength(4);
    // The session string never appears in what the API shows.
    expect(JSON.stringify(body)).not.toContain('opennebula:');
  });

  test('templates by configured mapping: a component id, or * for the rest, by template name or id', async () => {
    await open({ templates: { c1: '22', '*': 'db-image' } });
    const id = await admit(SHOP);
    await confirm(id);
    const vms = (await admission(id)).deployment.vms as { componentId: string; templateId: number }[];
    expect(vms.map((v) => [v.componentId, v.templateId])).toEqual([
      ['c1', 22],
      ['c1', 22],
      ['c2', 21],
      ['c2', 21],
    ]);
  });

  test('a component without a template fails the attempt before any VM is created', async () => {
    await open({ templates: { c1: 'web-image' } });
    stub.templates.splice(1, 1); // db-image (EAC_COMPONENT c2) is gone
    const id = await admit(SHOP);
    await confirm(id);
    const d = (await admission(id)).deployment;
    expect(d).toMatchObject({ status: 'deploy_failed', attempts: 1 });
    expect(d.error).toBe(`no VM template for component 'c2': map it in AC_DEPLOY_TEMPLATES or give one template EAC_COMPONENT="c2"`);
    expect(stub.callsOf('one.template.instantiate')).toHaveLength(0);
    const failed = (await events()).find((e) => e.type === 'deployment.failed')!;
    expect(failed.data).toMatchObject({ attempt: 1, error: d.error, removed: [] });
    expect(failed.data['slot']).toBeUndefined();
  });

  test('a host OpenNebula does not know (host-info from another source) fails the attempt before any VM is created', async () => {
    await open({ hosts: [{ id: 'one-1', cpus: 8, usedCpus: 0, memoryMb: 16384, usedMemoryMb: 0 }, { id: 'rack-9', cpus: 8, usedCpus: 8, memoryMb: 16384, usedMemoryMb: 16384 }] });
    stub.hosts.splice(0, stub.hosts.length, { id: 3, name: 'one-1', cpus: 8, memoryMb: 16384 });
    const id = await admit(SHOP);
    await confirm(id);
    expect((await admission(id)).deployment.status).toBe('deployed');
    const big = manyComponentManifest({ serviceId: 'big', components: 1, vcpus: 8, memoryMb: 1024, initial: 1, upperBound: 1 });
    // rack-9 is full in the inventory; free it there (not in OpenNebula) so that the offer lands on it.
    await gw.close();
    await open({ hosts: [{ id: 'one-1', cpus: 8, usedCpus: 8, memoryMb: 16384, usedMemoryMb: 16384 }, { id: 'rack-9', cpus: 8, usedCpus: 0, memoryMb: 16384, usedMemoryMb: 0 }] });
    const id2 = await admit(big);
    const before = stub.callsOf('one.template.instantiate').length;
    await confirm(id2);
    const d = (await admission(id2)).deployment;
    expect(d.status).toBe('deploy_failed');
    expect(d.error).toBe("host 'rack-9' of slot c1-1 is not an OpenNebula host (no HOST with that NAME)");
    expect(stub.callsOf('one.template.instantiate')).toHaveLength(before);
  });

  test('roles: a reader sees a deployment but may not retry it, another client sees nothing, anonymous is refused', async () => {
    const tokens: TokenConfig[] = [
      { name: 'client-1', role: 'client', sha256: tokenHash('tok-c1') },
      { name: 'client-2', role: 'client', sha256: tokenHash('tok-c2') },
      { name: 'reader-1', role: 'reader', sha256: tokenHash('tok-r') },
    ];
    await open({ tokens });
    stub.failOn('one.vm.deploy', { message: '[one.vm.deploy] Host capacity exceeded.', code: ACTION });
    const as = (t: string) => ({ Authorization: `Bearer ${t}` });
    const res = await request(gw.app).post('/api/v1/admissions').set({ ...as('tok-c1'), 'Content-Type': 'application/xml' }).send(SHOP);
    const id = res.body.services[0].admissionId as string;
    await request(gw.app).post(`/api/v1/admissions/${id}/confirm`).set(as('tok-c1'));
    await gw.deployments!.idle();
    expect((await request(gw.app).get(`/api/v1/admissions/${id}/deployment`).set(as('tok-r'))).body.status).toBe('deploy_failed');
    expect((await request(gw.app).get(`/api/v1/admissions/${id}/deployment`).set(as('tok-c2'))).status).toBe(404);
    expect((await request(gw.app).post(`/api/v1/admissions/${id}/deploy`)).status).toBe(401);
    expect((await request(gw.app).post(`/api/v1/admissions/${id}/deploy`).set(as('tok-r'))).status).toBe(403);
    expect((await request(gw.app).post(`/api/v1/admissions/${id}/deploy`).set(as('tok-c2'))).status).toBe(404);
    expect((await request(gw.app).post(`/api/v1/admissions/${id}/deploy`).set(as('tok-c1'))).status).toBe(202);
    await gw.deployments!.idle();
    expect((await request(gw.app).get(`/api/v1/admissions/${id}`).set(as('tok-c1'))).body.deployment.status).toBe('deployed');
  });

  test('a future reservation is deployed at its start, not at confirm', async () => {
    await open();
    const start = t0 + 3_600_000;
    const id = await admit(SHOP, `?start=${at(start)}&end=${at(start + 7_200_000)}`);
    await confirm(id);
    expect((await admission(id)).deployment).toMatchObject({ status: 'scheduled', notBefore: at(start) });
    expect(stub.calls.filter((c) => c.method === 'one.template.instantiate')).toHaveLength(0);
    gw.clock.set(start);
    await gw.advance();
    gw.deployments!.kick();
    await gw.deployments!.idle();
    expect((await admission(id)).deployment.status).toBe('deployed');
    expect(stub.live()).toHaveLength(4);
  });
});

describe('all or nothing', () => {
  test("a deploy refused half-way rolls back every VM created, reports OpenNebula's error, and a retry creates no duplicate", async () => {
    await open();
    stub.failOn('one.vm.deploy', { message: '[one.vm.deploy] Error deploying virtual machine 101 to HID: 7. Host capacity exceeded.', code: ACTION }, 1);
    const id = await admit(SHOP);
    await confirm(id);
    const d = (await admission(id)).deployment;
    expect(d.status).toBe('deploy_failed');
    expect(d.error).toContain('one.vm.deploy failed: [one.vm.deploy] Error deploying virtual machine 101 to HID: 7. Host capacity exceeded. (error code 2048 ACTION)');
    expect(stub.live()).toEqual([]);
    expect(stub.callsOf('one.template.instantiate')).toHaveLength(2);
    const terminated = stub.callsOf('one.vm.action').map((c) => [c.params[1], c.params[2]]);
    expect(terminated).toEqual([
      ['terminate-hard', 100],
      ['terminate-hard', 101],
    ]);
    expect(d.vms.map((v: { state: string }) => v.state)).toEqual(['removed', 'removed', 'planned', 'planned']);
    expect(d.progress).toEqual({ vms: 4, deployed: 0, pending: 2, lost: 0, removed: 2, terminating: 0, terminated: 0 });
    const failed = (await events()).find((e) => e.type === 'deployment.failed')!;
    expect(failed.data).toMatchObject({ attempt: 1, slot: 'c1-2', removed: [100, 101] });
    // The admission keeps its capacity: a retry may still place it.
    expect((await admission(id)).status).toBe('active');

    const retried = await request(gw.app).post(`/api/v1/admissions/${id}/deploy`);
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ status: 'scheduled', attempts: 1 });
    await gw.deployments!.idle();
    const after = (await admission(id)).deployment;
    expect(after).toMatchObject({ status: 'deployed', attempts: 2 });
    expect(after.error).toBeUndefined();
    expect(stub.live()).toHaveLength(4);
    expect(new Set(stub.live().map((v) => v.userTemplate['EAC_SLOT'])).size).toBe(4);
    expect((await request(gw.app).post(`/api/v1/admissions/${id}/deploy`)).status).toBe(409);
  });

  test('a create that fails (ALLOCATE) rolls back the VMs already deployed', async () => {
    await open();
    stub.failOn('one.template.instantiate', { message: '[one.template.instantiate] User [0] : Not enough quota.', code: ALLOCATE }, 2);
    const id = await admit(SHOP);
    await confirm(id);
    const d = (await admission(id)).deployment;
    expect(d.status).toBe('deploy_failed');
    expect(d.error).toContain('Not enough quota. (error code 16384 ALLOCATE)');
    expect(stub.live()).toEqual([]);
  });

  test('an answer lost after OpenNebula created the VM (a timeout): the rollback finds it by its tag and removes it', async () => {
    stub.hangOn('one.template.instantiate', true, 1);
    await open({ cloud: new OpenNebulaCloud({ url: stub.url, auth: AUTH, timeoutMs: 300 }) });
    const id = await admit(SHOP);
    await confirm(id);
    const d = (await admission(id)).deployment;
    expect(d.status).toBe('deploy_failed');
    expect(d.error).toContain('one.template.instantiate did not answer within 300 ms');
    expect(stub.vms.size).toBe(2);
    expect(stub.live()).toEqual([]);
  });

  test('a process that died between two VM creations: the next one adopts the VM it finds by tag and never duplicates', async () => {
    // The first process: its second create reaches OpenNebula, then the process "dies" (the call never returns).
    let creates = 0;
    let wakeTheDead: (e: Error) => void = () => undefined;
    const base = cloud();
    const dying: CloudClient = {
      name: base.name,
      hostIds: (s) => base.hostIds(s),
      templates: (s) => base.templates(s),
      deploy: (v, h, s) => base.deploy(v, h, s),
      terminate: (v, s) => base.terminate(v, s),
      vms: (s) => base.vms(s),
      create: async (spec, s) => {
        creates += 1;
        const id = await base.create(spec, s);
        if (creates === 2) return new Promise<number>((_resolve, reject) => (wakeTheDead = reject));
        return id;
      },
    };
    await open({ cloud: dying, leaseMs: 5000 });
    const id = await admit(SHOP);
    void request(gw.app).post(`/api/v1/admissions/${id}/confirm`).then(() => undefined);
    for (let i = 0; i < 200 && creates < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    expect(stub.vms.size).toBe(2);
    const mid = (await gw.ledger.deployment(id))!;
    expect(mid.vms.map((v) => v.state)).toEqual(['deployed', 'creating', 'planned', 'planned']);
    expect(mid.vms[1]!.vmId).toBeUndefined();

    // Another process (its own holder) takes over once the lease has lapsed.
    const other = new DeploymentService({ ledger: gw.ledger, cloud: cloud(), clock: () => gw.clock.now(), templates: {}, holder: 'second-process', leaseMs: 5000, terminateGraceMs: 300_000, pollMs: 60_000 });
    other.kick();
    await other.idle();
    expect((await gw.ledger.deployment(id))!.status).toBe('deploying'); // the lease still holds
    gw.clock.advance(5001);
    other.kick();
    await other.idle();
    const d = (await gw.ledger.deployment(id))!;
    expect(d.status).toBe('deployed');
    expect(d.attempts).toBe(1);
    expect(d.vms[1]!.vmId).toBe(101); // adopted, not created again
    expect(stub.vms.size).toBe(4);
    expect(new Set(stub.live().map((v) => v.userTemplate['EAC_SLOT'])).size).toBe(4);
    expect(stub.callsOf('one.template.instantiate')).toHaveLength(4);
    await other.stop();
    // Were the first process only stalled, its late failure must not touch what the other one now owns.
    wakeTheDead(new Error('the call failed late'));
    await gw.deployments!.idle();
    expect(stub.live()).toHaveLength(4);
    expect((await gw.ledger.deployment(id))!.status).toBe('deployed');
  });
});

describe('moving a deployed admission in time', () => {
  test('it moves only where its own hosts have room: never re-placed away from its VMs', async () => {
    await open();
    const id = await admit(SHOP);
    await confirm(id);
    const hosts = ((await admission(id)).hosts as { hostId: string }[]).map((h) => h.hostId);
    // Shortened in place: fine, same hosts.
    const shorter = await request(gw.app).patch(`/api/v1/admissions/${id}`).set('Content-Type', 'application/json').send({ end: at(t0 + 6 * 3_600_000) });
    expect(shorter.status).toBe(200);
    expect((shorter.body.hosts as { hostId: string }[]).map((h) => h.hostId)).toEqual(hosts);
    // Maintenance takes one of its hosts later on: moving there would need other hosts, which a deployed one never gets.
    const w = await request(gw.app).post('/api/v1/capacity/windows').set('Content-Type', 'application/json').send({ hosts: [hosts[0]], start: at(t0 + 2 * 3_600_000), end: at(t0 + 5 * 3_600_000), cpusDelta: -4, reason: 'disk swap' });
    expect(w.status).toBe(201);
    const moved = await request(gw.app).patch(`/api/v1/admissions/${id}`).set('Content-Type', 'application/json').send({ start: at(t0 + 3 * 3_600_000), end: at(t0 + 4 * 3_600_000) });
    expect(moved.status).toBe(409);
    expect(moved.body.error.code).toBe('AC_ERR_CAPACITY_CONFLICT');
    expect(moved.body.error.message).toContain(`admission '${id}' is deployed: its VMs run on its hosts`);
    expect((await admission(id)).hosts.map((h: { hostId: string }) => h.hostId)).toEqual(hosts);
  });
});

describe('the end of an admission', () => {
  test('release terminates every VM; an end in the window does too', async () => {
    await open();
    const id = await admit(SHOP);
    await confirm(id);
    const del = await request(gw.app).delete(`/api/v1/admissions/${id}`);
    expect(del.status).toBe(200);
    await gw.deployments!.idle();
    const d = (await admission(id)).deployment;
    expect(d).toMatchObject({ status: 'terminated', progress: { terminated: 4, deployed: 0 } });
    expect(stub.live()).toEqual([]);
    expect(stub.callsOf('one.vm.action').map((c) => c.params[1])).toEqual(['terminate', 'terminate', 'terminate', 'terminate']);
    const ended = (await events()).find((e) => e.type === 'deployment.terminated')!;
    expect((ended.data['vms'] as number[]).sort()).toEqual(d.vms.map((v: { vmId: number }) => v.vmId).sort());

    const id2 = await admit(SHOP, `?end=${at(t0 + 3_600_000)}`);
    await confirm(id2);
    expect(stub.live()).toHaveLength(4);
    gw.clock.set(t0 + 3_600_000);
    await gw.advance();
    gw.deployments!.kick();
    await gw.deployments!.idle();
    expect((await admission(id2)).deployment.status).toBe('terminated');
    expect(stub.live()).toEqual([]);
  });

  test('the end asks each guest to shut down; one that ignores it is terminated hard after the grace, a failed one at once', async () => {
    await open({ leaseMs: 60_000 });
    const id = await admit(SHOP);
    await confirm(id);
    const vms = (await admission(id)).deployment.vms as { slot: string; vmId: number }[];
    const [stubborn, failed] = [vms[0]!.vmId, vms[1]!.vmId];
    stub.vms.get(stubborn)!.ignoresAcpi = true;
    stub.failVm(failed); // ACTIVE/BOOT_FAILURE: oned refuses a graceful terminate
    await request(gw.app).delete(`/api/v1/admissions/${id}`);
    await gw.deployments!.idle();
    let d = (await admission(id)).deployment;
    // Two are gone, the failed one went hard, the stubborn guest is still shutting down.
    expect(d).toMatchObject({ status: 'terminating', progress: { vms: 4, terminating: 1, terminated: 3 } });
    expect(d.vms.find((v: { vmId: number }) => v.vmId === stubborn)).toMatchObject({ state: 'terminating', terminateRequestedAt: t0 });
    expect(stub.live().map((v) => [v.id, v.state, v.lcmState])).toEqual([[stubborn, 3, 12]]);
    const actions = (): [unknown, unknown][] => stub.callsOf('one.vm.action').map((c) => [c.params[1], c.params[2]]);
    expect(actions().filter(([, vm]) => vm === failed)).toEqual([['terminate', failed], ['terminate-hard', failed]]);
    expect(actions().filter(([, vm]) => vm === stubborn)).toEqual([['terminate', stubborn]]);
    expect((await events()).some((e) => e.type === 'deployment.terminated')).toBe(false);
    // Within the grace, later ticks only look.
    gw.clock.set(t0 + 300_000 - 1);
    gw.deployments!.kick();
    await gw.deployments!.idle();
    expect(actions().filter(([, vm]) => vm === stubborn)).toEqual([['terminate', stubborn]]);
    // Past it: terminate-hard, and the deployment is terminated with every VM id.
    gw.clock.set(t0 + 300_000);
    gw.deployments!.kick();
    await gw.deployments!.idle();
    expect(actions().filter(([, vm]) => vm === stubborn)).toEqual([['terminate', stubborn], ['terminate-hard', stubborn]]);
    expect(stub.live()).toEqual([]);
    d = (await admission(id)).deployment;
    expect(d).toMatchObject({ status: 'terminated', progress: { terminating: 0, terminated: 4 } });
    const ended = (await events()).filter((e) => e.type === 'deployment.terminated');
    expect(ended).toHaveLength(1);
    expect((ended[0]!.data['vms'] as number[]).sort()).toEqual(vms.map((v) => v.vmId).sort());
  });

  test('a guest that shuts down while eac waits is terminated without terminate-hard', async () => {
    await open();
    const id = await admit(SHOP);
    await confirm(id);
    const vmId = (await admission(id)).deployment.vms[0].vmId as number;
    stub.vms.get(vmId)!.ignoresAcpi = true;
    await request(gw.app).delete(`/api/v1/admissions/${id}`);
    await gw.deployments!.idle();
    expect((await admission(id)).deployment.status).toBe('terminating');
    stub.vms.get(vmId)!.state = 6; // the guest finally powered off: oned moves it to DONE
    gw.deployments!.kick();
    await gw.deployments!.idle();
    expect((await admission(id)).deployment).toMatchObject({ status: 'terminated', progress: { terminated: 4 } });
    expect(stub.callsOf('one.vm.action').map((c) => c.params[1])).not.toContain('terminate-hard');
  });

  test('a VM OpenNebula already deleted counts as terminated (NO_EXISTS)', async () => {
    await open();
    const id = await admit(SHOP);
    await confirm(id);
    const vmId = (await admission(id)).deployment.vms[0].vmId as number;
    stub.deleteVm(vmId);
    await request(gw.app).delete(`/api/v1/admissions/${id}`);
    await gw.deployments!.idle();
    expect((await admission(id)).deployment.status).toBe('terminated');
  });
});

describe('watching OpenNebula', () => {
  test('a VM that fails, or disappears, is noticed on the next poll: one event each and its capacity freed', async () => {
    await open();
    const id = await admit(SHOP);
    await confirm(id);
    const before = (await admission(id)).deployment.vms as { slot: string; vmId: number; hostId: string }[];
    const free = async (host: string): Promise<number> => (await request(gw.app).get('/api/v1/capacity')).body.hosts.find((h: { hostId: string }) => h.hostId === host).freeCpus;
    const [first, second] = [before[0]!, before[2]!];
    const freeBefore = await free(first.hostId);
    stub.failVm(first.vmId);
    expect(await gw.deployments!.reconcile()).toBe(1);
    expect(await gw.deployments!.reconcile()).toBe(0); // noticed once
    const lost = (await events()).filter((e) => e.type === 'deployment.vm_lost');
    expect(lost).toHaveLength(1);
    expect(lost[0]!.data).toMatchObject({ slot: first.slot, vmId: first.vmId, hostId: first.hostId, reason: `VM ${first.vmId} failed in OpenNebula (ACTIVE/BOOT_FAILURE)`, freed: { hostId: first.hostId, cpus: 2, memoryMb: 1024 } });
    // The failed VM still holds its share in OpenNebula (host-info counts it as used); the booking no longer does.
    expect(await free(first.hostId)).toBe(freeBefore);
    const record = (await gw.ledger.get(id))!;
    expect(record.hosts.reduce((s, h) => s + h.cpus, 0)).toBe(6);

    stub.deleteVm(second.vmId);
    const secondHostFree = await free(second.hostId);
    expect(await gw.deployments!.reconcile()).toBe(1);
    const gone = (await events()).filter((e) => e.type === 'deployment.vm_lost')[1]!;
    expect(gone.data).toMatchObject({ slot: second.slot, reason: `VM ${second.vmId} no longer exists in OpenNebula` });
    // Gone from OpenNebula and from the booking: 2 more CPUs free on its host.
    expect(await free(second.hostId)).toBe(secondHostFree + 2);
    const d = (await admission(id)).deployment;
    expect(d).toMatchObject({ status: 'deployed', progress: { deployed: 2, lost: 2 } });
    // At the end, the failed VM is terminated with the rest.
    await request(gw.app).delete(`/api/v1/admissions/${id}`);
    await gw.deployments!.idle();
    expect(stub.live()).toEqual([]);
  });

  test("eac's own VMs are counted once: in the booking, not again in OpenNebula's used figures", async () => {
    // One host of 12 CPUs: the service's 8 leave it partly used (the case where counting twice shows).
    await stub.close();
    stub = await OpenNebulaStub.start([{ id: 5, name: 'big', cpus: 12, memoryMb: 32768 }], TEMPLATES);
    await open();
    const id = await admit(SHOP);
    await confirm(id);
    // OpenNebula now reports 8 of 12 CPUs used by eac's VMs, and the ledger books the same 8.
    expect(stub.used(5).cpus).toBe(8);
    // Before a VM pool read, OpenNebula's figures are believed as they are: counted twice, never too little.
    expect((await request(gw.app).get('/api/v1/capacity')).body.totals.freeCpus).toBe(0);
    await gw.deployments!.reconcile();
    await new Promise((r) => setTimeout(r, 5));
    const capacity = (await request(gw.app).get('/api/v1/capacity')).body;
    expect(capacity.totals).toMatchObject({ cpus: 12, freeCpus: 4, reservedCpus: 8 });
    const other = await request(gw.app).post('/api/v1/admissions?dryRun=true').set('Content-Type', 'application/xml').send(SMALL);
    expect(other.body.services[0].decision).toBe('accepted');
    // A third service of the same size no longer fits once the second holds its offer.
    await admit(SMALL);
    const third = await request(gw.app).post('/api/v1/admissions?dryRun=true').set('Content-Type', 'application/xml').send(SMALL.replace('serviceId="small"', 'serviceId="third"'));
    expect(third.body.services[0].decision).not.toBe('accepted');
  });
});
