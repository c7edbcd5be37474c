/**
 * Bounded work over HTTP: caps on manifests per request, components per manifest and VMs per component answer 413
 * naming the cap (nothing solved, nothing recorded); 500- and 1,000-component manifests are admitted within the time
 * limit or refused with a clear error, never a crash.
 */
import request from 'supertest';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';
import { manyComponentManifest } from './support/manifests';

const SM = readManifest('decision/SM_1c2.xml');

describe('caps (413 AC_ERR_LIMIT_EXCEEDED naming the cap)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await testGateway({ hosts: fleet(8, 16), maxManifests: 3, limits: { maxComponentsPerManifest: 20, maxVmsPerComponent: 5 } });
  });
  afterAll(() => gw.close());

  test('manifests per request', async () => {
    const res = await request(gw.app).post('/api/v1/admissions').send({ manifests: [SM, SM, SM, SM] });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('AC_ERR_LIMIT_EXCEEDED');
    expect(res.body.error.message).toContain('AC_MAX_MANIFESTS');
    expect(res.body.error.details[0]).toEqual({ field: 'manifests', reason: 'at most 3 per request (AC_MAX_MANIFESTS)' });
  });

  test('components per manifest', async () => {
    const res = await request(gw.app).post('/api/v1/admissions?dryRun=true').set('Content-Type', 'application/xml').send(manyComponentManifest({ components: 21 }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('AC_ERR_LIMIT_EXCEEDED');
    expect(res.body.error.details[0]).toEqual({ field: 'manifest.components', reason: '21 > 20 (AC_MAX_COMPONENTS)' });
    const ok = await request(gw.app).post('/api/v1/admissions?dryRun=true').set('Content-Type', 'application/xml').send(manyComponentManifest({ components: 20 }));
    expect(ok.status).toBe(200);
  });

  test('VMs per component', async () => {
    const res = await request(gw.app).post('/api/v1/admissions').set('Content-Type', 'application/xml').send(manyComponentManifest({ components: 2, upperBound: 6 }));
    expect(res.status).toBe(413);
    expect(res.body.error.details[0]).toEqual({ field: 'manifest.components[c1].UpperBound', reason: '6 > 5 (AC_MAX_VMS_PER_COMPONENT)' });
    expect((await gw.admissions())).toEqual([]);
  });

  test('in a batch, the manifest over a cap gets its own error entry naming it, the others are admitted', async () => {
    const res = await request(gw.app).post('/api/v1/admissions?dryRun=true').send({ manifests: [SM, manyComponentManifest({ components: 30 })] });
    expect(res.status).toBe(200);
    expect(res.body.services.map((s: { manifestIndex: number }) => s.manifestIndex)).toEqual([0]);
    expect(res.body.errors).toEqual([{ manifestIndex: 1, error: expect.objectContaining({ code: 'AC_ERR_LIMIT_EXCEEDED' }) }]);
    expect(res.body.errors[0].error.details[0].field).toBe('manifests[1].components');
  });
});

describe('many components', () => {
  // 1,000 hosts of 16 CPUs: everything fits, so the solver has real work for every component.
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await testGateway({ hosts: fleet(1000, 16), solver: 'auto', bodyLimitBytes: 8 * 1024 * 1024 });
  });
  afterAll(() => gw.close());

  test.each([
    [500, true],
    [500, false],
    [1000, true],
    [1000, false],
  ])('%i components (federation allowed: %s): an answer, verified, never a 5xx', async (components, federationAllowed) => {
    const xml = manyComponentManifest({ components, federationAllowed, upperBound: 2 });
    const res = await request(gw.app).post('/api/v1/admissions?dryRun=true').set('Content-Type', 'application/xml').send(xml);
    expect(res.status).toBe(200);
    const s = res.body.services[0];
    expect(s.components).toHaveLength(components);
    expect(s.decision).toBe('accepted');
    expect(s.localVms).toBe(2 * components);
  });
});

describe('/health while a large admission solves (a real server process)', () => {
  test('answers throughout a 1,000-component dry-run, which itself ends in an answer', async () => {
    const { startServerProcess } = await import('./support/server-process');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-health-'));
    const inventory = path.join(dir, 'inventory.json');
    fs.writeFileSync(inventory, JSON.stringify({ hosts: Array.from({ length: 1000 }, (_, i) => ({ id: `n${i}`, cpus: 16, usedCpus: 0, memoryMb: 65536, usedMemoryMb: 0 })) }));
    const server = await startServerProcess({ AC_INVENTORY: inventory, AC_BODY_LIMIT: String(8 * 1024 * 1024), AC_SOLVER: 'auto' });
    try {
      const xml = manyComponentManifest({ components: 1000, upperBound: 2 });
      const started = Date.now();
      const admission = fetch(`${server.url}/api/v1/admissions?dryRun=true`, { method: 'POST', headers: { 'Content-Type': 'application/xml' }, body: xml });
      let done = false;
      void admission.then(() => (done = true));
      const latencies: number[] = [];
      while (!done && Date.now() - started < 60_000) {
        const t = Date.now();
        const h = await fetch(`${server.url}/health`);
        expect(h.status).toBe(200);
        latencies.push(Date.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
      const res = await admission;
      expect(res.status).toBe(200);
      const body = (await res.json()) as { services: { components: unknown[]; decision: string }[] };
      expect(body.services[0]!.components).toHaveLength(1000);
      expect(latencies.length).toBeGreaterThan(0);
      // Generous (shared CI cores): the point is that /health never waits for the solve (which takes far longer).
      expect(Math.max(...latencies)).toBeLessThan(1000);
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
