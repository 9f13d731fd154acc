/**
 * `accord audit verify`: verify the audit log of a data directory (its SQLite database, or the
 * PostgreSQL database the installation uses), or an exported evidence pack (.json or .html) offline.
 * `argv` is what follows `audit` on the command line.
 * Exit codes: 0 verified; 1 verification failed (the first broken entry is named on stderr);
 * 2 bad usage or unreadable input (no database, no key, no pack).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ANCHOR_FILE, readAnchorFile } from './anchor.ts';
import type { AnchorInput } from './anchor.ts';
import type { Broken } from './chain.ts';
import { loadServerKey } from './server-key.ts';
import { verifyAuditStore } from './verify.ts';
import { verifyEvidenceHtml, verifyEvidencePack } from './verify-pack.ts';
import type { PackVerifyResult } from './verify-pack.ts';
import type { VerifyResult } from './verify.ts';
import { AuditRepository, openDatabaseFile } from '../store/repositories/audit-repository.ts';
import { AppError } from '../protocol/errors.ts';
import { PgDatabase, redactUrl } from '../store/postgres/pg-database.ts';
import type { Database } from '../store/sql.ts';

export const AUDIT_USAGE = `usage: accord audit verify [--data DIR] [--database-url URL [--database-schema NAME]] [--witness FILE | --no-anchor] [--pack FILE] [--public-key FILE] [--checkpoint-every N]
  verify                  check the audit log in DIR (default ./data): accord.sqlite against server-key.pem,
                          its signed head, and the anchor file DIR/${ANCHOR_FILE}
  --database-url URL      the log is in this PostgreSQL database instead (the server's --database-url;
                          default ACCORD_DATABASE_URL); DIR still holds server-key.pem and the anchor file
  --database-schema NAME  its schema (the server's --database-schema; default ACCORD_DATABASE_SCHEMA,
                          else the role's search_path)
  --witness FILE          also check the log against this witness file (the server's --audit-witness)
  --no-anchor             do not check the anchor file (the database alone: a truncated log whose older
                          signed head was put back goes unnoticed)
  verify --pack FILE      check an exported evidence pack (.json or .html) offline, with only the file
  --public-key FILE       pin the signer: the server's public key (SPKI PEM) as published
  --checkpoint-every N    the server's checkpoint interval (default 100; 0: none expected)`;

class CliError extends Error {}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

function describeFailure(r: Broken, what: string): string {
  return r.seq === null ? `audit: ${what} is broken: ${r.reason}` : `audit: entry ${r.seq} is broken: ${r.reason}`;
}

function readAnchor(path: string, label: string): AnchorInput {
  try {
    return readAnchorFile(path, label);
  } catch (e) {
    throw new CliError(`cannot read ${label} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

const sqlitePath = (dataDir: string): string => join(dataDir, 'accord.sqlite');

/** Where the log is: the data directory's SQLite file, or a PostgreSQL database (URL, optional schema). */
interface DatabaseTarget {
  url?: string;
  schema?: string;
}

/**
 * Opens the database as it is, to read: nothing is created or migrated (a verifier may hold a read-only
 * role, and a mistyped schema must not become an empty log that verifies), so a database without the
 * audit tables is reported as such. Returns the port and how messages name it.
 */
