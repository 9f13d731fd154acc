/**
 * `accord audit verify`: verify the audit log of a data directory, or an exported evidence pack
 * (.json or .html) offline. `argv` is what follows `audit` on the command line.
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
import { SqliteAuditRepository, openDatabaseFile } from '../store/sqlite/audit-repository.ts';

export const AUDIT_USAGE = `usage: accord audit verify [--data DIR] [--witness FILE | --no-anchor] [--pack FILE] [--public-key FILE] [--checkpoint-every N]
  verify                  check the audit log in DIR (default ./data): accord.sqlite against server-key.pem,
                          its signed head, and the anchor file DIR/${ANCHOR_FILE}
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

function verifyDatabase(dataDir: string, pinnedPem: string | undefined, checkpointEvery: number, anchor: { witness?: string; skip: boolean }): { result: VerifyResult; summary: string } {
  const path = join(dataDir, 'accord.sqlite');
  if (!existsSync(path)) throw new CliError(`no database at ${path}`);
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
  const db = openDatabaseFile(path);
  try {
    if (!SqliteAuditRepository.hasAuditLog(db)) throw new CliError(`no audit log in ${path}`);
    const store = new SqliteAuditRepository(db);
    // One read transaction: a consistent snapshot even while the server appends.
    return store.readTransaction(() => {
      const result = verifyAuditStore(store, publicKeyPem, { checkpointEvery, anchors });
      if (!result.ok) return { result, summary: describeFailure(result, 'the log') };
      let summary = result.head === null
        ? `audit: ok: 0 entries (the log is empty), key ${result.keyId}`
        : `audit: ok: ${result.entries} entries, ${result.checkpoints} checkpoints, head signed at entry ${result.head}, key ${result.keyId}`;
      for (const a of result.anchors) {
        summary += a.lastSeq === null ? `; ${a.label}: no line yet` : `; ${a.label}: ${a.lines} lines, up to entry ${a.lastSeq}`;
        if (a.tornTail) summary += ' (a torn last line, left by a crash, ignored)';
      }
      if (anchor.skip) summary += '; anchor not checked (--no-anchor): a truncated tail with an older signed head put back would go unnoticed';
      return { result, summary };
    });
  } finally {
    db.close();
  }
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
  let values: { data?: string; pack?: string; 'public-key'?: string; 'checkpoint-every'?: string; witness?: string; 'no-anchor'?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv, allowPositionals: true,
      options: {
        data: { type: 'string' }, pack: { type: 'string' }, 'public-key': { type: 'string' }, 'checkpoint-every': { type: 'string' },
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
  if (values.pack !== undefined && (values.witness !== undefined || values['no-anchor'])) {
    err(`audit: --witness and --no-anchor are about a data directory, not a pack\n${AUDIT_USAGE}`);
    return 2;
  }
  try {
    const pinned = values['public-key'] === undefined ? undefined : readText(values['public-key'], 'public key');
    const { result, summary } = values.pack !== undefined
      ? await verifyPackFile(values.pack, pinned)
      : verifyDatabase(values.data ?? process.env.ACCORD_DATA ?? './data', pinned, every, { witness: values.witness, skip: values['no-anchor'] === true });
    (result.ok ? out : err)(summary);
    return result.ok ? 0 : 1;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    err(`audit: ${e.message}`);
    return 2;
  }
}
