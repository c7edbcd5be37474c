/** How secrets are hidden wherever values are shown (config views, health, logs): one rule for every module. */

export const REDACTED = '[redacted]';

/**
 * A path segment that looks like a credential: long, and mixing letters with digits (API keys, tokens, signed ids
 * embedded in paths such as `/hooks/3f9c…/`). Ordinary segments (`api`, `v1`, `RPC2`, `trust`) stay readable.
 */
const SECRET_LIKE_SEGMENT = /^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9._~+=-]{16,}$/;

/**
 * A URL as it may be shown: user info, every query value, the fragment and credential-like path segments replaced by
 * '[redacted]' (query keys stay, so that an operator sees *which* parameter is set). Unparseable text is redacted whole.
 */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return REDACTED;
  }
  const userInfo = u.username !== '' || u.password !== '' ? `${REDACTED}@` : '';
  const pathname = u.pathname
    .split('/')
    .map((segment) => (SECRET_LIKE_SEGMENT.test(decodeURIComponentSafe(segment)) ? REDACTED : segment))
    .join('/');
  const keys = [...new URLSearchParams(u.search).keys()];
  const search = keys.length > 0 ? `?${keys.map((k) => `${encodeURIComponent(k)}=${REDACTED}`).join('&')}` : u.search === '?' ? '?' : '';
  // Built by hand: URL would percent-encode the brackets of the marker.
  return `${u.protocol}//${userInfo}${u.host}${pathname}${search}${u.hash ? `#${REDACTED}` : ''}`;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Query parameters of a database URL whose values are never secret (shown as they are). */
const HARMLESS_DATABASE_PARAMS: ReadonlySet<string> = new Set(['sslmode', 'application_name', 'connect_timeout', 'host', 'port', 'options', 'target_session_attrs']);

/**
 * A database URL (`postgres://user:password@host:5432/db?…`) as it may be shown: the password and every query value
 * but a few harmless ones (sslmode, application_name, …) replaced by '[redacted]'; user, host, port and database stay
 * readable so that an operator can tell which database is meant. Unparseable text is redacted whole.
 */
export function redactDatabaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return REDACTED;
  }
  const user = u.username;
  const userInfo = user !== '' || u.password !== '' ? `${user}${u.password !== '' ? `:${REDACTED}` : ''}@` : '';
  const params = [...new URLSearchParams(u.search).entries()];
  const search =
    params.length > 0
      ? `?${params.map(([k, v]) => `${encodeURIComponent(k)}=${HARMLESS_DATABASE_PARAMS.has(k.toLowerCase()) ? encodeURIComponent(v) : REDACTED}`).join('&')}`
      : '';
  return `${u.protocol}//${userInfo}${u.host}${u.pathname}${search}${u.hash ? `#${REDACTED}` : ''}`;
}
