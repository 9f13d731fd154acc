/**
 * Offline verification of an exported evidence pack (JSON, or the HTML page that embeds it), with nothing
 * but the pack and optionally a pinned public key (docs/audit.md).
 */
import { z } from 'zod';
import { broken, checkCheckpoint, verifyEntries } from './chain.ts';
import type { Broken, RawEntry } from './chain.ts';
import { EVIDENCE_FORMAT, bindingEntry, evidenceDigest } from './evidence.ts';
import type { EvidencePack } from './evidence.ts';
import { renderEvidenceHtml } from './evidence-html.ts';
import { publicKeyFrom, type VerifyResult } from './verify.ts';

const entrySchema = z.looseObject({ seq: z.number() });
const packSchema = z.object({
  format: z.literal(EVIDENCE_FORMAT),
  change: z.looseObject({
    id: z.string(),
    revisions: z.array(z.looseObject({ number: z.number(), hash: z.string() })),
    votes: z.array(z.looseObject({ voter: z.string(), revision: z.number(), revisionHash: z.string() })),
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

/** Verifies an exported pack offline, with only the pack (and optionally a pinned public key). */
export function verifyEvidencePack(pack: unknown, options: PackVerifyOptions = {}): VerifyResult {
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
  for (const vote of change.votes) {
    const revision = change.revisions.find((r) => r.number === vote.revision);
    if (!revision || revision.hash !== vote.revisionHash) {
      return broken(binding.seq, `vote by ${vote.voter} names revision ${vote.revision}, whose hash is not ${vote.revisionHash}`);
    }
  }
  return { ok: true, entries: checked.length, checkpoints: 1, lastSeq: last.seq, lastCheckpointSeq: cp.seq, keyId: pub.keyId };
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
export function verifyEvidenceHtml(html: string, options: PackVerifyOptions = {}): VerifyResult {
  const extracted = extractEvidenceJson(html);
  if (!extracted.ok) return extracted;
  const result = verifyEvidencePack(extracted.pack, options);
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
