/**
 * The HTTP API over supertest: admissions (XML and JSON, dry-run, recorded, released, no double booking),
 * hosts, policy and constraints reaching the model, the OPTIMIS-compatible surface, and every bad input
 * answered with a 4xx naming the field — with nothing recorded.
 */
import request from 'supertest';
import { openApiDocument } from '../gateway/openapi';
import { readAllocationOffer } from '../formats/optimis-manifest/offer';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';
import { expectXsdValid } from './support/xsd';

const SM = readManifest('decision/SM_1c2.xml');
const BIG = readManifest('decision/BigSM_1c2.xml');
const PARTIAL = readManifest('decision/PartialSM_1c2.xml');

let gw: TestGateway;
beforeEach(async () => {
  gw = await testGateway({ hosts: fleet(4, 8) });
});
afterEach(() => gw.close());

const postXml = (xml: string, query = '') => request(gw.app).post(`/api/v1/admissions${query}`).set('Content-Type', 'application/xml').send(xml);
const admissionsRecorded = async (): Promise<number> => (await gw.admissions()).length;

describe('POST /api/v1/admissions: the OPTIMIS decision manifests on 4 hosts × 8 CPUs', () => {
  it('SM_1c2 is accepted, placed, recorded, and its manifest carries a valid offer with VM counts', async () => {
    const res = await postXml(SM);
    expect(res.status).toBe(201);
    const s = res.body.services[0];
    expect(s).toMatchObject({ serviceId: 'ACTestsDecisionAccepted', decision: 'accepted', localVms: 2, federatedVms: 0 });
    expect(s.admissionId).toMatch(/^adm-/);
    expect(res.headers.location).toBe(`/api/v1/admissions/${s.admissionId}`);
    expect(res.body.recorded).toBe(true);
    expect(res.body.solver).toMatchObject({ name: 'greedy' });
    await expectXsdValid(s.manifest);
    const offer = readAllocationOffer(s.manifest)!;
    expect(offer.decision).toBe('accepted');
    expect(offer.components.map((c) => [c.componentId, c.placements.reduce((t, p) => t + p.basicVms + p.elasticVms, 0)])).toEqual([
      ['compA', 1],
      ['compB', 1],
    ]);
  });

  it('BigSM_1c2 is rejected with a reason in words and data', async () => {
    const res = await postXml(BIG);
    expect(res.status).toBe(200); // nothing held
    const s = res.body.services[0];
    expect(s.decision).toBe('rejected');
    const compA = s.components.find((c: { id: string }) => c.id === 'compA');
    // compA's VMs have 10 vCPUs, every host 8 in total: no amount of free capacity would take one.
    const reason = compA.reasons.find((r: { code: string }) => r.code === 'VM_LARGER_THAN_ANY_HOST');
    expect(reason.data).toEqual({ vcpus: 10, largestHostCpus: 8 });
    expect(reason.message).toBe('one VM of compA needs 10 CPUs; the largest host has 8 in total');
    await expectXsdValid(s.manifest);
    expect(readAllocationOffer(s.manifest)!.decision).toBe('rejected');
  });

  it('PartialSM_1c2 is rejected: compB does not fit and federation is forbidden', async () => {
    const res = await postXml(PARTIAL);
    const s = res.body.services[0];
    expect(s.decision).toBe('rejected');
    expect(s.federatedVms).toBe(0);
    const codes = s.components.flatMap((c: { reasons: { code: string }[] }) => c.reasons.map((r) => r.code));
    expect(codes).toEqual(expect.arrayContaining(['INSUFFICIENT_CAPACITY', 'ALL_OR_NOTHING']));
    expect(s.summary).toMatch(/^rejected: /);
    await expectXsdValid(s.manifest);
  });

  it('several manifests in JSON are solved jointly, in order', async () => {
    const res = await request(gw.app).post('/api/v1/admissions?dryRun=true').send({ manifests: [SM, BIG, PARTIAL] });
    expect(res.status).toBe(200);
    expect(res.body.services.map((s: { decision: string }) => s.decision)).toEqual(['accepted', 'rejected', 'rejected']);
  });
});

