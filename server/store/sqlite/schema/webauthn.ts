/**
 * Tables for passkeys and revision-bound sign-offs (DESIGN.md §4). A migration of
 * server/store/sqlite/database.ts; it is idempotent (CREATE ... IF NOT EXISTS). Read and written only by
 * PasskeyRepository (server/store/repositories/passkey-repository.ts).
 *
 * - webauthn_credentials: one row per registered passkey; `id` is the base64url credential id,
 *   `public_key` the COSE public key, `counter` the last signature counter seen.
 * - webauthn_challenges: every challenge the server issued, single-use and short-lived. For a
 *   sign-off it records what the challenge commits to (change, revision, revision hash, nonce).
 * - signoffs: accepted sign-offs with the assertion as received (canonical JSON) and the server's
 *   signed receipt. At most one per (change, revision, approver).
 */
export const WEBAUTHN_SCHEMA: string = `
CREATE TABLE IF NOT EXISTS webauthn_credentials (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  public_key BLOB NOT NULL,
  counter INTEGER NOT NULL DEFAULT 0,
  transports TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX IF NOT EXISTS webauthn_credentials_user ON webauthn_credentials(user_id);
CREATE TABLE IF NOT EXISTS webauthn_challenges (
  challenge TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  purpose TEXT NOT NULL CHECK (purpose IN ('register', 'signoff')),
  change_id TEXT,
  revision INTEGER,
  revision_hash TEXT,
  nonce TEXT,
  expires_at INTEGER NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  CHECK (purpose = 'register' OR (change_id IS NOT NULL AND revision IS NOT NULL AND revision_hash IS NOT NULL AND nonce IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS webauthn_challenges_expiry ON webauthn_challenges(expires_at);
CREATE TABLE IF NOT EXISTS signoffs (
  id INTEGER PRIMARY KEY,
  change_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  revision_hash TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id),
  credential_id TEXT NOT NULL REFERENCES webauthn_credentials(id),
  assertion TEXT NOT NULL,
  receipt TEXT NOT NULL,
  at TEXT NOT NULL,
  UNIQUE (change_id, revision, user_id)
);
`;
