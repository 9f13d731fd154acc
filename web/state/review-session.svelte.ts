import * as Y from 'yjs';
import type { SocketProvider, ProviderStatus } from '../lib/socket-provider.ts';
import {
  REVISION_CHANGED, isRefusal, revisionAuthors,
  type Annotation, type AnnotationAnchor, type ApplyView, type Evaluation, type Recusal, type ReviewView, type Revision, type Vote, type VoteChoice,
} from '../lib/types.ts';
import type { User } from '../lib/api.ts';
import { compareRevisions, type ContentChanges } from '../lib/diff.ts';
import type { LiveConnection } from './live-connection.svelte.ts';
import { commandChangeId, type CommandOutcome, type QueuedCommand, type RefusedCommand } from './command-queue.svelte.ts';
import { liveDocSubscribers } from './live-doc.svelte.ts';
import { TypingSignal, isTyping } from '../lib/typing.ts';
import { ACTIONS, decide, type ActionName, type ChangeFacts, type Decision } from '../../server/auth/permissions.ts';
import { isRole, isScope, type Principal } from '../../server/auth/roles.ts';

export type VoteWithStale = Vote & { stale: boolean };
export type Tally = NonNullable<ReviewView['tally']>;
/** Voter names per choice, for the whole revision or one item. */
export type ChoiceTally = Tally['whole'];
export type SignOff = ReviewView['signoffs'][number];

/** What the page shows as its connection state; text, never colour alone. */
export type ConnectionState = 'connected' | 'syncing' | 'offline' | 'read-only';

export interface Participant {
  clientId: number;
  name: string;
  role: string;
  /** The item id this person is looking at, if any. */
  looking: string | null;
  /** Writing an annotation right now (presence, cleared after a pause). */
  typing: boolean;
  isMe: boolean;
}

export interface Thread {
  root: Annotation;
  replies: Annotation[];
}

/** A vote or recusal of mine the server refused because the revision it named was no longer current. */
export interface OutdatedDecision {
  /** The refused command's key (dismiss it with `dismissRefusal`). */
  key: string;
  kind: 'vote' | 'item-vote' | 'recusal';
  /** What I did, in words ("Approve revision 1"). */
  label: string;
  /** The server's explanation. */
  message: string;
  choice?: VoteChoice;
  itemId?: string;
  reason?: string;
  /** For an item vote: false when the current revision no longer has that item (nothing to vote on again). */
  stillThere: boolean;
}

/** My refused decisions that named one revision, and what changed from it to the current one. */
export interface OutdatedGroup {
  /** The hash the decisions named: the revision I was looking at when I clicked. */
  seenHash: string;
  /** That revision, when this page knows it (the review document keeps every revision). */
  seen: Revision | undefined;
  current: Revision;
  /** What changed from `seen` to `current`; null when `seen` is unknown here. */
  changes: ContentChanges | null;
  decisions: OutdatedDecision[];
}

/**
 * Who is looking at the review. A web session is always of `full` scope; a user signed in with a
 * narrower credential carries its `scope`, and the rule book narrows the answers by it.
 */
export type ReviewUser = User & { scope?: string };

/** The rule book's answer to one "may I" question, and its reason in words when the answer is no. */
export interface Permission {
  allowed: boolean;
  /** A sentence for people ("Voting needs the reviewer role."); null when allowed. */
  why: string | null;
}

/** What a refusal "the change is <status>" closes, for the sentence shown instead of the button. */
const CLOSED: Partial<Record<ActionName, string>> = {
  'change.recuse': 'Recusal is closed',
  'annotation.create': 'Annotations are closed',
  'annotation.resolve': 'Threads are closed',
  'draft.write': 'Amending is closed',
  'change.submit': 'Submitting is closed',
};

/**
 * The rule book's reason as a sentence: capitalised, statuses in words ("in review", not `in_review`),
 * and a bare "the change is withdrawn" says what it closes. The reason itself is the server's.
 */
export function explainRefusal(action: ActionName, decision: Extract<Decision, { allowed: false }>): string {
  let text = decision.reason.replace(/\b(in_review|apply_failed)\b/g, (status) => status.replace('_', ' '));
  if (decision.kind === 'state' && /^the change is /.test(text)) text = `${CLOSED[action] ?? 'Closed'}: ${text}`;
  text = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}