describe('dry-run, reservations and double booking', () => {
  it('dry-run answers the same and records nothing', async () => {
    const dry = await postXml(SM, '?dryRun=true');
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ dryRun: true, recorded: false });
    expect(dry.body.services[0].admissionId).toBeNull();
    expect(dry.body.services[0].decision).toBe('accepted');
    expect(await admissionsRecorded()).toBe(0);
    const hosts = await request(gw.app).get('/api/v1/hosts');
    expect(hosts.body.hosts.every((h: { reservedCpus: number }) => h.reservedCpus === 0)).toBe(true);
  });

  it('a recorded admission holds capacity until released', async () => {
    const res = await postXml(SM);
    const id = res.body.services[0].admissionId;
    const got = await request(gw.app).get(`/api/v1/admissions/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, serviceId: 'ACTestsDecisionAccepted', status: 'held', owner: 'anonymous', end: null });
    const hosts = await request(gw.app).get('/api/v1/hosts');
    expect(hosts.body.hosts.reduce((t: number, h: { reservedCpus: number }) => t + h.reservedCpus, 0)).toBe(2);
    const del = await request(gw.app).delete(`/api/v1/admissions/${id}`);
    expect(del.body).toMatchObject({ id, released: true });
    const after = await request(gw.app).get('/api/v1/hosts');
    expect(after.body.hosts.reduce((t: number, h: { reservedCpus: number }) => t + h.reservedCpus, 0)).toBe(0);
    expect((await request(gw.app).get('/api/v1/admissions?active=true')).body.admissions).toEqual([]);
  });

  it('20 concurrent admissions of 2 CPUs (20 services) on 32 CPUs: exactly 16 accepted, never double-booked', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => postXml(SM.replace('opt:serviceId="ACTestsDecisionAccepted"', `opt:serviceId="svc-${i}"`))));
    const decisions = answers.map((r) => r.body.services[0].decision);
    expect(decisions.filter((d) => d === 'accepted')).toHaveLength(16);
    expect(decisions.filter((d) => d === 'rejected')).toHaveLength(4);
    const hosts = await request(gw.app).get('/api/v1/hosts');
    for (const h of hosts.body.hosts) expect(h.reservedCpus).toBeLessThanOrEqual(h.cpus);
    expect(hosts.body.hosts.reduce((t: number, h: { reservedCpus: number }) => t + h.reservedCpus, 0)).toBe(32);
    expect(hosts.body.totals).toMatchObject({ cpus: 32, reservedCpus: 32, freeCpus: 0 });
  });

  it('the same owner sending the same service again replaces its held offer (an SLA negotiation asks twice)', async () => {
    const first = (await postXml(SM)).body.services[0].admissionId;
    const second = (await postXml(SM)).body.services[0].admissionId;
    expect(second).not.toBe(first);
    expect((await request(gw.app).get(`/api/v1/admissions/${first}`)).body.status).toBe('released');
    expect((await request(gw.app).get(`/api/v1/admissions/${second}`)).body).toMatchObject({ status: 'held', replaces: first });
    const hosts = await request(gw.app).get('/api/v1/hosts');
    expect(hosts.body.totals.reservedCpus).toBe(2); // held once, not twice
  });

  it('unknown admission ids are 404', async () => {
    expect((await request(gw.app).get('/api/v1/admissions/nope')).status).toBe(404);
    const del = await request(gw.app).delete('/api/v1/admissions/nope');
    expect(del.status).toBe(404);
    expect(del.body.error.code).toBe('AC_ERR_NOT_FOUND');
  });
});

describe('policy and constraints reach the model', () => {
  it('changing the weights changes a decision (OPTIMIS setPolicy never reached its model)', async () => {
    expect((await postXml(SM, '?dryRun=true')).body.services[0].decision).toBe('accepted');
    const put = await request(gw.app).put('/api/v1/policy').send({ weights: { trust: 0, eco: 0, risk: 1, cost: 0 } });
    expect(put.status).toBe(200);
    expect(put.body.generation).toBe(2);
    // Risk only: admitting costs wr·Risk and gains nothing, so rejecting is optimal.
    const after = await postXml(SM, '?dryRun=true');
    expect(after.body.services[0].decision).toBe('rejected');
    expect(after.body.services[0].components[0].reasons.map((r: { code: string }) => r.code)).toContain('OBJECTIVE');
  });

  it('policy: GET, conflicting generation → 409, invalid weights → 400 naming the field', async () => {
    const got = await request(gw.app).get('/api/v1/policy');
    expect(got.body.weights).toEqual({ cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 });
    const conflict = await request(gw.app).put('/api/v1/policy').set('If-Match', '"7"').send({ weights: { trust: 0.5, eco: 0, risk: 0.5, cost: 0 } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('AC_ERR_CONFLICT');
    const bad = await request(gw.app).put('/api/v1/policy').send({ weights: { trust: -1, eco: 0, risk: 1, cost: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('body.weights.trust');
    expect((await request(gw.app).get('/api/v1/policy')).body.generation).toBe(1);
  });

  it('a per-service trust bound rejects the service, and the reason says where the bound came from', async () => {
    const put = await request(gw.app).put('/api/v1/services/ACTestsDecisionAccepted/constraints').send({ constraints: { trust: 9 } });
    expect(put.status).toBe(200);
    const res = await postXml(SM, '?dryRun=true');
    const s = res.body.services[0];
    expect(s.decision).toBe('rejected');
    const reason = s.components[0].reasons.find((r: { code: string }) => r.code === 'TREC_BOUND');
    expect(reason.data).toMatchObject({ metric: 'trust', value: 5, bound: 9, boundSource: 'service', valueSource: 'default' });
    const got = await request(gw.app).get('/api/v1/services/ACTestsDecisionAccepted/constraints');
    expect(got.body.effective.constraints.trust).toBe(9);
    expect((await request(gw.app).delete('/api/v1/services/ACTestsDecisionAccepted/constraints')).status).toBe(204);
    expect((await postXml(SM, '?dryRun=true')).body.services[0].decision).toBe('accepted');
  });

  it('default constraints: GET and PUT', async () => {
    const got = await request(gw.app).get('/api/v1/constraints/default');
    expect(got.body.constraints).toEqual({ eco: 0, trust: 0, risk: 7, cost: 1000000 });
    const put = await request(gw.app).put('/api/v1/constraints/default').send({ constraints: { eco: 0, trust: 0, risk: 7, cost: 5 } });
    expect(put.status).toBe(200);
    expect(put.body.constraints.cost).toBe(5);
  });
});

describe('operations', () => {
  it('/health and /ready report the host source, the database and the mode', async () => {
    for (const path of ['/health', '/ready']) {
      const res = await request(gw.app).get(path);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ ready: true, reasons: [], warnings: [], mode: 'open', hostInfo: { provider: 'test', ok: true, hosts: 4 }, database: { ok: true, kind: 'sqlite' } });
    }
    expect((await request(gw.app).get('/health')).body.status).toBe('ok');
  });

  it('a failing host source: /health stays 200 (alive) and says degraded, /ready is 503 with the reason', async () => {
    const failing = await testGateway({ hostInfo: { name: 'broken', listHosts: () => Promise.reject(new Error('connection refused')) } });
    const health = await request(failing.app).get('/health');
    const ready = await request(failing.app).get('/ready');
    await failing.close();
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'degraded', ready: false });
    expect(ready.status).toBe(503);
    expect(ready.body.reasons).toEqual(['no host list from broken: connection refused']);
    expect(ready.body.hostInfo).toMatchObject({ provider: 'broken', ok: false, lastError: { message: 'connection refused' } });
  });


  it('/openapi.json describes every route of the API', async () => {
    const res = await request(gw.app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
    for (const path of ['/api/v1/admissions', '/api/v1/admissions/{id}', '/api/v1/hosts', '/api/v1/policy', '/api/v1/services/{id}/constraints', '/api/v1/constraints/default', '/health', '/metrics', '/ACGateway/model/performACTest']) {
      expect(Object.keys(res.body.paths)).toContain(path);
    }
  });

  it('/metrics counts decisions', async () => {
    await postXml(SM, '?dryRun=true');
    const res = await request(gw.app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/eac_service_decisions_total\{decision="accepted",dry_run="true"\} 1/);
    // The admission went through the fair intake: one wait observed, nobody waiting now.
    expect(res.text).toMatch(/^eac_admission_queue_wait_seconds_count 1$/m);
    expect(res.text).toMatch(/^eac_admission_queue_length 0$/m);
  });

  it('GET /api/v1/hosts lists capacity with free CPUs', async () => {
    const res = await request(gw.app).get('/api/v1/hosts');
    expect(res.body.hosts).toHaveLength(4);
    expect(res.body.hosts[0]).toMatchObject({ id: 'host-1', cpus: 8, usedCpus: 0, reservedCpus: 0, freeCpus: 8, freeMemoryMb: 65536 });
  });
});

describe('OPTIMIS-compatible endpoints', () => {
  it('performACTest: form in, form out with serviceManifest per input and AllocationDetails', async () => {
    const res = await request(gw.app).post('/ACGateway/model/performACTest').type('form').send(`serviceManifest=${encodeURIComponent(SM)}&serviceManifest=${encodeURIComponent(BIG)}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/x-www-form-urlencoded/);
    const form = new URLSearchParams(res.text);
    const manifests = form.getAll('serviceManifest');
    expect(manifests).toHaveLength(2);
    expect(readAllocationOffer(manifests[0]!)!.decision).toBe('accepted');
    expect(readAllocationOffer(manifests[1]!)!.decision).toBe('rejected');
    const details = form.get('AllocationDetails')!;
    expect(details).toMatch(/^<allocation_details><service id="ACTestsDecisionAccepted"><service_component id="compA" federatedVMs="0"><physical_host id="host-\d"><assigned_VMs>1<\/assigned_VMs><\/physical_host><\/service_component>/);
    expect(await admissionsRecorded()).toBe(1); // the accepted one holds capacity
  });

  it('performOneManifestACTest: raw manifest in, manifest with its offer out', async () => {
    const res = await request(gw.app).post('/ACGateway/model/performOneManifestACTest?dryRun=true').set('Content-Type', 'text/plain').send(SM);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/xml/);
    await expectXsdValid(res.text);
    expect(readAllocationOffer(res.text)!.decision).toBe('accepted');
  });

  it('the state-changing GET originals are refused unless the operator enables them', async () => {
    for (const path of ['/ACGateway/data/setPolicy/0.3/0.2/0.4/0.1', '/ACGateway/data/perServiceConstraints/0.0/7.0/0/100000']) {
      const res = await request(gw.app).get(path);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('AC_ERR_FORBIDDEN');
      expect(res.body.error.message).toContain('optimis.allowStateChangingGet');
    }
    expect((await request(gw.app).get('/api/v1/policy')).body.weights).toEqual({ trust: 0.25, eco: 0.25, risk: 0.25, cost: 0.25 });
    const post = await request(gw.app).post('/ACGateway/data/setPolicy/0.3/0.2/0.4/0.1');
    expect(post.status).toBe(200);
    expect((await request(gw.app).get('/api/v1/policy')).body.weights).toEqual({ trust: 0.3, eco: 0.2, risk: 0.4, cost: 0.1 });
  });

  it('setPolicy by GET (original path, where enabled) and by PUT reaches the policy', async () => {
    const enabled = await testGateway({ optimis: { allowStateChangingGet: true } });
    try {
      const get = await request(enabled.app).get('/ACGateway/data/setPolicy/0.3/0.2/0.4/0.1');
      expect(get.status).toBe(200);
      expect(get.text).toContain('TRUST_weight = 0.3');
      expect((await request(enabled.app).get('/api/v1/policy')).body.weights).toEqual({ trust: 0.3, eco: 0.2, risk: 0.4, cost: 0.1 });
      await request(enabled.app).put('/ACGateway/data/setPolicy/0/0/1/0');
      expect((await request(enabled.app).get('/ACGateway/csv/getRisk_Weight')).text).toBe('1');
    } finally {
      await enabled.close();
    }
  });

  it('perServiceConstraints sets the global default, and the csv getters read it back', async () => {
    const res = await request(gw.app).put('/ACGateway/data/perServiceConstraints/0.0/7.0/0/100000');
    expect(res.status).toBe(200);
    expect((await request(gw.app).get('/ACGateway/csv/getCost_Constraint')).text).toBe('100000');
    expect((await request(gw.app).get('/ACGateway/csv/getRisk_Constraint')).text).toBe('7.0');
  });

  it('bad values and unknown csv names are 4xx', async () => {
    const bad = await request(gw.app).post('/ACGateway/data/setPolicy/abc/0/1/0');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('trust_weight');
    expect((await request(gw.app).get('/ACGateway/csv/getSecrets')).status).toBe(404);
  });
});

