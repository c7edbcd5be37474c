/**
 * Who is calling and what they may do: bearer tokens (stored as SHA-256 hashes) resolve to principals with a role, each
 * route states the permission it needs, and state changes a browser could forge from another site are refused.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { addressMatcher, type OptimisAccessConfig, type Role, type TokenConfig } from '../config/config';
import { AdmissionError } from '../model/errors';

/*
 * Decisions:
 * - Tokens are opaque random strings (`eac_` + 32 random bytes, base64url). The configuration stores only their SHA-256
 *   (hex), so a leaked config file or /api/v1/config answer grants nothing. Lookup is by hash; a hash comparison leaks
 *   nothing useful about the token itself.
 * - Open mode = no tokens configured: every caller acts as the operator `anonymous` (the service then binds 127.0.0.1
 *   unless AC_HOST says otherwise, config.ts). A request that presents a token the service does not know is refused
 *   in every mode: a typo in a client's token must not silently run as somebody else.
 * - AC_PEER_SECRET (the shared inbound federation secret) is a token of role `peer` named `peer`; peers can also get
 *   their own tokens (role `peer`, named after the peer). A peer's credentials work only on federation requests (the
 *   hop header), and a federation request works only with a peer's credentials (federation/inbound.ts), whatever other
 *   headers it carries.
 * - Ownership is not a role: clients and peers act on their own admissions (by principal name); readers see
 *   everything and change nothing; operators do anything.
 * - Browser forgery: a state change that a browser sends on behalf of another site (a form post, an <img> GET, a
 *   text/plain fetch) carries `Sec-Fetch-Site: cross-site|same-site` or an `Origin` that is not this service; such
 *   requests are refused before authentication, in every mode. Non-browser clients send neither header. No CORS
 *   headers are ever sent, so browsers never let other origins read answers either.
 */

export interface Principal {
  /** Owner of its admissions, actor in the audit trail. */
  readonly name: string;
  readonly role: Role;
  /** How the principal was established (for logs; never the token). */
  readonly via: 'token' | 'open-mode' | 'peer-secret' | 'optimis-source';
}

/** What a route needs. */
export type Permission =
  /** POST admissions (not as a peer). */
  | 'admit'
  /** See and change one's own admissions, events and subscriptions. */
  | 'own'
  /** Every GET view: hosts, capacity, admissions of everyone, policy, constraints, windows, events, audit. */
  | 'view'
  | 'metrics'
  /** Policy, constraints, capacity windows, other principals' admissions, cleanTestbed. */
  | 'operate'
  /** GET /api/v1/config. */
  | 'config'
  /** Federation inbound: admit and release as a peer provider. */
  | 'federate';

const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  operator: new Set<Permission>(['admit', 'own', 'view', 'metrics', 'operate', 'config']),
  client: new Set<Permission>(['admit', 'own']),
  reader: new Set<Permission>(['view', 'metrics']),
  peer: new Set<Permission>(['federate', 'own']),
};

export function allows(principal: Principal, permission: Permission): boolean {
  return ROLE_PERMISSIONS[principal.role].has(permission);
}

/** Operators and readers see every principal's admissions and events; clients and peers only their own. */
export function seesAll(principal: Principal): boolean {
  return principal.role === 'operator' || principal.role === 'reader';
}

/** Only operators change what other principals own. */
export function changesAll(principal: Principal): boolean {
  return principal.role === 'operator';
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by authenticate() when the caller is known (or the service is in open mode). */
    principal?: Principal;
  }
}

export const TOKEN_PREFIX = 'eac_';

