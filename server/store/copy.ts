import { loadServerKey } from '../audit/server-key.ts';
import { verifyAudit } from '../audit/verify.ts';
import type { Storage } from './open.ts';
import type { SqlValue } from './sql.ts';

/**
 * Every table of Accord with the columns both schemas share, in an order that satisfies the foreign
 * keys. `order` keeps the source's order where it means something (annotations: the order made).
 */
const TABLES: readonly { name: string; columns: readonly string[]; order: string }[] = [
  { name: 'users', columns: ['id', 'username', 'role', 'password_hash', 'disabled', 'created_at', 'email'], order: 'id' },
  { name: 'user_groups', columns: ['user_id', 'group_name'], order: 'user_id, group_name' },
  { name: 'api_tokens', columns: ['hash', 'user_id', 'label', 'created_at', 'last_used_at', 'scope', 'expires_at', 'revoked_at'], order: 'rowid' },
  { name: 'web_sessions', columns: ['hash', 'user_id', 'expires_at', 'last_seen_at'], order: 'rowid' },
  { name: 'oidc_identities', columns: ['issuer', 'subject', 'user_id', 'groups', 'created_at', 'last_login_at'], order: 'rowid' },
  { name: 'webauthn_credentials', columns: ['id', 'user_id', 'public_key', 'counter', 'transports', 'created_at'], order: 'rowid' },
  { name: 'webauthn_challenges', columns: ['challenge', 'user_id', 'purpose', 'change_id', 'revision', 'revision_hash', 'nonce', 'expires_at', 'used'], order: 'rowid' },
  { name: 'signoffs', columns: ['id', 'change_id', 'revision', 'revision_hash', 'user_id', 'credential_id', 'assertion', 'receipt', 'at'], order: 'id' },
  { name: 'changes', columns: ['id', 'version', 'status', 'requested_by', 'backend', 'title', 'data', 'created_at', 'updated_at', 'high_risk'], order: 'rowid' },
  { name: 'annotations', columns: ['id', 'change_id', 'data'], order: 'rowid' },
  { name: 'command_results', columns: ['user_id', 'key', 'command', 'result', 'at'], order: 'user_id, key' },
  { name: 'inventories', columns: ['backend', 'files', 'version', 'imported_by', 'imported_at'], order: 'backend' },
  { name: 'policies', columns: ['name', 'yaml', 'updated_by', 'updated_at'], order: 'name' },
  { name: 'joint_sessions', columns: ['id', 'version', 'status', 'facilitator', 'title', 'data', 'created_at', 'updated_at', 'current_change'], order: 'rowid' },
  { name: 'joint_session_items', columns: ['session_id', 'change_id'], order: 'session_id, change_id' },
  { name: 'draft_writers', columns: ['change_id', 'username', 'first_at'], order: 'change_id, username' },
  { name: 'audit_log', columns: ['seq', 'at', 'actor', 'action', 'subject', 'outcome', 'detail', 'prev_hash', 'hash'], order: 'seq' },
  { name: 'audit_checkpoints', columns: ['seq', 'hash', 'signature', 'key_id', 'at'], order: 'seq' },
  { name: 'audit_head', columns: ['seq', 'hash', 'signature', 'key_id', 'at'], order: 'rowid' },
  { name: 'notification_outbox', columns: ['id', 'dedupe_key', 'event', 'channel', 'recipient', 'address', 'payload', 'created_at', 'attempts', 'next_attempt_at', 'sent_at', 'last_error'], order: 'id' },
  // Secrets stay encrypted under the data directory's target key (server/connectors/secrets.ts): copy the key with the data.
  { name: 'targets', columns: ['name', 'backend', 'connection', 'secrets', 'created_by', 'created_at', 'updated_at'], order: 'name' },
  { name: 'target_baselines', columns: ['target', 'files', 'change_id', 'recorded_at'], order: 'target' },
  { name: 'apply_runs', columns: ['change_id', 'revision', 'target', 'state', 'record', 'started_by', 'started_at', 'updated_at'], order: 'change_id' },
  { name: 'live_grants', columns: ['id', 'change_id', 'target', 'item_id', 'grant_spec', 'not_after', 'state', 'attempts', 'next_attempt_at', 'last_error', 'revoked_at'], order: 'id' },
  { name: 'drift_findings', columns: ['id', 'target', 'kind', 'grant_key', 'detail', 'detected_at', 'state', 'resolved_by', 'resolved_at', 'change_id'], order: 'id' },
  { name: 'campaigns', columns: ['id', 'title', 'status', 'owner', 'definition', 'data', 'version', 'created_at', 'started_at', 'ends_at', 'closed_at'], order: 'id' },
  { name: 'campaign_assignments', columns: ['campaign_id', 'item_id', 'reviewer'], order: 'campaign_id, reviewer, item_id' },
  { name: 'campaign_items', columns: ['campaign_id', 'id', 'backend', 'item', 'reviewers', 'decision', 'reason', 'decided_by', 'decided_at'], order: 'campaign_id, id' },
  { name: 'webhooks', columns: ['id', 'url', 'events', 'format', 'secret', 'created_by', 'created_at', 'failures', 'disabled_at', 'disabled_reason'], order: 'id' },
  { name: 'inbox', columns: ['id', 'recipient', 'dedupe_key', 'event', 'payload', 'created_at', 'read_at'], order: 'created_at, id' },
  { name: 'notification_prefs', columns: ['username', 'event', 'channel'], order: 'username, event, channel' },
  // PostgreSQL's documents carry last_seq, the counter SQLite computes: max(snapshot_seq, max(seq) of the log).
  { name: 'documents', columns: ['id', 'snapshot', 'snapshot_seq', 'last_seq'], order: 'id' },
  { name: 'document_updates', columns: ['doc_id', 'seq', 'data'], order: 'doc_id, seq' },
];

