/**
 * What an evidence pack's content must agree with: the change's own audit entries (format
 * accord-evidence/2, docs/audit.md "derived from the audit entries"). The change's revisions (number,
 * hash, item hashes, submitter), votes, recusals, status and requester, and the pack's sign-offs, must be
 * exactly what the `ok` entries about the change record, in their order. exportEvidence refuses a
 * stored change that disagrees; verifyEvidencePack fails a pack that does.
 *
 * Pure, with no Node imports: the browser's verifier (web/lib/evidence-verify.ts) runs these same rules.
 * Hashing differs between the two (node:crypto, WebCrypto), so callers pass the hashes they computed
 * from each revision's content; signatures are checked by the callers too (checkSignOffs returns the
 * sign-offs to check, with what their entries recorded).
 */
import { canonicalJson } from '../domain/canonical-json.ts';
import type { AuditEntry } from './entry.ts';

/** The actions whose `ok` entries the content is derived from (the audit entry contract). */
export const CHANGE_ACTIONS = {
  create: 'change.create', submit: 'change.submit', vote: 'change.vote', recuse: 'change.recuse', signoff: 'change.signoff',
} as const;

export interface ContentProblem {
  ok: false;
  /** Always null: the pack (or stored change) is wrong, not an entry; the reason names the entries. */
  seq: null;
  reason: string;
}

/** A revision's hashes recomputed from its content by the caller, or why that failed. */
export type ComputedHashes = { contentHash: string; itemHashes: Record<string, string> } | { error: string };

/** A sign-off matched to its entry: what the caller's crypto must verify. */
export interface RecordedSignOff {
  /** Who signed off (the entry's actor) and what. */
  approver: string;
  revision: number;
  entry: AuditEntry;
  receipt: Record<string, unknown>;
  /** The stored assertion: canonical JSON text, as the receipt's assertionHash hashes it. */
  assertion: string;
  rpID: string;
  origins: string[];
}

export interface ContentChecked {
  ok: true;
  revisions: number;
  votes: number;
  recusals: number;
  signoffs: RecordedSignOff[];
}

/** The parts of a change the check reads (a ChangeRequest fits). */
export interface ChangeView {
  id: string;
  status: string;
  requestedBy: string;
  revisions: readonly { number: number; hash: string; itemHashes: Record<string, string>; submittedBy: string }[];
  votes: readonly unknown[];
  recusals: readonly unknown[];
}

export interface ContentInput {
  change: ChangeView;
  signoffs: readonly unknown[];
  /** Entries to derive from (any subjects: only `ok` entries about the change count), in order. */
  entries: readonly AuditEntry[];
  /** computed[i]: the hashes of change.revisions[i]'s content. */
  computed: readonly ComputedHashes[];
  /** The key id that must have signed every receipt (the pack's, or the server's). */
  keyId: string;
  /** Wording: true when checking the database's change before export ("the stored change"). */
  stored?: boolean;
}

type Detail = Record<string, unknown>;

const problem = (reason: string): ContentProblem => ({ ok: false, seq: null, reason });
const detailOf = (e: AuditEntry): Detail => (typeof e.detail === 'object' && e.detail !== null && !Array.isArray(e.detail) ? e.detail as Detail : {});
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const short = (hash: unknown): string => `${String(hash).slice(0, 12)}…`;

function same(a: unknown, b: unknown): boolean {
  try {
    return canonicalJson(a) === canonicalJson(b);
  } catch {
    return false;
  }
}

function key(value: unknown): string {
  try {
    return canonicalJson(value);
  } catch {
    return `\u0000${String(value)}`; // not JSON: equal to nothing recorded
  }
}

/**
 * A list the pack holds (votes, recusals) against the values its entries record, in order: each value
 * recorded by no entry, each recorded value missing, then the first out of order.
 */
function compareLists(kind: string, held: readonly unknown[], recorded: readonly { seq: number; value: unknown }[], owner: string, describe: (v: unknown) => string): ContentProblem | null {
  const remaining = new Map<string, number>();
  for (const r of recorded) remaining.set(key(r.value), (remaining.get(key(r.value)) ?? 0) + 1);
  for (const v of held) {
    const k = key(v);
    const n = remaining.get(k) ?? 0;
    if (n === 0) return problem(`${owner} has a ${kind} ${describe(v)} that no audit entry records`);
    remaining.set(k, n - 1);
  }
  for (const r of recorded) {
    const k = key(r.value);
    const n = remaining.get(k) ?? 0;
    if (n > 0) return problem(`the ${kind} ${describe(r.value)} recorded in entry ${r.seq} is missing from ${owner}`);
  }
  for (const [i, v] of held.entries()) {
    if (key(v) !== key(recorded[i]!.value)) {
      const at = recorded.find((r) => key(r.value) === key(v))!;
      return problem(`${owner}'s ${kind}s are not in the order of their audit entries (the ${kind} ${describe(v)} is recorded in entry ${at.seq})`);
    }
  }
  return null;
}

function describeVote(v: unknown): string {
  const vote = isObject(v) ? v : {};
  return `by ${String(vote.voter)} (${String(vote.choice)} on revision ${String(vote.revision)})`;
}

