/**
 * Capabilities and federation: a component that no local host qualifies for is sent to a peer only if the peer
 * advertises the capability (config `capabilities`), and the sub-manifest it receives carries the eac:Requires
 * element, so the peer places it on its own qualifying hosts. Two in-process services over real HTTP on 127.0.0.1.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import request from 'supertest';
import type { PeerConfig } from '../config/config';
import type { HostCapacity } from '../host-info/types';
import { testGateway, type TestGateway } from './support/gateway';

const EXAMPLE = fs.readFileSync(path.join(__dirname, '..', 'examples', 'manifests', 'capabilities.xml'), 'utf8');
const SECRET = 'peer-secret-for-capabilities-0123';

/** 8 roomy hosts, none with nodejs in the range the app tier needs (16 on some). */
const local = (): HostCapacity[] =>
  Array.from({ length: 8 }, (_, j) => ({ id: `a-${j + 1}`, cpus: 16, usedCpus: 0, memoryMb: 65536, usedMemoryMb: 0, ...(j % 2 ? { capabilities: { nodejs: '16.20.2' } } : {}) }));
/** The peer: 4 hosts, two with nodejs 20. */
const remote = (): HostCapacity[] =>
  Array.from({ length: 4 }, (_, j) => ({ id: `b-${j + 1}`, cpus: 16, usedCpus: 0, memoryMb: 65536, usedMemoryMb: 0, ...(j < 2 ? { capabilities: { nodejs: '20.11.1' } } : {}) }));

describe('federation with capabilities', () => {
  let peer: TestGateway;
  let server: Server;
  let url = '';
  const gateways: TestGateway[] = [];

  beforeAll(async () => {
    peer = await testGateway({ hosts: remote(), peerSecret: SECRET, providerId: 'peer-b' });
    server = peer.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const g of gateways) await g.close();
    await new Promise((r) => server.close(r));
    await peer.close();
  });

  const origin = async (capabilities?: PeerConfig['capabilities']): Promise<TestGateway> => {
    const g = await testGateway({ hosts: local(), providerId: 'origin-a', peers: [{ id: 'peer-b', url, secret: SECRET, timeoutMs: 5000, ...(capabilities ? { capabilities } : {}) }] });
    gateways.push(g);
    return g;
  };

  const app = (body: { services: { components: { id: string; federatedVms: number; reasons: { code: string }[] }[]; federation?: { status: string; attempts: { peerId: string; outcome: string; error?: string }[] } }[] }) =>
    body.services[0]!.components.find((c) => c.id === 'app')!;

  it('sends the app tier to a peer that advertises nodejs 20, with eac:Requires in the sub-manifest', async () => {
    const a = await origin({ nodejs: ['18.19.0', '20.11.1'] });
    const before = new Set((await peer.admissions()).map((r) => r.id));
    const res = await request(a.app).post('/api/v1/admissions').set('Content-Type', 'application/xml').send(EXAMPLE);
    expect(res.status).toBe(201);
    expect(app(res.body).reasons.map((r) => r.code)).toContain('CAPABILITY_UNAVAILABLE');
    expect(res.body.services[0].federation.status).toBe('federated');
    expect(app(res.body).federatedVms).toBeGreaterThan(0);
    // The peer booked it on its nodejs-20 hosts only: the requirement travelled with the sub-manifest.
    const booked = (await peer.admissions()).filter((r) => !before.has(r.id));
    expect(booked).toHaveLength(1);
    expect(String((booked[0]!.response as { inputManifest: string }).inputManifest)).toContain('<eac:Requires name="nodejs" range="&gt;=18 &lt;21"/>');
    const appHosts = ((booked[0]!.response as { components: { id: string; placements: { hostId: string; vms: number }[] }[] }).components.find((c) => c.id === 'app')!.placements ?? [])
      .filter((p) => p.vms > 0)
      .map((p) => p.hostId);
    expect(appHosts.length).toBeGreaterThan(0);
    expect(appHosts.every((h) => h === 'b-1' || h === 'b-2')).toBe(true);
  });

  it("carries the JSON body's requirements into the sub-manifest as eac elements, and the peer honours them", async () => {
    const a = await origin({ nodejs: ['18.19.0', '20.11.1'] });
    // The peer's list is not in booking order: what this test booked is what was not there before.
    const before = new Set((await peer.admissions()).map((r) => r.id));
    const bare = EXAMPLE.replace(/\s*<eac:Requires name="nodejs" range="&gt;=18 &lt;21"\/>/, '');
    expect(bare).not.toContain('<eac:Requires');
    const res = await request(a.app).post('/api/v1/admissions').send({ manifests: [bare], capabilities: [{ app: { requires: ['nodejs@>=18 <21', '!gpu'] } }] });
    expect(res.status).toBe(201);
    expect(res.body.services[0].federation.status).toBe('federated');
    const booked = (await peer.admissions()).filter((r) => !before.has(r.id));
    expect(booked).toHaveLength(1);
    const sub = String((booked[0]!.response as { inputManifest: string }).inputManifest);
    expect(sub).toContain('<eac:Requires xmlns:eac="urn:eac:capabilities" name="nodejs" range="&gt;=18 &lt;21"/>');
    expect(sub).toContain('<eac:Forbids xmlns:eac="urn:eac:capabilities" name="gpu"/>');
    const appHosts = ((booked[0]!.response as { components: { id: string; placements: { hostId: string; vms: number }[] }[] }).components.find((c) => c.id === 'app')!.placements ?? [])
      .filter((p) => p.vms > 0)
      .map((p) => p.hostId);
    expect(appHosts.length).toBeGreaterThan(0);
    expect(appHosts.every((h) => h === 'b-1' || h === 'b-2')).toBe(true);
  });

  it('does not ask a peer that advertises no satisfying nodejs, and says why', async () => {
    const variants: (PeerConfig['capabilities'] | undefined)[] = [undefined, { nodejs: '16.20.2' }, { gpu: 'a100' }];
    for (const capabilities of variants) {
      const a = await origin(capabilities);
      const res = await request(a.app).post('/api/v1/admissions?dryRun=true').set('Content-Type', 'application/xml').send(EXAMPLE);
      expect(res.status).toBe(200);
      const federation = res.body.services[0].federation;
      expect(federation.status).not.toBe('federated');
      expect(federation.attempts).toEqual([expect.objectContaining({ peerId: 'peer-b', outcome: 'skipped', error: expect.stringContaining('does not advertise nodejs@>=18 <21') })]);
    }
  });
});
