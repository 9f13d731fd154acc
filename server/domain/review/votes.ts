/**
 * Which votes count for the current revision (DESIGN.md §4). Pure: a function of the change alone.
 *
 * Every vote ever cast stays in `change.votes`. A vote is bound to content:
 *   - a whole-revision vote to the revision hash: it is current while the current revision has that
 *     hash (so it is current again if an amendment is reverted to identical content: the voter saw
 *     exactly this);
 *   - an item vote to the item hash: it is current while the current revision has that item with
 *     that hash, whatever revision it was cast on (votes on unchanged items carry over).
 * Among a voter's current votes on one target (one item, or the whole revision) the latest counts;
 * the earlier current ones are `superseded`; votes bound to other content are `stale`.
 *
 * Why "latest current vote" rather than "latest vote, if current": a later vote about *other*
 * content (a stale client, or a version since reverted) says nothing about this content, and
 * letting it hide the voter's word on this content would make removing an approval able to turn a
 * pending decision into an approved one (the monotonicity property tested in policy.test.ts).
 * Who is allowed to count (requester, recusals, classes) is the policy's business, not this file's.
 */
import type { Revision, Vote, VoteChoice, ChangeRequest } from './types.ts';

export interface ClassifiedVotes {
  /** Per (voter, target), the latest vote bound to the current content; in cast order. */
  counted: Vote[];
  /** Votes bound to content that is no longer current (kept, never counted). */
  stale: Vote[];
  /** Current votes replaced by a later current vote of the same voter on the same target. */
  superseded: Vote[];
}

export function currentRevision(change: Pick<ChangeRequest, 'revisions'>): Revision | undefined {
  // Revisions are numbered 1, 2, 3...; take the highest rather than trusting array order.
  let latest: Revision | undefined;
  for (const r of change.revisions) if (!latest || r.number > latest.number) latest = r;
  return latest;
}

/** The key of a vote's target; JSON so that no voter or item id can collide with another pair. */
function voteKey(v: Vote): string {
  return JSON.stringify([v.voter, v.itemId ?? null]);
}

/**
 * A whole-revision vote is current while the current revision has its hash. An item vote is current
 * while the current revision has that item with that hash AND the same envelope (everything that is not
 * an item: duration, justification, environment, policy...): a vote without an envelope binding (cast
 * before envelopes existed) carries over to no other revision.
 */
export function isVoteCurrent(vote: Vote, current: Revision | undefined): boolean {
  if (!current) return false;
  if (vote.itemId === undefined) return vote.revisionHash === current.hash;
  if (vote.itemHash === undefined) return false;
  const itemHashes = current.itemHashes;
  if (!Object.hasOwn(itemHashes, vote.itemId) || itemHashes[vote.itemId] !== vote.itemHash) return false;
  if (vote.revisionHash === current.hash) return true;
  return vote.envelopeHash !== undefined && vote.envelopeHash === current.envelopeHash;
}

export function classifyVotes(change: Pick<ChangeRequest, 'revisions' | 'votes'>): ClassifiedVotes {
  const current = currentRevision(change);
  const isCurrent = change.votes.map((v) => isVoteCurrent(v, current));
  const latestIndex = new Map<string, number>();
  change.votes.forEach((v, i) => { if (isCurrent[i]) latestIndex.set(voteKey(v), i); });
  const out: ClassifiedVotes = { counted: [], stale: [], superseded: [] };
  change.votes.forEach((v, i) => {
    if (!isCurrent[i]) out.stale.push(v);
    else if (latestIndex.get(voteKey(v)) === i) out.counted.push(v);
    else out.superseded.push(v);
  });
  return out;
}

/** Voter names per choice, each in the order they first voted. */
export type Tally = Record<VoteChoice, string[]>;

export interface VoteTally {
  whole: Tally;
  /** One entry per item of the current revision, including items nobody voted on yet. */
  items: Record<string, Tally>;
}

function emptyTally(): Tally {
  return { approve: [], reject: [], abstain: [] };
}

/** Tally of counted votes as cast; the policy decides which of them weigh (requester, recusals...). */
export function tallyVotes(counted: readonly Vote[], current: Revision | undefined): VoteTally {
  const itemIds = current ? Object.keys(current.itemHashes) : [];
  const items: Record<string, Tally> = Object.fromEntries(itemIds.map((id) => [id, emptyTally()]));
  const whole = emptyTally();
  for (const v of counted) {
    const tally = v.itemId === undefined ? whole : Object.hasOwn(items, v.itemId) ? items[v.itemId] : undefined;
    if (tally && !tally[v.choice].includes(v.voter)) tally[v.choice].push(v.voter);
  }
  return { whole, items };
}

/** Classify and tally in one call: what a client shows next to each item and the revision. */
export function tallyChange(change: Pick<ChangeRequest, 'revisions' | 'votes'>): VoteTally {
  return tallyVotes(classifyVotes(change).counted, currentRevision(change));
}
