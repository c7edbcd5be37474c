/**
 * What the two remote providers share: one HTTP exchange with a whole-request deadline and plain-language errors,
 * and a snapshot cache (TTL, one in-flight request for all callers, bounded stale answers, empty or much shorter answers
 * held back, status and per-snapshot facts for health).
 */
import axios, { AxiosError } from 'axios';
import { AdmissionError, isAdmissionError } from '../model/errors';
import { parseXml, type XmlElement } from '../xml/safe-xml';
import { checkGuardConfig, SnapshotKeeper } from './keeper';
import type { HostCapacity, HostInfoStatus, HostSnapshot, ShrinkGuardConfig, SnapshotInfo } from './types';

// ---------------------------------------------------------------------------------------------
// Configuration checks

/** Validates an http(s) URL from the configuration; returns it with user info removed, for messages. */
export function checkUrl(provider: string, url: unknown): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new AdmissionError('AC_ERR_CONFIG', `${provider}: url is not a valid URL`, [{ field: `${provider}.url`, reason: 'not a valid URL' }]);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new AdmissionError('AC_ERR_CONFIG', `${provider}: url must be http or https (got ${parsed.protocol})`, [
      { field: `${provider}.url`, reason: `unsupported protocol ${parsed.protocol}` },
    ]);
  }
  return redactUrl(parsed);
}

/** Validates timeoutMs, cacheTtlMs, and the settings every kind shares (maxStaleMs, maxShrink, shrinkConfirmMs). */
export function checkDurations(provider: string, c: { timeoutMs: unknown; cacheTtlMs: unknown; maxStaleMs?: unknown } & ShrinkGuardConfig): void {
  const bad = (field: string, reason: string): never => {
    throw new AdmissionError('AC_ERR_CONFIG', `${provider}: ${field} ${reason}`, [{ field: `${provider}.${field}`, reason }]);
  };
  if (typeof c.timeoutMs !== 'number' || !Number.isFinite(c.timeoutMs) || c.timeoutMs <= 0) bad('timeoutMs', 'must be a positive number of ms');
  if (typeof c.cacheTtlMs !== 'number' || !Number.isFinite(c.cacheTtlMs) || c.cacheTtlMs < 0) bad('cacheTtlMs', 'must be a number of ms ≥ 0');
  checkGuardConfig(provider, c);
}

/** The URL without `user:password@`, so that messages and health output can show it. */
export function redactUrl(url: URL): string {
  if (!url.username && !url.password) return url.toString();
  const copy = new URL(url.toString());
  copy.username = '';
  copy.password = '';
  return copy.toString();
}

// ---------------------------------------------------------------------------------------------
// One HTTP exchange

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  /** The URL as it may appear in messages. */
  readonly shownUrl: string;
  /** Who is being asked, for messages ("PhysicalHosts service", "OpenNebula"). */
  readonly label: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  readonly signal: AbortSignal;
  readonly maxBytes: number;
  readonly followRedirects: boolean;
}

/**
 * Performs the request and returns the body of a 2xx answer as text. Every failure except an abort becomes
 * AC_ERR_UPSTREAM naming the URL and the problem; an abort is rethrown as is (the caller knows why it aborted).
 */
