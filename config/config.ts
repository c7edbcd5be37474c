/**
 * The service's configuration: built-in defaults → optional JSON file (AC_CONFIG) → environment variables, validated once with zod.
 * Reads only the config file and the environment it is given; it never reads the inventory, the database or the network.
 */
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { AdmissionError, type ErrorDetail } from '../model/errors';
import { REDACTED, redactDatabaseUrl, redactUrl } from '../model/redact';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS, type TrecConstraints, type Weights } from '../model/types';

export { REDACTED, redactUrl } from '../model/redact';

/*
 * Decisions:
 * - The JSON file mirrors AppConfig (camelCase, nested sections); every key is optional, unknown keys are errors at every
 *   level (a typo such as `timelimitSeconds` would otherwise leave the default in force without anyone noticing).
 * - `defaultWeights`, `defaultConstraints` and `peers` are replaced whole, never merged key by key: weights must sum to 1,
 *   so half a weights object merged over the defaults would be a policy nobody wrote.
 * - An environment variable set to the empty string counts as unset (docker-compose and systemd pass `X=` for "not given").
 * - Relative paths: from the environment or the defaults they resolve against the working directory; from the file they
 *   resolve against the file's directory (so a config file and its inventory can be moved together). The bundled
 *   inventory resolves against the project root, wherever the process starts.
 * - Every problem is collected (not just the first) and thrown as one AC_ERR_CONFIG whose details name the source
 *   (env var or `file: field`) and the field.
 * - The returned config is deeply frozen: configuration is read once at start-up and never changed behind a caller's
 *   back (OPTIMIS's D2 was global state mutated through GET requests).
 */

export type HostInfoSource = 'inventory' | 'physical-hosts' | 'opennebula';
export type SolverChoice = 'greedy' | 'highs' | 'auto';
/** winston's npm levels. */
export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';
/** How a peer is asked: this service's JSON API, or the OPTIMIS form endpoint (interfaces.md §3.1). */
export type PeerProtocol = 'eac' | 'optimis';

/** A peer admission controller that partial admissions may be federated to. */
export interface PeerConfig {
  readonly id: string;
  /** Base URL of the peer's API (http or https). */
  readonly url: string;
  /** Shared secret this service presents to the peer; never logged (describeConfig redacts it). */
  readonly secret: string;
  /** Deadline for one request to the peer, in ms. */
  readonly timeoutMs: number;
  /** Lower is tried first; peers without a priority come after those with one. */
  readonly priority?: number;
  /** Expected price per VM, for ranking peers before asking them. */
  readonly priceHint?: number;
  /** Expected trust level of the peer, for ranking peers before asking them. */
  readonly trustHint?: number;
  /**
   * 'eac' (default): `POST {url}/api/v1/admissions` with the manifest as application/xml (JSON answer).
   * 'optimis': `POST {url}/ACGateway/model/performACTest` (form in, form out), for OPTIMIS-compatible peers.
   */
  readonly protocol?: PeerProtocol;
  /**
   * Capabilities the peer offers (a value, several values, or true): a component that requires a capability is sent
   * only to peers advertising a value that satisfies it. A peer without the field is sent unconstrained components only.
   */
  readonly capabilities?: Readonly<Record<string, string | true | readonly string[]>>;
}

export interface ServerConfig {
  readonly port: number;
  /**
   * Bind address. When neither AC_HOST nor the file sets it: 127.0.0.1 in open mode (no tokens configured), 0.0.0.0
   * otherwise — an unauthenticated service is never reachable from other machines by accident.
   */
  readonly host: string;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimitBytes: number;
  /** Deadline for one request, end to end, in ms. */
  readonly requestTimeoutMs: number;
  /** Most manifests accepted in one admission request. */
  readonly maxManifests: number;
  /** Processes serving HTTP on the same port (node:cluster); 1 = no cluster. State is shared through SQLite. */
  readonly workers: number;
}

export interface HostInfoSettings {
  readonly source: HostInfoSource;
  /** JSON inventory file (used when source = inventory). Absolute after loadConfig. */
  readonly inventoryPath: string;
  /** AC_PhHostsInfo_aaS-compatible endpoint (source = physical-hosts). */
  readonly physicalHostsUrl?: string;
  /** OpenNebula XML-RPC endpoint (source = opennebula). */
  readonly openNebulaUrl?: string;
  /** OpenNebula session string `user:password`; never logged. */
  readonly openNebulaAuth?: string;
  /**
   * HOST TEMPLATE attributes read as capabilities, `ATTRIBUTE=capability` (e.g. `NODEJS_VERSION=nodejs`); attributes
   * named `EAC_CAP_<NAME>` are read as capability `<name>` (lower case) without being listed.
   */
  readonly openNebulaCapabilities: readonly string[];
  readonly timeoutMs: number;
  /** How long a host snapshot is reused before the source is asked again, in ms (0 = every admission asks). */
  readonly cacheMs: number;
  /**
   * Oldest snapshot an admission may be made on, in ms: older than cacheMs the answer is marked degraded with the age,
   * older than this it is refused (503 AC_ERR_HOST_INFO_STALE).
   */
  readonly maxAgeMs: number;
  /**
   * Largest share of the hosts (0–1) that may disappear from one poll to the next before the new list is held back as
   * suspect (the previous one stays in use and /ready says why). An empty list never replaces a non-empty one.
   */
  readonly maxShrink: number;
  /** How long a shrunk list must keep being answered before it is believed, in ms. */
  readonly shrinkConfirmMs: number;
}

/** Local defaults when a TREC tool is not configured or fails (OPTIMIS's level-2 values, interfaces.md §3.6). */
export interface TrecFallbacks {
  readonly trust: number;
  readonly eco: number;
  /** Service risk level, on OPTIMIS's 1–7 scale (the IPRA risk assessor's `pof`; OPTIMIS's own fallback is 2). */
  readonly risk: number;
  /** Every host's probability of failure. */
  readonly hostRisk: number;
  /** A fixed host eco value, or 'index' for OPTIMIS's `3 + i` (i = the host's 1-based position). */
  readonly hostEco: number | 'index';
}

export interface TrecSettings {
  readonly trustUrl?: string;
  readonly riskUrl?: string;
  readonly ecoUrl?: string;
  readonly costUrl?: string;
  readonly hostRiskUrl?: string;
  readonly hostEcoUrl?: string;
  /** Deadline for one attempt, in ms. */
  readonly timeoutMs: number;
  /** Further attempts after the first one fails. */
  readonly retries: number;
  /** Delay before the first retry, in ms (doubled for each further one). */
  readonly backoffMs: number;
  /** Calls in a row that fail (after their retries) before a source's circuit opens (0 = never). */
  readonly breakerThreshold: number;
  /** How long an open circuit skips its source before one trial call, in ms. */
  readonly breakerOpenMs: number;
  readonly fallbacks: TrecFallbacks;
  /**
   * A bound the manifest states (MinimumTrustLevel, RiskLevel, …) that meets a value nobody measured (no TREC service
   * configured, or a fallback after a failure): `satisfy` (default: OPTIMIS's own manifests pass on a default set-up)
   * or `violate`. Either way the answer lists the bound as not checkable. The operator's own bounds are checked
   * against the configured defaults (the operator set both).
   */
  readonly unknownValues: 'satisfy' | 'violate';
}