function describeRecusal(v: unknown): string {
  return `by ${String(isObject(v) ? v.reviewer : v)}`;
}

/**
 * The values an action's ok entries record under `field`, or the first entry that records none. An entry
 * for the same vote cast again (`repeated`: a double click, a retry) records the fact but adds no vote.
 */
function recordedValues(about: readonly AuditEntry[], action: string, field: string): { seq: number; value: unknown; entry: AuditEntry }[] | ContentProblem {
  const out: { seq: number; value: unknown; entry: AuditEntry }[] = [];
  for (const e of about) {
    if (e.action !== action) continue;
    const d = detailOf(e);
    if (d[field] === undefined && isObject(d.repeated)) continue;
    const value = d[field];
    if (!isObject(value)) return problem(`the ${action} entry ${e.seq} records no ${field} (written by an Accord version before packs were derived from entries)`);
    out.push({ seq: e.seq, value, entry: e });
  }
  return out;
}

/** The sign-off a pack holds for a change.signoff entry: SignOffView (server/commands/signoff-service.ts), derived. */
export function signOffFromEntry(entry: AuditEntry, latestRevisionHash: string | undefined): Record<string, unknown> | null {
  const d = detailOf(entry);
  const receipt = d.receipt;
  if (!isObject(receipt) || typeof d.assertion !== 'string' || typeof d.revision !== 'number' || typeof d.revisionHash !== 'string' ||
    typeof d.credentialId !== 'string' || typeof d.rpID !== 'string' || !Array.isArray(d.origins) || !d.origins.every((o) => typeof o === 'string')) return null;
  let assertion: unknown;
  try {
    assertion = JSON.parse(d.assertion);
  } catch {
    return null;
  }
  return {
    approver: entry.actor, revision: d.revision, revisionHash: d.revisionHash, credentialId: d.credentialId,
    at: receipt.signedAt, valid: d.revisionHash === latestRevisionHash, receipt, assertion,
  };
}

/** Checks a pack's (or a stored change's) content against the change's audit entries. */
export function checkContent(input: ContentInput): ContentChecked | ContentProblem {
  const { change, stored = false } = input;
  const owner = stored ? 'the stored change' : 'the change';
  const about = input.entries.filter((e) => e.subject === change.id && e.outcome === 'ok');

  const created = about.find((e) => e.action === CHANGE_ACTIONS.create);
  if (!created) return problem(`no change.create entry for ${change.id}: the audit entries do not reach back to the change's creation`);
  if (created.actor !== change.requestedBy) {
    return problem(`${owner} names ${change.requestedBy} as its requester, but entry ${created.seq} records ${created.actor} creating it`);
  }

  // Revisions: one change.submit entry each, in order, with the hash of the revision's content.
  const submits = about.filter((e) => e.action === CHANGE_ACTIONS.submit);
  for (let i = 0; i < Math.max(submits.length, change.revisions.length); i++) {
    const rev = change.revisions[i];
    const s = submits[i];
    if (!s) return problem(`revision ${rev!.number} of ${owner} was submitted by no change.submit audit entry`);
    const d = detailOf(s);
    if (!rev) return problem(`the revision ${String(d.revision)} submitted in entry ${s.seq} is missing from ${owner}`);
    const n = rev.number;
    if (n !== d.revision) return problem(`${owner}'s revision ${i + 1} is numbered ${n}, but entry ${s.seq} submitted revision ${String(d.revision)}`);
    if (rev.hash !== d.hash) return problem(`revision ${n}'s hash ${short(rev.hash)} is not the one submitted in entry ${s.seq} (${short(d.hash)})`);
    const computed = input.computed[i];
    if (!computed || 'error' in computed) return problem(`revision ${n}'s content cannot be hashed: ${computed?.error ?? 'missing'}`);
    if (computed.contentHash !== rev.hash) return problem(`revision ${n}'s hash is not the hash of its content (content edited?)`);
    if (!same(computed.itemHashes, rev.itemHashes)) return problem(`revision ${n}'s item hashes are not the hashes of its items`);
    if (d.itemHashes !== undefined && !same(d.itemHashes, rev.itemHashes)) return problem(`revision ${n}'s item hashes are not the ones submitted in entry ${s.seq}`);
    if (rev.submittedBy !== s.actor) return problem(`revision ${n} names ${rev.submittedBy} as its submitter, but entry ${s.seq} records ${s.actor}`);
  }
  const byNumber = new Map(change.revisions.map((r) => [r.number, r]));

  // Votes and recusals: exactly the objects their entries record, in order.
  const votes = recordedValues(about, CHANGE_ACTIONS.vote, 'vote');
  if (!Array.isArray(votes)) return votes;
  for (const v of votes) {
    if ((v.value as Detail).voter !== v.entry.actor) return problem(`entry ${v.seq} records a vote by ${String((v.value as Detail).voter)}, but ${v.entry.actor} cast it`);
  }
  const voteProblem = compareLists('vote', change.votes, votes, owner, describeVote);
  if (voteProblem) return voteProblem;
  for (const v of change.votes as Detail[]) {
    const rev = byNumber.get(v.revision as number);
    if (!rev || rev.hash !== v.revisionHash) return problem(`the vote ${describeVote(v)} names revision ${String(v.revision)}, whose hash is not ${short(v.revisionHash)}`);
    if (v.itemId !== undefined && rev.itemHashes[String(v.itemId)] !== v.itemHash) {
      return problem(`the vote ${describeVote(v)} on item ${String(v.itemId)} names an item hash that is not the item's in revision ${rev.number}`);
    }
  }
  const recusals = recordedValues(about, CHANGE_ACTIONS.recuse, 'recusal');
  if (!Array.isArray(recusals)) return recusals;
  const recusalProblem = compareLists('recusal', change.recusals, recusals, owner, describeRecusal);
  if (recusalProblem) return recusalProblem;

  // Status: what the last entry that records one says.
  const withStatus = about.findLast((e) => typeof detailOf(e).status === 'string');
  if (!withStatus) return problem(`no audit entry about ${change.id} records its status`);
  const status = detailOf(withStatus).status as string;
  if (change.status !== status) return problem(`the change's status is ${change.status}, but its audit entries record ${status} (entry ${withStatus.seq})`);

  const signoffs = checkSignOffs(input, about);
  if (!Array.isArray(signoffs)) return signoffs;
  return { ok: true, revisions: change.revisions.length, votes: change.votes.length, recusals: change.recusals.length, signoffs };
}