export async function httpText(req: HttpRequest): Promise<string> {
  let response;
  try {
    response = await axios.request<string>({
      method: req.method,
      url: req.url,
      data: req.body,
      headers: req.headers,
      signal: req.signal,
      responseType: 'text',
      // Keep the body as text: parsing is ours, and axios must not try JSON on an XML or HTML body.
      transformResponse: [(data: unknown) => data],
      // Our own error messages for every status, including the body's first words.
      validateStatus: () => true,
      maxContentLength: req.maxBytes,
      maxBodyLength: req.maxBytes,
      maxRedirects: req.followRedirects ? 5 : 0,
      // Host-info sources are data-centre endpoints: an HTTP(S)_PROXY set for outbound traffic must not capture
      // them (nor see an OpenNebula session string in a request body).
      proxy: false,
    });
  } catch (error) {
    if (req.signal.aborted) throw req.signal.reason ?? error;
    throw new AdmissionError('AC_ERR_UPSTREAM', `${req.label} ${req.shownUrl}: ${describeTransportError(error, req.maxBytes)}`, [
      { field: req.shownUrl, reason: describeTransportError(error, req.maxBytes) },
    ]);
  }
  const body = typeof response.data === 'string' ? response.data : String(response.data ?? '');
  if (response.status < 200 || response.status > 299) {
    const snippet = firstWords(body);
    const reason = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${snippet ? ` (${snippet})` : ''}`;
    throw new AdmissionError('AC_ERR_UPSTREAM', `${req.label} ${req.shownUrl}: answered ${reason}`, [{ field: req.shownUrl, reason }]);
  }
  return body;
}

function describeTransportError(error: unknown, maxBytes: number): string {
  if (error instanceof AxiosError) {
    const code = error.code ?? (error.cause as { code?: string } | undefined)?.code;
    switch (code) {
      case 'ECONNREFUSED':
        return 'connection refused (ECONNREFUSED)';
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `host name not resolved (${code})`;
      case 'ECONNRESET':
        return 'connection reset by the server (ECONNRESET)';
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `host unreachable (${code})`;
      case 'ERR_FR_MAX_CONTENT_LENGTH_EXCEEDED':
      case 'ERR_BAD_RESPONSE':
        if (/maxContentLength/i.test(error.message)) return `answer larger than ${maxBytes} bytes`;
        break;
      case 'ERR_FR_TOO_MANY_REDIRECTS':
        return 'too many redirects';
      default:
        break;
    }
    return code ? `${error.message} (${code})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The start of an error body, one line, for messages: enough to recognise a proxy or login page. */
function firstWords(body: string): string {
  const text = body
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

/**
 * When an answer is an HTML page (a proxy, login or error page, often served with status 200), says so with its title:
 * more useful to an operator than a parse error or a "wrong root element". Undefined for anything else.
 */
export function htmlPageReason(body: string): string | undefined {
  const head = body.replace(/^\uFEFF/, '').trimStart().slice(0, 200).toLowerCase();
  if (!head.startsWith('<!doctype html') && !head.startsWith('<html')) return undefined;
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(body)?.[1]?.replace(/\s+/g, ' ').trim();
  return `is an HTML page, not XML${title ? ` ("${title.slice(0, 80)}")` : ''}`;
}

/** Why an answer could not be read as XML, from parseXml's error (which gives line and column). */
export function notXmlReason(error: AdmissionError): string {
  const where = error.details.map((d) => `${d.field}: ${d.reason}`).join('; ') || error.message;
  if (error.code === 'AC_ERR_FORBIDDEN_XML') return `uses refused XML constructs (${where})`;
  return `is not well-formed XML (${where})`;
}

// ---------------------------------------------------------------------------------------------
// Snapshot cache

export interface Snapshot {
  readonly hosts: readonly HostCapacity[];
  readonly notes?: readonly string[];
}

export interface SnapshotCacheOptions {
  readonly provider: string;
  /** URL shown in messages and status (no credentials). */
  readonly source: string;
  readonly label: string;
  /** The provider's configured durations and shrink guard (checked by checkDurations). */
  readonly durations: { readonly timeoutMs: number; readonly cacheTtlMs: number; readonly maxStaleMs?: number } & ShrinkGuardConfig;
  /** Reads the source once; must honour the signal (it carries the deadline). */
  readonly fetch: (signal: AbortSignal) => Promise<Snapshot>;
  /** Test hook for time; defaults to Date.now. */
  readonly clock?: () => number;
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly error: AdmissionError };

/**
 * Serves a remote snapshot.
 * - Asked less than cacheTtlMs ago: the held snapshot is served without asking the source (after a failure or a
 *   suspicious answer too, so that a dead source does not add its timeout to every admission).
 * - Otherwise one request is made for all concurrent callers (a caller's own signal only stops its wait, so the
 *   others and the cache still get the answer).
 * - What the answer does to the held snapshot (believed, or held back because it is empty or much shorter) and how
 *   long an old snapshot may be served (cacheTtlMs + maxStaleMs after the source last vouched for it) are
 *   SnapshotKeeper's rules. Past that bound listHosts() rejects with HostSnapshotTooOldError.
 */
export class SnapshotCache {
  private readonly clock: () => number;
  private readonly keeper: SnapshotKeeper;
  private inflight: Promise<Outcome> | undefined;
  /** When the last read of the source ended, whatever its outcome. */
  private lastAttemptAt: number | undefined;

  constructor(private readonly options: SnapshotCacheOptions) {
    this.clock = options.clock ?? Date.now;
    const { label, source } = options;
    this.keeper = new SnapshotKeeper({
      provider: options.provider,
      source,
      where: `${label} ${source}`,
      subject: label,
      verb: 'answered',
      cacheTtlMs: options.durations.cacheTtlMs,
      guard: options.durations,
      tooOldCode: 'AC_ERR_HOST_INFO_STALE',
      emptyError: (notes) => {
        const reason = `answered 0 hosts${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
        return new AdmissionError('AC_ERR_UPSTREAM', `${label} ${source}: ${reason}: there is no capacity to offer (an empty host list is never taken as the truth)`, [
          { field: source, reason },
        ]);
      },
      clock: this.clock,
    });
  }

  async get(signal?: AbortSignal): Promise<HostSnapshot> {
    if (signal?.aborted) throw this.cancelled(signal);
    const now = this.clock();
    if (this.lastAttemptAt !== undefined && now - this.lastAttemptAt < this.options.durations.cacheTtlMs && this.keeper.servable(now)) {
      return this.keeper.serve();
    }
    const outcome = await this.waitFor(this.refresh(), signal);
    const after = this.clock();
    if (this.keeper.servable(after)) return this.keeper.serve();
    throw this.keeper.unservable(after, outcome.ok ? undefined : outcome.error);
  }

  status(): HostInfoStatus {
    return this.keeper.status(this.clock());
  }

  info(snapshot: HostSnapshot): SnapshotInfo | undefined {
    return this.keeper.info(snapshot, this.clock());
  }

  private refresh(): Promise<Outcome> {
    if (!this.inflight) {
      this.inflight = this.fetchOnce().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  /** Never rejects: the outcome is recorded here once, whatever happens to the callers waiting on it. */
  private async fetchOnce(): Promise<Outcome> {
    const { label, source } = this.options;
    const { timeoutMs } = this.options.durations;
    const controller = new AbortController();
    const timeout = new AdmissionError('AC_ERR_TIMEOUT', `${label} ${source}: no complete answer within ${timeoutMs} ms`, [
      { field: source, reason: `timeout after ${timeoutMs} ms` },
    ]);
    const timer = setTimeout(() => controller.abort(timeout), timeoutMs);
    try {
      const snapshot = await this.options.fetch(controller.signal);
      const offered = this.keeper.offer(snapshot.hosts, snapshot.notes ?? [], this.clock());
      return offered.kind === 'refused' ? { ok: false, error: offered.error } : { ok: true };
    } catch (error) {
      const e = controller.signal.aborted ? timeout : asUpstreamError(error, label, source);
      this.keeper.fail(e, this.clock());
      return { ok: false, error: e };
    } finally {
      clearTimeout(timer);
      this.lastAttemptAt = this.clock();
    }
  }

  private waitFor(shared: Promise<Outcome>, signal: AbortSignal | undefined): Promise<Outcome> {
    if (!signal) return shared;
    return new Promise<Outcome>((resolve, reject) => {
      const onAbort = (): void => reject(this.cancelled(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      shared.then(
        (o) => {
          signal.removeEventListener('abort', onAbort);
          resolve(o);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  private cancelled(signal: AbortSignal): AdmissionError {
    if (isAdmissionError(signal.reason)) return signal.reason;
    return new AdmissionError('AC_ERR_TIMEOUT', `${this.options.label} ${this.options.source}: the caller cancelled the request`, [
      { field: this.options.source, reason: 'cancelled by the caller' },
    ]);
  }
}

function asUpstreamError(error: unknown, label: string, source: string): AdmissionError {
  if (isAdmissionError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AdmissionError('AC_ERR_UPSTREAM', `${label} ${source}: ${message}`, [{ field: source, reason: message }]);
}

/**
 * The root element of a remote source's XML answer; an empty answer, an HTML error page or malformed XML is an
 * AC_ERR_UPSTREAM naming `where`. Shared by the PhysicalHosts and OpenNebula providers.
 */
export function answerRoot(xml: string, where: string): XmlElement {
  const fail = (reason: string): never => {
    throw new AdmissionError('AC_ERR_UPSTREAM', `${where}: ${reason}`, [{ field: where, reason }]);
  };
  if (xml.trim() === '') fail('the answer is empty');
  const html = htmlPageReason(xml);
  if (html) fail(`the answer ${html}`);
  try {
    return parseXml(xml).root;
  } catch (error) {
    if (!isAdmissionError(error)) throw error;
    return fail(`the answer ${notXmlReason(error)}`);
  }
}
