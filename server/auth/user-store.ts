import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { AppError } from '../protocol/errors.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { isRole, type Principal, type Role, type Scope } from './roles.ts';
import type { Reviewer } from '../domain/review/types.ts';

const USERNAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Opaque secrets (API tokens, session ids) are stored only as their SHA-256. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

interface UserRow {
  id: number;
  username: string;
  role: string;
  password_hash: string | null;
  disabled: number;
}

function toPrincipal(row: UserRow, extra: Pick<Principal, 'scope' | 'credential'> = {}): Principal | null {
  if (row.disabled || !isRole(row.role)) return null;
  return { userId: Number(row.id), username: row.username, role: row.role, ...extra };
}

/** Idle limit of a web session: a session not used for this long is over. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;
/** last_seen_at is written at most this often per session, not on every request. */
const TOUCH_EVERY_MS = 30_000;

/** Users, API tokens and web sessions in the SQLite database. */
export class UserStore {
  readonly #db: DatabaseSync;
  readonly #byName: StatementSync;
  readonly #byToken: StatementSync;
  readonly #bySession: StatementSync;
  readonly #touchToken: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#byName = db.prepare('SELECT * FROM users WHERE username = ?');
    this.#byToken = db.prepare(`SELECT u.*, t.scope AS token_scope FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.hash = ? AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)`);
    this.#bySession = db.prepare(
      'SELECT u.*, s.last_seen_at FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND s.expires_at > ? AND s.last_seen_at > ?',
    );
    // Last use is recorded at minute resolution: a write (and a sync) per request would stall the event loop.
    this.#touchToken = db.prepare(`UPDATE api_tokens SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')
      WHERE hash = ? AND (last_used_at IS NULL OR last_used_at < strftime('%Y-%m-%dT%H:%M:%fZ','now', '-60 seconds'))`);
  }

  /** Creates a user and returns its first API token (shown once; only its hash is kept). */
  async addUser(username: string, role: Role, password?: string): Promise<{ principal: Principal; token: string }> {
    if (!USERNAME.test(username)) throw new AppError('invalid_payload', `invalid username "${username}": use a-z, 0-9, . _ - (max 64)`);
    if (this.#byName.get(username)) throw new AppError('conflict', `user "${username}" already exists`);
    if (password !== undefined && password.length < 8) throw new AppError('invalid_payload', 'password must have at least 8 characters');
    const hash = password === undefined ? null : await hashPassword(password);
    const id = Number(this.#db.prepare('INSERT INTO users (username, role, password_hash) VALUES (?, ?, ?)').run(username, role, hash).lastInsertRowid);
    const token = this.issueToken(id, 'cli');
    return { principal: { userId: id, username, role }, token };
  }

  /** Adds the user to Accord groups (names that policies can use). */
  addToGroups(userId: number, groups: readonly string[]): void {
    const insert = this.#db.prepare('INSERT INTO user_groups (user_id, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING');
    for (const g of groups) {
      if (!USERNAME.test(g)) throw new AppError('invalid_payload', `invalid group name "${g}"`);
      insert.run(userId, g);
    }
  }

  /** Every enabled user with role and groups, as policies see them. */
  reviewers(): Reviewer[] {
    const rows = this.#db.prepare(`SELECT u.username, u.role, group_concat(g.group_name, ',') AS groups FROM users u
      LEFT JOIN user_groups g ON g.user_id = u.id WHERE u.disabled = 0 GROUP BY u.id ORDER BY u.username`).all() as
      { username: string; role: string; groups: string | null }[];
    return rows.filter((r) => isRole(r.role)).map((r) => ({
      username: r.username, role: r.role as Role, groups: r.groups ? r.groups.split(',') : [],
    }));
  }

  /** A new API token; only its hash is kept. Scoped tokens may do less than the user's role allows. */
  issueToken(userId: number, label: string, scope: Scope = 'full', expiresAt?: number): string {
    const token = newSecret('acc');
    this.#db.prepare('INSERT INTO api_tokens (hash, user_id, label, scope, expires_at) VALUES (?, ?, ?, ?, ?)')
      .run(hashSecret(token), userId, label, scope, expiresAt ?? null);
    return token;
  }

  userId(username: string): number | null {
    const row = this.#byName.get(username) as UserRow | undefined;
    return row ? Number(row.id) : null;
  }

  /** Revokes a token by the first characters of its hash (as `token list` shows them); returns how many. */
  revokeToken(userId: number, hashPrefix: string): number {
    if (!/^[0-9a-f]{8,64}$/.test(hashPrefix)) throw new AppError('invalid_payload', 'give at least 8 hex characters of the token id');
    return Number(this.#db.prepare("UPDATE api_tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE user_id = ? AND hash LIKE ? AND revoked_at IS NULL")
      .run(userId, `${hashPrefix}%`).changes);
  }

  tokens(userId: number): { id: string; label: string; scope: string; expiresAt: number | null; revoked: boolean; lastUsedAt: string | null }[] {
    const rows = this.#db.prepare('SELECT hash, label, scope, expires_at, revoked_at, last_used_at FROM api_tokens WHERE user_id = ? ORDER BY created_at')
      .all(userId) as { hash: string; label: string; scope: string; expires_at: number | null; revoked_at: string | null; last_used_at: string | null }[];
    return rows.map((r) => ({ id: r.hash.slice(0, 12), label: r.label, scope: r.scope, expiresAt: r.expires_at, revoked: r.revoked_at !== null, lastUsedAt: r.last_used_at }));
  }

  byToken(token: string): Principal | null {
    const hash = hashSecret(token);
    const row = this.#byToken.get(hash, Date.now()) as (UserRow & { token_scope: Scope }) | undefined;
    if (!row) return null;
    this.#touchToken.run(hash);
    return toPrincipal(row, { scope: row.token_scope, credential: { kind: 'token', hash } });
  }

  /** Is the credential behind a principal still valid (not revoked, expired or idle)? */
  stillValid(p: Principal): boolean {
    if (!p.credential) return true;
    const now = Date.now();
    const row = (p.credential.kind === 'token'
      ? this.#byToken.get(p.credential.hash, now)
      : this.#bySession.get(p.credential.hash, now, now - this.sessionIdleMs)) as UserRow | undefined;
    // A disabled account or a changed role ends the connection too: it re-authenticates at its new level.
    return row !== undefined && !row.disabled && row.role === p.role;
  }

  /** Sets a new password (the user's own change, or an admin's reset). Other sessions end. */
  async setPassword(username: string, password: string): Promise<void> {
    const row = this.#byName.get(username) as UserRow | undefined;
    if (!row) throw new AppError('not_found', `no user "${username}"`);
    if (password.length < 8) throw new AppError('invalid_payload', 'password must have at least 8 characters');
    this.#db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(await hashPassword(password), row.id);
    this.closeAllSessions(Number(row.id));
  }

  /** Disables (or re-enables) an account: a disabled user cannot sign in and every credential stops working. */
  setDisabled(username: string, disabled: boolean): void {
    const result = this.#db.prepare('UPDATE users SET disabled = ? WHERE username = ?').run(disabled ? 1 : 0, username);
    if (Number(result.changes) !== 1) throw new AppError('not_found', `no user "${username}"`);
  }

  async checkPassword(username: string, password: string): Promise<Principal | null> {
    const row = this.#byName.get(username) as UserRow | undefined;
    // Hash even for unknown users so response time does not reveal which usernames exist.
    const stored = row?.password_hash ?? (await dummyHash());
    const ok = await verifyPassword(password, stored);
    return ok && row ? toPrincipal(row) : null;
  }

  /** How long a web session may sit unused. */
  sessionIdleMs = DEFAULT_SESSION_IDLE_MS;

  /** A new session id (rotated on every sign-in); `ttlMs` is its absolute lifetime. */
  openSession(userId: number, ttlMs: number): string {
    const sid = newSecret('ses');
    const now = Date.now();
    this.#db.prepare('INSERT INTO web_sessions (hash, user_id, expires_at, last_seen_at) VALUES (?, ?, ?, ?)').run(hashSecret(sid), userId, now + ttlMs, now);
    return sid;
  }

  bySession(sid: string): Principal | null {
    const hash = hashSecret(sid);
    const now = Date.now();
    const row = this.#bySession.get(hash, now, now - this.sessionIdleMs) as (UserRow & { last_seen_at: number }) | undefined;
    if (!row) return null;
    if (now - Number(row.last_seen_at) > TOUCH_EVERY_MS) this.#db.prepare('UPDATE web_sessions SET last_seen_at = ? WHERE hash = ?').run(now, hash);
    return toPrincipal(row, { scope: 'full', credential: { kind: 'session', hash } });
  }

  closeSession(sid: string): void {
    this.#db.prepare('DELETE FROM web_sessions WHERE hash = ?').run(hashSecret(sid));
  }

  /** Sign out everywhere: every web session of the user ends. */
  closeAllSessions(userId: number): number {
    return Number(this.#db.prepare('DELETE FROM web_sessions WHERE user_id = ?').run(userId).changes);
  }
}

let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
