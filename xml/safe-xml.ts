/**
 * Safe, namespace-aware XML reading: refuses DTDs and entity declarations, checks well-formedness as libxml2 does, resolves prefixes to URIs.
 * Knows nothing about OPTIMIS nor about bytes (xml/decode.ts turns bytes into the string): shared by manifests (formats/optimis-manifest),
 * host-info and the TREC answers; it returns an element tree with source positions that the manifest reader and offer writer build on.
 */
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
 * Parses an XML document safely, in one pass. Throws AdmissionError:
 * AC_ERR_FORBIDDEN_XML for DOCTYPE / ENTITY (and other DTD markup) or absurd nesting, where they are met (nothing of them
 * is ever interpreted); AC_ERR_MALFORMED_XML with line and column for anything that is not well-formed XML 1.0 (fifth
 * edition) with namespaces, at the first error, as libxml2 refuses it.
 */
export function parseXml(xml: string): XmlDocument {
  if (typeof xml !== 'string') {
    throw new AdmissionError('AC_ERR_MALFORMED_XML', 'The XML document is not a string', [{ field: 'xml', reason: `got ${typeof xml}` }]);
  }
  const source = normalise(xml);
  return { source, root: new Reader(source).document() };
}

/** What an XML declaration at the very start of `text` says, or undefined when there is none (or it is malformed). */
export function xmlDeclaration(text: string): { readonly encoding: string | undefined; readonly encodingAt: number; readonly end: number } | undefined {
  XML_DECLARATION.lastIndex = 0;
  const m = XML_DECLARATION.exec(text);
  if (!m) return undefined;
  const encoding = m[3] ?? m[4];
  return { encoding, encodingAt: encoding === undefined ? -1 : m[0].indexOf(encoding, m[0].indexOf('encoding') + 8), end: m[0].length };
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

/** libxml2 refuses longer names ("Name too long"); so do we, so that nothing it calls malformed gets through here. */
const MAX_NAME_LENGTH = 50_000;
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

const TAB = 0x09;
const LF = 0x0a;
const SPACE = 0x20;
const BANG = 0x21;
const QUOT = 0x22;
const HASH = 0x23;
const AMP = 0x26;
const APOS = 0x27;
const SLASH = 0x2f;
const COLON = 0x3a;
const SEMI = 0x3b;
const LT = 0x3c;
const EQ = 0x3d;
const GT = 0x3e;
const QUEST = 0x3f;
const RBRACKET = 0x5d;

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XMLDecl (production 23) with the CR kept in S, so that xml/decode.ts can read it from undecoded bytes too. */
const XML_DECLARATION =
  /<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"(1\.[0-9]+)"|'(1\.[0-9]+)')(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"([A-Za-z][A-Za-z0-9._-]*)"|'([A-Za-z][A-Za-z0-9._-]*)'))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*\?>/y;

/**
 * RFC 3986 URI-reference, as libxml2 checks namespace names (it calls `a b` or `é` a namespace error). The IP literal
 * is as lax as libxml2's. Every repetition is followed by a character it cannot match, so matching stays linear.
 */
const URI_REFERENCE = (() => {
  const pct = '%[0-9A-Fa-f]{2}';
  const unreserved = 'A-Za-z0-9\\-._~';
  const sub = "!$&'()*+,;=";
  const pchar = `(?:[${unreserved}${sub}:@]|${pct})`;
  const segment = `${pchar}*`;
  const segmentNz = `${pchar}+`;
  const segmentNzNc = `(?:[${unreserved}${sub}@]|${pct})+`;
  const query = `(?:[${unreserved}${sub}:@/?]|${pct})*`;
  const authority = `(?:(?:[${unreserved}${sub}:]|${pct})*@)?(?:\\[[^\\]/?#@]*\\]|(?:[${unreserved}${sub}]|${pct})*)(?::[0-9]*)?`;
  const abempty = `(?:/${segment})*`;
  const absolute = `/(?:${segmentNz}(?:/${segment})*)?`;
  const tail = `(?:\\?${query})?(?:#${query})?`;
  const hier = `(?://${authority}${abempty}|${absolute}|${segmentNz}(?:/${segment})*|)`;
  const relative = `(?://${authority}${abempty}|${absolute}|${segmentNzNc}(?:/${segment})*|)`;
  return new RegExp(`^(?:[A-Za-z][A-Za-z0-9+.\\-]*:${hier}${tail}|${relative}${tail})$`);
})();