/** A human label for an anchor: "item i1" or "line 3". */
export function anchorLabel(anchor: AnnotationAnchor): string {
  if (anchor.kind === 'item') return `item ${anchor.itemId}`;
  if (anchor.kind === 'line') return `line ${anchor.line} (rev ${anchor.revision})`;
  return `“${anchor.quote}”`;
}

/**
 * One live review: reads the server-written `review:<id>` document (never writes it), shows who is
 * here and what they look at (awareness), and sends the user's decisions as commands.
 */
export class ReviewSession {
  readonly changeId: string;
  readonly me: ReviewUser;
  readonly #live: LiveConnection;
  readonly #provider: SocketProvider;
  readonly #review: Y.Map<unknown>;
  readonly #revisions: Y.Array<Revision>;
  readonly #reads = liveDocSubscribers(() => this.#provider);
  #lookingAt: string | null = null;
  #composerAnchor = $state.raw<AnnotationAnchor | null>(null);
  #replyTo = $state<string | null>(null);
  readonly #typing: TypingSignal;

  constructor(changeId: string, me: ReviewUser, live: LiveConnection) {
    this.changeId = changeId;
    this.me = me;
    this.#live = live;
    this.#provider = live.openDoc(`review:${changeId}`);
    this.#review = this.#provider.doc.getMap('review');
    this.#revisions = this.#provider.doc.getArray('revisions');
    this.#provider.awareness.setLocalStateField('looking', null);
    this.#typing = new TypingSignal(this.#provider.awareness);
  }

