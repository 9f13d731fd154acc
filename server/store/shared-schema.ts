/**
 * Tables both databases create with the same SQL (targets, campaigns, leases, webhooks, the inbox): one text,
 * with `big` the integer type of millisecond columns (SQLite INTEGER, PostgreSQL BIGINT).
 */
export type IntType = 'INTEGER' | 'BIGINT';

/** Closing the loop (docs/targets.md): hypervisors Accord applies to, apply records, time-bound grants, drift. */
export const TARGETS_SCHEMA = (big: IntType): string => `CREATE TABLE targets (
     name TEXT PRIMARY KEY,
     backend TEXT NOT NULL,
     connection TEXT NOT NULL,
     secrets TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE target_baselines (
     target TEXT PRIMARY KEY,
     files TEXT NOT NULL,
     change_id TEXT,
     recorded_at TEXT NOT NULL
   );
   CREATE TABLE apply_runs (
     change_id TEXT PRIMARY KEY,
     revision INTEGER NOT NULL,
     target TEXT NOT NULL,
     state TEXT NOT NULL,
     record TEXT NOT NULL,
     started_by TEXT NOT NULL,
     started_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE live_grants (
     id TEXT PRIMARY KEY,
     change_id TEXT NOT NULL,
     target TEXT NOT NULL,
     item_id TEXT NOT NULL,
     grant_spec TEXT NOT NULL,
     not_after TEXT,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at ${big} NOT NULL DEFAULT 0,
     last_error TEXT,
     revoked_at TEXT
   );
   CREATE INDEX live_grants_due ON live_grants (not_after) WHERE state = 'active';
   CREATE TABLE drift_findings (
     id TEXT PRIMARY KEY,
     target TEXT NOT NULL,
     kind TEXT NOT NULL,
     grant_key TEXT NOT NULL,
     detail TEXT NOT NULL,
     detected_at TEXT NOT NULL,
     state TEXT NOT NULL,
     resolved_by TEXT,
     resolved_at TEXT,
     change_id TEXT
   );`;

/** Recertification campaigns (docs/campaigns.md): definitions, their snapshot of items, assignments and decisions. */
export const CAMPAIGNS_SCHEMA = (big: IntType): string => `CREATE TABLE campaigns (
     id TEXT PRIMARY KEY,
     title TEXT NOT NULL,
     status TEXT NOT NULL,
     owner TEXT NOT NULL,
     definition TEXT NOT NULL,
     data TEXT NOT NULL,
     version INTEGER NOT NULL DEFAULT 1,
     created_at TEXT NOT NULL,
     started_at TEXT,
     ends_at TEXT,
     closed_at TEXT
   );
   CREATE TABLE campaign_items (
     campaign_id TEXT NOT NULL REFERENCES campaigns(id),
     id TEXT NOT NULL,
     backend TEXT NOT NULL,
     item TEXT NOT NULL,
     reviewers TEXT NOT NULL,
     decision TEXT,
     reason TEXT,
     decided_by TEXT,
     decided_at TEXT,
     PRIMARY KEY (campaign_id, id)
   );
   CREATE TABLE campaign_assignments (
     campaign_id TEXT NOT NULL,
     item_id TEXT NOT NULL,
     reviewer TEXT NOT NULL,
     PRIMARY KEY (campaign_id, reviewer, item_id)
   );`;

/** Background jobs that must run on one node at a time (server/store/leases.ts). */
export const LEASES_SCHEMA = (big: IntType): string => `CREATE TABLE job_leases (
     name TEXT PRIMARY KEY,
     holder TEXT NOT NULL,
     until_ms ${big} NOT NULL
   );`;

/** Outgoing webhooks (server/notify/webhooks.ts). */
export const WEBHOOKS_SCHEMA = (big: IntType): string => `CREATE TABLE webhooks (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     events TEXT NOT NULL,
     format TEXT NOT NULL,
     secret TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     failures INTEGER NOT NULL DEFAULT 0,
     disabled_at TEXT,
     disabled_reason TEXT
   );`;

/** The in-app notification centre (server/notify/inbox.ts). */
export const INBOX_SCHEMA = (big: IntType): string => `CREATE TABLE inbox (
     id TEXT PRIMARY KEY,
     recipient TEXT NOT NULL,
     dedupe_key TEXT NOT NULL UNIQUE,
     event TEXT NOT NULL,
     payload TEXT NOT NULL,
     created_at TEXT NOT NULL,
     read_at TEXT
   );
   CREATE INDEX inbox_recipient ON inbox (recipient, created_at);`;

/**
 * OIDC sign-ins in progress (server/auth/oidc/oidc-router.ts): in the database so the callback may reach
 * another node than the one that started the sign-in. Transient, like leases: `db copy` leaves them.
 */
export const OIDC_FLOWS_SCHEMA = (big: IntType): string => `CREATE TABLE oidc_flows (
     id_hash TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     nonce TEXT NOT NULL,
     verifier TEXT NOT NULL,
     expires_ms ${big} NOT NULL
   );`;

/** Per-user notification preferences (server/notify/preferences.ts): a row turns one event off on one channel. */
export const NOTIFY_PREFS_SCHEMA = (_big: IntType): string => `CREATE TABLE notification_prefs (
     username TEXT NOT NULL,
     event TEXT NOT NULL,
     channel TEXT NOT NULL,
     PRIMARY KEY (username, event, channel)
   );`;

/** The migrations these tables came with, in order (each database appends them to its own list). */
export const SHARED_MIGRATIONS = (big: IntType): string[] => [TARGETS_SCHEMA(big), CAMPAIGNS_SCHEMA(big), LEASES_SCHEMA(big), WEBHOOKS_SCHEMA(big), INBOX_SCHEMA(big), OIDC_FLOWS_SCHEMA(big), NOTIFY_PREFS_SCHEMA(big)];
