/**
 * `accord audit verify`: verify the audit log of a data directory, or an exported evidence pack
 * (.json or .html) offline. `argv` is what follows `audit` on the command line.
 * Exit codes: 0 verified; 1 verification failed (the first broken entry is named on stderr);
 * 2 bad usage or unreadable input (no database, no key, no pack).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { loadServerKey } from './server-key.ts';
import { verifyAudit } from './verify.ts';
import { verifyEvidenceHtml, verifyEvidencePack } from './verify-pack.ts';
import type { VerifyResult } from './verify.ts';

export const AUDIT_USAGE = `usage: accord audit verify [--data DIR] [--pack FILE] [--public-key FILE] [--checkpoint-every N]
  verify                  check the audit log in DIR (default ./data): accord.sqlite against server-key.pem
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

function describeFailure(r: Exclude<VerifyResult, { ok: true }>, what: string): string {
  return r.seq === null ? `audit: ${what} is broken: ${r.reason}` : `audit: entry ${r.seq} is broken: ${r.reason}`;
}

function verifyDatabase(dataDir: string, pinnedPem: string | undefined, checkpointEvery: number): { result: VerifyResult; summary: string } {
  const path = join(dataDir, 'accord.sqlite');
  if (!existsSync(path)) throw new CliError(`no database at ${path}`);
  const publicKeyPem = pinnedPem ?? (() => {
    try {
      return loadServerKey(dataDir).publicKeyPem;
    } catch (e) {
      throw new CliError(`cannot load the server key: ${e instanceof Error ? e.message : String(e)}`);
    }
  })();
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get();
    if (!table) throw new CliError(`no audit log in ${path}`);
    // One read transaction: a consistent snapshot even while the server appends.
    db.exec('BEGIN');
    try {
      const result = verifyAudit(db, publicKeyPem, { checkpointEvery });
      const summary = result.ok
        ? `audit: ok: ${result.entries} entries, ${result.checkpoints} checkpoints` +
          (result.lastCheckpointSeq === null
            ? ' (no entry signed yet)'
            : ` (last signs entry ${result.lastCheckpointSeq}; ${result.lastSeq - result.lastCheckpointSeq} after it unsigned)`) +
          `, key ${result.keyId}`
        : describeFailure(result, 'the log');
      return { result, summary };
    } finally {
      db.exec('COMMIT');
    }
  } finally {
    db.close();
  }
}

function verifyPackFile(file: string, pinnedPem: string | undefined): { result: VerifyResult; summary: string } {
  const text = readText(file, 'pack');
  const isHtml = /\.html?$/i.test(file) || text.trimStart().startsWith('<');
  let result: VerifyResult;
  let changeId = '?';
  if (isHtml) {
    result = verifyEvidenceHtml(text, { publicKeyPem: pinnedPem });
    const m = /<script type="application\/json" id="evidence">([^<]*)<\/script>/.exec(text);
    try { changeId = String((JSON.parse(m?.[1] ?? 'null') as { change?: { id?: unknown } } | null)?.change?.id ?? '?'); } catch { /* reported by verify */ }
  } else {
    let pack: unknown;
    try {
      pack = JSON.parse(text);
    } catch {
      throw new CliError(`${file} is neither JSON nor an evidence HTML page`);
    }
    result = verifyEvidencePack(pack, { publicKeyPem: pinnedPem });
    changeId = String((pack as { change?: { id?: unknown } } | null)?.change?.id ?? '?');
  }
  const summary = result.ok
    ? `audit: ok: evidence pack for change ${changeId}: ${result.entries} entries (${result.lastSeq - result.entries + 1} to ${result.lastSeq}), checkpoint at entry ${result.lastCheckpointSeq ?? '?'}, key ${result.keyId}${pinnedPem ? ' (pinned)' : ' (from the pack: compare it with the published key id)'}`
    : describeFailure(result, 'the pack');
  return { result, summary };
}

export async function runAuditCli(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values: { data?: string; pack?: string; 'public-key'?: string; 'checkpoint-every'?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv, allowPositionals: true,
      options: { data: { type: 'string' }, pack: { type: 'string' }, 'public-key': { type: 'string' }, 'checkpoint-every': { type: 'string' }, help: { type: 'boolean' } },
    }));
  } catch (e) {
    err(`audit: ${e instanceof Error ? e.message : String(e)}\n${AUDIT_USAGE}`);
    return 2;
  }
  if (values.help) { out(AUDIT_USAGE); return 0; }
  if (positionals.length !== 1 || positionals[0] !== 'verify') { err(AUDIT_USAGE); return 2; }
  const every = values['checkpoint-every'] === undefined ? 100 : Number(values['checkpoint-every']);
  if (!Number.isInteger(every) || every < 0) { err(`audit: --checkpoint-every must be a non-negative integer\n${AUDIT_USAGE}`); return 2; }
  try {
    const pinned = values['public-key'] === undefined ? undefined : readText(values['public-key'], 'public key');
    const { result, summary } = values.pack !== undefined
      ? verifyPackFile(values.pack, pinned)
      : verifyDatabase(values.data ?? process.env.ACCORD_DATA ?? './data', pinned, every);
    (result.ok ? out : err)(summary);
    return result.ok ? 0 : 1;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    err(`audit: ${e.message}`);
    return 2;
  }
}
