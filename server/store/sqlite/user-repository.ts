/**
 * UserRepository: every SQL statement on Accord's local accounts, in tables `users`, `user_groups`,
 * `api_tokens` and `web_sessions` (tables created by the migrations in database.ts). Secrets are stored
 * only as hashes, computed by the caller (UserStore); so is every policy (validation, expiry, idle limits):
 * the repository stores and finds rows.
 *
 * Transactions: each method is one statement and opens no transaction; a caller that needs several
 * writes to be atomic (OIDC sign-in, with its audit entry) runs them in its own `inTransaction` on the
 * same connection (OidcRepository.inTransaction).
 *
 * Rows are decoded by hand-written functions that check each column's type and throw an Error naming the
 * table and column: token and session lookups run on every request and socket handshake, so they avoid a
 * schema library's overhead. Statements are prepared once, here.
 */
import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';
import { isScope, type Scope } from '../../auth/roles.ts';

type Row = Record<string, SQLOutputValue>;

/** A row of `users`. `role` is as stored: callers decide what an unknown role means (no principal). */
export interface UserRecord {
  id: number;
  username: string;
  role: string;
  passwordHash: string | null;
  disabled: boolean;
}

/** A user found through one of its API tokens, with the token's scope. */
export interface TokenUserRecord extends UserRecord {
  tokenScope: Scope;
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

const USER_COLUMNS = 'u.id, u.username, u.role, u.password_hash, u.disabled';

export class UserRepository {
  readonly #byName: StatementSync;
  readonly #byId: StatementSync;
  readonly #nameTaken: StatementSync;
  readonly #insertUser: StatementSync;
  readonly #setRole: StatementSync;
  readonly #setPasswordHash: StatementSync;
  readonly #setDisabled: StatementSync;
  readonly #addGroup: StatementSync;
  readonly #removeGroup: StatementSync;
  readonly #reviewers: StatementSync;
  readonly #byToken: StatementSync;
  readonly #touchToken: StatementSync;
  readonly #insertToken: StatementSync;
  readonly #revokeTokens: StatementSync;
  readonly #tokens: StatementSync;
  readonly #bySession: StatementSync;
  readonly #touchSession: StatementSync;
  readonly #insertSession: StatementSync;
  readonly #deleteSession: StatementSync;
  readonly #deleteSessionsOf: StatementSync;

