/**
 * Configuration loading (config/config.ts): defaults → AC_CONFIG file → environment, every problem named by its source
 * and field, unknown file keys rejected, secrets redacted by describeConfig.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdmissionError } from '../model/errors';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../model/types';
import { DEFAULT_CONFIG, DEFAULT_INVENTORY_PATH, describeConfig, ENV_VARS, loadConfig, REDACTED, redactUrl } from '../config/config';

let tmpDir = '';
let fileCount = 0;
beforeAll(() => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
});
afterAll(() => {
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

/** Writes a config file (an object is serialised, a string is written as is) and returns its absolute path. */
function configFile(content: unknown): string {
  const file = path.join(tmpDir, `config-${++fileCount}.json`);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** The AdmissionError loadConfig throws (fails the test if it does not throw one). */
function configError(env: NodeJS.ProcessEnv): AdmissionError {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(AdmissionError);
    return e as AdmissionError;
  }
  throw new Error('loadConfig did not throw');
}

describe('defaults', () => {
  test('an empty environment gives the documented defaults', () => {
    const c = loadConfig({});
    // Open mode (no tokens) binds the loopback interface unless told otherwise.
    expect(c.server).toEqual({ port: 8080, host: '127.0.0.1', bodyLimitBytes: 2 * 1024 * 1024, requestTimeoutMs: 10_000, maxManifests: 50, workers: 1 });
    expect(c.hostInfo).toEqual({ source: 'inventory', inventoryPath: DEFAULT_INVENTORY_PATH, openNebulaCapabilities: [], timeoutMs: 2000, cacheMs: 5000, maxAgeMs: 120_000, maxShrink: 0.5, shrinkConfirmMs: 60_000 });
    expect(c.tokens).toEqual([]);
    expect(c.limits).toEqual({ maxComponentsPerManifest: 1000, maxVmsPerComponent: 1000 });
    expect(c.optimis).toEqual({ trustedSources: [], principal: 'optimis', role: 'client', allowStateChangingGet: false });
    expect(c.trec).toEqual({ timeoutMs: 1000, retries: 2, backoffMs: 100, breakerThreshold: 3, breakerOpenMs: 30_000, fallbacks: { trust: 3, eco: 8, risk: 2, hostRisk: 0.01, hostEco: 'index' }, unknownValues: 'satisfy' });
    expect(c.solver).toEqual({ name: 'auto', timeLimitSeconds: 2, mipGap: 0, greedyWorkers: DEFAULT_CONFIG.solver.greedyWorkers });
    expect(c.dataDir).toBe(path.resolve('data'));
    expect(c.reservationTtlSeconds).toBe(900);
    expect(c.logLevel).toBe('info');
    expect(c.defaultWeights).toEqual(DEFAULT_WEIGHTS);
    expect(c.defaultConstraints).toEqual(DEFAULT_CONSTRAINTS);
    expect(c.peers).toEqual([]);
    expect(c.providerId).toBe('local');
    expect(c.federationMaxHops).toBe(2);
    expect(c.peerSecret).toBeUndefined();
    expect(c.databaseUrl).toBeUndefined();
    expect(c.configFile).toBeUndefined();
    expect({ ...c, dataDir: DEFAULT_CONFIG.dataDir }).toEqual(DEFAULT_CONFIG);
  });

  test('the bundled inventory resolves against the project root, not the working directory', () => {
    expect(DEFAULT_INVENTORY_PATH).toBe(path.join(__dirname, '..', 'config', 'inventory.default.json'));
  });

  test('the result is frozen: nobody changes configuration behind the loader', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.solver)).toBe(true);
    expect(() => {
      (c.solver as { timeLimitSeconds: number }).timeLimitSeconds = 99;
    }).toThrow(TypeError);
  });

  test('empty environment variables count as unset', () => {
    expect(loadConfig({ PORT: '', AC_TIME_LIMIT: '  ', AC_CONFIG: '' }).server.port).toBe(8080);
  });
});

