/**
 * Federation units: splitting (what is sent, bounds, affinity refusals, XSD-valid sub-manifests), merging (the merged
 * manifest XSD-valid despite the schema's key/keyref clash, decision, cost, VM counts), peer ordering, inbound headers,
 * and the Federator against in-process peers (garbage, inconsistent, partial, slow answers; loop detection).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { PeerConfig } from '../config/config';
import { AdmissionService, type ServiceAnswer } from '../service/admission-service';
import { Federator, type InboundFederation } from '../federation';
import { readFederationHeaders } from '../gateway/federation-inbound';
import { declaredComponentIds, embeddablePeerManifest, mergeAccepted, withFederationFailure } from '../federation/merge';
import { orderPeers } from '../federation/peers';
import { buildSubManifest, planSplit, type SplitPlan } from '../federation/split';
import { readAllocationOffer, writeAllocationOffer } from '../formats/optimis-manifest/offer';
import { parseManifest } from '../formats/optimis-manifest/parse';
import { tempLedger } from './support/ledger';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';
import { expectXsdValid, xsd } from './support/xsd';

const FIXTURES = path.join(__dirname, 'fixtures', 'federation');
const WEB_DB = fs.readFileSync(path.join(FIXTURES, 'web-db.xml'), 'utf8');
const WEB_DB_TOGETHER = fs.readFileSync(path.join(FIXTURES, 'web-db-affinity.xml'), 'utf8');
const FED_INPUT = readManifest('examples/federation-input.xml');
const IP_EXAMPLE = readManifest('other/IP-ManifestExample.xml');
const SP_EXAMPLE = readManifest('other/SP-ManifestExample.xml');
const OPTIMIS_GEN = readManifest('other/OptimisGen_1.xml');

type Outcome = { id: string; acceptedLocally: boolean; federatedVms: number };
const local = (id: string): Outcome => ({ id, acceptedLocally: true, federatedVms: 0 });
const away = (id: string, federatedVms: number): Outcome => ({ id, acceptedLocally: false, federatedVms });
const topUp = (id: string, federatedVms: number): Outcome => ({ id, acceptedLocally: true, federatedVms });

function plan(xml: string, outcomes: readonly Outcome[]): SplitPlan {
  const r = planSplit(parseManifest(xml), outcomes);
  if (!r || !r.ok) throw new Error(`expected a split plan, got ${JSON.stringify(r)}`);
  return r.plan;
}

/** Every ComponentId of every Scope, in document order. */
function scopeIds(xml: string): string[] {
  return [...xml.matchAll(/<opt:ComponentId>([^<]*)<\/opt:ComponentId>/g)].map((m) => m[1]!);
}

