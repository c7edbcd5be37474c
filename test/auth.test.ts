/**
 * Principals and roles over real HTTP (supertest): every state-changing route refuses anonymous callers (401) and
 * tokens of the wrong role (403) with a stable code, and serves the right role; ownership of admissions; federation
 * inbound needs a peer's credentials and the hop header together; browser-forgeable requests are refused; open mode.
 */
import request from 'supertest';
import { createToken, tokenHash } from '../gateway/auth';
import type { Role, TokenConfig } from '../config/config';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';

const SM = readManifest('decision/SM_1c2.xml');
const ROLES: readonly Role[] = ['operator', 'client', 'reader', 'peer'];

/** One token per role, plus a second client: name = `<role>-1`, token = `tok-<role>`. */
const TOKENS: Record<string, string> = { operator: 'tok-operator', client: 'tok-client', reader: 'tok-reader', peer: 'tok-peer', client2: 'tok-client2' };
const TOKEN_CONFIG: TokenConfig[] = [
  ...ROLES.map((role) => ({ name: `${role}-1`, role, sha256: tokenHash(TOKENS[role]!) })),
  { name: 'client-2', role: 'client', sha256: tokenHash(TOKENS.client2!) },
];
const FEDERATION = { 'X-EAC-Federation-Hop': '1', 'X-EAC-Federation-Origin': 'A', 'X-EAC-Federation-Id': 'fed-test-1' };

let gw: TestGateway;
beforeEach(async () => {
  gw = await testGateway({ hosts: fleet(8, 16), tokens: TOKEN_CONFIG, peerSecret: 'shared-peer-secret' });
});
afterEach(() => gw.close());

const bearer = (who: string): Record<string, string> => ({ Authorization: `Bearer ${TOKENS[who]}` });

async function admitAs(who: string, extraHeaders: Record<string, string> = {}): Promise<string> {
  const res = await request(gw.app)
    .post('/api/v1/admissions')
    .set({ 'Content-Type': 'application/xml', ...bearer(who), ...extraHeaders })
    .send(SM);
  expect(res.status).toBe(201);
  return res.body.services[0].admissionId as string;
}

interface RouteCase {
  readonly name: string;
  readonly method: 'get' | 'post' | 'put' | 'delete';
  /** Built per case, after `setup` (which may create the admission the path names). */
  readonly path: (ctx: { admissionId: string }) => string;
  readonly contentType?: string;
  readonly body?: string;
  /** Roles that get a 2xx (peers also need the federation headers; see `peerHeaders`). */
  readonly allowed: readonly Role[];
  readonly peerHeaders?: boolean;
  /** The admission the route acts on is made by this role's principal (ownership is tested separately). */
  readonly ownAdmission?: boolean;
}

const json = 'application/json';
const STATE_CHANGING: readonly RouteCase[] = [
  { name: 'POST /api/v1/admissions', method: 'post', path: () => '/api/v1/admissions', contentType: 'application/xml', body: SM, allowed: ['operator', 'client', 'peer'], peerHeaders: true },
  { name: 'POST /api/v1/admissions (JSON)', method: 'post', path: () => '/api/v1/admissions?dryRun=true', contentType: json, body: JSON.stringify({ manifests: [SM] }), allowed: ['operator', 'client'] },
  { name: 'DELETE /api/v1/admissions/{id}', method: 'delete', path: ({ admissionId }) => `/api/v1/admissions/${admissionId}`, allowed: ['operator', 'client', 'peer'], peerHeaders: true, ownAdmission: true },
  { name: 'PUT /api/v1/policy', method: 'put', path: () => '/api/v1/policy', contentType: json, body: JSON.stringify({ weights: { trust: 0.4, risk: 0.2, eco: 0.2, cost: 0.2 } }), allowed: ['operator'] },
  { name: 'PUT /api/v1/constraints/default', method: 'put', path: () => '/api/v1/constraints/default', contentType: json, body: JSON.stringify({ constraints: { trust: 0, risk: 7, eco: 0, cost: 1000 } }), allowed: ['operator'] },
  { name: 'PUT /api/v1/services/{id}/constraints', method: 'put', path: () => '/api/v1/services/svc-1/constraints', contentType: json, body: JSON.stringify({ constraints: { cost: 500 } }), allowed: ['operator'] },
  { name: 'POST /ACGateway/model/performACTest', method: 'post', path: () => '/ACGateway/model/performACTest', contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams({ serviceManifest: SM }).toString(), allowed: ['operator', 'client'] },
  { name: 'POST /ACGateway/model/performOneManifestACTest', method: 'post', path: () => '/ACGateway/model/performOneManifestACTest', contentType: 'application/xml', body: SM, allowed: ['operator', 'client'] },
  { name: 'POST /ACGateway/data/setPolicy', method: 'post', path: () => '/ACGateway/data/setPolicy/0.25/0.25/0.25/0.25', allowed: ['operator'] },
  { name: 'PUT /ACGateway/data/perServiceConstraints', method: 'put', path: () => '/ACGateway/data/perServiceConstraints/0/7/0/1000000', allowed: ['operator'] },
  { name: 'PUT /api/v1/hosts/{id}/capabilities', method: 'put', path: () => '/api/v1/hosts/host-1/capabilities', contentType: json, body: JSON.stringify({ nodejs: '20.11.1' }), allowed: ['operator'] },
  { name: 'DELETE /api/v1/hosts/{id}/capabilities/{name}', method: 'delete', path: () => '/api/v1/hosts/host-1/capabilities/nodejs', allowed: ['operator'] },
];

