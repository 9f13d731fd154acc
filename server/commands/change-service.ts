import type { Principal } from '../auth/roles.ts';
import { decide, type ActionName, type ChangeFacts } from '../auth/permissions.ts';
import { AccessInputError } from '../domain/access/model.ts';
import { blastRadius } from '../domain/access/blast-radius.ts';
import { hashContent, hashItems } from '../domain/review/canonical.ts';
import { parseChangeContent } from '../domain/review/content-schema.ts';
import type { ChangeContent, ChangeRequest, Revision, VoteChoice } from '../domain/review/types.ts';
import { AppError } from '../protocol/errors.ts';
import type { FactName } from '../protocol/events.ts';
import type { ChangeStore } from '../store/sqlite/change-store.ts';
import { newId, type CommandRunner } from './command-runner.ts';
import type { Inventories } from './inventory.ts';
import type { PolicyEngine } from './policy-engine.ts';

export interface VoteInput {
  choice: VoteChoice;
  reason?: string;
  itemId?: string;
  /** The revision the voter looked at: a vote on anything but the current revision is refused. */
  revision: number;
}

/** Hooks the service calls after a command committed: project the review document, tell live clients. */
export interface ChangeEvents {
  changed(changeId: string, fact: FactName, detail: Record<string, unknown>): void;
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
  };
}

/** Throws `forbidden` with the rule book's reason unless `p` may do `action` on `change`. */
export function authorize(p: Principal, action: ActionName, change: ChangeRequest): void {
  const d = decide(p, action, { kind: 'change', change: factsOf(change) });
  if (!d.allowed) throw new AppError(d.kind === 'state' ? 'conflict' : 'forbidden', d.reason);
}

const now = () => new Date().toISOString();

/** Change requests: create, submit revisions, vote, recuse, withdraw, record apply. */
export class ChangeService {
  readonly #store: ChangeStore;
  readonly #runner: CommandRunner;
  readonly #inventories: Inventories;
  readonly #policy: PolicyEngine;
  readonly #events: ChangeEvents;

  constructor(store: ChangeStore, runner: CommandRunner, inventories: Inventories, policy: PolicyEngine, events: ChangeEvents) {
    this.#store = store;
    this.#runner = runner;
    this.#inventories = inventories;
    this.#policy = policy;
    this.#events = events;
  }

  load(id: string): { change: ChangeRequest; version: number } {
    const found = typeof id === 'string' ? this.#store.get(id) : null;
    if (!found) throw new AppError('not_found', 'no such change');
    return found;
  }

  facts(id: string): ChangeFacts | null {
    const found = this.#store.get(id);
    return found ? factsOf(found.change) : null;
  }

