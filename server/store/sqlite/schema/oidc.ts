/**
 * Links provider identities to Accord users. The link is the pair (issuer, subject), never the
 * username: a provider account called "root" must not become the local admin "root".
 * `groups` (a JSON array of Accord group names) remembers which Accord groups the provider granted, so
 * a group the provider drops is removed at the next sign-in while groups an admin added by hand stay.
 * A migration of server/store/sqlite/database.ts (PostgreSQL: server/store/postgres/schema.ts).
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
