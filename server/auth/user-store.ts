import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { AppError } from '../protocol/errors.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { isRole, type Principal, type Role } from './roles.ts';
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

function toPrincipal(row: UserRow): Principal | null {
  if (row.disabled || !isRole(row.role)) return null;
  return { userId: Number(row.id), username: row.username, role: row.role };
}

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
    this.#byToken = db.prepare('SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?');
    this.#bySession = db.prepare(
      'SELECT u.* FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND s.expires_at > ?',
    );
    this.#touchToken = db.prepare("UPDATE api_tokens SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE hash = ?");
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

  issueToken(userId: number, label: string): string {
    const token = newSecret('acc');
    this.#db.prepare('INSERT INTO api_tokens (hash, user_id, label) VALUES (?, ?, ?)').run(hashSecret(token), userId, label);
    return token;
  }

  byToken(token: string): Principal | null {
    const hash = hashSecret(token);
    const row = this.#byToken.get(hash) as UserRow | undefined;
    if (!row) return null;
    this.#touchToken.run(hash);
    return toPrincipal(row);
  }

  async checkPassword(username: string, password: string): Promise<Principal | null> {
    const row = this.#byName.get(username) as UserRow | undefined;
    // Hash even for unknown users so response time does not reveal which usernames exist.
    const stored = row?.password_hash ?? (await dummyHash());
    const ok = await verifyPassword(password, stored);
    return ok && row ? toPrincipal(row) : null;
  }

  openSession(userId: number, ttlMs: number): string {
    const sid = newSecret('ses');
    this.#db.prepare('INSERT INTO web_sessions (hash, user_id, expires_at) VALUES (?, ?, ?)').run(hashSecret(sid), userId, Date.now() + ttlMs);
    return sid;
  }

  bySession(sid: string): Principal | null {
    const row = this.#bySession.get(hashSecret(sid), Date.now()) as UserRow | undefined;
    return row ? toPrincipal(row) : null;
  }

  closeSession(sid: string): void {
    this.#db.prepare('DELETE FROM web_sessions WHERE hash = ?').run(hashSecret(sid));
  }
}

let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
