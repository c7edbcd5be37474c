/**
 * Fuzzing the HTTP layer: seeded mutations of the sample manifests (characters, markup, bytes, encodings, content
 * codings) sent to every route that reads a manifest, judged by an independent oracle, libxml2 (xmllint-wasm).
 * Reproduce a run with FUZZ_SEED=<printed seed>; FUZZ_RUNS widens it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import request from 'supertest';
import { ERROR_CATALOGUE } from '../model/errors';
import { parseXml } from '../xml/safe-xml';
import { libxml2WellFormed, wtf8, type Libxml2Verdict } from './support/libxml2';
import { fleet, MANIFESTS, testGateway, type TestGateway } from './support/gateway';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20_240_611;
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 3000;

const BASES = fs
  .readdirSync(MANIFESTS, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.xml'))
  .sort()
  .map((f) => ({ name: f, text: fs.readFileSync(path.join(MANIFESTS, f), 'utf8') }));

// ---------------------------------------------------------------------------------------------
// What a case is

const TOKENS = [
  '\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001b', '\u001f', '\u007f', '\u0085', '\u2028',
  '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-8"?>', '<?XML x?>', '--', '<!-- a -- b -->', '<!-- x --->', '<!-->-->',
  '\ufeff', '\ufeff\ufeff', '<', '>', '&', ']]>', '</x>', '<x>', '<x/>', '</', '/>', '&#0;', '&#xD800;', '&#xFFFE;', '&#65;', '&#x1F600;', '&amp;',
  '&nbsp;', '&lt', '<![CDATA[ <x> ]]>', '<![CDATA[', '<!DOCTYPE x>', '<!ENTITY e "e">', '"', "'", '=', ' a="1"', ' a="1" a="2"', ' a=1',
  ' xmlns:p="u r n"', ' xmlns:q=""', ' xmlns="http://www.w3.org/XML/1998/namespace"', 'p:x', ':', '\ud800', '\udc00', '\uffff', '\ufffe',
  '\ud83d\ude00', '\u00e9', '\r\n', '\r', '\t', ' ', '?>', '<?pi x?>', '<?p:i?>',
];

/** Legal in content: a fuzz that only breaks documents never shows that we accept what libxml2 accepts. */
const TEXT_TOKENS = ['&#65;', '&#x10FFFF;', '&lt;&gt;&amp;&quot;&apos;', '<!-- ok -->', '<!---->', '<?pi data?>', '<?xml-stylesheet x?>', '<![CDATA[ <&> ]]>', ']]', '>', '\u0085\u2028', '\ud83d\ude00', ' \t\r\n', '<x/>', '<x a="1" b=\'2\'/>', '<p:x xmlns:p="urn:p"/>', '<x xmlns=""></x >'];

/** A place in the document, as a fraction of its length: unbiased, or fast-check's taste for edge values puts most edits at 0. */
const position = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000);

type Mutation =
  | { op: 'insert'; at: number; token: string }
  | { op: 'insertInText'; at: number; token: string }
  | { op: 'control'; at: number; code: number }
  | { op: 'delete'; at: number; length: number }
  | { op: 'duplicate'; at: number; length: number }
  | { op: 'truncate'; at: number }
  | { op: 'hugeAttribute'; tag: number; length: number }
  | { op: 'deep'; tag: number; levels: number }
  | { op: 'dropEndTag'; tag: number }
  | { op: 'renameEndTag'; tag: number }
  | { op: 'swapQuote'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('insert' as const), at: position, token: fc.constantFrom(...TOKENS) }) },
  // Right after a '>': in content, where half the tokens are legal and the other half are exactly what must be refused there.
  { weight: 6, arbitrary: fc.record({ op: fc.constant('insertInText' as const), at: position, token: fc.constantFrom(...TOKENS, ...TEXT_TOKENS) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('control' as const), at: position, code: fc.integer({ min: 0, max: 31 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: position, length: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: position }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hugeAttribute' as const), tag: position, length: fc.constantFrom(1000, 70_000, 400_000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deep' as const), tag: position, levels: fc.constantFrom(20, 240, 256, 257, 300) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dropEndTag' as const), tag: position }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('renameEndTag' as const), tag: position }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swapQuote' as const), at: position }) },
);

const INVALID_UTF8 = [[0xc3, 0x28], [0xff], [0xfe], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xef, 0xbb, 0xbf], [0x00]];

