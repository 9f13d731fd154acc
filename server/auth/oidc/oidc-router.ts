import { createHash, randomBytes } from 'node:crypto';
import express, { type Request } from 'express';
import * as oidc from 'openid-client';
import type { AuditEntryInput } from '../../audit/entry.ts';
import type { Logger } from '../../log.ts';
import { AppError } from '../../protocol/errors.ts';
import type { Database } from '../../store/sql.ts';
import { readCookie, SESSION_COOKIE } from '../authenticate.ts';
import type { UserStore } from '../user-store.ts';
import { isLoopback, loadOidcConfig, type OidcConfig } from './oidc-config.ts';
import { OidcUsers, type OidcIdentity } from './oidc-users.ts';
import { OidcRepository } from '../../store/repositories/oidc-repository.ts';

/** Cookie binding a login in progress to the browser that started it (login CSRF defence). */
export const FLOW_COOKIE = 'accord_oidc';
/** How long a user has at the provider between /login and /callback. */
export const FLOW_TTL_MS = 10 * 60 * 1000;
/** Logins in progress kept at most; the oldest are dropped first, so unauthenticated /login calls cannot grow memory without bound. */
export const MAX_PENDING_FLOWS = 10_000;

export interface OidcRouterDeps {
  users: UserStore;
  /** The database the users live on: sign-in runs its writes and the audit entry in one of its transactions. */
  db: Database;
  log: Logger;
  /** Mark cookies Secure even when TLS ends at a proxy in front (public URL is https). */
  secureCookies?: boolean;
  /** Absolute lifetime of the web session opened at the callback (as for password sign-in). */
  sessionTtlMs: number;
  /** Settings; omitted: read from the environment (`loadOidcConfig`). Null: SSO disabled. */
  config?: OidcConfig | null;
  /**
   * Audit trail; when given, every SSO sign-in (and the user it created) is recorded, in the sign-in's
   * transaction (a returned promise is awaited).
   */
  audit?: { append(input: AuditEntryInput): unknown };
}

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  expiresAt: number;
}

/**
 * OIDC sign-in (docs/sso.md), mounted at `/api/auth/oidc`: `GET /config`, `GET /login`, `GET /callback`.
 * Authorization code flow with PKCE (S256), state and nonce; the user is created or updated just in
 * time and gets the same `accord_session` cookie as a password sign-in.
 */
