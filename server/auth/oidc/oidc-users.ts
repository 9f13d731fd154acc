import { createHash } from 'node:crypto';
import { AppError } from '../../protocol/errors.ts';
import { atLeast, isRole, type Principal, type Role } from '../roles.ts';
import type { UserStore } from '../user-store.ts';
import { OidcRepository } from '../../store/repositories/oidc-repository.ts';
import { UserRepository } from '../../store/repositories/user-repository.ts';
import { isUniqueViolation, type Database } from '../../store/sql.ts';

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** SQLite's DDL of the table (a migration of server/store/sqlite/database.ts); re-exported for older importers. */
export { OIDC_SCHEMA } from '../../store/sqlite/schema/oidc.ts';

/**
 * Sign-in attempts when a concurrent one got in first (see `signIn`): the second attempt finds the link
 * the other committed; more are for a preferred name that keeps being taken at the same moment.
 */
const SIGN_IN_ATTEMPTS = 3;

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
  readonly #db: Database;
  readonly #links: OidcRepository;
  readonly #accounts: UserRepository;
  readonly #users: UserStore;

  constructor(db: Database, users: UserStore) {
    this.#db = db;
    this.#links = new OidcRepository(db);
    this.#accounts = new UserRepository(db);
    this.#users = users;
  }

  /**
   * Finds or creates the user linked to this identity, applies the provider's groups (and role, when a
   * role mapping is configured), all in one transaction with `record` (the audit entry, awaited). Throws
   * `unauthorized` for a disabled user.
   *
   * Two first sign-ins of one identity at once (or of two identities wanting the same free name) both
   * see no link (or the name free) on PostgreSQL, where transactions run side by side: the one that
   * commits second fails on the primary key of the link (or the unique username), rolls back whole, and
   * is run again, finding what the first committed. Not when the caller's own transaction is open: it is
   * aborted then, and the error is the caller's to handle.
   */
  async signIn(identity: OidcIdentity, policy: OidcUserPolicy, record?: (result: SignedIn) => unknown): Promise<SignedIn> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#db.transaction(() => this.#signIn(identity, policy, record));
      } catch (err) {
        if (attempt >= SIGN_IN_ATTEMPTS || this.#db.inTransaction || !isUniqueViolation(err)) throw err;
      }
    }
  }

  /** One attempt, in the unit of work `signIn` opened. */
  async #signIn(identity: OidcIdentity, policy: OidcUserPolicy, record?: (result: SignedIn) => unknown): Promise<SignedIn> {
    const groups = accordGroups(identity.groups, policy.groupMapping);
    const mapped = mappedRole(identity.groups, policy.roleMapping);
    const link = await this.#links.link(identity.issuer, identity.subject);
    let userId: number;
    let created = false;
    let previous: string[] = [];
    if (link) {
      userId = link.userId;
      previous = link.groups;
      // With a role mapping the provider is authoritative: leaving the admins' group demotes at the next sign-in.
      if (policy.roleMapping) await this.#accounts.setRole(userId, mapped ?? policy.defaultRole);
      await this.#links.updateLink(identity.issuer, identity.subject, groups);
    } else {
      const username = await this.#freeUsername(identity);
      userId = await this.#accounts.insertUser(username, mapped ?? policy.defaultRole, null);
      await this.#links.insertLink(identity.issuer, identity.subject, userId, groups);
      created = true;
    }
    const dropped = previous.filter((g) => !groups.includes(g));
    for (const g of dropped) await this.#accounts.removeFromGroup(userId, g);
    await this.#users.addToGroups(userId, groups);
    const row = await this.#accounts.userById(userId);
    if (!row) throw new Error(`oidc_identities: user ${userId} linked to ${identity.issuer} ${identity.subject} does not exist`);
    if (row.disabled || !isRole(row.role)) throw new AppError('unauthorized', 'this account is disabled');
    const result: SignedIn = { principal: { userId: row.id, username: row.username, role: row.role }, created, groups };
    await record?.(result); // the audit entry commits or rolls back with the user it records
    return result;
  }

  /**
   * The collision rule: the sanitised preferred name if free; else `<name>-2` … `<name>-9`; else
   * `<name>-<8 hex of sha256(issuer + subject)>`. An existing user (local or linked to another identity)
   * is never reused. With no usable name at all: `sso-<12 hex>`.
   */
  async #freeUsername(identity: OidcIdentity): Promise<string> {
    const digest = createHash('sha256').update(`${identity.issuer}\n${identity.subject}`).digest('hex');
    const base = identity.preferredUsername ? sanitiseName(identity.preferredUsername) : null;
    const candidates = base
      ? [base, ...[2, 3, 4, 5, 6, 7, 8, 9].map((n) => `${base.slice(0, 61)}-${n}`), `${base.slice(0, 55)}-${digest.slice(0, 8)}`]
      : [`sso-${digest.slice(0, 12)}`];
    let free: string | undefined;
    for (const name of candidates) {
      if (!(await this.#accounts.usernameTaken(name))) {
        free = name;
        break;
      }
    }
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
