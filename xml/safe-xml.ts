/**
 * Safe, namespace-aware XML reading: refuses DTDs and entity declarations, checks well-formedness, resolves prefixes to URIs.
 * Knows nothing about OPTIMIS: shared by manifests (gateway/manifest), host-info and the TREC answers; it returns an
 * element tree with source positions that the manifest reader and offer writer build on.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AdmissionError, type ErrorDetail } from '../model/errors';

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/**
 * Deepest element nesting accepted. Manifests nest about 15 levels (30 with an embedded federated manifest);
 * the limit keeps the recursive tree builder far from the call-stack limit on hostile input.
 */
export const MAX_XML_DEPTH = 256;

export interface XmlAttribute {
  /** Name as written (`opt:componentId`). For diagnostics only: never match on it. */
  readonly qname: string;
  readonly ns: string;
  readonly local: string;
  /** Value after attribute-value normalisation and reference decoding. */
  readonly value: string;
}

export interface XmlText {
  readonly kind: 'text';
  /** Decoded character data (CDATA sections are kept verbatim). */
  readonly text: string;
}

export interface XmlElement {
  readonly kind: 'element';
  /** Name as written. For diagnostics and for re-emitting end tags; lookups go through `ns` + `local`. */
  readonly qname: string;
  readonly prefix: string;
  readonly local: string;
  /** Namespace URI, '' when the element is in no namespace. */
  readonly ns: string;
  /** Attributes other than namespace declarations, in document order. */
  readonly attributes: readonly XmlAttribute[];
  /** Namespace declarations made on this element: prefix ('' = default namespace) → URI ('' = undeclared default). */
  readonly declarations: ReadonlyMap<string, string>;
  /** Every binding in scope on this element, inherited ones included (same key convention). */
  readonly scope: ReadonlyMap<string, string>;
  readonly children: readonly XmlNode[];
  /** Index of the element's `<` in `XmlDocument.source`. */
  readonly start: number;
}

export type XmlNode = XmlElement | XmlText;

export interface XmlDocument {
  /** The input with a leading BOM removed and line ends normalised to \n (as every XML processor does); positions refer to it. */
  readonly source: string;
  readonly root: XmlElement;
}

/** Where an element sits in `XmlDocument.source`. */
export interface ElementExtent {
  readonly start: number;
  /** Index just after the start tag's `>`. */
  readonly startTagEnd: number;
  /** Index of the end tag's `<` (= startTagEnd for an empty-element tag). */
  readonly endTagStart: number;
  /** Index just after the element. */
  readonly end: number;
  readonly selfClosing: boolean;
}

// ---------------------------------------------------------------------------------------------
// Entry point

/**
 * Parses an XML document safely. Throws AdmissionError:
 * AC_ERR_FORBIDDEN_XML for DOCTYPE / ENTITY (and other DTD markup) or absurd nesting, before anything else is looked at;
 * AC_ERR_MALFORMED_XML with line and column for anything that is not well-formed, namespace well-formedness included.
 */
export function parseXml(xml: string): XmlDocument {
  if (typeof xml !== 'string') {
    throw new AdmissionError('AC_ERR_MALFORMED_XML', 'The XML document is not a string', [{ field: 'xml', reason: `got ${typeof xml}` }]);
  }
  const source = normalise(xml);
  const scan = lexicalScan(source);
  if (scan.forbidden.length > 0) {
    const names = scan.forbidden.map((f) => f.field).join(', ');
    throw new AdmissionError('AC_ERR_FORBIDDEN_XML', `The XML document uses forbidden constructs: ${names}`, scan.forbidden);
  }
  // The library's validator first (its messages are good), then the gaps it leaves (entities, roots, '<' in values).
  const verdict = XMLValidator.validate(source, { allowBooleanAttributes: false });
  if (verdict !== true) {
    const { line, col, msg } = verdict.err;
    throw malformed(msg, line, col ?? 1);
  }
  if (scan.malformed) {
    const { line, column } = lineColumn(source, scan.malformed.index);
    throw malformed(scan.malformed.reason, line, column);
  }

  let ordered: unknown;
  try {
    ordered = new XMLParser(PARSER_OPTIONS).parse(source);
  } catch (error) {
    throw new AdmissionError('AC_ERR_MALFORMED_XML', `The XML document is malformed: ${(error as Error).message}`, [
      { field: 'xml', reason: (error as Error).message },
    ]);
  }
  const top = (ordered as OrderedNode[]).filter((n) => {
    const tag = tagOf(n);
    return tag !== undefined && !tag.startsWith('?') && tag !== '#text' && tag !== '#cdata';
  });
  if (top.length !== 1) {
    // Already excluded by the lexical scan; kept so that a parser surprise cannot yield a rootless tree.
    throw new AdmissionError('AC_ERR_MALFORMED_XML', 'The XML document must have exactly one root element', [
      { field: 'xml', reason: `found ${top.length} top-level elements` },
    ]);
  }
  const initialScope = new Map<string, string>([['xml', XML_NS]]);
  const root = buildElement(source, top[0]!, initialScope);
  return { source, root };
}

