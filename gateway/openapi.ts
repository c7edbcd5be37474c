/**
 * The OpenAPI 3.1 description served at GET /openapi.json. Kept beside the routes it describes; a test
 * checks that every route of app.ts appears here.
 */
import { DEPLOYMENT_VM_STATES } from '../ledger/types';

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
/** GET /api/v1/bills and bills.csv. */
const BILL_PARAMETERS = [
  { name: 'owner', in: 'query', schema: { type: 'string' } },
  { name: 'from', in: 'query', required: true, schema: { type: 'string', format: 'date-time' } },
  { name: 'to', in: 'query', required: true, schema: { type: 'string', format: 'date-time' } },
] as never[];
const json = (schema: object, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const generation = { type: 'integer', minimum: 0, description: 'optimistic concurrency: the generation the change is based on (or If-Match)' };
const weights = {
  type: 'object',
  required: ['trust', 'risk', 'eco', 'cost'],
  additionalProperties: false,
  properties: { trust: { type: 'number', minimum: 0 }, risk: { type: 'number', minimum: 0 }, eco: { type: 'number', minimum: 0 }, cost: { type: 'number', minimum: 0 } },
  description: 'objective weights, non-negative, summing to 1',
};
const constraints = {
  type: 'object',
  additionalProperties: false,
  properties: {
    trust: { type: 'number', minimum: 0, description: 'service trust must be ≥ this for full acceptance' },
    risk: { type: 'number', minimum: 0, description: 'service risk must be ≤ this for full acceptance' },
    eco: { type: 'number', minimum: 0, description: 'service eco must be ≥ this for full acceptance' },
    cost: { type: 'number', minimum: 0, description: 'service cost must be ≤ this when anything is accepted locally' },
  },
};
/** Sent by a peer provider (docs/federation.md); their presence (the hop header) makes a request a federation request. */
const federationHeaders = [
  { name: 'X-EAC-Federation-Hop', in: 'header', schema: { type: 'integer', minimum: 1 }, description: 'federation requests only: hops so far (1 on A → B)' },
  { name: 'X-EAC-Federation-Origin', in: 'header', schema: { type: 'string' }, description: 'comma-separated provider ids the request went through, originator first' },
  { name: 'X-EAC-Federation-Id', in: 'header', schema: { type: 'string' }, description: 'one id per original client request, kept along the chain (loop detection)' },
  { name: 'X-EAC-Federation-Budget-Ms', in: 'header', schema: { type: 'integer', minimum: 1 }, description: 'how long the requesting peer still waits; bounds this admission' },
  { name: 'Authorization', in: 'header', schema: { type: 'string' }, description: 'federation requests: `Bearer <AC_PEER_SECRET>` (required when the secret is set)' },
];
const federationErrors = {
  '401': errorResponse("no or an unknown token, or a federation request without a peer's credentials (AC_ERR_UNAUTHORIZED)"),
  '409': errorResponse('federation loop (AC_ERR_CONFLICT), or capacity taken by another process on every re-solve (AC_ERR_CAPACITY_CONFLICT)'),
};
const idParam = (name: string, description: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description });
const textParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'number' } });

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'eac — optimization-backed admission control',
    version: '1.0.0',
    description:
      'Admits OPTIMIS service manifests fully, partly or not at all, with placements on physical hosts, TREC values, cost and a reason for everything not admitted. Errors carry a stable code (AC_ERR_…).',
  },
  paths: {
    '/api/v1/admissions': {
      post: {
        summary: 'Admit one or more services (solved jointly)',
        parameters: [
          { name: 'dryRun', in: 'query', schema: { type: 'boolean' }, description: 'answer without recording anything or holding capacity' },
          { name: 'solver', in: 'query', schema: { type: 'string', enum: ['greedy', 'highs', 'auto'] } },
          { name: 'start', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'XML bodies: start of the reservation window (RFC 3339; default now)' },
          { name: 'end', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'XML bodies: end of the window (exclusive; default open)' },
          { name: 'expirySeconds', in: 'query', schema: { type: 'integer', minimum: 1 }, description: 'an offer not confirmed within this many seconds after its start lapses (default: the hold TTL from now)' },
          { name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 255 }, description: 'the first answer under this key is returned again (header Idempotent-Replayed: true) and nothing more is booked; another request under the key is 422' },
          ...federationHeaders,
        ],
        requestBody: {
          required: true,
          content: {
            'application/xml': { schema: { type: 'string', description: 'one OPTIMIS service manifest' } },
            'application/json': {
              schema: {
                type: 'object',
                required: ['manifests'],
                additionalProperties: false,
                properties: {
                  manifests: { type: 'array', minItems: 1, items: { type: 'string' } },
                  capabilities: {
                    type: 'array',
                    description: 'per manifest (same positions): component id → {requires: ["nodejs@>=18 <21", "!gpu"], sameValue: ["zone"]}, added to the manifest\'s own eac:Requires / eac:Forbids / eac:SameValue',
                    items: { type: ['object', 'null'], additionalProperties: { type: 'object', additionalProperties: false, properties: { requires: { type: 'array', items: { type: 'string' } }, sameValue: { type: 'array', items: { type: 'string' } } } } },
                  },
                  start: { type: 'string', format: 'date-time' },
                  end: { type: ['string', 'null'], format: 'date-time' },
                  expirySeconds: { type: 'integer', minimum: 1 },
                },
              },
            },
          },
        },
        responses: {
          '200': json({ $ref: '#/components/schemas/AdmissionAnswer' }, 'answered (dry-run, or nothing held)'),
          '201': json({ $ref: '#/components/schemas/AdmissionAnswer' }, 'answered and recorded; capacity held (Location names the admission when there is one)'),
          '400': errorResponse('malformed request or XML (AC_ERR_INVALID_REQUEST, AC_ERR_MALFORMED_XML, AC_ERR_FORBIDDEN_XML)'),
          '403': errorResponse('the role may not admit (AC_ERR_FORBIDDEN)'),
          '413': errorResponse('body over the limit (AC_ERR_BODY_TOO_LARGE) or a cap on manifests, components, VMs (AC_ERR_LIMIT_EXCEEDED)'),
          '415': errorResponse('wrong content type or encoding (AC_ERR_UNSUPPORTED_MEDIA_TYPE)'),
          '422': errorResponse('invalid manifest (AC_ERR_INVALID_MANIFEST) or an Idempotency-Key reused for another request (AC_ERR_IDEMPOTENCY_MISMATCH)'),
          '503': errorResponse('request deadline passed (AC_ERR_TIMEOUT)'),
          ...federationErrors,
        },
      },
      get: {
        summary: "Recorded admissions (a client's own; readers and operators all), oldest first, paged",
        parameters: [
          { name: 'active', in: 'query', schema: { type: 'boolean' }, description: 'only those holding capacity (held, confirmed, active)' },
          { name: 'status', in: 'query', schema: { type: 'string' }, description: 'comma-separated: held, confirmed, active, ended, released, expired' },
          { name: 'serviceId', in: 'query', schema: { type: 'string' } },
          { name: 'owner', in: 'query', schema: { type: 'string' }, description: 'readers and operators' },
          { name: 'from', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'only windows overlapping [from, to)' },
          { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'nextCursor of the previous page' },
        ],
        responses: { '200': json({ type: 'object', properties: { admissions: { type: 'array', items: { $ref: '#/components/schemas/Admission' } }, nextCursor: { type: ['string', 'null'] } } }) },
      },
    },
    '/api/v1/admissions/{id}': {
      get: { summary: 'One recorded admission', parameters: [idParam('id', 'admission id')], responses: { '200': json({ $ref: '#/components/schemas/Admission' }), '404': errorResponse('unknown admission (or another principal’s)') } },
      patch: {
        summary: 'A new window (start and/or end; end null = open), re-checked; placements kept where they can be',
        parameters: [idParam('id', 'admission id')],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', additionalProperties: false, properties: { start: { type: 'string', format: 'date-time' }, end: { type: ['string', 'null'], format: 'date-time' }, generation: generation } } } } },
        responses: { '200': json({ $ref: '#/components/schemas/Admission' }), '404': errorResponse('unknown admission'), '409': errorResponse('does not fit in the new window (AC_ERR_CAPACITY_CONFLICT, with the reasons), or not held/confirmed/active (AC_ERR_CONFLICT)') },
      },
      delete: {
        summary: 'Release the capacity an admission holds (and the part a peer holds for a federated admission)',
        parameters: [idParam('id', 'admission id')],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              id: { type: 'string' },
              released: { type: 'boolean' },
              status: { type: 'string' },
              closedAt: { type: ['string', 'null'], format: 'date-time' },
              federation: {
                type: 'object',
                description: "present for a federated admission: the peer's booking and whether it was released",
                properties: { peerId: { type: 'string' }, peerAdmissionId: { type: 'string' }, released: { type: 'boolean' }, error: { type: 'string' } },
              },
            },
          }),
          '404': errorResponse('unknown admission'),
        },
      },
    },
    '/api/v1/admissions/{id}/confirm': {
      post: { summary: 'Confirm a held offer: confirmed (future start) or active', parameters: [idParam('id', 'admission id')], responses: { '200': json({ $ref: '#/components/schemas/Admission' }), '404': errorResponse('unknown admission'), '409': errorResponse('not held any more (expired, released…): AC_ERR_CONFLICT') } },
    },
    '/api/v1/admissions/{id}/deployment': {
      get: {
        summary: 'The deployment of a confirmed admission (AC_DEPLOY=opennebula): status, attempts, OpenNebula\'s error, progress counts and every VM slot with its host, state and OpenNebula VM id',
        parameters: [idParam('id', 'admission id')],
        responses: { '200': json({ $ref: '#/components/schemas/Deployment' }), '404': errorResponse('unknown admission, or none deployed') },
      },
    },
    '/api/v1/admissions/{id}/deploy': {
      post: {
        summary: 'Retry a deploy_failed deployment (a new attempt; a VM already created for a slot is found by its EAC_SLOT tag, never duplicated)',
        parameters: [idParam('id', 'admission id')],
        responses: { '202': json({ $ref: '#/components/schemas/Deployment' }), '404': errorResponse('unknown admission, or none deployed'), '409': errorResponse('not deploy_failed, or AC_DEPLOY is none: AC_ERR_CONFLICT') },
      },
    },
    '/api/v1/capacity': {
      get: {
        summary: 'Capacity over [from, to): per host and in total — cpus, usedCpus, reservedCpus (peak), windowCpusDelta (min), freeCpus (min), and memory',
        parameters: [
          { name: 'from', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'default now' },
          { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'default open' },
        ],
        responses: { '200': json({ type: 'object' }) },
      },
    },
    '/api/v1/capacity/windows': {
      post: {
        summary: 'A capacity window (operator): maintenance / drain (negative) or arriving capacity (positive) on hosts over a window; the answer names the recorded admissions it leaves without room',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['hosts', 'start', 'reason'], properties: { hosts: { type: 'array', items: { type: 'string' } }, start: { type: 'string', format: 'date-time' }, end: { type: ['string', 'null'], format: 'date-time' }, cpusDelta: { type: 'number' }, memoryMbDelta: { type: 'number' }, reason: { type: 'string' } } } } } },
        responses: { '201': json({ type: 'object', properties: { window: { type: 'object' }, conflicts: { type: 'array', items: { type: 'object' } } } }), '403': errorResponse('not an operator') },
      },
      get: { summary: 'Capacity windows (overlapping from/to, on hostId)', parameters: [{ name: 'from', in: 'query', schema: { type: 'string' } }, { name: 'to', in: 'query', schema: { type: 'string' } }, { name: 'hostId', in: 'query', schema: { type: 'string' } }], responses: { '200': json({ type: 'object' }) } },
    },
    '/api/v1/capacity/windows/{id}': {
      get: { summary: 'One capacity window', parameters: [idParam('id', 'window id')], responses: { '200': json({ type: 'object' }), '404': errorResponse('unknown window') } },
      delete: { summary: 'Remove a capacity window (operator)', parameters: [idParam('id', 'window id')], responses: { '204': { description: 'removed' }, '404': errorResponse('unknown window') } },
    },
    '/api/v1/events': {
      get: {
        summary: "The outbox after a cursor, oldest first (a client's own admissions' events; readers and operators all)",
        parameters: [{ name: 'after', in: 'query', schema: { type: 'integer', minimum: 0 } }, { name: 'limit', in: 'query', schema: { type: 'integer' } }, { name: 'types', in: 'query', schema: { type: 'string' }, description: 'comma-separated types or patterns (admission.*)' }],
        responses: { '200': json({ type: 'object', properties: { events: { type: 'array', items: { $ref: '#/components/schemas/Event' } }, next: { type: 'integer' } } }) },
      },
    },
    '/api/v1/events/stream': {
      get: {
        summary: 'Server-Sent Events (id = seq, event = type, data = the event); resumable with Last-Event-ID; a new stream starts from now unless after= is given',
        parameters: [{ name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } }, { name: 'after', in: 'query', schema: { type: 'integer' } }, { name: 'types', in: 'query', schema: { type: 'string' } }],
        responses: { '200': { description: 'text/event-stream', content: { 'text/event-stream': {} } }, '503': errorResponse('too many streams on this process (AC_ERR_TIMEOUT)') },
      },
    },
    '/api/v1/audit': {
      get: {
        summary: 'The audit log, oldest first (operators and readers): who changed what, when, before and after — policy, constraints, capacity windows, subscriptions, confirmations, reschedules and releases',
        parameters: ['actor', 'action', 'subject'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })).concat([
          { name: 'from', in: 'query', schema: { type: 'string', format: 'date-time' } },
          { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ] as never[]),
        responses: { '200': json({ type: 'object', properties: { audit: { type: 'array', items: { type: 'object' } }, nextCursor: { type: ['string', 'null'] } } }), '403': errorResponse('a client') },
      },
    },
    '/api/v1/decisions': {
      get: {
        summary: "The decision log, oldest first: every admission answer per service, rejections and dry-runs included, kept AC_DECISION_LOG_RETENTION_DAYS (a client's own; readers and operators all)",
        parameters: ['owner', 'serviceId', 'admissionId', 'requestId'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })).concat([
          { name: 'decision', in: 'query', schema: { type: 'string', enum: ['accepted', 'partial', 'rejected'] } },
          { name: 'from', in: 'query', schema: { type: 'string', format: 'date-time' } },
          { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ] as never[]),
        responses: { '200': json({ type: 'object', properties: { decisions: { type: 'array', items: { type: 'object' } }, nextCursor: { type: ['string', 'null'] } } }) },
      },
    },
    '/api/v1/bills': {
      get: {
        summary: "With AC_CHARGING (docs/charging.md): the owner's charge records with at in [from, to), per admission and resource (charged minus refunded), credits and total; reproducible (records are append-only). A client sees its own bill only",
        parameters: BILL_PARAMETERS,
        responses: {
          '200': json({ type: 'object', properties: { owner: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, currency: { type: ['string', 'null'] }, lines: { type: 'array', items: { type: 'object', properties: { admissionId: { type: 'string' }, serviceId: { type: ['string', 'null'] }, resource: { type: 'string' }, amount: { type: 'number' }, records: { type: 'integer' } } } }, credits: { type: 'number' }, total: { type: 'number' }, records: { type: 'integer' } } }),
          '403': errorResponse("another principal's bill (a client)"),
        },
      },
    },
    '/api/v1/bills.csv': {
      get: {
        summary: 'The same bill as CSV (owner, admissionId, serviceId, resource, amount, currency, records; then credits and total rows)',
        parameters: BILL_PARAMETERS,
        responses: { '200': { description: 'the bill', content: { 'text/csv': { schema: { type: 'string' } } } }, '403': errorResponse("another principal's bill (a client)") },
      },
    },
    '/api/v1/decisions/{id}': {
      get: { summary: 'One decision: reasons, duration, and what the answer said about the service', parameters: [idParam('id', 'decision id')], responses: { '200': json({ type: 'object' }), '404': errorResponse('unknown decision (or another principal’s)') } },
    },
    '/api/v1/subscriptions': {
      post: {
        summary: 'A webhook: events POSTed as JSON with X-EAC-Event-Id and X-EAC-Signature: sha256=<HMAC-SHA256 of the body with the secret>, at least once, in order, retried with backoff, dead-lettered after the last attempt',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['url', 'events', 'secret'], properties: { url: { type: 'string', format: 'uri' }, events: { type: 'array', items: { type: 'string' } }, secret: { type: 'string', minLength: 16 } } } } } },
        responses: { '201': json({ type: 'object' }), '400': errorResponse('bad url, pattern or secret') },
      },
      get: { summary: 'Subscriptions (own; all for readers and operators)', responses: { '200': json({ type: 'object' }) } },
    },
    '/api/v1/subscriptions/{id}': {
      get: { summary: 'A subscription: cursor, delivered count, the pending attempt, dead letters', parameters: [idParam('id', 'subscription id')], responses: { '200': json({ type: 'object' }), '404': errorResponse('unknown subscription') } },
      delete: { summary: 'Remove a subscription', parameters: [idParam('id', 'subscription id')], responses: { '204': { description: 'removed' }, '404': errorResponse('unknown subscription') } },
    },
    '/api/v1/hosts': {
      get: {
        summary: 'Capacity now: hosts (as host-info reports them, with capability overrides merged), reserved, capacity-window deltas, free, and totals',
        parameters: [
          {
            name: 'satisfies',
            in: 'query',
            schema: { type: 'array', items: { type: 'string' } },
            style: 'form',
            explode: true,
            description: 'repeatable: `nodejs@>=18 <21` (a semver range or exact value), `avx512` (has it), `!gpu` (lacks it); only hosts meeting every one are listed, with `qualifying`, `of` and `notSatisfied` counts',
          },
        ],
        responses: { '200': json({ type: 'object' }), '400': errorResponse('a malformed requirement (AC_ERR_INVALID_REQUEST)'), '502': errorResponse('host-info source failed') },
      },
    },
    '/api/v1/hosts/{id}/capabilities': {
      put: {
        summary: "Set or remove capabilities on a host (operator): merged over host-info's, persisted in the ledger, audited, event host.capabilities.changed",
        parameters: [idParam('id', 'host id (need not be in the inventory yet)')],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', additionalProperties: { type: ['string', 'boolean', 'null'] }, description: '{"nodejs": "20.11.1", "avx512": true, "gpu": null}: a value or true sets, null removes (also hiding the value host-info reports)' } } },
        },
        responses: { '200': json({ type: 'object' }), '400': errorResponse('a bad name or value (AC_ERR_INVALID_REQUEST)'), '401': errorResponse('no token'), '403': errorResponse('not an operator') },
      },
    },
    '/api/v1/hosts/{id}/capabilities/{name}': {
      delete: {
        summary: 'Remove one capability from a host (operator): hides the value host-info reports too',
        parameters: [idParam('id', 'host id'), idParam('name', 'capability name')],
        responses: { '200': json({ type: 'object' }), '400': errorResponse('a bad name (AC_ERR_INVALID_REQUEST)'), '401': errorResponse('no token'), '403': errorResponse('not an operator') },
      },
    },
    '/api/v1/policy': {
      get: { summary: 'TREC objective weights', responses: { '200': json({ $ref: '#/components/schemas/Policy' }) } },
      put: {
        summary: 'Set the TREC objective weights (reaches the model of the next admission)',
        parameters: [{ name: 'If-Match', in: 'header', schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['weights'], properties: { weights, generation } } } } },
        responses: { '200': json({ $ref: '#/components/schemas/Policy' }), '400': errorResponse('invalid weights'), '409': errorResponse('generation conflict (AC_ERR_CONFLICT)') },
      },
    },
    '/api/v1/constraints/default': {
      get: { summary: 'Global default TREC constraints', responses: { '200': json({ type: 'object' }) } },
      put: {
        summary: 'Set the global default TREC constraints',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['constraints'], properties: { constraints: { ...constraints, required: ['trust', 'risk', 'eco', 'cost'] }, generation } } } } },
        responses: { '200': json({ type: 'object' }), '400': errorResponse('invalid constraints'), '409': errorResponse('generation conflict') },
      },
    },
    '/api/v1/services/{id}/constraints': {
      get: { summary: "A service's own TREC constraints and the effective ones", parameters: [idParam('id', 'service id')], responses: { '200': json({ type: 'object' }) } },
      put: {
        summary: "Set a service's own TREC constraints (any subset; wins over the manifest and the default)",
        parameters: [idParam('id', 'service id')],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['constraints'], properties: { constraints, generation } } } } },
        responses: { '200': json({ type: 'object' }), '400': errorResponse('invalid constraints'), '409': errorResponse('generation conflict') },
      },
      delete: { summary: "Remove a service's own constraints", parameters: [idParam('id', 'service id')], responses: { '204': { description: 'removed' }, '404': errorResponse('none set') } },
    },
    '/api/v1/config': { get: { summary: 'Effective configuration, secrets redacted', responses: { '200': json({ type: 'object' }) } } },
    '/health': { get: { summary: 'Liveness (200 while serving) and every dependency’s state', security: [], responses: { '200': json({ type: 'object' }) } } },
    '/ready': { get: { summary: 'Able to admit: 200, or 503 with reasons', security: [], responses: { '200': json({ type: 'object' }), '503': json({ type: 'object' }, 'not able to admit (reasons)') } } },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } } },
    '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': json({ type: 'object' }) } } },
    '/ACGateway/model/performACTest': {
      post: {
        summary: 'OPTIMIS: admit manifests (form serviceManifest, repeated) → form serviceManifest… + AllocationDetails',
        parameters: federationHeaders,
        requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: { serviceManifest: { type: 'array', items: { type: 'string' } } } } } } },
        responses: { '200': { description: 'form-encoded', content: { 'application/x-www-form-urlencoded': {} } }, ...federationErrors },
      },
    },
    '/ACGateway/model/performOneManifestACTest': {
      post: { summary: 'OPTIMIS: admit one manifest (raw body) → the manifest with its offer', responses: { '200': { description: 'XML', content: { 'application/xml': {} } } } },
    },
    '/ACGateway/data/setPolicy/{trust}/{eco}/{risk}/{cost}': {
      get: { summary: 'OPTIMIS: set the weights (GET kept for compatibility)', parameters: ['trust', 'eco', 'risk', 'cost'].map(textParam), responses: { '200': { description: 'text' } } },
      post: { summary: 'Same as GET', parameters: ['trust', 'eco', 'risk', 'cost'].map(textParam), responses: { '200': { description: 'text' } } },
      put: { summary: 'Same as GET', parameters: ['trust', 'eco', 'risk', 'cost'].map(textParam), responses: { '200': { description: 'text' } } },
    },
    '/ACGateway/data/perServiceConstraints/{trust}/{risk}/{eco}/{cost}': {
      get: { summary: 'OPTIMIS: set the global default constraints (GET kept for compatibility)', parameters: ['trust', 'risk', 'eco', 'cost'].map(textParam), responses: { '200': { description: 'text' } } },
      post: { summary: 'Same as GET', parameters: ['trust', 'risk', 'eco', 'cost'].map(textParam), responses: { '200': { description: 'text' } } },
      put: { summary: 'Same as GET', parameters: ['trust', 'risk', 'eco', 'cost'].map(textParam), responses: { '200': { description: 'text' } } },
    },
    '/ACGateway/csv/{name}': {
      get: { summary: 'OPTIMIS: one weight or constraint as text (getTrust_Weight, getCost_Constraint, …)', parameters: [idParam('name', 'getTrust_Weight | … | getCost_Constraint')], responses: { '200': { description: 'text' } } },
    },
  },
  // Bearer tokens (gateway/auth.ts); /health, /ready and this document need none.
  security: [{ bearer: [] }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from `eac token create`; roles operator, client, reader, peer' } },
    schemas: {
      Admission: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          owner: { type: 'string' },
          serviceId: { type: 'string' },
          decision: { type: 'string', enum: ['accepted', 'partial', 'rejected'] },
          status: { type: 'string', enum: ['held', 'confirmed', 'active', 'ended', 'released', 'expired'] },
          start: { type: 'string', format: 'date-time' },
          end: { type: ['string', 'null'], format: 'date-time' },
          holdExpiresAt: { type: 'string', format: 'date-time' },
          expirySeconds: { type: 'integer' },
          createdAt: { type: 'string', format: 'date-time' },
          confirmedAt: { type: 'string', format: 'date-time' },
          closedAt: { type: 'string', format: 'date-time' },
          replaces: { type: 'string' },
          generation: { type: 'integer' },
          hosts: { type: 'array', items: { type: 'object', properties: { hostId: { type: 'string' }, cpus: { type: 'number' }, memoryMb: { type: 'number' } } } },
          response: { type: 'object', description: 'the answer this admission was made with (decision, summary, components, manifest)' },
          deployment: { $ref: '#/components/schemas/Deployment' },
        },
      },
      Deployment: {
        type: 'object',
        description: 'present once an admission was confirmed with AC_DEPLOY=opennebula (docs/deployment.md)',
        properties: {
          target: { type: 'string', enum: ['opennebula'] },
          status: { type: 'string', enum: ['scheduled', 'deploying', 'deployed', 'deploy_failed', 'terminating', 'terminated'] },
          attempts: { type: 'integer' },
          error: { type: 'string', description: "OpenNebula's error of the last failed attempt (its message and error code)" },
          notBefore: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
          generation: { type: 'integer' },
          progress: { type: 'object', properties: { vms: { type: 'integer' }, deployed: { type: 'integer' }, pending: { type: 'integer' }, lost: { type: 'integer' }, removed: { type: 'integer', description: 'rolled back after a failed attempt' }, terminating: { type: 'integer', description: 'asked to shut down, not gone yet' }, terminated: { type: 'integer' } } },
          vms: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                slot: { type: 'string' },
                componentId: { type: 'string' },
                hostId: { type: 'string' },
                cpus: { type: 'number' },
                memoryMb: { type: 'number' },
                state: { type: 'string', enum: [...DEPLOYMENT_VM_STATES] },
                vmId: { type: 'integer', description: 'the OpenNebula VM id' },
                templateId: { type: 'integer' },
                error: { type: 'string' },
                terminateRequestedAt: { type: 'integer', description: 'terminating: when OpenNebula was asked to shut the VM down (epoch ms); terminated hard after AC_DEPLOY_TERMINATE_GRACE_MS' },
              },
            },
          },
        },
      },
      Event: {
        type: 'object',
        properties: {
          seq: { type: 'integer' },
          id: { type: 'string' },
          type: { type: 'string', enum: ['admission.held', 'admission.confirmed', 'admission.rescheduled', 'admission.released', 'admission.expired', 'reservation.started', 'reservation.ending', 'reservation.ended', 'capacity.changed', 'maintenance.conflict', 'host.capabilities.changed', 'charge.recorded', 'deployment.started', 'deployment.succeeded', 'deployment.failed', 'deployment.terminated', 'deployment.vm_lost'] },
          at: { type: 'string', format: 'date-time' },
          owner: { type: ['string', 'null'] },
          subject: { type: 'string' },
          data: { type: 'object' },
        },
      },
      Error: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: {
              code: { type: 'string', example: 'AC_ERR_INVALID_MANIFEST' },
              message: { type: 'string' },
              details: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, reason: { type: 'string' } } } },
            },
          },
          requestId: { type: 'string' },
        },
      },
      Policy: { type: 'object', properties: { weights, generation: { type: 'integer' }, updatedAt: { type: 'string', format: 'date-time' } } },
      Reason: {
        type: 'object',
        properties: { code: { type: 'string', example: 'HOST_TOO_SMALL' }, message: { type: 'string' }, data: { type: 'object' } },
      },
      Federation: {
        type: 'object',
        description: 'present when the service needed a peer: what was sent, to whom, what each peer answered, and the outcome',
        properties: {
          status: { type: 'string', enum: ['federated', 'failed', 'split-not-allowed', 'not-forwarded'] },
          federationId: { type: 'string' },
          hop: { type: 'integer' },
          origin: { type: 'array', items: { type: 'string' } },
          sent: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                componentId: { type: 'string' },
                reason: { type: 'string', enum: ['not-admitted-locally', 'elastic-top-up'] },
                initial: { type: 'integer' },
                upperBound: { type: 'integer' },
                modelFederatedVms: { type: 'integer' },
              },
            },
          },
          peerId: { type: ['string', 'null'] },
          protocol: { type: ['string', 'null'], enum: ['eac', 'optimis', null] },
          peerDecision: { type: ['string', 'null'] },
          peerAdmissionId: { type: ['string', 'null'] },
          placedVms: { type: 'object', additionalProperties: { type: 'integer' } },
          embeddedIds: { type: 'object', additionalProperties: { type: 'string' }, description: 'component id → its id inside the embedded ExternalDeployment copy' },
          peerManifest: { type: ['string', 'null'], description: "the peer's answer manifest, verbatim" },
          cost: {
            type: 'object',
            properties: { local: { type: 'number' }, federated: { type: 'number' }, total: { type: 'number' }, federatedSource: { type: 'string', enum: ['peer', 'price-hint', 'model-estimate'] } },
          },
          attempts: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                peerId: { type: 'string' },
                protocol: { type: 'string' },
                outcome: { type: 'string', enum: ['accepted', 'partial', 'rejected', 'error', 'skipped'] },
                seconds: { type: 'number' },
                httpStatus: { type: 'integer' },
                error: { type: 'string' },
                peerAdmissionId: { type: ['string', 'null'] },
                peerReasons: { type: 'array', items: { type: 'object' } },
                released: { type: 'boolean' },
              },
            },
          },
          reasons: { type: 'array', items: { $ref: '#/components/schemas/Reason' } },
          seconds: { type: 'number' },
        },
      },
      AdmissionAnswer: {
        type: 'object',
        properties: {
          requestId: { type: 'string' },
          dryRun: { type: 'boolean' },
          recorded: { type: 'boolean' },
          objective: { type: 'number' },
          solver: { type: 'object', properties: { name: { type: 'string' }, status: { type: 'string' }, seconds: { type: 'number' }, gap: { type: ['number', 'null'] }, bound: { type: ['number', 'null'] } } },
          degraded: { type: 'array', items: { type: 'object', properties: { source: { type: 'string' }, target: { type: 'string' }, reason: { type: 'string' } } } },
          services: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                serviceId: { type: 'string' },
                admissionId: { type: ['string', 'null'] },
                decision: { type: 'string', enum: ['accepted', 'partial', 'rejected'] },
                summary: { type: 'string' },
                localVms: { type: 'integer' },
                federatedVms: { type: 'integer' },
                availability: { type: 'object' },
                trec: { type: 'object' },
                components: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      id: { type: 'string' },
                      placements: { type: 'array', items: { type: 'object', properties: { hostId: { type: 'string' }, vms: { type: 'integer' }, basicVms: { type: 'integer' }, elasticVms: { type: 'integer' } } } },
                      federatedVms: { type: 'integer' },
                      reasons: { type: 'array', items: { $ref: '#/components/schemas/Reason' } },
                    },
                  },
                },
                manifest: {
                  type: 'string',
                  description: "the manifest with its AllocationOffer; when federated, one opt-ip:ExternalDeployment per accepting peer holding a reduced copy of the peer's manifest (docs/federation.md)",
                },
                federation: { $ref: '#/components/schemas/Federation' },
              },
            },
          },
        },
      },
    },
  },
} as const;