  #get<T>(key: string): T | undefined {
    this.#reads.doc();
    return this.#review.get(key) as T | undefined;
  }

  /** False until the first sync brings the review in. */
  get isLoaded(): boolean {
    return this.#get<string>('status') !== undefined;
  }
  get providerStatus(): ProviderStatus {
    this.#reads.provider();
    return this.#provider.status;
  }
  get loadError(): string | null {
    this.#reads.provider();
    return this.#provider.status === 'refused' ? (this.#provider.lastError?.message ?? 'refused') : null;
  }
  /** Why this device cannot keep an offline copy of the review, if it cannot (the page still works online). */
  get localError(): string | null {
    this.#reads.provider();
    return this.#provider.localError?.message ?? null;
  }
  get title(): string {
    return this.#get<string>('title') ?? '';
  }
  get status(): ReviewView['status'] | undefined {
    return this.#get('status');
  }
  get requestedBy(): string {
    return this.#get<string>('requestedBy') ?? '';
  }
  get authors(): string[] {
    return this.#get<string[]>('authors') ?? [];
  }
  get revisions(): Revision[] {
    this.#reads.doc();
    return this.#revisions.toArray();
  }
  get current(): Revision | undefined {
    const all = this.revisions;
    return all.at(-1);
  }
  get votes(): VoteWithStale[] {
    return this.#get<VoteWithStale[]>('votes') ?? [];
  }
  get tally(): Tally | null {
    return this.#get<Tally | null>('tally') ?? null;
  }
  get evaluation(): Evaluation | null {
    return this.#get<Evaluation | null>('evaluation') ?? null;
  }
  /** Policy rules the page needs before sending (a reject needs a reason unless the policy says otherwise). */
  get rules(): ReviewView['rules'] {
    return this.#get<ReviewView['rules']>('rules') ?? { requireRejectReason: true };
  }
  get recusals(): Recusal[] {
    return this.#get<Recusal[]>('recusals') ?? [];
  }
  get signoffs(): SignOff[] {
    return this.#get<SignOff[]>('signoffs') ?? [];
  }
  get annotations(): Annotation[] {
    return (this.#get<Annotation[]>('annotations') ?? []).filter((a) => !a.deleted);
  }
  /** Root annotations with their replies, oldest first. */
  get threads(): Thread[] {
    const all = this.annotations;
    const roots = all.filter((a) => !a.parentId);
    return roots.map((root) => ({ root, replies: all.filter((a) => a.parentId === root.id) }));
  }
  get unresolvedCount(): number {
    return this.threads.filter((t) => !t.root.resolved).length;
  }

  /** My latest counted whole-revision vote, if any. */
  get myVote(): VoteWithStale | undefined {
    return this.votes.filter((v) => v.voter === this.me.username && v.itemId === undefined && !v.stale).at(-1);
  }
  /** Counted votes on one item of the current revision, by choice (empty when nobody voted on it). */
  itemTally(itemId: string): ChoiceTally {
    return this.tally?.items[itemId] ?? { approve: [], reject: [], abstain: [] };
  }
  /** My latest counted vote on one item, if any. */
  myItemVote(itemId: string): VoteWithStale | undefined {
    return this.votes.filter((v) => v.voter === this.me.username && v.itemId === itemId && !v.stale).at(-1);
  }
  /** Votes on one item that an amendment of that item made stale (kept, never counted), oldest first. */
  staleItemVotes(itemId: string): VoteWithStale[] {
    return this.votes.filter((v) => v.itemId === itemId && v.stale);
  }
  get isRecused(): boolean {
    return this.recusals.some((r) => r.reviewer === this.me.username);
  }
  get isAuthor(): boolean {
    return this.requestedBy === this.me.username || this.authors.includes(this.me.username);
  }
  /** I wrote part of the current revision (I edited its draft): I may reject or abstain, never approve or sign it off. */
  get isRevisionAuthor(): boolean {
    return revisionAuthors(this.current).includes(this.me.username);
  }

  /** Me as the rule book sees me; null for a role this version of Accord does not know (it then allows nothing). */
  get principal(): Principal | null {
    const { id, username, role, scope } = this.me;
    if (!isRole(role)) return null;
    return { userId: id, username, role, scope: isScope(scope) ? scope : 'full' };
  }
  /** What the rule book needs to know about this change, read from the review document; null until it is loaded. */
  get changeFacts(): ChangeFacts | null {
    const status = this.status;
    if (!status) return null;
    return {
      requestedBy: this.requestedBy,
      authors: this.authors,
      status,
      recused: this.recusals.map((r) => r.reviewer),
      revisionAuthors: revisionAuthors(this.current),
      ...(this.current ? { revision: this.current.number } : {}),
    };
  }
  /** The server's rule book (server/auth/permissions.ts, shared, not copied) on one action for this change. */
  decide(action: ActionName): Decision {
    const p = this.principal;
    if (!p) return { allowed: false, kind: 'forbidden', reason: `your role (${this.me.role}) is not one this page knows; reload it` };
    const change = this.changeFacts;
    if (!change) return { allowed: false, kind: 'state', reason: 'the review is still loading' };
    return decide(p, action, { kind: 'change', change });
  }
  /** May I do `action` here, and if not, why (in words)? Every button of the review page asks this first. */
  may(action: ActionName): Permission {
    const d = this.decide(action);
    return d.allowed ? { allowed: true, why: null } : { allowed: false, why: explainRefusal(action, d) };
  }
  /**
   * May I approve (the whole revision or an item)? The rule book's `change.approve`: voting, and never by
   * anyone who wrote the change or any part of the current revision (the vote command asks the same).
   */
  get mayApprove(): Permission {
    return this.may('change.approve');
  }
  /** May I recuse myself? Not twice: once recused, the page says so instead. */
  get mayRecuse(): Permission {
    if (this.isRecused) return { allowed: false, why: 'You recused yourself from this change.' };
    return this.may('change.recuse');
  }

  get canVote(): boolean {
    return this.may('change.vote').allowed;
  }
  /** Approve is offered only to those who did not write what they would approve (the server refuses it anyway). */
  get canApprove(): boolean {
    return this.mayApprove.allowed;
  }
  /** Why Approve is not offered to me although I may vote, in words; null when it is (or when I may not vote at all). */
  get whyNoApprove(): string | null {
    return this.canVote ? this.mayApprove.why : null;
  }
  get canAnnotate(): boolean {
    return this.may('annotation.create').allowed;
  }
  get canResolve(): boolean {
    return this.may('annotation.resolve').allowed;
  }
  get canSignOff(): boolean {
    return this.may('change.signoff').allowed;
  }
  /** Why I may not sign off, in words; null when I may. */
  get whyNoSignOff(): string | null {
    return this.may('change.signoff').why;
  }
  /** May I amend the draft (the rule book's `draft.write`)? */
  get mayAmend(): Permission {
    return this.may('draft.write');
  }
  get hasSignedOff(): boolean {
    return this.signoffs.some((s) => s.approver === this.me.username && s.valid);
  }

  /** The apply through a connected target (docs/targets.md), live from the review document; null before one. */
  get apply(): ApplyView | null {
    return this.#get<ApplyView | null>('apply') ?? null;
  }
  /** An approver's sign-off of the current revision stands (Apply needs one; an amendment voids it). */
  get hasValidSignOff(): boolean {
    return this.signoffs.some((s) => s.valid);
  }
  /** The target the current revision names (`target:`), if it names one; otherwise the only target of its backend is used. */
  get targetName(): string | null {
    return this.current?.content.target ?? null;
  }
  /** My Apply that the server has not answered yet (queued offline or in flight). */
  get applyQueued(): boolean {
    return this.queuedCommands.some((c) => c.name === 'change:apply');
  }
  /**
   * May I press Apply? The rule book's `change.apply` (admins; an approved or apply_failed change), then
   * what the command checks on top of it: a valid sign-off, and no run under way.
   */
  get mayApply(): Permission {
    const rule = this.may('change.apply');
    if (!rule.allowed) return rule;
    if (!this.hasValidSignOff) {
      const which = this.current ? ` of revision ${this.current.number}` : '';
      return { allowed: false, why: `Apply needs an approver's sign-off${which} first.` };
    }
    const state = this.apply?.state;
    if (state === 'applying' || state === 'applied') return { allowed: false, why: 'An apply is under way.' };
    if (this.applyQueued) return { allowed: false, why: 'Your Apply is waiting to be sent.' };
    return { allowed: true, why: null };
  }
  /**
   * Applies the change through its target (`change:apply` without an outcome). The result arrives in the
   * review document (`apply`), so the page follows it live; the answer here is only accepted or refused.
   */
  applyToTarget(): Promise<CommandOutcome> {
    const target = this.targetName;
    return this.#live.commands.send('change:apply', { changeId: this.changeId }, target ? `Apply to ${target}` : 'Apply');
  }

  get connection(): ConnectionState {
    const status = this.providerStatus;
    if (!this.#live.isConnected || status === 'offline') return 'offline';
    if (status !== 'synced' || this.#live.commands.pending.length > 0) return 'syncing';
    if (!this.canAnnotate && !this.canVote && !this.canSignOff) return 'read-only';
    return 'connected';
  }
  /** My decisions and annotations on this change that the server has not answered yet (queued offline or in flight), oldest first. */
  get queuedCommands(): readonly QueuedCommand[] {
    return this.#live.commands.pending.filter((c) => commandChangeId(c) === this.changeId || c.name.startsWith('annotation:'));
  }
  get queued(): number {
    return this.queuedCommands.length;
  }
  /** What waits, by kind, in words: "1 vote and 1 annotation"; empty when nothing does. */
  get queuedSummary(): string {
    return summarizeQueued(this.queuedCommands);
  }
  /** The connection badge's words: the state, and while anything waits, how many and what. */
  get connectionLabel(): string {
    const n = this.queued;
    const waiting = n ? ` ${n} queued (${this.queuedSummary})` : '';
    switch (this.connection) {
      case 'offline': return n ? `Offline —${waiting}` : 'Offline';
      case 'syncing': return `Syncing…${waiting}`;
      case 'read-only': return 'Read-only';
      default: return 'Connected';
    }
  }
  /** My vote on one item that the server has not answered yet (queued offline or in flight), with the revision it names. */
  pendingItemVote(itemId: string): { choice: VoteChoice; revision?: number; revisionHash: string } | undefined {
    for (const c of this.#live.commands.pending.toReversed()) {
      if (c.name === 'vote:cast' && c.payload.changeId === this.changeId && c.payload.itemId === itemId) {
        return { choice: c.payload.choice, revision: c.payload.revision, revisionHash: c.payload.revisionHash };
      }
    }
    return undefined;
  }
  /** Refusals about this change (or about none, e.g. an annotation edit): not another change's, nor a campaign's. */
  get refused(): readonly RefusedCommand[] {
    return this.#live.commands.refused.filter((c) => !c.name.startsWith('campaign:') && (commandChangeId(c) ?? this.changeId) === this.changeId);
  }
  /** Whether a refusal is one `outdated` explains (the page shows it next to the vote panel). */
  isOutdatedRefusal(command: RefusedCommand): boolean {
    return isRefusal(command.error, REVISION_CHANGED) && commandChangeId(command) === this.changeId && (command.name === 'vote:cast' || command.name === 'change:recuse');
  }
  /**
   * My votes and recusals on this change that the server refused as `revision_changed` (the revision I
   * looked at when I clicked was amended before the command arrived, e.g. while it waited offline),
   * grouped by the revision they named, each with what changed from it to the current revision. Nothing
   * here is re-sent: the page offers to vote again, and the user decides.
   */
  get outdated(): OutdatedGroup[] {
    const current = this.current;
    if (!current) return [];
    const groups = new Map<string, OutdatedGroup>();
    for (const c of this.refused) {
      if (!this.isOutdatedRefusal(c)) continue;
      if (c.name !== 'vote:cast' && c.name !== 'change:recuse') continue;
      const seenHash = c.payload.revisionHash;
      let group = groups.get(seenHash);
      if (!group) {
        const seen = this.revisions.find((r) => r.hash === seenHash);
        group = { seenHash, seen, current, changes: seen && seen.hash !== current.hash ? compareRevisions(seen, current) : null, decisions: [] };
        groups.set(seenHash, group);
      }
      const base = { key: c.key, label: c.label, message: c.error.message, reason: c.payload.reason };
      if (c.name === 'change:recuse') group.decisions.push({ ...base, kind: 'recusal', stillThere: true });
      else if (c.payload.itemId === undefined) group.decisions.push({ ...base, kind: 'vote', choice: c.payload.choice, stillThere: true });
      else {
        const itemId = c.payload.itemId;
        group.decisions.push({ ...base, kind: 'item-vote', choice: c.payload.choice, itemId, stillThere: current.content.items.some((i) => i.id === itemId) });
      }
    }
    return [...groups.values()];
  }
  /** Refused decisions on one item that named an older revision (ItemVote says so next to the item). */
  outdatedItemVote(itemId: string): OutdatedDecision | undefined {
    return this.outdated.flatMap((g) => g.decisions).findLast((d) => d.kind === 'item-vote' && d.itemId === itemId);
  }
  dismissRefusal(key: string): void {
    this.#live.commands.dismissRefusal(key);
  }

  get participants(): Participant[] {
    this.#reads.presence();
    const out: Participant[] = [];
    for (const [clientId, state] of this.#provider.awareness.getStates()) {
      const s = state as { user?: { name?: string; role?: string }; looking?: string | null };
      const isMe = clientId === this.#provider.doc.clientID;
      const name = isMe ? this.me.username : s.user?.name;
      if (name) out.push({ clientId, name, role: isMe ? this.me.role : (s.user?.role ?? ''), looking: s.looking ?? null, typing: isTyping(s), isMe });
    }
    return out.sort((a, b) => Number(b.isMe) - Number(a.isMe) || a.name.localeCompare(b.name));
  }

  /** Where the next annotation will be anchored (chosen from an item or a line). */
  get composerAnchor(): AnnotationAnchor | null {
    return this.#composerAnchor;
  }
  /** The thread the next annotation replies to, if any. */
  get replyTo(): string | null {
    return this.#replyTo;
  }
  startAnnotation(anchor: AnnotationAnchor): void {
    this.#composerAnchor = anchor;
    this.#replyTo = null;
  }
  startReply(rootId: string): void {
    this.#replyTo = rootId;
  }
  cancelReply(): void {
    this.#replyTo = null;
  }

  /** I am writing an annotation (call on each keystroke; shows as typing until a pause or `stoppedTyping`). */
  typing(): void {
    this.#typing.pulse();
  }
  stoppedTyping(): void {
    this.#typing.stop();
  }

  /** Tells the others which item I am looking at (volatile presence, never persisted). */
  lookAt(itemId: string | null): void {
    if (this.#lookingAt === itemId) return;
    this.#lookingAt = itemId;
    this.#provider.awareness.setLocalStateField('looking', itemId);
  }

  /**
   * A vote on the whole revision. `seen` is the revision on screen when the user clicked (the current one
   * unless the caller captured it earlier, e.g. when a reason form opened): its hash goes into the command
   * now, so a vote that waits offline still names what the user saw, and the server refuses it
   * (`revision_changed`) rather than count it for a revision they never saw.
   */
  castVote(choice: VoteChoice, reason?: string, seen: Revision | undefined = this.current): Promise<CommandOutcome> {
    if (!seen) return Promise.resolve(noRevision());
    const word = choice === 'approve' ? 'Approve' : choice === 'reject' ? 'Reject' : 'Abstain';
    this.#supersede((d) => d.kind === 'vote');
    return this.#live.commands.send(
      'vote:cast',
      { changeId: this.changeId, choice, revisionHash: seen.hash, revision: seen.number, ...(reason ? { reason } : {}) },
      `${word} revision ${seen.number}`,
    );
  }

  /** A vote bound to one item (and that item's hash): it stays counted while the item and the rest of the change are unchanged. */
  castItemVote(itemId: string, choice: VoteChoice, reason?: string, seen: Revision | undefined = this.current): Promise<CommandOutcome> {
    if (!seen) return Promise.resolve(noRevision());
    const word = choice === 'approve' ? 'Approve' : choice === 'reject' ? 'Reject' : 'Abstain on';
    this.#supersede((d) => d.kind === 'item-vote' && d.itemId === itemId);
    return this.#live.commands.send(
      'vote:cast',
      { changeId: this.changeId, choice, revisionHash: seen.hash, revision: seen.number, itemId, ...(reason ? { reason } : {}) },
      `${word} item ${itemId} (revision ${seen.number})`,
    );
  }

  /** Recuses me from this change; names the revision I was looking at, like a vote. */
  recuse(reason: string, seen: Revision | undefined = this.current): Promise<CommandOutcome> {
    if (!seen) return Promise.resolve(noRevision());
    this.#supersede((d) => d.kind === 'recusal');
    return this.#live.commands.send('change:recuse', { changeId: this.changeId, reason, revisionHash: seen.hash }, `Recuse (revision ${seen.number})`);
  }

  /** A new decision replaces my refused one on the same thing: its notice goes. */
  #supersede(same: (d: OutdatedDecision) => boolean): void {
    for (const d of this.outdated.flatMap((g) => g.decisions)) if (same(d)) this.dismissRefusal(d.key);
  }

  annotate(anchor: AnnotationAnchor, body: string, parentId?: string): Promise<CommandOutcome> {
    return this.#live.commands.send(
      'annotation:create',
      { changeId: this.changeId, annotation: { anchor, body, ...(parentId ? { parentId } : {}) } },
      parentId ? 'Reply' : `Annotate ${anchorLabel(anchor)}`,
    );
  }

  resolve(annotationId: string, resolved: boolean): Promise<CommandOutcome> {
    return this.#live.commands.send('annotation:resolve', { annotationId, resolved }, resolved ? 'Resolve thread' : 'Reopen thread');
  }

  dispose(): void {
    this.#typing.dispose();
    this.#provider.destroy();
  }
}

