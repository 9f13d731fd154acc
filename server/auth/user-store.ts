import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { AppError } from '../protocol/errors.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { isRole, type Principal, type Role, type Scope } from './roles.ts';
import type { Reviewer } from '../domain/review/types.ts';
import { UserRepository, type UserRecord } from '../store/sqlite/user-repository.ts';

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

/** Users, API tokens and web sessions; their rows are kept by UserRepository (server/store/sqlite/user-repository.ts). */
export class UserStore {
  readonly #repo: UserRepository;

  constructor(db: DatabaseSync) {
    this.#repo = new UserRepository(db);
  }

  /** Creates a user and returns its first API token (shown once; only its hash is kept). */
  async addUser(username: string, role: Role, password?: string): Promise<{ principal: Principal; token: string }> {
    if (!USERNAME.test(username)) throw new AppError('invalid_payload', `invalid username "${username}": use a-z, 0-9, . _ - (max 64)`);
    if (this.#repo.usernameTaken(username)) throw new AppError('conflict', `user "${username}" already exists`);
    if (password !== undefined && password.length < 8) throw new AppError('invalid_payload', 'password must have at least 8 characters');
    const hash = password === undefined ? null : await hashPassword(password);
    const id = this.#repo.insertUser(username, role, hash);
    const token = this.issueToken(id, 'cli');
    return { principal: { userId: id, username, role }, token };
  }

  /** Adds the user to Accord groups (names that policies can use). */
  addToGroups(userId: number, groups: readonly string[]): void {
    for (const g of groups) {
      if (!USERNAME.test(g)) throw new AppError('invalid_payload', `invalid group name "${g}"`);
      this.#repo.addToGroup(userId, g);
    }
  }

  /** Every enabled user with role and groups, as policies see them. */
  reviewers(): Reviewer[] {
    const out: Reviewer[] = [];
    for (const r of this.#repo.reviewers()) if (isRole(r.role)) out.push({ username: r.username, role: r.role, groups: r.groups });
    return out;
  }

  /** A new API token; only its hash is kept. Scoped tokens may do less than the user's role allows. */
  issueToken(userId: number, label: string, scope: Scope = 'full', expiresAt?: number): string {
    const token = newSecret('acc');
    this.#repo.insertToken(hashSecret(token), userId, label, scope, expiresAt ?? null);
    return token;
  }

  userId(username: string): number | null {
    return this.#repo.userByName(username)?.id ?? null;
  }

  /** Revokes a token by the first characters of its hash (as `token list` shows them); returns how many. */
  revokeToken(userId: number, hashPrefix: string): number {
    if (!/^[0-9a-f]{8,64}$/.test(hashPrefix)) throw new AppError('invalid_payload', 'give at least 8 hex characters of the token id');
    return this.#repo.revokeTokens(userId, hashPrefix);
  }

  tokens(userId: number): { id: string; label: string; scope: string; expiresAt: number | null; revoked: boolean; lastUsedAt: string | null }[] {
    return this.#repo.tokens(userId).map((r) => ({
      id: r.hash.slice(0, 12), label: r.label ?? '', scope: r.scope, expiresAt: r.expiresAt, revoked: r.revokedAt !== null, lastUsedAt: r.lastUsedAt,
    }));
  }

  byToken(token: string): Principal | null {
    const hash = hashSecret(token);
    const row = this.#repo.userByToken(hash, Date.now());
    if (!row) return null;
    this.#repo.touchToken(hash);
    return toPrincipal(row, { scope: row.tokenScope, credential: { kind: 'token', hash } });
  }

  /** Is the credential behind a principal still valid (not revoked, expired or idle)? */
  stillValid(p: Principal): boolean {
    if (!p.credential) return true;
    const now = Date.now();
    const row = p.credential.kind === 'token'
      ? this.#repo.userByToken(p.credential.hash, now)
      : this.#repo.userBySession(p.credential.hash, now, now - this.sessionIdleMs);
    // A disabled account or a changed role ends the connection too: it re-authenticates at its new level.
    return row !== null && !row.disabled && row.role === p.role;
  }

  /** Sets a new password (the user's own change, or an admin's reset). Other sessions end. */
  async setPassword(username: string, password: string): Promise<void> {
    const row = this.#repo.userByName(username);
    if (!row) throw new AppError('not_found', `no user "${username}"`);
    if (password.length < 8) throw new AppError('invalid_payload', 'password must have at least 8 characters');
    this.#repo.setPasswordHash(row.id, await hashPassword(password));
    this.closeAllSessions(row.id);
  }

  /** Disables (or re-enables) an account: a disabled user cannot sign in and every credential stops working. */
  setDisabled(username: string, disabled: boolean): void {
    if (this.#repo.setDisabled(username, disabled) !== 1) throw new AppError('not_found', `no user "${username}"`);
  }

  async checkPassword(username: string, password: string): Promise<Principal | null> {
    const row = this.#repo.userByName(username);
    // Hash even for unknown users so response time does not reveal which usernames exist.
    const stored = row?.passwordHash ?? (await dummyHash());
    const ok = await verifyPassword(password, stored);
    return ok && row ? toPrincipal(row) : null;
  }

  /** How long a web session may sit unused. */
  sessionIdleMs = DEFAULT_SESSION_IDLE_MS;

  /** A new session id (rotated on every sign-in); `ttlMs` is its absolute lifetime. */
  openSession(userId: number, ttlMs: number): string {
    const sid = newSecret('ses');
    const now = Date.now();
    this.#repo.insertSession(hashSecret(sid), userId, now + ttlMs, now);
    return sid;
  }

  bySession(sid: string): Principal | null {
    const hash = hashSecret(sid);
    const now = Date.now();
    const row = this.#repo.userBySession(hash, now, now - this.sessionIdleMs);
    if (!row) return null;
    if (now - row.lastSeenAt > TOUCH_EVERY_MS) this.#repo.touchSession(hash, now);
    return toPrincipal(row, { scope: 'full', credential: { kind: 'session', hash } });
  }

  closeSession(sid: string): void {
    this.#repo.deleteSession(hashSecret(sid));
  }

  /** Sign out everywhere: every web session of the user ends. */
  closeAllSessions(userId: number): number {
    return this.#repo.deleteSessionsOf(userId);
  }
}

let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
