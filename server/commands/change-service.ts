import type { Principal } from '../auth/roles.ts';
import { decide, type ActionName, type ChangeFacts } from '../auth/permissions.ts';
import { AccessInputError } from '../domain/access/model.ts';
import { blastGroups, gainsHighRisk, storedBlastRows } from '../domain/access/blast-groups.ts';
import { canonicalJson, hashContent, hashEnvelope, hashItems, sha256Hex } from '../domain/review/canonical.ts';
import { describeRevisionChange } from '../domain/review/revision-diff.ts';
import { parseChangeContent } from '../domain/review/content-schema.ts';
import type { ChangeContent, ChangeRequest, Revision, Vote, VoteChoice } from '../domain/review/types.ts';
import { AppError } from '../protocol/errors.ts';
import type { FactName } from '../protocol/events.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';
import { newId, type CommandRunner } from './command-runner.ts';
import type { Inventories } from './inventory.ts';
import type { PolicyEngine } from './policy-engine.ts';

export interface VoteInput {
  choice: VoteChoice;
  reason?: string;
  itemId?: string;
  /** The hash of the revision the voter looked at: a vote on anything but the current revision is refused. */
  revisionHash: string;
  /** Optional: the revision number the voter looked at; must agree with the hash when given. */
  revision?: number;
}

/** The draft state a submitter saw: SHA-256 hex of the canonical JSON of the draft as read (change-docs.ts readDraft). */
export function draftHashOf(draft: Record<string, unknown>): string {
  return sha256Hex(canonicalJson(draft));
}

/** After a command committed: the fact, its detail, and whether the change's status moved (draft rights follow it). */
export interface ChangedInfo {
  statusChanged: boolean;
}

/** Hooks the service calls after a command committed: project the review document, tell live clients. */
export interface ChangeEvents {
  /**
   * Called after the command committed, before it is answered: the fact reaches live clients before the
   * command's own ack does. It never throws: a failure of its own is reported by the sink.
   */
  changed(changeId: string, fact: FactName, detail: Record<string, unknown>, info?: ChangedInfo): Promise<void>;
  /** The draft must be read from its live document; the transport owns that. */
  readDraft(changeId: string): Promise<Record<string, unknown>>;
  writeDraft(changeId: string, content: ChangeContent): Promise<void>;
}

/** What status-changing commands return (and what idempotency records keep): small, not the aggregate. */
export interface StatusResult {
  id: string;
  status: ChangeRequest['status'];
}

export function factsOf(change: ChangeRequest): ChangeFacts {
  return {
    requestedBy: change.requestedBy,
    authors: change.authors,
    status: change.status,
    recused: change.recusals.map((r) => r.reviewer),
    revisionAuthors: change.revisions.at(-1)?.authors ?? [],
    ...(change.revisions.length > 0 ? { revision: change.revisions.at(-1)!.number } : {}),
  };
}

/**
 * Refuses unless `seen` is the current revision's hash: what a vote, recusal or sign-off binds to is what
 * its maker looked at, never whatever happens to be current when the command arrives (finding 3).
 */
export function requireCurrent(change: ChangeRequest, seen: string, seenNumber?: number): Revision {
  const current = change.revisions.at(-1);
  if (!current) throw new AppError('conflict', 'no revision has been submitted yet');
  if (seen === current.hash) {
    if (seenNumber !== undefined && seenNumber !== current.number) {
      throw new AppError('invalid_payload', `revision ${seenNumber} does not have hash ${seen}; revision ${current.number} does`);
    }
    return current;
  }
  throw new AppError('revision_changed', describeRevisionChange(change.revisions, seen, current));
}

/** Throws `forbidden` with the rule book's reason unless `p` may do `action` on `change`. */
export function authorize(p: Principal, action: ActionName, change: ChangeRequest): void {
  const d = decide(p, action, { kind: 'change', change: factsOf(change) });
  if (!d.allowed) throw new AppError(d.kind === 'state' ? 'conflict' : 'forbidden', d.reason);
}

const now = () => new Date().toISOString();

/** The same word on the same content: what a double click or a retry without an idempotency key sends. */
function sameVote(a: Vote, b: Vote): boolean {
  return a.choice === b.choice && a.revisionHash === b.revisionHash && a.itemHash === b.itemHash && (a.reason ?? '') === (b.reason ?? '');
}

