/**
 * HTTP plumbing shared by the routes: request ids, per-request deadlines, the error catalogue turned into
 * JSON responses (unknown throws become AC_ERR_INTERNAL once, here, and are logged with the request id).
 */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'winston';
import { AdmissionError, isAdmissionError } from '../model/errors';

declare module 'express-serve-static-core' {
  interface Request {
    requestId: string;
    deadline: AbortSignal;
  }
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request id (client's X-Request-Id when sane) and an abort signal that fires at the request deadline. */
export function requestContext(timeoutMs: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.get('x-request-id');
    req.requestId = given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new AdmissionError('AC_ERR_TIMEOUT', `request exceeded ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    res.on('close', () => {
      clearTimeout(timer);
      // Closed before the answer was written: the client went away. Its work stops where it checks the signal (a
      // queued admission leaves the queue; an admission not yet solved or recorded is dropped).
      if (!res.writableFinished) controller.abort(new AdmissionError('AC_ERR_CLIENT_CLOSED', 'the client closed the connection before its answer'));
    });
    req.deadline = controller.signal;
    next();
  };
}

/** Maps body-parser failures to the catalogue (they carry `type` and `status`). */
function fromBodyParser(error: unknown): AdmissionError | undefined {
  const e = error as { type?: string; status?: number; limit?: number; message?: string };
  if (!e || typeof e !== 'object' || typeof e.type !== 'string') return undefined;
  switch (e.type) {
    case 'entity.too.large':
      return new AdmissionError('AC_ERR_BODY_TOO_LARGE', `request body exceeds the limit of ${e.limit} bytes`, [{ field: 'body', reason: `larger than ${e.limit} bytes` }]);
    case 'entity.parse.failed':
      return new AdmissionError('AC_ERR_INVALID_REQUEST', `request body is not valid JSON: ${e.message}`, [{ field: 'body', reason: 'malformed JSON' }]);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AdmissionError('AC_ERR_UNSUPPORTED_MEDIA_TYPE', e.message ?? 'unsupported encoding', [{ field: 'Content-Type', reason: 'unsupported charset or encoding' }]);
    case 'request.aborted':
      return new AdmissionError('AC_ERR_INVALID_REQUEST', 'the client aborted the request', [{ field: 'body', reason: 'incomplete' }]);
    default:
      return e.status && e.status < 500 ? new AdmissionError('AC_ERR_INVALID_REQUEST', e.message ?? 'bad request', [{ field: 'body', reason: e.type }]) : undefined;
  }
}

export function toAdmissionError(error: unknown): AdmissionError | undefined {
  if (isAdmissionError(error)) return error;
  return fromBodyParser(error);
}

export function errorHandler(logger: Logger) {
  // Express recognises error middleware by its four parameters.
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let known = toAdmissionError(error);
    if (!known) {
      logger.error('internal error', { requestId: req.requestId, error: error instanceof Error ? error.stack : String(error) });
      known = new AdmissionError('AC_ERR_INTERNAL', 'internal error; see the server log for this request id');
    } else if (known.status >= 500 && (req.socket.destroyed || res.destroyed)) {
      // The client went away and the work was cancelled for it (e.g. host-info's "the caller cancelled the request"):
      // nothing failed on the server's side, and nobody reads the answer.
      logger.info(`${known.message} (the client had gone)`, { requestId: req.requestId, code: known.code });
    } else if (known.status >= 500) {
      logger.error(known.message, { requestId: req.requestId, code: known.code });
    } else if (known.code === 'AC_ERR_UNAUTHORIZED' || known.code === 'AC_ERR_FORBIDDEN') {
      // Refusals are an operator's business (a misconfigured client, a probe); the credential itself is never logged.
      logger.warn(`request refused: ${known.message}`, { requestId: req.requestId, code: known.code, method: req.method, path: req.path, remote: req.socket.remoteAddress, principal: req.principal?.name });
    } else if (known.code === 'AC_ERR_CLIENT_CLOSED') {
      logger.info(known.message, { requestId: req.requestId, code: known.code });
    }
    if (res.headersSent) return;
    sendJson(res, known.status, { error: known.toJSON(), requestId: req.requestId });
  };
}

/**
 * Writes a JSON answer. What express's res.json does for us minus its generic machinery (content negotiation of the
 * type, an intermediate Buffer): on the admission route that machinery cost about a tenth of the request.
 */
export function sendJson(res: Response, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export function notFound(req: Request): never {
  throw new AdmissionError('AC_ERR_NOT_FOUND', `no route for ${req.method} ${req.path}`, [{ field: 'path', reason: 'unknown route' }]);
}