export interface SolverSettings {
  readonly name: SolverChoice;
  /** Wall-clock budget of one solve, in seconds. */
  readonly timeLimitSeconds: number;
  /** Relative MIP gap at which HiGHS may stop (0 = prove optimality). */
  readonly mipGap: number;
  /** Worker threads of the greedy (solves run off the event loop; this many at once). */
  readonly greedyWorkers: number;
}

/** Who may call: `operator` everything, `client` its own admissions, `reader` every GET view, `peer` federation inbound. */
export type Role = 'operator' | 'client' | 'reader' | 'peer';
export const ROLES: readonly Role[] = ['operator', 'client', 'reader', 'peer'];

/** One bearer token, stored as the SHA-256 of the token (hex): the token itself is never stored or logged. */
export interface TokenConfig {
  /** The principal's name: the owner of its admissions, the actor in the audit trail. */
  readonly name: string;
  readonly role: Role;
  readonly sha256: string;
}

/**
 * The OPTIMIS surface (/ACGateway/…) is called by Java clients that cannot send a token. An operator may let requests
 * without one from listed source addresses act as a named principal; nothing else is served anonymously once tokens
 * are configured. The original's state-changing GET paths (setPolicy, perServiceConstraints) work only when
 * `allowStateChangingGet` is true, and only for an operator principal — whatever mode the service runs in.
 */
export interface OptimisAccessConfig {
  /** Source addresses or CIDR blocks (IPv4 / IPv6) whose token-less OPTIMIS requests act as `principal`. */
  readonly trustedSources: readonly string[];
  readonly principal: string;
  readonly role: Role;
  readonly allowStateChangingGet: boolean;
}

export interface LedgerSettings {
  /** `reservation.ending` is emitted this long before an active reservation ends (Blazar's before_end), s. */
  readonly endingLeadSeconds: number;
  /** Closed admissions, delivered events and idempotency keys are kept this long, days. */
  readonly retentionDays: number;
  /** Every admission answer (rejections and dry-runs too) is kept in the decision log this long, days. */
  readonly decisionRetentionDays: number;
  /** How far ahead a rejected windowed request looks for the earliest start that fits, hours (0 = no search). */
  readonly earliestFitHorizonHours: number;
  /** `manual`: the clock stands still unless an operator sets it (PUT /api/v1/test/clock) — for tests only. */
  readonly clock: 'system' | 'manual';
  /** The charging catalogue (YAML, docs/charging.md), reloaded on change; null: nothing is charged. */
  readonly chargingCatalogue: string | null;
  /** Shares (0–1) of the fleet's CPUs: crossing one, down or up, emits capacity.changed (reason threshold). */
  readonly freeCapacityThresholds: readonly number[];
  readonly webhooks: {
    readonly timeoutMs: number;
    readonly maxAttempts: number;
    /** Whether clients' subscriptions may target loopback, private and link-local addresses (operators always may). */
    readonly allowPrivateTargets: boolean;
  };
}

/** Deploying confirmed admissions (docs/deployment.md). */
export interface DeploySettings {
  /** `none`: confirming books capacity only; `opennebula`: it also creates the VMs (host-info's endpoint and session). */
  readonly target: 'none' | 'opennebula';
  /** `component=template` entries (template id or name; component `*` for every other one). */
  readonly templates: readonly string[];
  /** Deadline of one OpenNebula call, ms. */
  readonly timeoutMs: number;
  /** How long a process's claim on a deployment holds without a step; another process resumes it after, ms. */
  readonly leaseMs: number;
  /** How often due deployments and ends are looked for, ms. */
  readonly pollMs: number;
  /** How long a VM asked to shut down (`terminate`) has to be gone before it is terminated hard, ms. */
  readonly terminateGraceMs: number;
}

/** Caps on the work one request may ask for (413 AC_ERR_LIMIT_EXCEEDED naming the cap). */
export interface LimitsConfig {
  readonly maxComponentsPerManifest: number;
  readonly maxVmsPerComponent: number;
}

export interface AppConfig {
  readonly server: ServerConfig;
  /** Empty: open mode (every caller acts as the operator `anonymous`; bound to 127.0.0.1 unless AC_HOST is given). */
  readonly tokens: readonly TokenConfig[];
  readonly optimis: OptimisAccessConfig;
  readonly limits: LimitsConfig;
  readonly hostInfo: HostInfoSettings;
  readonly trec: TrecSettings;
  readonly solver: SolverSettings;
  /** Directory of the SQLite database (`eac.sqlite`). Absolute after loadConfig. Not used when databaseUrl is set. */
  readonly dataDir: string;
  /**
   * `postgres://user:password@host:port/database`: the ledger lives in this PostgreSQL database, shared by every replica
   * that names it (AC_DATABASE_URL). Unset: the embedded SQLite ledger in dataDir. A secret: describeConfig redacts it.
   */
  readonly databaseUrl?: string;
  /** How long an offer is held (status `held`) unless confirmed or released, in seconds. */
  readonly reservationTtlSeconds: number;
  /** The ledger over time: events before an end, history kept, the earliest-fit search, webhooks. */
  readonly ledger: LedgerSettings;
  readonly deploy: DeploySettings;
  readonly logLevel: LogLevel;
  /** Objective weights the policy starts from (the stored policy wins once it exists). */
  readonly defaultWeights: Weights;
  /** Global TREC constraints the store starts from (the stored default wins once it exists). */
  readonly defaultConstraints: TrecConstraints;
  readonly peers: readonly PeerConfig[];
  /**
   * This provider's id among its peers: written into the federation origin chain (loop prevention) and named by peers
   * in their ExternalDeployment. Must be set (and unique among the federated providers) when peers are configured.
   */
  readonly providerId: string;
  /** Longest federation chain (A → B is 1 hop, A → B → C is 2); a request that arrived at the limit is not forwarded. */
  readonly federationMaxHops: number;
  /** Shared secret peers must present on inbound federation requests; unset = inbound federation is not authenticated. */
  readonly peerSecret?: string;
  /** The JSON file that was read (AC_CONFIG), absolute; absent when none was given. */
  readonly configFile?: string;
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** `10.0.0.0/8`, `::1`, `192.0.2.7` → address, family and prefix length; undefined when it is none of these. */
export function parseCidr(text: string): { address: string; family: 'ipv4' | 'ipv6'; prefix: number } | undefined {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, family, prefix: max };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return undefined;
  return { address, family, prefix: Number(prefixText) };
}

/** A matcher for a list of addresses / CIDR blocks (node's BlockList; IPv4-mapped IPv6 addresses match their IPv4 block). */
export function addressMatcher(blocks: readonly string[]): (address: string | undefined) => boolean {
  if (blocks.length === 0) return () => false;
  const list = new BlockList();
  for (const b of blocks) {
    const c = parseCidr(b);
    if (c) list.addSubnet(c.address, c.prefix, c.family);
  }
  return (address) => {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const a = mapped ?? address;
    const version = isIP(a);
    return version !== 0 && list.check(a, version === 4 ? 'ipv4' : 'ipv6');
  };
}

