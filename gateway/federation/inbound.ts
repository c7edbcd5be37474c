/**
 * The receiving side of federation, as express middleware: a request carrying the hop header is a peer's request; it
 * is authenticated (bearer = AC_PEER_SECRET), its headers are checked, and its time budget tightens the deadline.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'winston';
import { AdmissionError } from '../../model/errors';
import { HEADER_BUDGET, HEADER_HOP, HEADER_ID, HEADER_ORIGIN, type InboundFederation } from './types';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set on a peer's (authenticated) federation request. */
    federation?: InboundFederation;
    /** Epoch ms by which the answer must be out: the request deadline, or the peer's budget when tighter. */
    deadlineAt: number;
  }
}

/*
 * Decisions:
 * - What makes a request a federation request is the hop header. A client that sends none is an ordinary client (the
 *   client API has its own access control story); a request that claims to be a peer's must prove it.
 * - With AC_PEER_SECRET set, a federation request without `Authorization: Bearer <that secret>` is refused with 401
 *   AC_ERR_UNAUTHORIZED before anything else happens. The comparison is constant-time (hashes of equal length).
 *   Without AC_PEER_SECRET, federation requests are accepted unauthenticated (config.ts: "unset = not checked"), and
 *   every such request is logged as a warning, so the choice is visible.
 * - Malformed federation headers are a 400 naming the header: a peer that sends a broken chain must not be half-trusted.
 * - The peer's budget header tightens this request's deadline (and the signal routes already pass down), so a peer
 *   that gave up is not answered with work that holds capacity: the admission cycle books nothing after the deadline.
 */

const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PROVIDER = /^[A-Za-z0-9._:@-]{1,64}$/;
const MAX_CHAIN = 32;

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function headerError(header: string, reason: string): AdmissionError {
  return new AdmissionError('AC_ERR_INVALID_REQUEST', `${header}: ${reason}`, [{ field: header, reason }]);
}

/** Reads the federation headers (the caller has checked the credentials). Throws AC_ERR_INVALID_REQUEST. */
export function readFederationHeaders(get: (name: string) => string | undefined): InboundFederation | undefined {
  const hopText = get(HEADER_HOP);
  if (hopText === undefined) return undefined;
  if (!/^\d{1,3}$/.test(hopText.trim()) || Number(hopText) < 1) throw headerError(HEADER_HOP, `expected a hop count ≥ 1, got '${hopText}'`);
  const originText = get(HEADER_ORIGIN);
  if (originText === undefined || originText.trim() === '') throw headerError(HEADER_ORIGIN, 'missing: a federation request names the providers it went through');
  const origin = originText.split(',').map((s) => s.trim());
  if (origin.length > MAX_CHAIN || origin.some((p) => !PROVIDER.test(p))) throw headerError(HEADER_ORIGIN, `expected up to ${MAX_CHAIN} comma-separated provider ids`);
  const id = get(HEADER_ID)?.trim();
  if (!id || !ID.test(id)) throw headerError(HEADER_ID, 'expected a federation id (letters, digits, . _ : -, at most 128)');
  const budgetText = get(HEADER_BUDGET);
  let budgetMs: number | undefined;
  if (budgetText !== undefined) {
    if (!/^\d{1,9}$/.test(budgetText.trim()) || Number(budgetText) < 1) throw headerError(HEADER_BUDGET, `expected milliseconds ≥ 1, got '${budgetText}'`);
    budgetMs = Number(budgetText);
  }
  return { hop: Number(hopText), origin, id, ...(budgetMs !== undefined ? { budgetMs } : {}) };
}

/** True when `authorization` is `Bearer <secret>` (constant time in the secret). */
export function bearerMatches(authorization: string | undefined, secret: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(secret));
}

export function federationInbound(options: { readonly peerSecret?: string; readonly requestTimeoutMs: number; readonly logger: Logger }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const now = Date.now();
    req.deadlineAt = now + options.requestTimeoutMs;
    if (req.get(HEADER_HOP) === undefined) {
      next();
      return;
    }
    if (options.peerSecret !== undefined && !bearerMatches(req.get('authorization'), options.peerSecret)) {
      options.logger.warn('federation request refused: bad or missing credentials', { requestId: req.requestId, path: req.path, remote: req.ip });
      res.setHeader('WWW-Authenticate', 'Bearer realm="eac-federation"');
      throw new AdmissionError('AC_ERR_UNAUTHORIZED', 'federation requests need the peer credentials: Authorization: Bearer <shared secret>', [
        { field: 'Authorization', reason: req.get('authorization') ? 'the bearer token is not the peer secret' : 'missing' },
      ]);
    }
    const federation = readFederationHeaders((name) => req.get(name));
    req.federation = federation;
    if (federation?.budgetMs !== undefined) {
      const budgetMs = federation.budgetMs;
      req.deadlineAt = Math.min(req.deadlineAt, now + budgetMs);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new AdmissionError('AC_ERR_TIMEOUT', `the requesting peer's budget of ${budgetMs} ms ran out`)), budgetMs);
      timer.unref();
      res.on('close', () => clearTimeout(timer));
      req.deadline = AbortSignal.any([req.deadline, controller.signal]);
    }
    options.logger.log(options.peerSecret === undefined ? 'warn' : 'info', 'federation request received', {
      requestId: req.requestId,
      path: req.path,
      hop: federation?.hop,
      origin: federation?.origin,
      federationId: federation?.id,
      authenticated: options.peerSecret !== undefined,
    });
    next();
  };
}
