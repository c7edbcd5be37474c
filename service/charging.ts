/**
 * Charging in the admission cycle (docs/charging.md): the catalogue file as the service sees it (reloaded on change; an
 * invalid new version leaves the previous one in force and /ready says why), each owner's credits for the current
 * period, and what an offer's charge is bounded by (the manifest's PricePlan cap in the catalogue's currency, the
 * credits left after the owner's held offers).
 */
import { statSync, unwatchFile, watchFile } from 'node:fs';
import { agreementFor, loadCatalogue, type Agreement, type Catalogue, type CreditPeriod } from '../charging/catalogue';
import { boundedEnd } from '../charging/pricing';
import { amountOver, money, type ChargePlan } from '../model/charge-plan';
import { isAdmissionError, type ErrorDetail } from '../model/errors';

export interface CatalogueStatus {
  readonly file: string;
  readonly loaded: boolean;
  readonly loadedAt: string | null;
  /** The last reload's problem (the previous catalogue, if any, stays in force). */
  readonly error: { readonly message: string; readonly details: readonly ErrorDetail[]; readonly at: string } | null;
}

export class ChargingCatalogue {
  private catalogue: Catalogue | undefined;
  private loadedAt: number | null = null;
  private lastError: CatalogueStatus['error'] = null;
  private mtime = -1;

  constructor(
    readonly file: string,
    private readonly log: (level: 'info' | 'warn', message: string, meta: Record<string, unknown>) => void = () => undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.reload();
  }

  /** Reads the file again; false (and the previous catalogue kept) when it is unreadable or invalid. */
  reload(): boolean {
    try {
      this.mtime = statSync(this.file).mtimeMs;
      this.catalogue = loadCatalogue(this.file);
      this.loadedAt = this.clock();
      this.lastError = null;
      this.log('info', 'charging catalogue loaded', { file: this.file, agreements: this.catalogue.agreements.size });
      return true;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.lastError = { message, details: isAdmissionError(error) ? error.details : [], at: new Date(this.clock()).toISOString() };
      this.log('warn', 'charging catalogue refused; the previous one stays in force', { file: this.file, error: message });
      return false;
    }
  }

  /** Polls the file's modification time (fs.watchFile: works on every file system, including bind mounts). */
  watch(intervalMs = 1000): void {
    watchFile(this.file, { interval: intervalMs, persistent: false }, (cur) => {
      if (cur.mtimeMs !== this.mtime) this.reload();
    });
  }

  close(): void {
    unwatchFile(this.file);
  }

  current(): Catalogue | undefined {
    return this.catalogue;
  }

  status(): CatalogueStatus {
    return { file: this.file, loaded: this.catalogue !== undefined, loadedAt: this.loadedAt === null ? null : new Date(this.loadedAt).toISOString(), error: this.lastError };
  }
}

/** The credit period holding t (UTC): its key (unique per owner) and bounds. */
export function creditPeriod(period: CreditPeriod, t: number): { readonly key: string; readonly start: number; readonly end: number } {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (period === 'month') return { key: `${y}-${String(m + 1).padStart(2, '0')}`, start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
  const day = Date.UTC(y, m, d.getUTCDate());
  if (period === 'day') return { key: new Date(day).toISOString().slice(0, 10), start: day, end: day + 86_400_000 };
  const monday = day - ((d.getUTCDay() + 6) % 7) * 86_400_000;
  return { key: `week-${new Date(monday).toISOString().slice(0, 10)}`, start: monday, end: monday + 7 * 86_400_000 };
}

/** What a plan is counted as against credits and caps: the whole closed window, an open window's first hour. */
export function plannedAmount(plan: ChargePlan): number {
  const end = boundedEnd({ start: plan.windowStart, end: plan.windowEnd });
  return money(plan.items.reduce((s, item) => s + amountOver(plan, item, plan.windowStart, end), 0));
}

export interface OwnerCharging {
  readonly catalogue: Catalogue;
  readonly agreement: Agreement;
  readonly via: string;
}

export function ownerCharging(catalogue: Catalogue | undefined, owner: string, role: string | undefined): OwnerCharging | undefined {
  if (!catalogue) return undefined;
  const match = agreementFor(catalogue, { name: owner, ...(role ? { role } : {}) });
  return match ? { catalogue, agreement: match.agreement, via: match.via } : undefined;
}
