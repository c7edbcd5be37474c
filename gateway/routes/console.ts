/**
 * The operator's console: GET /console (one HTML page), /console/console.css, /console/favicon.svg and
 * /console/console.js (compiled by the project's tsc from gateway/console/console.ts). Static files only: the page
 * calls the JSON API v1 with the bearer token the user typed (kept in sessionStorage), so roles are enforced by the
 * API routes exactly as for any client.
 */
import fs from 'node:fs';
import path from 'node:path';
import express, { type Request, type Response, type Router } from 'express';
import { AdmissionError } from '../../model/errors';

/*
 * Decisions:
 * - No server-side session, no cookie: the page is public (it holds no data), every datum comes from the API with an
 *   Authorization header the script adds. A cookie would make every API route forgeable from other sites; a header
 *   cannot be sent by another site's form or <img>.
 * - A strict Content-Security-Policy: scripts only from this origin (no inline script, no eval), no frames, no plugins,
 *   forms post nowhere (the script handles them), connections only to this origin. The script writes data with
 *   textContent and DOM nodes only, never innerHTML, so a hostile service id or reason cannot become markup.
 * - Assets are read once, at the first request, from the repository (HTML, CSS) and from the compiled output (JS), so
 *   `npm start` from dist/ and in-process tests from the sources both find them.
 */

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const ASSETS: Readonly<Record<string, { readonly file: string; readonly type: string; readonly compiled?: boolean }>> = {
  '/console': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
  '/console/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8', compiled: true },
  '/console/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** The repository root, from gateway/routes (sources, ts-jest) or dist/gateway/routes (compiled). */
function repositoryRoot(): string {
  const up2 = path.resolve(__dirname, '..', '..');
  return fs.existsSync(path.join(up2, 'package.json')) ? up2 : path.resolve(up2, '..');
}

function readAsset(name: string, compiled: boolean): Buffer | undefined {
  const root = repositoryRoot();
  const candidates = compiled
    ? [path.join(__dirname, '..', 'console', name), path.join(root, 'dist', 'gateway', 'console', name)]
    : [path.join(root, 'gateway', 'console', name)];
  for (const file of candidates) {
    try {
      return fs.readFileSync(file);
    } catch {
      // next candidate
    }
  }
  return undefined;
}

function securityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-cache');
}

export function consoleRoutes(): Router {
  const router = express.Router();
  const cache = new Map<string, Asset>();
  const asset = (route: string): Asset => {
    const known = cache.get(route);
    if (known) return known;
    const spec = ASSETS[route]!;
    const body = readAsset(spec.file, spec.compiled === true);
    if (!body) {
      throw new AdmissionError('AC_ERR_NOT_FOUND', `the console asset ${spec.file} is missing (run npm run build)`, [{ field: 'path', reason: 'console not built' }]);
    }
    const a = { body, type: spec.type };
    cache.set(route, a);
    return a;
  };
  for (const route of Object.keys(ASSETS)) {
    router.get(route, (_req: Request, res: Response) => {
      const a = asset(route);
      securityHeaders(res);
      res.statusCode = 200;
      res.setHeader('Content-Type', a.type);
      res.setHeader('Content-Length', a.body.length);
      res.end(a.body);
    });
  }
  return router;
}
