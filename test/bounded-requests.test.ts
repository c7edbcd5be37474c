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

  test('in a batch, the cap names the manifest', async () => {
    const res = await request(gw.app).post('/api/v1/admissions?dryRun=true').send({ manifests: [SM, manyComponentManifest({ components: 30 })] });
    expect(res.status).toBe(413);
    expect(res.body.error.details[0].field).toBe('manifests[1].components');
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
