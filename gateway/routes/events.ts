/**
 * The outbox, three ways: GET /api/v1/events?after= (poll), GET /api/v1/events/stream (Server-Sent Events, resumable
 * with Last-Event-ID), and webhook subscriptions. A client sees only events about its own admissions.
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from 'winston';
import { z } from 'zod';
import type { Ledger, LedgerEvent, SubscriptionRecord } from '../../ledger/types';
import { AdmissionError } from '../../model/errors';
import { redactUrl } from '../../model/redact';
import type { EventHub } from '../../service/event-hub';
import { allows, changesAll, principalOf, requires, seesAll, type Principal } from '../auth';
import { jsonBody } from '../body';
import { sendJson } from '../http';
import { iso } from '../time';
import { limitParam, notFoundError, parseInput, requireContentType } from './common';

export interface EventRouteDeps {
  readonly ledger: Ledger;
  readonly hub: EventHub;
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  /** Most SSE streams this process serves at once (503 beyond). */
  readonly maxStreams: number;
  /** Comment line sent this often on an idle stream, so proxies keep it open. */
  readonly heartbeatMs?: number;
}

export const EVENT_PREFIXES = ['admission', 'reservation', 'capacity', 'maintenance'] as const;
const EVENT_PATTERN = /^(\*|(admission|reservation|capacity|maintenance|charge|deployment|host\.capabilities)\.(\*|[a-z_]+))$/;
const typesParam = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === '') return undefined;
    const list = v.split(',').map((s) => s.trim());
    for (const t of list) if (!EVENT_PATTERN.test(t)) ctx.addIssue({ code: 'custom', message: `expected event types or patterns such as admission.* or capacity.changed; got '${t}'` });
    return list;
  });
const cursorParam = z.coerce.number({ error: 'expected an event sequence number' }).int('expected an integer').min(0, 'expected ≥ 0').optional();
const eventsQuery = z.object({ after: cursorParam, limit: limitParam, types: typesParam });
const subscriptionBody = z.strictObject({
  url: z.string({ error: 'expected an http(s) URL' }).refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
    } catch {
      return false;
    }
  }, { error: 'expected an http(s) URL without user info' }),
  events: z.array(z.string().regex(EVENT_PATTERN, 'expected an event type or pattern such as admission.* or capacity.changed'), { error: 'expected an array of event types' }).min(1, 'expected at least one event type').max(20),
  secret: z.string({ error: 'expected a secret' }).min(16, 'expected a secret of at least 16 characters (the HMAC-SHA256 key)').max(256),
});

export function eventJson(e: LedgerEvent): Record<string, unknown> {
  return { seq: e.seq, id: e.id, type: e.type, at: iso(e.at), owner: e.owner, subject: e.subject, data: e.data };
}

function subscriptionJson(s: SubscriptionRecord): Record<string, unknown> {
  return {
    id: s.id,
    owner: s.owner,
    url: redactUrl(s.url),
    events: s.events,
    createdAt: iso(s.createdAt),
    cursor: s.cursor,
    delivered: s.delivered,
    ...(s.pending ? { pending: { ...s.pending, nextAttemptAt: iso(s.pending.nextAttemptAt) } } : {}),
    deadLetters: s.deadLetters.map((d) => ({ ...d, at: iso(d.at) })),
    state: s.deadLetters.length > 0 ? 'delivering-with-dead-letters' : s.pending ? 'retrying' : 'ok',
  };
}

const visibleTo = (p: Principal) => ({ owner: p.name, seesAll: seesAll(p) });

/** Events and subscriptions: one's own for clients, everyone's for readers and operators; peers have none. */
function requiresEventReader(req: Request, res: Response, next: NextFunction): void {
  const p = req.principal;
  if (p && (allows(p, 'view') || (allows(p, 'own') && p.role !== 'peer'))) return next();
  if (p?.role === 'peer') {
    throw new AdmissionError('AC_ERR_FORBIDDEN', `principal '${p.name}' (role peer) may not read events`, [{ field: 'Authorization', reason: 'role peer' }]);
  }
  requires('view')(req, res, next);
}