const READS: readonly RouteCase[] = [
  { name: 'GET /api/v1/admissions', method: 'get', path: () => '/api/v1/admissions', allowed: ['operator', 'client', 'reader', 'peer'], peerHeaders: true },
  { name: 'GET /api/v1/hosts', method: 'get', path: () => '/api/v1/hosts', allowed: ['operator', 'reader'] },
  { name: 'GET /api/v1/hosts?satisfies=', method: 'get', path: () => '/api/v1/hosts?satisfies=nodejs%40%3E%3D18', allowed: ['operator', 'reader'] },
  { name: 'GET /api/v1/bills', method: 'get', path: () => '/api/v1/bills?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z', allowed: ['operator', 'client', 'reader', 'peer'], peerHeaders: true },
  { name: 'GET /api/v1/bills.csv', method: 'get', path: () => '/api/v1/bills.csv?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z', allowed: ['operator', 'client', 'reader', 'peer'], peerHeaders: true },
  { name: 'GET /api/v1/policy', method: 'get', path: () => '/api/v1/policy', allowed: ['operator', 'reader'] },
  { name: 'GET /api/v1/constraints/default', method: 'get', path: () => '/api/v1/constraints/default', allowed: ['operator', 'reader'] },
  { name: 'GET /api/v1/services/{id}/constraints', method: 'get', path: () => '/api/v1/services/svc-1/constraints', allowed: ['operator', 'reader'] },
  { name: 'GET /api/v1/config', method: 'get', path: () => '/api/v1/config', allowed: ['operator'] },
  { name: 'GET /metrics', method: 'get', path: () => '/metrics', allowed: ['operator', 'reader'] },
];

function send(c: RouteCase, ctx: { admissionId: string }, headers: Record<string, string>) {
  let r = request(gw.app)[c.method](c.path(ctx)).set(headers);
  if (c.contentType) r = r.set('Content-Type', c.contentType);
  return c.body !== undefined ? r.send(c.body) : r;
}