type ByteMutation = { op: 'flip'; at: number; bit: number } | { op: 'insertBytes'; at: number; bytes: number[] } | { op: 'truncateBytes'; at: number };

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insertBytes' as const), at: position, bytes: fc.constantFrom(...INVALID_UTF8) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncateBytes' as const), at: position }) },
);

const ENCODINGS = ['UTF-8', 'UTF-8 BOM', 'UTF-8 double BOM', 'UTF-16LE', 'UTF-16BE', 'UTF-16LE no BOM', 'ISO-8859-1', 'US-ASCII', 'UTF-32LE'] as const;
type Encoding = (typeof ENCODINGS)[number];
const ROUTES = ['admissions', 'admissions-json', 'performACTest', 'performOneManifestACTest'] as const;
type Route = (typeof ROUTES)[number];
const CODINGS = ['', 'gzip', 'deflate', 'x-gzip', 'gzip, gzip', 'identity', 'br', 'zstd', 'gzip (a lie)', 'gzip (truncated)'] as const;

interface Case {
  readonly base: number;
  readonly encoding: Encoding;
  readonly mutations: readonly Mutation[];
  readonly byteMutations: readonly ByteMutation[];
  readonly route: Route;
  readonly mediaType: number;
  readonly charset: 'none' | 'truthful' | 'utf-8' | 'utf-16' | 'iso-8859-1' | 'us-ascii' | 'utf-32' | 'windows-1252';
  readonly coding: (typeof CODINGS)[number];
}

const arbitraryCase: fc.Arbitrary<Case> = fc.record({
  base: fc.integer({ min: 0, max: BASES.length - 1 }),
  encoding: fc.oneof({ weight: 8, arbitrary: fc.constant('UTF-8' as Encoding) }, { weight: 8, arbitrary: fc.constantFrom(...ENCODINGS) }),
  mutations: fc.oneof(
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 6, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 1 }) },
    { weight: 6, arbitrary: fc.array(mutation, { minLength: 2, maxLength: 4 }) },
  ),
  byteMutations: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(byteMutation, { minLength: 1, maxLength: 3 }) }),
  route: fc.oneof({ weight: 4, arbitrary: fc.constant('admissions' as Route) }, { weight: 4, arbitrary: fc.constantFrom(...ROUTES) }),
  mediaType: fc.integer({ min: 0, max: 2 }),
  charset: fc.oneof(
    { weight: 6, arbitrary: fc.constant('none' as const) },
    { weight: 2, arbitrary: fc.constant('truthful' as const) },
    { weight: 1, arbitrary: fc.constantFrom('utf-8', 'utf-16', 'iso-8859-1', 'us-ascii', 'utf-32', 'windows-1252') },
  ),
  coding: fc.oneof({ weight: 10, arbitrary: fc.constant('' as const) }, { weight: 4, arbitrary: fc.constantFrom(...CODINGS) }),
});

// ---------------------------------------------------------------------------------------------
// From a case to bytes on the wire

const index = (at: number, length: number): number => Math.min(length, Math.floor(at * (length + 1)));

function nth(matches: RegExpMatchArray[], at: number): RegExpMatchArray | undefined {
  return matches.length === 0 ? undefined : matches[Math.min(matches.length - 1, Math.floor(at * matches.length))];
}

function mutate(text: string, m: Mutation): string {
  const i = (at: number): number => index(at, text.length);
  switch (m.op) {
    case 'insert':
      return text.slice(0, i(m.at)) + m.token + text.slice(i(m.at));
    case 'insertInText': {
      const gt = nth([...text.matchAll(/>/g)], m.at);
      if (!gt) return text;
      const after = gt.index! + 1;
      return text.slice(0, after) + m.token + text.slice(after);
    }
    case 'control':
      return text.slice(0, i(m.at)) + String.fromCharCode(m.code) + text.slice(i(m.at));
    case 'delete':
      return text.slice(0, i(m.at)) + text.slice(i(m.at) + m.length);
    case 'duplicate':
      return text.slice(0, i(m.at) + m.length) + text.slice(i(m.at), i(m.at) + m.length) + text.slice(i(m.at) + m.length);
    case 'truncate':
      return text.slice(0, i(m.at));
    case 'hugeAttribute': {
      const tag = nth([...text.matchAll(/<[A-Za-z][^\s/>]*/g)], m.tag);
      if (!tag) return text;
      const after = tag.index! + tag[0].length;
      return `${text.slice(0, after)} huge="${'x'.repeat(m.length)}"${text.slice(after)}`;
    }
    case 'deep': {
      const tag = nth([...text.matchAll(/<[A-Za-z][^>]*[^/]>/g)], m.tag);
      if (!tag) return text;
      const after = tag.index! + tag[0].length;
      return text.slice(0, after) + '<d>'.repeat(m.levels) + '</d>'.repeat(m.levels) + text.slice(after);
    }
    case 'dropEndTag': {
      const tag = nth([...text.matchAll(/<\/[^>]*>/g)], m.tag);
      return tag ? text.slice(0, tag.index!) + text.slice(tag.index! + tag[0].length) : text;
    }
    case 'renameEndTag': {
      const tag = nth([...text.matchAll(/<\/[^>]*>/g)], m.tag);
      return tag ? `${text.slice(0, tag.index! + 2)}Z${text.slice(tag.index! + 3)}` : text;
    }
    case 'swapQuote': {
      const q = text.indexOf('"', i(m.at));
      return q < 0 ? text : `${text.slice(0, q)}'${text.slice(q + 1)}`;
    }
  }
}

