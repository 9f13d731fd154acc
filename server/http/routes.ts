import express, { type ErrorRequestHandler, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { AppError } from '../protocol/errors.ts';
import { authenticate, readCookie, SESSION_COOKIE } from '../auth/authenticate.ts';
import type { Principal } from '../auth/roles.ts';
import type { UserStore } from '../auth/user-store.ts';
import { hashSecret } from '../auth/user-store.ts';
import { RateLimiter, type SharedCounters } from './rate-limit.ts';

const SignIn = z.strictObject({ username: z.string().min(1).max(64), password: z.string().min(1).max(1_024) });

export interface ApiDeps {
  users: UserStore;
  log: Logger;
  sessionTtlMs: number;
  isReady: () => boolean;
  /** Several nodes: sign-in throttles count for the whole cluster. */
  sharedCounters?: SharedCounters;
  /** What the node's dependencies answer now (the load balancer's health check, docs/operations.md). */
  health?: () => Promise<{ database: 'ok' | 'unavailable'; redis: 'ok' | 'unavailable' | 'off'; node: string }>;
  /** Mark cookies Secure even when TLS ends at a proxy in front (public URL is https). */
  secureCookies: boolean;
  /** Sessions ended: their live sockets must go too. */
  signedOut: (match: { userId?: number; credentialHash?: string }) => void;
}

/** Sign-in attempts: per account (guessing one password) and per address (spraying many accounts). */
const perAccount = (shared?: SharedCounters) => new RateLimiter(10, 5 * 60_000, Date.now, shared ? { counters: shared, name: 'signin-account' } : undefined);
const perAddress = (shared?: SharedCounters) => new RateLimiter(50, 5 * 60_000, Date.now, shared ? { counters: shared, name: 'signin-address' } : undefined);

/**
 * Attaches the authenticated principal to `res.locals.principal` or answers 401. The lookup is async:
 * a failure to check the credential (database unavailable) goes to `next(err)`, so the returned promise
 * does not reject and a caller that invokes the middleware itself may ignore it.
 */
export function requireAuth(users: UserStore) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    let principal: Principal | null;
    try {
      principal = await authenticate(users, req.headers);
    } catch (err) {
      return next(err);
    }
    if (!principal) return next(new AppError('unauthorized', 'sign in or send a valid API token'));
    res.locals.principal = principal;
    next();
  };
}

export function apiRouter(deps: ApiDeps): express.Router {
  const router = express.Router();
  const accountLimit = perAccount(deps.sharedCounters);
  const addressLimit = perAddress(deps.sharedCounters);

  router.get('/health', async (_req, res) => {
    if (!deps.isReady()) throw new AppError('storage_failed', 'starting');
    const states = deps.health ? await deps.health() : undefined;
    // Without Redis a node still serves (documents catch up from PostgreSQL, only slower): it stays in the
    // load balancer and says `redis: unavailable`. Without the database it cannot serve at all.
    const ok = !states || states.database === 'ok';
    res.status(ok ? 200 : 503).json({ ok, service: 'accord', ...states });
  });

  router.post('/session', async (req, res) => {
    const body = SignIn.safeParse(req.body);
    if (!body.success) throw new AppError('invalid_payload', 'send { username, password }');
    const address = req.socket.remoteAddress ?? 'unknown';
    if (!(await addressLimit.takeShared(address)) || !(await accountLimit.takeShared(body.data.username.toLowerCase()))) {
      res.setHeader('Retry-After', String(Math.max(addressLimit.retryAfterSeconds(address), accountLimit.retryAfterSeconds(body.data.username.toLowerCase()))));
      deps.log.warn({ user: body.data.username, address }, 'sign-in rate limited');
      throw new AppError('rate_limited', 'too many sign-in attempts; wait and try again');
    }
    const principal = await deps.users.checkPassword(body.data.username, body.data.password);
    if (!principal) throw new AppError('unauthorized', 'wrong username or password');
    const sid = await deps.users.openSession(principal.userId, deps.sessionTtlMs);
    res.cookie(SESSION_COOKIE, sid, {
      httpOnly: true, sameSite: 'lax', secure: req.secure || deps.secureCookies, path: '/', maxAge: deps.sessionTtlMs,
    });
    deps.log.info({ user: principal.username }, 'signed in');
    res.json({ user: publicUser(principal) });
  });

  router.delete('/session', async (req, res) => {
    const sid = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (sid) {
      await deps.users.closeSession(sid);
      deps.signedOut({ credentialHash: hashSecret(sid) });
    }
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.status(204).end();
  });

  /** Sign out everywhere: every web session of the user ends and their sockets are disconnected. */
  router.delete('/sessions', requireAuth(deps.users), async (_req, res) => {
    const p = res.locals.principal as Principal;
    const ended = await deps.users.closeAllSessions(p.userId);
    deps.signedOut({ userId: p.userId });
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.json({ ended });
  });

  router.get('/me', requireAuth(deps.users), (_req, res) => {
    res.json({ user: publicUser(res.locals.principal as Principal) });
  });

  router.use((_req, _res, next) => next(new AppError('not_found', 'no such endpoint')));
  return router;
}

function publicUser(p: Principal) {
  return { id: p.userId, username: p.username, role: p.role };
}

/** The one error handler: catalogue codes out, internals never. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    let e: AppError;
    if (err instanceof AppError) e = err;
    else if (err?.type === 'entity.too.large') e = new AppError('too_large', 'request body too large');
    else if (err?.type === 'entity.parse.failed') e = new AppError('invalid_payload', 'malformed JSON');
    else e = new AppError('internal', 'unexpected error', { cause: err });
    if (e.status >= 500) log.error({ err }, 'request failed');
    res.status(e.status).json({ error: e.toBody() });
  };
}
