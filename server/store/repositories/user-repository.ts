/**
 * UserRepository: every SQL statement on Accord's local accounts, in tables `users`, `user_groups`,
 * `api_tokens` and `web_sessions` (created by the migrations of either database). Secrets are stored
 * only as hashes, computed by the caller (UserStore); so is every policy (validation, expiry, idle limits):
 * the repository stores and finds rows.
 *
 * Transactions: each method is one statement and opens no transaction; a caller that needs several
 * writes to be atomic (OIDC sign-in, with its audit entry) runs them in `Database.transaction`, which
 * every statement here joins (sql.ts).
 *
 * SQL is written once for SQLite and PostgreSQL (sql.ts): timestamps that used to come from SQLite's
 * `strftime('now')` are passed in as ISO text from JS, new ids come from `RETURNING`, and the groups of
 * `reviewers` are gathered in JS rather than with a dialect's string aggregate.
 *
 * Rows are decoded by hand-written functions that check each column's type and throw an Error naming the
 * table and column: token and session lookups run on every request and socket handshake, so they avoid a
 * schema library's overhead.
 */
import { isScope, type Scope } from '../../auth/roles.ts';
import type { Database, Row } from '../sql.ts';

/** A row of `users`. `role` is as stored: callers decide what an unknown role means (no principal). */
/** A user as the admin area lists it. */
export interface UserListRecord {
  id: number;
  username: string;
  role: string;
  disabled: boolean;
  createdAt: string;
  hasPassword: boolean;
  groups: string[];
}

export interface UserRecord {
  id: number;
  username: string;
  role: string;
  passwordHash: string | null;
  disabled: boolean;
}

/** A user found through one of its API tokens, with the token's scope and last recorded use (ISO text). */
export interface TokenUserRecord extends UserRecord {
  tokenScope: Scope;
  tokenLastUsedAt: string | null;
}

/** A user found through one of its web sessions, with when the session was last seen (ms since epoch). */
export interface SessionUserRecord extends UserRecord {
  lastSeenAt: number;
}

/** A row of `api_tokens` as `token list` shows it. */
export interface TokenRecord {
  hash: string;
  label: string | null;
  scope: string;
  expiresAt: number | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** An enabled user with its groups, for policies. */
export interface ReviewerRecord {
  username: string;
  role: string;
  groups: string[];
}

/** Last use of a token is recorded at most this often: a write per request would cost every request a round trip or a sync. */
export const TOKEN_TOUCH_EVERY_MS = 60_000;

const USER_COLUMNS = 'u.id, u.username, u.role, u.password_hash, u.disabled';

const BY_NAME = `SELECT ${USER_COLUMNS} FROM users u WHERE u.username = ?`;
const BY_ID = `SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ?`;
const NAME_TAKEN = 'SELECT 1 AS taken FROM users WHERE username = ?';
const INSERT_USER = 'INSERT INTO users (username, role, password_hash) VALUES (?, ?, ?) RETURNING id';
const SET_ROLE = 'UPDATE users SET role = ? WHERE id = ?';
const SET_PASSWORD_HASH = 'UPDATE users SET password_hash = ? WHERE id = ?';
const SET_DISABLED = 'UPDATE users SET disabled = ? WHERE username = ?';
const ADD_GROUP = 'INSERT INTO user_groups (user_id, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING';
const REMOVE_GROUP = 'DELETE FROM user_groups WHERE user_id = ? AND group_name = ?';
/** Every user (disabled ones too) with one row per group, or one with a null group; folded in `listUsers`. */
const ALL_USERS = `SELECT u.id, u.username, u.role, u.disabled, u.created_at, u.password_hash, g.group_name FROM users u
  LEFT JOIN user_groups g ON g.user_id = u.id`;
const ENABLED_ADMINS = "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0";
/** One row per (enabled user, group), or one with a null group for a user in none; folded in `reviewers`. */
const REVIEWERS = `SELECT u.id, u.username, u.role, g.group_name FROM users u
  LEFT JOIN user_groups g ON g.user_id = u.id WHERE u.disabled = 0`;
const BY_TOKEN = `SELECT ${USER_COLUMNS}, t.scope AS token_scope, t.last_used_at
  FROM api_tokens t JOIN users u ON u.id = t.user_id
  WHERE t.hash = ? AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)`;
/** The time condition repeats the caller's check, so concurrent requests with one token write once. */
const TOUCH_TOKEN = 'UPDATE api_tokens SET last_used_at = ? WHERE hash = ? AND (last_used_at IS NULL OR last_used_at < ?)';
const INSERT_TOKEN = 'INSERT INTO api_tokens (hash, user_id, label, scope, expires_at) VALUES (?, ?, ?, ?, ?)';
const REVOKE_TOKENS = 'UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND hash LIKE ? AND revoked_at IS NULL';
/** `hash` breaks ties between tokens made in the same millisecond, the same way on both databases. */
const TOKENS = 'SELECT hash, label, scope, expires_at, revoked_at, last_used_at FROM api_tokens WHERE user_id = ? ORDER BY created_at, hash';
const BY_SESSION = `SELECT ${USER_COLUMNS}, s.last_seen_at FROM web_sessions s JOIN users u ON u.id = s.user_id
  WHERE s.hash = ? AND s.expires_at > ? AND s.last_seen_at > ?`;
const TOUCH_SESSION = 'UPDATE web_sessions SET last_seen_at = ? WHERE hash = ?';
const INSERT_SESSION = 'INSERT INTO web_sessions (hash, user_id, expires_at, last_seen_at) VALUES (?, ?, ?, ?)';
const DELETE_SESSION = 'DELETE FROM web_sessions WHERE hash = ?';
const DELETE_SESSIONS_OF = 'DELETE FROM web_sessions WHERE user_id = ?';

export class UserRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  // --- users and groups ---

