/** Accord's own roles, lowest to highest. A higher role can do everything a lower one can. */
export const ROLES = ['viewer', 'reviewer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function atLeast(role: Role, minimum: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(minimum);
}

/**
 * What a credential may be used for. `full`: everything the user's role allows (web sessions and the
 * first token `user add` prints); the others narrow an API token further (docs/security.md).
 */
export const SCOPES = ['full', 'read', 'vote', 'signoff', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** The authenticated identity carried by every request and socket. */
export interface Principal {
  userId: number;
  username: string;
  role: Role;
  /** Defaults to `full` when absent. */
  scope?: Scope;
  /** Which credential authenticated it (hash of the session id or token): revoking it disconnects its sockets. */
  credential?: { kind: 'session' | 'token'; hash: string };
}
