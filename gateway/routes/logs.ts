/**
 * The operator's records: the audit log (every change of policy, constraints, capacity windows, subscriptions and
 * admissions: who, when, what, before and after) and the decision log (every admission answer, rejections and
 * dry-runs included, kept for AC_DECISION_LOG_RETENTION_DAYS).
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { AuditRecord, DecisionRecord, Ledger } from '../../ledger/types';
import { AdmissionError } from '../../model/errors';
import { allows, principalOf, requires, seesAll } from '../auth';
import { sendJson } from '../http';
import { iso, parseInstant } from '../time';
import { limitParam, notFoundError, parseInput } from './common';

const auditQuery = z.object({
  actor: z.string().min(1).optional(),
  action: z.string().min(1).optional(),
  subject: z.string().min(1).optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  limit: limitParam,
  cursor: z.string().optional(),
});

const decisionsQuery = z.object({
  owner: z.string().min(1).optional(),
  serviceId: z.string().min(1).optional(),
  admissionId: z.string().min(1).optional(),
  requestId: z.string().min(1).optional(),
  decision: z.enum(['accepted', 'partial', 'rejected'], { error: 'expected accepted, partial or rejected' }).optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  limit: limitParam,
  cursor: z.string().optional(),
});

export function auditJson(r: AuditRecord): Record<string, unknown> {
  return { seq: r.seq, at: iso(r.at), actor: r.actor, action: r.action, subject: r.subject, before: r.before, after: r.after };
}

export function decisionJson(r: DecisionRecord): Record<string, unknown> {
  return {
    id: r.id,
    at: iso(r.at),
    requestId: r.requestId,
    owner: r.owner,
    serviceId: r.serviceId,
    admissionId: r.admissionId,
    decision: r.decision,
    dryRun: r.dryRun,
    reasons: r.reasons,
    durationMs: r.durationMs,
    detail: r.detail,
  };
}

/** The audit cursor: the last seq of the page, opaque to clients. */
function encodeSeq(seq: number): string {
  return Buffer.from(`a${seq}`, 'utf8').toString('base64url');
}
function decodeSeq(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const n = Number(text.slice(1));
  if (text[0] !== 'a' || !Number.isSafeInteger(n) || n < 0) {
    throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'query.cursor: not a cursor this service returned', [{ field: 'query.cursor', reason: 'not a cursor' }]);
  }
  return n;
}

function range(q: { from?: string | undefined; to?: string | undefined }): { from?: number; to?: number } {
  const from = q.from !== undefined ? parseInstant(q.from, 'query.from') : undefined;
  const to = q.to !== undefined ? parseInstant(q.to, 'query.to') : undefined;
  if (from !== undefined && to !== undefined && to <= from) {
    throw new AdmissionError('AC_ERR_INVALID_REQUEST', `query.to (${iso(to)}) must be after query.from (${iso(from)})`, [{ field: 'query.to', reason: 'not after from' }]);
  }
  return { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

/** Decisions: everyone's for viewers, one's own for clients and peers. */
function requiresOwnOrView(req: Request, res: Response, next: NextFunction): void {
  if (req.principal && (allows(req.principal, 'view') || allows(req.principal, 'own'))) return next();
  requires('view')(req, res, next);
}

export function logRoutes(deps: { readonly ledger: Ledger }): Router {
  const { ledger } = deps;
  const router = express.Router();

  router.get('/api/v1/audit', requires('view'), async (req: Request, res: Response) => {
    const q = parseInput(auditQuery, req.query, 'query');
    const limit = q.limit ?? 100;
    const rows = await ledger.audit({
      ...(q.actor !== undefined ? { actor: q.actor } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...(q.subject !== undefined ? { subject: q.subject } : {}),
      ...range(q),
      ...(q.cursor !== undefined ? { after: decodeSeq(q.cursor) } : {}),
      // One more than asked tells whether there is a next page (at the ledger's maximum, a full page says so).
      limit: Math.min(limit + 1, 1000),
    });
    const more = rows.length > limit || (limit === 1000 && rows.length === limit);
    const page = more ? rows.slice(0, limit) : rows;
    sendJson(res, 200, { audit: page.map(auditJson), nextCursor: more ? encodeSeq(page[page.length - 1]!.seq) : null });
  });

  router.get('/api/v1/decisions', requiresOwnOrView, async (req: Request, res: Response) => {
    const q = parseInput(decisionsQuery, req.query, 'query');
    const principal = principalOf(req);
    if (q.owner !== undefined && !seesAll(principal) && q.owner !== principal.name) {
      throw new AdmissionError('AC_ERR_FORBIDDEN', `principal '${principal.name}' (role ${principal.role}) may list only its own decisions`, [{ field: 'owner', reason: 'not yours' }]);
    }
    const owner = seesAll(principal) ? q.owner : principal.name;
    const page = await ledger.decisions(
      {
        ...(owner !== undefined ? { owner } : {}),
        ...(q.serviceId !== undefined ? { serviceId: q.serviceId } : {}),
        ...(q.admissionId !== undefined ? { admissionId: q.admissionId } : {}),
        ...(q.requestId !== undefined ? { requestId: q.requestId } : {}),
        ...(q.decision !== undefined ? { decision: q.decision } : {}),
        ...range(q),
      },
      { ...(q.limit !== undefined ? { limit: q.limit } : {}), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) },
    );
    sendJson(res, 200, { decisions: page.items.map(decisionJson), nextCursor: page.nextCursor });
  });

  router.get('/api/v1/decisions/:id', requiresOwnOrView, async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const record = await ledger.decision(id);
    const principal = principalOf(req);
    // Another principal's decision is reported as absent (as admissions are).
    if (!record || (!seesAll(principal) && record.owner !== principal.name)) throw notFoundError('decision', id);
    sendJson(res, 200, decisionJson(record));
  });

  return router;
}