/** A new random token and the line to put into the config file's `tokens`. */
export function createToken(name: string, role: Role): { token: string; entry: TokenConfig } {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, entry: { name, role, sha256: tokenHash(token) } };
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface AuthOptions {
  readonly tokens: readonly TokenConfig[];
  /** AC_PEER_SECRET. */
  readonly peerSecret?: string;
  readonly optimis: OptimisAccessConfig;
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;
export const OPTIMIS_PREFIX = '/ACGateway/';

function unauthorized(res: Response, message: string, reason: string): AdmissionError {
  res.setHeader('WWW-Authenticate', 'Bearer realm="eac"');
  return new AdmissionError('AC_ERR_UNAUTHORIZED', message, [{ field: 'Authorization', reason }]);
}

/** Resolves `req.principal`; refuses unknown tokens (401). Anonymous requests pass with no principal (routes decide). */
export function authenticate(options: AuthOptions) {
  const byHash = new Map(options.tokens.map((t) => [t.sha256.toLowerCase(), t]));
  const open = options.tokens.length === 0;
  const peerSecretHash = options.peerSecret === undefined ? undefined : createHash('sha256').update(options.peerSecret, 'utf8').digest();
  const trustedOptimisSource = addressMatcher(options.optimis.trustedSources);
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.get('authorization');
    if (header !== undefined) {
      const m = BEARER.exec(header);
      if (!m) throw unauthorized(res, 'Authorization: expected "Bearer <token>"', 'not a bearer token');
      const token = m[1]!;
      const hash = createHash('sha256').update(token, 'utf8').digest();
      if (peerSecretHash && timingSafeEqual(hash, peerSecretHash)) {
        req.principal = { name: 'peer', role: 'peer', via: 'peer-secret' };
      } else {
        const entry = byHash.get(hash.toString('hex'));
        if (!entry) throw unauthorized(res, 'the bearer token is not valid', 'unknown token');
        req.principal = { name: entry.name, role: entry.role, via: 'token' };
      }
    } else if (open) {
      req.principal = { name: 'anonymous', role: 'operator', via: 'open-mode' };
    } else if (req.path.startsWith(OPTIMIS_PREFIX) && trustedOptimisSource(req.socket.remoteAddress)) {
      req.principal = { name: options.optimis.principal, role: options.optimis.role, via: 'optimis-source' };
    }
    next();
  };
}

/** The route needs `permission`: 401 without a principal, 403 when its role lacks it. */
export function requires(permission: Permission) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const p = req.principal;
    if (!p) throw unauthorized(res, 'this request needs a token: Authorization: Bearer <token>', 'missing');
    if (!allows(p, permission)) {
      throw new AdmissionError('AC_ERR_FORBIDDEN', `principal '${p.name}' (role ${p.role}) may not ${PERMISSION_WORDS[permission]}`, [
        { field: 'Authorization', reason: `role ${p.role} lacks '${permission}'` },
      ]);
    }
    next();
  };
}

const PERMISSION_WORDS: Readonly<Record<Permission, string>> = {
  admit: 'request admissions',
  own: 'act on admissions',
  view: 'read this view',
  metrics: 'read metrics',
  operate: 'change the provider’s settings or other principals’ admissions',
  config: 'read the configuration',
  federate: 'make federation requests',
};

/** Admissions: clients and operators; peers only on federation requests (federation/inbound.ts read the headers). */
export function requiresAdmitOrFederate(req: Request, res: Response, next: NextFunction): void {
  if (req.principal?.role === 'peer' && req.federation) return next();
  requires('admit')(req, res, next);
}

/** The principal, for handlers behind requires() (which guarantees one). */
export function principalOf(req: Request): Principal {
  if (!req.principal) throw new AdmissionError('AC_ERR_UNAUTHORIZED', 'this request needs a token', [{ field: 'Authorization', reason: 'missing' }]);
  return req.principal;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Refuses state changes that a browser sent on another site's behalf (see Decisions). `stateChangingGet` tells which
 * GET paths change state (the OPTIMIS originals).
 */
export function refuseCrossSite(stateChangingGet: (req: Request) => boolean) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (!STATE_CHANGING.has(req.method) && !(req.method === 'GET' && stateChangingGet(req))) {
      next();
      return;
    }
    const site = req.get('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new AdmissionError('AC_ERR_FORBIDDEN', `a state change sent by a browser from another site is refused (Sec-Fetch-Site: ${site})`, [
        { field: 'Sec-Fetch-Site', reason: 'cross-site state change' },
      ]);
    }
    const origin = req.get('origin');
    if (origin !== undefined && !sameOrigin(origin, req)) {
      throw new AdmissionError('AC_ERR_FORBIDDEN', `a state change sent by a browser from another origin is refused (Origin: ${origin.slice(0, 100)})`, [
        { field: 'Origin', reason: 'not this service' },
      ]);
    }
    next();
  };
}

function sameOrigin(origin: string, req: Request): boolean {
  if (origin === 'null') return false; // sandboxed frames, file: pages, redirects across origins
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}
