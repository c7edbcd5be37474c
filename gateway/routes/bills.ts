/**
 * Bills (docs/charging.md): GET /api/v1/bills?owner=&from=&to= and /api/v1/bills.csv — the charge records of one owner
 * with `at` in [from, to), per admission and resource, with credits apart. Records are append-only and the period is
 * half-open, so the same period always gives the same bill. A client sees its own bill only.
 */
import express, { type Request, type Response, type Router } from 'express';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import type { ChargeRecord, Ledger } from '../../ledger/types';
import { money } from '../../model/charge-plan';
import { AdmissionError } from '../../model/errors';
import { allows, principalOf, requires, seesAll } from '../auth';
import type { NextFunction } from 'express';
import { sendJson } from '../http';
import { iso, parseInstant } from '../time';
import { parseInput } from './common';

const billQuery = z.object({ owner: z.string().min(1).max(128).optional(), from: z.string(), to: z.string() });
/** Records one bill reads at most (a longer period is refused, not truncated). */
const MAX_RECORDS = 100_000;

export interface BillLine {
  readonly admissionId: string;
  readonly serviceId: string | null;
  readonly resource: string;
  /** What the records charge (refunds subtracted), ≥ 0 for a charge. */
  readonly amount: number;
  readonly records: number;
}

export interface Bill {
  readonly owner: string;
  readonly from: string;
  readonly to: string;
  readonly currency: string | null;
  readonly lines: readonly BillLine[];
  /** Credits granted (positive) and expired (negative) in the period. */
  readonly credits: number;
  readonly total: number;
  readonly records: number;
}

export function billOf(owner: string, from: number, to: number, records: readonly ChargeRecord[]): Bill {
  const lines = new Map<string, { admissionId: string; serviceId: string | null; resource: string; micros: number; records: number }>();
  let credits = 0;
  for (const r of records) {
    if (r.admissionId === null) {
      credits += r.amount;
      continue;
    }
    const key = `${r.admissionId}\u0000${r.resource}`;
    const line = lines.get(key) ?? { admissionId: r.admissionId, serviceId: r.serviceId, resource: r.resource ?? '', micros: 0, records: 0 };
    line.micros -= Math.round(r.amount * 1e6);
    line.records++;
    lines.set(key, line);
  }
  const sorted = [...lines.values()].sort((a, b) => (a.admissionId < b.admissionId ? -1 : a.admissionId > b.admissionId ? 1 : a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
  const out = sorted.map((l) => ({ admissionId: l.admissionId, serviceId: l.serviceId, resource: l.resource, amount: l.micros / 1e6, records: l.records }));
  return {
    owner,
    from: iso(from),
    to: iso(to),
    currency: records[0]?.currency ?? null,
    lines: out,
    credits: money(credits),
    total: sorted.reduce((s, l) => s + l.micros, 0) / 1e6,
    records: records.length,
  };
}

/** Clients (and peers) read their own bills, readers and operators anyone's. */
function requiresBillReader(req: Request, res: Response, next: NextFunction): void {
  const p = req.principal;
  if (p && (allows(p, 'view') || allows(p, 'own'))) return next();
  requires('view')(req, res, next);
}

export function billRoutes(deps: { readonly ledger: Ledger }): Router {
  const router = express.Router();
  const bill = async (req: Request): Promise<Bill> => {
    const q = parseInput(billQuery, req.query, 'query');
    const principal = principalOf(req);
    const owner = q.owner ?? principal.name;
    if (owner !== principal.name && !seesAll(principal)) throw new AdmissionError('AC_ERR_FORBIDDEN', "a client sees its own bill only", [{ field: 'query.owner', reason: 'not the caller' }]);
    const from = parseInstant(q.from, 'query.from');
    const to = parseInstant(q.to, 'query.to');
    if (!(to > from)) throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'to must be after from', [{ field: 'query.to', reason: 'must be after from' }]);
    const records: ChargeRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await deps.ledger.charges({ owner, from, to }, { limit: 1000, ...(cursor ? { cursor } : {}) });
      records.push(...page.items);
      if (records.length > MAX_RECORDS) throw new AdmissionError('AC_ERR_LIMIT_EXCEEDED', `the period holds more than ${MAX_RECORDS} charge records: ask for a shorter one`, [{ field: 'query', reason: 'period too long' }]);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return billOf(owner, from, to, records);
  };
  router.get('/api/v1/bills', requiresBillReader, async (req: Request, res: Response) => {
    sendJson(res, 200, await bill(req));
  });
  router.get('/api/v1/bills.csv', requiresBillReader, async (req: Request, res: Response) => {
    const b = await bill(req);
    const rows = [
      ...b.lines.map((l) => [b.owner, l.admissionId, l.serviceId ?? '', l.resource, l.amount.toFixed(6), b.currency ?? '', l.records]),
      [b.owner, '', '', 'credits', (-b.credits).toFixed(6), b.currency ?? '', ''],
      [b.owner, '', '', 'total', b.total.toFixed(6), b.currency ?? '', b.records],
    ];
    res.status(200).type('text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="bill-${b.owner.replace(/[^A-Za-z0-9._-]/g, '_')}-${b.from.slice(0, 10)}.csv"`);
    res.send(stringify(rows, { header: true, columns: ['owner', 'admissionId', 'serviceId', 'resource', 'amount', 'currency', 'records'] }));
  });
  return router;
}
