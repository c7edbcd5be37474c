/** What every route module shares: input parsing with zod (errors name the field), flags, generations, media types. */
import type { Request } from 'express';
import { z } from 'zod';
import { AdmissionError } from '../../model/errors';
import { formatPath } from '../../model/validate';

/** Parses `value` with a zod schema; problems become AC_ERR_INVALID_REQUEST naming the field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const details = r.error.issues.map((i) => ({ field: i.path.length ? `${where}.${formatPath(i.path)}` : where, reason: i.message }));
  throw new AdmissionError('AC_ERR_INVALID_REQUEST', `${details[0]!.field}: ${details[0]!.reason}`, details);
}

export const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''], { error: "expected 'true' or 'false'" })
  .optional()
  .transform((v) => v === 'true' || v === '1' || v === '');

export const generationField = z.number().int().min(0).optional();

/** Optimistic concurrency: `If-Match: "<generation>"` or `generation` in the body. */
export function expectedGeneration(req: Request, body: { generation?: number | undefined } = {}): number | undefined {
  const header = req.get('if-match');
  if (header !== undefined) {
    const n = Number(header.replace(/^W\//, '').replace(/"/g, ''));
    if (!Number.isInteger(n) || n < 0) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', `If-Match: expected a generation number, got '${header}'`, [{ field: 'If-Match', reason: 'not a generation' }]);
    }
    return n;
  }
  return body.generation;
}

/** The request's media type, lower case, without parameters ('' when there is none). */
export function mediaType(req: Request): string {
  const header = req.headers['content-type'];
  if (header === undefined) return '';
  const semicolon = header.indexOf(';');
  return (semicolon < 0 ? header : header.slice(0, semicolon)).trim().toLowerCase();
}

export function requireContentType(req: Request, ...types: string[]): void {
  if (!req.is(types)) {
    throw new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type must be one of ${types.join(', ')}; got '${req.get('content-type') ?? 'none'}'`, [
      { field: 'Content-Type', reason: `expected ${types.join(' or ')}` },
    ]);
  }
}

export const XML_TYPES = ['application/xml', 'text/xml', 'application/*+xml'];

export function notFoundError(what: string, id: string): AdmissionError {
  return new AdmissionError('AC_ERR_NOT_FOUND', `no ${what} '${id}'`, [{ field: 'id', reason: `unknown ${what}` }]);
}

/** `?limit=` for lists: 1–1000, default 100. */
export const limitParam = z.coerce.number({ error: 'expected a number' }).int('expected an integer').min(1, 'expected at least 1').max(1000, 'expected at most 1000').optional();