export function oidcRouter(deps: OidcRouterDeps): express.Router {
  const config = deps.config === undefined ? loadOidcConfig() : deps.config;
  const router = express.Router();
  const base = '/api/auth/oidc';

  router.get('/config', (_req, res) => {
    res.json(config ? { enabled: true, loginUrl: `${base}/login` } : { enabled: false, loginUrl: null });
  });
  if (!config) {
    router.use((_req, _res, next) => next(new AppError('not_found', 'single sign-on is not configured')));
    return router;
  }

  const users = new OidcUsers(deps.db, deps.users);
  // Sign-ins in progress live in the database (hash of the cookie's id): the callback may reach any node.
  const flows = new OidcRepository(deps.db);
  const hashId = (id: string) => createHash('sha256').update(id).digest('hex');
  let discovered: Promise<oidc.Configuration> | undefined;
  const provider = (): Promise<oidc.Configuration> => {
    discovered ??= discover(config).catch((err: unknown) => {
      discovered = undefined; // try again at the next sign-in rather than caching the outage
      throw err;
    });
    return discovered;
  };

  router.get('/login', async (req, res) => {
    let client: oidc.Configuration;
    try {
      client = await provider();
    } catch (err) {
      deps.log.error({ err, issuer: config.issuer }, 'OIDC discovery failed');
      throw new AppError('storage_failed', 'the identity provider is unreachable; try again later');
    }
    const flow: Pending = {
      state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), expiresAt: Date.now() + FLOW_TTL_MS,
    };
    const flowId = randomBytes(32).toString('base64url');
    await flows.putFlow(hashId(flowId), flow, MAX_PENDING_FLOWS);
    const url = oidc.buildAuthorizationUrl(client, {
      redirect_uri: config.redirectUrl,
      scope: config.scopes,
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    res.cookie(FLOW_COOKIE, flowId, { httpOnly: true, sameSite: 'lax', secure: req.secure || deps.secureCookies === true, path: base, maxAge: FLOW_TTL_MS });
    res.set('cache-control', 'no-store');
    res.redirect(302, url.href);
  });

  router.get('/callback', async (req, res) => {
    const flowId = readCookie(req.headers.cookie, FLOW_COOKIE);
    // One use: taking it deletes it, so a replayed callback finds nothing.
    const flow = flowId && flowId.length <= 100 ? await flows.takeFlow(hashId(flowId)) : null;
    res.clearCookie(FLOW_COOKIE, { path: base });
    if (!flow || flow.expiresAt < Date.now()) {
      throw new AppError('unauthorized', 'no sign-in in progress in this browser (or it expired): start again');
    }
    let identity: OidcIdentity;
    try {
      identity = await exchange(await provider(), config, req, flow);
    } catch (err) {
      // The reason (state mismatch, provider error, bad ID token) is logged; the caller learns only that it failed.
      deps.log.warn({ err: describe(err) }, 'OIDC callback refused');
      throw new AppError('unauthorized', 'single sign-on failed: start again');
    }
    const signedIn = await users.signIn(identity, config, (result) => deps.audit?.append({
      actor: result.principal.username, action: 'session.sso', subject: `user:${result.principal.username}`, outcome: 'ok',
      detail: { issuer: identity.issuer, subject: identity.subject, created: result.created, role: result.principal.role, groups: result.groups },
    }));
    const sid = await deps.users.openSession(signedIn.principal.userId, deps.sessionTtlMs);
    res.cookie(SESSION_COOKIE, sid, { httpOnly: true, sameSite: 'lax', secure: req.secure || deps.secureCookies === true, path: '/', maxAge: deps.sessionTtlMs });
    res.set('cache-control', 'no-store');
    deps.log.info({ user: signedIn.principal.username, created: signedIn.created }, 'signed in with SSO');
    res.redirect(302, '/');
  });

  return router;
}


async function discover(config: OidcConfig): Promise<oidc.Configuration> {
  const issuer = new URL(config.issuer);
  return oidc.discovery(
    issuer, config.clientId,
    config.clientSecret === undefined ? undefined : { client_secret: config.clientSecret },
    config.clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(config.clientSecret),
    { execute: issuer.protocol === 'http:' && isLoopback(issuer) ? [oidc.allowInsecureRequests] : [], timeout: 10 },
  );
}

/** Code → tokens (checking PKCE, state, nonce and the ID token), then the claims Accord uses. */
async function exchange(client: oidc.Configuration, config: OidcConfig, req: Request, flow: Pending): Promise<OidcIdentity> {
  // The URL the provider redirected to is the registered one plus the query it added: robust behind proxies.
  const current = new URL(config.redirectUrl);
  current.search = new URL(req.originalUrl, 'http://placeholder').search;
  const tokens = await oidc.authorizationCodeGrant(client, current, {
    pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true,
  });
  const idClaims = tokens.claims();
  if (!idClaims) throw new Error('no ID token');
  let claims: Record<string, unknown> = { ...idClaims };
  if (client.serverMetadata().userinfo_endpoint) {
    // Many providers put profile and group claims only in userinfo; the subject must match the ID token's.
    const info = await oidc.fetchUserInfo(client, tokens.access_token, idClaims.sub);
    claims = { ...info, ...idClaims };
  }
  const preferred = typeof claims.preferred_username === 'string' ? claims.preferred_username
    : typeof claims.email === 'string' ? claims.email.split('@')[0]! : null;
  return { issuer: idClaims.iss, subject: idClaims.sub, preferredUsername: preferred, groups: groupsOf(claims[config.groupsClaim]) };
}

/** A groups claim is an array of strings (or one space-separated string); anything else is no groups. */
function groupsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string' && g.length <= 256).slice(0, 500);
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean).slice(0, 500);
  return [];
}

/** Error name, code and message only: never tokens or the provider's full response. */
function describe(err: unknown): { name?: string; code?: unknown; message?: string } {
  if (!(err instanceof Error)) return { message: String(err).slice(0, 200) };
  return { name: err.name, code: (err as { code?: unknown }).code, message: err.message.slice(0, 300) };
}