const DECLARATION = /^<\?xml[^?]*\?>/;

/** The encodings that need a declaration get one (or have theirs changed), before any mutation can break it. */
function declare(text: string, encoding: Encoding): string {
  const name = encoding === 'ISO-8859-1' ? 'ISO-8859-1' : encoding === 'US-ASCII' ? 'US-ASCII' : encoding === 'UTF-16LE no BOM' ? 'UTF-16' : undefined;
  if (!name) return text;
  const m = DECLARATION.exec(text);
  if (!m) return `<?xml version="1.0" encoding="${name}"?>\n${text}`;
  return `<?xml version="1.0" encoding="${name}"?>${text.slice(m[0].length)}`;
}

function encode(text: string, encoding: Encoding): Buffer {
  const units = (s: string): Buffer => Buffer.from(s, 'utf16le');
  switch (encoding) {
    case 'UTF-8':
      return wtf8(text);
    case 'UTF-8 BOM':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), wtf8(text)]);
    case 'UTF-8 double BOM':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), wtf8(text)]);
    case 'UTF-16LE':
      return Buffer.concat([Buffer.from([0xff, 0xfe]), units(text)]);
    case 'UTF-16BE':
      return Buffer.concat([Buffer.from([0xfe, 0xff]), units(text).swap16()]);
    case 'UTF-16LE no BOM':
      return units(text);
    case 'ISO-8859-1':
    case 'US-ASCII':
      // Characters Latin-1 cannot hold become '?'; in US-ASCII the bytes over 0x7F stay, to be refused.
      return Buffer.from(text.replace(/[^\u0000-\u00ff]/g, '?'), 'latin1');
    case 'UTF-32LE': {
      const cps = [...text].map((c) => c.codePointAt(0)!);
      const out = Buffer.alloc(4 + cps.length * 4);
      out.writeUInt32LE(0xfeff, 0);
      cps.forEach((c, k) => out.writeUInt32LE(c, 4 + 4 * k));
      return out;
    }
  }
}

function mutateBytes(bytes: Buffer, m: ByteMutation): Buffer {
  const i = index(m.at, bytes.length);
  switch (m.op) {
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const out = Buffer.from(bytes);
      const k = Math.min(i, out.length - 1);
      out[k] = out[k]! ^ (1 << m.bit);
      return out;
    }
    case 'insertBytes':
      return Buffer.concat([bytes.subarray(0, i), Buffer.from(m.bytes), bytes.subarray(i)]);
    case 'truncateBytes':
      return bytes.subarray(0, i);
  }
}

const TRUE_CHARSET: Record<Encoding, string> = {
  'UTF-8': 'utf-8',
  'UTF-8 BOM': 'utf-8',
  'UTF-8 double BOM': 'utf-8',
  'UTF-16LE': 'utf-16',
  'UTF-16BE': 'utf-16',
  'UTF-16LE no BOM': 'utf-16le',
  'ISO-8859-1': 'iso-8859-1',
  'US-ASCII': 'us-ascii',
  'UTF-32LE': 'utf-32',
};

interface Built {
  /** The document as the server should read it: what the oracle judges. */
  readonly document: Buffer;
  /** Whether the oracle's verdict is the one the server must follow (see `judged`). */
  readonly judged: boolean;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly label: string;
}