async function openForReading(dataDir: string, target: DatabaseTarget): Promise<{ db: Database; label: string }> {
  if (!target.url) {
    const path = sqlitePath(dataDir);
    return { db: openDatabaseFile(path), label: path };
  }
  const label = `${redactUrl(target.url)}${target.schema ? ` (schema ${target.schema})` : ''}`;
  let db: PgDatabase;
  try {
    db = new PgDatabase(target.url, { max: 1, ...(target.schema ? { schema: target.schema } : {}) });
  } catch (e) {
    throw new CliError(`cannot use PostgreSQL at ${label}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { db, label };
}

async function verifyDatabase(
  dataDir: string, target: DatabaseTarget, pinnedPem: string | undefined, checkpointEvery: number, anchor: { witness?: string; skip: boolean },
): Promise<{ result: VerifyResult; summary: string }> {
  // A missing database file is said first: it is the usual mistake (a wrong --data).
  if (!target.url && !existsSync(sqlitePath(dataDir))) throw new CliError(`no database at ${sqlitePath(dataDir)}`);
  const publicKeyPem = pinnedPem ?? (() => {
    try {
      return loadServerKey(dataDir).publicKeyPem;
    } catch (e) {
      throw new CliError(`cannot load the server key: ${e instanceof Error ? e.message : String(e)}`);
    }
  })();
  // The anchors are read before the database snapshot: a line is written only after its head committed,
  // so every line read now is covered by the snapshot taken next, even while the server appends.
  const anchors: AnchorInput[] = [];
  if (!anchor.skip) anchors.push(readAnchor(join(dataDir, ANCHOR_FILE), `the anchor file ${join(dataDir, ANCHOR_FILE)}`));
  if (anchor.witness !== undefined) anchors.push(readAnchor(anchor.witness, `the witness file ${anchor.witness}`));
  const { db, label } = await openForReading(dataDir, target);
  try {
    return await readAndVerify(db, label, publicKeyPem, checkpointEvery, anchors, anchor.skip);
  } catch (e) {
    // PostgreSQL that cannot be reached, refuses the login, or denies the role a table: unreadable input
    // (exit 2), not a broken log. Anything else is not the database's and is thrown as it is.
    const failure = db.dialect === 'postgres' ? databaseFailure(e) : null;
    if (failure === null) throw e;
    throw new CliError(`cannot use PostgreSQL at ${label}: ${failure}`);
  } finally {
    await db.close();
  }
}

/** What the PostgreSQL server (or the way to it) said, for an error from it; null for any other error. */
function databaseFailure(e: unknown): string | null {
  if (e instanceof AppError && e.code === 'storage_unavailable') {
    const cause = e.cause as { message?: unknown; code?: unknown } | undefined;
    return String(cause?.message || cause?.code || e.message);
  }
  // node-postgres' DatabaseError carries the SQLSTATE (five characters) as its code.
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? e.message : null;
}

async function readAndVerify(
  db: Database, label: string, publicKeyPem: string, checkpointEvery: number, anchors: AnchorInput[], skippedAnchor: boolean,
): Promise<{ result: VerifyResult; summary: string }> {
  if (!(await AuditRepository.hasAuditLog(db))) throw new CliError(`no audit log in ${label}`);
  const store = new AuditRepository(db);
  // One read-only unit of work: a consistent snapshot even while the server appends.
  return await store.readTransaction(async () => {
    const result = await verifyAuditStore(store, publicKeyPem, { checkpointEvery, anchors });
    if (!result.ok) return { result, summary: describeFailure(result, 'the log') };
    let summary = result.head === null
      ? `audit: ok: 0 entries (the log is empty), key ${result.keyId}`
      : `audit: ok: ${result.entries} entries, ${result.checkpoints} checkpoints, head signed at entry ${result.head}, key ${result.keyId}`;
    for (const a of result.anchors) {
      summary += a.lastSeq === null ? `; ${a.label}: no line yet` : `; ${a.label}: ${a.lines} lines, up to entry ${a.lastSeq}`;
      if (a.tornTail) summary += ' (a torn last line, left by a crash, ignored)';
    }
    if (skippedAnchor) summary += '; anchor not checked (--no-anchor): a truncated tail with an older signed head put back would go unnoticed';
    return { result, summary };
  });
}

async function verifyPackFile(file: string, pinnedPem: string | undefined): Promise<{ result: PackVerifyResult; summary: string }> {
  const text = readText(file, 'pack');
  const isHtml = /\.html?$/i.test(file) || text.trimStart().startsWith('<');
  let result: PackVerifyResult;
  let changeId = '?';
  if (isHtml) {
    result = await verifyEvidenceHtml(text, { publicKeyPem: pinnedPem });
    const m = /<script type="application\/json" id="evidence">([^<]*)<\/script>/.exec(text);
    try { changeId = String((JSON.parse(m?.[1] ?? 'null') as { change?: { id?: unknown } } | null)?.change?.id ?? '?'); } catch { /* reported by verify */ }
  } else {
    let pack: unknown;
    try {
      pack = JSON.parse(text);
    } catch {
      throw new CliError(`${file} is neither JSON nor an evidence HTML page`);
    }
    result = await verifyEvidencePack(pack, { publicKeyPem: pinnedPem });
    changeId = String((pack as { change?: { id?: unknown } } | null)?.change?.id ?? '?');
  }
  const summary = result.ok
    ? `audit: ok: evidence pack for change ${changeId}: ${result.entries} entries (${result.lastSeq - result.entries + 1} to ${result.lastSeq}), head signed at entry ${result.checkpointSeq}; ` +
      `${result.revisions} revisions, ${result.votes} votes, ${result.recusals} recusals, ${result.signoffs} sign-offs (passkey assertions verified) match them; ` +
      `key ${result.keyId}${pinnedPem ? ' (pinned)' : ' (from the pack: compare it with the published key id)'}`
    : describeFailure(result, 'the pack');
  return { result, summary };
}

export async function runAuditCli(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values: {
    data?: string; 'database-url'?: string; 'database-schema'?: string; pack?: string; 'public-key'?: string; 'checkpoint-every'?: string;
    witness?: string; 'no-anchor'?: boolean; help?: boolean;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv, allowPositionals: true,
      options: {
        data: { type: 'string' }, 'database-url': { type: 'string' }, 'database-schema': { type: 'string' }, pack: { type: 'string' }, 'public-key': { type: 'string' }, 'checkpoint-every': { type: 'string' },
        witness: { type: 'string' }, 'no-anchor': { type: 'boolean' }, help: { type: 'boolean' },
      },
    }));
  } catch (e) {
    err(`audit: ${e instanceof Error ? e.message : String(e)}\n${AUDIT_USAGE}`);
    return 2;
  }
  if (values.help) { out(AUDIT_USAGE); return 0; }
  if (positionals.length !== 1 || positionals[0] !== 'verify') { err(AUDIT_USAGE); return 2; }
  const every = values['checkpoint-every'] === undefined ? 100 : Number(values['checkpoint-every']);
  if (!Number.isInteger(every) || every < 0) { err(`audit: --checkpoint-every must be a non-negative integer\n${AUDIT_USAGE}`); return 2; }
  if (values.pack !== undefined && (values.witness !== undefined || values['no-anchor'] || values['database-url'] !== undefined || values['database-schema'] !== undefined)) {
    err(`audit: --witness, --no-anchor, --database-url and --database-schema are about a data directory, not a pack\n${AUDIT_USAGE}`);
    return 2;
  }
  // Flags first, then the environment the server reads (ACCORD_DATABASE_URL: the log is in PostgreSQL).
  const target: DatabaseTarget = {
    url: values['database-url'] ?? (process.env.ACCORD_DATABASE_URL || undefined),
    schema: values['database-schema'] ?? (process.env.ACCORD_DATABASE_SCHEMA || undefined),
  };
  if (values['database-schema'] !== undefined && !target.url) {
    err(`audit: --database-schema names a schema of the --database-url database\n${AUDIT_USAGE}`);
    return 2;
  }
  try {
    const pinned = values['public-key'] === undefined ? undefined : readText(values['public-key'], 'public key');
    const { result, summary } = values.pack !== undefined
      ? await verifyPackFile(values.pack, pinned)
      : await verifyDatabase(values.data ?? process.env.ACCORD_DATA ?? './data', target, pinned, every, { witness: values.witness, skip: values['no-anchor'] === true });
    (result.ok ? out : err)(summary);
    return result.ok ? 0 : 1;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    err(`audit: ${e.message}`);
    return 2;
  }
}
