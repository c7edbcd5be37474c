/**
 * Request bodies, read by hand so that every byte is accounted for: one size cap before and after Content-Encoding (a zip
 * bomb stops at the cap), strict UTF-8 for JSON and forms, XML by its own encoding rules (xml/decode.ts).
 * Knows media types, not routes: each factory is a middleware that leaves `req.body` for the route, or nothing when its type does not apply.
 */
import zlib from 'node:zlib';
import type { NextFunction, Request, Response } from 'express';
import { AdmissionError } from '../model/errors';
import { decodeUtf8, decodeXml, type Utf8Error } from '../xml/decode';

/** An express middleware that reads the body (or leaves it, when its media type does not apply). */
export type BodyReader = (req: Request, res: Response, next: NextFunction) => void;

/** Content codings we undo (RFC 9110 §8.4.1); x-gzip is gzip's old name. */
const CODINGS = new Set(['identity', 'gzip', 'x-gzip', 'deflate']);

/** The media type (lower case, no parameters; '' when absent) and the charset parameter, unquoted. */
export function contentType(req: Request): { type: string; charset: string | undefined } {
  const header = req.headers['content-type'];
  if (header === undefined) return { type: '', charset: undefined };
  const parts = header.split(';');
  let charset: string | undefined;
  for (let k = 1; k < parts.length; k++) {
    const p = parts[k]!;
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    charset = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type: parts[0]!.trim().toLowerCase(), charset };
}

/**
 * The body's bytes with every content coding undone, never more than `limit` bytes on either side of the decoding: a
 * declared Content-Length over it is refused before reading, and inflating stops (and drops its output) at the cap.
 * Rejects with AdmissionError: 413 over the cap, 415 for a coding we do not know, 400 for data that is not what its
 * coding says, AC_ERR_CLIENT_CLOSED when the client goes away mid-body, or the reason of the request's deadline.
 */
export function readBody(req: Request, limit: number): Promise<Buffer> {
  let codings: string[];
  try {
    codings = decodingOrder(req.headers['content-encoding']);
  } catch (error) {
    return Promise.reject(error);
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit, false));
  const signal = req.deadline as AbortSignal | undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);

  return new Promise<Buffer>((resolve, reject) => {
    const decoders = codings.map((c) => (c === 'deflate' ? zlib.createInflate() : zlib.createGunzip()));
    const chunks: Buffer[] = [];
    let size = 0;
    let received = 0;
    let settled = false;

    const settle = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onAbort);
      req.off('close', onClose);
      req.off('error', onAbort);
      // A late socket error after we stopped listening must not become an uncaught 'error' event.
      req.on('error', ignore);
      signal?.removeEventListener('abort', onDeadline);
      for (const d of decoders) d.destroy();
      if (error === undefined) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      else {
        // Whatever the client still sends is read and dropped, so that it gets the answer rather than a reset.
        req.resume();
        reject(error);
      }
    };
    const onOutput = (chunk: Buffer): void => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) return settle(tooLarge(limit, decoders.length > 0));
      chunks.push(chunk);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) return settle(tooLarge(limit, false));
      const first = decoders[0];
      if (!first) return onOutput(chunk);
      if (!first.write(chunk)) {
        req.pause();
        first.once('drain', () => req.resume());
      }
    };
    const onEnd = (): void => {
      if (decoders.length === 0) settle();
      else decoders[0]!.end();
    };
    const onAbort = (): void => settle(clientClosed());
    const onClose = (): void => {
      if (!req.complete) settle(clientClosed());
    };
    const onDeadline = (): void => settle(signal!.reason);

    decoders.forEach((d, k) => {
      d.on('error', (e: Error) => settle(badCoding(codings[k]!, e)));
      const next = decoders[k + 1];
      if (next) d.pipe(next);
    });
    const last = decoders[decoders.length - 1];
    if (last) {
      last.on('data', onOutput);
      last.on('end', () => settle());
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAbort);
    req.on('close', onClose);
    req.on('error', onAbort);
    signal?.addEventListener('abort', onDeadline, { once: true });
  });
}

/** An XML body (one of `types`) → the document string (xml/decode.ts: BOM, charset, declaration). */
export function xmlBody(options: { readonly limit: number; readonly types: readonly string[] }): BodyReader {
  const types = [...options.types];
  return reader(options.limit, (req) => Boolean(req.is(types)), (req, bytes) => decodeXml(bytes, contentType(req).charset));
}

/** An `application/json` body → its value: strictly UTF-8, an object or an array (as express.json({strict: true})). */
export function jsonBody(options: { readonly limit: number }): BodyReader {
  return reader(options.limit, (req) => contentType(req).type === 'application/json', (req, bytes) => parseJson(bytes, contentType(req).charset));
}