function build(c: Case): Built {
  // A manifest in JSON or in a form is a string: its bytes are UTF-8 whatever it declares.
  const stringRoute = c.route === 'admissions-json' || c.route === 'performACTest';
  const encoding: Encoding = stringRoute && !c.encoding.startsWith('UTF-8') ? 'UTF-8' : c.encoding;
  let text = declare(BASES[c.base]!.text, encoding);
  for (const m of c.mutations) text = mutate(text, m);
  let document = encode(text, encoding);
  for (const m of c.byteMutations) document = mutateBytes(document, m);

  const headers: Record<string, string> = {};
  let body: Buffer;
  let path: string;
  // The oracle reads bytes as a file: by BOM and declaration. Only where the server must do the same is its verdict binding.
  let judged: boolean;
  if (c.route === 'admissions-json') {
    path = '/api/v1/admissions?dryRun=true';
    headers['Content-Type'] = 'application/json';
    body =
      c.byteMutations.length === 0 && encoding === 'UTF-8' ? Buffer.from(JSON.stringify({ manifests: [text] })) : Buffer.concat([Buffer.from('{"manifests":["'), jsonStringBytes(document), Buffer.from('"]}')]);
    judged = !declaresOtherThanUtf8(document);
  } else if (c.route === 'performACTest') {
    path = '/ACGateway/model/performACTest?dryRun=true';
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = Buffer.from(`use_Heuristic&serviceManifest=${percentEncode(document)}`);
    judged = !declaresOtherThanUtf8(document);
  } else {
    const types = c.route === 'admissions' ? ['application/xml', 'text/xml', 'application/vnd.optimis+xml'] : ['text/plain', 'application/xml', 'application/octet-stream'];
    path = c.route === 'admissions' ? '/api/v1/admissions?dryRun=true' : '/ACGateway/model/performOneManifestACTest?dryRun=true';
    const charset = c.charset === 'none' ? undefined : c.charset === 'truthful' ? TRUE_CHARSET[encoding] : c.charset;
    headers['Content-Type'] = types[c.mediaType]! + (charset ? `; charset=${charset}` : '');
    body = document;
    // A charset overrides the declaration (RFC 7303), which libxml2 reading a file cannot know about.
    judged = charset === undefined && !document.subarray(0, 16).equals(Buffer.from('serviceManifest=').subarray(0, Math.min(16, document.length)));
  }

  switch (c.coding) {
    case '':
      break;
    case 'gzip':
    case 'x-gzip':
      body = zlib.gzipSync(body);
      headers['Content-Encoding'] = c.coding;
      break;
    case 'deflate':
      body = zlib.deflateSync(body);
      headers['Content-Encoding'] = 'deflate';
      break;
    case 'gzip, gzip':
      body = zlib.gzipSync(zlib.gzipSync(body));
      headers['Content-Encoding'] = 'gzip, gzip';
      break;
    case 'gzip (a lie)':
      headers['Content-Encoding'] = 'gzip';
      judged = false;
      break;
    case 'gzip (truncated)':
      body = zlib.gzipSync(body);
      body = body.subarray(0, Math.max(0, body.length - 9));
      headers['Content-Encoding'] = 'gzip';
      judged = false;
      break;
    default:
      headers['Content-Encoding'] = c.coding;
  }
  const label = `${BASES[c.base]!.name} ${encoding} → ${c.route} [${headers['Content-Type']}${headers['Content-Encoding'] ? `, ${headers['Content-Encoding']}` : ''}]`;
  return { document, judged, path, headers, body, label };
}

function declaresOtherThanUtf8(document: Buffer): boolean {
  const head = document.subarray(document[0] === 0xef ? 3 : 0, 200).toString('latin1');
  const m = /^<\?xml[^>]*encoding\s*=\s*["']([^"']*)["']/.exec(head);
  return m !== null && !/^utf-?8$/i.test(m[1]!);
}

/** The bytes inside a JSON string literal: quotes, backslashes and control characters escaped, anything else (invalid UTF-8 too) as is. */
function jsonStringBytes(bytes: Buffer): Buffer {
  const out: number[] = [];
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) out.push(0x5c, b);
    else if (b < 0x20) out.push(...Buffer.from(`\\u${b.toString(16).padStart(4, '0')}`));
    else out.push(b);
  }
  return Buffer.from(out);
}

function percentEncode(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) s += /[A-Za-z0-9*\-._]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return s;
}

const keyOf = (document: Buffer): string => crypto.createHash('sha1').update(document).digest('hex');

// ---------------------------------------------------------------------------------------------

