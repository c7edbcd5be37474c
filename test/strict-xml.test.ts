/**
 * Strict input, construct by construct: well-formedness as libxml2 enforces it (parseXml, each case also judged by
 * libxml2 itself), encodings (xml/decode.ts), and request bodies over HTTP (gateway/body.ts): content codings, caps
 * before and after inflating, strict UTF-8 in JSON and forms, and characters that must never reach a booking.
 */
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { PassThrough } from 'node:stream';
import request from 'supertest';
import type { Request } from 'express';
import { readBody } from '../gateway/body';
import { AdmissionError } from '../model/errors';
import { decodeXml } from '../xml/decode';
import { attribute, childElements, parseXml, textOf, XML_NS } from '../xml/safe-xml';
import { libxml2WellFormed } from './support/libxml2';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';

function errorOf(fn: () => unknown): AdmissionError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AdmissionError) return error;
    throw error;
  }
  throw new Error('expected an AdmissionError, but nothing was thrown');
}

/** Line and column of the first occurrence of `needle` (or of index `at`) in `doc`, as parseXml counts them (no BOM, CR LF = one end). */
function position(doc: string, at: string | number): string {
  const src = (doc.charCodeAt(0) === 0xfeff ? doc.slice(1) : doc).replace(/\r\n?/g, '\n');
  const index = typeof at === 'number' ? at : src.indexOf(at);
  if (index < 0) throw new Error(`needle ${JSON.stringify(at)} not in the document`);
  const before = src.slice(0, index).split('\n');
  return `line ${before.length}, column ${before[before.length - 1]!.length + 1}`;
}

const deep = (levels: number): string => '<d>'.repeat(levels) + '</d>'.repeat(levels);

// =============================================================================================
// parseXml: well-formedness

/** [what, document, expected code, where (needle or index; 'end' = the end of the document), libxml2 also refuses it]. */
type Case = [string, string, 'AC_ERR_MALFORMED_XML' | 'AC_ERR_FORBIDDEN_XML', string | number | 'end', boolean];

