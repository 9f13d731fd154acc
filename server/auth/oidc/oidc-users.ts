import { createHash } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { AppError } from '../../protocol/errors.ts';
import { atLeast, isRole, type Principal, type Role } from '../roles.ts';
import type { UserStore } from '../user-store.ts';
import { OidcRepository } from '../../store/sqlite/oidc-repository.ts';
import { UserRepository } from '../../store/sqlite/user-repository.ts';

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The table's DDL lives with its repository; re-exported here for the migrations (server/store/sqlite/database.ts). */
export { OIDC_SCHEMA } from '../../store/sqlite/schema/oidc.ts';

/** Lower-cases and folds a provider name into `^[a-z0-9][a-z0-9._-]{0,63}$`, or null when nothing usable is left. */
export function sanitiseName(raw: string): string | null {
  const folded = raw.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64).replace(/[._-]+$/, '');
  return NAME.test(folded) ? folded : null;
}

export interface OidcIdentity {
  issuer: string;
  subject: string;
  /** `preferred_username`, else the local part of `email`, else null. */
  preferredUsername: string | null;
  /** Group names exactly as the provider sent them. */
  groups: readonly string[];
}

export interface OidcUserPolicy {
  defaultRole: Role;
  roleMapping?: Readonly<Record<string, Role>>;
  groupMapping?: Readonly<Record<string, string>>;
}

export interface SignedIn {
  principal: Principal;
  created: boolean;
  groups: string[];
}

/** Just-in-time users for OIDC sign-in (docs/sso.md). Links are kept by OidcRepository, users by UserRepository. */
export class OidcUsers {
  readonly #links: OidcRepository;
  readonly #accounts: UserRepository;
  readonly #users: UserStore;

  constructor(db: DatabaseSync, users: UserStore) {
    this.#links = new OidcRepository(db);
    this.#accounts = new UserRepository(db);
    this.#users = users;
  }

  /**
   * Finds or creates the user linked to this identity, applies the provider's groups (and role, when a
   * role mapping is configured), all in one transaction with `record` (the audit entry). Throws `unauthorized` for a disabled user.
   */
  signIn(identity: OidcIdentity, policy: OidcUserPolicy, record?: (result: SignedIn) => void): SignedIn {
    const groups = accordGroups(identity.groups, policy.groupMapping);
    const mapped = mappedRole(identity.groups, policy.roleMapping);
    return this.#links.inTransaction(() => {
      const link = this.#links.link(identity.issuer, identity.subject);
      let userId: number;
      let created = false;
      let previous: string[] = [];
      if (link) {
        userId = link.userId;
        previous = link.groups;
        // With a role mapping the provider is authoritative: leaving the admins' group demotes at the next sign-in.
        if (policy.roleMapping) this.#accounts.setRole(userId, mapped ?? policy.defaultRole);
        this.#links.updateLink(identity.issuer, identity.subject, groups);
      } else {
        const username = this.#freeUsername(identity);
        userId = this.#accounts.insertUser(username, mapped ?? policy.defaultRole, null);
        this.#links.insertLink(identity.issuer, identity.subject, userId, groups);
        created = true;
      }
      const dropped = previous.filter((g) => !groups.includes(g));
      for (const g of dropped) this.#accounts.removeFromGroup(userId, g);
      this.#users.addToGroups(userId, groups);
      const row = this.#accounts.userById(userId);
      if (!row) throw new Error(`oidc_identities: user ${userId} linked to ${identity.issuer} ${identity.subject} does not exist`);
      if (row.disabled || !isRole(row.role)) throw new AppError('unauthorized', 'this account is disabled');
      const result: SignedIn = { principal: { userId: row.id, username: row.username, role: row.role }, created, groups };
      record?.(result); // the audit entry commits or rolls back with the user it records
      return result;
    });
  }

  /**
   * The collision rule: the sanitised preferred name if free; else `<name>-2` … `<name>-9`; else
   * `<name>-<8 hex of sha256(issuer + subject)>`. An existing user (local or linked to another identity)
   * is never reused. With no usable name at all: `sso-<12 hex>`.
   */
  #freeUsername(identity: OidcIdentity): string {
    const digest = createHash('sha256').update(`${identity.issuer}\n${identity.subject}`).digest('hex');
    const base = identity.preferredUsername ? sanitiseName(identity.preferredUsername) : null;
    const candidates = base
      ? [base, ...[2, 3, 4, 5, 6, 7, 8, 9].map((n) => `${base.slice(0, 61)}-${n}`), `${base.slice(0, 55)}-${digest.slice(0, 8)}`]
      : [`sso-${digest.slice(0, 12)}`];
    const free = candidates.find((name) => !this.#accounts.usernameTaken(name));
    if (!free) throw new AppError('conflict', 'no free username for this identity; ask an admin');
    return free;
  }
}

/** Provider groups → Accord group names: through the mapping when there is one, else sanitised; unusable names are dropped. */
export function accordGroups(providerGroups: readonly string[], mapping?: Readonly<Record<string, string>>): string[] {
  const out = new Set<string>();
  for (const g of providerGroups) {
    const name = mapping ? (Object.hasOwn(mapping, g) ? mapping[g] : undefined) : sanitiseName(g.replace(/^\/+/, ''));
    if (name) out.add(name);
  }
  return [...out].sort();
}

/** The highest role any of the provider groups maps to, or null (no mapping, or no group matched). */
export function mappedRole(providerGroups: readonly string[], mapping?: Readonly<Record<string, Role>>): Role | null {
  if (!mapping) return null;
  let best: Role | null = null;
  for (const g of providerGroups) {
    const role = Object.hasOwn(mapping, g) ? mapping[g] : undefined;
    if (role && (best === null || atLeast(role, best))) best = role;
  }
  return best;
}
