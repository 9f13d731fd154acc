/** Accord's own roles, lowest to highest. A higher role can do everything a lower one can. */
export const ROLES = ['viewer', 'reviewer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function atLeast(role: Role, minimum: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(minimum);
}

/** The authenticated identity carried by every request and socket. */
export interface Principal {
  userId: number;
  username: string;
  role: Role;
}