describe.each([...STATE_CHANGING, ...READS])('$name', (c) => {
  const setup = async (role: Role | 'anonymous'): Promise<{ admissionId: string }> => {
    if (!c.ownAdmission) return { admissionId: 'adm-none' };
    // The admission belongs to whoever is about to act on it (a peer books through federation).
    const who = role === 'anonymous' || role === 'reader' ? 'client' : role;
    return { admissionId: await admitAs(who, who === 'peer' ? FEDERATION : {}) };
  };

  test('anonymous → 401 AC_ERR_UNAUTHORIZED with a WWW-Authenticate challenge', async () => {
    const res = await send(c, await setup('anonymous'), {});
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('AC_ERR_UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  test('a wrong token → 401', async () => {
    const res = await send(c, await setup('client'), { Authorization: 'Bearer not-a-token' });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('AC_ERR_UNAUTHORIZED');
  });

  test.each(ROLES)('role %s', async (role) => {
    const ctx = await setup(role);
    const headers = { ...bearer(role), ...(role === 'peer' && c.peerHeaders ? FEDERATION : {}) };
    const res = await send(c, ctx, headers);
    if (c.allowed.includes(role)) {
      expect(res.status).toBeGreaterThanOrEqual(200);
      expect(res.status).toBeLessThan(300);
    } else {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('AC_ERR_FORBIDDEN');
      expect(res.body.error.message).toContain(`role ${role}`);
    }
  });
});

describe('ownership', () => {
  test("a client lists, sees and releases only its own admissions; another client's look absent (404)", async () => {
    const mine = await admitAs('client');
    const theirs = await admitAs('client2');
    const list = await request(gw.app).get('/api/v1/admissions').set(bearer('client'));
    expect(list.status).toBe(200);
    expect(list.body.admissions.map((a: { id: string }) => a.id)).toEqual([mine]);
    expect(list.body.admissions[0].owner).toBe('client-1');

    const peek = await request(gw.app).get(`/api/v1/admissions/${theirs}`).set(bearer('client'));
    expect(peek.status).toBe(404);
    expect(peek.body.error.code).toBe('AC_ERR_NOT_FOUND');
    const steal = await request(gw.app).delete(`/api/v1/admissions/${theirs}`).set(bearer('client'));
    expect(steal.status).toBe(404);
    // Still held by its owner.
    expect((await gw.ledger.get(theirs))!.status).toBe('held');

    expect((await request(gw.app).get(`/api/v1/admissions/${mine}`).set(bearer('client'))).status).toBe(200);
    const release = await request(gw.app).delete(`/api/v1/admissions/${mine}`).set(bearer('client'));
    expect(release.status).toBe(200);
    expect(release.body.released).toBe(true);
  });

  test("a client reads its own bill; another's is 403 naming query.owner; a reader reads anyone's", async () => {
    const q = 'from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z';
    const own = await request(gw.app).get(`/api/v1/bills?${q}`).set(bearer('client'));
    expect(own.status).toBe(200);
    expect(own.body.owner).toBe('client-1');
    const other = await request(gw.app).get(`/api/v1/bills?owner=client-2&${q}`).set(bearer('client'));
    expect(other.status).toBe(403);
    expect(other.body.error).toMatchObject({ code: 'AC_ERR_FORBIDDEN', details: [{ field: 'query.owner' }] });
    const reader = await request(gw.app).get(`/api/v1/bills?owner=client-2&${q}`).set(bearer('reader'));
    expect(reader.status).toBe(200);
    expect(reader.body.owner).toBe('client-2');
  });

  test('readers see everyone’s admissions and release none; operators release anyone’s', async () => {
    const a = await admitAs('client');
    const b = await admitAs('client2');
    const all = await request(gw.app).get('/api/v1/admissions').set(bearer('reader'));
    expect(all.body.admissions.map((x: { id: string }) => x.id).sort()).toEqual([a, b].sort());
    expect(all.body.admissions.map((x: { owner: string }) => x.owner).sort()).toEqual(['client-1', 'client-2']);
    expect((await request(gw.app).delete(`/api/v1/admissions/${a}`).set(bearer('reader'))).status).toBe(403);
    const op = await request(gw.app).delete(`/api/v1/admissions/${a}`).set(bearer('operator'));
    expect(op.status).toBe(200);
    expect(op.body.released).toBe(true);
  });
});

describe('federation inbound', () => {
  const post = (headers: Record<string, string>) =>
    request(gw.app).post('/api/v1/admissions?dryRun=true').set({ 'Content-Type': 'application/xml', ...headers }).send(SM);

  test('the hop header without a peer credential: 401 anonymous, 403 with another role', async () => {
    expect((await post(FEDERATION)).status).toBe(401);
    const asClient = await post({ ...FEDERATION, ...bearer('client') });
    expect(asClient.status).toBe(403);
    expect(asClient.body.error.code).toBe('AC_ERR_FORBIDDEN');
    expect((await post({ ...FEDERATION, ...bearer('operator') })).status).toBe(403);
  });

  test("a peer's credential without the hop header is refused (403), with it accepted", async () => {
    for (const credential of [bearer('peer'), { Authorization: 'Bearer shared-peer-secret' }]) {
      const without = await post(credential);
      expect(without.status).toBe(403);
      expect(without.body.error.details[0].field).toBe('X-EAC-Federation-Hop');
      const withHop = await post({ ...credential, ...FEDERATION });
      expect(withHop.status).toBe(200);
      expect(withHop.body.services[0].decision).toBe('accepted');
    }
  });

  test("a peer's token can do only what federation needs", async () => {
    for (const [method, path] of [['put', '/api/v1/policy'], ['get', '/api/v1/hosts'], ['get', '/api/v1/config'], ['get', '/metrics']] as const) {
      const res = await request(gw.app)[method](path).set({ ...bearer('peer'), ...FEDERATION });
      expect(res.status).toBe(403);
    }
  });
});

describe('requests a browser could forge', () => {
  test.each([
    ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'Sec-Fetch-Site': 'same-site' }],
    ['a foreign Origin', { Origin: 'https://evil.example' }],
    ['Origin: null', { Origin: 'null' }],
  ])('%s → 403 even with a valid token, nothing changes', async (_name, headers) => {
    const res = await request(gw.app)
      .put('/api/v1/policy')
      .set({ ...bearer('operator'), ...headers, 'Content-Type': 'application/json' })
      .send(JSON.stringify({ weights: { trust: 1, risk: 0, eco: 0, cost: 0 } }));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('AC_ERR_FORBIDDEN');
    expect((await gw.ledger.policy()).weights.trust).toBe(0.25);
  });

  test('a same-origin browser request and a plain client both pass', async () => {
    const host = '127.0.0.1:9999';
    const res = await request(gw.app)
      .put('/api/v1/policy')
      .set({ ...bearer('operator'), Host: host, Origin: `http://${host}`, 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/json' })
      .send(JSON.stringify({ weights: { trust: 1, risk: 0, eco: 0, cost: 0 } }));
    expect(res.status).toBe(200);
  });

  test('no CORS headers are ever sent', async () => {
    const res = await request(gw.app).get('/api/v1/policy').set({ ...bearer('reader'), Origin: 'https://evil.example' });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await request(gw.app).options('/api/v1/policy').set({ Origin: 'https://evil.example', 'Access-Control-Request-Method': 'PUT' });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
  });

  test('the OPTIMIS form endpoint refuses a cross-site form post in open mode too', async () => {
    const open = await testGateway({ hosts: fleet(8, 16) });
    try {
      const res = await request(open.app)
        .post('/ACGateway/model/performACTest')
        .set({ 'Content-Type': 'application/x-www-form-urlencoded', 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' })
        .send(new URLSearchParams({ serviceManifest: SM }).toString());
      expect(res.status).toBe(403);
      expect((await open.admissions()).length).toBe(0);
    } finally {
      await open.close();
    }
  });
});

describe('the OPTIMIS surface for clients that cannot send a token', () => {
  test('token-less requests from a trusted source act as the configured principal; others get 401', async () => {
    const trusted = await testGateway({ hosts: fleet(8, 16), tokens: TOKEN_CONFIG, optimis: { trustedSources: ['127.0.0.0/8', '::1'], principal: 'sla-manager', role: 'client' } });
    const untrusted = await testGateway({ hosts: fleet(8, 16), tokens: TOKEN_CONFIG, optimis: { trustedSources: ['10.0.0.0/8'] } });
    try {
      const body = new URLSearchParams({ serviceManifest: SM }).toString();
      const ok = await request(trusted.app).post('/ACGateway/model/performACTest').type('form').send(body);
      expect(ok.status).toBe(200);
      expect((await trusted.admissions()).map((a) => a.owner)).toEqual(['sla-manager']);
      // The trust covers the OPTIMIS surface only, and the configured role only.
      expect((await request(trusted.app).get('/api/v1/admissions')).status).toBe(401);
      expect((await request(trusted.app).post('/ACGateway/data/setPolicy/1/0/0/0')).status).toBe(403);
      const refused = await request(untrusted.app).post('/ACGateway/model/performACTest').type('form').send(body);
      expect(refused.status).toBe(401);
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });

  test('cleanTestbed is an operator flag', async () => {
    const body = new URLSearchParams({ serviceManifest: SM, cleanTestbed: 'true' }).toString();
    const client = await request(gw.app).post('/ACGateway/model/performACTest').set(bearer('client')).type('form').send(body);
    expect(client.status).toBe(403);
    expect(client.body.error.details[0].field).toBe('cleanTestbed');
  });
});

describe('open mode (no tokens)', () => {
  test('anyone acts as the operator anonymous, but an unknown token is still refused', async () => {
    const open = await testGateway({ hosts: fleet(8, 16) });
    try {
      const res = await request(open.app).post('/api/v1/admissions').set('Content-Type', 'application/xml').send(SM);
      expect(res.status).toBe(201);
      expect((await open.admissions())[0]!.owner).toBe('anonymous');
      expect((await request(open.app).get('/api/v1/config')).status).toBe(200);
      expect((await request(open.app).get('/api/v1/policy').set('Authorization', 'Bearer nope')).status).toBe(401);
    } finally {
      await open.close();
    }
  });
});

describe('eac token create', () => {
  test('a new random token whose SHA-256 is the config entry', () => {
    const a = createToken('acme', 'client');
    const b = createToken('acme', 'client');
    expect(a.token).toMatch(/^eac_[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.entry).toEqual({ name: 'acme', role: 'client', sha256: tokenHash(a.token) });
    expect(a.entry.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
