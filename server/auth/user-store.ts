import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../protocol/errors.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { isRole, type Principal, type Role, type Scope } from './roles.ts';
import type { Reviewer } from '../domain/review/types.ts';
import { TOKEN_TOUCH_EVERY_MS, UserRepository, type UserListRecord, type UserRecord } from '../store/repositories/user-repository.ts';
import { isUniqueViolation, type Database } from '../store/sql.ts';

const USERNAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Opaque secrets (API tokens, session ids) are stored only as their SHA-256. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

function toPrincipal(row: UserRecord, extra: Pick<Principal, 'scope' | 'credential'> = {}): Principal | null {
  if (row.disabled || !isRole(row.role)) return null;
  return { userId: row.id, username: row.username, role: row.role, ...extra };
}

/** Idle limit of a web session: a session not used for this long is over. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;
/** last_seen_at is written at most this often per session, not on every request. */
const TOUCH_EVERY_MS = 30_000;

/**
 * Users, API tokens and web sessions; their rows are kept by UserRepository
 * (server/store/repositories/user-repository.ts), on either database. Every method that reads or writes
 * them is async; a caller inside `Database.transaction` gets them in its unit of work.
 */
export class UserStore {
  readonly #db: Database;
  readonly #repo: UserRepository;

  constructor(db: Database) {
    this.#db = db;
    this.#repo = new UserRepository(db);
  }