/** One queued command's kind, as a countable noun (singular, plural). */
function queuedKind(c: QueuedCommand): [string, string] {
  switch (c.name) {
    case 'vote:cast': return ['vote', 'votes'];
    case 'change:recuse': return ['recusal', 'recusals'];
    case 'annotation:create': return c.payload.annotation.parentId ? ['reply', 'replies'] : ['annotation', 'annotations'];
    case 'annotation:resolve': return c.payload.resolved ? ['thread to resolve', 'threads to resolve'] : ['thread to reopen', 'threads to reopen'];
    case 'annotation:edit': return ['annotation edit', 'annotation edits'];
    case 'annotation:delete': return ['annotation to delete', 'annotations to delete'];
    case 'change:apply': return ['apply', 'applies'];
    default: return ['other action', 'other actions'];
  }
}

/** "1 vote", "2 votes and 1 annotation", "1 vote, 1 recusal and 2 replies" (in the order first queued). */
export function summarizeQueued(commands: readonly QueuedCommand[]): string {
  const counts = new Map<string, { n: number; forms: [string, string] }>();
  for (const c of commands) {
    const forms = queuedKind(c);
    const entry = counts.get(forms[0]) ?? { n: 0, forms };
    entry.n += 1;
    counts.set(forms[0], entry);
  }
  const parts = [...counts.values()].map(({ n, forms }) => `${n} ${n === 1 ? forms[0] : forms[1]}`);
  return parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

function noRevision(): CommandOutcome {
  return { ok: false, error: { code: 'invalid_payload', message: 'This change has no submitted revision to decide on yet.' } };
}