/** Open mode: no tokens configured, every caller acts as the operator `anonymous`. */
export function isOpenMode(config: Pick<AppConfig, 'tokens'>): boolean {
  return config.tokens.length === 0;
}

// ---------------------------------------------------------------------------------------------
// Leaf validators. Every failure message reads "expected …"; the loader appends the offending value and its source.

function numberLeaf(expected: string, ok: (n: number) => boolean) {
  const message = `expected ${expected}`;
  return z.number({ error: message }).refine((n) => Number.isFinite(n) && ok(n), { error: message });
}
const positiveInt = numberLeaf('a positive integer', (n) => Number.isInteger(n) && n > 0);
const nonNegativeInt = numberLeaf('an integer ≥ 0', (n) => Number.isInteger(n) && n >= 0);
const positiveNumber = numberLeaf('a positive number', (n) => n > 0);
const nonNegativeNumber = numberLeaf('a number ≥ 0', (n) => n >= 0);
const probability = numberLeaf('a number within [0, 1]', (n) => n >= 0 && n <= 1);
const finiteNumber = numberLeaf('a finite number', () => true);
const port = numberLeaf('a port number (integer 0–65535)', (n) => Number.isInteger(n) && n >= 0 && n <= 65535);
const nonEmptyString = z.string({ error: 'expected a non-empty string' }).refine((s) => s.trim() !== '', { error: 'expected a non-empty string' });
const postgresUrl = z.string({ error: 'expected a postgres:// (or postgresql://) URL' }).refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.pathname.length > 1;
    } catch {
      return false;
    }
  },
  { error: 'expected a postgres:// (or postgresql://) URL naming a database (postgres://user:password@host:5432/eac)' },
);
const httpUrl = z.string({ error: 'expected an http(s) URL' }).refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { error: 'expected an http(s) URL' },
);
function enumLeaf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `expected one of ${values.join(', ')}` });
}

const WEIGHT_SUM_TOLERANCE = 1e-6;
/** Marks issues whose message already says what was wrong with which value (no "got …" appended). */
const COMPLETE = { complete: true };

/** Objective weights: four finite numbers ≥ 0 summing to 1 (OPTIMIS never checked the sum, D3). Reused by the state store. */
export const weightsSchema = z
  .strictObject({ cost: nonNegativeNumber, eco: nonNegativeNumber, risk: nonNegativeNumber, trust: nonNegativeNumber }, { error: 'expected an object {cost, eco, risk, trust}' })
  .superRefine((w, ctx) => {
    const sum = w.cost + w.eco + w.risk + w.trust;
    if (Math.abs(sum - 1) > WEIGHT_SUM_TOLERANCE) {
      ctx.addIssue({ code: 'custom', params: COMPLETE, message: `expected weights that sum to 1 (they sum to ${sum})`, input: w });
    }
  });

/** TREC constraints: four finite numbers ≥ 0 (eco/trust lower bounds, risk/cost upper bounds). Reused by the state store. */
export const constraintsSchema = z.strictObject(
  { eco: nonNegativeNumber, trust: nonNegativeNumber, risk: nonNegativeNumber, cost: nonNegativeNumber },
  { error: 'expected an object {eco, trust, risk, cost}' },
);

/** The provider id that means "not named"; a provider with peers must choose another one. */
export const DEFAULT_PROVIDER_ID = 'local';
/** Provider ids travel in a comma-separated header and in XML attributes: a conservative token alphabet. */
const providerIdLeaf = z
  .string({ error: 'expected a provider id (letters, digits, . _ - : @, at most 64)' })
  .regex(/^[A-Za-z0-9._:@-]{1,64}$/, { error: 'expected a provider id (letters, digits, . _ - : @, at most 64)' });

const peerSchema = z.strictObject(
  {
    // The id is compared with the peer's own providerId in origin chains: the same alphabet.
    id: providerIdLeaf,
    url: httpUrl,
    secret: nonEmptyString,
    timeoutMs: positiveInt,
    priority: finiteNumber.optional(),
    priceHint: nonNegativeNumber.optional(),
    trustHint: finiteNumber.optional(),
    protocol: enumLeaf(['eac', 'optimis']).optional(),
    capabilities: z
      .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, { error: 'expected a capability name' }), z.union([z.string().min(1), z.literal(true), z.array(z.string().min(1)).min(1)]), {
        error: 'expected {capability: value | true | [values]}',
      })
      .optional(),
  },
  { error: 'expected an object {id, url, secret, timeoutMs, priority?, priceHint?, trustHint?, protocol?, capabilities?}' },
);
const peersSchema = z.array(peerSchema, { error: 'expected an array of peers' }).superRefine((peers, ctx) => {
  const seen = new Set<string>();
  peers.forEach((p, i) => {
    if (seen.has(p.id)) ctx.addIssue({ code: 'custom', params: COMPLETE, path: [i, 'id'], message: `expected unique peer ids ('${p.id}' appears twice)`, input: p.id });
    seen.add(p.id);
  });
});

const roleLeaf = enumLeaf(['operator', 'client', 'reader', 'peer']);
const principalName = z
  .string({ error: 'expected a principal name (letters, digits, . _ - : @, at most 64)' })
  .regex(/^[A-Za-z0-9._:@-]{1,64}$/, { error: 'expected a principal name (letters, digits, . _ - : @, at most 64)' });
const tokenSchema = z.strictObject(
  {
    name: principalName,
    role: roleLeaf,
    sha256: z.string({ error: 'expected the SHA-256 of the token as 64 hex digits' }).regex(/^[0-9a-fA-F]{64}$/, { error: 'expected the SHA-256 of the token as 64 hex digits' }),
  },
  { error: 'expected an object {name, role, sha256}' },
);
const tokensSchema = z.array(tokenSchema, { error: 'expected an array of tokens' }).superRefine((tokens, ctx) => {
  const seen = new Map<string, number>();
  tokens.forEach((t, i) => {
    const hash = t.sha256.toLowerCase();
    if (seen.has(hash)) ctx.addIssue({ code: 'custom', params: COMPLETE, path: [i, 'sha256'], message: `expected unique tokens (the same as tokens[${seen.get(hash)}])`, input: '' });
    seen.set(hash, i);
  });
});
/** An IPv4 / IPv6 address or CIDR block. */
const sourceLeaf = z.string({ error: 'expected an IP address or CIDR block' }).refine((v) => parseCidr(v) !== undefined, { error: 'expected an IP address or CIDR block' });
const optimisSchema = z.strictObject({
  trustedSources: z.array(sourceLeaf, { error: 'expected an array of addresses or CIDR blocks' }),
  principal: principalName,
  role: roleLeaf,
  allowStateChangingGet: z.boolean({ error: 'expected true or false' }),
});
/** A share strictly inside (0, 1); from the environment each comma-separated item is a number. */
const thresholdLeaf = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
  numberLeaf('a share strictly between 0 and 1', (n) => n > 0 && n < 1),
);
const ledgerSchema = z.strictObject({
  endingLeadSeconds: nonNegativeInt,
  retentionDays: positiveNumber,
  decisionRetentionDays: positiveNumber,
  earliestFitHorizonHours: nonNegativeNumber,
  clock: enumLeaf(['system', 'manual']),
  chargingCatalogue: nonEmptyString.nullable(),
  freeCapacityThresholds: z.array(thresholdLeaf),
  webhooks: z.strictObject({ timeoutMs: positiveInt, maxAttempts: positiveInt, allowPrivateTargets: z.boolean({ error: 'expected true or false' }) }),
});
/** `web=7`, `db=ubuntu-22.04-db`, `*=5`: a component and its VM template (id or name). */
const templateMappingLeaf = z
  .string({ error: 'expected component=template' })
  .regex(/^[^=\s,][^=,]{0,511}=[^=,\s][^=,]{0,255}$/, { error: 'expected component=template (a template id or name; component * for every other one)' });
