/**
 * OidcRepository: every SQL statement on `oidc_identities` (schema/oidc.ts), the links from a provider
 * identity (issuer, subject) to an Accord user, with the Accord groups the provider granted at the last
 * sign-in (stored as a JSON array). The users themselves are UserRepository's.
 *
 * Transactions: the methods open none. OIDC sign-in reads the link, creates or updates the user and the
 * link, applies groups and writes its audit entry as one unit: it runs all of that in `inTransaction`
 * (BEGIN IMMEDIATE on this connection, which UserRepository's statements and the audit log share).
 *
 * Rows are decoded with zod (sign-in is not a per-request path); a row that does not match throws an
 * Error naming the table and column.
 */
import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';
import { z } from 'zod';
import { OIDC_SCHEMA } from './schema/oidc.ts';
import { inTransaction } from './database.ts';

/** A provider identity's link: the Accord user, and the Accord groups the provider granted last time. */
export interface OidcLink {
  userId: number;
  groups: string[];
}

const LinkRow = z.object({
  user_id: z.number().int(),
  groups: z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not JSON' });
      return z.NEVER;
    }
  }).pipe(z.array(z.string())),
});

export class OidcRepository {
  readonly #db: DatabaseSync;
  readonly #link: StatementSync;
  readonly #insertLink: StatementSync;
  readonly #updateLink: StatementSync;

  /** Creates the table if missing (IF NOT EXISTS; the migrations normally have). */
  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(OIDC_SCHEMA);
    this.#link = db.prepare('SELECT user_id, groups FROM oidc_identities WHERE issuer = ? AND subject = ?');
    this.#insertLink = db.prepare('INSERT INTO oidc_identities (issuer, subject, user_id, groups) VALUES (?, ?, ?, ?)');
    this.#updateLink = db.prepare(
      "UPDATE oidc_identities SET groups = ?, last_login_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE issuer = ? AND subject = ?",
    );
  }

  /** Runs `fn` in one IMMEDIATE transaction on this connection; rolls back and rethrows on error. */
  inTransaction<T>(fn: () => T): T {
    return inTransaction(this.#db, fn);
  }

  link(issuer: string, subject: string): OidcLink | null {
    const row = this.#link.get(issuer, subject);
    if (!row) return null;
    const { user_id, groups } = decode(row);
    return { userId: user_id, groups };
  }

  insertLink(issuer: string, subject: string, userId: number, groups: readonly string[]): void {
    this.#insertLink.run(issuer, subject, userId, JSON.stringify(groups));
  }

  /** Stores the groups granted at this sign-in and its time. */
  updateLink(issuer: string, subject: string, groups: readonly string[]): void {
    this.#updateLink.run(JSON.stringify(groups), issuer, subject);
  }
}

function decode(row: Record<string, SQLOutputValue>): z.infer<typeof LinkRow> {
  const parsed = LinkRow.safeParse(row);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const [column, ...rest] = issue.path;
  const where = rest.length ? ` at ${rest.map(String).join('.')}` : '';
  throw new Error(`oidc_identities.${String(column)}${where}: ${issue.message}`);
}