export function eventRoutes(deps: EventRouteDeps): Router {
  const { ledger, hub } = deps;
  const router = express.Router();
  const json = jsonBody({ limit: deps.bodyLimitBytes });

  router.get('/api/v1/events', requiresEventReader, async (req: Request, res: Response) => {
    const q = parseInput(eventsQuery, req.query, 'query');
    const events = await ledger.events(q.after ?? 0, { limit: q.limit ?? 100, visibleTo: visibleTo(principalOf(req)), ...(q.types ? { types: q.types } : {}) });
    const last = events.length > 0 ? events[events.length - 1]!.seq : (q.after ?? 0);
    sendJson(res, 200, { events: events.map(eventJson), next: last });
  });

  router.get('/api/v1/events/stream', requiresEventReader, async (req: Request, res: Response) => {
    const q = parseInput(z.object({ after: cursorParam, types: typesParam }), req.query, 'query');
    const lastEventId = req.get('last-event-id');
    let after: number;
    if (lastEventId !== undefined && lastEventId.trim() !== '') {
      if (!/^\d{1,15}$/.test(lastEventId.trim())) throw new AdmissionError('AC_ERR_INVALID_REQUEST', `Last-Event-ID: expected an event sequence number, got '${lastEventId.slice(0, 40)}'`, [{ field: 'Last-Event-ID', reason: 'not a sequence number' }]);
      after = Number(lastEventId.trim());
    } else {
      after = q.after ?? (await ledger.lastEventSeq()); // a new stream starts with what happens from now on
    }
    if (hub.streams >= deps.maxStreams) {
      throw new AdmissionError('AC_ERR_TIMEOUT', `this process serves ${deps.maxStreams} event streams already; retry later or poll GET /api/v1/events`, [{ field: 'stream', reason: 'too many streams' }]);
    }
    const principal = principalOf(req);
    const closed = new AbortController();
    req.on('close', () => closed.abort());
    res.on('close', () => closed.abort());
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 2000\n\n');
    const heartbeatMs = deps.heartbeatMs ?? 15_000;
    let lastWrite = Date.now();
    while (!closed.signal.aborted) {
      let events: readonly LedgerEvent[];
      try {
        events = await ledger.events(after, { limit: 500, visibleTo: visibleTo(principal), ...(q.types ? { types: q.types } : {}) });
      } catch (error) {
        deps.logger.warn('event stream: reading the outbox failed', { requestId: req.requestId, error: String(error) });
        events = [];
      }
      for (const e of events) {
        res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(eventJson(e))}\n\n`);
        after = e.seq;
        lastWrite = Date.now();
      }
      if (events.length === 500) continue; // more are waiting
      if (Date.now() - lastWrite >= heartbeatMs) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      await hub.wait(Math.min(heartbeatMs, 5000), closed.signal);
    }
    res.end();
  });

  router.post('/api/v1/subscriptions', requires('admit'), json, async (req: Request, res: Response) => {
    requireContentType(req, 'application/json');
    const body = parseInput(subscriptionBody, req.body, 'body');
    const principal = principalOf(req);
    const record = await ledger.subscribe({ id: `sub-${randomUUID()}`, owner: principal.name, seesAll: seesAll(principal), url: body.url, events: body.events, secret: body.secret, actor: principal.name });
    deps.logger.info('subscription created', { requestId: req.requestId, subscriptionId: record.id, owner: record.owner, url: redactUrl(record.url), events: record.events });
    res.setHeader('Location', `/api/v1/subscriptions/${record.id}`);
    sendJson(res, 201, subscriptionJson(record));
  });

  const visibleSubscription = async (req: Request, mayAct: (p: Principal) => boolean): Promise<SubscriptionRecord> => {
    const id = String(req.params.id);
    const s = await ledger.subscription(id);
    const p = principalOf(req);
    if (!s || (!mayAct(p) && s.owner !== p.name)) throw notFoundError('subscription', id);
    return s;
  };

  router.get('/api/v1/subscriptions', requiresEventReader, async (req: Request, res: Response) => {
    const p = principalOf(req);
    const list = await ledger.subscriptions(seesAll(p) ? {} : { owner: p.name });
    sendJson(res, 200, { subscriptions: list.map(subscriptionJson) });
  });
  router.get('/api/v1/subscriptions/:id', requiresEventReader, async (req: Request, res: Response) => {
    sendJson(res, 200, subscriptionJson(await visibleSubscription(req, seesAll)));
  });
  router.delete('/api/v1/subscriptions/:id', requires('admit'), async (req: Request, res: Response) => {
    const s = await visibleSubscription(req, changesAll);
    await ledger.unsubscribe(s.id, principalOf(req).name);
    res.status(204).end();
  });
  return router;
}
