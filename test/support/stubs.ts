/**
 * Stub upstreams for integration tests, on 127.0.0.1 and ephemeral ports (express listen(0)): TREC services (one server
 * per source, each with a behaviour that can be switched at run time: healthy, slow, hanging, garbage, down), a
 * PhysicalHosts service and an OpenNebula XML-RPC endpoint. Every server records the requests it got and can be
 * taken down (a closed port) and brought back on the same port. close() ends timers, sockets and listeners.
 */
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';

export type StubHandler = (req: Request, res: Response, stub: StubServer) => void;

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: string;
  /** Date.now() when the request arrived. */
  readonly at: number;
}

/** One HTTP server whose behaviour (`handler`) the test may replace at any time. */
export class StubServer {
  handler: StubHandler;
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly app = express();
  private portNumber = 0;

  constructor(handler: StubHandler) {
    this.handler = handler;
    this.app.disable('x-powered-by');
    this.app.use(express.text({ type: () => true, limit: '16mb' }));
    this.app.use((req: Request, res: Response) => {
      this.requests.push({
        method: req.method,
        path: req.path,
        contentType: req.get('content-type'),
        body: typeof req.body === 'string' ? req.body : '',
        at: Date.now(),
      });
      this.handler(req, res, this);
    });
  }

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Listens on 127.0.0.1: an ephemeral port the first time, the same port again after down(). */
  async up(): Promise<this> {
    if (this.server) return this;
    const server = await new Promise<Server>((resolve, reject) => {
      const s = this.app.listen(this.portNumber, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(s)));
      s.once('error', reject);
    });
    this.server = server;
    this.portNumber = (server.address() as AddressInfo).port;
    return this;
  }

  /** Closes the listener and every connection: the port refuses connections until up(). */
  async down(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  close(): Promise<void> {
    return this.down();
  }

  /** setTimeout that down()/close() cancels, so that no timer outlives the test. */
  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Resolves once `count` requests in all have arrived (polling; rejects after `timeoutMs`). */
  async waitForRequests(count: number, timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() > until) throw new Error(`stub ${this.url}: expected ${count} requests within ${timeoutMs} ms, got ${this.requests.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

export async function startStub(handler: StubHandler): Promise<StubServer> {
  return new StubServer(handler).up();
}

/**
 * A port on 127.0.0.1 that nothing listens on, for a peer or source that is down. An ephemeral port bound and released
 * is not enough: the next listen(0) anywhere on the machine (a service started later in the same test) may be given
 * it, and "down" then answers. So the port is below the kernel's ephemeral range (never handed out by listen(0), and
 * nothing in the tests binds a fixed port), checked free by binding it once.
 */
export async function closedPort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the IANA dynamic range starts at 49152; 32768 is below both
  }
  const floor = 20000;
  for (let tries = 0; tries < 50; tries++) {
    const port = floor + Math.floor(Math.random() * Math.max(1, Math.min(low, 32768) - floor));
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below the ephemeral range');
}

// ---------------------------------------------------------------------------------------------
// Behaviours

/** Answers 200 with `body` (objects as JSON, strings as text/plain unless told otherwise). */
export function answer(body: string | object, contentType?: string): StubHandler {
  return (_req, res) => {
    if (typeof body === 'string') res.type(contentType ?? 'text/plain').send(body);
    else res.type(contentType ?? 'application/json').send(JSON.stringify(body));
  };
}

/** Runs `then` after `ms` (cancelled if the stub is closed first). */
export function slow(ms: number, then: StubHandler): StubHandler {
  return (req, res, stub) => stub.later(ms, () => {
    if (!res.destroyed && !res.writableEnded) then(req, res, stub);
  });
}

/** Never answers (the connection stays open until the client gives up or the stub closes). */
export function hang(): StubHandler {
  return () => undefined;
}

/** A proxy's error page, served with 200 OK: the classic garbage answer. */
export function htmlPage(title = '502 Bad Gateway'): StubHandler {
  return answer(`<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1><hr><center>nginx</center></body></html>`, 'text/html');
}

export function status(code: number, body = ''): StubHandler {
  return (_req, res) => {
    res.status(code).type('text/plain').send(body);
  };
}

// ---------------------------------------------------------------------------------------------
// TREC services (wire protocol: trec-analyzer/trec-fetchers.ts)

export const TREC_SOURCES = ['trust', 'risk', 'eco', 'cost', 'hostRisk', 'hostEco'] as const;
export type TrecSourceName = (typeof TREC_SOURCES)[number];

const TREC_ENV: Readonly<Record<TrecSourceName, string>> = {
  trust: 'AC_TREC_TRUST_URL',
  risk: 'AC_TREC_RISK_URL',
  eco: 'AC_TREC_ECO_URL',
  cost: 'AC_TREC_COST_URL',
  hostRisk: 'AC_TREC_HOST_RISK_URL',
  hostEco: 'AC_TREC_HOST_ECO_URL',
};

/** The host ids of a host batch request (`{"hostIds": [...]}`). */
export function requestedHostIds(req: Request): string[] {
  try {
    const ids = (JSON.parse(String(req.body)) as { hostIds?: unknown }).hostIds;
    return Array.isArray(ids) ? ids.map(String) : [];
  } catch {
    return [];
  }
}

/** Answers a host batch with `value(hostId, index)` for every requested host, in the wrapped `{"values": …}` form. */
export function hostValues(value: (id: string, i: number) => unknown): StubHandler {
  return (req, res) => {
    const ids = requestedHostIds(req);
    res.json({ values: Object.fromEntries(ids.map((id, i) => [id, value(id, i)])) });
  };
}

export interface HealthyTrecValues {
  readonly trust: number;
  /** IPRA risk level (1..7), answered as OPTIMIS's RiskAssesor XML. */
  readonly risk: number;
  readonly eco: number;
  readonly planFloor: number;
  readonly planCap: number;
  readonly hostRisk: number;
  readonly hostEco: number;
}

/** Values the OPTIMIS decision manifests accept: they demand MinimumTrustLevel 5 and RiskLevel ≤ 1. */
export const HEALTHY_TREC: HealthyTrecValues = { trust: 5, risk: 1, eco: 6.5, planFloor: 12, planCap: 70, hostRisk: 0.02, hostEco: 7 };

/** Answers in the formats real TREC tools use: JSON, bare text, RiskAssesor XML, pricePlan XML, host batches. */
export function healthyTrec(v: HealthyTrecValues = HEALTHY_TREC): Record<TrecSourceName, StubHandler> {
  return {
    trust: answer({ trust: v.trust }),
    risk: answer(`<RiskAssesor><sp rank="0" pof="${v.risk.toFixed(1)}">OPTIMUMWEB</sp></RiskAssesor>`, 'application/xml'),
    eco: answer(String(v.eco)),
    cost: answer(
      `<pricePlan><currency>EUR</currency><planCap>${v.planCap}</planCap><planFloor>${v.planFloor}</planFloor><name>DemoApp</name></pricePlan>`,
      'application/xml',
    ),
    hostRisk: hostValues(() => v.hostRisk),
    hostEco: hostValues(() => v.hostEco),
  };
}

/** One stub server per TREC source, so that each can be slowed, broken or taken down on its own. */
export class TrecStubs {
  private constructor(readonly servers: Record<TrecSourceName, StubServer>) {}

  static async start(handlers: Record<TrecSourceName, StubHandler> = healthyTrec()): Promise<TrecStubs> {
    const entries = await Promise.all(TREC_SOURCES.map(async (name) => [name, await startStub(handlers[name])] as const));
    return new TrecStubs(Object.fromEntries(entries) as Record<TrecSourceName, StubServer>);
  }

  /** AC_TREC_*_URL for every source. */
  env(): Record<string, string> {
    return Object.fromEntries(TREC_SOURCES.map((name) => [TREC_ENV[name], `${this.servers[name].url}/${name}`]));
  }

  /** Replaces the behaviours named in `handlers`. */
  set(handlers: Partial<Record<TrecSourceName, StubHandler>>): void {
    for (const [name, h] of Object.entries(handlers) as [TrecSourceName, StubHandler][]) this.servers[name].handler = h;
  }

  /** Every source healthy again, and listening (on the same ports). */
  async reset(values: HealthyTrecValues = HEALTHY_TREC): Promise<void> {
    this.set(healthyTrec(values));
    await Promise.all(TREC_SOURCES.map((name) => this.servers[name].up()));
  }

  requests(name: TrecSourceName): readonly RecordedRequest[] {
    return this.servers[name].requests;
  }

  async close(): Promise<void> {
    await Promise.all(TREC_SOURCES.map((name) => this.servers[name].close()));
  }
}

// ---------------------------------------------------------------------------------------------
// Host-info services

export interface PhysicalHostSpec {
  readonly id: string;
  readonly maxCores: number;
  readonly usedCores: number;
  readonly maxMemoryInGigabytes: number;
  readonly freeMemoryInGigabytes: number;
}

/** An AC_PhHostsInfo_aaS answer (the format of test/fixtures/hosts/PhysicalHostsInfo-example.xml). */
export function physicalHostsXml(hosts: readonly PhysicalHostSpec[], ipId = 'atos'): string {
  const items = hosts
    .map(
      (h) =>
        `<PhysicalHost id="${h.id}" maxCores="${h.maxCores}" usedCores="${h.usedCores}" maxMemoryInGigabytes="${h.maxMemoryInGigabytes}" freeMemoryInGigabytes="${h.freeMemoryInGigabytes}"></PhysicalHost>`,
    )
    .join('');
  return `<PhysicalHosts IP_Id="${ipId}">${items}</PhysicalHosts>`;
}

export interface OneHostSpec {
  readonly id: number;
  readonly name: string;
  /** OpenNebula host state: 2 MONITORED, 3 ERROR, 4 DISABLED, … */
  readonly state: number;
  /** Hundredths of a CPU, as OpenNebula counts. */
  readonly maxCpu: number;
  readonly cpuUsage: number;
  /** KB. */
  readonly maxMem: number;
  readonly memUsage: number;
  /** Further TEMPLATE attributes (capabilities: NODEJS_VERSION, EAC_CAP_ZONE, …). */
  readonly template?: Readonly<Record<string, string>>;
}

/** A HOST_POOL document as OpenNebula 6.x writes it (HOST_SHARE with the TOTAL and MAX figures, template, monitoring). */
export function hostPoolXml(hosts: readonly OneHostSpec[]): string {
  const host = (h: OneHostSpec): string =>
    `<HOST><ID>${h.id}</ID><NAME>${h.name}</NAME><STATE>${h.state}</STATE><PREV_STATE>${h.state}</PREV_STATE>` +
    '<IM_MAD><![CDATA[kvm]]></IM_MAD><VM_MAD><![CDATA[kvm]]></VM_MAD><CLUSTER_ID>0</CLUSTER_ID><CLUSTER>default</CLUSTER>' +
    `<HOST_SHARE><MEM_USAGE>${h.memUsage}</MEM_USAGE><CPU_USAGE>${h.cpuUsage}</CPU_USAGE><TOTAL_MEM>${h.maxMem}</TOTAL_MEM>` +
    `<TOTAL_CPU>${h.maxCpu}</TOTAL_CPU><MAX_MEM>${h.maxMem}</MAX_MEM><MAX_CPU>${h.maxCpu}</MAX_CPU><RUNNING_VMS>0</RUNNING_VMS>` +
    '<DATASTORES><DISK_USAGE><![CDATA[0]]></DISK_USAGE><FREE_DISK><![CDATA[1803921]]></FREE_DISK></DATASTORES><PCI_DEVICES/></HOST_SHARE>' +
    `<VMS/><TEMPLATE><ARCH><![CDATA[x86_64]]></ARCH><HOSTNAME><![CDATA[${h.name}.example.org]]></HOSTNAME><HYPERVISOR><![CDATA[kvm]]></HYPERVISOR>` +
    Object.entries(h.template ?? {})
      .map(([k, v]) => `<${k}><![CDATA[${v}]]></${k}>`)
      .join('') +
    (h.state === 3 ? `<ERROR><![CDATA[Error monitoring Host ${h.name}: ssh: connect to host port 22: No route to host]]></ERROR>` : '') +
    `</TEMPLATE><MONITORING><TIMESTAMP>1700000000</TIMESTAMP><ID>${h.id}</ID></MONITORING></HOST>`;
  return `<HOST_POOL>${hosts.map(host).join('')}</HOST_POOL>`;
}

function xmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A one.hostpool.info methodResponse: `[success, body, code]`, the body being the HOST_POOL document (escaped) or the error. */
export function xmlRpcResponse(success: boolean, body: string, code = 0): string {
  return (
    '<?xml version="1.0"?>\n<methodResponse><params><param><value><array><data>' +
    `<value><boolean>${success ? 1 : 0}</boolean></value><value><string>${xmlText(body)}</string></value><value><i4>${code}</i4></value>` +
    '</data></array></value></param></params></methodResponse>'
  );
}

/**
 * Answers OpenNebula's XML-RPC: `one.hostpool.info` gets `hostPool()` as a successful methodResponse; any other method
 * gets an XML-RPC fault, as oned does.
 */
export function openNebulaHandler(hostPool: () => string): StubHandler {
  return (req, res) => {
    const method = /<methodName>\s*([^<]*?)\s*<\/methodName>/.exec(String(req.body))?.[1];
    res.type('text/xml');
    if (method !== 'one.hostpool.info') {
      res.send(
        '<?xml version="1.0"?>\n<methodResponse><fault><value><struct>' +
          '<member><name>faultCode</name><value><int>-32601</int></value></member>' +
          `<member><name>faultString</name><value><string>unknown method ${xmlText(method ?? '(none)')}</string></value></member>` +
          '</struct></value></fault></methodResponse>',
      );
      return;
    }
    res.send(xmlRpcResponse(true, hostPool()));
  };
}
