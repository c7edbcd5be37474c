/**
 * The service's HTTP client for the `eac` command line (fetch, Node 20): bearer token, JSON in and out, and every
 * failure turned into a CliError carrying the exit code it means. The token is sent, never printed.
 */

/** Exit codes of the service commands (documented in `eac --help` and README.md). */
export const EXIT = {
  OK: 0,
  /** A bug or an unexpected answer (not JSON where JSON was due…). */
  INTERNAL: 1,
  /** Bad command line or local input (unknown option, missing file, bad date). */
  USAGE: 2,
  /** The server refused the request (4xx): 401 no / unknown token, 403 role or ownership, 404, 409, 400… */
  REFUSED: 3,
  /** The server failed (5xx) or could not be reached. */
  UNAVAILABLE: 4,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** The server's error body, when there was one (printed with --json). */
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  readonly url: string;
  readonly token?: string | undefined;
  /** Per request, ms (not for streams). Default 60 s. */
  readonly timeoutMs?: number;
}

type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** A string is sent as is with `contentType`; anything else as JSON. */
  readonly body?: unknown;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

interface ServerError {
  readonly error?: { readonly code?: string; readonly message?: string; readonly details?: readonly { field?: string; reason?: string }[] };
  readonly requestId?: string;
}

export class EacClient {
  private readonly base: URL;

  constructor(private readonly options: ClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new CliError(`--url: expected an http(s) URL such as http://127.0.0.1:8080, got '${options.url}'`, EXIT.USAGE);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new CliError(`--url: expected http or https, got '${base.protocol}'`, EXIT.USAGE);
    this.base = base;
  }

  url(path: string, query: Query = {}): URL {
    const u = new URL(path, this.base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
    return u;
  }

  private headers(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return { Accept: 'application/json', ...(this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {}), ...extra };
  }

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = this.url(path, options.query);
    const headers = this.headers(options.headers);
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['Content-Type'] = options.contentType ?? 'application/json';
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(this.options.timeoutMs ?? 60_000) });
    } catch (error) {
      throw unreachable(this.base, error);
    }
    const text = await res.text();
    if (!res.ok) throw refusal(method, url, res.status, text);
    if (res.status === 204 || text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${method} ${url.pathname}: the server answered ${res.status} with something that is not JSON`, EXIT.INTERNAL);
    }
  }

  /**
   * Server-Sent Events: calls `onEvent` per event until the stream ends or `signal` aborts; reconnects with
   * Last-Event-ID when the connection drops (as a browser's EventSource would).
   */
  async stream(path: string, query: Query, onEvent: (e: { id: string | undefined; event: string; data: string }) => void, signal: AbortSignal): Promise<void> {
    let lastId: string | undefined;
    let firstAttempt = true;
    while (!signal.aborted) {
      let res: Response;
      try {
        res = await fetch(this.url(path, lastId === undefined ? query : { ...query, after: undefined }), {
          headers: this.headers({ Accept: 'text/event-stream', ...(lastId !== undefined ? { 'Last-Event-ID': lastId } : {}) }),
          signal,
        });
      } catch (error) {
        if (signal.aborted) return;
        if (firstAttempt) throw unreachable(this.base, error);
        await sleep(2000, signal);
        continue;
      }
      if (!res.ok) throw refusal('GET', this.url(path), res.status, await res.text());
      firstAttempt = false;
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut: number;
          while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
            const e = parseSseBlock(block);
            if (e.id !== undefined) lastId = e.id;
            if (e.data !== undefined) onEvent({ id: e.id ?? lastId, event: e.event ?? 'message', data: e.data });
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        void error; // the connection dropped: reconnect below
      }
      if (!signal.aborted) await sleep(1000, signal);
    }
  }
}

function parseSseBlock(block: string): { id?: string; event?: string; data?: string } {
  const out: { id?: string; event?: string; data?: string } = {};
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') out.id = value;
    else if (field === 'event') out.event = value;
    else if (field === 'data') out.data = out.data === undefined ? value : `${out.data}\n${value}`;
  }
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

function unreachable(base: URL, error: unknown): CliError {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const why = e.name === 'TimeoutError' ? 'no answer in time' : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(error));
  return new CliError(`cannot reach the service at ${base.origin}: ${why}`, EXIT.UNAVAILABLE);
}

function refusal(method: string, url: URL, status: number, text: string): CliError {
  let body: ServerError | undefined;
  try {
    body = JSON.parse(text) as ServerError;
  } catch {
    body = undefined;
  }
  const code = body?.error?.code;
  const message = body?.error?.message ?? (text.trim().slice(0, 200) || `HTTP ${status}`);
  const detail = body?.error?.details?.[0];
  const where = `${method} ${url.pathname}`;
  const suffix = `${detail?.field && !message.includes(detail.field) ? ` (${detail.field}: ${detail.reason})` : ''}${body?.requestId ? ` [request ${body.requestId}]` : ''}`;
  if (status === 401) return new CliError(`unauthorized (401${code ? ` ${code}` : ''}): ${message} — give a valid token with --token or EAC_TOKEN${suffix}`, EXIT.REFUSED, body);
  if (status === 403) return new CliError(`forbidden (403${code ? ` ${code}` : ''}): ${message} — the token's role or ownership does not allow this${suffix}`, EXIT.REFUSED, body);
  if (status >= 400 && status < 500) return new CliError(`${where}: refused (${status}${code ? ` ${code}` : ''}): ${message}${suffix}`, EXIT.REFUSED, body);
  return new CliError(`${where}: the service failed (${status}${code ? ` ${code}` : ''}): ${message}${suffix}`, EXIT.UNAVAILABLE, body);
}