const deploySchema = z.strictObject({
  target: enumLeaf(['none', 'opennebula']),
  templates: z.array(templateMappingLeaf, { error: 'expected an array of component=template entries' }),
  timeoutMs: positiveInt,
  leaseMs: positiveInt,
  pollMs: positiveInt,
  terminateGraceMs: positiveInt,
});
const limitsSchema = z.strictObject({ maxComponentsPerManifest: positiveInt, maxVmsPerComponent: positiveInt });
const shareLeaf = numberLeaf('a share within [0, 1]', (n) => n >= 0 && n <= 1);

const serverSchema = z.strictObject({ port, host: nonEmptyString, bodyLimitBytes: positiveInt, requestTimeoutMs: positiveInt, maxManifests: positiveInt, workers: positiveInt });
/** `NODEJS_VERSION=nodejs`: an OpenNebula TEMPLATE attribute and the capability it gives. */
const capabilityMappingLeaf = z
  .string({ error: 'expected ATTRIBUTE=capability' })
  .regex(/^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, { error: 'expected ATTRIBUTE=capability (e.g. NODEJS_VERSION=nodejs)' });
const hostInfoSchema = z.strictObject({
  source: enumLeaf(['inventory', 'physical-hosts', 'opennebula']),
  inventoryPath: nonEmptyString,
  physicalHostsUrl: httpUrl.optional(),
  openNebulaUrl: httpUrl.optional(),
  openNebulaAuth: nonEmptyString.optional(),
  openNebulaCapabilities: z.array(capabilityMappingLeaf, { error: 'expected an array of ATTRIBUTE=capability entries' }),
  timeoutMs: positiveInt,
  cacheMs: nonNegativeInt,
  maxAgeMs: positiveInt,
  maxShrink: shareLeaf,
  shrinkConfirmMs: nonNegativeInt,
});
const riskLevel = numberLeaf('a risk level within [0, 7]', (n) => n >= 0 && n <= 7);
const fallbacksSchema = z.strictObject({
  trust: numberLeaf('a trust level within [0, 5]', (n) => n >= 0 && n <= 5),
  eco: nonNegativeNumber,
  risk: riskLevel,
  hostRisk: probability,
  hostEco: z.union([z.literal('index'), nonNegativeNumber], { error: "expected a number ≥ 0 or 'index'" }),
});
const trecSchema = z.strictObject({
  trustUrl: httpUrl.optional(),
  riskUrl: httpUrl.optional(),
  ecoUrl: httpUrl.optional(),
  costUrl: httpUrl.optional(),
  hostRiskUrl: httpUrl.optional(),
  hostEcoUrl: httpUrl.optional(),
  timeoutMs: positiveInt,
  retries: nonNegativeInt,
  backoffMs: nonNegativeInt,
  breakerThreshold: nonNegativeInt,
  breakerOpenMs: positiveInt,
  fallbacks: fallbacksSchema,
  unknownValues: enumLeaf(['satisfy', 'violate']),
});
const solverSchema = z.strictObject({ name: enumLeaf(['greedy', 'highs', 'auto']), timeLimitSeconds: positiveNumber, mipGap: probability, greedyWorkers: positiveInt });
const logLevelSchema = enumLeaf(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']);

/** The merged configuration, with the checks that span several fields. */
const configSchema = z
  .strictObject({
    server: serverSchema,
    tokens: tokensSchema,
    optimis: optimisSchema,
    limits: limitsSchema,
    hostInfo: hostInfoSchema,
    trec: trecSchema,
    solver: solverSchema,
    dataDir: nonEmptyString,
    databaseUrl: postgresUrl.optional(),
    reservationTtlSeconds: positiveInt,
    ledger: ledgerSchema,
    deploy: deploySchema,
    logLevel: logLevelSchema,
    defaultWeights: weightsSchema,
    defaultConstraints: constraintsSchema,
    peers: peersSchema,
    providerId: providerIdLeaf,
    federationMaxHops: positiveInt,
    peerSecret: nonEmptyString.optional(),
    configFile: nonEmptyString.optional(),
  })
  .superRefine((c, ctx) => {
    // The remote sources are useless without their endpoint; fail at start-up, not at the first admission.
    const h = c.hostInfo;
    if (h.source === 'physical-hosts' && h.physicalHostsUrl === undefined) {
      ctx.addIssue({ code: 'custom', params: COMPLETE, path: ['hostInfo', 'source'], message: "'physical-hosts' needs a URL: set AC_PHYSICAL_HOSTS_URL (or hostInfo.physicalHostsUrl in the config file)", input: h.source });
    }
    if (h.source === 'opennebula' && h.openNebulaUrl === undefined) {
      ctx.addIssue({ code: 'custom', params: COMPLETE, path: ['hostInfo', 'source'], message: "'opennebula' needs a URL: set AC_OPENNEBULA_URL (or hostInfo.openNebulaUrl in the config file)", input: h.source });
    }
    if (h.source === 'opennebula' && h.openNebulaAuth === undefined) {
      ctx.addIssue({ code: 'custom', params: COMPLETE, path: ['hostInfo', 'source'], message: "'opennebula' needs credentials: set AC_OPENNEBULA_AUTH (or hostInfo.openNebulaAuth in the config file)", input: h.source });
    }
    if (c.deploy.target === 'opennebula' && (h.openNebulaUrl === undefined || h.openNebulaAuth === undefined)) {
      ctx.addIssue({ code: 'custom', params: COMPLETE, path: ['deploy', 'target'], message: "AC_DEPLOY=opennebula deploys through host-info's OpenNebula endpoint: set AC_OPENNEBULA_URL and AC_OPENNEBULA_AUTH", input: c.deploy.target });
    }
    const mapped = new Set<string>();
    c.deploy.templates.forEach((entry, i) => {
      const component = entry.slice(0, entry.indexOf('='));
      if (mapped.has(component)) ctx.addIssue({ code: 'custom', params: COMPLETE, path: ['deploy', 'templates', i], message: `component '${component}' is mapped twice`, input: entry });
      mapped.add(component);
    });
    if (h.maxAgeMs < h.cacheMs) {
      ctx.addIssue({ code: 'custom', params: COMPLETE, path: ['hostInfo', 'maxAgeMs'], message: `expected at least hostInfo.cacheMs (${h.cacheMs} ms): a snapshot must be usable for as long as it is cached`, input: h.maxAgeMs });
    }
    // Peers recognise each other by provider id (origin chains stop loops): two federating providers both called
    // 'local' would take each other's requests for loops, so a provider with peers must name itself.
    if (c.peers.length > 0 && c.providerId === DEFAULT_PROVIDER_ID) {
      ctx.addIssue({ code: 'custom', params: COMPLETE, path: ['peers'], message: `peers are configured, so this provider needs its own id: set AC_PROVIDER_ID (or providerId in the config file) to something other than '${DEFAULT_PROVIDER_ID}'`, input: c.peers });
    }
    c.peers.forEach((p, i) => {
      if (p.id === c.providerId) {
        ctx.addIssue({ code: 'custom', params: COMPLETE, path: ['peers', i, 'id'], message: `peer id '${p.id}' is this provider's own id (providerId)`, input: p.id });
      }
    });
  });

/** The file: every key optional, unknown keys rejected; whole-object values (weights, constraints, peers) as above. */
const fileSchema = z.strictObject(
  {
    server: serverSchema.partial().optional(),
    tokens: tokensSchema.optional(),
    optimis: optimisSchema.partial().optional(),
    limits: limitsSchema.partial().optional(),
    hostInfo: hostInfoSchema.partial().optional(),
    trec: trecSchema.extend({ fallbacks: fallbacksSchema.partial().optional() }).partial().optional(),
    solver: solverSchema.partial().optional(),
    dataDir: nonEmptyString.optional(),
    databaseUrl: postgresUrl.optional(),
    reservationTtlSeconds: positiveInt.optional(),
    ledger: ledgerSchema.extend({ webhooks: ledgerSchema.shape.webhooks.partial().optional() }).partial().optional(),
    logLevel: logLevelSchema.optional(),
    defaultWeights: weightsSchema.optional(),
    defaultConstraints: constraintsSchema.optional(),
    peers: peersSchema.optional(),
    providerId: providerIdLeaf.optional(),
    federationMaxHops: positiveInt.optional(),
  },
  { error: 'expected a JSON object' },
);

// ---------------------------------------------------------------------------------------------
// Environment variables (their names are contracts: deployment manifests and the README use them).

interface EnvSpec {
  readonly name: string;
  readonly path: readonly string[];
  readonly leaf: z.ZodType;
  /** Numbers arrive as strings; only well-formed decimals are converted, anything else reaches the validator as text. */
  readonly numeric?: boolean;
  /** Values that are file system paths (resolved against the working directory). */
  readonly isPath?: boolean;
  /** Comma-separated lists. */
  readonly list?: boolean;
  /** May hold a credential: an invalid value is never echoed in the error. */
  readonly secret?: boolean;
  /** Shown by the README table. */
  readonly meaning: string;
}

const ENV: readonly EnvSpec[] = [
  { name: 'PORT', path: ['server', 'port'], leaf: port, numeric: true, meaning: 'HTTP port (0 = any free port)' },
  { name: 'AC_HOST', path: ['server', 'host'], leaf: nonEmptyString, meaning: 'address the HTTP server binds to' },
  { name: 'AC_INVENTORY', path: ['hostInfo', 'inventoryPath'], leaf: nonEmptyString, isPath: true, meaning: 'JSON host inventory (AC_HOST_INFO=inventory)' },
  { name: 'AC_HOST_INFO', path: ['hostInfo', 'source'], leaf: hostInfoSchema.shape.source, meaning: 'where host capacity comes from: inventory | physical-hosts | opennebula' },
  { name: 'AC_PHYSICAL_HOSTS_URL', path: ['hostInfo', 'physicalHostsUrl'], leaf: httpUrl, meaning: 'AC_PhHostsInfo_aaS endpoint (required for physical-hosts)' },
  { name: 'AC_OPENNEBULA_URL', path: ['hostInfo', 'openNebulaUrl'], leaf: httpUrl, meaning: 'OpenNebula XML-RPC endpoint (required for opennebula)' },
  { name: 'AC_OPENNEBULA_AUTH', path: ['hostInfo', 'openNebulaAuth'], leaf: nonEmptyString, meaning: 'OpenNebula session `user:password` (required for opennebula; secret)' },
  {
    name: 'AC_OPENNEBULA_CAPABILITIES',
    path: ['hostInfo', 'openNebulaCapabilities'],
    leaf: z.array(capabilityMappingLeaf),
    list: true,
    meaning: 'comma-separated ATTRIBUTE=capability: HOST TEMPLATE attributes read as capabilities (EAC_CAP_<NAME> attributes need no entry)',
  },
  { name: 'AC_HOST_INFO_TIMEOUT_MS', path: ['hostInfo', 'timeoutMs'], leaf: positiveInt, numeric: true, meaning: 'deadline of one host-info request, ms' },
  { name: 'AC_HOST_INFO_CACHE_MS', path: ['hostInfo', 'cacheMs'], leaf: nonNegativeInt, numeric: true, meaning: 'reuse a host snapshot for this long, ms (0 = ask every time)' },
  { name: 'AC_HOST_INFO_MAX_AGE_MS', path: ['hostInfo', 'maxAgeMs'], leaf: positiveInt, numeric: true, meaning: 'oldest host snapshot admissions may use, ms (older: 503 AC_ERR_HOST_INFO_STALE)' },
  { name: 'AC_HOST_INFO_MAX_SHRINK', path: ['hostInfo', 'maxShrink'], leaf: shareLeaf, numeric: true, meaning: 'largest share of hosts that may vanish between two polls before the new list is held back as suspect' },
  { name: 'AC_HOST_INFO_SHRINK_CONFIRM_MS', path: ['hostInfo', 'shrinkConfirmMs'], leaf: nonNegativeInt, numeric: true, meaning: 'how long a shrunk host list must persist before it is believed, ms' },
  { name: 'AC_TREC_TRUST_URL', path: ['trec', 'trustUrl'], leaf: httpUrl, meaning: 'TREC trust endpoint (unset = fallback)' },
  { name: 'AC_TREC_RISK_URL', path: ['trec', 'riskUrl'], leaf: httpUrl, meaning: 'TREC service risk endpoint (unset = fallback)' },
  { name: 'AC_TREC_ECO_URL', path: ['trec', 'ecoUrl'], leaf: httpUrl, meaning: 'TREC service eco endpoint (unset = fallback)' },
  { name: 'AC_TREC_COST_URL', path: ['trec', 'costUrl'], leaf: httpUrl, meaning: 'TREC cost endpoint (unset = fallback)' },
  { name: 'AC_TREC_HOST_RISK_URL', path: ['trec', 'hostRiskUrl'], leaf: httpUrl, meaning: 'TREC host risk endpoint (unset = fallback)' },
  { name: 'AC_TREC_HOST_ECO_URL', path: ['trec', 'hostEcoUrl'], leaf: httpUrl, meaning: 'TREC host eco endpoint (unset = fallback)' },
  { name: 'AC_TREC_TIMEOUT_MS', path: ['trec', 'timeoutMs'], leaf: positiveInt, numeric: true, meaning: 'deadline of one TREC attempt, ms' },
  { name: 'AC_TREC_RETRIES', path: ['trec', 'retries'], leaf: nonNegativeInt, numeric: true, meaning: 'TREC retries after the first attempt' },
  { name: 'AC_TREC_BREAKER_THRESHOLD', path: ['trec', 'breakerThreshold'], leaf: nonNegativeInt, numeric: true, meaning: 'TREC calls in a row that fail before the source is skipped (0 = never)' },
  { name: 'AC_TREC_BREAKER_OPEN_MS', path: ['trec', 'breakerOpenMs'], leaf: positiveInt, numeric: true, meaning: 'how long a failing TREC source is skipped before a trial call, ms' },
  { name: 'AC_TREC_UNKNOWN', path: ['trec', 'unknownValues'], leaf: enumLeaf(['satisfy', 'violate']), meaning: 'a manifest bound against an unmeasured TREC value: satisfy | violate (reported as not checkable either way)' },
  { name: 'AC_TREC_BACKOFF_MS', path: ['trec', 'backoffMs'], leaf: nonNegativeInt, numeric: true, meaning: 'delay before the first TREC retry, ms (doubles)' },
  { name: 'AC_SOLVER', path: ['solver', 'name'], leaf: solverSchema.shape.name, meaning: 'greedy | highs | auto' },
  { name: 'AC_TIME_LIMIT', path: ['solver', 'timeLimitSeconds'], leaf: positiveNumber, numeric: true, meaning: 'solver time budget, seconds' },
  { name: 'AC_MIP_GAP', path: ['solver', 'mipGap'], leaf: probability, numeric: true, meaning: 'relative MIP gap for HiGHS (0 = prove optimality)' },
  { name: 'AC_GREEDY_WORKERS', path: ['solver', 'greedyWorkers'], leaf: positiveInt, numeric: true, meaning: 'greedy worker threads per process (default: cores, at most 2)' },
  { name: 'AC_DATA_DIR', path: ['dataDir'], leaf: nonEmptyString, isPath: true, meaning: 'directory of the SQLite database eac.sqlite' },
  { name: 'AC_DATABASE_URL', path: ['databaseUrl'], leaf: postgresUrl, secret: true, meaning: 'postgres://user:password@host:5432/db: the ledger in PostgreSQL, shared by every replica (unset = SQLite in AC_DATA_DIR; secret)' },
  { name: 'AC_BODY_LIMIT', path: ['server', 'bodyLimitBytes'], leaf: positiveInt, numeric: true, meaning: 'largest request body, bytes' },
  { name: 'AC_REQUEST_TIMEOUT_MS', path: ['server', 'requestTimeoutMs'], leaf: positiveInt, numeric: true, meaning: 'deadline of one request, ms' },
  { name: 'AC_MAX_MANIFESTS', path: ['server', 'maxManifests'], leaf: positiveInt, numeric: true, meaning: 'most manifests in one admission request' },
  { name: 'AC_MAX_COMPONENTS', path: ['limits', 'maxComponentsPerManifest'], leaf: positiveInt, numeric: true, meaning: 'most components in one manifest' },
  { name: 'AC_MAX_VMS_PER_COMPONENT', path: ['limits', 'maxVmsPerComponent'], leaf: positiveInt, numeric: true, meaning: 'largest UpperBound of one component' },
  { name: 'AC_OPTIMIS_TRUSTED_SOURCES', path: ['optimis', 'trustedSources'], leaf: z.array(sourceLeaf), list: true, meaning: 'comma-separated addresses / CIDR blocks whose token-less OPTIMIS requests act as optimis.principal' },
  { name: 'AC_WORKERS', path: ['server', 'workers'], leaf: positiveInt, numeric: true, meaning: 'HTTP worker processes sharing the port (1 = no cluster)' },
  { name: 'AC_RESERVATION_TTL_SECONDS', path: ['reservationTtlSeconds'], leaf: positiveInt, numeric: true, meaning: 'how long an admission holds capacity unless released, s' },
  { name: 'AC_CAPACITY_THRESHOLDS', path: ['ledger', 'freeCapacityThresholds'], leaf: z.array(thresholdLeaf), list: true, meaning: 'comma-separated shares of the fleet\'s CPUs (e.g. 0.1,0.25): free capacity crossing one emits capacity.changed (reason threshold)' },
  { name: 'AC_RESERVATION_ENDING_LEAD_SECONDS', path: ['ledger', 'endingLeadSeconds'], leaf: nonNegativeInt, numeric: true, meaning: 'reservation.ending is emitted this long before an end, s' },
  { name: 'AC_HISTORY_RETENTION_DAYS', path: ['ledger', 'retentionDays'], leaf: positiveNumber, numeric: true, meaning: 'closed admissions and delivered events are kept this long, days' },
  { name: 'AC_DECISION_LOG_RETENTION_DAYS', path: ['ledger', 'decisionRetentionDays'], leaf: positiveNumber, numeric: true, meaning: 'every admission answer (rejections and dry-runs too) is kept in the decision log this long, days' },
  { name: 'AC_EARLIEST_FIT_HORIZON_HOURS', path: ['ledger', 'earliestFitHorizonHours'], leaf: nonNegativeNumber, numeric: true, meaning: 'how far ahead a windowed request that does not fit looks for the earliest start that would, hours (0 = off)' },
  { name: 'AC_CHARGING', path: ['ledger', 'chargingCatalogue'], leaf: nonEmptyString, isPath: true, meaning: 'charging catalogue (YAML; docs/charging.md), reloaded on change' },
  { name: 'AC_CLOCK', path: ['ledger', 'clock'], leaf: enumLeaf(['system', 'manual']), meaning: 'system | manual (tests only: time moves by PUT /api/v1/test/clock)' },
  { name: 'AC_WEBHOOK_TIMEOUT_MS', path: ['ledger', 'webhooks', 'timeoutMs'], leaf: positiveInt, numeric: true, meaning: 'deadline of one webhook delivery attempt, ms' },
  { name: 'AC_WEBHOOK_MAX_ATTEMPTS', path: ['ledger', 'webhooks', 'maxAttempts'], leaf: positiveInt, numeric: true, meaning: 'attempts per event before it is dead-lettered' },
  { name: 'AC_WEBHOOK_ALLOW_PRIVATE', path: ['ledger', 'webhooks', 'allowPrivateTargets'], leaf: z.enum(['true', 'false'], { error: "expected 'true' or 'false'" }).transform((v) => v === 'true'), meaning: "clients' webhooks may target loopback / private addresses (operators always may)" },
  { name: 'AC_DEPLOY', path: ['deploy', 'target'], leaf: deploySchema.shape.target, meaning: "none | opennebula: confirming an admission creates its VMs in OpenNebula on the offer's hosts (docs/deployment.md)" },
  { name: 'AC_DEPLOY_TEMPLATES', path: ['deploy', 'templates'], leaf: z.array(templateMappingLeaf), list: true, meaning: 'comma-separated component=template (id or name; * = every other component); unmapped components use the template with EAC_COMPONENT="<component>"' },
  { name: 'AC_DEPLOY_TIMEOUT_MS', path: ['deploy', 'timeoutMs'], leaf: positiveInt, numeric: true, meaning: 'deadline of one OpenNebula deployment call, ms' },
  { name: 'AC_DEPLOY_LEASE_MS', path: ['deploy', 'leaseMs'], leaf: positiveInt, numeric: true, meaning: "how long a process's claim on a deployment holds without progress before another process resumes it, ms" },
  { name: 'AC_DEPLOY_POLL_MS', path: ['deploy', 'pollMs'], leaf: positiveInt, numeric: true, meaning: 'how often due deployments and ended admissions are looked for, ms' },
  { name: 'AC_DEPLOY_TERMINATE_GRACE_MS', path: ['deploy', 'terminateGraceMs'], leaf: positiveInt, numeric: true, meaning: "how long an ended admission's VM has to shut down after `terminate` before eac terminates it hard, ms" },
  { name: 'AC_LOG_LEVEL', path: ['logLevel'], leaf: logLevelSchema, meaning: 'error | warn | info | http | verbose | debug | silly' },
  { name: 'AC_PEER_SECRET', path: ['peerSecret'], leaf: nonEmptyString, meaning: 'shared secret inbound peers must present (secret; unset = not checked)' },
  { name: 'AC_PROVIDER_ID', path: ['providerId'], leaf: providerIdLeaf, meaning: 'this provider\'s id among its federation peers (required when peers are configured)' },
  { name: 'AC_FEDERATION_MAX_HOPS', path: ['federationMaxHops'], leaf: positiveInt, numeric: true, meaning: 'longest federation chain (A → B = 1 hop); requests at the limit are not forwarded' },
];

/** The environment variables loadConfig reads, with the config field each one sets (for docs and `eac config`). */
export const ENV_VARS: readonly { readonly name: string; readonly field: string; readonly meaning: string }[] = [
  { name: 'AC_CONFIG', field: '(file)', meaning: 'JSON config file, applied over the defaults and under the environment' },
  ...ENV.map((e) => ({ name: e.name, field: e.path.join('.'), meaning: e.meaning })),
];

// ---------------------------------------------------------------------------------------------
// Defaults.

/**
 * The directory holding package.json, found by walking up from this module, so that the bundled inventory resolves the
 * same way from the sources (config/) and from the build (dist/config/).
 */
function projectRoot(): string {
  let dir = __dirname;
  for (;;) {
    try {
      readFileSync(path.join(dir, 'package.json'));
      return dir;
    } catch {
      const parent = path.dirname(dir);
      if (parent === dir) return path.resolve(__dirname, '..');
      dir = parent;
    }
  }
}

/** The bundled inventory (`config/inventory.default.json` in the project). */
export const DEFAULT_INVENTORY_PATH = path.join(projectRoot(), 'config', 'inventory.default.json');

export const DEFAULT_CONFIG: AppConfig = deepFreeze({
  server: { port: 8080, host: '127.0.0.1', bodyLimitBytes: 2 * 1024 * 1024, requestTimeoutMs: 10_000, maxManifests: 50, workers: 1 },
  tokens: [],
  optimis: { trustedSources: [], principal: 'optimis', role: 'client', allowStateChangingGet: false },
  limits: { maxComponentsPerManifest: 1000, maxVmsPerComponent: 1000 },
  // Serving a snapshot up to two minutes old rides out a restart of the source; older ones are refused.
  hostInfo: { source: 'inventory', inventoryPath: DEFAULT_INVENTORY_PATH, openNebulaCapabilities: [], timeoutMs: 2000, cacheMs: 5000, maxAgeMs: 120_000, maxShrink: 0.5, shrinkConfirmMs: 60_000 },
  trec: {
    timeoutMs: 1000,
    retries: 2,
    backoffMs: 100,
    breakerThreshold: 3,
    breakerOpenMs: 30_000,
    // OPTIMIS's local defaults (docs/optimis-tests.md §4.6): trust "3" (0–5), eco "8", risk level "2.0" (1–7; OPTIMIS
    // then replaced it by the probability 0.001, D4), host risk 0.01 (a probability), host eco 3+i.
    fallbacks: { trust: 3, eco: 8, risk: 2, hostRisk: 0.01, hostEco: 'index' },
    unknownValues: 'satisfy',
  },
  solver: { name: 'auto', timeLimitSeconds: 2, mipGap: 0, greedyWorkers: Math.max(1, Math.min(2, availableParallelism())) },
  dataDir: './data',
  reservationTtlSeconds: 900,
  ledger: { endingLeadSeconds: 600, retentionDays: 30, decisionRetentionDays: 30, earliestFitHorizonHours: 168, clock: 'system', chargingCatalogue: null, freeCapacityThresholds: [], webhooks: { timeoutMs: 5000, maxAttempts: 8, allowPrivateTargets: false } },
  deploy: { target: 'none', templates: [], timeoutMs: 10_000, leaseMs: 60_000, pollMs: 2000, terminateGraceMs: 300_000 },
  logLevel: 'info',
  defaultWeights: { ...DEFAULT_WEIGHTS },
  defaultConstraints: { ...DEFAULT_CONSTRAINTS },
  peers: [],
  providerId: DEFAULT_PROVIDER_ID,
  federationMaxHops: 2,
});

// ---------------------------------------------------------------------------------------------
// Loading.

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function getAt(obj: unknown, p: readonly PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of p) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function setAt(obj: Json, p: readonly string[], value: unknown): void {
  let cur = obj;
  for (const k of p.slice(0, -1)) {
    if (!isPlainObject(cur[k])) cur[k] = {};
    cur = cur[k] as Json;
  }
  cur[p[p.length - 1]!] = value;
}

/** `hostInfo.timeoutMs`, `peers[0].url`. */
function dotted(p: readonly PropertyKey[]): string {
  let out = '';
  for (const part of p) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Deep merge of `over` onto `base`; arrays and whole-object values (weights, constraints) replace. */
function mergeInto(base: Json, over: Json, atomic: ReadonlySet<string>, prefix = ''): void {
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (isPlainObject(v) && isPlainObject(base[k]) && !atomic.has(key)) mergeInto(base[k] as Json, v, atomic, key);
    else base[k] = clone(v);
  }
}
const ATOMIC_KEYS: ReadonlySet<string> = new Set(['defaultWeights', 'defaultConstraints']);

/** Walks a zod schema along a path (through objects, optionals, arrays); used to suggest keys for typos. */
function schemaAt(schema: z.ZodType, p: readonly PropertyKey[]): z.ZodType | undefined {
  let cur: z.ZodType | undefined = schema;
  for (const k of p) {
    while (cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType;
    if (cur instanceof z.ZodObject && typeof k === 'string') cur = (cur.shape as Record<string, z.ZodType>)[k];
    else if (cur instanceof z.ZodArray && typeof k === 'number') cur = cur.element as z.ZodType;
    else return undefined;
    if (cur === undefined) return undefined;
  }
  while (cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType;
  return cur;
}

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/** "did you mean …" for an unknown file key: a close spelling at the same level, or the field an env var name sets. */
function suggestion(key: string, parentPath: readonly PropertyKey[]): string {
  const env = ENV.find((e) => e.name === key);
  if (env) return ` (did you mean '${env.path.join('.')}'? ${key} is the environment variable)`;
  const parent = schemaAt(fileSchema, parentPath);
  if (!(parent instanceof z.ZodObject)) return '';
  const known = Object.keys(parent.shape as object);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k.toLowerCase(), key.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 4))
    ? ` (did you mean '${dotted([...parentPath, best])}'?)`
    : ` (known keys here: ${known.join(', ')})`;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const SECRET_KEYS: ReadonlySet<string> = new Set(['openNebulaAuth', 'secret', 'peerSecret', 'sha256', 'databaseUrl']);

function zodIssues(error: z.ZodError, input: unknown, label: (p: readonly PropertyKey[]) => string, quoteGot: (v: unknown) => string): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ field: label([...issue.path, k]), reason: `unknown key${suggestion(k, issue.path)}` });
      continue;
    }
    // Custom issues (weights sum, cross-field requirements) already say what is wrong with which value.
    if (issue.code === 'custom' && (issue.params as { complete?: boolean } | undefined)?.complete) {
      out.push({ field: label(issue.path), reason: issue.message });
      continue;
    }
    // A malformed secret is still a secret: never echo it into logs.
    const last = issue.path[issue.path.length - 1];
    const got = typeof last === 'string' && SECRET_KEYS.has(last) ? REDACTED : quoteGot(getAt(input, issue.path));
    out.push({ field: label(issue.path), reason: `${issue.message}, got ${got}` });
  }
  return out;
}