  async userByName(username: string): Promise<UserRecord | null> {
    const row = await this.#db.get(BY_NAME, [username]);
    return row ? decodeUser(row) : null;
  }

  async userById(id: number): Promise<UserRecord | null> {
    const row = await this.#db.get(BY_ID, [id]);
    return row ? decodeUser(row) : null;
  }

  async usernameTaken(username: string): Promise<boolean> {
    return (await this.#db.get(NAME_TAKEN, [username])) !== undefined;
  }

  /**
   * Inserts a user (enabled; no password when `passwordHash` is null) and returns its id. A taken
   * username fails with the database's unique violation (`isUniqueViolation`).
   */
  async insertUser(username: string, role: string, passwordHash: string | null): Promise<number> {
    const row = await this.#db.get(INSERT_USER, [username, role, passwordHash]);
    if (!row) throw new Error('users: INSERT ... RETURNING id returned no row');
    return integer(row, 'users', 'id');
  }

  async setRole(userId: number, role: string): Promise<void> {
    await this.#db.run(SET_ROLE, [role, userId]);
  }

  async setPasswordHash(userId: number, passwordHash: string): Promise<void> {
    await this.#db.run(SET_PASSWORD_HASH, [passwordHash, userId]);
  }

  /** Returns how many users were changed (0: no such user). */
  async setDisabled(username: string, disabled: boolean): Promise<number> {
    return this.#db.run(SET_DISABLED, [disabled ? 1 : 0, username]);
  }

  /** Adds the user to a group; already a member is fine. */
  async addToGroup(userId: number, group: string): Promise<void> {
    await this.#db.run(ADD_GROUP, [userId, group]);
  }

  async removeFromGroup(userId: number, group: string): Promise<void> {
    await this.#db.run(REMOVE_GROUP, [userId, group]);
  }

  /** Every user, disabled ones too, with groups; sorted by username (code units), groups sorted. */
  async listUsers(): Promise<UserListRecord[]> {
    const byId = new Map<number, UserListRecord>();
    for (const row of await this.#db.all(ALL_USERS)) {
      const id = integer(row, 'users', 'id');
      let user = byId.get(id);
      if (!user) {
        user = {
          id, username: text(row, 'users', 'username'), role: text(row, 'users', 'role'),
          disabled: integer(row, 'users', 'disabled') !== 0, createdAt: text(row, 'users', 'created_at'),
          hasPassword: nullableText(row, 'users', 'password_hash') !== null, groups: [],
        };
        byId.set(id, user);
      }
      const group = nullableText(row, 'user_groups', 'group_name');
      if (group !== null) user.groups.push(group);
    }
    const out = [...byId.values()].sort((a, b) => compare(a.username, b.username));
    for (const u of out) u.groups.sort(compare);
    return out;
  }

  /** How many enabled admins there are (an admin change must never leave none). */
  async enabledAdmins(): Promise<number> {
    const row = await this.#db.get(ENABLED_ADMINS);
    return Number(row?.n ?? 0);
  }

  /**
   * Every enabled user with its groups, by username; each user's groups sorted. Sorted here, by code
   * unit, rather than by ORDER BY: the databases' collations may order the same names differently.
   */
  async reviewers(): Promise<ReviewerRecord[]> {
    const byId = new Map<number, ReviewerRecord>();
    for (const row of await this.#db.all(REVIEWERS)) {
      const id = integer(row, 'users', 'id');
      let reviewer = byId.get(id);
      if (!reviewer) {
        reviewer = { username: text(row, 'users', 'username'), role: text(row, 'users', 'role'), groups: [] };
        byId.set(id, reviewer);
      }
      const group = nullableText(row, 'user_groups', 'group_name');
      if (group !== null) reviewer.groups.push(group);
    }
    const out = [...byId.values()].sort((a, b) => compare(a.username, b.username));
    for (const r of out) r.groups.sort(compare);
    return out;
  }

  // --- API tokens ---

  /** The user behind a token that is neither revoked nor expired at `now` (ms since epoch). */
  async userByToken(hash: string, now: number): Promise<TokenUserRecord | null> {
    const row = await this.#db.get(BY_TOKEN, [hash, now]);
    if (!row) return null;
    const scope = row.token_scope;
    if (!isScope(scope)) throw corrupt('api_tokens', 'scope', scope, 'a token scope');
    return { ...decodeUser(row), tokenScope: scope, tokenLastUsedAt: nullableText(row, 'api_tokens', 'last_used_at') };
  }

  /**
   * Records the token's last use at `now` (ms since epoch) unless one was recorded less than
   * TOKEN_TOUCH_EVERY_MS before (the statement skips it).
   */
  async touchToken(hash: string, now: number = Date.now()): Promise<void> {
    await this.#db.run(TOUCH_TOKEN, [new Date(now).toISOString(), hash, new Date(now - TOKEN_TOUCH_EVERY_MS).toISOString()]);
  }

  async insertToken(hash: string, userId: number, label: string, scope: Scope, expiresAt: number | null): Promise<void> {
    await this.#db.run(INSERT_TOKEN, [hash, userId, label, scope, expiresAt]);
  }

  /** Revokes the user's unrevoked tokens whose hash starts with `hashPrefix` (lower-case hex only); returns how many. */
  async revokeTokens(userId: number, hashPrefix: string): Promise<number> {
    // No LIKE wildcards; lower case because LIKE ignores case on SQLite but not on PostgreSQL (hashes are lower case).
    if (!/^[0-9a-f]+$/.test(hashPrefix)) throw new Error('revokeTokens: the hash prefix must be lower-case hex');
    return this.#db.run(REVOKE_TOKENS, [new Date().toISOString(), userId, `${hashPrefix}%`]);
  }

  /** The user's tokens, oldest first, revoked and expired ones included. */
  async tokens(userId: number): Promise<TokenRecord[]> {
    return (await this.#db.all(TOKENS, [userId])).map((row) => ({
      hash: text(row, 'api_tokens', 'hash'),
      label: nullableText(row, 'api_tokens', 'label'),
      scope: text(row, 'api_tokens', 'scope'),
      expiresAt: nullableInteger(row, 'api_tokens', 'expires_at'),
      revokedAt: nullableText(row, 'api_tokens', 'revoked_at'),
      lastUsedAt: nullableText(row, 'api_tokens', 'last_used_at'),
    }));
  }

  // --- web sessions ---

  /** The user behind a session not expired at `now` and seen after `seenAfter` (both ms since epoch). */
  async userBySession(hash: string, now: number, seenAfter: number): Promise<SessionUserRecord | null> {
    const row = await this.#db.get(BY_SESSION, [hash, now, seenAfter]);
    if (!row) return null;
    return { ...decodeUser(row), lastSeenAt: integer(row, 'web_sessions', 'last_seen_at') };
  }

  async touchSession(hash: string, now: number): Promise<void> {
    await this.#db.run(TOUCH_SESSION, [now, hash]);
  }

  async insertSession(hash: string, userId: number, expiresAt: number, lastSeenAt: number): Promise<void> {
    await this.#db.run(INSERT_SESSION, [hash, userId, expiresAt, lastSeenAt]);
  }

  async deleteSession(hash: string): Promise<void> {
    await this.#db.run(DELETE_SESSION, [hash]);
  }

  /** Deletes every session of the user; returns how many. */
  async deleteSessionsOf(userId: number): Promise<number> {
    return this.#db.run(DELETE_SESSIONS_OF, [userId]);
  }
}

