/**
 * Request bytes → the XML document as a string, per XML 1.0 appendix F and RFC 7303: the byte order mark first, then the
 * charset parameter, then the encoding declaration. Knows no HTTP beyond the charset it is handed; parseXml checks the rest.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { AdmissionError } from '../model/errors';
import { xmlDeclaration } from './safe-xml';

/** The encodings we decode. Everything else (UTF-32, EBCDIC, windows-125x, Shift_JIS…) is refused by name. */
export type XmlEncoding = 'UTF-8' | 'UTF-16LE' | 'UTF-16BE' | 'ISO-8859-1' | 'US-ASCII';

/** Labels, lower case, as the XML spec and the IANA registry spell them; 'UTF-16' leaves the byte order to the BOM. */
const LABELS: Readonly<Record<string, XmlEncoding | 'UTF-16'>> = {
  'utf-8': 'UTF-8',
  utf8: 'UTF-8',
  'utf-16': 'UTF-16',
  utf16: 'UTF-16',
  'utf-16le': 'UTF-16LE',
  'utf-16be': 'UTF-16BE',
  'iso-8859-1': 'ISO-8859-1',
  'iso_8859-1': 'ISO-8859-1',
  iso8859_1: 'ISO-8859-1',
  latin1: 'ISO-8859-1',
  'us-ascii': 'US-ASCII',
  ascii: 'US-ASCII',
};

const SUPPORTED = 'UTF-8, UTF-16, ISO-8859-1 or US-ASCII';

/**
 * Decodes an XML entity received as bytes. `charset` is the Content-Type parameter, if any. Throws AdmissionError:
 * AC_ERR_UNSUPPORTED_MEDIA_TYPE (415) naming an encoding we do not decode; AC_ERR_MALFORMED_XML (400) with line and
 * column for bytes that are not what their encoding says (invalid UTF-8 is never replaced), a second BOM, or a BOM that
 * contradicts the declaration.
 *
 * The string has no BOM. When the declaration names another encoding than UTF-8, its name is replaced by "UTF-8" padded
 * with spaces to the same length: the string is no longer in that encoding, everything written from it (the offer) is
 * UTF-8, and every position in the document stays where it was.
 */
export function decodeXml(bytes: Uint8Array, charset?: string): string {
  const labelled = charset === undefined ? undefined : label(charset, () => unsupportedCharset(charset));
  const bom = byteOrderMark(bytes);
  let encoding: XmlEncoding;
  // What chose the encoding: a BOM and the declaration must agree; a charset overrides the declaration (RFC 7303 §3).
  let chosenBy: 'bom' | 'charset' | 'sniffed';
  if (bom) {
    encoding = bom.encoding;
    chosenBy = 'bom';
  } else if (labelled) {
    // RFC 2781 §4.3: UTF-16 without a BOM is big-endian.
    encoding = labelled === 'UTF-16' ? 'UTF-16BE' : labelled;
    chosenBy = 'charset';
  } else {
    encoding = sniff(bytes);
    chosenBy = 'sniffed';
  }
  const start = bom?.length ?? 0;
  const text = decodeAs(bytes, start, encoding);
  if (text.charCodeAt(0) === 0xfeff) {
    throw malformed(1, 1, `a second byte order mark: the ${encoding} document already starts with one`);
  }

  const decl = xmlDeclaration(text);
  if (!decl || decl.encoding === undefined) {
    if (chosenBy === 'sniffed' && encoding !== 'UTF-8') {
      throw malformed(1, 1, `the document looks like ${encoding} ('<?' with zero bytes) but its XML declaration names no encoding`);
    }
    return text;
  }
  const column = decl.encodingAt + 1;
  const declared = LABELS[decl.encoding.toLowerCase()];
  if (chosenBy !== 'charset') {
    if (declared === undefined) {
      throw new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', `The XML document declares encoding '${decl.encoding}' at line 1, column ${column}, which is not supported (use ${SUPPORTED})`, [
        { field: `line 1, column ${column}`, reason: `encoding '${decl.encoding}' is not supported` },
      ]);
    }
    if (!agrees(declared, encoding)) {
      const evidence = chosenBy === 'bom' ? `the byte order mark says ${encoding}` : `the bytes read as ${encoding === 'UTF-8' ? 'an ASCII-compatible encoding (no byte order mark)' : encoding}`;
      throw malformed(1, column, `${evidence}, but the XML declaration says encoding="${decl.encoding}"`);
    }
  }
  if (declared === 'UTF-8' || decl.encoding.length < 'UTF-8'.length) return text;
  return text.slice(0, decl.encodingAt) + 'UTF-8' + text.slice(decl.encodingAt + decl.encoding.length, decl.end - 2) + ' '.repeat(decl.encoding.length - 5) + text.slice(decl.end - 2);
}

