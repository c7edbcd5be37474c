/**
 * Capability inputs on arbitrary values (fast-check): requirement texts, host values, the manifest's eac elements,
 * `?satisfies=`, the operator's PUT body and the JSON body's `capabilities`. Each is either accepted — and then means
 * what it says (a requirement's text form reads back to itself; matching never throws) — or refused with a 4xx naming
 * the field or element. Nothing reaches a 500.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import request from 'supertest';
import { parseRequirement, requirementText, satisfies } from '../model/capabilities';
import type { CapabilityRequirement } from '../model/types';
import { testGateway, type TestGateway } from './support/gateway';

const EXAMPLE = fs.readFileSync(path.join(__dirname, '..', 'examples', 'manifests', 'capabilities.xml'), 'utf8');
const REQUIRES = '<eac:Requires name="nodejs" range="&gt;=18 &lt;21"/>';
const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/>/g, '&gt;');

/** Texts near the grammar: names, ranges and operators mixed with noise. */
const piece = fc.oneof(fc.constantFrom('nodejs', 'gpu', 'zone', '!', '@', '>=18', '<21', '^20', '1.2.3-rc.1', 'v20', '20.x', '||', ' ', '*', 'a100', '..', '/', ':'), fc.string({ maxLength: 6 }));
const text = fc.array(piece, { maxLength: 6 }).map((p) => p.join(''));
const value = fc.oneof(fc.constant(true as const), fc.constantFrom('20.11.1', '18', 'v16.20.2', '21.0.0-rc.1', 'zone-1', ''), fc.string({ maxLength: 10 }));

describe('requirement texts', () => {
  it('either parse to a requirement whose text form reads back to itself, or are refused with an Error', () => {
    fc.assert(
      fc.property(text, value, (t, v) => {
        let r: CapabilityRequirement;
        try {
          r = parseRequirement(t);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          return;
        }
        expect(parseRequirement(requirementText(r))).toEqual(r);
        expect(typeof satisfies(v, r)).toBe('boolean');
        expect(typeof satisfies(undefined, r)).toBe('boolean');
      }),
      { numRuns: 2000, seed: 20261203 },
    );
  });
});

describe('capability inputs over HTTP never reach a 500', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await testGateway({ hosts: [{ id: 'h1', cpus: 32, usedCpus: 0, memoryMb: 65536, usedMemoryMb: 0, capabilities: { nodejs: '20.11.1' } }] });
  });
  afterAll(async () => g.close());

  it('?satisfies=: 200, or 400 naming query.satisfies[k]', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 3 }), async (texts) => {
        const res = await request(g.app).get('/api/v1/hosts').query({ satisfies: texts });
        if (res.status === 200) expect(res.body.satisfies).toHaveLength(texts.length);
        else {
          expect(res.status).toBe(400);
          expect(res.body.error.details[0].field).toMatch(/^query\.satisfies(\[\d+\])?$/);
        }
      }),
      { numRuns: 150, seed: 20261204 },
    );
  });

  it('PUT /api/v1/hosts/{id}/capabilities: 200, or 400 naming the body field', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(text, fc.oneof(value, fc.constant(null), fc.integer(), fc.constant(false)), { maxKeys: 3 }), async (body) => {
        const res = await request(g.app).put('/api/v1/hosts/h1/capabilities').send(body);
        if (res.status !== 200) {
          expect(res.status).toBe(400);
          expect(res.body.error.details[0].field).toMatch(/^body(\.|$)/);
        }
      }),
      { numRuns: 150, seed: 20261205 },
    );
  });

  it('eac:Requires with any name and range in a manifest: 200, or 422 naming the element', async () => {
    await fc.assert(
      fc.asyncProperty(text, text, async (name, range) => {
        const xml = EXAMPLE.replace(REQUIRES, `<eac:Requires name="${escape(name)}" range="${escape(range)}"/>`);
        const res = await request(g.app).post('/api/v1/admissions?dryRun=true').set('Content-Type', 'application/xml').send(xml);
        if (res.status !== 200) {
          expect(res.status).toBe(422);
          expect(res.body.error.details.map((d: { field: string }) => d.field).join(' ')).toContain('eac:Requires');
        }
      }),
      { numRuns: 100, seed: 20261206 },
    );
  });

  it("the JSON body's capabilities: 200, or 400 naming body.capabilities", async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('app', 'web', 'db', 'x'), fc.record({ requires: fc.array(text, { maxLength: 3 }), sameValue: fc.array(text, { maxLength: 2 }) }), { maxKeys: 2 }), async (caps) => {
        const res = await request(g.app).post('/api/v1/admissions?dryRun=true').send({ manifests: [EXAMPLE], capabilities: [caps] });
        if (res.status !== 200) {
          expect(res.status).toBe(400);
          expect(res.body.error.details[0].field).toMatch(/^body\.capabilities/);
        }
      }),
      { numRuns: 100, seed: 20261207 },
    );
  });
});
