import { createHash } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { AppError } from '../../protocol/errors.ts';
import { atLeast, isRole, type Principal, type Role } from '../roles.ts';
import type { UserStore } from '../user-store.ts';

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Links provider identities to Accord users. The link is the pair (issuer, subject), never the
 * username: a provider account called "root" must not become the local admin "root".
 * `groups` remembers which Accord groups the provider granted, so a group the provider drops is
 * removed at the next sign-in while groups an admin added by hand stay.
 */
export const OIDC_SCHEMA = `
CREATE TABLE IF NOT EXISTS oidc_identities (
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id),
  groups TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  last_login_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY (issuer, subject)
);`;

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

/** Just-in-time users for OIDC sign-in (docs/sso.md). */
export class OidcUsers {
  readonly #db: DatabaseSync;
  readonly #users: UserStore;

  constructor(db: DatabaseSync, users: UserStore) {
    this.#db = db;
    this.#users = users;
    db.exec(OIDC_SCHEMA);
  }

  /**
   * Finds or creates the user linked to this identity, applies the provider's groups (and role, when a
   * role mapping is configured), all in one transaction with `record` (the audit entry). Throws `unauthorized` for a disabled user.
   */
  signIn(identity: OidcIdentity, policy: OidcUserPolicy, record?: (result: SignedIn) => void): SignedIn {
    const groups = accordGroups(identity.groups, policy.groupMapping);
    const mapped = mappedRole(identity.groups, policy.roleMapping);
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const link = this.#db.prepare('SELECT user_id, groups FROM oidc_identities WHERE issuer = ? AND subject = ?')
        .get(identity.issuer, identity.subject) as { user_id: number; groups: string } | undefined;
      let userId: number;
      let created = false;
      let previous: string[] = [];
      if (link) {
        userId = Number(link.user_id);
        previous = JSON.parse(link.groups) as string[];
        // With a role mapping the provider is authoritative: leaving the admins' group demotes at the next sign-in.
        if (policy.roleMapping) this.#db.prepare('UPDATE users SET role = ? WHERE id = ?').run(mapped ?? policy.defaultRole, userId);
        this.#db.prepare("UPDATE oidc_identities SET groups = ?, last_login_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE issuer = ? AND subject = ?")
          .run(JSON.stringify(groups), identity.issuer, identity.subject);
      } else {
        const username = this.#freeUsername(identity);
        userId = Number(this.#db.prepare('INSERT INTO users (username, role, password_hash) VALUES (?, ?, NULL)')
          .run(username, mapped ?? policy.defaultRole).lastInsertRowid);
        this.#db.prepare('INSERT INTO oidc_identities (issuer, subject, user_id, groups) VALUES (?, ?, ?, ?)')
          .run(identity.issuer, identity.subject, userId, JSON.stringify(groups));
        created = true;
      }
      const dropped = previous.filter((g) => !groups.includes(g));
      const remove = this.#db.prepare('DELETE FROM user_groups WHERE user_id = ? AND group_name = ?');
      for (const g of dropped) remove.run(userId, g);
      this.#users.addToGroups(userId, groups);
      const row = this.#db.prepare('SELECT id, username, role, disabled FROM users WHERE id = ?').get(userId) as
        { id: number; username: string; role: string; disabled: number };
      if (row.disabled || !isRole(row.role)) throw new AppError('unauthorized', 'this account is disabled');
      const result: SignedIn = { principal: { userId: Number(row.id), username: row.username, role: row.role }, created, groups };
      record?.(result); // the audit entry commits or rolls back with the user it records
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /**
   * The collision rule: the sanitised preferred name if free; else `<name>-2` … `<name>-9`; else
   * `<name>-<8 hex of sha256(issuer + subject)>`. An existing user (local or linked to another identity)
   * is never reused. With no usable name at all: `sso-<12 hex>`.
   */
  #freeUsername(identity: OidcIdentity): string {
    const digest = createHash('sha256').update(`${identity.issuer}\n${identity.subject}`).digest('hex');
    const base = identity.preferredUsername ? sanitiseName(identity.preferredUsername) : null;
    const taken = this.#db.prepare('SELECT 1 FROM users WHERE username = ?');
    const candidates = base
      ? [base, ...[2, 3, 4, 5, 6, 7, 8, 9].map((n) => `${base.slice(0, 61)}-${n}`), `${base.slice(0, 55)}-${digest.slice(0, 8)}`]
      : [`sso-${digest.slice(0, 12)}`];
    const free = candidates.find((name) => !taken.get(name));
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
