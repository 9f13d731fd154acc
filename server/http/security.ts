import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { AppError } from '../protocol/errors.ts';
import { presentedCredential } from '../auth/authenticate.ts';

/**
 * Security headers: a strict CSP (scripts only from this origin, never inline; no framing), no MIME
 * sniffing, no referrer. Inline style attributes stay allowed (Svelte sets them); style elements do not.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrcElem: ["'self'"],
        styleSrcAttr: ["'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false,
  });
}

/**
 * Is this request or handshake from our own origin? Browsers send `Origin` on every cross-origin
 * request and every WebSocket handshake; a page on another site cannot forge it.
 */
export function isSameOrigin(headers: IncomingHttpHeaders, publicOrigin: string | undefined): boolean {
  const origin = headers.origin;
  if (typeof origin !== 'string' || origin === 'null') return false;
  if (publicOrigin && origin === publicOrigin) return true;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * CSRF protection: a state-changing request that relies on the session cookie (no Bearer token) must
 * come from our own origin. API-token clients are not affected: a browser never attaches an
 * Authorization header to a cross-site request by itself. Any other Authorization header (Basic, a
 * malformed one) does not exempt a request: the cookie is what would authenticate it.
 */
export function originGuard(publicOrigin: string | undefined): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (SAFE.has(req.method) || presentedCredential(req.headers)?.kind === 'token') return next();
    if (!isSameOrigin(req.headers, publicOrigin)) return next(new AppError('forbidden', 'cross-origin request refused'));
    next();
  };
}