  /** A new change in `draft`, its content written into the `draft:` document for its authors. */
  async create(p: Principal, input: unknown, key?: string): Promise<ChangeRequest> {
    const parsed = parseChangeContent(input);
    const id = newId('ch-', p, key);
    let fresh = false; // false when the key replays an earlier create: its draft may have been edited since
    const change = this.#runner.run(p, 'change.create', id, key, () => {
      fresh = true;
      const d = decide(p, 'change.create');
      if (!d.allowed) throw new AppError('forbidden', d.reason);
      if (!parsed.ok) throw new AppError('invalid_payload', parsed.problems.join('; '));
      this.#inventories.backend(parsed.content.backend);
      const created: ChangeRequest = {
        id, status: 'draft', requestedBy: p.username, authors: [p.username], createdAt: now(),
        revisions: [], votes: [], recusals: [], policy: '',
      };
      this.#store.insert(created, parsed.content.backend, parsed.content.title);
      return { result: created, detail: { title: parsed.content.title, backend: parsed.content.backend, items: parsed.content.items.length } };
    }, input);
    if (!fresh) {
      // A replay: the first create may have committed and died before its draft was written.
      if (parsed.ok && !('title' in (await this.#events.readDraft(change.id)))) await this.#events.writeDraft(change.id, parsed.content);
      return change;
    }
    if (parsed.ok) await this.#events.writeDraft(change.id, parsed.content);
    this.#events.changed(change.id, 'change:created', {});
    return change;
  }

  /**
   * Snapshots the draft as revision N+1: validated against the schema and the backend's imported state,
   * rendered to the native form, with its blast radius and content hash. History is never rewritten.
   */
  async submit(p: Principal, id: string, key?: string): Promise<Revision> {
    // Check before touching the live draft: a refused submit must not even open a document.
    try {
      authorize(p, 'change.submit', this.load(id).change);
    } catch (err) {
      this.#runner.refused(p, 'change.submit', id, err);
      throw err;
    }
    const draft = await this.#events.readDraft(id);
    const revision = this.#runner.run(p, 'change.submit', id, key, () => {
      const { change, version } = this.load(id);
      authorize(p, 'change.submit', change);
      const parsed = parseChangeContent(draft);
      if (!parsed.ok) throw new AppError('invalid_payload', parsed.problems.join('; '));
      const rev = this.#buildRevision(change, parsed.content, p.username);
      const previous = change.revisions.at(-1);
      if (previous && previous.hash === rev.hash) throw new AppError('conflict', `nothing changed since revision ${previous.number}`);
      change.revisions.push(rev);
      change.status = 'in_review';
      change.policy = this.#policy.policyFor(change);
      this.#settle(change);
      this.#store.save(change, version, rev.content.title);
      return { result: rev, detail: { revision: rev.number, hash: rev.hash, items: rev.content.items.length, status: change.status } };
    });
    this.#events.changed(id, 'revision:submitted', { revision: revision.number, hash: revision.hash });
    return revision;
  }

  #buildRevision(change: ChangeRequest, content: ChangeContent, by: string): Revision {
    const backend = this.#inventories.backend(content.backend);
    const model = this.#inventories.model(content.backend);
    const changeSet = { backend: content.backend, items: content.items };
    try {
      backend.validateChange(model, changeSet);
      const rendered = backend.render(model, changeSet);
      const blast = blastRadius(backend, model, changeSet);
      return {
        number: change.revisions.length + 1,
        hash: hashContent(content),
        itemHashes: hashItems(content.items),
        content, submittedBy: by, submittedAt: now(), rendered, blast,
        highRisk: blast.gained.some((row) => row.highRisk),
      };
    } catch (err) {
      if (err instanceof AccessInputError) throw new AppError('invalid_payload', err.message);
      throw err;
    }
  }

  vote(p: Principal, id: string, input: VoteInput, key?: string): StatusResult {
    let fresh = false;
    const result = this.#runner.run(p, 'change.vote', id, key, () => {
      fresh = true;
      const { change, version } = this.load(id);
      authorize(p, 'change.vote', change);
      const current = change.revisions.at(-1)!;
      if (input.revision !== current.number) {
        throw new AppError('conflict', `revision ${input.revision} is not current; vote on revision ${current.number}`);
      }
      if (input.choice === 'approve' && (change.requestedBy === p.username || change.authors.includes(p.username))) {
        throw new AppError('forbidden', 'a requester or author never approves their own change');
      }
      if (input.itemId !== undefined && current.itemHashes[input.itemId] === undefined) {
        throw new AppError('invalid_payload', `revision ${current.number} has no item ${input.itemId}`);
      }
      if (input.choice === 'reject' && !input.reason?.trim() && this.#policy.requiresRejectReason(change)) {
        throw new AppError('invalid_payload', 'the policy requires a reason with a reject');
      }
      change.votes.push({
        voter: p.username, choice: input.choice, revision: current.number, revisionHash: current.hash, castAt: now(),
        ...(input.reason?.trim() ? { reason: input.reason.trim() } : {}),
        ...(input.itemId !== undefined ? { itemId: input.itemId, itemHash: current.itemHashes[input.itemId] } : {}),
      });
      this.#settle(change);
      this.#store.save(change, version, current.content.title);
      return { result: { id, status: change.status }, detail: { choice: input.choice, revision: current.number, item: input.itemId ?? null, status: change.status } };
    });
    if (fresh) this.#events.changed(id, 'vote:recorded', { voter: p.username, choice: input.choice, status: result.status });
    return result;
  }

  recuse(p: Principal, id: string, reason: string, key?: string): StatusResult {
    let fresh = false; // a replay (same key) changed nothing: no second fact, no second minutes line
    const result = this.#runner.run(p, 'change.recuse', id, key, () => {
      fresh = true;
      const { change, version } = this.load(id);
      authorize(p, 'change.recuse', change);
      if (!reason.trim()) throw new AppError('invalid_payload', 'a recusal states its reason');
      if (change.recusals.some((r) => r.reviewer === p.username)) throw new AppError('conflict', 'you already recused yourself');
      change.recusals.push({ reviewer: p.username, reason: reason.trim(), at: now() });
      this.#settle(change);
      this.#store.save(change, version, change.revisions.at(-1)!.content.title);
      return { result: { id, status: change.status }, detail: { reason: reason.trim(), status: change.status } };
    });
    if (fresh) this.#events.changed(id, 'reviewer:recused', { reviewer: p.username });
    return result;
  }

  /**
   * Adds a co-author: they edit the draft and submit revisions, and like every author never approve or
   * sign off the change. `exists` says whether the username is an Accord user who may request changes.
   */
  invite(p: Principal, id: string, username: string, exists: (username: string) => boolean, key?: string): StatusResult {
    const result = this.#runner.run(p, 'change.invite', id, key, () => {
      const { change, version } = this.load(id);
      authorize(p, 'change.invite', change);
      if (!exists(username)) throw new AppError('invalid_payload', `no reviewer "${username}" to invite`);
      if (change.authors.includes(username)) throw new AppError('conflict', `${username} is already an author`);
      change.authors.push(username);
      this.#store.save(change, version);
      return { result: { id, status: change.status }, detail: { author: username } };
    });
    this.#events.changed(id, 'author:added', { author: username });
    return result;
  }

  withdraw(p: Principal, id: string, key?: string): StatusResult {
    return this.#transition(p, id, 'change.withdraw', 'withdrawn', key, {});
  }

  /** Records the outcome of applying an approved, signed-off change on its hypervisor. */
  recordApply(p: Principal, id: string, outcome: 'applied' | 'apply_failed', note: string, signedOff: (c: ChangeRequest) => boolean, key?: string): StatusResult {
    return this.#transition(p, id, 'change.apply', outcome, key, { note }, (change) => {
      if (!signedOff(change)) throw new AppError('conflict', 'the current revision has no valid sign-off yet');
    });
  }

  #transition(p: Principal, id: string, action: ActionName, to: ChangeRequest['status'], key: string | undefined, detail: Record<string, unknown>, check?: (c: ChangeRequest) => void): StatusResult {
    const result = this.#runner.run(p, action, id, key, () => {
      const { change, version } = this.load(id);
      authorize(p, action, change);
      check?.(change);
      const from = change.status;
      change.status = to;
      this.#store.save(change, version, change.revisions.at(-1)?.content.title);
      return { result: { id, status: change.status }, detail: { ...detail, from, to } };
    });
    this.#events.changed(id, 'status:changed', { status: result.status });
    return result;
  }

  /** Re-evaluates the policy and moves an open review to approved or rejected when it decides. */
  #settle(change: ChangeRequest): void {
    if (!['in_review', 'approved', 'rejected'].includes(change.status)) return;
    const decision = this.#policy.decide(change);
    change.status = decision.decision === 'pending' ? 'in_review' : decision.decision;
  }
}