/** An `application/x-www-form-urlencoded` body → its fields, a repeated one as an array (as express.urlencoded({extended: false})). */
export function formBody(options: { readonly limit: number; readonly parameterLimit: number }): BodyReader {
  return reader(
    options.limit,
    (req) => contentType(req).type === 'application/x-www-form-urlencoded',
    (req, bytes) => parseForm(bytes, contentType(req).charset, options.parameterLimit),
  );
}

/**
 * Any body → one manifest as text (performOneManifestACTest): XML decoded by its own rules; a form (by type, or because it
 * starts with `serviceManifest=`, which OPTIMIS clients send as text) gives its serviceManifest field.
 */
export function rawManifestBody(options: { readonly limit: number; readonly parameterLimit: number }): BodyReader {
  const marker = Buffer.from('serviceManifest=');
  return reader(
    options.limit,
    () => true,
    (req, bytes) => {
      const { type, charset } = contentType(req);
      if (type === 'application/x-www-form-urlencoded' || bytes.subarray(0, marker.length).equals(marker)) {
        const manifest = parseForm(bytes, charset, options.parameterLimit).serviceManifest;
        return (Array.isArray(manifest) ? manifest[0] : manifest) ?? '';
      }
      return decodeXml(bytes, charset);
    },
  );
}

// ---------------------------------------------------------------------------------------------

function ignore(): void {}

function reader(limit: number, applies: (req: Request) => boolean, parse: (req: Request, bytes: Buffer) => unknown): BodyReader {
  return (req: Request, _res: Response, next: NextFunction): void => {
    // As body-parser: a request without a body (no Content-Length, no Transfer-Encoding) or of another type is left alone.
    if ((req.headers['transfer-encoding'] === undefined && req.headers['content-length'] === undefined) || !applies(req)) return next();
    readBody(req, limit).then((bytes) => {
      req.body = parse(req, bytes);
    }).then(() => next(), next);
  };
}

/** The codings to undo, in the order to undo them (the reverse of the order they were applied, RFC 9110 §8.4). */
function decodingOrder(header: string | undefined): string[] {
  if (header === undefined) return [];
  const out: string[] = [];
  for (const raw of header.split(',')) {
    const coding = raw.trim().toLowerCase();
    if (coding === '' || coding === 'identity') continue;
    if (!CODINGS.has(coding)) {
      throw new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding '${coding}' is not supported (use gzip, deflate or identity)`, [
        { field: 'Content-Encoding', reason: `'${coding}' is not supported` },
      ]);
    }
    out.unshift(coding);
  }
  return out;
}

function tooLarge(limit: number, decoded: boolean): AdmissionError {
  const what = decoded ? ' once its Content-Encoding is undone' : '';
  return new AdmissionError('AC_ERR_BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes${what}`, [{ field: 'body', reason: `larger than ${limit} bytes${what}` }]);
}

function badCoding(coding: string, error: Error): AdmissionError {
  return new AdmissionError('AC_ERR_INVALID_REQUEST', `request body is not valid ${coding} data: ${error.message}`, [
    { field: 'Content-Encoding', reason: `the body is not valid ${coding} data` },
  ]);
}

function clientClosed(): AdmissionError {
  return new AdmissionError('AC_ERR_CLIENT_CLOSED', 'the client closed the connection before sending the whole body', [{ field: 'body', reason: 'incomplete' }]);
}

function requireUtf8Charset(charset: string | undefined, what: string): void {
  if (charset === undefined || /^utf-?8$/i.test(charset)) return;
  throw new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', `charset '${charset}' is not supported for ${what} (only UTF-8)`, [
    { field: 'Content-Type', reason: `charset '${charset}' is not supported` },
  ]);
}

function invalidUtf8(field: string, e: Utf8Error, what: string): AdmissionError {
  return new AdmissionError('AC_ERR_INVALID_REQUEST', `${what} is not valid UTF-8 at line ${e.line}, column ${e.column}: ${e.reason}`, [
    { field, reason: `${e.reason} (line ${e.line}, column ${e.column})` },
  ]);
}

