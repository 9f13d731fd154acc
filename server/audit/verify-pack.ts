/**
 * Offline verification of an exported evidence pack (JSON, or the HTML page that embeds it), with nothing
 * but the pack and optionally a pinned public key (docs/audit.md).
 */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { verifySignOffEvidence } from '../auth/webauthn/evidence.ts';
import type { SignOffReceipt } from '../auth/webauthn/receipt.ts';
import { broken, checkCheckpoint, verifyEntries } from './chain.ts';
import type { Broken, RawEntry } from './chain.ts';
import { EVIDENCE_FORMAT, bindingEntry, checkAgainstEntries, evidenceDigest } from './evidence.ts';
import type { EvidencePack } from './evidence.ts';
import { renderEvidenceHtml } from './evidence-html.ts';
import type { RecordedSignOff } from './pack-content.ts';
import { publicKeyFrom } from './verify.ts';

const entrySchema = z.looseObject({ seq: z.number() });
const packSchema = z.object({
  format: z.literal(EVIDENCE_FORMAT),
  change: z.looseObject({
    id: z.string(),
    status: z.string(),
    requestedBy: z.string(),
    revisions: z.array(z.looseObject({
      number: z.number(), hash: z.string(), itemHashes: z.record(z.string(), z.string()), submittedBy: z.string(),
      content: z.looseObject({ items: z.array(z.looseObject({ id: z.string() })) }),
    })),
    votes: z.array(z.looseObject({ voter: z.string(), revision: z.number(), revisionHash: z.string() })),
    recusals: z.array(z.looseObject({ reviewer: z.string() })),
  }),
  annotations: z.array(z.unknown()),
  signoffs: z.array(z.unknown()),
  audit: z.object({
    subject: z.string(),
    keyId: z.string(),
    publicKeyPem: z.string(),
    entries: z.array(entrySchema).min(1),
    checkpoint: z.looseObject({ seq: z.number() }),
  }),
});

export interface PackVerifyOptions {
  /** Pin the signer: the pack's key must be this one (SPKI PEM), not just any key the pack carries. */
  publicKeyPem?: string;
}

export interface PackVerified {
  ok: true;
  /** Entries in the pack's audit segment, and the last one's seq (the export entry, signed by the head). */
  entries: number;
  lastSeq: number;
  checkpointSeq: number;
  keyId: string;
  /** What was checked against the change's audit entries. */
  revisions: number;
  votes: number;
  recusals: number;
  /** Sign-offs whose receipt and passkey assertion verified. */
  signoffs: number;
}

export type PackVerifyResult = PackVerified | Broken;

const V1 = 'accord-evidence/1';

/**
 * Verifies an exported pack offline, with only the pack (and optionally a pinned public key): its audit
 * segment and signed head, the content digest its export entry recorded, that its content is what the
 * change's audit entries record, and every sign-off's receipt and WebAuthn assertion.
 */