/** Change requests: create, submit revisions, vote, recuse, withdraw, record apply. */
export class ChangeService {
  readonly #store: ChangeStore;
  readonly #runner: CommandRunner;
  readonly #inventories: Inventories;
  readonly #policy: PolicyEngine;
  readonly #events: ChangeEvents;
  /** (change, writer) pairs known to be recorded in draft_writers. */
  readonly #knownWriters = new Set<string>();
  /** Draft-writer records being written, by (change, writer). */
  readonly #recording = new Map<string, Promise<void>>();

  constructor(store: ChangeStore, runner: CommandRunner, inventories: Inventories, policy: PolicyEngine, events: ChangeEvents) {
    this.#store = store;
    this.#runner = runner;
    this.#inventories = inventories;
    this.#policy = policy;
    this.#events = events;
  }

  async load(id: string): Promise<{ change: ChangeRequest; version: number }> {
    const found = typeof id === 'string' ? await this.#store.get(id) : null;
    if (!found) throw new AppError('not_found', 'no such change');
    return found;
  }

  async facts(id: string): Promise<ChangeFacts | null> {
    const found = await this.#store.get(id);
    return found ? factsOf(found.change) : null;
  }

  /** Everyone who wrote any part of the next revision: requester, invited authors, every draft writer, the submitter. */
  async #revisionAuthors(change: ChangeRequest, submitter: string): Promise<string[]> {
    return [...new Set([change.requestedBy, ...change.authors, ...(await this.#store.draftWriters(change.id)), submitter])].sort();
  }

  /**
   * Records that `username` wrote into the change's draft (REST or Yjs), before the write is acknowledged:
   * from then on they are an author of every revision submitted, and never count as its approver. Audited
   * once per writer and change. A submit waits for every record of its change still in flight
   * (`#writersRecorded`), so no revision is built without an author whose words are in it.
   */
  recordDraftWriter(changeId: string, username: string): Promise<void> {
    const known = `${changeId}\0${username}`;
    if (this.#knownWriters.has(known)) return Promise.resolve(); // a keystroke each: ask the database once per writer
    let pending = this.#recording.get(known);
    if (!pending) {
      pending = this.#runner.observe(username, 'draft.contribute', changeId, async () =>
        (await this.#store.addDraftWriter(changeId, username, now())) ? { writer: username } : null)
        .then(() => void this.#knownWriters.add(known))
        .finally(() => this.#recording.delete(known));
      this.#recording.set(known, pending);
    }
    return pending;
  }

  /** Waits for the draft-writer records of this change still being written; a failed one fails the caller. */
  async writersRecorded(changeId: string): Promise<void> {
    const prefix = `${changeId}\0`;
    await Promise.all([...this.#recording].filter(([known]) => known.startsWith(prefix)).map(([, p]) => p));
  }

  async buildRevision(change: ChangeRequest, content: ChangeContent, by: string): Promise<Revision> {
    const backend = this.#inventories.backend(content.backend);
    const model = await this.#inventories.model(content.backend);
    const authors = await this.#revisionAuthors(change, by);
    const changeSet = { backend: content.backend, items: content.items };
    try {
      backend.validateChange(model, changeSet);
      const rendered = backend.render(model, changeSet);
      // Grouped once; the rows (all of them, or a digest for a large change) are derived from the groups.
      const groups = blastGroups(backend, model, changeSet);
      return {
        number: change.revisions.length + 1,
        hash: hashContent(content),
        itemHashes: hashItems(content.items),
        authors,
        content, submittedBy: by, submittedAt: now(), rendered, blast: storedBlastRows(groups), blastGroups: groups,
        highRisk: gainsHighRisk(groups),
      };
    } catch (err) {
      if (err instanceof AccessInputError) throw new AppError('invalid_payload', err.message);
      throw err;
    }
  }

  /** Re-evaluates the policy and moves an open review to approved or rejected when it decides. */
  async settle(change: ChangeRequest): Promise<void> {
    if (!['in_review', 'approved', 'rejected'].includes(change.status)) return;
    const decision = await this.#policy.decide(change);
    change.status = decision.decision === 'pending' ? 'in_review' : decision.decision;
  }
}