function parseJson(bytes: Buffer, charset: string | undefined): unknown {
  requireUtf8Charset(charset, 'JSON');
  // RFC 8259 §8.1: a parser may ignore a leading BOM (body-parser did).
  const r = decodeUtf8(bytes, bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0);
  if ('error' in r) throw invalidUtf8('body', r.error, 'the JSON body');
  const text = r.text;
  const first = /\S/.exec(text);
  const bad = (position: number, reason: string): AdmissionError => {
    const { line, column } = lineColumnOf(text, position);
    return new AdmissionError('AC_ERR_INVALID_REQUEST', `request body is not valid JSON: ${reason} at line ${line}, column ${column}`, [
      { field: 'body', reason: `malformed JSON at line ${line}, column ${column} (character ${position}): ${reason}` },
    ]);
  };
  if (!first) throw bad(text.length, 'the body is empty, expected a JSON object');
  if (first[0] !== '{' && first[0] !== '[') throw bad(first.index, `expected an object or an array, found '${first[0]}'`);
  try {
    return JSON.parse(text);
  } catch {
    // V8's messages give no position for most errors, and quote the body: find the position ourselves.
    const at = jsonErrorAt(text);
    const position = at < 0 ? text.length : at;
    throw bad(position, position >= text.length ? 'the body ends before the JSON value does' : `unexpected ${JSON.stringify(text[position])}`);
  }
}

const JSON_LITERAL = /true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** Index of the first character that is not JSON (RFC 8259), -1 when there is none. Iterative: the nesting is the client's. */
function jsonErrorAt(s: string): number {
  const n = s.length;
  let i = 0;
  const closers: number[] = [];
  const ws = (): void => {
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
    }
  };
  const string = (): boolean => {
    for (i++; i < n; ) {
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      const e = s.charAt(i + 1);
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) return false;
        i += 6;
      } else if (e !== '' && '"\\/bfnrt'.includes(e)) i += 2;
      else return false;
    }
    return false;
  };
  const key = (): boolean => {
    ws();
    if (s.charCodeAt(i) !== 0x22 || !string()) return false;
    ws();
    if (s.charCodeAt(i) !== 0x3a) return false;
    i++;
    return true;
  };
  for (;;) {
    ws();
    const c = s.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      i++;
      ws();
      // '{' + 2 is '}', '[' + 2 is ']'.
      if (s.charCodeAt(i) === c + 2) i++;
      else {
        closers.push(c + 2);
        if (c === 0x7b && !key()) return i;
        continue;
      }
    } else if (c === 0x22) {
      if (!string()) return i;
    } else {
      JSON_LITERAL.lastIndex = i;
      const m = JSON_LITERAL.exec(s);
      if (!m) return i;
      i += m[0].length;
    }
    for (;;) {
      ws();
      const top = closers[closers.length - 1];
      if (top === undefined) return i < n ? i : -1;
      const d = s.charCodeAt(i);
      if (d === top) {
        closers.pop();
        i++;
        continue;
      }
      if (d !== 0x2c) return i;
      i++;
      if (top === 0x7d && !key()) return i;
      break;
    }
  }
}

function lineColumnOf(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}

/**
 * application/x-www-form-urlencoded (WHATWG URL §5.1) without its leniency: '%' must start an escape, and the bytes
 * they give must be UTF-8 (URLSearchParams and querystring replace or keep what is not, silently).
 */
function parseForm(bytes: Buffer, charset: string | undefined, parameterLimit: number): Record<string, string | string[]> {
  requireUtf8Charset(charset, 'forms');
  const fields = Object.create(null) as Record<string, string | string[]>;
  let count = 0;
  let start = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x26, start);
    if (end < 0) end = bytes.length;
    if (end > start) {
      if (++count > parameterLimit) {
        throw new AdmissionError('AC_ERR_INVALID_REQUEST', `the form has more than ${parameterLimit} fields`, [{ field: 'body', reason: `more than ${parameterLimit} fields` }]);
      }
      let eq = bytes.indexOf(0x3d, start);
      if (eq < 0 || eq > end) eq = end;
      const name = formComponent(bytes, start, eq, 'body', 'a form field name');
      const value = eq < end ? formComponent(bytes, eq + 1, end, name, `form field '${name}'`) : '';
      const prior = fields[name];
      fields[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
    }
    start = end + 1;
  }
  return fields;
}

function formComponent(bytes: Buffer, from: number, to: number, field: string, what: string): string {
  let plain = true;
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    if (b === 0x25 || b === 0x2b || b >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return bytes.toString('latin1', from, to);
  const out = Buffer.allocUnsafe(to - from);
  let k = 0;
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    if (b === 0x2b) out[k++] = 0x20;
    else if (b === 0x25) {
      const h = hexValue(bytes[i + 1]) * 16 + hexValue(bytes[i + 2]);
      if (i + 2 >= to || Number.isNaN(h)) {
        throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${what}: '%' at byte ${i} is not followed by two hex digits`, [
          { field, reason: `'%' at byte ${i} of the body is not followed by two hex digits` },
        ]);
      }
      out[k++] = h;
      i += 2;
    } else out[k++] = b;
  }
  const r = decodeUtf8(out.subarray(0, k));
  if ('error' in r) throw invalidUtf8(field, r.error, `${what} (once percent-decoded)`);
  return r.text;
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return Number.NaN;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return Number.NaN;
}