describe('planSplit: what is sent, with which bounds', () => {
  it('a component not admitted locally goes whole: Initial from the manifest, UpperBound = max(φ, Initial)', () => {
    const p = plan(FED_INPUT, [away('web', 3), local('db')]);
    expect(p).toEqual({
      serviceId: 'demo-svc',
      whole: false,
      components: [{ componentId: 'web', reason: 'not-admitted-locally', initial: 1, upperBound: 3, modelFederatedVms: 3 }],
    });
  });

  it('a component the model left out (φ = 0) is sent with its own bounds: the service is not covered without it', () => {
    const p = plan(WEB_DB, [away('web', 0), local('db')]);
    expect(p.components).toEqual([{ componentId: 'web', reason: 'not-admitted-locally', initial: 6, upperBound: 8, modelFederatedVms: 0 }]);
  });

  it('federated VMs of a locally admitted component are sent too (OPTIMIS lost them, D5): Initial = UpperBound = φ', () => {
    const p = plan(WEB_DB, [topUp('web', 2), local('db')]);
    expect(p.components).toEqual([{ componentId: 'web', reason: 'elastic-top-up', initial: 2, upperBound: 2, modelFederatedVms: 2 }]);
  });

  it('nothing local: the whole service is sent', () => {
    const p = plan(WEB_DB, [away('web', 8), away('db', 1)]);
    expect(p.whole).toBe(true);
    expect(p.components.map((c) => c.componentId)).toEqual(['web', 'db']);
  });

  it('nothing to send when everything is local and nothing federated', () => {
    expect(planSplit(parseManifest(WEB_DB), [local('web'), local('db')])).toBeUndefined();
  });

  it('a Medium affinity rule with one member here and one at a peer forbids the split, and says why', () => {
    const r = planSplit(parseManifest(WEB_DB_TOGETHER), [away('web', 8), local('db')]);
    expect(r).toEqual({
      ok: false,
      reasons: [
        {
          code: 'SPLIT_NOT_ALLOWED',
          message: 'the Medium affinity rule over web, db keeps its components together: web would go to a peer while db runs here',
          data: { rule: 'affinity', level: 'Medium', members: ['web', 'db'], sent: ['web'], local: ['db'] },
        },
      ],
    });
    // Both members going together is fine.
    expect(plan(WEB_DB_TOGETHER, [away('web', 8), away('db', 1)]).whole).toBe(true);
  });

  it('a High affinity rule forbids splitting too; anti-affinity rules never do', () => {
    // IP-ManifestExample: High affinity AND High anti-affinity over mysql, LB.
    const r = planSplit(parseManifest(IP_EXAMPLE), [local('jboss'), local('mysql'), local('VPN'), away('LB', 1)]);
    expect(r?.ok).toBe(false);
    expect(r && !r.ok && r.reasons[0]!.data).toMatchObject({ rule: 'affinity', level: 'High', sent: ['LB'], local: ['mysql'] });
    // federation-input.xml: a High ANTI-affinity rule over web and db ("different clouds"): splitting is what it asks for.
    expect(planSplit(parseManifest(FED_INPUT), [away('web', 3), local('db')])?.ok).toBe(true);
  });

  it("a component's own Medium/High affinity forbids sending part of its instances", () => {
    // federation-input.xml: db has component affinity High.
    const r = planSplit(parseManifest(FED_INPUT), [local('web'), topUp('db', 1)]);
    expect(r?.ok).toBe(false);
    expect(r && !r.ok && r.reasons[0]!.message).toBe('db has High affinity: its instances may not be split between this provider and a peer');
    // Sent whole, a High-affinity component keeps its rule at the peer: allowed.
    expect(planSplit(parseManifest(FED_INPUT), [local('web'), away('db', 1)])?.ok).toBe(true);
  });
});