describe('precedence: defaults → file → environment', () => {
  test('each layer overrides the one before, key by key', () => {
    const file = configFile({
      server: { port: 9000, maxManifests: 10 },
      solver: { name: 'greedy', timeLimitSeconds: 5 },
      hostInfo: { cacheMs: 0 },
      trec: { retries: 0, fallbacks: { trust: 4 } },
      logLevel: 'debug',
    });
    const fileOnly = loadConfig({ AC_CONFIG: file });
    expect(fileOnly.configFile).toBe(file);
    expect(fileOnly.server).toEqual({ ...DEFAULT_CONFIG.server, port: 9000, maxManifests: 10 });
    expect(fileOnly.solver).toEqual({ name: 'greedy', timeLimitSeconds: 5, mipGap: 0, greedyWorkers: DEFAULT_CONFIG.solver.greedyWorkers });
    expect(fileOnly.hostInfo.cacheMs).toBe(0);
    expect(fileOnly.hostInfo.timeoutMs).toBe(2000);
    expect(fileOnly.trec.retries).toBe(0);
    // A partial fallbacks object keeps the other fallbacks.
    expect(fileOnly.trec.fallbacks).toEqual({ trust: 4, eco: 8, risk: 2, hostRisk: 0.01, hostEco: 'index' });
    expect(fileOnly.logLevel).toBe('debug');

    const both = loadConfig({ AC_CONFIG: file, PORT: '9100', AC_TIME_LIMIT: '0.5', AC_SOLVER: 'highs', AC_TREC_RETRIES: '3', AC_LOG_LEVEL: 'warn' });
    expect(both.server.port).toBe(9100); // env over file
    expect(both.server.maxManifests).toBe(10); // file kept where env is silent
    expect(both.solver).toEqual({ name: 'highs', timeLimitSeconds: 0.5, mipGap: 0, greedyWorkers: DEFAULT_CONFIG.solver.greedyWorkers });
    expect(both.trec.retries).toBe(3);
    expect(both.logLevel).toBe('warn');
    expect(both.server.host).toBe('127.0.0.1'); // default where neither speaks (open mode: no tokens)
  });

  test('every environment variable reaches its field', () => {
    const dataDir = path.join(tmpDir, 'data-env');
    const c = loadConfig({
      PORT: '0',
      AC_HOST: '127.0.0.1',
      AC_INVENTORY: path.join(tmpDir, 'inv.json'),
      AC_HOST_INFO: 'opennebula',
      AC_PHYSICAL_HOSTS_URL: 'http://phys:8080/AC_PhHostsInfo_aaS',
      AC_OPENNEBULA_URL: 'http://one:2633/RPC2',
      AC_OPENNEBULA_AUTH: 'oneadmin:pw',
      AC_OPENNEBULA_CAPABILITIES: 'NODEJS_VERSION=nodejs',
      AC_HOST_INFO_TIMEOUT_MS: '1500',
      AC_HOST_INFO_CACHE_MS: '0',
      AC_HOST_INFO_MAX_AGE_MS: '60000',
      AC_HOST_INFO_MAX_SHRINK: '0.25',
      AC_HOST_INFO_SHRINK_CONFIRM_MS: '5000',
      AC_MAX_COMPONENTS: '200',
      AC_MAX_VMS_PER_COMPONENT: '50',
      AC_OPTIMIS_TRUSTED_SOURCES: '10.0.0.0/8, ::1',
      AC_TREC_TRUST_URL: 'http://trec/trust',
      AC_TREC_RISK_URL: 'http://trec/risk',
      AC_TREC_ECO_URL: 'http://trec/eco',
      AC_TREC_COST_URL: 'http://trec/cost',
      AC_TREC_HOST_RISK_URL: 'http://trec/host-risk',
      AC_TREC_HOST_ECO_URL: 'https://trec/host-eco',
      AC_TREC_TIMEOUT_MS: '250',
      AC_TREC_RETRIES: '0',
      AC_TREC_BACKOFF_MS: '0',
      AC_TREC_BREAKER_THRESHOLD: '5',
      AC_TREC_BREAKER_OPEN_MS: '1000',
      AC_TREC_UNKNOWN: 'violate',
      AC_SOLVER: 'greedy',
      AC_TIME_LIMIT: '1e1',
      AC_MIP_GAP: '0.01',
      AC_GREEDY_WORKERS: '3',
      AC_DATA_DIR: dataDir,
      AC_BODY_LIMIT: '1024',
      AC_REQUEST_TIMEOUT_MS: '3000',
      AC_MAX_MANIFESTS: '5',
      AC_WORKERS: '2',
      AC_RESERVATION_TTL_SECONDS: '60',
      AC_LOG_LEVEL: 'silly',
      AC_PEER_SECRET: 'inbound-secret',
      AC_RESERVATION_ENDING_LEAD_SECONDS: '120',
      AC_HISTORY_RETENTION_DAYS: '7',
      AC_DECISION_LOG_RETENTION_DAYS: '3.5',
      AC_EARLIEST_FIT_HORIZON_HOURS: '24',
      AC_CLOCK: 'manual',
      AC_WEBHOOK_TIMEOUT_MS: '1500',
      AC_WEBHOOK_MAX_ATTEMPTS: '3',
      AC_WEBHOOK_ALLOW_PRIVATE: 'true',
      AC_CAPACITY_THRESHOLDS: '0.1, 0.25',
      AC_CHARGING: 'examples/charging.yaml',
    });
    expect(c.ledger).toEqual({ endingLeadSeconds: 120, retentionDays: 7, decisionRetentionDays: 3.5, earliestFitHorizonHours: 24, clock: 'manual', chargingCatalogue: path.resolve('examples/charging.yaml'), freeCapacityThresholds: [0.1, 0.25], webhooks: { timeoutMs: 1500, maxAttempts: 3, allowPrivateTargets: true } });
    expect(c.server).toEqual({ port: 0, host: '127.0.0.1', bodyLimitBytes: 1024, requestTimeoutMs: 3000, maxManifests: 5, workers: 2 });
    expect(c.hostInfo).toEqual({
      source: 'opennebula',
      inventoryPath: path.join(tmpDir, 'inv.json'),
      physicalHostsUrl: 'http://phys:8080/AC_PhHostsInfo_aaS',
      openNebulaUrl: 'http://one:2633/RPC2',
      openNebulaAuth: 'oneadmin:pw',
      openNebulaCapabilities: ['NODEJS_VERSION=nodejs'],
      timeoutMs: 1500,
      cacheMs: 0,
      maxAgeMs: 60_000,
      maxShrink: 0.25,
      shrinkConfirmMs: 5000,
    });
    expect(c.limits).toEqual({ maxComponentsPerManifest: 200, maxVmsPerComponent: 50 });
    expect(c.optimis.trustedSources).toEqual(['10.0.0.0/8', '::1']);
    expect(c.trec).toEqual({
      trustUrl: 'http://trec/trust',
      riskUrl: 'http://trec/risk',
      ecoUrl: 'http://trec/eco',
      costUrl: 'http://trec/cost',
      hostRiskUrl: 'http://trec/host-risk',
      hostEcoUrl: 'https://trec/host-eco',
      timeoutMs: 250,
      retries: 0,
      backoffMs: 0,
      breakerThreshold: 5,
      breakerOpenMs: 1000,
      fallbacks: DEFAULT_CONFIG.trec.fallbacks,
      unknownValues: 'violate',
    });
    expect(c.solver).toEqual({ name: 'greedy', timeLimitSeconds: 10, mipGap: 0.01, greedyWorkers: 3 });
    expect(c.dataDir).toBe(dataDir);
    expect(c.reservationTtlSeconds).toBe(60);
    expect(c.logLevel).toBe('silly');
    expect(c.peerSecret).toBe('inbound-secret');
    // The documented table covers exactly these variables (plus AC_CONFIG).
    expect(ENV_VARS.map((v) => v.name).sort()).toEqual(
      [
        'AC_CONFIG', 'PORT', 'AC_HOST', 'AC_WORKERS', 'AC_INVENTORY', 'AC_HOST_INFO', 'AC_PHYSICAL_HOSTS_URL', 'AC_OPENNEBULA_URL', 'AC_OPENNEBULA_AUTH',
        'AC_HOST_INFO_TIMEOUT_MS', 'AC_HOST_INFO_CACHE_MS', 'AC_TREC_TRUST_URL', 'AC_TREC_RISK_URL', 'AC_TREC_ECO_URL', 'AC_TREC_COST_URL',
        'AC_TREC_HOST_RISK_URL', 'AC_TREC_HOST_ECO_URL', 'AC_TREC_TIMEOUT_MS', 'AC_TREC_RETRIES', 'AC_TREC_BACKOFF_MS', 'AC_SOLVER',
        'AC_TIME_LIMIT', 'AC_MIP_GAP', 'AC_DATA_DIR', 'AC_BODY_LIMIT', 'AC_REQUEST_TIMEOUT_MS', 'AC_MAX_MANIFESTS',
        'AC_RESERVATION_TTL_SECONDS', 'AC_LOG_LEVEL', 'AC_PEER_SECRET', 'AC_PROVIDER_ID', 'AC_FEDERATION_MAX_HOPS',
        'AC_TREC_BREAKER_THRESHOLD', 'AC_TREC_BREAKER_OPEN_MS', 'AC_RESERVATION_ENDING_LEAD_SECONDS', 'AC_HISTORY_RETENTION_DAYS', 'AC_DECISION_LOG_RETENTION_DAYS',
        'AC_EARLIEST_FIT_HORIZON_HOURS', 'AC_CLOCK', 'AC_DATABASE_URL', 'AC_GREEDY_WORKERS', 'AC_WEBHOOK_TIMEOUT_MS', 'AC_WEBHOOK_MAX_ATTEMPTS', 'AC_WEBHOOK_ALLOW_PRIVATE', 'AC_HOST_INFO_MAX_AGE_MS', 'AC_HOST_INFO_MAX_SHRINK', 'AC_HOST_INFO_SHRINK_CONFIRM_MS', 'AC_MAX_COMPONENTS', 'AC_MAX_VMS_PER_COMPONENT', 'AC_OPTIMIS_TRUSTED_SOURCES', 'AC_TREC_UNKNOWN', 'AC_CAPACITY_THRESHOLDS', 'AC_OPENNEBULA_CAPABILITIES', 'AC_CHARGING',
        'AC_DEPLOY', 'AC_DEPLOY_TEMPLATES', 'AC_DEPLOY_TIMEOUT_MS', 'AC_DEPLOY_LEASE_MS', 'AC_DEPLOY_POLL_MS', 'AC_DEPLOY_TERMINATE_GRACE_MS',
      ].sort(),
    );
  });

  test('AC_DEPLOY=opennebula: deploys through host-info\'s endpoint and session; templates as component=template', () => {
    const c = loadConfig({ AC_DEPLOY: 'opennebula', AC_HOST_INFO: 'opennebula', AC_OPENNEBULA_URL: 'http://127.0.0.1:2633/RPC2', AC_OPENNEBULA_AUTH: 'oneadmin:pw', AC_DEPLOY_TEMPLATES: 'web=7,db=ubuntu-db,*=5', AC_DEPLOY_LEASE_MS: '1500' });
    expect(c.deploy).toEqual({ target: 'opennebula', templates: ['web=7', 'db=ubuntu-db', '*=5'], timeoutMs: 10_000, leaseMs: 1500, pollMs: 2000, terminateGraceMs: 300_000 });
    expect(loadConfig({}).deploy.target).toBe('none');
    expect(() => loadConfig({ AC_DEPLOY: 'opennebula' })).toThrow(/AC_DEPLOY=opennebula deploys through host-info's OpenNebula endpoint: set AC_OPENNEBULA_URL and AC_OPENNEBULA_AUTH/);
    expect(() => loadConfig({ AC_DEPLOY: 'kubernetes' })).toThrow(/AC_DEPLOY/);
    const base = { AC_DEPLOY: 'opennebula', AC_OPENNEBULA_URL: 'http://127.0.0.1:2633/RPC2', AC_OPENNEBULA_AUTH: 'oneadmin:pw' };
    expect(() => loadConfig({ ...base, AC_DEPLOY_TEMPLATES: 'web' })).toThrow(/expected component=template/);
    expect(() => loadConfig({ ...base, AC_DEPLOY_TEMPLATES: 'web=1,web=2' })).toThrow(/component 'web' is mapped twice/);
  });

  test('file-only settings: weights, constraints, fallbacks and peers', () => {
    const weights = { cost: 0.1, eco: 0.2, risk: 0.3, trust: 0.4 };
    const constraints = { eco: 1, trust: 2, risk: 3, cost: 500 };
    const peers = [
      { id: 'peer-a', url: 'https://a.example/api', secret: 'sa', timeoutMs: 3000, priority: 1, priceHint: 0.5, trustHint: 4 },
      { id: 'peer-b', url: 'http://b.example', secret: 'sb', timeoutMs: 1000, protocol: 'optimis' },
    ];
    const c = loadConfig({
      AC_CONFIG: configFile({ defaultWeights: weights, defaultConstraints: constraints, peers, providerId: 'me', federationMaxHops: 1, trec: { fallbacks: { hostEco: 5 } } }),
    });
    expect(c.defaultWeights).toEqual(weights);
    expect(c.defaultConstraints).toEqual(constraints);
    expect(c.peers).toEqual(peers);
    expect(c.providerId).toBe('me');
    expect(c.federationMaxHops).toBe(1);
    expect(c.trec.fallbacks.hostEco).toBe(5);
  });

  test('relative paths: from the file against the file, from the environment against the working directory', () => {
    const sub = path.join(tmpDir, 'etc');
    fs.mkdirSync(sub, { recursive: true });
    const file = path.join(sub, 'eac.json');
    fs.writeFileSync(file, JSON.stringify({ hostInfo: { inventoryPath: 'hosts.json' }, dataDir: '../state' }));
    const fromFile = loadConfig({ AC_CONFIG: file });
    expect(fromFile.hostInfo.inventoryPath).toBe(path.join(sub, 'hosts.json'));
    expect(fromFile.dataDir).toBe(path.join(tmpDir, 'state'));
    const fromEnv = loadConfig({ AC_CONFIG: file, AC_DATA_DIR: 'rel-data', AC_INVENTORY: 'rel-inv.json' });
    expect(fromEnv.dataDir).toBe(path.resolve('rel-data'));
    expect(fromEnv.hostInfo.inventoryPath).toBe(path.resolve('rel-inv.json'));
  });
});

describe('errors name the source and the field', () => {
  test.each([
    ['AC_TIME_LIMIT', 'abc', "AC_TIME_LIMIT: expected a positive number, got 'abc'"],
    ['AC_TIME_LIMIT', '0', "AC_TIME_LIMIT: expected a positive number, got '0'"],
    ['PORT', '70000', "PORT: expected a port number (integer 0–65535), got '70000'"],
    ['PORT', '80.5', "PORT: expected a port number (integer 0–65535), got '80.5'"],
    ['AC_TREC_RETRIES', '-1', "AC_TREC_RETRIES: expected an integer ≥ 0, got '-1'"],
    ['AC_BODY_LIMIT', '2mb', "AC_BODY_LIMIT: expected a positive integer, got '2mb'"],
    ['AC_MIP_GAP', '1.5', "AC_MIP_GAP: expected a number within [0, 1], got '1.5'"],
    ['AC_SOLVER', 'gams', "AC_SOLVER: expected one of greedy, highs, auto, got 'gams'"],
    ['AC_HOST_INFO', 'csv', "AC_HOST_INFO: expected one of inventory, physical-hosts, opennebula, got 'csv'"],
    ['AC_LOG_LEVEL', 'loud', "AC_LOG_LEVEL: expected one of error, warn, info, http, verbose, debug, silly, got 'loud'"],
    ['AC_TREC_TRUST_URL', 'ftp://x', "AC_TREC_TRUST_URL: expected an http(s) URL, got 'ftp://x'"],
    ['AC_TREC_TIMEOUT_MS', '0x10', "AC_TREC_TIMEOUT_MS: expected a positive integer, got '0x10'"],
  ])('%s=%s', (name, value, message) => {
    const e = configError({ [name]: value });
    expect(e.code).toBe('AC_ERR_CONFIG');
    expect(e.status).toBe(500);
    expect(e.message).toBe(message);
    expect(e.details).toEqual([{ field: name, reason: message.slice(name.length + 2) }]);
  });

  test('AC_CAPACITY_THRESHOLDS takes shares strictly inside (0, 1) and names the bad one', () => {
    const e = configError({ AC_CAPACITY_THRESHOLDS: '0.5, 1' });
    expect(e.details).toEqual([{ field: 'AC_CAPACITY_THRESHOLDS', reason: expect.stringMatching(/strictly between 0 and 1/) }]);
    expect(configError({ AC_CAPACITY_THRESHOLDS: 'ten' }).details[0]!.field).toBe('AC_CAPACITY_THRESHOLDS');
  });

  test('several bad variables are all reported', () => {
    const e = configError({ AC_TIME_LIMIT: 'abc', PORT: '-1', AC_SOLVER: 'x' });
    expect(e.details.map((d) => d.field).sort()).toEqual(['AC_SOLVER', 'AC_TIME_LIMIT', 'PORT']);
    expect(e.message).toMatch(/and 2 more/);
  });

  test('bad file values name the file and the field path', () => {
    const file = configFile({ solver: { timeLimitSeconds: 'abc' }, trec: { fallbacks: { risk: 8 } }, peers: [{ id: 'p', url: 'nope', secret: 's', timeoutMs: 5 }] });
    const e = configError({ AC_CONFIG: file });
    expect(e.code).toBe('AC_ERR_CONFIG');
    expect(e.details).toEqual(
      expect.arrayContaining([
        { field: `${file}: solver.timeLimitSeconds`, reason: 'expected a positive number, got "abc"' },
        { field: `${file}: trec.fallbacks.risk`, reason: 'expected a risk level within [0, 7], got 8' },
        { field: `${file}: peers[0].url`, reason: 'expected an http(s) URL, got "nope"' },
      ]),
    );
    expect(e.details).toHaveLength(3);
  });

  test('unknown keys in the file are errors, at any level, with a suggestion', () => {
    const file = configFile({ solver: { timelimitSeconds: 3 }, AC_TIME_LIMIT: 3, sever: { port: 1 } });
    const e = configError({ AC_CONFIG: file });
    expect(e.details).toEqual(
      expect.arrayContaining([
        { field: `${file}: solver.timelimitSeconds`, reason: "unknown key (did you mean 'solver.timeLimitSeconds'?)" },
        { field: `${file}: AC_TIME_LIMIT`, reason: "unknown key (did you mean 'solver.timeLimitSeconds'? AC_TIME_LIMIT is the environment variable)" },
        { field: `${file}: sever`, reason: "unknown key (did you mean 'server'?)" },
      ]),
    );
    expect(e.details).toHaveLength(3);
  });

  test('a malformed secret is not echoed in the error', () => {
    const file = configFile({ hostInfo: { openNebulaAuth: 'x'.repeat(0) }, peers: [{ id: 'p', url: 'http://p', secret: 424242, timeoutMs: 5 }] });
    const e = configError({ AC_CONFIG: file });
    expect(e.details).toEqual([
      { field: `${file}: hostInfo.openNebulaAuth`, reason: `expected a non-empty string, got ${REDACTED}` },
      { field: `${file}: peers[0].secret`, reason: `expected a non-empty string, got ${REDACTED}` },
    ]);
    expect(JSON.stringify(e)).not.toContain('424242');
  });

  test('AC_DATABASE_URL: a postgres:// URL naming a database; a malformed one is not echoed (it may hold a password)', () => {
    expect(loadConfig({ AC_DATABASE_URL: 'postgres://eac:pw@db.internal:5432/eac' }).databaseUrl).toBe('postgres://eac:pw@db.internal:5432/eac');
    expect(loadConfig({ AC_DATABASE_URL: 'postgresql://db/eac?sslmode=require' }).databaseUrl).toBe('postgresql://db/eac?sslmode=require');
    expect(loadConfig({ AC_CONFIG: configFile({ databaseUrl: 'postgres://db/eac' }) }).databaseUrl).toBe('postgres://db/eac');
    for (const bad of ['mysql://eac:s3cret-pw@db/eac', 'postgres://eac:s3cret-pw@db', 'not a url s3cret-pw']) {
      const e = configError({ AC_DATABASE_URL: bad });
      expect(e.details).toEqual([{ field: 'AC_DATABASE_URL', reason: `expected a postgres:// (or postgresql://) URL naming a database (postgres://user:password@host:5432/eac), got ${REDACTED}` }]);
      expect(JSON.stringify(e)).not.toContain('s3cret-pw');
      expect(e.message).not.toContain('s3cret-pw');
    }
    const file = configFile({ databaseUrl: 'mysql://eac:s3cret-pw@db/eac' });
    const e = configError({ AC_CONFIG: file });
    expect(e.details).toEqual([{ field: `${file}: databaseUrl`, reason: expect.stringContaining(`got ${REDACTED}`) }]);
    expect(JSON.stringify(e)).not.toContain('s3cret-pw');
  });

  test('unknown keys inside a peer are rejected too', () => {
    const e = configError({ AC_CONFIG: configFile({ peers: [{ id: 'p', url: 'http://p', secret: 's', timeoutMs: 5, secrte: 'typo' }] }) });
    expect(e.details).toHaveLength(1);
    expect(e.details[0]!.field).toMatch(/: peers\[0\]\.secrte$/);
    expect(e.details[0]!.reason).toMatch(/^unknown key/);
  });

  test('weights must sum to 1; peers need unique ids', () => {
    const file = configFile({
      defaultWeights: { cost: 0.5, eco: 0.5, risk: 0.5, trust: 0 },
      peers: [
        { id: 'p', url: 'http://p1', secret: 's', timeoutMs: 5 },
        { id: 'p', url: 'http://p2', secret: 's', timeoutMs: 5 },
      ],
    });
    const e = configError({ AC_CONFIG: file });
    expect(e.details).toEqual(
      expect.arrayContaining([
        { field: `${file}: defaultWeights`, reason: 'expected weights that sum to 1 (they sum to 1.5)' },
        { field: `${file}: peers[1].id`, reason: "expected unique peer ids ('p' appears twice)" },
      ]),
    );
  });

  test('federation: a provider with peers names itself, never as one of its peers; ids and protocols are checked', () => {
    const peers = [{ id: 'b', url: 'http://b', secret: 's', timeoutMs: 5 }];
    const file = configFile({ peers });
    expect(configError({ AC_CONFIG: file }).details).toEqual([
      {
        field: `${file}: peers`,
        reason: "peers are configured, so this provider needs its own id: set AC_PROVIDER_ID (or providerId in the config file) to something other than 'local'",
      },
    ]);
    expect(loadConfig({ AC_CONFIG: file, AC_PROVIDER_ID: 'a' }).providerId).toBe('a');
    expect(configError({ AC_CONFIG: file, AC_PROVIDER_ID: 'b' }).details).toEqual([{ field: `${file}: peers`, reason: "peer id 'b' is this provider's own id (providerId)" }]);
    const bad = configFile({ providerId: 'a,b', federationMaxHops: 0, peers: [{ id: 'c d', url: 'http://c', secret: 's', timeoutMs: 5, protocol: 'soap' }] });
    expect(configError({ AC_CONFIG: bad }).details.map((d) => d.field).sort()).toEqual(
      [`${bad}: federationMaxHops`, `${bad}: peers[0].id`, `${bad}: peers[0].protocol`, `${bad}: providerId`].sort(),
    );
    expect(configError({ AC_FEDERATION_MAX_HOPS: '-1' }).details[0]!.field).toBe('AC_FEDERATION_MAX_HOPS');
  });

  test('weights and constraints are whole objects in the file (half a policy is not merged over the defaults)', () => {
    const e = configError({ AC_CONFIG: configFile({ defaultConstraints: { cost: 10 } }) });
    expect(e.details.map((d) => d.field)).toEqual(expect.arrayContaining([expect.stringMatching(/: defaultConstraints\.eco$/)]));
  });

  test('a missing file, a directory, invalid JSON and a non-object are reported', () => {
    const missing = path.join(tmpDir, 'nope.json');
    expect(configError({ AC_CONFIG: missing }).message).toBe(`AC_CONFIG: cannot read the config file '${missing}' (ENOENT)`);
    expect(configError({ AC_CONFIG: tmpDir }).message).toBe(`AC_CONFIG: cannot read the config file '${tmpDir}' (EISDIR)`);
    const bad = configFile('{ "server": ');
    expect(configError({ AC_CONFIG: bad }).message).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON`));
    const arr = configFile([1, 2]);
    expect(configError({ AC_CONFIG: arr }).message).toBe(`${arr}: (top level): expected a JSON object, got [1,2]`);
  });

  test('cross-field requirements name the setting that made them necessary', () => {
    expect(configError({ AC_HOST_INFO: 'physical-hosts' }).details).toEqual([
      { field: 'AC_HOST_INFO', reason: "'physical-hosts' needs a URL: set AC_PHYSICAL_HOSTS_URL (or hostInfo.physicalHostsUrl in the config file)" },
    ]);
    const file = configFile({ hostInfo: { source: 'opennebula', openNebulaUrl: 'http://one:2633/RPC2' } });
    expect(configError({ AC_CONFIG: file }).details).toEqual([
      { field: `${file}: hostInfo.source`, reason: "'opennebula' needs credentials: set AC_OPENNEBULA_AUTH (or hostInfo.openNebulaAuth in the config file)" },
    ]);
    // Satisfied from the other layer: the file names the source, the environment gives the URL.
    const ok = loadConfig({ AC_CONFIG: configFile({ hostInfo: { source: 'physical-hosts' } }), AC_PHYSICAL_HOSTS_URL: 'http://phys/x' });
    expect(ok.hostInfo.source).toBe('physical-hosts');
    expect(ok.hostInfo.physicalHostsUrl).toBe('http://phys/x');
  });
});

describe('describeConfig', () => {
  test('redacts every secret and keeps everything else', () => {
    const file = configFile({
      providerId: 'me',
      peers: [{ id: 'peer-a', url: 'https://user:pw@a.example/api', secret: 'peer-a-secret', timeoutMs: 3000 }],
    });
    const c = loadConfig({
      AC_CONFIG: file,
      AC_HOST_INFO: 'opennebula',
      AC_OPENNEBULA_URL: 'http://oneadmin:urlpass@one:2633/RPC2',
      AC_OPENNEBULA_AUTH: 'oneadmin:sessionpass',
      AC_PEER_SECRET: 'inbound-secret',
      AC_TREC_TRUST_URL: 'http://svc:trecpass@trec/trust',
    });
    const d = describeConfig(c);
    const text = JSON.stringify(d);
    for (const secret of ['peer-a-secret', 'sessionpass', 'urlpass', 'inbound-secret', 'trecpass', ':pw@']) expect(text).not.toContain(secret);
    expect(d.hostInfo.openNebulaAuth).toBe(REDACTED);
    expect(d.hostInfo.openNebulaUrl).toBe(`http://${REDACTED}@one:2633/RPC2`);
    expect(d.peerSecret).toBe(REDACTED);
    expect(d.peers[0]).toEqual({ id: 'peer-a', url: `https://${REDACTED}@a.example/api`, secret: REDACTED, timeoutMs: 3000 });
    expect(d.trec.trustUrl).toBe(`http://${REDACTED}@trec/trust`);
    // Non-secrets unchanged, and the original untouched.
    expect(d.server).toEqual(c.server);
    expect(d.solver).toEqual(c.solver);
    expect(d.configFile).toBe(file);
    expect(c.hostInfo.openNebulaAuth).toBe('oneadmin:sessionpass');
    expect(c.peers[0]!.secret).toBe('peer-a-secret');
  });

  test('secrets in query strings, fragments and credential-like path segments are redacted; token hashes too', () => {
    const file = configFile({
      tokens: [{ name: 'acme', role: 'client', sha256: 'ab'.repeat(32) }],
      providerId: 'me',
      peers: [{ id: 'peer-b', url: 'https://b.example/api/k3y9f0a8b7c6d5e4f3a2/v1?api_key=QUERYSECRET&region=eu#FRAGSECRET', secret: 's', timeoutMs: 1000 }],
    });
    const c = loadConfig({ AC_CONFIG: file, AC_TREC_RISK_URL: 'http://trec/risk?token=RISKSECRET', AC_TREC_ECO_URL: 'http://trec/hooks/Zk9Lq3Vx7Tn2Wm5Rp8Ys/eco' });
    const d = describeConfig(c);
    const text = JSON.stringify(d);
    for (const secret of ['QUERYSECRET', 'FRAGSECRET', 'k3y9f0a8b7c6d5e4f3a2', 'RISKSECRET', 'Zk9Lq3Vx7Tn2Wm5Rp8Ys', 'abababab']) expect(text).not.toContain(secret);
    expect(d.peers[0]!.url).toBe(`https://b.example/api/${REDACTED}/v1?api_key=${REDACTED}&region=${REDACTED}#${REDACTED}`);
    expect(d.trec.riskUrl).toBe(`http://trec/risk?token=${REDACTED}`);
    expect(d.trec.ecoUrl).toBe(`http://trec/hooks/${REDACTED}/eco`);
    expect(d.tokens).toEqual([{ name: 'acme', role: 'client', sha256: REDACTED }]);
    // Ordinary paths stay readable.
    expect(redactUrl('http://one:2633/RPC2')).toBe('http://one:2633/RPC2');
    expect(redactUrl('http://phys:8080/AC_PhHostsInfo_aaS/hosts')).toBe('http://phys:8080/AC_PhHostsInfo_aaS/hosts');
  });

  test('tokens: validated, unique, and they move the default bind address off the loopback interface', () => {
    const sha = 'cd'.repeat(32);
    const c = loadConfig({ AC_CONFIG: configFile({ tokens: [{ name: 'ops', role: 'operator', sha256: sha }] }) });
    expect(c.tokens).toEqual([{ name: 'ops', role: 'operator', sha256: sha }]);
    expect(c.server.host).toBe('0.0.0.0');
    expect(loadConfig({ AC_CONFIG: configFile({ tokens: [{ name: 'ops', role: 'operator', sha256: sha }] }), AC_HOST: '127.0.0.1' }).server.host).toBe('127.0.0.1');
    expect(() => loadConfig({ AC_CONFIG: configFile({ tokens: [{ name: 'ops', role: 'boss', sha256: sha }] }) })).toThrow(/tokens\[0\]\.role: expected one of operator, client, reader, peer/);
    expect(() => loadConfig({ AC_CONFIG: configFile({ tokens: [{ name: 'ops', role: 'client', sha256: 'nothex' }] }) })).toThrow(/tokens\[0\]\.sha256: expected the SHA-256/);
    expect(() => loadConfig({ AC_CONFIG: configFile({ tokens: [{ name: 'a', role: 'client', sha256: sha }, { name: 'b', role: 'reader', sha256: sha }] }) })).toThrow(/unique tokens/);
    // A malformed hash is never echoed.
    try {
      loadConfig({ AC_CONFIG: configFile({ tokens: [{ name: 'ops', role: 'client', sha256: 'leak-me-not' }] }) });
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('leak-me-not');
    }
  });

  test('the database URL: password and secret query values redacted; user, host, port, database and sslmode kept', () => {
    const c = loadConfig({ AC_DATABASE_URL: 'postgres://eac:hunter2@db.internal:6432/eac_ledger?sslmode=require&sslpassword=k3y-pass' });
    const d = describeConfig(c);
    expect(d.databaseUrl).toBe(`postgres://eac:${REDACTED}@db.internal:6432/eac_ledger?sslmode=require&sslpassword=${REDACTED}`);
    expect(JSON.stringify(d)).not.toContain('hunter2');
    expect(JSON.stringify(d)).not.toContain('k3y-pass');
    expect(c.databaseUrl).toContain('hunter2');
  });

  test('unset secrets stay unset, so the view shows whether one is configured', () => {
    const d = describeConfig(loadConfig({}));
    expect(d.peerSecret).toBeUndefined();
    expect('peerSecret' in d).toBe(false);
    expect(d.hostInfo.openNebulaAuth).toBeUndefined();
    expect(d).toEqual({ ...loadConfig({}) });
  });
});
