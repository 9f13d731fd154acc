/**
 * Tables of the audit trail (docs/audit.md), migrations of server/store/sqlite/database.ts; idempotent
 * (CREATE ... IF NOT EXISTS). Read and written only by AuditRepository
 * (server/store/repositories/audit-repository.ts).
 *
 * `audit_log` is append-only by contract: rows are only ever INSERTed by AuditLog.append; verification
 * (server/audit/verify.ts) detects any UPDATE, DELETE or reordering. `audit_checkpoints` holds the
 * server's Ed25519 signature over the hash of the entry at `seq`.
 */
export const AUDIT_SCHEMA: string = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'refused')),
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (subject, seq);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  seq INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  signature TEXT NOT NULL,
  key_id TEXT NOT NULL,
  at TEXT NOT NULL
);
`;

/**
 * The signed head: one row, rewritten in the transaction of every append, holding the server's signature
 * (checkpoint format) over the last entry. No key column on purpose: the verifier requires exactly one
 * row, so an inserted second row is visible rather than shadowed. The store's last migration creates
 * this same table (server/store/sqlite/database.ts; test/audit checks the two agree).
 */
export const AUDIT_HEAD_SCHEMA: string = `
CREATE TABLE IF NOT EXISTS audit_head (
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  signature TEXT NOT NULL,
  key_id TEXT NOT NULL,
  at TEXT NOT NULL
);
`;