export async function verifyEvidencePack(pack: unknown, options: PackVerifyOptions = {}): Promise<PackVerifyResult> {
  if ((pack as { format?: unknown } | null)?.format === V1) {
    return broken(null, `this is an ${V1} pack: its votes and sign-offs are not bound to audit entries, so it cannot be verified; export the change again (${EVIDENCE_FORMAT})`);
  }
  const parsed = packSchema.safeParse(pack);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return broken(null, `not an ${EVIDENCE_FORMAT} pack (${issue ? `${issue.path.join('.') || 'root'}: ${issue.message}` : 'invalid'})`);
  }
  const p = parsed.data;
  const pub = publicKeyFrom(p.audit.publicKeyPem);
  if ('ok' in pub) return pub;
  if (pub.keyId !== p.audit.keyId) return broken(null, `the pack's key id ${p.audit.keyId} is not the id of its public key (${pub.keyId})`);
  if (options.publicKeyPem !== undefined) {
    const pinned = publicKeyFrom(options.publicKeyPem);
    if ('ok' in pinned) return pinned;
    if (pinned.keyId !== pub.keyId) return broken(null, `the pack is signed by key ${pub.keyId}, not by the pinned key ${pinned.keyId}`);
  }
  const raws = p.audit.entries as unknown as RawEntry[];
  const firstSeq = p.audit.entries[0]!.seq;
  const { entries: checked, failure } = verifyEntries(raws, false, firstSeq);
  if (failure) return failure;
  const last = checked.at(-1)!;
  const bySeq = new Map([[last.seq, last]]);
  const cp = checkCheckpoint(p.audit.checkpoint, { publicKey: pub.key, keyId: pub.keyId, bySeq, lastSeq: last.seq });
  if ('ok' in cp) {
    return cp.seq !== null && cp.seq < last.seq ? broken(cp.seq, 'the pack\'s checkpoint does not sign the end of its audit segment') : cp;
  }
  const change = p.change;
  if (p.audit.subject !== change.id) return broken(null, `the audit segment is about ${p.audit.subject}, the change is ${change.id}`);
  if (checked[0]!.subject !== change.id) return broken(checked[0]!.seq, `the audit segment does not start with an entry about ${change.id}`);
  const binding = bindingEntry(checked, change.id);
  if (!binding) return broken(null, `no evidence.export entry in the signed segment binds the pack's content`);
  if ((binding.detail as { digest?: unknown } | null)?.digest !== evidenceDigest(p)) {
    return broken(binding.seq, 'the pack\'s content (change, votes, annotations, sign-offs) differs from what this export recorded');
  }
  // The content is what the server bound; now check it is what the change's entries record.
  const pk = p as unknown as EvidencePack;
  const content = checkAgainstEntries(pk.change, pk.signoffs, checked, pub.keyId, binding.seq);
  if (!content.ok) return content;
  for (const s of content.signoffs) {
    const problems = await signOffProblems(s, pub.key);
    if (problems.length > 0) return broken(null, `the sign-off by ${s.approver} (revision ${s.revision}) in entry ${s.entry.seq} does not verify: ${problems.join('; ')}`);
  }
  return {
    ok: true, entries: checked.length, lastSeq: last.seq, checkpointSeq: cp.seq, keyId: pub.keyId,
    revisions: content.revisions, votes: content.votes, recusals: content.recusals, signoffs: content.signoffs.length,
  };
}

/**
 * The server's receipt signature (the same Ed25519 key that signs the head), and the approver's passkey
 * assertion against the RP ID and origins the sign-off entry recorded (docs/signoff.md).
 */
function signOffProblems(s: RecordedSignOff, serverPublicKey: KeyObject): Promise<string[]> {
  return verifySignOffEvidence({ receipt: s.receipt as unknown as SignOffReceipt, assertion: s.assertion, serverPublicKey, origin: s.origins, rpID: s.rpID });
}

const EMBED = /<script type="application\/json" id="evidence">([^<]*)<\/script>/;

/** The pack embedded in an evidence HTML page, or a failure. */
export function extractEvidenceJson(html: string): { ok: true; pack: unknown } | Broken {
  const match = EMBED.exec(html);
  if (!match) return broken(null, 'no embedded evidence pack (<script type="application/json" id="evidence">)');
  try {
    return { ok: true, pack: JSON.parse(match[1]!) as unknown };
  } catch {
    return broken(null, 'the embedded evidence pack is not valid JSON');
  }
}

/**
 * Verifies an evidence HTML page: its embedded pack, and that the readable page is exactly what
 * renderEvidenceHtml makes of that pack (so an edit to the visible tables fails too).
 */
export async function verifyEvidenceHtml(html: string, options: PackVerifyOptions = {}): Promise<PackVerifyResult> {
  const extracted = extractEvidenceJson(html);
  if (!extracted.ok) return extracted;
  const result = await verifyEvidencePack(extracted.pack, options);
  if (!result.ok) return result;
  const expected = renderEvidenceHtml(extracted.pack as EvidencePack);
  if (expected !== html) {
    const lineNo = firstDifferentLine(expected, html);
    return broken(null, `the page differs from the rendering of its verified pack at line ${lineNo} (edited by hand?)`);
  }
  return result;
}

function firstDifferentLine(a: string, b: string): number {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) if (la[i] !== lb[i]) return i + 1;
  return 0;
}
