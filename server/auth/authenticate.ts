import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from './roles.ts';
import type { UserStore } from './user-store.ts';

export const SESSION_COOKIE = 'accord_session';

/** Reads one cookie from a Cookie header without a dependency; values are never logged. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined; // a malformed cookie is no cookie: the request is simply unauthenticated
      }
    }
  }
  return undefined;
}

function bearer(header: string | undefined): string | undefined {
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

/** The credential a request or handshake presents: a token wins over the session cookie. */
export type PresentedCredential = { kind: 'token'; token: string } | { kind: 'cookie'; sid: string };

/**
 * Which credential `authenticate` will check, so that the origin guards (CSRF, cross-site WebSocket
 * hijacking) apply exactly when the cookie is what authenticates: a handshake token that is not a
 * string, or an Authorization header that is not a Bearer token, does not count as a token.
 */
export function presentedCredential(headers: IncomingHttpHeaders, handshakeToken?: unknown): PresentedCredential | null {
  const token = typeof handshakeToken === 'string' ? handshakeToken : bearer(headers.authorization);
  if (token) return { kind: 'token', token };
  const sid = readCookie(headers.cookie, SESSION_COOKIE);
  return sid ? { kind: 'cookie', sid } : null;
}

/**
 * The one way a request or socket becomes a principal: an API token (Bearer header, or the
 * Socket.io handshake's `auth.token`) or a web session cookie. Resolves to null when neither is valid;
 * rejects only when the credential could not be checked (the database is unavailable: `storage_unavailable`).
 */
export async function authenticate(users: UserStore, headers: IncomingHttpHeaders, handshakeToken?: unknown): Promise<Principal | null> {
  const credential = presentedCredential(headers, handshakeToken);
  if (!credential) return null;
  if (credential.kind === 'token') return credential.token.length <= 256 ? users.byToken(credential.token) : null;
  return credential.sid.length <= 256 ? users.bySession(credential.sid) : null;
}
