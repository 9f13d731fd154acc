/**
 * The evidence pack (docs/audit.md): one change's revisions, native forms, blast radius, votes,
 * annotations and sign-offs, plus the stretch of the audit chain that covers them, ending at the signed
 * head. It verifies offline with nothing but itself (verify-pack.ts), and a public key to pin.
 *
 * Derived from the audit entries (format accord-evidence/2): the change's revisions, votes, recusals,
 * status and the sign-offs must be exactly what the change's `ok` audit entries record (pack-content.ts);
 * exportEvidence refuses a stored change that disagrees, so an edit of the database that bypassed the
 * commands (a vote written into the changes row, a junk sign-off row) never becomes evidence.
 *
 * Binding: the content (format, change, annotations, signoffs) is hashed (evidenceDigest) and that
 * digest is recorded in an `evidence.export` audit entry inside the signed segment, so editing any
 * vote, revision or sign-off in the pack breaks verification.
 */
import type { ChangeRequest } from '../domain/review/types.ts';
import { hashContent, hashItems } from '../domain/review/canonical.ts';
import { canonicalJson, sha256Hex } from './canonical.ts';
import type { AuditLog } from './audit-log.ts';
import type { AuditCheckpoint, AuditEntry } from './entry.ts';
import { checkContent } from './pack-content.ts';
import type { ComputedHashes, ContentChecked, ContentProblem } from './pack-content.ts';

export { renderEvidenceHtml } from './evidence-html.ts';

/**
 * The pack format. /2 (packs derived from and checked against audit entries) replaced /1, whose votes
 * and sign-offs were the database's word: verifiers refuse /1 packs (re-export the change).
 */
export const EVIDENCE_FORMAT = 'accord-evidence/2';
export const EXPORT_ACTION = 'evidence.export';

export interface EvidenceAudit {
  /** The change id the pack is about. */
  subject: string;
  keyId: string;
  /** The server's public key (SPKI PEM) that signed the checkpoint. */
  publicKeyPem: string;
  /** Every entry of the global chain from the change's first entry up to the checkpoint, in order. */
  entries: AuditEntry[];
  /** The signed head at export: signs the hash of the last entry (the evidence.export entry). */
  checkpoint: AuditCheckpoint;
}

export interface EvidencePack {
  format: typeof EVIDENCE_FORMAT;
  change: ChangeRequest;
  annotations: unknown[];
  /** SignOffView objects (server/commands/signoff-service.ts), each derived from its change.signoff entry. */
  signoffs: unknown[];
  audit: EvidenceAudit;
}

export interface EvidenceInput {
  change: ChangeRequest;
  annotations: unknown[];
  signoffs: unknown[];
  auditEntries: AuditEntry[];
  checkpoint: AuditCheckpoint;
  publicKeyPem: string;
  keyId: string;
}

/** SHA-256 hex over the canonical JSON of the pack's content (everything but `audit`). */
export function evidenceDigest(pack: { format: string; change: unknown; annotations: unknown; signoffs: unknown }): string {
  return sha256Hex(canonicalJson({ format: pack.format, change: pack.change, annotations: pack.annotations, signoffs: pack.signoffs }));
}

/** The `evidence.export` entry that binds a pack: the last one about the change in the segment. */
export function bindingEntry(entries: readonly AuditEntry[], changeId: string): AuditEntry | undefined {
  return entries.findLast((e) => e.action === EXPORT_ACTION && e.subject === changeId && e.outcome === 'ok');
}

