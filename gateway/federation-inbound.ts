/**
 * The receiving side of federation, as express middleware after authentication (gateway/auth.ts): a request that carries
 * the hop header or a peer's credentials is a peer's request and must be both; its headers are checked, and its time
 * budget tightens the deadline.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'winston';
import { AdmissionError } from '../model/errors';
import { HEADER_BUDGET, HEADER_HOP, HEADER_ID, HEADER_ORIGIN, type InboundFederation } from '../federation/types';

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
 * - A request asks to be treated as a peer's when it carries the hop header *or* presents a peer's credentials (the
 *   shared AC_PEER_SECRET or a token of role `peer`). Such a request must have both: the hop header without a peer's
 *   credentials is refused (401 without any principal, 403 with another role's), and a peer's credentials without the
 *   hop header are refused (403): a peer's token can do what federation needs and nothing else.
 * - The one exception is open mode without AC_PEER_SECRET: nothing is authenticated there, so a hop-header request is
 *   served as an unauthenticated peer and logged as a warning (the choice stays visible).
 * - Malformed federation headers are a 400 naming the header: a peer that sends a broken chain must not be half-trusted.
 * - The peer's budget header tightens this request's deadline (and the signal routes already pass down), so a peer
 *   that gave up is not answered with work that holds capacity: the admission cycle books nothing after the deadline.
 */

const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PROVIDER = /^[A-Za-z0-9._:@-]{1,64}$/;
const MAX_CHAIN = 32;

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

export function federationInbound(options: { readonly unauthenticatedPeers: boolean; readonly requestTimeoutMs: number; readonly logger: Logger }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const now = Date.now();
    req.deadlineAt = now + options.requestTimeoutMs;
    const hop = req.get(HEADER_HOP);
    const principal = req.principal;
    if (hop === undefined) {
      if (principal?.role === 'peer') {
        throw new AdmissionError('AC_ERR_FORBIDDEN', `principal '${principal.name}' (role peer) may only make federation requests (they carry ${HEADER_HOP})`, [
          { field: HEADER_HOP, reason: "missing on a request with a peer's credentials" },
        ]);
      }
      next();
      return;
    }
    const openPeer = options.unauthenticatedPeers && principal?.via === 'open-mode';
    if (principal?.role !== 'peer' && !openPeer) {
      options.logger.warn('federation request refused: not a peer', { requestId: req.requestId, path: req.path, remote: req.ip, principal: principal?.name });
      if (!principal || principal.via === 'open-mode') {
        res.setHeader('WWW-Authenticate', 'Bearer realm="eac-federation"');
        throw new AdmissionError('AC_ERR_UNAUTHORIZED', "federation requests need a peer's credentials: Authorization: Bearer <peer token or shared secret>", [
          { field: 'Authorization', reason: req.get('authorization') ? "not a peer's credentials" : 'missing' },
        ]);
      }
      throw new AdmissionError('AC_ERR_FORBIDDEN', `principal '${principal.name}' (role ${principal.role}) may not make federation requests`, [
        { field: 'Authorization', reason: `role ${principal.role} is not peer` },
      ]);
    }
    if (openPeer) req.principal = { name: 'anonymous-peer', role: 'peer', via: 'open-mode' };
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
    options.logger.log(openPeer ? 'warn' : 'info', 'federation request received', {
      requestId: req.requestId,
      path: req.path,
      hop: federation?.hop,
      origin: federation?.origin,
      federationId: federation?.id,
      peer: req.principal?.name,
      authenticated: !openPeer,
    });
    next();
  };
}
