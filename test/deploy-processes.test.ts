/**
 * Deployment with the real service (node dist/gateway/server.js, AC_DEPLOY=opennebula, host-info over OpenNebula)
 * against the stateful OpenNebula stub, over real HTTP: a kill -9 between two VM creations, then a restart on the same
 * data: the deployment completes with exactly one VM per slot, whether or not the interrupted create reached OpenNebula.
 * Then release terminates, and a VM failing in OpenNebula is noticed by the next host-info poll. On PostgreSQL, two
 * replicas: the one deploying is killed between two creations, and the other resumes once its lease lapses.
 */
import { manyComponentManifest } from './support/manifests';
import { OpenNebulaStub, type StubTemplate } from './support/opennebula-stub';
import { describePostgres, PostgresCluster } from './support/postgres';
import { startServerProcess, type ServerProcess } from './support/server-process';

jest.setTimeout(60_000);

const AUTH = 'oneadmin:opennebula';
const TEMPLATES: StubTemplate[] = [
  { id: 20, name: 'web', attributes: { CPU: '1', MEMORY: '512', EAC_COMPONENT: 'c1' } },
  { id: 21, name: 'db', attributes: { CPU: '1', MEMORY: '512', EAC_COMPONENT: 'c2' } },
];
const SHOP = manyComponentManifest({ serviceId: 'shop', components: 2, vcpus: 2, memoryMb: 1024, initial: 2, upperBound: 2 });

let stub: OpenNebulaStub;
const running: ServerProcess[] = [];

beforeEach(async () => {
  stub = await OpenNebulaStub.start(
    [
      { id: 3, name: 'one-1', cpus: 4, memoryMb: 8192 },
      { id: 7, name: 'one-2', cpus: 4, memoryMb: 8192 },
      { id: 11, name: 'one-3', cpus: 4, memoryMb: 8192 },
    ],
    TEMPLATES,
  );
});
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) await p.stop();
  }
  await stub.close();
});

async function start(dataDir?: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const p = await startServerProcess({
    AC_HOST_INFO: 'opennebula',
    AC_OPENNEBULA_URL: stub.url,
    AC_OPENNEBULA_AUTH: AUTH,
    AC_HOST_INFO_CACHE_MS: '1000',
    AC_DEPLOY: 'opennebula',
    AC_DEPLOY_LEASE_MS: '1500',
    AC_DEPLOY_POLL_MS: '200',
    AC_DEPLOY_TIMEOUT_MS: '60000',
    ...(dataDir ? { AC_DATA_DIR: dataDir } : {}),
    ...env,
  });
  running.push(p);
  return p;
}

