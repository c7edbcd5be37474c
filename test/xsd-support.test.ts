/**
 * The XSD check the other tests rely on (test/support/xsd.ts, libxml2 in WebAssembly): a valid manifest passes,
 * broken ones fail with libxml2's schema error in the message, several documents in one call get their own verdicts,
 * and validation that cannot run fails loudly instead of passing.
 */
import fs from 'node:fs';
import path from 'node:path';
import xmllint from 'xmllint-wasm';
import { expectXsdValid, xsd, xsdAll } from './support/xsd';

const VALID = fs.readFileSync(path.join(__dirname, 'fixtures', 'manifests', 'examples', 'minimal-input.xml'), 'utf8');

/** VALID with `from` replaced by `to` (once, and it must be there). */
function edit(from: string, to: string): string {
  expect(VALID).toContain(from);
  return VALID.replace(from, to);
}

// An element the OPTIMIS namespace does not declare, where the schema expects AntiAffinityConstraints.
const UNKNOWN_ELEMENT = edit(
  '<opt:AffinityConstraints>Low</opt:AffinityConstraints>\n      <opt:AntiAffinityConstraints>',
  '<opt:AffinityConstraints>Low</opt:AffinityConstraints>\n      <opt:Colour>blue</opt:Colour>\n      <opt:AntiAffinityConstraints>',
);
// AllocationConstraints without its required Initial.
const MISSING_ELEMENT = edit('<opt:UpperBound>3</opt:UpperBound>\n        <opt:Initial>1</opt:Initial>', '<opt:UpperBound>3</opt:UpperBound>');

const NOT_EXPECTED = /Schemas validity error : Element '\{http:\/\/schemas\.optimis\.eu\/optimis\/\}Colour': This element is not expected\. Expected is \( \{http:\/\/schemas\.optimis\.eu\/optimis\/\}AntiAffinityConstraints \)/;
const MISSING = /Schemas validity error : Element '\{http:\/\/schemas\.optimis\.eu\/optimis\/\}AllocationConstraints': Missing child element\(s\)\. Expected is \( \{http:\/\/schemas\.optimis\.eu\/optimis\/\}Initial \)/;

afterEach(() => jest.restoreAllMocks());

describe('expectXsdValid / xsd: libxml2 (xmllint-wasm) against the OPTIMIS 1.0.8 XSDs', () => {
  it('a valid fixture passes', async () => {
    await expect(expectXsdValid(VALID)).resolves.toBeUndefined();
    expect(await xsd(VALID)).toEqual({ valid: true, output: 'document-1.xml validates' });
  });

  it('an unknown element in the OPTIMIS namespace fails, with the schema error in the message', async () => {
    await expect(expectXsdValid(UNKNOWN_ELEMENT)).rejects.toThrow(NOT_EXPECTED);
    const r = await xsd(UNKNOWN_ELEMENT);
    expect(r.valid).toBe(false);
    expect(r.output).toMatch(NOT_EXPECTED);
    expect(r.output).toMatch(/^document-1\.xml:40: /); // the line of the offending element
  });

  it('a missing required element fails, with the schema error in the message', async () => {
    await expect(expectXsdValid(MISSING_ELEMENT)).rejects.toThrow(MISSING);
    const r = await xsd(MISSING_ELEMENT);
    expect(r.valid).toBe(false);
    expect(r.output).toMatch(MISSING);
  });

  it('a document that is not well-formed is invalid, with the parser error', async () => {
    const r = await xsd(VALID.replace('</opt:ServiceManifest>', ''));
    expect(r.valid).toBe(false);
    expect(r.output).toMatch(/parser error/);
  });

  it('several documents in one call: each gets its own verdict and only its own errors', async () => {
    const results = await xsdAll([VALID, UNKNOWN_ELEMENT, VALID, MISSING_ELEMENT]);
    expect(results.map((r) => r.valid)).toEqual([true, false, true, false]);
    expect(results[1]!.output).toMatch(NOT_EXPECTED);
    expect(results[1]!.output).not.toMatch(MISSING);
    expect(results[3]!.output).toMatch(MISSING);
    expect(results[3]!.output).not.toMatch(NOT_EXPECTED);

    await expect(expectXsdValid(VALID, VALID)).resolves.toBeUndefined();
    const e = await expectXsdValid(VALID, UNKNOWN_ELEMENT, MISSING_ELEMENT).catch((error: Error) => error);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toMatch(/document 2 of 3 does not validate against the OPTIMIS XSDs:\n.*This element is not expected/);
    expect((e as Error).message).toMatch(/document 3 of 3 does not validate against the OPTIMIS XSDs:\n.*Missing child element/);
    expect((e as Error).message).not.toMatch(/document 1 of 3/);
  });

  it('fails loudly, never passes, when validation cannot run', async () => {
    // libxml2 cannot run at all (the worker fails, a schema does not compile: xmllint-wasm rejects).
    jest.spyOn(xmllint, 'validateXML').mockRejectedValueOnce(new Error('WXS schema wrapper.xsd failed to compile'));
    await expect(expectXsdValid(VALID)).rejects.toThrow(/XSD validation could not run .*WXS schema wrapper\.xsd failed to compile/);
    // libxml2 ran but said nothing about the document.
    jest.spyOn(xmllint, 'validateXML').mockResolvedValueOnce({ valid: true, errors: [], rawOutput: '', normalized: '' });
    await expect(expectXsdValid(VALID)).rejects.toThrow(/XSD validation did not run on document-1\.xml/);
    // A schema error that did not stop libxml2.
    jest
      .spyOn(xmllint, 'validateXML')
      .mockResolvedValueOnce({ valid: true, errors: [], rawOutput: 'optimis.xsd:3: element import: Schemas parser error : boom\ndocument-1.xml validates\n', normalized: '' });
    await expect(expectXsdValid(VALID)).rejects.toThrow(/libxml2 reported on the OPTIMIS XSDs:\noptimis\.xsd:3: .*boom/);
    await expect(expectXsdValid()).rejects.toThrow(/no document/);
  });
});