/** Where bytes stop being UTF-8, for callers that report it themselves (JSON, forms). */
export interface Utf8Error {
  /** Offset of the first byte of the bad sequence. */
  readonly offset: number;
  /** 1-based, in characters of the valid text before it; CR LF and CR count as one line end, as in XML. */
  readonly line: number;
  readonly column: number;
  readonly reason: string;
}

/** Strict UTF-8: the text, or where and why it is not UTF-8. Fast path: one native validation, one native decode. */
export function decodeUtf8(bytes: Uint8Array, from = 0): { text: string } | { error: Utf8Error } {
  const view = from === 0 ? bytes : bytes.subarray(from);
  if (isUtf8(view)) return { text: Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('utf8') };
  const bad = firstInvalidUtf8(view);
  const before = Buffer.from(view.buffer, view.byteOffset, bad).toString('utf8');
  const { line, column } = endOf(before);
  const shown = Array.from(view.subarray(bad, bad + 4), (b) => `0x${b.toString(16).toUpperCase().padStart(2, '0')}`).join(' ');
  return { error: { offset: from + bad, line, column, reason: `invalid UTF-8 at byte ${from + bad}: ${shown} is not a valid sequence` } };
}

// ---------------------------------------------------------------------------------------------

function label(name: string, unknown: () => AdmissionError): XmlEncoding | 'UTF-16' {
  const known = LABELS[name.trim().toLowerCase()];
  if (known === undefined) throw unknown();
  return known;
}

function unsupportedCharset(charset: string): AdmissionError {
  return new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', `charset '${charset}' is not supported for XML (use ${SUPPORTED})`, [
    { field: 'Content-Type', reason: `charset '${charset}' is not supported` },
  ]);
}

function unsupportedBytes(what: string): AdmissionError {
  return new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', `The XML document is in ${what}, which is not supported (use ${SUPPORTED})`, [
    { field: 'xml', reason: `${what} is not supported` },
  ]);
}

function malformed(line: number, column: number, reason: string): AdmissionError {
  return new AdmissionError('AC_ERR_MALFORMED_XML', `The XML document is malformed at line ${line}, column ${column}: ${reason}`, [
    { field: `line ${line}, column ${column}`, reason },
  ]);
}

function byteOrderMark(b: Uint8Array): { encoding: XmlEncoding; length: number } | undefined {
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return { encoding: 'UTF-8', length: 3 };
  if (b[0] === 0xff && b[1] === 0xfe) {
    if (b[2] === 0 && b[3] === 0) throw unsupportedBytes('UTF-32LE (byte order mark FF FE 00 00)');
    return { encoding: 'UTF-16LE', length: 2 };
  }
  if (b[0] === 0xfe && b[1] === 0xff) return { encoding: 'UTF-16BE', length: 2 };
  if (b[0] === 0 && b[1] === 0 && b[2] === 0xfe && b[3] === 0xff) throw unsupportedBytes('UTF-32BE (byte order mark 00 00 FE FF)');
  return undefined;
}