async function call(p: ServerProcess, method: string, path: string, body?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${p.url}${path}`, { method, ...(body ? { body, headers: { 'Content-Type': 'application/xml' } } : {}) });
  return { status: res.status, body: await res.json() };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function killed(p: ServerProcess): Promise<void> {
  const exit = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await exit;
}

describe.each([
  ['reached OpenNebula (the VM exists, its id was never recorded)', true],
  ['did not reach OpenNebula', false],
])('kill -9 while the second VM is being created, which %s', (_name, afterEffect) => {
  test('the restarted service completes the deployment with one VM per slot', async () => {
    stub.hangOn('one.template.instantiate', afterEffect, 1);
    const first = await start();
    const admitted = await call(first, 'POST', '/api/v1/admissions', SHOP);
    expect(admitted.status).toBe(201);
    const id = admitted.body.services[0].admissionId as string;
    const confirmed = await call(first, 'POST', `/api/v1/admissions/${id}/confirm`);
    expect(confirmed.status).toBe(200);
    await until('the second create', async () => (stub.callsOf('one.template.instantiate').length >= 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 100));
    await killed(first);
    expect(stub.vms.size).toBe(afterEffect ? 2 : 1);

    const second = await start(first.dataDir);
    const d = await until('deployed', async () => {
      const r = await call(second, 'GET', `/api/v1/admissions/${id}`);
      return r.body.deployment?.status === 'deployed' ? r.body.deployment : undefined;
    });
    expect(d.attempts).toBe(1);
    expect(stub.live()).toHaveLength(4);
    expect(stub.vms.size).toBe(4);
    expect(new Set(stub.live().map((v) => v.userTemplate['EAC_SLOT'])).size).toBe(4);
    // The recorded ids are exactly OpenNebula's VMs, each on its slot's host.
    for (const vm of d.vms) {
      const one = stub.vms.get(vm.vmId)!;
      expect(one.state).toBe(3);
      expect(stub.hosts.find((h) => h.id === one.hostId)!.name).toBe(vm.hostId);
    }
    expect(stub.callsOf('one.template.instantiate')).toHaveLength(afterEffect ? 4 : 5);

    // Release: every VM terminated.
    expect((await call(second, 'DELETE', `/api/v1/admissions/${id}`)).body.released).toBe(true);
    await until('terminated', async () => ((await call(second, 'GET', `/api/v1/admissions/${id}/deployment`)).body.status === 'terminated' ? true : undefined));
    expect(stub.live()).toEqual([]);
  });
});

test('a VM failing in OpenNebula is noticed on the next host-info poll: an event, and its capacity freed', async () => {
  const p = await start();
  const id = (await call(p, 'POST', '/api/v1/admissions', SHOP)).body.services[0].admissionId as string;
  await call(p, 'POST', `/api/v1/admissions/${id}/confirm`);
  const d = await until('deployed', async () => {
    const r = await call(p, 'GET', `/api/v1/admissions/${id}/deployment`);
    return r.body.status === 'deployed' ? r.body : undefined;
  });
  const vm = d.vms[0];
  stub.failVm(vm.vmId, 39); // PROLOG_FAILURE
  const lost = await until('deployment.vm_lost', async () => {
    const r = await call(p, 'GET', '/api/v1/events?types=deployment.vm_lost');
    return r.body.events.length > 0 ? r.body.events : undefined;
  });
  expect(lost).toHaveLength(1);
  expect(lost[0]).toMatchObject({ type: 'deployment.vm_lost', subject: id, data: { slot: vm.slot, vmId: vm.vmId, reason: `VM ${vm.vmId} failed in OpenNebula (ACTIVE/PROLOG_FAILURE)`, freed: { hostId: vm.hostId, cpus: 2, memoryMb: 1024 } } });
  const admission = (await call(p, 'GET', `/api/v1/admissions/${id}`)).body;
  expect(admission.hosts.reduce((s: number, h: { cpus: number }) => s + h.cpus, 0)).toBe(6);
  expect(admission.deployment.progress).toMatchObject({ deployed: 3, lost: 1 });
});

describePostgres('deployment on PostgreSQL, two replicas', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await PostgresCluster.start();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  test('kill -9 of the replica deploying, between two VM creations: the other one resumes after the lease, one VM per slot', async () => {
    stub.hangOn('one.template.instantiate', true, 1); // the second create reaches OpenNebula; its answer never comes
    const url = await cluster.createDatabase();
    const replicas = [await start(undefined, { AC_DATABASE_URL: url }), await start(undefined, { AC_DATABASE_URL: url })];
    const admitted = await call(replicas[0]!, 'POST', '/api/v1/admissions', SHOP);
    expect(admitted.status).toBe(201);
    const id = admitted.body.services[0].admissionId as string;
    expect((await call(replicas[0]!, 'POST', `/api/v1/admissions/${id}/confirm`)).status).toBe(200);
    await until('the second create', async () => (stub.callsOf('one.template.instantiate').length >= 2 ? true : undefined));
    // Whichever replica claimed the deployment (the lease names its process) is the one stuck in the create: kill it.
    const [row] = await cluster.query<{ lease_holder: string }>('SELECT lease_holder FROM deployments WHERE admission_id = $1', [id], new URL(url).pathname.slice(1));
    const victim = replicas.find((p) => row!.lease_holder.includes(`:${p.child.pid}:`))!;
    const survivor = replicas.find((p) => p !== victim)!;
    expect(victim).toBeDefined();
    await killed(victim);
    expect(stub.vms.size).toBe(2);

    const d = await until('deployed by the survivor', async () => {
      const r = await call(survivor, 'GET', `/api/v1/admissions/${id}/deployment`);
      return r.body.status === 'deployed' ? r.body : undefined;
    });
    expect(d.attempts).toBe(1);
    // The VM the dead replica created was adopted by its tag: four VMs for four slots, none twice.
    expect(stub.vms.size).toBe(4);
    expect(stub.live()).toHaveLength(4);
    expect(new Set(stub.live().map((v) => v.userTemplate['EAC_SLOT'])).size).toBe(4);
    expect(stub.callsOf('one.template.instantiate')).toHaveLength(4);
    for (const vm of d.vms) expect(stub.hosts.find((h) => h.id === stub.vms.get(vm.vmId)!.hostId)!.name).toBe(vm.hostId);
    const [after] = await cluster.query<{ lease_holder: string | null }>('SELECT lease_holder FROM deployments WHERE admission_id = $1', [id], new URL(url).pathname.slice(1));
    expect(after!.lease_holder).toBeNull();

    expect((await call(survivor, 'DELETE', `/api/v1/admissions/${id}`)).body.released).toBe(true);
    await until('terminated', async () => ((await call(survivor, 'GET', `/api/v1/admissions/${id}/deployment`)).body.status === 'terminated' ? true : undefined));
    expect(stub.live()).toEqual([]);
  });
});
