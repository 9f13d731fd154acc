import { DatabaseSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_HEAD_SCHEMA, AUDIT_SCHEMA } from './schema/audit.ts';
import { WEBAUTHN_SCHEMA } from './schema/webauthn.ts';
import { OIDC_SCHEMA } from './schema/oidc.ts';
import { SHARED_MIGRATIONS } from '../shared-schema.ts';

/** Sets `changes.high_risk` from each change's stored current revision (the migration that added it). */
export const BACKFILL_HIGH_RISK = `UPDATE changes SET high_risk = EXISTS (
  SELECT 1 FROM json_each(changes.data, '$.revisions[#-1].blast.gained') AS g WHERE json_extract(g.value, '$.highRisk') = 1);`;

/** Messages to people, written in the unit of work of what they report; delivered after (server/notify/). */
export const NOTIFICATION_OUTBOX = `CREATE TABLE notification_outbox (
     id INTEGER PRIMARY KEY,
     dedupe_key TEXT NOT NULL UNIQUE,
     event TEXT NOT NULL,
     channel TEXT NOT NULL,
     recipient TEXT NOT NULL,
     address TEXT NOT NULL,
     payload TEXT NOT NULL,
     created_at TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL,
     sent_at TEXT,
     last_error TEXT
   );
   CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE sent_at IS NULL;`;

/** Schema migrations, applied in order; the index + 1 is the schema version stored in `user_version`. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE documents (
     id TEXT PRIMARY KEY,
     snapshot BLOB,
     snapshot_seq INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
   );
   CREATE TABLE document_updates (
     doc_id TEXT NOT NULL REFERENCES documents(id),
     seq INTEGER NOT NULL,
     data BLOB NOT NULL,
     PRIMARY KEY (doc_id, seq)
   ) WITHOUT ROWID;
   CREATE TABLE users (
     id INTEGER PRIMARY KEY,
     username TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL,
     password_hash TEXT,
     disabled INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
   );
   CREATE TABLE api_tokens (
     hash TEXT PRIMARY KEY,
     user_id INTEGER NOT NULL REFERENCES users(id),
     label TEXT,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
     last_used_at TEXT
   );
   CREATE TABLE web_sessions (
     hash TEXT PRIMARY KEY,
     user_id INTEGER NOT NULL REFERENCES users(id),
     expires_at INTEGER NOT NULL
   );`,
  `CREATE TABLE user_groups (
     user_id INTEGER NOT NULL REFERENCES users(id),
     group_name TEXT NOT NULL,
     PRIMARY KEY (user_id, group_name)
   );
   CREATE TABLE changes (
     id TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     status TEXT NOT NULL,
     requested_by TEXT NOT NULL,
     backend TEXT NOT NULL,
     title TEXT NOT NULL,
     data TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX changes_by_status ON changes (status, updated_at);
   CREATE TABLE annotations (
     id TEXT PRIMARY KEY,
     change_id TEXT NOT NULL REFERENCES changes(id),
     data TEXT NOT NULL
   );
   CREATE INDEX annotations_by_change ON annotations (change_id);
   CREATE TABLE command_results (
     user_id INTEGER NOT NULL,
     key TEXT NOT NULL,
     command TEXT NOT NULL,
     result TEXT NOT NULL,
     at TEXT NOT NULL,
     PRIMARY KEY (user_id, key)
   );
   CREATE TABLE inventories (
     backend TEXT PRIMARY KEY,
     files TEXT NOT NULL,
     version INTEGER NOT NULL,
     imported_by TEXT NOT NULL,
     imported_at TEXT NOT NULL
   );
   CREATE TABLE policies (
     name TEXT PRIMARY KEY,
     yaml TEXT NOT NULL,
     updated_by TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );`,
  AUDIT_SCHEMA,
  WEBAUTHN_SCHEMA,
  `ALTER TABLE web_sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
   ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
   ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;
   CREATE INDEX web_sessions_by_user ON web_sessions (user_id);`,
  OIDC_SCHEMA,
  `CREATE TABLE joint_sessions (
     id TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     status TEXT NOT NULL,
     facilitator TEXT NOT NULL,
     title TEXT NOT NULL,
     data TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX joint_sessions_by_status ON joint_sessions (status, updated_at);`,
  // Risk as a column for the home page's filter: the current revision gains a high-risk privilege.
  `ALTER TABLE changes ADD COLUMN high_risk INTEGER NOT NULL DEFAULT 0;
   ${BACKFILL_HIGH_RISK}`,
  // Which open sessions have a change on their agenda, and which change each discusses: every vote asks
  // (presence, minutes), so these are indexed instead of parsing every open session's JSON.
  `CREATE TABLE joint_session_items (
     session_id TEXT NOT NULL REFERENCES joint_sessions(id),
     change_id TEXT NOT NULL,
     PRIMARY KEY (session_id, change_id)
   ) WITHOUT ROWID;
   CREATE INDEX joint_session_items_by_change ON joint_session_items (change_id);
   ALTER TABLE joint_sessions ADD COLUMN current_change TEXT;
   INSERT INTO joint_session_items (session_id, change_id)
     SELECT s.id, json_extract(a.value, '$.changeId') FROM joint_sessions s, json_each(s.data, '$.agenda') a;
   UPDATE joint_sessions SET current_change = json_extract(data, '$.agenda[' || json_extract(data, '$.current') || '].changeId')
     WHERE json_extract(data, '$.current') IS NOT NULL;
   CREATE INDEX joint_sessions_by_current ON joint_sessions (current_change) WHERE status = 'open';
   CREATE INDEX joint_sessions_by_facilitator ON joint_sessions (facilitator, status);`,
  // Who wrote any part of a change's draft (REST or Yjs): they are authors of every revision submitted after.
  `CREATE TABLE draft_writers (
     change_id TEXT NOT NULL REFERENCES changes(id),
     username TEXT NOT NULL,
     first_at TEXT NOT NULL,
     PRIMARY KEY (change_id, username)
   ) WITHOUT ROWID;`,
  // The audit log's signed head: one row, re-signed with every append.
  AUDIT_HEAD_SCHEMA,
  // Notifications: where to reach a user, and the outbox written with the state change that caused each message.
  `ALTER TABLE users ADD COLUMN email TEXT;
   ${NOTIFICATION_OUTBOX}`,
  ...SHARED_MIGRATIONS('INTEGER'),
];

/** Per-connection settings: every connection to the file (the main one, the document writer's) uses them. */
export const CONNECTION_PRAGMAS = 'PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;';

/**
 * Opens (creating if needed) the SQLite database in `dataDir`. WAL with synchronous=FULL:
 * a committed transaction is on disk when COMMIT returns, so acks after commit are durable.
 */
export function openDatabase(dataDir: string): DatabaseSync {
  mkdirSync(dataDir, { recursive: true });
  const db = new DatabaseSync(join(dataDir, 'accord.sqlite'));
  db.exec(`PRAGMA journal_mode = WAL; ${CONNECTION_PRAGMAS}`);
  migrate(db);
  return db;
}

function migrate(db: DatabaseSync): void {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  for (let v = row.user_version; v < MIGRATIONS.length; v++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}

/**
 * Several reads that must see one commit (in WAL mode a deferred transaction reads one snapshot of the
 * database from its first read): another connection, such as the writer thread's, may commit between them.
 */
export function inReadTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN');
  try {
    return fn();
  } finally {
    db.exec('COMMIT');
  }
}

/** Runs `fn` in one IMMEDIATE transaction; rolls back and rethrows on error. */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}