/** Refusals of documents libxml2 calls well-formed that are ours by design (xml/decode.ts): libxml2 only warns about them. */
const STRICTER_BY_DESIGN = /byte order mark says|the bytes read as|names no encoding/;

let gw: TestGateway;
let server: http.Server;
beforeAll(async () => {
  gw = await testGateway({ hosts: fleet(8, 16) });
  server = http.createServer(gw.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await gw.close();
});

it(`survives ${RUNS} mutated manifests over HTTP: no 5xx, no 2xx for what libxml2 calls malformed, every 4xx says where`, async () => {
  const started = Date.now();
  // The oracle judges all documents of the run in a few xmllint runs: fc.sample draws exactly what fc.assert will.
  const planned = fc.sample(arbitraryCase, { seed: SEED, numRuns: RUNS }).map(build);
  const verdicts = new Map<string, Libxml2Verdict>();
  const judgedDocs = planned.filter((b) => b.judged);
  (await libxml2WellFormed(judgedDocs.map((b) => b.document))).forEach((v, k) => verdicts.set(keyOf(judgedDocs[k]!.document), v));
  const oracleSeconds = (Date.now() - started) / 1000;

  const statuses = new Map<string, number>();
  const outputs: string[] = [];
  let malformedByOracle = 0;
  await fc.assert(
    fc.asyncProperty(arbitraryCase, async (c) => {
      const b = build(c);
      let verdict: Libxml2Verdict | undefined;
      if (b.judged) {
        const key = keyOf(b.document);
        verdict = verdicts.get(key) ?? (await libxml2WellFormed([b.document]))[0]!;
        verdicts.set(key, verdict);
      }
      let r = request(server).post(b.path);
      for (const [k, v] of Object.entries(b.headers)) r = r.set(k, v);
      const res = await r.serialize(((x: Buffer) => x) as unknown as (obj: unknown) => string).send(b.body);
      const code: string | undefined = res.body?.error?.code;
      const tally = `${res.status}${code ? ` ${code}` : ''}`;
      statuses.set(tally, (statuses.get(tally) ?? 0) + 1);
      if (verdict && !verdict.wellFormed) malformedByOracle++;
      const what = `${b.label}: ${res.status} ${code ?? ''} ${res.body?.error?.message ?? ''}`.slice(0, 600);

      if (res.status >= 500) throw new Error(`5xx for ${what}`);
      if (res.status >= 400) {
        if (!code || !(code in ERROR_CATALOGUE)) throw new Error(`4xx without a catalogue code for ${what}`);
        const details = res.body.error.details as { field?: unknown; reason?: unknown }[];
        if (!Array.isArray(details) || details.length === 0 || details.some((d) => typeof d.field !== 'string' || d.field === '' || typeof d.reason !== 'string')) {
          throw new Error(`4xx without a field or line in details for ${what}: ${JSON.stringify(res.body.error.details)}`);
        }
        if (verdict?.wellFormed && code === 'AC_ERR_MALFORMED_XML' && !STRICTER_BY_DESIGN.test(res.body.error.message)) {
          throw new Error(`malformed for us, well-formed for libxml2: ${what}`);
        }
      } else {
        if (verdict && !verdict.wellFormed) throw new Error(`${res.status} for a document libxml2 refuses (${verdict.error}): ${what}`);
        // What we write back must be well-formed too: parsed here, judged by libxml2 below.
        const written: string[] =
          b.path.startsWith('/api/') ? res.body.services.map((s: { manifest: string }) => s.manifest) : b.path.includes('performACTest') ? new URLSearchParams(res.text).getAll('serviceManifest') : [res.text];
        for (const m of written) parseXml(m);
        outputs.push(...written);
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );

  const written = await libxml2WellFormed(outputs);
  expect(written.filter((v) => !v.wellFormed)).toEqual([]);
  const seconds = (Date.now() - started) / 1000;
  const summary = [...statuses].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${n} × ${s}`).join(', ');
  console.log(
    `fuzz-http: seed ${SEED}, ${RUNS} runs in ${seconds.toFixed(1)} s (oracle ${oracleSeconds.toFixed(1)} s; FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} to reproduce)\n` +
      `  libxml2 judged ${judgedDocs.length} documents, ${malformedByOracle} malformed; ${outputs.length} answers written back, all well-formed\n  ${summary}`,
  );
  // The run must reach both sides: a fuzz that only ever sends garbage proves little.
  expect(outputs.length).toBeGreaterThan(RUNS / 50);
  expect(malformedByOracle).toBeGreaterThan(RUNS / 4);
}, 600_000);