function configError(details: readonly ErrorDetail[]): AdmissionError {
  const first = details[0]!;
  const more = details.length > 1 ? ` (and ${details.length - 1} more: ${details.slice(1).map((d) => d.field).join(', ')})` : '';
  return new AdmissionError('AC_ERR_CONFIG', `${first.field}: ${first.reason}${more}`, details);
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function readConfigFile(file: string, problems: ErrorDetail[]): Json | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    problems.push({ field: 'AC_CONFIG', reason: `cannot read the config file '${file}' (${code})` });
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    problems.push({ field: file, reason: `invalid JSON: ${(e as Error).message}` });
    return undefined;
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    problems.push(...zodIssues(parsed.error, raw, (p) => `${file}: ${dotted(p) || '(top level)'}`, describeValue));
    return undefined;
  }
  const data = clone(parsed.data) as Json;
  // Paths in the file are relative to the file, so a config directory can be moved as a whole.
  const base = path.dirname(file);
  for (const p of [['hostInfo', 'inventoryPath'], ['dataDir']]) {
    const v = getAt(data, p);
    if (typeof v === 'string') setAt(data, p, path.resolve(base, v));
  }
  return data;
}

/**
 * Loads the configuration: defaults → the JSON file named by AC_CONFIG (optional) → environment variables.
 * Throws AdmissionError('AC_ERR_CONFIG') listing every problem, each naming its source and field. The result is frozen.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: ErrorDetail[] = [];
  const merged = clone(DEFAULT_CONFIG) as unknown as Json;
  const sources = new Map<string, string>();
  const given = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v;
  };

  const configPath = given('AC_CONFIG');
  if (configPath !== undefined) {
    const file = path.resolve(configPath);
    const data = readConfigFile(file, problems);
    if (data) {
      mergeInto(merged, data, ATOMIC_KEYS);
      const record = (obj: unknown, p: string[]): void => {
        if (isPlainObject(obj) && !ATOMIC_KEYS.has(p.join('.'))) for (const [k, v] of Object.entries(obj)) record(v, [...p, k]);
        else sources.set(p.join('.'), `${file}: ${p.join('.')}`);
      };
      record(data, []);
    }
    merged.configFile = file;
  }

  for (const spec of ENV) {
    const raw = given(spec.name);
    if (raw === undefined) continue;
    const value: unknown = spec.list
      ? raw.split(',').map((v) => v.trim()).filter((v) => v !== '')
      : spec.numeric && DECIMAL.test(raw.trim())
        ? Number(raw.trim())
        : raw;
    const parsed = spec.leaf.safeParse(value);
    if (!parsed.success) {
      problems.push({ field: spec.name, reason: `${parsed.error.issues[0]?.message ?? 'invalid value'}, got ${spec.secret ? REDACTED : `'${raw}'`}` });
      continue;
    }
    setAt(merged, spec.path, spec.isPath ? path.resolve(raw) : parsed.data);
    sources.set(spec.path.join('.'), spec.name);
  }
  if (problems.length > 0) throw configError(problems);

  // Defaults that are relative paths resolve against the working directory (AC_DATA_DIR's `./data`).
  merged.dataDir = path.resolve(String(merged.dataDir));
  // Nobody chose a bind address: an open (token-less) service stays on the loopback interface.
  if (!sources.has('server.host')) {
    const tokens = merged.tokens;
    (merged.server as Json).host = Array.isArray(tokens) && tokens.length > 0 ? '0.0.0.0' : '127.0.0.1';
  }

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const label = (p: readonly PropertyKey[]): string => {
      for (let n = p.length; n > 0; n--) {
        const s = sources.get(p.slice(0, n).join('.'));
        if (s !== undefined) return s;
      }
      return `default ${dotted(p)}`;
    };
    throw configError(zodIssues(result.error, merged, label, describeValue));
  }
  const config: AppConfig = result.data;
  return deepFreeze(config);
}

// ---------------------------------------------------------------------------------------------
// Redaction.


/**
 * The effective configuration for /api/v1/config (operator only) and logs: a copy with every secret replaced by
 * '[redacted]' — OpenNebula auth, the inbound peer secret, each peer's secret, token hashes, and credentials inside
 * URLs (user info, query values, credential-like path segments). Unset secrets stay unset, so the view still shows
 * whether one is configured.
 */
