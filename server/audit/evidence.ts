/**
 * The evidence pack (docs/audit.md): one change's revisions, native forms, blast radius, votes,
 * annotations and sign-offs, plus the stretch of the audit chain that covers them, ending at a signed
 * checkpoint. It verifies offline with nothing but itself (verify.ts), and a public key to pin.
 *
 * Binding: the content (format, change, annotations, signoffs) is hashed (evidenceDigest) and that
 * digest is recorded in an `evidence.export` audit entry inside the signed segment, so editing any
 * vote, revision or sign-off in the pack breaks verification.
 */
import type { ChangeRequest } from '../domain/review/types.ts';
import { canonicalJson, sha256Hex } from './canonical.ts';
import type { AuditLog } from './audit-log.ts';
import type { AuditCheckpoint, AuditEntry } from './entry.ts';

export { renderEvidenceHtml } from './evidence-html.ts';

export const EVIDENCE_FORMAT = 'accord-evidence/1';
export const EXPORT_ACTION = 'evidence.export';

export interface EvidenceAudit {
  /** The change id the pack is about. */
  subject: string;
  keyId: string;
  /** The server's public key (SPKI PEM) that signed the checkpoint. */
  publicKeyPem: string;
  /** Every entry of the global chain from the change's first entry up to the checkpoint, in order. */
  entries: AuditEntry[];
  /** Signs the hash of the last entry. */
  checkpoint: AuditCheckpoint;
}

export interface EvidencePack {
  format: typeof EVIDENCE_FORMAT;
  change: ChangeRequest;
  annotations: unknown[];
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

/**
 * Assembles a pack. Pure; throws when the inputs would not verify (segment not contiguous, not ending
 * at the checkpoint, or no evidence.export entry recording this content's digest): use exportEvidence
 * to produce matching inputs.
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
  const digest = evidenceDigest(pack);
  if (!binding || (binding.detail as { digest?: unknown } | null)?.digest !== digest) {
    throw new Error(`evidence: no ${EXPORT_ACTION} entry records this content's digest ${digest}`);
  }
  return pack;
}

export interface ExportKey {
  publicKeyPem: string;
  keyId: string;
}

/**
 * Records the export in the audit log (an `evidence.export` entry holding the content digest), signs
 * a checkpoint, and builds the pack from the change's first entry to that checkpoint.
 */
export function exportEvidence(
  log: AuditLog,
  key: ExportKey,
  input: { change: ChangeRequest; annotations: unknown[]; signoffs: unknown[]; actor: string },
): EvidencePack {
  const content = {
    format: EVIDENCE_FORMAT, change: JSON.parse(JSON.stringify(input.change)) as unknown,
    annotations: JSON.parse(JSON.stringify(input.annotations)) as unknown, signoffs: JSON.parse(JSON.stringify(input.signoffs)) as unknown,
  };
  const digest = evidenceDigest(content);
  log.append({ actor: input.actor, action: EXPORT_ACTION, subject: input.change.id, outcome: 'ok', detail: { format: EVIDENCE_FORMAT, digest } });
  const checkpoint = log.checkpoint();
  const firstSeq = log.firstSeqFor(input.change.id);
  if (!checkpoint || firstSeq === undefined) throw new Error('evidence: the audit log is empty');
  return buildEvidencePack({
    change: input.change, annotations: input.annotations, signoffs: input.signoffs,
    auditEntries: log.range(firstSeq, checkpoint.seq), checkpoint, publicKeyPem: key.publicKeyPem, keyId: key.keyId,
  });
}

/** The pack as a JSON file's text. */
export function evidenceJson(pack: EvidencePack): string {
  return `${JSON.stringify(pack, null, 2)}\n`;
}