const EMPTY_DECLARATIONS: ReadonlyMap<string, string> = new Map();
const INITIAL_SCOPE: ReadonlyMap<string, string> = new Map([['xml', XML_NS]]);

function normalise(xml: string): string {
  const noBom = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml;
  return noBom.indexOf('\r') < 0 ? noBom : noBom.replace(/\r\n?/g, '\n');
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

function isSpace(c: number): boolean {
  // After normalise() there is no CR left: S is space, tab and line feed.
  return c === SPACE || c === LF || c === TAB;
}

/** NameStartChar (production 4), on a code point. */
function isNameStart(c: number): boolean {
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === COLON;
  return (
    (c >= 0xc0 && c <= 0xd6) ||
    (c >= 0xd8 && c <= 0xf6) ||
    (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) ||
    (c >= 0x37f && c <= 0x1fff) ||
    c === 0x200c ||
    c === 0x200d ||
    (c >= 0x2070 && c <= 0x218f) ||
    (c >= 0x2c00 && c <= 0x2fef) ||
    (c >= 0x3001 && c <= 0xd7ff) ||
    (c >= 0xf900 && c <= 0xfdcf) ||
    (c >= 0xfdf0 && c <= 0xfffd) ||
    (c >= 0x10000 && c <= 0xeffff)
  );
}

/** NameChar (production 4a), on a code point. */
function isNameChar(c: number): boolean {
  if (c < 0x80) return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
  return isNameStart(c) || c === 0xb7 || (c >= 0x300 && c <= 0x36f) || c === 0x203f || c === 0x2040;
}

function isAllowedCodePoint(c: number): boolean {
  return (
    c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff)
  );
}