// ---------------------------------------------------------------------------------------------
// Navigation by (namespace URI, local name)

/** Child elements, optionally only those named {ns}local. */
export function childElements(el: XmlElement, ns?: string, local?: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of el.children) {
    if (c.kind === 'element' && (ns === undefined || c.ns === ns) && (local === undefined || c.local === local)) out.push(c);
  }
  return out;
}

export function firstChild(el: XmlElement, ns: string, local: string): XmlElement | undefined {
  for (const c of el.children) if (c.kind === 'element' && c.ns === ns && c.local === local) return c;
  return undefined;
}

/** Descendant elements named {ns}local in document order (iterative: no recursion on untrusted depth). */
export function descendants(el: XmlElement, ns: string, local: string): XmlElement[] {
  const out: XmlElement[] = [];
  const stack: XmlElement[] = [...childElements(el)].reverse();
  while (stack.length > 0) {
    const e = stack.pop()!;
    if (e.ns === ns && e.local === local) out.push(e);
    const kids = childElements(e);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return out;
}

/** Attribute {ns}local; unprefixed attributes are in no namespace (ns ''). */
export function attribute(el: XmlElement, ns: string, local: string): string | undefined {
  for (const a of el.attributes) if (a.ns === ns && a.local === local) return a.value;
  return undefined;
}

/** Concatenated character data of the element's own text children. */
export function textOf(el: XmlElement): string {
  let s = '';
  for (const c of el.children) if (c.kind === 'text') s += c.text;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Positions, for callers that splice text

export function lineColumn(source: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}

/** Extents already found: documents are immutable and cached by their readers, and writing an offer asks again and again. */
const extents = new WeakMap<XmlElement, Readonly<ElementExtent>>();

/** Finds where an element of a parsed document starts and ends (the document is known to be well-formed). */
export function elementExtent(doc: XmlDocument, el: XmlElement): Readonly<ElementExtent> {
  let extent = extents.get(el);
  if (!extent) extents.set(el, (extent = Object.freeze(findExtent(doc, el))));
  return extent;
}

function findExtent(doc: XmlDocument, el: XmlElement): ElementExtent {
  const src = doc.source;
  const start = el.start;
  const gt = endOfTag(src, start);
  const startTagEnd = gt + 1;
  if (src[gt - 1] === '/') return { start, startTagEnd, endTagStart: startTagEnd, end: startTagEnd, selfClosing: true };
  let depth = 1;
  let i = startTagEnd;
  for (;;) {
    const lt = src.indexOf('<', i);
    if (lt < 0) throw new AdmissionError('AC_ERR_INTERNAL', `Unterminated element ${el.qname}`);
    if (src.startsWith('<!--', lt)) i = src.indexOf('-->', lt + 4) + 3;
    else if (src.startsWith('<![CDATA[', lt)) i = src.indexOf(']]>', lt + 9) + 3;
    else if (src.startsWith('<?', lt)) i = src.indexOf('?>', lt + 2) + 2;
    else if (src[lt + 1] === '/') {
      const close = src.indexOf('>', lt);
      depth--;
      if (depth === 0) return { start, startTagEnd, endTagStart: lt, end: close + 1, selfClosing: false };
      i = close + 1;
    } else {
      const close = endOfTag(src, lt);
      if (src[close - 1] !== '/') depth++;
      i = close + 1;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Escaping, for callers that write XML text

/** True when every character may appear in an XML 1.0 document (even as a character reference). */
export function isXmlChars(s: string): boolean {
  return !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** Escapes character data. `>` is escaped too so that `]]>` can never appear. */
export function escapeText(s: string): string {
  return s.replace(/[&<>\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;'));
}

/** Escapes an attribute value for double quotes; tab and line ends become references so they survive normalisation. */
export function escapeAttribute(s: string): string {
  return s.replace(/[&<>"\t\n\r]/g, (c) => ATTR_ESCAPES[c]!);
}

const ATTR_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

// ---------------------------------------------------------------------------------------------
// Internals

function normalise(xml: string): string {
  const noBom = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml;
  return noBom.replace(/\r\n?/g, '\n');
}

function malformed(reason: string, line: number, column: number): AdmissionError {
  return new AdmissionError('AC_ERR_MALFORMED_XML', `The XML document is malformed at line ${line}, column ${column}: ${reason}`, [
    { field: `line ${line}, column ${column}`, reason },
  ]);
}

/** Index of the `>` closing the tag that starts at `lt`, skipping quoted attribute values. */
function endOfTag(src: string, lt: number): number {
  let quote = '';
  for (let j = lt + 1; j < src.length; j++) {
    const ch = src[j];
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '>') return j;
  }
  throw new AdmissionError('AC_ERR_INTERNAL', 'Unterminated tag');
}

interface ScanResult {
  readonly forbidden: ErrorDetail[];
  readonly malformed: { index: number; reason: string } | undefined;
}

const REFERENCE = /&(?:#([0-9]+)|#x([0-9a-fA-F]+)|([A-Za-z_:][A-Za-z0-9_.:-]*));/y;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * One linear pass over the document, before any parser sees it: finds the forbidden DTD constructs wherever they are
 * (outside comments and CDATA, where they are plain text), and the well-formedness errors XMLValidator does not catch
 * (references to undeclared entities, '<' in attribute values, several roots, text outside the root).
 * Never throws: on a truncated construct it stops and lets the validator describe the problem.
 */
function lexicalScan(src: string): ScanResult {
  const forbidden: ErrorDetail[] = [];
  let bad: { index: number; reason: string } | undefined;
  const fail = (index: number, reason: string): void => {
    if (!bad) bad = { index, reason };
  };
  const at = (index: number): string => {
    const { line, column } = lineColumn(src, index);
    return `line ${line}, column ${column}`;
  };
  const checkReference = (i: number): void => {
    REFERENCE.lastIndex = i;
    const m = REFERENCE.exec(src);
    if (!m) return fail(i, "'&' must start a character or entity reference such as &amp;");
    if (m[3] !== undefined) {
      if (!(m[3] in PREDEFINED)) fail(i, `reference to undeclared entity &${m[3]}; (only the five predefined entities exist without a DTD)`);
      return;
    }
    const code = m[1] !== undefined ? Number.parseInt(m[1], 10) : Number.parseInt(m[2]!, 16);
    if (!isAllowedCodePoint(code)) fail(i, `character reference ${m[0]} is not an allowed XML character`);
  };

  let depth = 0;
  let rootSeen = false;
  let depthReported = false;
  const n = src.length;
  let i = 0;
  while (i < n) {
    const ch = src[i];
    if (ch === '<') {
      if (src.startsWith('<!--', i)) {
        const e = src.indexOf('-->', i + 4);
        if (e < 0) break;
        i = e + 3;
      } else if (src.startsWith('<![CDATA[', i)) {
        if (depth === 0) fail(i, 'CDATA section outside the root element');
        const e = src.indexOf(']]>', i + 9);
        if (e < 0) break;
        i = e + 3;
      } else if (src.startsWith('<?', i)) {
        const e = src.indexOf('?>', i + 2);
        if (e < 0) break;
        i = e + 2;
      } else if (src[i + 1] === '!') {
        const word = /^<!([A-Za-z]*)/.exec(src.slice(i, i + 16))![1]!.toUpperCase();
        if (word === 'DOCTYPE') {
          forbidden.push({
            field: 'DOCTYPE',
            reason: `document type declaration at ${at(i)}: DTDs are refused (entity expansion, external fetches)`,
          });
          const end = scanDoctype(src, i, (index, name) =>
            forbidden.push({ field: `ENTITY ${name}`, reason: `entity declaration at ${at(index)}: entity declarations are refused` }),
          );
          if (end < 0) break;
          i = end;
        } else {
          const what = word === 'ENTITY' ? `ENTITY ${/^<!ENTITY\s+(%\s+)?([^\s"'>]*)/i.exec(src.slice(i, i + 200))?.[2] ?? ''}`.trim() : `<!${word}`;
          forbidden.push({ field: what, reason: `markup declaration at ${at(i)}: DTD declarations are refused` });
          const e = src.indexOf('>', i);
          if (e < 0) break;
          i = e + 1;
        }
      } else {
        const isEnd = src[i + 1] === '/';
        let quote = '';
        let j = i + 1;
        for (; j < n; j++) {
          const c = src[j];
          if (quote) {
            if (c === quote) quote = '';
            else if (c === '<') fail(j, "'<' is not allowed in an attribute value");
            else if (c === '&') checkReference(j);
          } else if (c === '"' || c === "'") quote = c;
          else if (c === '>') break;
        }
        if (j >= n) break;
        if (isEnd) depth--;
        else {
          if (depth === 0) {
            if (rootSeen) fail(i, 'a document has exactly one root element; found another one');
            rootSeen = true;
          }
          if (src[j - 1] !== '/') depth++;
          if (depth > MAX_XML_DEPTH && !depthReported) {
            depthReported = true;
            forbidden.push({ field: 'nesting depth', reason: `elements nested deeper than ${MAX_XML_DEPTH} levels at ${at(i)}` });
          }
        }
        i = j + 1;
      }
    } else {
      if (ch === '&') {
        if (depth === 0) fail(i, 'text outside the root element');
        else checkReference(i);
      } else if (depth === 0 && ch !== ' ' && ch !== '\n' && ch !== '\t' && ch !== '\r') {
        fail(i, 'text outside the root element');
      }
      i++;
    }
  }
  if (!rootSeen) fail(0, 'no root element');
  return { forbidden, malformed: bad };
}

/**
 * Skips a DOCTYPE declaration starting at `lt` (quote-, comment- and subset-aware), reporting each ENTITY declaration
 * of its internal subset. Returns the index after its closing `>`, or -1 when it never closes.
 */
function scanDoctype(src: string, lt: number, onEntity: (index: number, name: string) => void): number {
  let inSubset = false;
  let quote = '';
  for (let j = lt + 9; j < src.length; j++) {
    const c = src[j];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (inSubset) {
      if (src.startsWith('<!--', j)) {
        const e = src.indexOf('-->', j + 4);
        if (e < 0) return -1;
        j = e + 2;
      } else if (src.startsWith('<?', j)) {
        const e = src.indexOf('?>', j + 2);
        if (e < 0) return -1;
        j = e + 1;
      } else if (src.startsWith('<!ENTITY', j)) {
        const m = /^<!ENTITY\s+(%\s+)?([^\s"'>]+)/.exec(src.slice(j, j + 200));
        onEntity(j, (m?.[1] ? '%' : '') + (m?.[2] ?? '?'));
      } else if (c === ']') inSubset = false;
    } else if (c === '[') inSubset = true;
    else if (c === '>') return j + 1;
  }
  return -1;
}

function isAllowedCodePoint(c: number): boolean {
  return (
    c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff)
  );
}

/** Decodes the references of a scanned (hence valid) text. */
function decodeReferences(s: string): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(/&(?:#([0-9]+)|#x([0-9a-fA-F]+)|([A-Za-z]+));/g, (whole, dec?: string, hex?: string, name?: string) => {
    if (dec !== undefined) return String.fromCodePoint(Number.parseInt(dec, 10));
    if (hex !== undefined) return String.fromCodePoint(Number.parseInt(hex, 16));
    return PREDEFINED[name!] ?? whole;
  });
}

/** XML attribute-value normalisation (literal whitespace → space, references kept exact), then decoding. */
function decodeAttribute(raw: string): string {
  return decodeReferences(raw.replace(/[\t\n\r]/g, ' '));
}

// fast-xml-parser in its most literal mode: ordered nodes, nothing decoded, trimmed or converted, with start offsets.
const PARSER_OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: false,
  removeNSPrefix: false,
  allowBooleanAttributes: false,
  cdataPropName: '#cdata',
  commentPropName: false as const,
  ignoreDeclaration: true,
  ignorePiTags: true,
  captureMetaData: true,
} as const;

const META = XMLParser.getMetaDataSymbol() as unknown as symbol;

type OrderedNode = Record<string, unknown> & { [META]?: { startIndex?: number } };

function tagOf(node: OrderedNode): string | undefined {
  for (const k of Object.keys(node)) if (k !== ':@') return k;
  return undefined;
}

const NCNAME = /^[A-Za-z_\u00C0-\uFFFF][A-Za-z0-9_.\-\u00B7\u00C0-\uFFFF]*$/;

function splitQName(qname: string, where: () => AdmissionError): { prefix: string; local: string } {
  const parts = qname.split(':');
  if (parts.length === 1 && NCNAME.test(qname)) return { prefix: '', local: qname };
  if (parts.length === 2 && NCNAME.test(parts[0]!) && NCNAME.test(parts[1]!)) return { prefix: parts[0]!, local: parts[1]! };
  throw where();
}

function buildElement(src: string, node: OrderedNode, parentScope: ReadonlyMap<string, string>): XmlElement {
  const qname = tagOf(node)!;
  const start = node[META]?.startIndex ?? 0;
  const fail = (reason: string): AdmissionError => {
    const { line, column } = lineColumn(src, start);
    return malformed(`${reason} (element <${qname}>)`, line, column);
  };
  const rawAttributes = (node[':@'] ?? {}) as Record<string, unknown>;

  const declarations = new Map<string, string>();
  const plain: [string, string][] = [];
  for (const [name, raw] of Object.entries(rawAttributes)) {
    const value = decodeAttribute(String(raw));
    if (name === 'xmlns') {
      declarations.set('', value);
    } else if (name.startsWith('xmlns:')) {
      const p = name.slice(6);
      if (!NCNAME.test(p)) throw fail(`invalid namespace prefix '${p}'`);
      if (value === '') throw fail(`the prefix '${p}' cannot be undeclared in XML 1.0`);
      if (p === 'xmlns' || (p === 'xml') !== (value === XML_NS)) throw fail(`the prefix '${p}' cannot be bound to '${value}'`);
      declarations.set(p, value);
    } else {
      plain.push([name, value]);
    }
  }
  const scope: ReadonlyMap<string, string> = declarations.size > 0 ? new Map([...parentScope, ...declarations]) : parentScope;

  const { prefix, local } = splitQName(qname, () => fail(`'${qname}' is not a valid qualified name`));
  let ns = '';
  if (prefix) {
    const bound = scope.get(prefix);
    if (bound === undefined) throw fail(`the prefix '${prefix}' is not bound to a namespace`);
    ns = bound;
  } else {
    ns = scope.get('') ?? '';
  }

  const attributes: XmlAttribute[] = [];
  const seen = new Set<string>();
  for (const [name, value] of plain) {
    const a = splitQName(name, () => fail(`'${name}' is not a valid attribute name`));
    let ans = '';
    if (a.prefix) {
      const bound = scope.get(a.prefix);
      if (bound === undefined) throw fail(`the prefix '${a.prefix}' of attribute '${name}' is not bound to a namespace`);
      ans = bound;
    }
    const key = `{${ans}}${a.local}`;
    if (seen.has(key)) throw fail(`attribute ${key} appears twice (through different prefixes)`);
    seen.add(key);
    attributes.push({ qname: name, ns: ans, local: a.local, value });
  }

  const children: XmlNode[] = [];
  for (const child of (node[qname] ?? []) as OrderedNode[]) {
    const tag = tagOf(child);
    if (tag === undefined || tag.startsWith('?')) continue;
    if (tag === '#text') children.push({ kind: 'text', text: decodeReferences(String(child['#text'])) });
    else if (tag === '#cdata') {
      const parts = child['#cdata'] as { '#text'?: unknown }[];
      children.push({ kind: 'text', text: parts.map((p) => String(p['#text'] ?? '')).join('') });
    } else children.push(buildElement(src, child, scope));
  }

  return { kind: 'element', qname, prefix, local, ns, attributes, declarations, scope, children, start };
}