/** Rows per INSERT: well under PostgreSQL's 65,535 parameters for the widest table. */
const CHUNK = 500;

/** Tables whose identity the copy sets explicitly: the sequence continues after the highest id copied. */
const IDENTITIES = [['users', 'id'], ['signoffs', 'id'], ['notification_outbox', 'id']] as const;

/**
 * Copies a SQLite installation into an empty PostgreSQL database, in one transaction (all or nothing),
 * then verifies the copied audit chain against the server's key in `dataDir`. Returns the report lines.
 * The server must be stopped while it runs: what the SQLite database receives after the copy started is
 * not copied.
 */
export async function copyStorage(from: Storage, to: Storage, dataDir: string): Promise<string[]> {
  if (from.kind !== 'sqlite' || to.kind !== 'postgres') throw new Error('db copy goes from SQLite to PostgreSQL');
  const report: string[] = [];
  await to.db.transaction(async () => {
    for (const table of ['users', 'changes', 'audit_log', 'documents']) {
      const row = await to.db.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
      if (Number(row?.n) > 0) throw new Error(`the target database is not empty (${table} has rows): copy into a new database or schema`);
    }
    // The source read as one snapshot, so rows that refer to each other agree.
    await from.db.transaction(async () => {
      for (const table of TABLES) {
        const select = table.name === 'documents'
          ? `SELECT id, snapshot, snapshot_seq, max(snapshot_seq, coalesce((SELECT max(seq) FROM document_updates u WHERE u.doc_id = d.id), 0)) AS last_seq FROM documents d ORDER BY ${table.order}`
          : `SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${table.order}`;
        const rows = await from.db.all<Record<string, SqlValue>>(select);
        for (let i = 0; i < rows.length; i += CHUNK) {
          const chunk = rows.slice(i, i + CHUNK);
          const tuple = `(${table.columns.map(() => '?').join(', ')})`;
          await to.db.run(
            `INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')}`,
            chunk.flatMap((row) => table.columns.map((c) => row[c] ?? null)),
          );
        }
        report.push(`${table.name}: ${rows.length} rows`);
      }
    }, { readOnly: true });
    for (const [table, column] of IDENTITIES) {
      await to.db.get(`SELECT setval(pg_get_serial_sequence('${table}', '${column}'), (SELECT coalesce(max(${column}), 0) + 1 FROM ${table}), false)`);
    }
  });
  const key = loadServerKey(dataDir);
  const verified = await verifyAudit(to.db, key.publicKeyPem);
  if (!verified.ok) throw new Error(`the copied audit chain does not verify (${verified.seq === null ? '' : `entry ${verified.seq}: `}${verified.reason})`);
  report.push(`audit chain verified on ${to.db.target}: ${verified.entries} entries, head signed at ${verified.head ?? 'none'} by key ${verified.keyId}`);
  return report;
}
