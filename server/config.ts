import { resolve } from 'node:path';
import { z } from 'zod';

/** Every setting with its default and the reason for it. Validated once at start-up; bad values fail fast. */
export const defaults = {
  /** TCP port for HTTP, the web app and Socket.io. 0 picks a free port (tests). */
  port: 8080,
  /** Interface to listen on: loopback unless told otherwise (`--host 0.0.0.0` for every interface). */
  host: '127.0.0.1',
  /** Where the embedded SQLite database lives (and, on any database, the server's signing key and audit anchor). */
  dataDir: './data',
  /**
   * A PostgreSQL URL (`postgres://user:secret@host:5432/db`): all of Accord's state lives there instead of
   * SQLite. Empty: the embedded SQLite database in `dataDir` (docs/storage.md).
   */
  databaseUrl: '',
  /** PostgreSQL schema for Accord's tables (created if missing). Empty: the first of the role's search_path. */
  databaseSchema: '',
  /**
   * A Redis URL (`redis://host:6379`): nodes started with the same database and Redis URLs form one cluster
   * (docs/operations.md). Needs PostgreSQL. Empty: the node runs alone.
   */
  redisUrl: '',
  /** Prefix of the Redis keys and channels, so several clusters (or test runs) can share one Redis. */
  redisPrefix: 'accord',
  /** Largest single Socket.io message (and so Yjs update) accepted, in bytes. Bounds hostile clients. */
  maxMessageBytes: 1_048_576,
  /**
   * Group commit: an update waits at most this long for others to share its durable commit (one sync).
   * Relays to other clients never wait; only the sender's ack does.
   */
  commitWindowMs: 20,
  /**
   * Where SQLite commits run. `thread`: a writer thread with its own connection, so the event loop never
   * waits for a commit's fsync. `inline`: on the event loop, with the WAL's fsync on libuv's thread pool. `auto`: the thread when this process may
   * run on more than one core; on one core the thread only adds switching (docs/decisions.md).
   */
  sqliteWriter: 'auto' as 'auto' | 'thread' | 'inline',
  /** Compact a document's update log into a snapshot once it holds this many entries... */
  compactAfterUpdates: 500,
  /** ...checked this long after the last write to it, so compaction stays off the hot path. */
  compactDelayMs: 2_000,
  /** Keep a document in memory this long after its last client left (0 unloads at once). */
  unloadDelayMs: 0,
  /** Web session absolute lifetime... */
  sessionTtlMs: 12 * 60 * 60 * 1000,
  /** ...and how long it may sit unused. */
  sessionIdleMs: 30 * 60 * 1000,
  /** Socket.io connections one user may hold at once (tabs, devices). */
  maxSocketsPerUser: 20,
  /** State-changing requests and commands per user per minute. */
  commandsPerMinute: 600,
  /** Requests of any kind per credential (token or session) per minute. */
  requestsPerMinute: 3_000,
  /**
   * Largest a live document may grow (its Yjs state, in bytes): an update that would pass it is refused,
   * nothing stored. Bounds what one writer can make every later reader download.
   */
  maxDocumentBytes: 4 * 1_048_576,
  /** New `notes:` documents one user may create per hour. */
  documentsPerUserPerHour: 60,
  /** Evidence exports per user per minute (each writes an audit entry and signs a checkpoint). */
  evidenceExportsPerMinute: 6,
  /** A file on other storage that receives a copy of every audit anchor line (empty: none). */
  auditWitness: '',
  /** Where the built web app is served from (relative to the repository root). */
  webDir: 'web/dist',
  /** The URL users open (WebAuthn origin and relying party id come from it). Empty: http://localhost:<port>. */
  publicUrl: '',
  /** SMTP server for e-mail notifications (`smtp://host:port`, `smtps://user:pw@host`); empty: no e-mail. */
  smtpUrl: '',
  /** The From of notification e-mail. */
  mailFrom: 'Accord <accord@localhost>',
  /** How often every connected target is read for drift, ms (0: only when asked, POST /api/targets/:name/read). */
  driftIntervalMs: 15 * 60_000,
  /** How often the expiry sweeper looks for time-bound grants whose time is up, ms (timers catch most on time). */
  expirySweepMs: 30_000,
  /** Waits between tries of a transient connector failure during an apply, ms (comma-separated). */
  applyRetryMs: '500,2000,5000',
  /** How often campaigns are checked for their end (close) and their reminder, ms. */
  campaignClockMs: 60_000,
  /** Let webhooks reach loopback and private addresses (tests and labs; never on a server reachable from untrusted users). */
  allowPrivateWebhooks: false,
  /** pino level. */
  logLevel: 'info' as 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent',
};

export type Config = typeof defaults;

