/**
 * What the deployer parses, on arbitrary input (fast-check): OpenNebula's answers to every call the OpenNebula client
 * makes — random XML-RPC values, mutated pools, garbage — either give well-typed values or are refused as
 * AC_ERR_UPSTREAM naming the endpoint; never another exception, never the session string. And the methodCall encoder
 * round-trips every parameter through the reader.
 */
import fc from 'fast-check';
import { OpenNebulaCloud } from '../deploy/opennebula';
import { AdmissionError } from '../model/errors';
import { parseXml, firstChild, childElements } from '../xml/safe-xml';
import { methodCall, rpcValue } from '../xml/xml-rpc';
import { startStub, type StubServer } from './support/stubs';

const AUTH = 'oneadmin:s3cret-pass';
let stub: StubServer;
let body = '';
beforeAll(async () => {
  stub = await startStub((_req, res) => res.type('text/xml').send(body));
});
afterAll(() => stub.close());

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const ok = (value: string): string => `<?xml version="1.0"?><methodResponse><params><param><value><array><data><value><boolean>1</boolean></value>${value}<value><i4>0</i4></value></data></array></value></param></params></methodResponse>`;

const vm = fc.record({
  id: fc.oneof(fc.nat(100000).map(String), fc.constantFrom('', '-1', 'x', '1e3')),
  state: fc.oneof(fc.nat(12).map(String), fc.constantFrom('', 'ACTIVE')),
  lcm: fc.oneof(fc.nat(70).map(String), fc.constant('')),
  tag: fc.option(fc.string({ maxLength: 20 })),
  host: fc.option(fc.string({ maxLength: 10 })),
});
const pool = fc.array(vm, { maxLength: 5 }).map(
  (vms) =>
    `<VM_POOL>${vms
      .map(
        (v) =>
          `<VM><ID>${escape(v.id)}</ID><NAME>n</NAME><STATE>${v.state}</STATE><LCM_STATE>${v.lcm}</LCM_STATE>` +
          `<USER_TEMPLATE>${v.tag !== null ? `<EAC_SLOT>${escape(v.tag)}</EAC_SLOT>` : ''}</USER_TEMPLATE>` +
          `<HISTORY_RECORDS>${v.host !== null ? `<HISTORY><HOSTNAME>${escape(v.host)}</HOSTNAME></HISTORY>` : ''}</HISTORY_RECORDS></VM>`,
      )
      .join('')}</VM_POOL>`,
);
const answers = fc.oneof(
  pool.map((p) => ok(`<value><string>${escape(p)}</string></value>`)),
  fc.string({ maxLength: 200 }).map((s) => ok(`<value><string>${escape(s)}</string></value>`)),
  fc.oneof(fc.integer(), fc.string({ maxLength: 5 })).map((v) => ok(`<value><i4>${escape(String(v))}</i4></value>`)),
  fc.tuple(fc.string({ maxLength: 40 }), fc.integer()).map(([m, c]) => `<methodResponse><params><param><value><array><data><value><boolean>0</boolean></value><value><string>${escape(m)}</string></value><value><i4>${c}</i4></value></data></array></value></param></params></methodResponse>`),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '<html>502</html>', '<methodResponse/>', '<methodResponse><fault><value><struct/></value></fault></methodResponse>', `<methodResponse><params><param><value><string>${AUTH}</string></value></param></params></methodResponse>`),
);

describe('the OpenNebula client never crashes on what it reads', () => {
  const cloud = (): OpenNebulaCloud => new OpenNebulaCloud({ url: `${stub.url}/RPC2`, auth: AUTH, timeoutMs: 2000 });
  const calls: ((c: OpenNebulaCloud) => Promise<unknown>)[] = [
    (c) => c.vms(),
    (c) => c.templates(),
    (c) => c.hostIds(),
    (c) => c.create({ templateId: 1, name: 'x', cpus: 1, tags: { EAC_SLOT: 'a/b' } }),
    (c) => c.deploy(1, 2),
    (c) => c.terminate(1, 'graceful'),
    (c) => c.terminate(1, 'hard'),
  ];

  test.each(calls.map((f, i) => [i, f] as const))('call %i', async (_i, call) => {
    await fc.assert(
      fc.asyncProperty(answers, async (answer) => {
        body = answer;
        try {
          const v = await call(cloud());
          if (Array.isArray(v)) for (const x of v) expect(typeof x).toBe('object');
        } catch (error) {
          if (!(error instanceof AdmissionError)) throw error;
          expect(error.code).toBe('AC_ERR_UPSTREAM');
          expect(error.message).toMatch(/^OpenNebula http:\/\/127\.0\.0\.1:\d+\/RPC2/);
          expect(JSON.stringify(error.toJSON())).not.toContain('s3cret-pass');
        }
      }),
      { numRuns: 60 },
    );
  });

  test('the VMs read are well-typed: integer ids, no DONE VM, unplaced exactly in PENDING / HOLD', async () => {
    await fc.assert(
      fc.asyncProperty(pool, async (p) => {
        body = ok(`<value><string>${escape(p)}</string></value>`);
        const read = await cloud().vms();
        // Exactly the VMs whose ID and STATE are digits and which are not DONE.
        const pvms = [...p.matchAll(/<VM><ID>([^<]*)<\/ID><NAME>n<\/NAME><STATE>([^<]*)<\/STATE>/g)].filter((m) => /^\d+$/.test(m[1]!) && /^\d+$/.test(m[2]!) && m[2] !== '6');
        expect(read.map((v) => v.id)).toEqual(pvms.map((m) => Number(m[1])));
        for (const v of read) {
          expect(Number.isInteger(v.id)).toBe(true);
          expect(v.state).not.toBe('DONE');
          expect(v.unplaced).toBe(v.state === 'PENDING' || v.state === 'HOLD');
          if (v.unplaced) expect(v.hostName).toBeUndefined();
        }
      }),
      { numRuns: 100 },
    );
  });
});

test('methodCall round-trips strings, integers and booleans through the reader', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string(), fc.integer({ min: -2147483648, max: 2147483647 }), fc.boolean()), { maxLength: 6 }), (params) => {
      let xml: string;
      try {
        xml = methodCall('one.vm.info', params);
      } catch (e) {
        // Strings XML cannot carry are refused, never sent broken.
        expect(e).toBeInstanceOf(RangeError);
        return;
      }
      const root = parseXml(xml).root;
      const back = childElements(firstChild(root, '', 'params')!, '', 'param').map((p) => rpcValue(firstChild(p, '', 'value')!));
      expect(back).toEqual(params);
    }),
    { numRuns: 300 },
  );
});