function hex(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Code point at `i` (a surrogate pair counts as one); a lone surrogate is returned as itself, which no production allows. */
function codePointAt(src: string, i: number): number {
  const c = src.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = src.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return c;
}

interface RawAttribute {
  readonly qname: string;
  readonly value: string;
  /** Index of the name's first character, for error positions. */
  readonly at: number;
}

type OpenElement = XmlElement & { readonly children: XmlNode[] };

/**
 * The whole of parsing: one left-to-right pass over the normalised source that checks every character against the
 * productions and builds the tree as it goes (an explicit stack, no recursion). The first error stops it.
 */
class Reader {
  private readonly n: number;
  /** Where the construct just read ends: the methods that read one set it, their callers continue from it. */
  private next = 0;
  /** Whether the last start tag read was an empty-element tag. */
  private empty = false;

  constructor(private readonly src: string) {
    this.n = src.length;
  }

  document(): XmlElement {
    const { src, n } = this;
    let i = 0;
    // '<?xml' followed by anything but a NameChar is the XML declaration (or a malformed one): only here is it allowed.
    if (src.startsWith('<?xml', 0) && !(this.n > 5 && isNameChar(codePointAt(src, 5)))) i = this.declaration();
    i = this.misc(i);
    if (i >= n) this.fail(i, 'no root element');
    if (src.charCodeAt(i) !== LT) this.fail(i, 'text outside the root element');
    if (src.startsWith('</', i)) this.fail(i, 'end tag before any start tag');
    const end = this.content(i);
    const root = end.root;
    i = this.misc(end.next);
    if (i < n) {
      if (src.startsWith('</', i)) this.fail(i, 'end tag without a start tag (after the root element)');
      if (src.charCodeAt(i) === LT) this.fail(i, 'a document has exactly one root element; found another one');
      this.fail(i, 'text outside the root element');
    }
    return root;
  }

  // ---- errors --------------------------------------------------------------------------------

  private fail(index: number, reason: string): never {
    const { line, column } = lineColumn(this.src, index);
    throw malformed(reason, line, column);
  }

  private at(index: number): string {
    const { line, column } = lineColumn(this.src, index);
    return `line ${line}, column ${column}`;
  }

  private badChar(i: number): never {
    const c = this.src.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) this.fail(i, `lone surrogate ${hex(c)} is not a character (is the text UTF-16 cut in the middle of a pair?)`);
    this.fail(i, `character ${hex(c)}${c === 0 ? ' (NUL)' : ''} is not allowed in XML 1.0`);
  }

  /**
   * Checks [from, to) against the Char production (2). Inlined by hand in the text and attribute loops, which are the
   * bulk of a document; used as is for comments, processing instructions and CDATA sections.
   */
  private checkChars(from: number, to: number): void {
    const src = this.src;
    for (let i = from; i < to; i++) {
      const c = src.charCodeAt(i);
      if (c < SPACE) {
        if (c !== LF && c !== TAB) this.badChar(i);
      } else if (c >= 0xd800) {
        if (c <= 0xdbff) {
          const d = src.charCodeAt(i + 1);
          if (!(d >= 0xdc00 && d <= 0xdfff) || i + 1 >= to) this.badChar(i);
          i++;
        } else if (c <= 0xdfff || c >= 0xfffe) this.badChar(i);
      }
    }
  }

  // ---- prolog and epilog ---------------------------------------------------------------------

  private declaration(): number {
    XML_DECLARATION.lastIndex = 0;
    const m = XML_DECLARATION.exec(this.src);
    if (!m) {
      const end = this.src.indexOf('?>');
      const text = JSON.stringify(this.src.slice(0, end < 0 || end > 120 ? 40 : end + 2));
      this.fail(0, `malformed XML declaration ${text}: expected <?xml version="1.x" [encoding="…"] [standalone="yes|no"]?> in this order`);
    }
    return m[0].length;
  }

  /** Misc* (production 27): whitespace, comments and processing instructions; DTD markup ends it in a refusal. */
  private misc(from: number): number {
    const { src, n } = this;
    let i = from;
    for (;;) {
      while (i < n && isSpace(src.charCodeAt(i))) i++;
      if (i >= n || src.charCodeAt(i) !== LT) return i;
      const c1 = src.charCodeAt(i + 1);
      if (c1 === QUEST) i = this.pi(i);
      else if (c1 === BANG) {
        if (src.startsWith('<!--', i)) i = this.comment(i);
        else if (src.startsWith('<![CDATA[', i)) this.fail(i, 'CDATA section outside the root element');
        else this.markupDeclaration(i);
      } else return i;
    }
  }

  /** `<!` that is neither a comment nor CDATA: DTD markup is refused as such, anything else is malformed. */
  private markupDeclaration(lt: number): never {
    const src = this.src;
    const word = /^<!([A-Za-z]*)/.exec(src.slice(lt, lt + 16))![1]!.toUpperCase();
    if (word === 'DOCTYPE') {
      const forbidden: ErrorDetail[] = [
        { field: 'DOCTYPE', reason: `document type declaration at ${this.at(lt)}: DTDs are refused (entity expansion, external fetches)` },
      ];
      scanDoctype(src, lt, (index, name) =>
        forbidden.push({ field: `ENTITY ${name}`, reason: `entity declaration at ${this.at(index)}: entity declarations are refused` }),
      );
      throw forbiddenError(forbidden);
    }
    if (word === 'ENTITY' || word === 'ELEMENT' || word === 'ATTLIST' || word === 'NOTATION') {
      const what = word === 'ENTITY' ? `ENTITY ${/^<!ENTITY\s+(%\s+)?([^\s"'>]*)/i.exec(src.slice(lt, lt + 200))?.[2] ?? ''}`.trim() : `<!${word}`;
      throw forbiddenError([{ field: what, reason: `markup declaration at ${this.at(lt)}: DTD declarations are refused` }]);
    }
    this.fail(lt, "'<!' must start a comment '<!--' or, inside an element, a CDATA section '<![CDATA['");
  }

  /** Comment (production 15): no '--' inside, so none may end in '--->'. Returns the index after '-->'. */
  private comment(lt: number): number {
    const src = this.src;
    const dashes = src.indexOf('--', lt + 4);
    if (dashes < 0) this.fail(lt, "comment not closed by '-->'");
    if (src.charCodeAt(dashes + 2) !== GT) {
      this.fail(dashes, src.startsWith('--->', dashes) ? "a comment cannot end in '--->'" : "'--' is not allowed inside a comment");
    }
    this.checkChars(lt + 4, dashes);
    return dashes + 3;
  }

  /** PI (production 16); the target 'xml' is reserved in any case. Returns the index after '?>'. */
  private pi(lt: number): number {
    const src = this.src;
    const t = lt + 2;
    if (t >= this.n || !isNameStart(codePointAt(src, t))) this.fail(t, "'<?' must be followed by a processing-instruction target");
    const end = this.name(t);
    const target = src.slice(t, end);
    if (target.toLowerCase() === 'xml') {
      this.fail(lt, target === 'xml' ? 'XML declaration allowed only at the start of the document' : `the processing-instruction target '${target}' is reserved`);
    }
    if (target.includes(':')) this.fail(t, `colons are not allowed in processing-instruction targets ('${target}')`);
    if (src.startsWith('?>', end)) return end + 2;
    if (!isSpace(src.charCodeAt(end))) this.fail(end, `whitespace required after the processing-instruction target '${target}'`);
    const close = src.indexOf('?>', end);
    if (close < 0) this.fail(lt, "processing instruction not closed by '?>'");
    this.checkChars(end, close);
    return close + 2;
  }

  // ---- names and references ------------------------------------------------------------------

  /** End of the Name (production 5) starting at `i`, whose first character the caller has checked to be a NameStartChar. */
  private name(i: number): number {
    const src = this.src;
    let j = i;
    for (;;) {
      const c = src.charCodeAt(j);
      if (c < 0x80) {
        if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x3a) || c === 0x5f || c === 0x2d || c === 0x2e) {
          j++;
          continue;
        }
        break;
      }
      const cp = codePointAt(src, j);
      if (!isNameChar(cp)) break;
      j += cp > 0xffff ? 2 : 1;
    }
    if (j - i > MAX_NAME_LENGTH) this.fail(i, `name longer than ${MAX_NAME_LENGTH} characters`);
    return j;
  }

  /** Index of the colon of a QName (Namespaces in XML, production 7), -1 without prefix; `what` names it in errors. */
  private colonOf(qname: string, at: number, what: string): number {
    const colon = qname.indexOf(':');
    if (colon < 0) return colon;
    if (colon === 0 || colon === qname.length - 1 || qname.indexOf(':', colon + 1) >= 0 || !isNameStart(codePointAt(qname, colon + 1))) {
      this.fail(at, `'${qname}' is not a valid qualified ${what} name (prefix:local, each a name without colons)`);
    }
    return colon;
  }

  /** The reference (production 67) at `amp`, decoded; sets `next` to the index after its ';'. */
  private reference(amp: number): string {
    const src = this.src;
    let j = amp + 1;
    if (src.charCodeAt(j) === HASH) {
      const isHex = src.charCodeAt(j + 1) === 0x78;
      j += isHex ? 2 : 1;
      const digitsStart = j;
      let value = 0;
      for (;; j++) {
        const c = src.charCodeAt(j);
        let d: number;
        if (c >= 0x30 && c <= 0x39) d = c - 0x30;
        else if (isHex && ((c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) d = (c | 0x20) - 0x61 + 10;
        else break;
        // Saturate: anything past U+10FFFF is refused below, however long the digits go on.
        value = Math.min(value * (isHex ? 16 : 10) + d, 0x110000);
      }
      if (j === digitsStart || src.charCodeAt(j) !== SEMI) {
        this.fail(amp, `malformed character reference: expected &#digits; or &#xhexdigits;`);
      }
      if (!isAllowedCodePoint(value)) this.fail(amp, `character reference ${src.slice(amp, j + 1)} is not an allowed XML character`);
      this.next = j + 1;
      return String.fromCodePoint(value);
    }
    if (j >= this.n || !isNameStart(codePointAt(src, j))) this.fail(amp, "'&' must start a character or entity reference such as &amp;");
    const end = this.name(j);
    if (src.charCodeAt(end) !== SEMI) this.fail(amp, `entity reference &${src.slice(j, end)} is not closed by ';'`);
    const name = src.slice(j, end);
    const value = PREDEFINED[name];
    if (value === undefined) this.fail(amp, `reference to undeclared entity &${name}; (only the five predefined entities exist without a DTD)`);
    this.next = end + 1;
    return value;
  }

  // ---- elements ------------------------------------------------------------------------------

  /** element (production 39), from the root's '<': content, children and end tags, iteratively. */
  private content(rootLt: number): { root: XmlElement; next: number } {
    const { src, n } = this;
    const root = this.startTag(rootLt, INITIAL_SCOPE);
    if (this.empty) return { root, next: this.next };
    const open: OpenElement[] = [root];
    let text = '';
    let i = this.next;
    let run = i;
    for (;;) {
      // Character data (production 14) up to the next markup, checked character by character.
      let c = 0;
      for (; i < n; i++) {
        c = src.charCodeAt(i);
        if (c === LT || c === AMP) break;
        if (c < SPACE) {
          if (c !== LF && c !== TAB) this.badChar(i);
        } else if (c === RBRACKET) {
          if (src.charCodeAt(i + 1) === RBRACKET && src.charCodeAt(i + 2) === GT) this.fail(i, "']]>' is not allowed in character data");
        } else if (c >= 0xd800) {
          if (c <= 0xdbff) {
            const d = src.charCodeAt(i + 1);
            if (!(d >= 0xdc00 && d <= 0xdfff)) this.badChar(i);
            i++;
          } else if (c <= 0xdfff || c >= 0xfffe) this.badChar(i);
        }
      }
      if (i > run) text += src.slice(run, i);
      const top = open[open.length - 1]!;
      if (i >= n) this.fail(n, `the element <${top.qname}> opened at ${this.at(top.start)} is not closed`);
      if (c === AMP) {
        text += this.reference(i);
        run = i = this.next;
        continue;
      }
      const c1 = src.charCodeAt(i + 1);
      if (c1 === SLASH) {
        const nameEnd = i + 2 + top.qname.length;
        if (!this.sameName(top.start + 1, i + 2, top.qname.length) || (nameEnd < n && isNameChar(codePointAt(src, nameEnd)))) {
          const other = i + 2 < n && isNameStart(codePointAt(src, i + 2)) ? src.slice(i + 2, this.name(i + 2)) : '';
          this.fail(i, `end tag </${other}> does not match the start tag <${top.qname}> at ${this.at(top.start)}`);
        }
        let j = nameEnd;
        while (j < n && isSpace(src.charCodeAt(j))) j++;
        if (src.charCodeAt(j) !== GT) this.fail(j, `expected '>' to close the end tag </${top.qname}>`);
        if (text) {
          top.children.push({ kind: 'text', text });
          text = '';
        }
        open.pop();
        if (open.length === 0) return { root, next: j + 1 };
        run = i = j + 1;
      } else if (c1 === BANG) {
        if (src.startsWith('<!--', i)) i = this.comment(i);
        else if (src.startsWith('<![CDATA[', i)) {
          const close = src.indexOf(']]>', i + 9);
          if (close < 0) this.fail(i, "CDATA section not closed by ']]>'");
          this.checkChars(i + 9, close);
          text += src.slice(i + 9, close);
          i = close + 3;
        } else this.markupDeclaration(i);
        run = i;
      } else if (c1 === QUEST) {
        run = i = this.pi(i);
      } else {
        if (text) {
          top.children.push({ kind: 'text', text });
          text = '';
        }
        const el = this.startTag(i, top.scope);
        top.children.push(el);
        if (!this.empty) {
          open.push(el);
          if (open.length > MAX_XML_DEPTH) {
            throw forbiddenError([{ field: 'nesting depth', reason: `elements nested deeper than ${MAX_XML_DEPTH} levels at ${this.at(i)}` }]);
          }
        } else if (open.length + 1 > MAX_XML_DEPTH) {
          throw forbiddenError([{ field: 'nesting depth', reason: `elements nested deeper than ${MAX_XML_DEPTH} levels at ${this.at(i)}` }]);
        }
        run = i = this.next;
      }
    }
  }

  /** Whether the `length` characters at `a` and at `b` are the same (comparing in place: the names are slices). */
  private sameName(a: number, b: number, length: number): boolean {
    const src = this.src;
    if (b + length > this.n) return false;
    for (let k = 0; k < length; k++) if (src.charCodeAt(a + k) !== src.charCodeAt(b + k)) return false;
    return true;
  }

  /** STag / EmptyElemTag (productions 40, 44) at `lt`, with namespace processing; sets `next` and `empty`. */
  private startTag(lt: number, parentScope: ReadonlyMap<string, string>): OpenElement {
    const { src, n } = this;
    const nameAt = lt + 1;
    if (nameAt >= n || !isNameStart(codePointAt(src, nameAt))) this.fail(lt, "'<' must be followed by an element name (write '&lt;' for a literal '<')");
    let j = this.name(nameAt);
    const qname = src.slice(nameAt, j);
    const raw: RawAttribute[] = [];
    for (;;) {
      const spaceAt = j;
      while (j < n && isSpace(src.charCodeAt(j))) j++;
      const c = src.charCodeAt(j);
      if (c === GT) {
        this.empty = false;
        j++;
        break;
      }
      if (c === SLASH) {
        if (src.charCodeAt(j + 1) !== GT) this.fail(j, `'/' must be followed by '>' in the start tag <${qname}>`);
        this.empty = true;
        j += 2;
        break;
      }
      if (j >= n) this.fail(lt, `the start tag <${qname}> is not closed by '>'`);
      if (!isNameStart(codePointAt(src, j))) this.fail(j, `expected an attribute name, '>' or '/>' in the start tag <${qname}>`);
      if (j === spaceAt) this.fail(j, `whitespace required before the attribute in the start tag <${qname}>`);
      const at = j;
      j = this.name(j);
      const name = src.slice(at, j);
      while (j < n && isSpace(src.charCodeAt(j))) j++;
      if (src.charCodeAt(j) !== EQ) this.fail(j, `attribute '${name}' needs a value: expected '='`);
      j++;
      while (j < n && isSpace(src.charCodeAt(j))) j++;
      const value = this.attributeValue(j, name);
      j = this.next;
      raw.push({ qname: name, value, at });
    }
    this.next = j;
    if (raw.length > 1) this.checkDistinct(raw.map((a) => a.qname), raw, (k) => `attribute '${raw[k]!.qname}' appears twice`);
    return this.element(lt, qname, raw, parentScope);
  }

  /** AttValue (production 10) at its opening quote, normalised (literal whitespace → space) and decoded; sets `next`. */
  private attributeValue(q: number, name: string): string {
    const src = this.src;
    const quote = src.charCodeAt(q);
    if (quote !== QUOT && quote !== APOS) this.fail(q, `the value of attribute '${name}' must be in quotes`);
    let out = '';
    let run = q + 1;
    let i = run;
    for (; i < this.n; i++) {
      const c = src.charCodeAt(i);
      if (c === quote) {
        this.next = i + 1;
        return run === q + 1 ? src.slice(run, i) : out + src.slice(run, i);
      }
      if (c === AMP) {
        out += src.slice(run, i) + this.reference(i);
        i = this.next - 1;
        run = this.next;
      } else if (c === LT) this.fail(i, "'<' is not allowed in an attribute value (write '&lt;')");
      else if (c < SPACE) {
        if (c !== LF && c !== TAB) this.badChar(i);
        out += src.slice(run, i) + ' ';
        run = i + 1;
      } else if (c >= 0xd800) {
        if (c <= 0xdbff) {
          const d = src.charCodeAt(i + 1);
          if (!(d >= 0xdc00 && d <= 0xdfff)) this.badChar(i);
          i++;
        } else if (c <= 0xdfff || c >= 0xfffe) this.badChar(i);
      }
    }
    this.fail(q, `the value of attribute '${name}' is not closed`);
  }

  /** Refuses the second of two equal keys (at the position of its item): a linear scan for the usual few, a set for hostile many. */
  private checkDistinct(keys: readonly string[], items: readonly { readonly at: number }[], reason: (k: number) => string): void {
    if (keys.length <= 8) {
      for (let a = 1; a < keys.length; a++) for (let b = 0; b < a; b++) if (keys[a] === keys[b]) this.fail(items[a]!.at, reason(a));
      return;
    }
    const seen = new Set<string>();
    keys.forEach((k, a) => {
      if (seen.has(k)) this.fail(items[a]!.at, reason(a));
      seen.add(k);
    });
  }

  /** Namespace processing of one start tag (Namespaces in XML 1.0, with libxml2's checks on the declared URIs). */
  private element(lt: number, qname: string, raw: readonly RawAttribute[], parentScope: ReadonlyMap<string, string>): OpenElement {
    let declarations = EMPTY_DECLARATIONS;
    const plain: RawAttribute[] = [];
    for (const a of raw) {
      const name = a.qname;
      if (name === 'xmlns') {
        if (a.value === XML_NS || a.value === XMLNS_NS) this.fail(a.at, `the default namespace cannot be '${a.value}'`);
        this.checkNamespaceName(a);
        if (declarations === EMPTY_DECLARATIONS) declarations = new Map();
        (declarations as Map<string, string>).set('', a.value);
      } else if (name.startsWith('xmlns:')) {
        const p = name.slice(this.colonOf(name, a.at, 'attribute') + 1);
        if (a.value === '') this.fail(a.at, `the prefix '${p}' cannot be undeclared in XML 1.0`);
        if (p === 'xmlns' || a.value === XMLNS_NS || (p === 'xml') !== (a.value === XML_NS)) this.fail(a.at, `the prefix '${p}' cannot be bound to '${a.value}'`);
        this.checkNamespaceName(a);
        if (declarations === EMPTY_DECLARATIONS) declarations = new Map();
        (declarations as Map<string, string>).set(p, a.value);
      } else plain.push(a);
    }
    const scope: ReadonlyMap<string, string> = declarations.size > 0 ? new Map([...parentScope, ...declarations]) : parentScope;

    const colon = this.colonOf(qname, lt, 'element');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const local = colon < 0 ? qname : qname.slice(colon + 1);
    let ns: string;
    if (prefix) {
      const bound = scope.get(prefix);
      if (bound === undefined) this.fail(lt, `the prefix '${prefix}' is not bound to a namespace (element <${qname}>)`);
      ns = bound;
    } else ns = scope.get('') ?? '';

    const attributes: XmlAttribute[] = [];
    const prefixed: RawAttribute[] = [];
    const expanded: XmlAttribute[] = [];
    for (const a of plain) {
      const c = this.colonOf(a.qname, a.at, 'attribute');
      if (c < 0) {
        attributes.push({ qname: a.qname, ns: '', local: a.qname, value: a.value });
        continue;
      }
      const p = a.qname.slice(0, c);
      const bound = scope.get(p);
      if (bound === undefined) this.fail(a.at, `the prefix '${p}' of attribute '${a.qname}' is not bound to a namespace (element <${qname}>)`);
      const attr = { qname: a.qname, ns: bound, local: a.qname.slice(c + 1), value: a.value };
      attributes.push(attr);
      prefixed.push(a);
      expanded.push(attr);
    }
    // Unprefixed attributes are distinct by their names already; prefixed ones can clash through two prefixes of one URI.
    if (expanded.length > 1) {
      const clash = (k: number): string => `attribute {${expanded[k]!.ns}}${expanded[k]!.local} appears twice (through different prefixes)`;
      if (expanded.length <= 8) {
        for (let a = 1; a < expanded.length; a++) {
          for (let b = 0; b < a; b++) if (expanded[a]!.local === expanded[b]!.local && expanded[a]!.ns === expanded[b]!.ns) this.fail(prefixed[a]!.at, clash(a));
        }
      } else {
        this.checkDistinct(expanded.map((x) => `{${x.ns}}${x.local}`), prefixed, clash);
      }
    }

    return { kind: 'element', qname, prefix, local, ns, attributes, declarations, scope, children: [], start: lt };
  }

  private checkNamespaceName(a: RawAttribute): void {
    if (a.value !== '' && !URI_REFERENCE.test(a.value)) this.fail(a.at, `${a.qname}: '${a.value}' is not a URI reference (RFC 3986)`);
  }
}

function forbiddenError(details: ErrorDetail[]): AdmissionError {
  const names = details.map((f) => f.field).join(', ');
  return new AdmissionError('AC_ERR_FORBIDDEN_XML', `The XML document uses forbidden constructs: ${names}`, details);
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