export function describeConfig(config: AppConfig): AppConfig {
  const c = clone(config) as { -readonly [K in keyof AppConfig]: AppConfig[K] };
  const redactIfSet = (s: string | undefined): string | undefined => (s === undefined ? undefined : REDACTED);
  const hostInfo = { ...c.hostInfo };
  hostInfo.openNebulaAuth = redactIfSet(hostInfo.openNebulaAuth);
  hostInfo.physicalHostsUrl = redactUrl(hostInfo.physicalHostsUrl);
  hostInfo.openNebulaUrl = redactUrl(hostInfo.openNebulaUrl);
  const trec = { ...c.trec };
  for (const k of ['trustUrl', 'riskUrl', 'ecoUrl', 'costUrl', 'hostRiskUrl', 'hostEcoUrl'] as const) trec[k] = redactUrl(trec[k]);
  const out: AppConfig = {
    ...c,
    tokens: c.tokens.map((t) => ({ ...t, sha256: REDACTED })),
    hostInfo: dropUndefined(hostInfo),
    trec: dropUndefined(trec),
    peers: c.peers.map((p) => ({ ...p, url: redactUrl(p.url) ?? p.url, secret: REDACTED })),
    ...(c.peerSecret !== undefined ? { peerSecret: REDACTED } : {}),
    // The password and secret query values (sslpassword=…) hidden; user, host, port and database stay readable.
    ...(c.databaseUrl !== undefined ? { databaseUrl: redactDatabaseUrl(c.databaseUrl) } : {}),
  };
  return deepFreeze(out);
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
