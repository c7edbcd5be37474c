/**
 * A client that closes its connection before its answer: the request's signal aborts with AC_ERR_CLIENT_CLOSED, the
 * admission it started is dropped before it is solved or recorded, and the server goes on serving. Real HTTP on
 * 127.0.0.1 (supertest cannot hang up half-way).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostCapacity } from '../host-info/types';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';

const SM = readManifest('decision/SM_1c2.xml');

/** Posts `body` and destroys the socket once `hangUp` resolves; resolves when the socket is closed. */
function postAndHangUp(port: number, body: string, hangUp: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/admissions', headers: { 'content-type': 'application/xml' } });
    req.on('error', () => undefined); // the hang-up itself
    req.on('close', () => resolve());
    req.end(body);
    void hangUp.then(() => req.destroy());
  });
}

describe('a client that hangs up before its answer', () => {
  let gw: TestGateway;
  let server: http.Server;
  let port: number;
  /** listHosts waits on this gate while `hold` is set, so the test can hang up while an admission is in flight. */
  let hold: { reached: () => void; release: Promise<void> } | undefined;
  const seen: AbortSignal[] = [];
  const hosts: HostCapacity[] = fleet(4);

  beforeAll(async () => {
    gw = await testGateway({
      hostInfo: {
        name: 'gated',
        listHosts: async (signal) => {
          if (signal) seen.push(signal);
          if (hold) {
            hold.reached();
            await hold.release;
          }
          return hosts.map((h) => ({ ...h }));
        },
      },
    });
    server = gw.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await gw.close();
  });

  test('its admission is aborted with AC_ERR_CLIENT_CLOSED and nothing is recorded; the next client is served', async () => {
    let reached!: () => void;
    const inFlight = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    hold = { reached, release: new Promise<void>((r) => (release = r)) };

    const closed = postAndHangUp(port, SM, inFlight); // hangs up once the admission waits in listHosts
    await closed;
    const signal = seen.at(-1)!;
    // The close reaches the server's request handling, which aborts the request's signal with the client-gone reason.
    for (let k = 0; k < 100 && !signal.aborted; k++) await new Promise((r) => setTimeout(r, 10));
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toMatchObject({ code: 'AC_ERR_CLIENT_CLOSED' });

    hold = undefined;
    release(); // the admission resumes, sees its client gone, and stops before solving
    await new Promise((r) => setTimeout(r, 50));
    expect((await gw.admissions())).toEqual([]);

    // The server is fine: the next admission is answered and recorded.
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/admissions`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: SM });
    expect(res.status).toBe(201);
    const answer = (await res.json()) as { services: { decision: string; admissionId: string }[] };
    expect(answer.services[0]!.decision).toBe('accepted');
    expect((await gw.admissions()).map((a) => a.id)).toEqual([answer.services[0]!.admissionId]);
  });

  test('an answered request does not abort its signal when the connection closes afterwards', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/admissions?dryRun=true`, { method: 'POST', headers: { 'content-type': 'application/xml', connection: 'close' }, body: SM });
    expect(res.status).toBe(200);
    await res.text();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.at(-1)!.aborted).toBe(false);
  });
});