  /** Creates a user and returns its first API token (shown once; only its hash is kept). */
  async addUser(username: string, role: Role, password?: string): Promise<{ principal: Principal; token: string }> {
    if (!USERNAME.test(username)) throw new AppError('invalid_payload', `invalid username "${username}": use a-z, 0-9, . _ - (max 64)`);
    const taken = () => new AppError('conflict', `user "${username}" already exists`);
    if (await this.#repo.usernameTaken(username)) throw taken();
    if (password !== undefined && password.length < 8) throw new AppError('invalid_payload', 'password must have at least 8 characters');
    const hash = password === undefined ? null : await hashPassword(password);
    // The user and its first token together: never a user whose only credential was lost.
    return this.#db.transaction(async () => {
      let id: number;
      try {
        id = await this.#repo.insertUser(username, role, hash);
      } catch (err) {
        if (isUniqueViolation(err)) throw taken(); // created by someone else while the password was hashed
        throw err;
      }
      const token = await this.issueToken(id, 'cli');
      return { principal: { userId: id, username, role }, token };
    });
  }

  /** Adds the user to Accord groups (names that policies can use). All names are checked before any is added. */
  async addToGroups(userId: number, groups: readonly string[]): Promise<void> {
    for (const g of groups) if (!USERNAME.test(g)) throw new AppError('invalid_payload', `invalid group name "${g}"`);
    for (const g of groups) await this.#repo.addToGroup(userId, g);
  }

  /** Every account, disabled ones too, for the admin area (never a password hash: only whether one is set). */
  async list(): Promise<UserListRecord[]> {
    return this.#repo.listUsers();
  }

  /**
   * Changes an account's role and, or, its groups (the whole list), in one unit of work. Refused when it
   * would leave no enabled admin, so nobody can lock every admin out by accident.
   */
  async update(username: string, change: { role?: Role; groups?: readonly string[] }): Promise<UserListRecord> {
    for (const g of change.groups ?? []) if (!USERNAME.test(g)) throw new AppError('invalid_payload', `group name "${g}" is not allowed: use a-z, 0-9, . _ - (at most 64, starting with a letter or digit)`);
    return this.#db.transaction(async () => {
      const row = await this.#repo.userByName(username);
      if (!row) throw new AppError('not_found', `no user "${username}"`);
      if (change.role !== undefined && change.role !== row.role) {
        await this.#repo.setRole(row.id, change.role);
        if (row.role === 'admin' && !row.disabled && (await this.#repo.enabledAdmins()) === 0) {
          throw new AppError('conflict', `${username} is the last enabled admin: make another user admin first`);
        }
      }
      if (change.groups !== undefined) {
        const now = (await this.#repo.listUsers()).find((u) => u.id === row.id)?.groups ?? [];
        const next = new Set(change.groups);
        for (const g of now) if (!next.has(g)) await this.#repo.removeFromGroup(row.id, g);
        for (const g of next) if (!now.includes(g)) await this.#repo.addToGroup(row.id, g);
      }
      return (await this.#repo.listUsers()).find((u) => u.id === row.id)!;
    });
  }

  /** Would disabling this account leave no enabled admin? */
  async isLastAdmin(username: string): Promise<boolean> {
    const row = await this.#repo.userByName(username);
    return row !== null && row.role === 'admin' && !row.disabled && (await this.#repo.enabledAdmins()) <= 1;
  }

  /** Every enabled user with role and groups, as policies see them. */
  async reviewers(): Promise<Reviewer[]> {
    const out: Reviewer[] = [];
    for (const r of await this.#repo.reviewers()) if (isRole(r.role)) out.push({ username: r.username, role: r.role, groups: r.groups });
    return out;
  }

  /** A new API token; only its hash is kept. Scoped tokens may do less than the user's role allows. */
  async issueToken(userId: number, label: string, scope: Scope = 'full', expiresAt?: number): Promise<string> {
    const token = newSecret('acc');
    await this.#repo.insertToken(hashSecret(token), userId, label, scope, expiresAt ?? null);
    return token;
  }

  async userId(username: string): Promise<number | null> {
    return (await this.#repo.userByName(username))?.id ?? null;
  }

  /** Revokes a token by the first characters of its hash (as `token list` shows them); returns how many. */
  async revokeToken(userId: number, hashPrefix: string): Promise<number> {
    if (!/^[0-9a-f]{8,64}$/.test(hashPrefix)) throw new AppError('invalid_payload', 'give at least 8 hex characters of the token id');
    return this.#repo.revokeTokens(userId, hashPrefix);
  }

  async tokens(userId: number): Promise<{ id: string; label: string; scope: string; expiresAt: number | null; revoked: boolean; lastUsedAt: string | null }[]> {
    return (await this.#repo.tokens(userId)).map((r) => ({
      id: r.hash.slice(0, 12), label: r.label ?? '', scope: r.scope, expiresAt: r.expiresAt, revoked: r.revokedAt !== null, lastUsedAt: r.lastUsedAt,
    }));
  }

  async byToken(token: string): Promise<Principal | null> {
    const hash = hashSecret(token);
    const now = Date.now();
    const row = await this.#repo.userByToken(hash, now);
    if (!row) return null;
    // Last use at minute resolution, written only when due: most requests cost one read, no write.
    if (row.tokenLastUsedAt === null || Date.parse(row.tokenLastUsedAt) < now - TOKEN_TOUCH_EVERY_MS) await this.#repo.touchToken(hash, now);
    return toPrincipal(row, { scope: row.tokenScope, credential: { kind: 'token', hash } });
  }

  /** Is the credential behind a principal still valid (not revoked, expired or idle)? */
  async stillValid(p: Principal): Promise<boolean> {
    if (!p.credential) return true;
    const now = Date.now();
    const row = p.credential.kind === 'token'
      ? await this.#repo.userByToken(p.credential.hash, now)
      : await this.#repo.userBySession(p.credential.hash, now, now - this.sessionIdleMs);
    // A disabled account or a changed role ends the connection too: it re-authenticates at its new level.
    return row !== null && !row.disabled && row.role === p.role;
  }

  /** Sets a new password (the user's own change, or an admin's reset). Other sessions end. */
  async setPassword(username: string, password: string): Promise<void> {
    const row = await this.#repo.userByName(username);
    if (!row) throw new AppError('not_found', `no user "${username}"`);
    if (password.length < 8) throw new AppError('invalid_payload', 'password must have at least 8 characters');
    const hash = await hashPassword(password);
    // Together: a new password with the old sessions still open would not end a hijacked session.
    await this.#db.transaction(async () => {
      await this.#repo.setPasswordHash(row.id, hash);
      await this.closeAllSessions(row.id);
    });
  }

  /** Disables (or re-enables) an account: a disabled user cannot sign in and every credential stops working. */
  async setDisabled(username: string, disabled: boolean): Promise<void> {
    if ((await this.#repo.setDisabled(username, disabled)) !== 1) throw new AppError('not_found', `no user "${username}"`);
  }

  async checkPassword(username: string, password: string): Promise<Principal | null> {
    const row = await this.#repo.userByName(username);
    // Hash even for unknown users so response time does not reveal which usernames exist.
    const stored = row?.passwordHash ?? (await dummyHash());
    const ok = await verifyPassword(password, stored);
    return ok && row ? toPrincipal(row) : null;
  }

  /** How long a web session may sit unused. */
  sessionIdleMs = DEFAULT_SESSION_IDLE_MS;

  /** A new session id (rotated on every sign-in); `ttlMs` is its absolute lifetime. */
  async openSession(userId: number, ttlMs: number): Promise<string> {
    const sid = newSecret('ses');
    const now = Date.now();
    await this.#repo.insertSession(hashSecret(sid), userId, now + ttlMs, now);
    return sid;
  }

  async bySession(sid: string): Promise<Principal | null> {
    const hash = hashSecret(sid);
    const now = Date.now();
    const row = await this.#repo.userBySession(hash, now, now - this.sessionIdleMs);
    if (!row) return null;
    if (now - row.lastSeenAt > TOUCH_EVERY_MS) await this.#repo.touchSession(hash, now);
    return toPrincipal(row, { scope: 'full', credential: { kind: 'session', hash } });
  }

  async closeSession(sid: string): Promise<void> {
    await this.#repo.deleteSession(hashSecret(sid));
  }

  /** Sign out everywhere: every web session of the user ends. */
  async closeAllSessions(userId: number): Promise<number> {
    return this.#repo.deleteSessionsOf(userId);
  }
}

let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