/**
 * Sign-offs: each one the pack holds is exactly what its change.signoff entry derives to
 * (signOffFromEntry), one for one and in order; each receipt names this change, the sign-off's
 * revision, hash, approver and credential, and the signing key.
 */
function checkSignOffs(input: ContentInput, about: readonly AuditEntry[]): RecordedSignOff[] | ContentProblem {
  const { change, stored = false } = input;
  const noun = stored ? 'the stored sign-off' : 'the sign-off';
  const latest = change.revisions.at(-1)?.hash;
  const recorded: { entry: AuditEntry; derived: Record<string, unknown> }[] = [];
  for (const e of about) {
    if (e.action !== CHANGE_ACTIONS.signoff) continue;
    const derived = signOffFromEntry(e, latest);
    if (!derived) return problem(`the change.signoff entry ${e.seq} does not record a complete sign-off (receipt, assertion, rpID, origins)`);
    recorded.push({ entry: e, derived });
  }
  const used = new Set<number>();
  const out: RecordedSignOff[] = [];
  for (const [i, held] of input.signoffs.entries()) {
    if (!isObject(held) || typeof held.approver !== 'string' || typeof held.revision !== 'number') return problem(`sign-off ${i + 1} is malformed`);
    const what = `${noun} by ${held.approver} (revision ${held.revision})`;
    const match = recorded.findIndex((r, j) => !used.has(j) && r.derived.approver === held.approver && r.derived.revision === held.revision &&
      r.derived.revisionHash === held.revisionHash && r.derived.credentialId === held.credentialId);
    if (match < 0) return problem(`${what} is recorded by no change.signoff audit entry`);
    used.add(match);
    const { entry, derived } = recorded[match]!;
    const differs = [...new Set([...Object.keys(derived), ...Object.keys(held)])].filter((k) => !same(derived[k], held[k]));
    if (differs.length > 0) return problem(`${what} differs from its change.signoff entry ${entry.seq}: ${differs.join(', ')}`);
    const receipt = derived.receipt as Record<string, unknown>;
    const at = `${what} in entry ${entry.seq}`;
    if (receipt.changeId !== change.id) return problem(`${at}: its receipt is for change ${String(receipt.changeId)}`);
    if (receipt.revision !== held.revision) return problem(`${at}: its receipt is for revision ${String(receipt.revision)}`);
    if (receipt.revisionHash !== held.revisionHash) return problem(`${at}: its receipt is for revision hash ${short(receipt.revisionHash)}`);
    if (receipt.approver !== held.approver) return problem(`${at}: its receipt names approver ${String(receipt.approver)}`);
    if (receipt.credentialId !== held.credentialId) return problem(`${at}: its receipt names another passkey`);
    if (receipt.keyId !== input.keyId) return problem(`${at}: its receipt is signed by key ${String(receipt.keyId)}, not by ${input.keyId}`);
    const rev = change.revisions.find((r) => r.number === held.revision);
    if (!rev || rev.hash !== held.revisionHash) return problem(`${at}: it names revision ${held.revision}, whose hash is not ${short(held.revisionHash)}`);
    const d = detailOf(entry);
    out.push({ approver: held.approver, revision: held.revision, entry, receipt, assertion: d.assertion as string, rpID: d.rpID as string, origins: d.origins as string[] });
  }
  const missing = recorded.find((_, j) => !used.has(j));
  if (missing) {
    return problem(`the sign-off by ${missing.entry.actor} (revision ${String(missing.derived.revision)}) recorded in entry ${missing.entry.seq} is missing from ${stored ? 'the stored sign-offs' : 'the pack'}`);
  }
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.entry.seq < out[i - 1]!.entry.seq) return problem('the sign-offs are not in the order of their audit entries');
  }
  return out;
}