// --- decoding (hand-written: runs per request) ---

function decodeUser(row: Row): UserRecord {
  return {
    id: integer(row, 'users', 'id'),
    username: text(row, 'users', 'username'),
    role: text(row, 'users', 'role'),
    passwordHash: nullableText(row, 'users', 'password_hash'),
    disabled: integer(row, 'users', 'disabled') !== 0,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function corrupt(table: string, column: string, value: unknown, expected: string): Error {
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : value instanceof Uint8Array ? `a ${value.length}-byte blob` : String(value);
  return new Error(`${table}.${column}: expected ${expected}, found ${shown} (${value === null ? 'null' : typeof value})`);
}

function text(row: Row, table: string, column: string): string {
  const value = row[column];
  if (typeof value !== 'string') throw corrupt(table, column, value, 'text');
  return value;
}

function nullableText(row: Row, table: string, column: string): string | null {
  const value = row[column];
  if (value !== null && typeof value !== 'string') throw corrupt(table, column, value, 'text or null');
  return value;
}

function integer(row: Row, table: string, column: string): number {
  const value = row[column];
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw corrupt(table, column, value, 'an integer');
  return value;
}

function nullableInteger(row: Row, table: string, column: string): number | null {
  return row[column] === null ? null : integer(row, table, column);
}