describe('buildSubManifest: the sub-manifest a peer gets', () => {
  it('keeps only the sent components, with the new bounds, scopes restricted, and validates', async () => {
    const sub = buildSubManifest(FED_INPUT, plan(FED_INPUT, [away('web', 3), local('db')]));
    await expectXsdValid(sub);
    const m = parseManifest(sub);
    expect(m.components.map((c) => [c.id, c.basic, c.maxVms])).toEqual([['web', 1, 3]]);
    expect(m.serviceId).toBe('demo-svc');
    expect(m.federationAllowed).toBe(true);
    expect(scopeIds(sub)).toEqual(['web', 'web', 'web', 'web', 'web']); // 2 rules + 3 TREC sections, db dropped from each
    expect(sub).not.toContain('system-db');
  });

  it('bounds follow the plan (top-up), LowerBound is clamped to the new UpperBound', async () => {
    const sub = buildSubManifest(WEB_DB, plan(WEB_DB, [topUp('web', 2), local('db')]));
    expect(sub).toMatch(/<opt:LowerBound>1<\/opt:LowerBound>\s*<opt:UpperBound>2<\/opt:UpperBound>\s*<opt:Initial>2<\/opt:Initial>/);
    const lowered = buildSubManifest(IP_EXAMPLE, plan(IP_EXAMPLE, [topUp('jboss', 1), local('mysql'), local('VPN'), local('LB')]));
    await expectXsdValid(sub, lowered);
    expect(parseManifest(lowered).components[0]).toMatchObject({ id: 'jboss', basic: 1, maxVms: 1 });
  });

  it('drops the IP extensions (offer, incarnated components), sections left without scope, and other components SP configuration', async () => {
    const gen = buildSubManifest(OPTIMIS_GEN, plan(OPTIMIS_GEN, [local('optimis-pm-GeneDetection'), away('optimis-pm-autoMethod0', 1)]));
    const subs = [IP_EXAMPLE, SP_EXAMPLE].map((xml) => buildSubManifest(xml, plan(xml, [away('jboss', 17), local('mysql'), away('VPN', 1), local('LB')])));
    await expectXsdValid(...subs, gen);
    for (const [i, xml] of [IP_EXAMPLE, SP_EXAMPLE].entries()) {
      const sub = subs[i]!;
      expect(parseManifest(sub).components.map((c) => c.id)).toEqual(['jboss', 'VPN']);
      expect(sub).not.toContain('InfrastructureProviderExtensions');
      expect(readAllocationOffer(sub)).toBeUndefined();
      expect(new Set(scopeIds(sub))).toEqual(new Set(['jboss', 'VPN'].filter((id) => scopeIds(xml).includes(id))));
      // SP configurations: only those of the sent components remain.
      expect([...sub.matchAll(/VirtualMachineComponentConfiguration[^>]*componentId="([^"]*)"/g)].map((m) => m[1]).every((id) => ['jboss', 'VPN'].includes(id!))).toBe(true);
    }
  });

  it('the rest of the document is kept byte for byte', () => {
    const sub = buildSubManifest(WEB_DB, plan(WEB_DB, [away('web', 8), away('db', 1)]));
    expect(sub).toBe(WEB_DB); // whole service, bounds unchanged: nothing to edit
  });
});

// ---------------------------------------------------------------------------------------------
// Real local and peer answers, from two in-process admission services.

function service(hosts: ReturnType<typeof fleet>, peers: PeerConfig[] = [], providerId = 'A'): { svc: AdmissionService; close: () => Promise<void> } {
  const { ledger, cleanup } = tempLedger();
  const svc = new AdmissionService({ name: 'test', listHosts: async () => hosts.map((h) => ({ ...h })) }, ledger, {
    solver: 'greedy',
    timeLimitSeconds: 2,
    mipRelGap: 0,
    maxManifests: 10,
    reservationTtlSeconds: 900,
    defaultGain: 100,
    providerId,
    trec: { endpoints: {}, fallbacks: { trust: 5, eco: 8, risk: 0.001, hostRisk: 0.01, hostEco: 'index' }, timeoutMs: 200, retries: 0, backoffMs: 10 },
    federation: { peers, maxHops: 2 },
  });
  return {
    svc,
    close: () => {
      svc.close();
      return cleanup();
    },
  };
}

const inbound: InboundFederation = { hop: 1, origin: ['A'], id: 'fed-unit' };

describe('merging', () => {
  const a = service(fleet(2, 4));
  const b = service(fleet(8, 16), [], 'B');
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  async function localAndPeer(xml: string): Promise<{ localAnswer: ServiceAnswer; sub: string; peer: ServiceAnswer; p: SplitPlan }> {
    const localAnswer = (await a.svc.admit({ owner: 'test', manifests: [xml], dryRun: true, requestId: 'a' })).services[0]!;
    const p = plan(xml, localAnswer.components);
    const sub = buildSubManifest(xml, p);
    const peer = (await b.svc.admit({ owner: 'test', manifests: [sub], dryRun: true, requestId: 'b', federation: inbound })).services[0]!;
    return { localAnswer, sub, peer, p };
  }

  function merge(xml: string, localAnswer: ServiceAnswer, peer: ServiceAnswer, p: SplitPlan, peerId = 'B'): ServiceAnswer {
    const embedded = embeddablePeerManifest(peer.manifest, peerId, declaredComponentIds(xml));
    const placed = new Map(peer.components.map((c) => [c.id, c.localVms + c.federatedVms]));
    const cost = { local: 1, federated: peer.trec.cost, total: 1 + peer.trec.cost, federatedSource: 'peer' as const };
    return mergeAccepted({
      local: localAnswer,
      inputXml: xml,
      parsed: parseManifest(xml),
      embeddedXml: embedded.xml,
      peerId,
      placedVms: placed,
      cost,
      report: {
        status: 'federated',
        federationId: 'f',
        hop: 1,
        origin: ['A'],
        sent: p.components,
        peerId,
        protocol: 'eac',
        peerDecision: 'accepted',
        peerAdmissionId: null,
        placedVms: Object.fromEntries(placed),
        embeddedIds: embedded.idMap,
        peerManifest: peer.manifest,
        cost,
        attempts: [],
        reasons: [],
        seconds: 0,
      },
    });
  }

  it('the OPTIMIS federated example fails the XSDs (key/keyref clash, interfaces.md §1.7); our merge of the same case validates', async () => {
    expect((await xsd(readManifest('examples/minimal-output-partial-federated.xml'))).valid).toBe(false);
    const { localAnswer, peer, p } = await localAndPeer(FED_INPUT);
    expect(localAnswer.decision).toBe('partial');
    expect(peer.decision).toBe('accepted');
    const merged = merge(FED_INPUT, localAnswer, peer, p);
    await expectXsdValid(peer.manifest, merged.manifest);
    const offer = readAllocationOffer(merged.manifest)!;
    expect(offer.decision).toBe('accepted');
    expect(offer.components.map((c) => c.componentId)).toEqual(['db']);
    expect(offer.externalDeployments).toHaveLength(1);
    expect(offer.externalDeployments[0]!.providerId).toBe('B');
    const inner = readAllocationOffer(offer.externalDeployments[0]!.manifestXml)!;
    expect(inner.decision).toBe('accepted');
    expect(inner.components.map((c) => c.componentId)).toEqual(['web@B']);
    // The embedded copy has no scoped section; the outer manifest keeps all of its own.
    expect(offer.externalDeployments[0]!.manifestXml).not.toContain('Scope');
    expect(scopeIds(merged.manifest)).toEqual(scopeIds(FED_INPUT));
  });

  it('the merged answer: accepted, local placements kept, federated VMs and cost from the peer, summary in words', async () => {
    const { localAnswer, peer, p } = await localAndPeer(WEB_DB);
    expect(localAnswer.components.map((c) => [c.id, c.localVms, c.federatedVms])).toEqual([
      ['web', 0, 8],
      ['db', 1, 0],
    ]);
    const merged = merge(WEB_DB, localAnswer, peer, p);
    expect(merged.decision).toBe('accepted');
    expect(merged.components.map((c) => [c.id, c.localVms, c.federatedVms])).toEqual([
      ['web', 0, 8],
      ['db', 1, 0],
    ]);
    expect(merged.components[1]!.placements).toEqual(localAnswer.components[1]!.placements);
    expect(merged.federatedVms).toBe(8);
    expect(merged.trec.cost).toBe(1 + peer.trec.cost);
    expect(merged.summary).toBe('accepted with federation: db admitted locally with 1 VM(s); web (8 VM(s)) federated to B');
    expect(merged.federation!.embeddedIds).toEqual({ web: 'web@B' });
    await expectXsdValid(merged.manifest);
  });

  it('a top-up component appears both here and at the peer: renamed inside, still valid', async () => {
    const localAnswer = (await a.svc.admit({ owner: 'test', manifests: [WEB_DB], dryRun: true, requestId: 'a' })).services[0]!;
    const fake: ServiceAnswer = {
      ...localAnswer,
      components: [{ ...localAnswer.components[0]!, acceptedLocally: true, localVms: 6, federatedVms: 2, placements: [{ hostId: 'h1', vms: 6, basicVms: 6, elasticVms: 0 }] }, localAnswer.components[1]!],
    };
    const p = plan(WEB_DB, fake.components);
    const sub = buildSubManifest(WEB_DB, p);
    const peer = (await b.svc.admit({ owner: 'test', manifests: [sub], dryRun: true, requestId: 'b', federation: inbound })).services[0]!;
    expect(peer.decision).toBe('accepted');
    const merged = merge(WEB_DB, fake, peer, p);
    await expectXsdValid(merged.manifest);
    const offer = readAllocationOffer(merged.manifest)!;
    expect(offer.components.map((c) => c.componentId)).toEqual(['web', 'db']);
    expect(readAllocationOffer(offer.externalDeployments[0]!.manifestXml)!.components.map((c) => c.componentId)).toEqual(['web@B']);
  });

  it('a chain (the peer itself federated part to C): nested copies are renamed again and the whole stays valid', async () => {
    const { localAnswer, peer, p } = await localAndPeer(WEB_DB);
    // B's answer as if B had placed nothing itself and sent web on to C.
    const atC = merge(peer.manifest, { ...peer, decision: 'partial' }, peer, plan(peer.manifest, [away('web', 8)]), 'C');
    const merged = merge(WEB_DB, localAnswer, { ...peer, manifest: atC.manifest }, p);
    await expectXsdValid(atC.manifest, merged.manifest);
    const inner = readAllocationOffer(readAllocationOffer(merged.manifest)!.externalDeployments[0]!.manifestXml)!;
    expect(readAllocationOffer(inner.externalDeployments[0]!.manifestXml)!.components[0]!.componentId).toBe('web@C@B');
  });

  it('ids that would still clash are made unique', () => {
    const taken = new Set(['web', 'web@B']);
    const { idMap } = embeddablePeerManifest(WEB_DB, 'B', taken);
    expect(idMap).toEqual({ web: 'web@B~2', db: 'db@B' });
  });

  it('a failure keeps the local decision and manifest, and explains', async () => {
    const localAnswer = (await a.svc.admit({ owner: 'test', manifests: [WEB_DB], dryRun: true, requestId: 'a' })).services[0]!;
    const failed = withFederationFailure(localAnswer, {
      status: 'failed',
      federationId: 'f',
      hop: 1,
      origin: ['A'],
      sent: [],
      peerId: null,
      protocol: null,
      peerDecision: null,
      peerAdmissionId: null,
      placedVms: {},
      embeddedIds: {},
      peerManifest: null,
      attempts: [],
      reasons: [{ code: 'PEER_FAILED', message: 'B failed after 1 s: no answer within 1000 ms', data: {} }],
      seconds: 1,
    });
    expect(failed.decision).toBe('partial');
    expect(failed.manifest).toBe(localAnswer.manifest);
    expect(failed.summary).toBe(`${localAnswer.summary}; federation: B failed after 1 s: no answer within 1000 ms`);
  });
});

describe('peer order, inbound headers and credentials', () => {
  const peer = (id: string, extra: Partial<PeerConfig> = {}): PeerConfig => ({ id, url: `http://${id}.example`, secret: 's', timeoutMs: 100, ...extra });

  it('configured preference, then price, then trust, then configuration order; low trust is not asked', () => {
    const { ordered, skipped } = orderPeers(
      [peer('p1'), peer('p2', { priceHint: 2 }), peer('p3', { priority: 5 }), peer('p4', { priority: 1, priceHint: 9 }), peer('p5', { priceHint: 1 }), peer('p6', { trustHint: 1 }), peer('p7', { trustHint: 8 })],
      { minTrust: 2 },
    );
    expect(ordered.map((p) => p.id)).toEqual(['p4', 'p3', 'p5', 'p2', 'p7', 'p1']);
    expect(skipped).toEqual([{ peer: peer('p6', { trustHint: 1 }), reason: "trustHint 1 is below the manifest's MinimumTrustLevel 2" }]);
  });

  it('reads the federation headers and refuses malformed ones', () => {
    const h = (o: Record<string, string>) => (name: string) => o[name];
    expect(readFederationHeaders(h({}))).toBeUndefined();
    expect(readFederationHeaders(h({ 'X-EAC-Federation-Hop': '2', 'X-EAC-Federation-Origin': 'A, B', 'X-EAC-Federation-Id': 'fed-1', 'X-EAC-Federation-Budget-Ms': '900' }))).toEqual({
      hop: 2,
      origin: ['A', 'B'],
      id: 'fed-1',
      budgetMs: 900,
    });
    expect(() => readFederationHeaders(h({ 'X-EAC-Federation-Hop': '0', 'X-EAC-Federation-Origin': 'A', 'X-EAC-Federation-Id': 'x' }))).toThrow(/Hop/);
    expect(() => readFederationHeaders(h({ 'X-EAC-Federation-Hop': '1', 'X-EAC-Federation-Id': 'x' }))).toThrow(/Origin: missing/);
    expect(() => readFederationHeaders(h({ 'X-EAC-Federation-Hop': '1', 'X-EAC-Federation-Origin': 'A;B', 'X-EAC-Federation-Id': 'x' }))).toThrow(/Origin/);
    expect(() => readFederationHeaders(h({ 'X-EAC-Federation-Hop': '1', 'X-EAC-Federation-Origin': 'A' }))).toThrow(/Id/);
  });

  it('routes: a new chain for a client, the chain extended for a peer, the hop limit, peers already in the chain', () => {
    const f = new Federator({ providerId: 'B', peers: [peer('A'), peer('C')], maxHops: 2 });
    const fresh = f.route();
    expect(fresh).toMatchObject({ hop: 1, origin: ['B'] });
    expect(fresh.federationId).toMatch(/^fed-/);
    expect(f.route({ hop: 1, origin: ['A'], id: 'x' })).toMatchObject({ hop: 2, origin: ['A', 'B'], federationId: 'x', eligible: [peer('C')] });
    expect(f.route({ hop: 2, origin: ['A', 'C'], id: 'x' }).blocked).toMatchObject({ code: 'HOP_LIMIT' });
    const none = new Federator({ providerId: 'B', peers: [peer('A')], maxHops: 2 }).route({ hop: 1, origin: ['A'], id: 'x' });
    expect(none.blocked).toEqual({
      code: 'NO_ELIGIBLE_PEER',
      message: 'B did not forward: every peer it has (A) is already in the origin chain A → B',
      data: { peers: ['A'], origin: ['A', 'B'] },
    });
    expect(() => f.checkInbound({ hop: 2, origin: ['A', 'B'], id: 'y' })).toThrow(/federation loop: this provider \(B\) is already in the origin chain A → B/);
  });
});

// ---------------------------------------------------------------------------------------------
// The Federator against in-process peers.

interface Stub {
  readonly url: string;
  readonly requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

async function stub(handle: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void): Promise<Stub> {
  const requests: Stub['requests'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handle(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A JSON admission answer about the sub-manifest `body`, with `decision` in JSON and `offerDecision` in its offer. */
function jsonAnswer(body: string, o: { decision: string; offerDecision?: 'accepted' | 'partial' | 'rejected'; vms: number; admissionId?: string | null }): string {
  const m = parseManifest(body);
  const offerDecision = o.offerDecision ?? (o.decision as 'accepted' | 'partial' | 'rejected');
  const manifest = writeAllocationOffer(body, {
    decision: offerDecision,
    components: offerDecision === 'rejected' ? [] : m.components.map((c) => ({ componentId: c.id, placements: [{ hostId: 'stub-1', basicVms: o.vms, elasticVms: 0 }], federatedVms: 0 })),
  });
  return JSON.stringify({
    services: [
      {
        serviceId: m.serviceId,
        decision: o.decision,
        admissionId: o.admissionId ?? null,
        manifest,
        trec: { cost: 7 },
        components: m.components.map((c) => ({ id: c.id, localVms: o.decision === 'rejected' ? 0 : o.vms, federatedVms: 0, reasons: o.decision === 'accepted' ? [] : [{ code: 'INSUFFICIENT_CAPACITY', message: 'the stub is full' }] })),
      },
    ],
  });
}

describe('Federator against peers that misbehave', () => {
  const a = service(fleet(2, 4));
  let gwB: TestGateway;
  let b: Stub;
  let bServer: http.Server;
  const stubs: Stub[] = [];
  beforeAll(async () => {
    gwB = await testGateway({ hosts: fleet(8, 16), peerSecret: 'B-secret' });
    bServer = await new Promise<http.Server>((r) => {
      const s = gwB.app.listen(0, '127.0.0.1', () => r(s));
    });
    b = { url: `http://127.0.0.1:${(bServer.address() as AddressInfo).port}`, requests: [], close: async () => undefined };
  });
  afterAll(async () => {
    await Promise.all(stubs.map((s) => s.close()));
    bServer.closeAllConnections();
    await new Promise<void>((r) => bServer.close(() => r()));
    await gwB.close();
    a.close();
  });
  const mk = async (handle: Parameters<typeof stub>[0]): Promise<Stub> => {
    const s = await stub(handle);
    stubs.push(s);
    return s;
  };

  async function federate(peers: PeerConfig[], options: { deadlineAt?: number; xml?: string } = {}) {
    const xml = options.xml ?? WEB_DB;
    const answer = (await a.svc.admit({ owner: 'test', manifests: [xml], dryRun: false, requestId: 'unit' })).services[0]!;
    const f = new Federator({ providerId: 'A', peers, maxHops: 2 });
    const route = f.route();
    const out = await f.federate({
      answer,
      parsed: parseManifest(xml),
      inputXml: xml,
      modelFederationCost: 20,
      route,
      dryRun: false,
      requestId: 'unit-req',
      ...(options.deadlineAt !== undefined ? { deadlineAt: options.deadlineAt } : {}),
    });
    return { out, f, route };
  }
  const peerAt = (id: string, url: string, extra: Partial<PeerConfig> = {}): PeerConfig => ({ id, url, secret: `${id}-secret`, timeoutMs: 1000, ...extra });

  it('garbage, an inconsistent acceptance, and too few VMs are failed attempts; the next peer is asked and accepts', async () => {
    const garbage = await mk((_req, _body, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"services": [ oops'));
    const liar = await mk((_req, body, res) => res.writeHead(201, { 'Content-Type': 'application/json' }).end(jsonAnswer(body, { decision: 'accepted', offerDecision: 'partial', vms: 8 })));
    const short = await mk((_req, body, res) => res.writeHead(201, { 'Content-Type': 'application/json' }).end(jsonAnswer(body, { decision: 'accepted', vms: 2 })));
    const html = await mk((_req, _body, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>hello</html>'));
    const { out } = await federate([
      peerAt('garbage', garbage.url, { priority: 1 }),
      peerAt('liar', liar.url, { priority: 2 }),
      peerAt('short', short.url, { priority: 3 }),
      peerAt('html', html.url, { priority: 4 }),
      peerAt('B', b.url, { priority: 5 }),
    ]);
    const f = out.federation!;
    expect(f.attempts.map((x) => [x.peerId, x.outcome])).toEqual([
      ['garbage', 'error'],
      ['liar', 'error'],
      ['short', 'error'],
      ['html', 'error'],
      ['B', 'accepted'],
    ]);
    expect(f.attempts[0]!.error).toBe('invalid answer: the body is not valid JSON');
    expect(f.attempts[1]!.error).toBe("invalid answer: the answer says accepted but the returned manifest's offer says partial");
    expect(f.attempts[2]!.error).toBe('invalid answer: the peer says accepted, but places 2 VM(s) of web, fewer than the 6 asked for');
    expect(f.attempts[3]!.error).toBe("invalid answer: expected JSON, got 'text/html'");
    expect(out.decision).toBe('accepted');
    expect(f).toMatchObject({ status: 'federated', peerId: 'B', protocol: 'eac', peerDecision: 'accepted', placedVms: { web: 8 } });
    expect(f.peerAdmissionId).toMatch(/^adm-/);
    expect(f.cost).toEqual({ local: out.trec.cost - f.cost!.federated, federated: f.cost!.federated, total: out.trec.cost, federatedSource: 'peer' });
    await expectXsdValid(out.manifest);
    // What the peers were sent: the sub-manifest, the credentials of each, and the chain.
    const sent = garbage.requests[0]!;
    expect(sent.url).toBe('/api/v1/admissions');
    expect(sent.headers.authorization).toBe('Bearer garbage-secret');
    expect(sent.headers['x-eac-federation-hop']).toBe('1');
    expect(sent.headers['x-eac-federation-origin']).toBe('A');
    expect(sent.headers['x-eac-federation-id']).toBe(f.federationId);
    expect(Number(sent.headers['x-eac-federation-budget-ms'])).toBeLessThanOrEqual(1000);
    expect(parseManifest(sent.body).components.map((c) => c.id)).toEqual(['web']);
  });

  it("a peer's partial answer is not an acceptance: its booking is released and the failure is explained", async () => {
    const partial = await mk((req, body, res) => {
      if (req.method === 'DELETE') res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"released":true}');
      else res.writeHead(201, { 'Content-Type': 'application/json' }).end(jsonAnswer(body, { decision: 'partial', vms: 6, admissionId: 'adm-stub-1' }));
    });
    const rejecting = await mk((_req, body, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(jsonAnswer(body, { decision: 'rejected', vms: 0 })));
    const { out } = await federate([peerAt('half', partial.url), peerAt('no', rejecting.url)]);
    expect(out.decision).toBe('partial');
    const f = out.federation!;
    expect(f.status).toBe('failed');
    expect(f.attempts).toMatchObject([
      { peerId: 'half', outcome: 'partial', peerAdmissionId: 'adm-stub-1', released: true },
      { peerId: 'no', outcome: 'rejected' },
    ]);
    expect(partial.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /api/v1/admissions', 'DELETE /api/v1/admissions/adm-stub-1']);
    expect(f.reasons.map((r) => r.code)).toEqual(['PEER_PARTIAL', 'PEER_REJECTED']);
    expect(f.reasons[0]!.message).toBe('half answered partial (not an acceptance) for web: web: the stub is full');
    expect(out.summary).toMatch(/^partial: db admitted locally .*; federation: half answered partial/);
    expect(out.manifest).not.toContain('ExternalDeployment');
  });

  it('a slow peer costs at most its timeout; a peer that is down costs nothing', async () => {
    const slow = await mk(() => undefined); // never answers
    const down = await mk(() => undefined);
    await down.close();
    const t = Date.now();
    const { out } = await federate([peerAt('slow', slow.url, { timeoutMs: 300 }), peerAt('down', down.url)]);
    const elapsed = Date.now() - t;
    expect(out.federation!.attempts.map((x) => [x.peerId, x.outcome, x.error])).toEqual([
      ['slow', 'error', 'no answer within 300 ms'],
      ['down', 'error', 'unreachable: connection refused'],
    ]);
    expect(elapsed).toBeLessThan(1500);
    expect(out.federation!.attempts[0]!.seconds).toBeGreaterThanOrEqual(0.29);
  });

  it('the request deadline bounds the attempts; peers left without time are not asked', async () => {
    const slow = await mk(() => undefined);
    const t = Date.now();
    const { out } = await federate([peerAt('slow', slow.url, { timeoutMs: 5000 }), peerAt('B', b.url)], { deadlineAt: Date.now() + 700 });
    expect(Date.now() - t).toBeLessThan(1200);
    expect(out.federation!.attempts.map((x) => [x.peerId, x.outcome])).toEqual([
      ['slow', 'error'],
      ['B', 'skipped'],
    ]);
    expect(out.federation!.reasons.map((r) => r.code)).toEqual(['PEER_FAILED', 'NO_TIME_LEFT']);
  });

  it('a federation id seen again while it is in flight is a loop (409), whatever the names say', async () => {
    let loopError: unknown;
    let federator: Federator | undefined;
    let id = '';
    const echo = await mk((req, _body, res) => {
      // The "peer" forwards back to us: the federation id comes in again while we wait.
      try {
        federator!.checkInbound({ hop: 2, origin: ['someone-else'], id: String(req.headers['x-eac-federation-id']) });
      } catch (e) {
        loopError = e;
      }
      res.writeHead(409, { 'Content-Type': 'application/json' }).end('{"error":{"code":"AC_ERR_CONFLICT","message":"loop"}}');
    });
    const answer = (await a.svc.admit({ owner: 'test', manifests: [WEB_DB], dryRun: true, requestId: 'unit' })).services[0]!;
    federator = new Federator({ providerId: 'A', peers: [peerAt('echo', echo.url)], maxHops: 2 });
    const route = federator.route();
    id = route.federationId;
    const out = await federator.federate({ answer, parsed: parseManifest(WEB_DB), inputXml: WEB_DB, modelFederationCost: 0, route, dryRun: true, requestId: 'u' });
    expect(loopError).toMatchObject({ code: 'AC_ERR_CONFLICT', message: `federation loop: federation ${id} is already being federated by this provider` });
    expect(out.federation!.attempts[0]!.error).toBe('HTTP 409 AC_ERR_CONFLICT: loop');
    // Once the request is over, the id is free again.
    expect(() => federator!.checkInbound({ hop: 1, origin: ['x'], id })).not.toThrow();
  });

  it('an affinity rule that forbids the split: nothing is sent, and the reason is given', async () => {
    const never = await mk((_req, _body, res) => res.writeHead(500).end());
    const answer = (await a.svc.admit({ owner: 'test', manifests: [WEB_DB_TOGETHER], dryRun: true, requestId: 'unit' })).services[0]!;
    // The local model honours the rule (nothing local): sent whole. A decision that splits the rule is refused.
    expect(answer.components.map((c) => c.localVms)).toEqual([0, 0]);
    const splitting: ServiceAnswer = { ...answer, decision: 'partial', components: [answer.components[0]!, { ...answer.components[1]!, acceptedLocally: true, localVms: 1 }] };
    const f = new Federator({ providerId: 'A', peers: [peerAt('never', never.url)], maxHops: 2 });
    const out = await f.federate({ answer: splitting, parsed: parseManifest(WEB_DB_TOGETHER), inputXml: WEB_DB_TOGETHER, modelFederationCost: 0, route: f.route(), dryRun: true, requestId: 'u' });
    expect(out.federation).toMatchObject({ status: 'split-not-allowed', attempts: [], sent: [] });
    expect(out.federation!.reasons[0]!.code).toBe('SPLIT_NOT_ALLOWED');
    expect(never.requests).toHaveLength(0);
  });
});