describe('batches are judged per manifest', () => {
  it('the same service twice is told apart by position: two answers, two bookings', async () => {
    const res = await request(gw.app).post('/api/v1/admissions').send({ manifests: [SM, SM] });
    expect(res.status).toBe(201);
    expect(res.body.services.map((s: { serviceId: string; manifestIndex: number; decision: string }) => [s.serviceId, s.manifestIndex, s.decision])).toEqual([
      ['ACTestsDecisionAccepted', 0, 'accepted'],
      ['ACTestsDecisionAccepted', 1, 'accepted'],
    ]);
    expect(res.body.services[0].admissionId).not.toBe(res.body.services[1].admissionId);
    expect((await gw.admissions()).filter((a) => a.status === 'held')).toHaveLength(2);
  });

  it('an invalid manifest gets its own error entry while the others are solved', async () => {
    const res = await request(gw.app).post('/api/v1/admissions?dryRun=true').send({ manifests: [SM, '<not-xml', BIG] });
    expect(res.status).toBe(200);
    expect(res.body.services.map((s: { manifestIndex: number; decision: string }) => [s.manifestIndex, s.decision])).toEqual([
      [0, 'accepted'],
      [2, 'rejected'],
    ]);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0]).toMatchObject({ manifestIndex: 1, error: { code: 'AC_ERR_MALFORMED_XML' } });
    expect(res.body.errors[0].error.details[0].field).toMatch(/^manifests\[1\]/);
  });

  it('when every manifest is invalid the request is (4xx, naming the first)', async () => {
    const res = await request(gw.app).post('/api/v1/admissions').send({ manifests: ['<a', '<b'] });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toMatch(/^manifests\[1\]/);
  });
});