const MALFORMED: Case[] = [
  // Characters outside Char (production 2)
  ['NUL in text', '<a>\n  x\u0000y</a>', 'AC_ERR_MALFORMED_XML', '\u0000', true],
  ['NUL in an attribute value', '<a id="s\u0000"/>', 'AC_ERR_MALFORMED_XML', '\u0000', true],
  ['U+0001 in an attribute value', '<a b="\u0001"/>', 'AC_ERR_MALFORMED_XML', '\u0001', true],
  ['form feed in a comment', '<a><!-- \f --></a>', 'AC_ERR_MALFORMED_XML', '\f', true],
  ['U+001F in a processing instruction', '<a><?pi \u001f?></a>', 'AC_ERR_MALFORMED_XML', '\u001f', true],
  ['vertical tab in CDATA', '<a><![CDATA[\u000b]]></a>', 'AC_ERR_MALFORMED_XML', '\u000b', true],
  ['ESC in a name position', '<a\u001b/>', 'AC_ERR_MALFORMED_XML', '\u001b', true],
  ['a lone high surrogate', '<a>x\ud800</a>', 'AC_ERR_MALFORMED_XML', '\ud800', true],
  ['a lone low surrogate', '<a b="\udc00"/>', 'AC_ERR_MALFORMED_XML', '\udc00', true],
  ['U+FFFE', '<a>\ufffe</a>', 'AC_ERR_MALFORMED_XML', '\ufffe', true],
  ['U+FFFF in a comment', '<a><!--\uffff--></a>', 'AC_ERR_MALFORMED_XML', '\uffff', true],
  // The XML declaration
  ['an XML declaration after whitespace', ' <?xml version="1.0"?><a/>', 'AC_ERR_MALFORMED_XML', '<?xml', true],
  ['a second XML declaration', '<?xml version="1.0"?>\n<?xml version="1.0"?><a/>', 'AC_ERR_MALFORMED_XML', '<?xml version="1.0"?><a', true],
  ['an XML declaration inside the root', '<a>\n  <?xml version="1.0"?></a>', 'AC_ERR_MALFORMED_XML', '<?xml', true],
  ['an XML declaration after the root', '<a/>\n<?xml version="1.0"?>', 'AC_ERR_MALFORMED_XML', '<?xml', true],
  ['the reserved target in upper case', '<?XML version="1.0"?><a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['the reserved target in mixed case', '<a><?xMl x?></a>', 'AC_ERR_MALFORMED_XML', '<?xMl', true],
  ['a declaration without version', '<?xml encoding="UTF-8"?><a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['version 2.0', '<?xml version="2.0"?><a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['standalone before encoding', '<?xml version="1.0" standalone="yes" encoding="UTF-8"?><a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['standalone maybe', '<?xml version="1.0" standalone="maybe"?><a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['no space between version and encoding', '<?xml version="1.0"encoding="UTF-8"?><a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  // Comments, processing instructions, CDATA
  ["'--' inside a comment", '<a><!-- a -- b --></a>', 'AC_ERR_MALFORMED_XML', '-- b', true],
  ["a comment ending in '--->'", '<a><!-- a ---></a>', 'AC_ERR_MALFORMED_XML', '--->', true],
  ['an unclosed comment', '<a><!-- a </a>', 'AC_ERR_MALFORMED_XML', '<!--', true],
  ['a PI without space after its target', '<?pi"x"?><a/>', 'AC_ERR_MALFORMED_XML', '"x"', true],
  ['a PI target with a colon', '<a><?p:i x?></a>', 'AC_ERR_MALFORMED_XML', 'p:i', true],
  ['an unclosed PI', '<a><?pi x </a>', 'AC_ERR_MALFORMED_XML', '<?pi', true],
  ['CDATA before the root', '<![CDATA[x]]><a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['an unclosed CDATA section', '<a><![CDATA[x</a>', 'AC_ERR_MALFORMED_XML', '<![CDATA[', true],
  ["']]>' in text", '<a>x ]]> y</a>', 'AC_ERR_MALFORMED_XML', ']]>', true],
  ["'<!' that is not markup", '<a><!x></a>', 'AC_ERR_MALFORMED_XML', '<!x', true],
  // Names
  ['an element name starting with a digit', '<a>\n<1b/></a>', 'AC_ERR_MALFORMED_XML', '<1b', true],
  ['an element name starting with a combining mark', '<\u0300a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ["'<' followed by a space", '<a>< b/></a>', 'AC_ERR_MALFORMED_XML', '< b', true],
  ['an attribute name starting with a hyphen', '<a -b="1"/>', 'AC_ERR_MALFORMED_XML', '-b', true],
  ['NEL (U+0085) is no whitespace', '<a\u0085b="1"/>', 'AC_ERR_MALFORMED_XML', '\u0085', true],
  ['two colons in a name', '<a:b:c xmlns:a="urn:a"/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['an empty local part', '<a xmlns:p="urn:p" p:="1"/>', 'AC_ERR_MALFORMED_XML', 'p:=', true],
  ['a local part starting with a digit', '<p:1a xmlns:p="urn:p"/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['a name over 50000 characters', `<${'n'.repeat(50_001)}/>`, 'AC_ERR_MALFORMED_XML', 1, true],
  // References
  ['&#0;', '<a>&#0;</a>', 'AC_ERR_MALFORMED_XML', '&#0;', true],
  ['&#xD800; (a surrogate)', '<a b="&#xD800;"/>', 'AC_ERR_MALFORMED_XML', '&#xD800;', true],
  ['&#xFFFE;', '<a>&#xFFFE;</a>', 'AC_ERR_MALFORMED_XML', '&#x', true],
  ['&#x110000; (beyond Unicode)', '<a>&#x110000;</a>', 'AC_ERR_MALFORMED_XML', '&#x', true],
  ['a huge decimal reference', '<a>&#99999999999999999999;</a>', 'AC_ERR_MALFORMED_XML', '&#', true],
  ['&#X41; (upper-case X)', '<a>&#X41;</a>', 'AC_ERR_MALFORMED_XML', '&#', true],
  ['&#; (no digits)', '<a>&#;</a>', 'AC_ERR_MALFORMED_XML', '&#', true],
  ['&#65 without ;', '<a>&#65 </a>', 'AC_ERR_MALFORMED_XML', '&#', true],
  ['an undeclared entity', '<a>&nbsp;</a>', 'AC_ERR_MALFORMED_XML', '&nbsp;', true],
  ["a bare '&'", '<a>fish & chips</a>', 'AC_ERR_MALFORMED_XML', '&', true],
  ["'&;'", '<a b="&;"/>', 'AC_ERR_MALFORMED_XML', '&;', true],
  // Tags and attributes
  ['an unclosed element', '<a>\n  <b>\n</a>', 'AC_ERR_MALFORMED_XML', '</a>', true],
  ['an element never closed', '<a>\n  <b/>\n', 'AC_ERR_MALFORMED_XML', 'end', true],
  ['crossed tags', '<a><b></a></b>', 'AC_ERR_MALFORMED_XML', '</a>', true],
  ['an end tag with a longer name', '<a></ab>', 'AC_ERR_MALFORMED_XML', '</ab>', true],
  ['an end tag with another prefix', '<p:a xmlns:p="urn:p" xmlns:q="urn:p"></q:a>', 'AC_ERR_MALFORMED_XML', '</q:a>', true],
  ['an end tag before any start tag', '</a>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['an end tag after the root', '<a/>\n</a>', 'AC_ERR_MALFORMED_XML', '</a>', true],
  ["whitespace after '</'", '<a></ a>', 'AC_ERR_MALFORMED_XML', '</', true],
  ['a duplicate attribute', '<a b="1" c="2" b="3"/>', 'AC_ERR_MALFORMED_XML', 15, true],
  ['a duplicate namespace declaration', '<a xmlns:p="urn:p" xmlns:p="urn:p"/>', 'AC_ERR_MALFORMED_XML', 19, true],
  ['one attribute through two prefixes', '<a xmlns:p="urn:x" xmlns:q="urn:x" p:b="1" q:b="2"/>', 'AC_ERR_MALFORMED_XML', 'q:b', true],
  ['an unquoted attribute value', '<a b=1/>', 'AC_ERR_MALFORMED_XML', '1/>', true],
  ['an attribute without value', '<a b/>', 'AC_ERR_MALFORMED_XML', '/>', true],
  ['attributes without whitespace between them', '<a b="1"c="2"/>', 'AC_ERR_MALFORMED_XML', 'c=', true],
  ["'<' in an attribute value", '<a b="x<y"/>', 'AC_ERR_MALFORMED_XML', '<y', true],
  ['an unclosed attribute value', '<a b="x/>', 'AC_ERR_MALFORMED_XML', '"x', true],
  ["'/' not followed by '>'", '<a/ >', 'AC_ERR_MALFORMED_XML', '/ >', true],
  ['an unclosed start tag', '<a b="1"', 'AC_ERR_MALFORMED_XML', 0, true],
  // The document
  ['an empty document', '', 'AC_ERR_MALFORMED_XML', 0, true],
  ['only whitespace', ' \n ', 'AC_ERR_MALFORMED_XML', 'end', true],
  ['text before the root', 'x<a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['text after the root', '<a/>\nx', 'AC_ERR_MALFORMED_XML', 'x', true],
  ['a reference after the root', '<a/>&amp;', 'AC_ERR_MALFORMED_XML', '&', true],
  ['two roots', '<a/>\n<b/>', 'AC_ERR_MALFORMED_XML', '<b/>', true],
  ['a second BOM (as characters)', '\ufeff\ufeff<a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  // Namespaces
  ['an unbound element prefix', '<a>\n  <p:x/>\n</a>', 'AC_ERR_MALFORMED_XML', '<p:x', true],
  ['an unbound attribute prefix', '<a p:x="1"/>', 'AC_ERR_MALFORMED_XML', 'p:x', true],
  ['the prefix xmlns on an element', '<xmlns:a/>', 'AC_ERR_MALFORMED_XML', 0, true],
  ['undeclaring a prefix', '<a xmlns:p=""/>', 'AC_ERR_MALFORMED_XML', 'xmlns:p', true],
  ['rebinding xml', '<a xmlns:xml="urn:other"/>', 'AC_ERR_MALFORMED_XML', 'xmlns:xml', true],
  ['binding another prefix to the xml namespace', `<a xmlns:p="${XML_NS}"/>`, 'AC_ERR_MALFORMED_XML', 'xmlns:p', true],
  ['the xml namespace as default', `<a xmlns="${XML_NS}"/>`, 'AC_ERR_MALFORMED_XML', 'xmlns', true],
  ['the xmlns namespace bound', '<a xmlns:p="http://www.w3.org/2000/xmlns/"/>', 'AC_ERR_MALFORMED_XML', 'xmlns:p', true],
  ['declaring the prefix xmlns', '<a xmlns:xmlns="urn:x"/>', 'AC_ERR_MALFORMED_XML', 'xmlns:xmlns', true],
  ['a namespace name with a space', '<a xmlns:p="urn:a b"/>', 'AC_ERR_MALFORMED_XML', 'xmlns:p', true],
  ['a namespace name with a non-ASCII letter', '<a xmlns="urn:\u00e9"/>', 'AC_ERR_MALFORMED_XML', 'xmlns', true],
  ['a namespace name with a bad escape', '<a xmlns:p="urn:%zz"/>', 'AC_ERR_MALFORMED_XML', 'xmlns:p', true],
  // Refused on purpose (libxml2 accepts them, and would read the DTD)
  ['a DOCTYPE', '<?xml version="1.0"?>\n<!DOCTYPE a>\n<a/>', 'AC_ERR_FORBIDDEN_XML', '<!DOCTYPE', false],
  ['an ELEMENT declaration inside content', '<a><!ELEMENT x ANY></a>', 'AC_ERR_FORBIDDEN_XML', '<!ELEMENT', true],
  ['nesting deeper than 256', deep(257), 'AC_ERR_FORBIDDEN_XML', 256 * 3, false],
];

const WELL_FORMED: [string, string][] = [
  ['namespaces, prefixed and default', '<p:a xmlns:p="urn:p" xmlns="http://example.com/d?q#f"><b p:c="1" c="2"/></p:a>'],
  ['a prefix rebound below', '<p:a xmlns:p="urn:one"><p:b xmlns:p="urn:two"/></p:a>'],
  ['the default namespace undeclared', '<a xmlns="urn:d"><b xmlns=""/></a>'],
  ['xml:lang without declaration, and xml declared as itself', `<a xml:lang="en" xmlns:xml="${XML_NS}"/>`],
  ['relative and odd but valid URI references', '<a xmlns:p="foo" xmlns:q="urn:a:b:c" xmlns:r="http://[::1]/%20x" xmlns:s="#f"/>'],
  ['CDATA with markup inside', '<a><![CDATA[<b>&amp;]]]]><![CDATA[>]]></a>'],
  ['an empty comment and a comment starting with >', '<a><!----><!-->x--></a>'],
  ['processing instructions, xml-prefixed targets too', '<?xml-stylesheet href="s.xsl"?><a><?pi?><?pi data ?></a><?after?>'],
  ['every declaration form', "<?xml version='1.1' encoding='utf-8' standalone='no' ?>\n<a/>"],
  ['character references at the edges', '<a b="&#9;&#xA;&#13;&#60;">&#x10FFFF;&#xD7FF;&#xE000;&#xFFFD;&#x00000041;&amp;&lt;&gt;&quot;&apos;</a>'],
  ['C1 controls, DEL and non-BMP text', '<a>\u0080\u0085\u007f\ud83d\ude00 \u00e9</a>'],
  ['non-ASCII and non-BMP names', '<\u00e0b\u00b7c\u0300 \ud800\udc00="1"><\udb40\udc00/></\u00e0b\u00b7c\u0300>'],
  ["']]' and '>' in text", '<a>]] ] > ]]</a>'],
  ['whitespace in tags', '<a\n\tb = "1"\n/><!-- -->'.replace('/><!-- -->', '></a\n>')],
  ['a BOM and CR LF line ends', '\ufeff<?xml version="1.0"?>\r\n<a>\r\n</a>\r\n'],
  ['a 50000-character name', `<${'n'.repeat(50_000)}/>`],
  ['nesting of 256', deep(256)],
];

describe('parseXml refuses what libxml2 refuses, saying where', () => {
  it.each(MALFORMED)('%s', (_what, doc, code, at) => {
    const e = errorOf(() => parseXml(doc));
    expect(e.code).toBe(code);
    expect(e.status).toBe(400);
    if (code === 'AC_ERR_MALFORMED_XML') {
      const where = position(doc, at === 'end' ? doc.replace(/^\ufeff/, '').length : at);
      expect(e.details).toEqual([{ field: where, reason: expect.any(String) }]);
      expect(e.message).toContain(where);
    } else {
      expect(e.details[0]!.reason).toContain(position(doc, at === 'end' ? doc.length : at));
    }
  });

  it('and libxml2 agrees with every verdict (the cases are not our own idea of XML)', async () => {
    const verdicts = await libxml2WellFormed([...MALFORMED.map((c) => c[1]), ...WELL_FORMED.map((c) => c[1])]);
    const disagreements: string[] = [];
    MALFORMED.forEach(([what, , , , refused], i) => {
      if (verdicts[i]!.wellFormed === refused) disagreements.push(`${what}: libxml2 says ${verdicts[i]!.wellFormed ? 'well-formed' : verdicts[i]!.error}`);
    });
    WELL_FORMED.forEach(([what], i) => {
      const v = verdicts[MALFORMED.length + i]!;
      if (!v.wellFormed) disagreements.push(`${what}: libxml2 says ${v.error}`);
    });
    expect(disagreements).toEqual([]);
  });

  it.each(WELL_FORMED)('accepts %s', (_what, doc) => {
    expect(() => parseXml(doc)).not.toThrow();
  });

  it('decodes what it accepts exactly, keeping source positions', () => {
    const doc = parseXml('<?xml version="1.0"?>\r\n<p:a xmlns:p="urn:p" p:b=" x&#9;y\n z &lt;"><!-- c -->t&amp;<![CDATA[<&>]]>u</p:a>');
    expect(doc.source.slice(doc.root.start, doc.root.start + 4)).toBe('<p:a');
    expect(attribute(doc.root, 'urn:p', 'b')).toBe(' x\ty  z <');
    expect(textOf(doc.root)).toBe('t&<&>u');
    const nested = parseXml('<r>\n  <x:c xmlns:x="urn:x"/>\n</r>');
    expect(nested.source.slice(childElements(nested.root)[0]!.start).startsWith('<x:c')).toBe(true);
  });

  it('stays linear on hostile input (many attributes, long URIs, deep text)', () => {
    const t0 = Date.now();
    const attrs = Array.from({ length: 20_000 }, (_, i) => ` p:a${i}="${i}"`).join('');
    expect(() => parseXml(`<r xmlns:p="urn:p"${attrs}/>`)).not.toThrow();
    expect(errorOf(() => parseXml(`<r xmlns:p="urn:p" xmlns:q="urn:p"${attrs} q:a19999="x"/>`)).message).toContain('appears twice');
    expect(errorOf(() => parseXml(`<r xmlns:p="http://h/${'a/'.repeat(200_000)} "/>`)).code).toBe('AC_ERR_MALFORMED_XML');
    expect(errorOf(() => parseXml(`<r xmlns:p="${'%41'.repeat(100_000)}:"/>`)).code).toBe('AC_ERR_MALFORMED_XML');
    expect(() => parseXml(`<r>${'x'.repeat(1_000_000)}</r>`)).not.toThrow();
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

// =============================================================================================
// decodeXml: bytes to the document

const utf16le = (s: string): Buffer => Buffer.from(s, 'utf16le');
const utf16be = (s: string): Buffer => Buffer.from(s, 'utf16le').swap16();
const bytes = (...parts: (number[] | string | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((p) => (Array.isArray(p) ? Buffer.from(p) : typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
const BOM8 = [0xef, 0xbb, 0xbf];
const DECL16 = '<?xml version="1.0" encoding="UTF-16"?>';

describe('decodeXml: BOM, charset and declaration (XML appendix F, RFC 7303)', () => {
  const decodes: [string, Buffer, string | undefined, string][] = [
    ['UTF-8 without anything', bytes('<a>\xc3\xa9</a>'), undefined, '<a>é</a>'],
    ['UTF-8 with a BOM (removed)', bytes(BOM8, '<a/>'), undefined, '<a/>'],
    ['UTF-16LE with a BOM and no charset', bytes([0xff, 0xfe], utf16le('<a>é\ud83d\ude00</a>')), undefined, '<a>é\ud83d\ude00</a>'],
    ['UTF-16BE with a BOM', bytes([0xfe, 0xff], utf16be('<a>é</a>')), undefined, '<a>é</a>'],
    ['UTF-16LE without BOM, declared', utf16le(`${DECL16}<a/>`), undefined, '<?xml version="1.0" encoding="UTF-8" ?><a/>'],
    ['UTF-16BE without BOM, declared', utf16be(`${DECL16}<a/>`), undefined, '<?xml version="1.0" encoding="UTF-8" ?><a/>'],
    ['the BOM wins over a charset', bytes([0xff, 0xfe], utf16le('<a/>')), 'utf-8', '<a/>'],
    ['ISO-8859-1 declared', bytes('<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>'), undefined, '<?xml version="1.0" encoding="UTF-8"     ?><a>é</a>'],
    ['latin1 declared', bytes("<?xml version='1.0' encoding='latin1' standalone='yes'?><a>\xe9</a>"), undefined, "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><a>é</a>"],
    ['US-ASCII declared', bytes('<?xml version="1.0" encoding="US-ASCII"?><a/>'), undefined, '<?xml version="1.0" encoding="UTF-8"   ?><a/>'],
    ['a charset overrides the declaration', bytes('<?xml version="1.0" encoding="UTF-8"?><a>\xe9</a>'), 'ISO-8859-1', '<?xml version="1.0" encoding="UTF-8"?><a>é</a>'],
    ['a quoted, upper-case charset', bytes('<a>\xe9</a>'), 'Latin1', '<a>é</a>'],
    ['charset utf-16 without BOM is big-endian', utf16be('<a/>'), 'utf-16', '<a/>'],
  ];
  it.each(decodes)('%s', (_what, input, charset, expected) => {
    const text = decodeXml(input, charset);
    expect(text).toBe(expected);
    expect(() => parseXml(text)).not.toThrow();
  });

  const refuses: [string, Buffer, string | undefined, string, string, string][] = [
    ['invalid UTF-8 (never replaced)', bytes('<a>\n x\xc3\x28</a>'), undefined, 'AC_ERR_MALFORMED_XML', 'line 2, column 3', 'invalid UTF-8 at byte 6'],
    ['an overlong encoding', bytes('<a>\xc0\xaf</a>'), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 4', '0xC0 0xAF'],
    ['a UTF-8-encoded surrogate', bytes('<a>\xed\xa0\x80</a>'), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 4', '0xED'],
    ['a truncated sequence at the end', bytes('<a/>\xe2\x82'), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 5', '0xE2 0x82'],
    ['a byte that never occurs in UTF-8', bytes(BOM8, '<a>\r\n\xff</a>'), undefined, 'AC_ERR_MALFORMED_XML', 'line 2, column 1', '0xFF'],
    ['a byte over 0x7F in US-ASCII', bytes('<?xml version="1.0" encoding="US-ASCII"?>\n<a>\xe9</a>'), undefined, 'AC_ERR_MALFORMED_XML', 'line 2, column 4', 'not US-ASCII'],
    ['a second BOM', bytes(BOM8, BOM8, '<a/>'), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 1', 'second byte order mark'],
    ['a second UTF-16 BOM', bytes([0xff, 0xfe], utf16le('\ufeff<a/>')), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 1', 'second byte order mark'],
    ['a UTF-8 BOM declared UTF-16', bytes(BOM8, `${DECL16}<a/>`), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 31', 'byte order mark says UTF-8'],
    ['a UTF-16 BOM declared UTF-8', bytes([0xff, 0xfe], utf16le('<?xml version="1.0" encoding="UTF-8"?><a/>')), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 31', 'byte order mark says UTF-16LE'],
    ['a UTF-8 BOM declared ISO-8859-1', bytes(BOM8, '<?xml version="1.0" encoding="ISO-8859-1"?><a/>'), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 31', 'ISO-8859-1'],
    ['declared UTF-16 in ASCII bytes', bytes(`${DECL16}<a/>`), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 31', 'encoding="UTF-16"'],
    ['UTF-16 without BOM and without encoding declaration', utf16le('<?pi x?><a/>'), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 1', 'names no encoding'],
    ['UTF-16 with an odd number of bytes', bytes([0xff, 0xfe], utf16le('<a/>'), [0x0a]), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 5', 'odd number of bytes'],
    ['a lone surrogate in UTF-16', bytes([0xfe, 0xff], utf16be('<a>\udc00</a>')), undefined, 'AC_ERR_MALFORMED_XML', 'line 1, column 4', 'lone surrogate'],
    ['UTF-32LE by its BOM', bytes([0xff, 0xfe, 0, 0], '<\0\0\0'), undefined, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'xml', 'UTF-32LE'],
    ['UTF-32BE by its BOM', bytes([0, 0, 0xfe, 0xff], '\0\0\0<'), undefined, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'xml', 'UTF-32BE'],
    ['UTF-32 without BOM', bytes('\0\0\0<\0\0\0a'), undefined, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'xml', 'UTF-32'],
    ['EBCDIC', bytes([0x4c, 0x6f, 0xa7, 0x94]), undefined, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'xml', 'EBCDIC'],
    ['a declared windows-1252', bytes('<?xml version="1.0" encoding="windows-1252"?><a/>'), undefined, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'line 1, column 31', "'windows-1252'"],
    ['a charset we do not decode', bytes('<a/>'), 'shift_jis', 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type', "'shift_jis'"],
    ['charset utf-32', bytes('<a/>'), 'UTF-32', 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type', "'UTF-32'"],
  ];
  it.each(refuses)('refuses %s', (_what, input, charset, code, field, reason) => {
    const e = errorOf(() => parseXml(decodeXml(input, charset)));
    expect(e.code).toBe(code);
    expect(e.details).toHaveLength(1);
    expect(e.details[0]!.field).toBe(field);
    expect(`${e.message} ${e.details[0]!.reason}`).toContain(reason);
    if (field.startsWith('line')) expect(e.message).toContain(field);
  });

  it('keeps every position: the rewritten declaration has the length of the original', () => {
    const original = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<a>\xe9<b>&bad;</b></a>';
    const e = errorOf(() => parseXml(decodeXml(bytes(original))));
    expect(e.details[0]!.field).toBe(position(original, '&bad;'));
  });
});

// =============================================================================================
// Bodies over HTTP

const SM = readManifest('decision/SM_1c2.xml');
const MINIMAL = readManifest('examples/minimal-input.xml');

let gw: TestGateway;
beforeEach(async () => {
  gw = await testGateway({ hosts: fleet(4, 8), bodyLimitBytes: 256 * 1024 });
});
afterEach(() => gw.close());

const post = (path: string, body: Buffer | string, headers: Record<string, string>): request.Test => {
  let r = request(gw.app).post(path);
  for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
  // Bytes as they are: superagent would serialise a Buffer sent as JSON into {"type": "Buffer", …}.
  return r.serialize(((b: Buffer) => b) as unknown as (obj: unknown) => string).send(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
};
const ADMIT = '/api/v1/admissions?dryRun=true';
const XML = { 'Content-Type': 'application/xml' };
const recorded = async (): Promise<number> => (await gw.admissions()).length;

function expectError(res: request.Response, status: number, code: string, field: string | RegExp): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  const fields = (res.body.error.details as { field: string }[]).map((d) => d.field);
  expect(fields.length).toBeGreaterThan(0);
  if (typeof field === 'string') expect(fields).toContain(field);
  else expect(fields.some((f) => field.test(f))).toBe(true);
  expect(res.body.requestId).toEqual(expect.any(String));
}

describe('Content-Encoding and the body cap', () => {
  const gzip = (b: Buffer | string): Buffer => zlib.gzipSync(b);

  it.each([
    ['gzip', (b: Buffer) => zlib.gzipSync(b)],
    ['x-gzip', (b: Buffer) => zlib.gzipSync(b)],
    ['deflate', (b: Buffer) => zlib.deflateSync(b)],
    ['identity', (b: Buffer) => b],
    ['gzip, deflate', (b: Buffer) => zlib.deflateSync(zlib.gzipSync(b))],
    ['identity, gzip, gzip', (b: Buffer) => zlib.gzipSync(zlib.gzipSync(b))],
  ])('%s is undone', async (coding, encode) => {
    const res = await post(ADMIT, encode(Buffer.from(SM)), { ...XML, 'Content-Encoding': coding });
    expect(res.status).toBe(200);
    expect(res.body.services[0].decision).toBe('accepted');
  });

  it.each(['br', 'zstd', 'compress', 'gzip, br'])("'%s' is 415 naming the coding", async (coding) => {
    const res = await post(ADMIT, gzip(SM), { ...XML, 'Content-Encoding': coding });
    expectError(res, 415, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Encoding');
    expect(res.body.error.message).toContain(`'${coding.split(', ').pop()}'`);
  });

  it('data that is not what its coding says is 400', async () => {
    expectError(await post(ADMIT, Buffer.from(SM), { ...XML, 'Content-Encoding': 'gzip' }), 400, 'AC_ERR_INVALID_REQUEST', 'Content-Encoding');
    expectError(await post(ADMIT, gzip(SM).subarray(0, 200), { ...XML, 'Content-Encoding': 'gzip' }), 400, 'AC_ERR_INVALID_REQUEST', 'Content-Encoding');
  });

  it('the cap applies after inflating: a zip bomb is 413', async () => {
    const bomb = gzip(Buffer.alloc(64 * 1024 * 1024, ' '));
    expect(bomb.length).toBeLessThan(256 * 1024);
    const res = await post(ADMIT, bomb, { ...XML, 'Content-Encoding': 'gzip' });
    expectError(res, 413, 'AC_ERR_BODY_TOO_LARGE', 'body');
    expect(res.body.error.message).toContain('once its Content-Encoding is undone');
  });

  it('inflating stops at the cap: a 1 GB bomb never yields more than the cap (plus one chunk)', async () => {
    const member = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024));
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => member));
    const req = Object.assign(new PassThrough(), { headers: { 'content-encoding': 'gzip', 'content-length': String(bomb.length) }, complete: true });
    let inflated = 0;
    const createGunzip = zlib.createGunzip;
    // node:zlib's exports are read-only but configurable: count what the gunzip readBody creates gives out.
    Object.defineProperty(zlib, 'createGunzip', {
      configurable: true,
      value: (options?: zlib.ZlibOptions) => createGunzip(options).on('data', (chunk: Buffer) => (inflated += chunk.length)),
    });
    try {
      const reading = readBody(req as unknown as Request, 1024 * 1024);
      req.end(bomb);
      await expect(reading).rejects.toMatchObject({ code: 'AC_ERR_BODY_TOO_LARGE' });
    } finally {
      Object.defineProperty(zlib, 'createGunzip', { configurable: true, value: createGunzip });
    }
    expect(inflated).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
  });

  it('a declared Content-Length over the cap is refused before reading', async () => {
    expectError(await post(ADMIT, Buffer.alloc(300 * 1024, 0x20), XML), 413, 'AC_ERR_BODY_TOO_LARGE', 'body');
  });
});

describe('encodings of XML bodies', () => {
  const u16 = (xml: string): Buffer => bytes([0xff, 0xfe], utf16le(xml));

  it('a UTF-16 manifest with a BOM and no charset is admitted, on both XML endpoints', async () => {
    const xml = MINIMAL.replace('encoding="UTF-8"', 'encoding="UTF-16"');
    const res = await post(ADMIT, u16(xml), XML);
    expect(res.status).toBe(200);
    expect(res.body.services[0].decision).toBe('accepted');
    // The manifest written back is a string (UTF-8 on the wire): its declaration says so.
    expect(res.body.services[0].manifest).toMatch(/^<\?xml version="1.0" encoding="UTF-8" \?>/);
    const raw = await post('/ACGateway/model/performOneManifestACTest?dryRun=true', u16(xml), { 'Content-Type': 'text/plain' });
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toMatch(/application\/xml; charset=utf-8/);
    expect(() => parseXml(raw.text)).not.toThrow();
  });

  it('an ISO-8859-1 manifest and a charset parameter are honoured', async () => {
    const latin = Buffer.from(MINIMAL.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace('web tier', 'web tier \u00e9t\u00e9'), 'latin1');
    expect((await post(ADMIT, latin, XML)).status).toBe(200);
    const utf8 = Buffer.from(SM.replace('</opt:ServiceManifest>', '<!-- \u00e9 --></opt:ServiceManifest>'), 'latin1');
    expect((await post(ADMIT, utf8, { 'Content-Type': 'application/xml; charset="ISO-8859-1"' })).status).toBe(200);
  });

  it('invalid UTF-8 is 400 with its line and column, never replaced', async () => {
    const bad = Buffer.concat([Buffer.from(SM.slice(0, SM.indexOf('compA'))), Buffer.from([0xc3, 0x28]), Buffer.from(SM.slice(SM.indexOf('compA')))]);
    const res = await post(ADMIT, bad, XML);
    expectError(res, 400, 'AC_ERR_MALFORMED_XML', position(SM, 'compA'));
  });

  it.each([
    ['an unknown charset', bytes(SM), 'application/xml; charset=windows-1252', 415, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type'],
    ['a declared encoding we do not decode', bytes(`<?xml version="1.0" encoding="Shift_JIS"?>${SM}`), 'text/xml', 415, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'line 1, column 31'],
    ['UTF-32', bytes([0xff, 0xfe, 0, 0], '<\0\0\0'), 'application/xml', 415, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'xml'],
    ['a double BOM', bytes(BOM8, BOM8, SM), 'application/xml', 400, 'AC_ERR_MALFORMED_XML', 'line 1, column 1'],
    ['a BOM against the declaration', bytes(BOM8, MINIMAL.replace('UTF-8', 'UTF-16')), 'application/xml', 400, 'AC_ERR_MALFORMED_XML', 'line 1, column 31'],
    ['NUL in the manifest', bytes(SM.replace('compA', 'comp\0A')), 'application/soap+xml', 400, 'AC_ERR_MALFORMED_XML', position(SM.replace('compA', 'comp\0A'), '\0')],
  ])('%s', async (_what, body, type, status, code, field) => {
    expectError(await post(ADMIT, body, { 'Content-Type': type }), status, code, field);
  });
});

describe('characters that cannot be written back never get booked', () => {
  const serviceId = (id: string): string => SM.replace('opt:serviceId="ACTestsDecisionAccepted"', `opt:serviceId="${id}"`);

  it.each([
    ['a NUL serviceId', serviceId('svc\u0000')],
    ['a serviceId with U+0001', serviceId('svc\u0001')],
    ['a serviceId with a reference to NUL', serviceId('svc&#0;')],
    ['a serviceId with a reference to U+0008', serviceId('svc&#x8;')],
    ['a componentId with a lone surrogate reference', SM.replace('opt:componentId="compA"', 'opt:componentId="A&#xDC00;"')],
  ])('%s is refused on every route, nothing recorded', async (_what, xml) => {
    expect(xml).not.toBe(SM);
    expectError(await post('/api/v1/admissions', xml, XML), 400, 'AC_ERR_MALFORMED_XML', /^line \d+, column \d+$/);
    expectError(await post('/api/v1/admissions', JSON.stringify({ manifests: [xml] }), { 'Content-Type': 'application/json' }), 400, 'AC_ERR_MALFORMED_XML', /line \d+, column \d+$/);
    const form = `serviceManifest=${encodeURIComponent(xml)}`;
    expectError(await post('/ACGateway/model/performACTest', form, { 'Content-Type': 'application/x-www-form-urlencoded' }), 400, 'AC_ERR_MALFORMED_XML', /line \d+, column \d+$/);
    expectError(await post('/ACGateway/model/performOneManifestACTest', xml, { 'Content-Type': 'text/plain' }), 400, 'AC_ERR_MALFORMED_XML', /^line \d+, column \d+$/);
    expect(await recorded()).toBe(0);
  });

  it('markup characters are fine: they are escaped on the way out, and the answer re-parses', async () => {
    const res = await post('/api/v1/admissions', serviceId('a&amp;b&lt;c&quot;d&#9;e\u00e9'), XML);
    expect(res.status).toBe(201);
    expect(res.body.services[0].serviceId).toBe('a&b<c"d\te\u00e9');
    const doc = parseXml(res.body.services[0].manifest);
    expect(doc.root.local).toBe('ServiceManifest');
  });
});

describe('JSON bodies', () => {
  const JSON_TYPE = { 'Content-Type': 'application/json' };

  it('invalid UTF-8 is 400 with its line and column', async () => {
    const body = Buffer.concat([Buffer.from('{\n  "manifests": ["'), Buffer.from([0xe2, 0x28, 0xa1]), Buffer.from('"]}')]);
    const res = await post(ADMIT, body, JSON_TYPE);
    expectError(res, 400, 'AC_ERR_INVALID_REQUEST', 'body');
    expect(res.body.error.message).toContain('line 2, column 18');
  });

  it.each([
    ['a truncated body', '{"manifests": [', 'line 1, column 16'],
    ['a missing value', '{\n"manifests":\n  }', 'line 3, column 3'],
    ['a trailing comma', '{"manifests": ["x",]}', 'line 1, column 20'],
    ['trailing garbage', '{"manifests": []} x', 'line 1, column 19'],
    ['a bad escape', '{"manifests": ["\\q"]}', 'line 1, column 17'],
    ['a raw control character in a string', '{"manifests": ["\u0001"]}', 'line 1, column 17'],
    ['a top-level string (not strict JSON for us)', '"x"', 'line 1, column 1'],
    ['an empty body', '', 'line 1, column 1'],
  ])('%s is 400 naming the position', async (_what, body, where) => {
    const res = await post(ADMIT, body, JSON_TYPE);
    expectError(res, 400, 'AC_ERR_INVALID_REQUEST', 'body');
    expect(res.body.error.message).toContain(where);
    expect(res.body.error.details[0].reason).toContain(where);
  });

  it('a BOM is ignored, a charset other than UTF-8 is 415', async () => {
    expect((await post(ADMIT, bytes(BOM8, JSON.stringify({ manifests: [SM] })), JSON_TYPE)).status).toBe(200);
    expectError(await post(ADMIT, JSON.stringify({ manifests: [SM] }), { 'Content-Type': 'application/json; charset=iso-8859-1' }), 415, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type');
  });

  it('gzip works for JSON too, with the same cap', async () => {
    const res = await post(ADMIT, zlib.gzipSync(JSON.stringify({ manifests: [SM] })), { ...JSON_TYPE, 'Content-Encoding': 'gzip' });
    expect(res.status).toBe(200);
  });
});

describe('form bodies (OPTIMIS performACTest)', () => {
  const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const PATH = '/ACGateway/model/performACTest?dryRun=true';

  it('repeated fields are a list, flags are present without values', async () => {
    const res = await post(PATH, `serviceManifest=${encodeURIComponent(SM)}&use_Heuristic&serviceManifest=${encodeURIComponent(readManifest('decision/BigSM_1c2.xml'))}`, FORM);
    expect(res.status).toBe(200);
    expect(new URLSearchParams(res.text).getAll('serviceManifest')).toHaveLength(2);
  });

  it.each([
    ['invalid UTF-8 once percent-decoded', `serviceManifest=${encodeURIComponent(SM.slice(0, 100))}%C3%28`, 400, 'AC_ERR_INVALID_REQUEST', 'serviceManifest'],
    ["a '%' without two hex digits", `serviceManifest=${encodeURIComponent(SM)}%2`, 400, 'AC_ERR_INVALID_REQUEST', 'serviceManifest'],
    ["a '%' in a field name", `service%zzManifest=x`, 400, 'AC_ERR_INVALID_REQUEST', 'body'],
    ['more than 1000 fields', `${'a=1&'.repeat(1001)}serviceManifest=x`, 400, 'AC_ERR_INVALID_REQUEST', 'body'],
  ])('%s', async (_what, body, status, code, field) => {
    expectError(await post(PATH, body, FORM), status, code, field);
  });

  it('a charset other than UTF-8 is 415', async () => {
    expectError(await post(PATH, `serviceManifest=${encodeURIComponent(SM)}`, { 'Content-Type': 'application/x-www-form-urlencoded; charset=iso-8859-1' }), 415, 'AC_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type');
  });

  it('performOneManifestACTest takes the manifest as a form field too, strictly', async () => {
    const ok = await post('/ACGateway/model/performOneManifestACTest?dryRun=true', `serviceManifest=${encodeURIComponent(SM)}`, { 'Content-Type': 'text/plain' });
    expect(ok.status).toBe(200);
    const bad = await post('/ACGateway/model/performOneManifestACTest?dryRun=true', `serviceManifest=%FF${encodeURIComponent(SM)}`, FORM);
    expectError(bad, 400, 'AC_ERR_INVALID_REQUEST', 'serviceManifest');
  });
});

describe('a client that hangs up mid-body', () => {
  it('crashes nothing: the next request is answered', async () => {
    const server = http.createServer(gw.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      for (const coding of ['identity', 'gzip']) {
        await new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            socket.write(`POST /api/v1/admissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Encoding: ${coding}\r\nContent-Length: 100000\r\n\r\n`);
            socket.write(coding === 'gzip' ? zlib.gzipSync(SM).subarray(0, 500) : SM.slice(0, 5000), () => setTimeout(() => socket.destroy(), 50));
          });
          socket.on('close', () => resolve());
          socket.on('error', () => resolve());
        });
      }
      await new Promise((r) => setTimeout(r, 100));
      const res = await request(server).post(ADMIT).set('Content-Type', 'application/xml').send(SM);
      expect(res.status).toBe(200);
      expect(await recorded()).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