const schema = z.object({
  port: z.coerce.number().int().min(0).max(65_535),
  host: z.string().min(1),
  dataDir: z.string().min(1),
  databaseUrl: z.union([z.literal(''), z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL')]),
  databaseSchema: z.union([z.literal(''), z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _')]),
  redisUrl: z.union([z.literal(''), z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')]),
  redisPrefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '1-64 letters, digits, _ . -'),
  maxMessageBytes: z.coerce.number().int().min(1_024).max(64 * 1_048_576),
  commitWindowMs: z.coerce.number().int().min(0).max(1_000),
  sqliteWriter: z.enum(['auto', 'thread', 'inline']),
  compactAfterUpdates: z.coerce.number().int().min(1),
  compactDelayMs: z.coerce.number().int().min(0),
  unloadDelayMs: z.coerce.number().int().min(0),
  sessionTtlMs: z.coerce.number().int().min(1_000),
  sessionIdleMs: z.coerce.number().int().min(1_000),
  maxSocketsPerUser: z.coerce.number().int().min(1),
  commandsPerMinute: z.coerce.number().int().min(1),
  requestsPerMinute: z.coerce.number().int().min(1),
  maxDocumentBytes: z.coerce.number().int().min(1_024).max(1_024 * 1_048_576),
  documentsPerUserPerHour: z.coerce.number().int().min(1),
  evidenceExportsPerMinute: z.coerce.number().int().min(1),
  auditWitness: z.string(),
  webDir: z.string(),
  publicUrl: z.union([z.literal(''), z.url()]),
  smtpUrl: z.union([z.literal(''), z.string().regex(/^smtps?:\/\//, 'an smtp:// or smtps:// URL')]),
  mailFrom: z.string().min(3).max(200),
  driftIntervalMs: z.coerce.number().int().min(0),
  expirySweepMs: z.coerce.number().int().min(50),
  applyRetryMs: z.string().regex(/^(\d{1,7}(,\d{1,7}){0,9})?$/, 'comma-separated milliseconds, at most 10'),
  campaignClockMs: z.coerce.number().int().min(50),
  allowPrivateWebhooks: z.union([z.boolean(), z.enum(['1', 'true', '0', 'false']).transform((v) => v === '1' || v === 'true')]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

const FLAGS: Record<string, keyof Config> = {
  '--port': 'port',
  '--host': 'host',
  '--data': 'dataDir',
  '--database-url': 'databaseUrl',
  '--database-schema': 'databaseSchema',
  '--redis-url': 'redisUrl',
  '--redis-prefix': 'redisPrefix',
  '--max-message-bytes': 'maxMessageBytes',
  '--log-level': 'logLevel',
  '--public-url': 'publicUrl',
  '--max-document-bytes': 'maxDocumentBytes',
  '--audit-witness': 'auditWitness',
  '--smtp-url': 'smtpUrl',
  '--mail-from': 'mailFrom',
  '--drift-interval-ms': 'driftIntervalMs',
  '--expiry-sweep-ms': 'expirySweepMs',
  '--apply-retry-ms': 'applyRetryMs',
  '--allow-private-webhooks': 'allowPrivateWebhooks',
};

const ENV: Record<string, keyof Config> = {
  PORT: 'port',
  HOST: 'host',
  ACCORD_DATA: 'dataDir',
  ACCORD_DATABASE_URL: 'databaseUrl',
  ACCORD_DATABASE_SCHEMA: 'databaseSchema',
  ACCORD_REDIS_URL: 'redisUrl',
  ACCORD_REDIS_PREFIX: 'redisPrefix',
  ACCORD_MAX_MESSAGE_BYTES: 'maxMessageBytes',
  ACCORD_LOG_LEVEL: 'logLevel',
  ACCORD_COMMIT_WINDOW_MS: 'commitWindowMs',
  ACCORD_SQLITE_WRITER: 'sqliteWriter',
  ACCORD_PUBLIC_URL: 'publicUrl',
  ACCORD_MAX_DOCUMENT_BYTES: 'maxDocumentBytes',
  ACCORD_AUDIT_WITNESS: 'auditWitness',
  ACCORD_SMTP_URL: 'smtpUrl',
  ACCORD_MAIL_FROM: 'mailFrom',
  ACCORD_DRIFT_INTERVAL_MS: 'driftIntervalMs',
  ACCORD_EXPIRY_SWEEP_MS: 'expirySweepMs',
  ACCORD_APPLY_RETRY_MS: 'applyRetryMs',
  ACCORD_CAMPAIGN_CLOCK_MS: 'campaignClockMs',
  ACCORD_ALLOW_PRIVATE_WEBHOOKS: 'allowPrivateWebhooks',
};

/** Config from defaults, then environment, then command-line flags (`--port N --data DIR`). */
export function loadConfig(argv: readonly string[] = [], env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const raw: Record<string, unknown> = { ...defaults };
  for (const [name, key] of Object.entries(ENV)) if (env[name] !== undefined && env[name] !== '') raw[key] = env[name];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--allow-private-webhooks' && inline === undefined) {
      raw.allowPrivateWebhooks = true; // a switch: no value
      continue;
    }
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown option ${flag} (known: ${Object.keys(FLAGS).join(', ')})`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`option ${flag} needs a value`);
    raw[key] = value;
  }
  const parsed = schema.safeParse({ ...raw, ...overrides });
  if (!parsed.success) {
    throw new Error(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir) };
}
