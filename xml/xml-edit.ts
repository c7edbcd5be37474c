/**
 * Text splicing on a parsed manifest for the federation rewrites (sub-manifests, embedded peer manifests): remove an
 * element, replace an element's content or an attribute's value. Everything not edited stays byte-for-byte as it was.
 */
import { AdmissionError } from '../model/errors';
import { elementExtent, escapeAttribute, escapeText, type XmlAttribute, type XmlDocument, type XmlElement } from './safe-xml';

/*
 * Why splicing rather than re-serialising a tree: the manifests carry OVF sections, SP extensions and price plans this
 * project does not model; a parse → rebuild round trip would lose comments, prefixes and anything it does not know.
 * Positions refer to XmlDocument.source (BOM removed, line ends normalised), so the output is built from that text.
 */

export interface Edit {
  readonly from: number;
  readonly to: number;
  readonly text: string;
}

/** Applies non-overlapping edits (right to left, so earlier positions stay valid). Overlaps are a bug of the caller. */
export function applyEdits(source: string, edits: readonly Edit[]): string {
  const sorted = [...edits].sort((a, b) => b.from - a.from || b.to - a.to);
  let out = source;
  let limit = Infinity;
  for (const e of sorted) {
    if (e.to > limit) throw new AdmissionError('AC_ERR_INTERNAL', `overlapping XML edits at ${e.from}..${e.to}`);
    out = out.slice(0, e.from) + e.text + out.slice(e.to);
    limit = e.from;
  }
  return out;
}

/** Removes an element together with the whitespace that introduced it (no blank line left behind). */
export function removeElement(doc: XmlDocument, el: XmlElement): Edit {
  const ext = elementExtent(doc, el);
  let from = ext.start;
  while (from > 0 && /[ \t\r\n]/.test(doc.source[from - 1]!)) from--;
  return { from, to: ext.end, text: '' };
}

/** Replaces an element's content with escaped text (an empty-element tag gets an end tag). */
export function replaceText(doc: XmlDocument, el: XmlElement, text: string): Edit {
  const ext = elementExtent(doc, el);
  if (!ext.selfClosing) return { from: ext.startTagEnd, to: ext.endTagStart, text: escapeText(text) };
  const slash = doc.source.lastIndexOf('/', ext.startTagEnd - 1);
  return { from: slash, to: ext.startTagEnd, text: `>${escapeText(text)}</${el.qname}>` };
}

/** Replaces the value of one attribute of an element's start tag (found by its name as written). */
export function replaceAttribute(doc: XmlDocument, el: XmlElement, attr: XmlAttribute, value: string): Edit {
  const ext = elementExtent(doc, el);
  const tag = doc.source.slice(ext.start, ext.startTagEnd);
  const m = new RegExp(`(\\s${escapeRegExp(attr.qname)}\\s*=\\s*)("[^"]*"|'[^']*')`).exec(tag);
  if (!m) throw new AdmissionError('AC_ERR_INTERNAL', `attribute ${attr.qname} not found on ${el.qname}`);
  const from = ext.start + m.index + m[1]!.length;
  return { from, to: from + m[2]!.length, text: `"${escapeAttribute(value)}"` };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
