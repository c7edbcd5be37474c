/**
 * XSD validation of manifests against the OPTIMIS 1.0.8 schemas in test/fixtures/schema/, with libxml2 compiled to
 * WebAssembly (xmllint-wasm): nothing to install beyond `npm ci`. wrapper.xsd and every schema it imports or
 * includes are read once (per test file) and handed to libxml2's in-memory file system under the names the imports
 * use; libxml2 never touches the disk or the network.
 *
 * Each call starts one WebAssembly worker (~0.2 s); pass several documents to one call to validate them together.
 * Validation that cannot run (a schema missing or failing to compile, the worker failing, a document libxml2 gave no
 * verdict on) throws: these checks are never skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { validateXML, type XMLFileInfo } from 'xmllint-wasm';

const SCHEMA_DIR = path.join(__dirname, '..', 'fixtures', 'schema');
const MAIN_SCHEMA = 'wrapper.xsd';
/** 128 MiB of WebAssembly memory (the default 32 MiB is tight for a batch of large manifests). */
const MAX_MEMORY_PAGES = 2048;

export interface XsdResult {
  valid: boolean;
  /** libxml2's messages about this document: one line per error, then "<name> validates" or "<name> fails to validate". */
  output: string;
}

interface Schemas {
  main: XMLFileInfo;
  preload: XMLFileInfo[];
}

let schemas: Schemas | undefined;

/** The schema locations of the xs:import / xs:include / xs:redefine elements of an XSD (whatever its prefix). */
function schemaLocations(text: string): string[] {
  const withoutComments = text.replace(/<!--[\s\S]*?-->/g, '');
  const locations: string[] = [];
  for (const element of withoutComments.matchAll(/<(?:[\w.-]+:)?(?:import|include|redefine)\b[^>]*>/g)) {
    const location = /\sschemaLocation\s*=\s*(["'])(.*?)\1/.exec(element[0]);
    if (location) locations.push(location[2]!);
  }
  return locations;
}

/** wrapper.xsd and, transitively, every schema it imports or includes; file names relative to the schema directory. */
function loadSchemas(): Schemas {
  if (schemas) return schemas;
  const files = new Map<string, string>();
  const pending = [MAIN_SCHEMA];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (files.has(name)) continue;
    const file = path.join(SCHEMA_DIR, name);
    if (!fs.existsSync(file)) throw new Error(`XSD validation cannot run: the schema ${name} (imported by the OPTIMIS XSDs) is missing from ${SCHEMA_DIR}`);
    const text = fs.readFileSync(file, 'utf8');
    files.set(name, text);
    for (const location of schemaLocations(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(location) || path.posix.isAbsolute(location)) {
        throw new Error(`XSD validation cannot run: ${name} imports ${location}, which is not a relative path in ${SCHEMA_DIR}`);
      }
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), location));
      if (resolved.startsWith('../')) throw new Error(`XSD validation cannot run: ${name} imports ${location}, outside ${SCHEMA_DIR}`);
      pending.push(resolved);
    }
  }
  const preload = [...files].filter(([name]) => name !== MAIN_SCHEMA).map(([fileName, contents]) => ({ fileName, contents }));
  schemas = { main: { fileName: MAIN_SCHEMA, contents: files.get(MAIN_SCHEMA)! }, preload };
  return schemas;
}

/**
 * Validates documents against wrapper.xsd in one libxml2 run and gives each its verdict and libxml2's messages about
 * it. A document that is not well-formed is invalid (its parser errors are the output). Throws when validation
 * cannot run.
 */
export async function xsdAll(xmls: readonly string[]): Promise<XsdResult[]> {
  if (xmls.length === 0) return [];
  const { main, preload } = loadSchemas();
  const names = xmls.map((_, i) => `document-${i + 1}.xml`);
  let rawOutput: string;
  try {
    ({ rawOutput } = await validateXML({
      xml: xmls.map((contents, i) => ({ fileName: names[i]!, contents })),
      schema: main,
      preload,
      maxMemoryPages: MAX_MEMORY_PAGES,
    }));
  } catch (error) {
    throw new Error(`XSD validation could not run (xmllint-wasm, libxml2 in WebAssembly): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }

  // libxml2 handles the documents in order: the schema's messages first, then each document's lines, which start with
  // its name (parser errors add context lines after theirs).
  const sections: string[][] = names.map(() => []);
  const schemaLines: string[] = [];
  let current = -1;
  for (const line of rawOutput.split('\n')) {
    const owner = names.findIndex((name) => line.startsWith(`${name}:`) || line.startsWith(`${name} `));
    if (owner >= 0) current = owner;
    if (line === '' && current < 0) continue;
    (current < 0 ? schemaLines : sections[current]!).push(line);
  }
  const schemaErrors = schemaLines.filter((line) => !/Schemas parser warning/.test(line));
  if (schemaErrors.length > 0) throw new Error(`XSD validation could not run: libxml2 reported on the OPTIMIS XSDs:\n${schemaErrors.join('\n')}`);

  return sections.map((lines, i) => {
    const name = names[i]!;
    const output = lines.join('\n').trimEnd();
    const validates = lines.includes(`${name} validates`);
    const failed = lines.some((line) => line.trim() !== '' && line !== `${name} validates`);
    if (!validates && !failed) throw new Error(`XSD validation did not run on ${name}: libxml2 printed no verdict for it. Its whole output:\n${rawOutput}`);
    return { valid: validates && !failed, output };
  });
}

/** Validates one document against wrapper.xsd (see xsdAll). */
export async function xsd(xml: string): Promise<XsdResult> {
  return (await xsdAll([xml]))[0]!;
}

/** Throws, with libxml2's errors, unless every document validates against the OPTIMIS XSDs. One libxml2 run for all. */
export async function expectXsdValid(...xmls: string[]): Promise<void> {
  if (xmls.length === 0) throw new Error('expectXsdValid: no document to validate');
  const results = await xsdAll(xmls);
  const failures = results.flatMap((r, i) => (r.valid ? [] : [`${xmls.length > 1 ? `document ${i + 1} of ${xmls.length}` : 'the document'} does not validate against the OPTIMIS XSDs:\n${r.output}`]));
  if (failures.length > 0) throw new Error(failures.join('\n\n'));
}
