/**
 * libxml2 (through xmllint-wasm) as an independent judge of well-formedness, for documents given as bytes or strings.
 * Many documents go through one xmllint run (one worker and one WebAssembly instance per run is most of the cost).
 */
import { validateXML } from 'xmllint-wasm';

export interface Libxml2Verdict {
  readonly wellFormed: boolean;
  /** libxml2's first error line, when it found the document not well-formed. */
  readonly error?: string;
}

const BATCH_DOCUMENTS = 400;
const BATCH_BYTES = 16 * 1024 * 1024;

/** One verdict per document, in order. Warnings (e.g. a BOM contradicting the declaration) do not count as errors. */
export async function libxml2WellFormed(documents: readonly (string | Uint8Array)[]): Promise<Libxml2Verdict[]> {
  const verdicts: Libxml2Verdict[] = [];
  let batch: Uint8Array[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (batch.length > 0) verdicts.push(...(await run(batch)));
    batch = [];
    bytes = 0;
  };
  for (const d of documents) {
    const b = typeof d === 'string' ? wtf8(d) : d;
    if (batch.length >= BATCH_DOCUMENTS || (bytes + b.length > BATCH_BYTES && batch.length > 0)) await flush();
    batch.push(b);
    bytes += b.length;
  }
  await flush();
  return verdicts;
}

async function run(batch: readonly Uint8Array[]): Promise<Libxml2Verdict[]> {
  const files = batch.map((contents, i) => ({ fileName: `doc${i}.xml`, contents }));
  let output: string;
  try {
    const total = batch.reduce((t, b) => t + b.length, 0);
    // Room for the documents and libxml2's trees of them: 64 KiB pages.
    const pages = Math.min(65536, 512 + Math.ceil((total * 24) / 65536));
    // Neither a schema nor a normalisation: plain `xmllint --noout`, which its typings do not foresee.
    const options = { xml: files, maxMemoryPages: pages, initialMemoryPages: Math.min(pages, 1024) } as unknown as Parameters<typeof validateXML>[0];
    output = (await validateXML(options)).rawOutput;
  } catch (error) {
    const e = error as { code?: unknown; message?: string };
    // xmllint's exit code 1 is "some document has a parse error"; anything else is the tool failing, which must not pass as a verdict.
    if (e.code !== 1 || typeof e.message !== 'string') {
      if (batch.length === 1) throw error;
      const half = Math.ceil(batch.length / 2);
      return [...(await run(batch.slice(0, half))), ...(await run(batch.slice(half)))];
    }
    output = e.message;
  }
  const errors = new Map<number, string>();
  for (const line of output.split('\n')) {
    // [\s\S], not '.': libxml2 quotes the document, and U+2028 or U+0085 in it must not hide the error.
    const m = /^doc(\d+)\.xml:\d+: ([^:]*error\b[\s\S]*)$/.exec(line);
    if (m && !errors.has(Number(m[1]))) errors.set(Number(m[1]), m[2]!);
  }
  return batch.map((_, i) => (errors.has(i) ? { wellFormed: false, error: errors.get(i)! } : { wellFormed: true }));
}

/**
 * UTF-8 of a string, lone surrogates included (as the three bytes UTF-8 forbids): Buffer.from would silently make them
 * U+FFFD, and libxml2 would judge a document other than the one we parsed.
 */
export function wtf8(s: string): Buffer {
  if (!/[\uD800-\uDFFF]/.test(s)) return Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.codePointAt(i)!;
    if (c > 0xffff) i++;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Buffer.from(out);
}