/** Appendix F.1 without a BOM: the first bytes of '<?xml' tell the family; an ASCII-compatible one is named by the declaration. */
function sniff(b: Uint8Array): XmlEncoding {
  if (b.length >= 4) {
    const [b0, b1, b2, b3] = [b[0]!, b[1]!, b[2]!, b[3]!];
    if ((b0 === 0 && b1 === 0 && (b2 === 0 || b3 === 0)) || (b2 === 0 && b3 === 0 && (b0 === 0 || b1 === 0))) throw unsupportedBytes('UTF-32 (or UCS-4)');
    if (b0 === 0 && b1 === 0x3c && b2 === 0 && b3 === 0x3f) return 'UTF-16BE';
    if (b0 === 0x3c && b1 === 0 && b2 === 0x3f && b3 === 0) return 'UTF-16LE';
    if (b0 === 0x4c && b1 === 0x6f && b2 === 0xa7 && b3 === 0x94) throw unsupportedBytes('EBCDIC');
  }
  // The declaration is ASCII: reading the first bytes as Latin-1 finds it whatever the ASCII-compatible encoding is.
  const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, 1024)).toString('latin1');
  const declared = xmlDeclaration(head)?.encoding;
  if (declared === undefined) return 'UTF-8';
  const known = LABELS[declared.toLowerCase()];
  // Unknown names and UTF-16 without its zero bytes are reported by decodeXml, which has the position of the name.
  return known === undefined || known === 'UTF-16' ? 'UTF-8' : known;
}

function agrees(declared: XmlEncoding | 'UTF-16', actual: XmlEncoding): boolean {
  if (declared === 'UTF-16') return actual === 'UTF-16LE' || actual === 'UTF-16BE';
  return declared === actual;
}

function decodeAs(bytes: Uint8Array, from: number, encoding: XmlEncoding): string {
  const view = bytes.subarray(from);
  const buffer = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  switch (encoding) {
    case 'UTF-8': {
      const r = decodeUtf8(bytes, from);
      if ('error' in r) throw malformed(r.error.line, r.error.column, r.error.reason);
      return r.text;
    }
    case 'UTF-16LE':
    case 'UTF-16BE': {
      if (buffer.length % 2 !== 0) {
        const { line, column } = endOf(utf16(buffer.subarray(0, buffer.length - 1), encoding));
        throw malformed(line, column, `${encoding} text with an odd number of bytes (${buffer.length}): the last character is cut`);
      }
      // Code units are copied as they are: a lone surrogate stays one, and parseXml refuses it with its position.
      return utf16(buffer, encoding);
    }
    case 'ISO-8859-1':
      return buffer.toString('latin1');
    case 'US-ASCII': {
      if (!isAscii(buffer)) {
        const bad = buffer.findIndex((b) => b > 0x7f);
        const { line, column } = endOf(buffer.subarray(0, bad).toString('latin1'));
        throw malformed(line, column, `byte 0x${buffer[bad]!.toString(16).toUpperCase()} at offset ${from + bad} is not US-ASCII`);
      }
      return buffer.toString('latin1');
    }
  }
}

function utf16(buffer: Buffer, encoding: 'UTF-16LE' | 'UTF-16BE'): string {
  if (encoding === 'UTF-16LE') return buffer.toString('utf16le');
  return Buffer.from(buffer).swap16().toString('utf16le');
}

/** Line and column just after `text`, counted as parseXml counts them (after line-end normalisation). */
function endOf(text: string): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) {
      if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) i++;
      line++;
      lineStart = i + 1;
    }
  }
  // A CR LF counts as one character in the normalised text: columns after it do not see the difference.
  return { line, column: text.length - lineStart + 1 };
}

/** Offset of the first byte that does not begin a well-formed UTF-8 sequence (Unicode table 3-7); the caller knows there is one. */
function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + need >= n) return i;
    const c1 = b[i + 1]!;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k <= need; k++) {
      const ck = b[i + k]!;
      if (ck < 0x80 || ck > 0xbf) return i;
    }
    i += need + 1;
  }
  return n;
}