describe('bad input: 4xx with a stable code and the field, never 5xx, nothing recorded', () => {
  const withInitial = (v: string) => SM.replace(/<opt:Initial>1<\/opt:Initial>/, `<opt:Initial>${v}</opt:Initial>`);
  const cases: [string, () => request.Test, number, string, RegExp | string][] = [
    ['malformed XML', () => postXml('<opt:ServiceManifest xmlns:opt="x"><unclosed>'), 400, 'AC_ERR_MALFORMED_XML', /line/],
    ['an entity declaration', () => postXml(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>${SM.replace(/^<\?xml[^>]*>/, '')}`), 400, 'AC_ERR_FORBIDDEN_XML', /DOCTYPE|ENTITY/],
    ['a missing Initial', () => postXml(SM.replace(/<opt:Initial>1<\/opt:Initial>/, '')), 422, 'AC_ERR_INVALID_MANIFEST', /Initial/],
    ['UpperBound below Initial', () => postXml(withInitial('5')), 422, 'AC_ERR_INVALID_MANIFEST', /UpperBound/],
    ['negative CPUs', () => postXml(SM.replace(/<rasd:VirtualQuantity>1<\/rasd:VirtualQuantity>/, '<rasd:VirtualQuantity>-2</rasd:VirtualQuantity>')), 422, 'AC_ERR_INVALID_MANIFEST', /VirtualQuantity|CPU/],
    ['an unknown component in a rule', () => postXml(SM.replace(/(<opt:AffinityRule>\s*<opt:Scope>\s*<opt:ComponentId>)compA/, '$1ghost')), 422, 'AC_ERR_INVALID_MANIFEST', /ghost/],
    ['a body over the cap', () => postXml(SM + ' '.repeat(1024 * 1024)), 413, 'AC_ERR_BODY_TOO_LARGE', 'body'],
    ['a wrong content type', () => request(gw.app).post('/api/v1/admissions').set('Content-Type', 'text/plain').send(SM), 415, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type'],
    ['malformed JSON', () => request(gw.app).post('/api/v1/admissions').set('Content-Type', 'application/json').send('{"manifests": ['), 400, 'AC_ERR_INVALID_REQUEST', 'body'],
    ['JSON without manifests', () => request(gw.app).post('/api/v1/admissions').send({ manifest: SM }), 400, 'AC_ERR_INVALID_REQUEST', /manifests|manifest/],
    ['an empty manifest list', () => request(gw.app).post('/api/v1/admissions').send({ manifests: [] }), 400, 'AC_ERR_INVALID_REQUEST', 'body.manifests'],
    ['a bad dryRun flag', () => postXml(SM, '?dryRun=maybe'), 400, 'AC_ERR_INVALID_REQUEST', 'query.dryRun'],
    ['an unknown route', () => request(gw.app).get('/api/v2/nothing'), 404, 'AC_ERR_NOT_FOUND', 'path'],
  ];
  it.each(cases)('%s', async (_label, send, status, code, field) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    const fields = res.body.error.details.map((d: { field: string }) => d.field).join(' ') + ' ' + res.body.error.message;
    if (typeof field === 'string') expect(fields).toContain(field);
    else expect(fields).toMatch(field);
    expect(res.body.requestId).toEqual(expect.any(String));
    expect(await admissionsRecorded()).toBe(0);
  });
});
