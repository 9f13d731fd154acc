/**
 * OidcRepository: every SQL statement on `oidc_identities`, the links from a provider identity (issuer,
 * subject) to an Accord user, with the Accord groups the provider granted at the last sign-in (stored as
 * a JSON array). The users themselves are UserRepository's. The table is created by the migrations of
 * either database (SQLite: schema/oidc.ts; PostgreSQL: postgres/schema.ts).
 *
 * Transactions: the methods open none. OIDC sign-in reads the link, creates or updates the user and the
 * link, applies groups and writes its audit entry as one unit: it runs all of that in
 * `Database.transaction`, which every statement here (and UserRepository's, and the audit log's) joins.
 *
 * Rows are decoded with zod (sign-in is not a per-request path); a row that does not match throws an
 * Error naming the table and column.
 */
import { z } from 'zod';
import type { Database, Row } from '../sql.ts';

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

const LINK = 'SELECT user_id, groups FROM oidc_identities WHERE issuer = ? AND subject = ?';
const INSERT_LINK = 'INSERT INTO oidc_identities (issuer, subject, user_id, groups) VALUES (?, ?, ?, ?)';
const UPDATE_LINK = 'UPDATE oidc_identities SET groups = ?, last_login_at = ? WHERE issuer = ? AND subject = ?';

export class OidcRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Remembers a sign-in in progress under the hash of its cookie's id; drops expired ones, and the oldest above `max`. */
  async putFlow(idHash: string, flow: { state: string; nonce: string; verifier: string; expiresAt: number }, max: number): Promise<void> {
    await this.#db.transaction(async () => {
      await this.#db.run('DELETE FROM oidc_flows WHERE expires_ms < ?', [Date.now()]);
      const count = Number((await this.#db.get<{ n: number }>('SELECT count(*) AS n FROM oidc_flows'))?.n ?? 0);
      if (count >= max) {
        await this.#db.run('DELETE FROM oidc_flows WHERE id_hash IN (SELECT id_hash FROM oidc_flows ORDER BY expires_ms LIMIT ?)', [count - max + 1]);
      }
      await this.#db.run('INSERT INTO oidc_flows (id_hash, state, nonce, verifier, expires_ms) VALUES (?, ?, ?, ?, ?)',
        [idHash, flow.state, flow.nonce, flow.verifier, flow.expiresAt]);
    });
  }

  /** Takes a sign-in in progress: one use (a replayed callback finds nothing), whichever node asks. */
  async takeFlow(idHash: string): Promise<{ state: string; nonce: string; verifier: string; expiresAt: number } | null> {
    const row = await this.#db.get<{ state: string; nonce: string; verifier: string; expires_ms: number | string }>(
      'DELETE FROM oidc_flows WHERE id_hash = ? RETURNING state, nonce, verifier, expires_ms', [idHash]);
    return row ? { state: row.state, nonce: row.nonce, verifier: row.verifier, expiresAt: Number(row.expires_ms) } : null;
  }

  async link(issuer: string, subject: string): Promise<OidcLink | null> {
    const row = await this.#db.get(LINK, [issuer, subject]);
    if (!row) return null;
    const { user_id, groups } = decode(row);
    return { userId: user_id, groups };
  }

  /** Links the identity to a user; an identity already linked fails with the database's unique violation. */
  async insertLink(issuer: string, subject: string, userId: number, groups: readonly string[]): Promise<void> {
    await this.#db.run(INSERT_LINK, [issuer, subject, userId, JSON.stringify(groups)]);
  }

  /** Stores the groups granted at this sign-in and its time (now, ISO 8601 as the column's default writes it). */
  async updateLink(issuer: string, subject: string, groups: readonly string[]): Promise<void> {
    await this.#db.run(UPDATE_LINK, [JSON.stringify(groups), new Date().toISOString(), issuer, subject]);
  }
}

function decode(row: Row): z.infer<typeof LinkRow> {
  const parsed = LinkRow.safeParse(row);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const [column, ...rest] = issue.path;
  const where = rest.length ? ` at ${rest.map(String).join('.')}` : '';
  throw new Error(`oidc_identities.${String(column)}${where}: ${issue.message}`);
}