/** Each revision's content hash and item hashes, recomputed (node:crypto). */
export function revisionHashes(change: Pick<ChangeRequest, 'revisions'>): ComputedHashes[] {
  return change.revisions.map((r) => {
    try {
      return { contentHash: hashContent(r.content), itemHashes: hashItems(r.content.items) };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  });
}

/**
 * Checks a change and its sign-offs against its audit entries: those before `upTo` (the binding
 * export entry's seq) in a pack, all of them before an export.
 */
export function checkAgainstEntries(
  change: ChangeRequest, signoffs: readonly unknown[], entries: readonly AuditEntry[], keyId: string, upTo = Number.POSITIVE_INFINITY, stored = false,
): ContentChecked | ContentProblem {
  return checkContent({ change, signoffs, entries: entries.filter((e) => e.seq < upTo), computed: revisionHashes(change), keyId, stored });
}

/**
 * Assembles a pack. Pure; throws when the inputs would not verify (segment not contiguous, not ending
 * at the checkpoint, content other than the change's entries record, or no evidence.export entry
 * recording this content's digest; the sign-offs' signatures are the verifier's to check): use
 * exportEvidence to produce matching inputs.
 */
export function buildEvidencePack(input: EvidenceInput): EvidencePack {
  const { change, checkpoint, auditEntries: entries } = input;
  const pack: EvidencePack = {
    format: EVIDENCE_FORMAT,
    // A JSON round trip: the pack holds exactly what its JSON file will hold.
    change: JSON.parse(JSON.stringify(change)) as ChangeRequest,
    annotations: JSON.parse(JSON.stringify(input.annotations)) as unknown[],
    signoffs: JSON.parse(JSON.stringify(input.signoffs)) as unknown[],
    audit: { subject: change.id, keyId: input.keyId, publicKeyPem: input.publicKeyPem, entries: [...entries], checkpoint: { ...checkpoint } },
  };
  const first = entries[0];
  const last = entries.at(-1);
  if (!first || !last) throw new Error('evidence: no audit entries');
  if (first.subject !== change.id) throw new Error(`evidence: the audit segment must start at the change's first entry`);
  entries.forEach((e, i) => {
    if (e.seq !== first.seq + i) throw new Error(`evidence: audit entries are not contiguous at entry ${e.seq}`);
  });
  if (last.seq !== checkpoint.seq || last.hash !== checkpoint.hash) throw new Error('evidence: the audit segment must end at its checkpoint');
  if (checkpoint.keyId !== input.keyId) throw new Error('evidence: the checkpoint was signed by another key');
  const binding = bindingEntry(entries, change.id);
  const checked = checkAgainstEntries(pack.change, pack.signoffs, entries, input.keyId, binding?.seq);
  if (!checked.ok) throw new Error(`evidence: ${checked.reason}`);
  const digest = evidenceDigest(pack);
  if (!binding || (binding.detail as { digest?: unknown } | null)?.digest !== digest) {
    throw new Error(`evidence: no ${EXPORT_ACTION} entry records this content's digest ${digest}`);
  }
  return pack;
}

/**
 * exportEvidence refused: the stored change or its sign-offs disagree with the change's audit entries
 * (the database was changed outside the commands, or the entries predate this format). Nothing was
 * appended. The message says what disagrees, e.g. `evidence: refusing to export chg-1: the stored
 * change has a vote by mallory (approve on revision 2) that no audit entry records`.
 */
export class EvidenceRefused extends Error {
  override name = 'EvidenceRefused';
}

export interface ExportKey {
  publicKeyPem: string;
  keyId: string;
}

/**
 * Exports a change's evidence, in one unit of work (the caller's, when one is open) holding the audit
 * chain's write lock: checks the stored change and sign-offs against the change's audit entries and
 * refuses (throws EvidenceRefused, appending nothing) when they disagree; otherwise records the export
 * (one `evidence.export` entry holding the content digest) and builds the pack from the change's first
 * entry to the signed head, which is that entry. `signoffs` is SignOffService.list(change). Load the
 * change and its sign-offs in the same unit of work (call this inside `db.transaction`): a command that
 * commits between that read and this check is otherwise refused here as a disagreement.
 */
export async function exportEvidence(
  log: AuditLog,
  key: ExportKey,
  input: { change: ChangeRequest; annotations: unknown[]; signoffs: unknown[]; actor: string },
): Promise<EvidencePack> {
  const content = {
    format: EVIDENCE_FORMAT, change: JSON.parse(JSON.stringify(input.change)) as ChangeRequest,
    annotations: JSON.parse(JSON.stringify(input.annotations)) as unknown, signoffs: JSON.parse(JSON.stringify(input.signoffs)) as unknown[],
  };
  const id = content.change.id;
  // Under the chain's lock from the first read: no entry about the change can land between the check
  // and the export entry (on PostgreSQL another node could otherwise append one).
  return log.transaction(async () => {
    const checked = checkAgainstEntries(content.change, content.signoffs, await log.entriesFor(id), key.keyId, undefined, true);
    if (!checked.ok) throw new EvidenceRefused(`evidence: refusing to export ${id}: ${checked.reason}`);
    await log.append({ actor: input.actor, action: EXPORT_ACTION, subject: id, outcome: 'ok', detail: { format: EVIDENCE_FORMAT, digest: evidenceDigest(content) } });
    const checkpoint = await log.checkpoint();
    const firstSeq = await log.firstSeqFor(id);
    if (!checkpoint || firstSeq === undefined) throw new Error('evidence: the audit log is empty');
    return buildEvidencePack({
      change: content.change, annotations: input.annotations, signoffs: content.signoffs,
      auditEntries: await log.range(firstSeq, checkpoint.seq), checkpoint, publicKeyPem: key.publicKeyPem, keyId: key.keyId,
    });
  });
}

/** The pack as a JSON file's text. */
export function evidenceJson(pack: EvidencePack): string {
  return `${JSON.stringify(pack, null, 2)}\n`;
}
