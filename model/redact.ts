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