  constructor(db: DatabaseSync) {
    this.#byName = db.prepare(`SELECT ${USER_COLUMNS} FROM users u WHERE u.username = ?`);
    this.#byId = db.prepare(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ?`);
    this.#nameTaken = db.prepare('SELECT 1 FROM users WHERE username = ?');
    this.#insertUser = db.prepare('INSERT INTO users (username, role, password_hash) VALUES (?, ?, ?)');
    this.#setRole = db.prepare('UPDATE users SET role = ? WHERE id = ?');
    this.#setPasswordHash = db.prepare('UPDATE users SET password_hash = ? WHERE id = ?');
    this.#setDisabled = db.prepare('UPDATE users SET disabled = ? WHERE username = ?');
    this.#addGroup = db.prepare('INSERT INTO user_groups (user_id, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING');
    this.#removeGroup = db.prepare('DELETE FROM user_groups WHERE user_id = ? AND group_name = ?');
    this.#reviewers = db.prepare(`SELECT u.username, u.role, group_concat(g.group_name, ',') AS groups FROM users u
      LEFT JOIN user_groups g ON g.user_id = u.id WHERE u.disabled = 0 GROUP BY u.id ORDER BY u.username`);
    this.#byToken = db.prepare(`SELECT ${USER_COLUMNS}, t.scope AS token_scope FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.hash = ? AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)`);
    // Last use is recorded at minute resolution: a write (and a sync) per request would stall the event loop.
    this.#touchToken = db.prepare(`UPDATE api_tokens SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')
      WHERE hash = ? AND (last_used_at IS NULL OR last_used_at < strftime('%Y-%m-%dT%H:%M:%fZ','now', '-60 seconds'))`);
    this.#insertToken = db.prepare('INSERT INTO api_tokens (hash, user_id, label, scope, expires_at) VALUES (?, ?, ?, ?, ?)');
    this.#revokeTokens = db.prepare(
      "UPDATE api_tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE user_id = ? AND hash LIKE ? AND revoked_at IS NULL",
    );
    this.#tokens = db.prepare('SELECT hash, label, scope, expires_at, revoked_at, last_used_at FROM api_tokens WHERE user_id = ? ORDER BY created_at');
    this.#bySession = db.prepare(
      `SELECT ${USER_COLUMNS}, s.last_seen_at FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND s.expires_at > ? AND s.last_seen_at > ?`,
    );
    this.#touchSession = db.prepare('UPDATE web_sessions SET last_seen_at = ? WHERE hash = ?');
    this.#insertSession = db.prepare('INSERT INTO web_sessions (hash, user_id, expires_at, last_seen_at) VALUES (?, ?, ?, ?)');
    this.#deleteSession = db.prepare('DELETE FROM web_sessions WHERE hash = ?');
    this.#deleteSessionsOf = db.prepare('DELETE FROM web_sessions WHERE user_id = ?');
  }

  // --- users and groups ---

  userByName(username: string): UserRecord | null {
    const row = this.#byName.get(username);
    return row ? decodeUser(row) : null;
  }

  userById(id: number): UserRecord | null {
    const row = this.#byId.get(id);
    return row ? decodeUser(row) : null;
  }

  usernameTaken(username: string): boolean {
    return this.#nameTaken.get(username) !== undefined;
  }

  /** Inserts a user (enabled; no password when `passwordHash` is null) and returns its id. */
  insertUser(username: string, role: string, passwordHash: string | null): number {
    return Number(this.#insertUser.run(username, role, passwordHash).lastInsertRowid);
  }

  setRole(userId: number, role: string): void {
    this.#setRole.run(role, userId);
  }

  setPasswordHash(userId: number, passwordHash: string): void {
    this.#setPasswordHash.run(passwordHash, userId);
  }

  /** Returns how many users were changed (0: no such user). */
  setDisabled(username: string, disabled: boolean): number {
    return Number(this.#setDisabled.run(disabled ? 1 : 0, username).changes);
  }

  /** Adds the user to a group; already a member is fine. */
  addToGroup(userId: number, group: string): void {
    this.#addGroup.run(userId, group);
  }

  removeFromGroup(userId: number, group: string): void {
    this.#removeGroup.run(userId, group);
  }

  /** Every enabled user with its groups, by username. */
  reviewers(): ReviewerRecord[] {
    return this.#reviewers.all().map((row) => ({
      username: text(row, 'users', 'username'),
      role: text(row, 'users', 'role'),
      groups: groupList(row.groups),
    }));
  }

  // --- API tokens ---

  /** The user behind a token that is neither revoked nor expired at `now` (ms since epoch). */
  userByToken(hash: string, now: number): TokenUserRecord | null {
    const row = this.#byToken.get(hash, now);
    if (!row) return null;
    const scope = row.token_scope;
    if (!isScope(scope)) throw corrupt('api_tokens', 'scope', scope, 'a token scope');
    return { ...decodeUser(row), tokenScope: scope };
  }

  /** Records the token's last use, at most once a minute (the statement skips a recent one). */
  touchToken(hash: string): void {
    this.#touchToken.run(hash);
  }

  insertToken(hash: string, userId: number, label: string, scope: Scope, expiresAt: number | null): void {
    this.#insertToken.run(hash, userId, label, scope, expiresAt);
  }

  /** Revokes the user's unrevoked tokens whose hash starts with `hashPrefix` (hex only); returns how many. */
  revokeTokens(userId: number, hashPrefix: string): number {
    if (!/^[0-9a-f]+$/.test(hashPrefix)) throw new Error('revokeTokens: the hash prefix must be hex'); // no LIKE wildcards
    return Number(this.#revokeTokens.run(userId, `${hashPrefix}%`).changes);
  }

  /** The user's tokens, oldest first, revoked and expired ones included. */
  tokens(userId: number): TokenRecord[] {
    return this.#tokens.all(userId).map((row) => ({
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
  userBySession(hash: string, now: number, seenAfter: number): SessionUserRecord | null {
    const row = this.#bySession.get(hash, now, seenAfter);
    if (!row) return null;
    return { ...decodeUser(row), lastSeenAt: integer(row, 'web_sessions', 'last_seen_at') };
  }

  touchSession(hash: string, now: number): void {
    this.#touchSession.run(now, hash);
  }

  insertSession(hash: string, userId: number, expiresAt: number, lastSeenAt: number): void {
    this.#insertSession.run(hash, userId, expiresAt, lastSeenAt);
  }

  deleteSession(hash: string): void {
    this.#deleteSession.run(hash);
  }

  /** Deletes every session of the user; returns how many. */
  deleteSessionsOf(userId: number): number {
    return Number(this.#deleteSessionsOf.run(userId).changes);
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

/** `group_concat` of `user_groups.group_name`: null when the user has no group. */
function groupList(value: SQLOutputValue | undefined): string[] {
  if (value === null) return [];
  if (typeof value !== 'string') throw corrupt('user_groups', 'group_name', value, 'text');
  return value.split(',');
}
