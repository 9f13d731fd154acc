/**
 * Every Socket.io command's handler, run by the dispatcher (dispatcher.ts). A command is declared once
 * in server/protocol/commands.ts (payload, result, facts) and handled here; REST routes and Socket.io
 * events are thin maps onto `Accord.dispatch` (docs/api.md, docs/protocol.md).
 */
import type { InventoryImportResult } from './inventory.ts';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Principal } from '../auth/roles.ts';
import { hashEnvelope } from '../domain/review/canonical.ts';
import { parseChangeContent } from '../domain/review/content-schema.ts';
import { parsePolicyYaml, PolicyError } from '../domain/review/policy.ts';
import type { Annotation } from '../domain/review/annotations.ts';
import type { ChangeContent, ChangeRequest, Vote } from '../domain/review/types.ts';
import { startClock, stopClock, type JointSession } from '../domain/session/types.ts';
import type { CommandFactName, CommandInput } from '../protocol/commands.ts';
import type { CommandName } from '../protocol/events.ts';
import { AppError } from '../protocol/errors.ts';
import { describeIssues } from '../protocol/issues.ts';
import type { Accord } from './accord.ts';
import { decide, type CampaignFacts } from '../auth/permissions.ts';
import { CampaignDefinitionError, parseCampaignDefinition, type CampaignDefinition } from '../domain/campaign/definition.ts';
import { ConnectorError } from '../connectors/types.ts';
import { DriftChecker, type DriftReport, type Observation } from '../connectors/drift.ts';
import type { TargetView } from '../connectors/targets.ts';
import { draftHashOf, requireCurrent, type StatusResult } from './change-service.ts';
import { newId } from './command-runner.ts';
import { authorizeTarget, type CommandHandler, type CommandHandlers, type Target } from './dispatcher.ts';
import {
  clock, CreateSession, iso, MAX_NOTES, MAX_OPEN_PER_FACILITATOR, NoteText, now, oneLine, revisionOf, SessionTitle, SetAgenda, statusWords,
} from './session-service.ts';

type Handler<C extends CommandName, R, P = undefined> = CommandHandler<C, R, Accord, P>;

const nowIso = () => new Date().toISOString();

/** The same word on the same content: what a double click or a retry without an idempotency key sends. */
function sameVote(a: Vote, b: Vote): boolean {
  return a.choice === b.choice && a.revisionHash === b.revisionHash && a.itemHash === b.itemHash && (a.reason ?? '') === (b.reason ?? '');
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new AppError('invalid_payload', describeIssues(r.error, value).join('; '));
  return r.data;
}

const changeTarget = async (a: Accord, changeId: string): Promise<Target> => ({ kind: 'change', ...(await a.changes.load(changeId)) });
const sessionTarget = async (a: Accord, sessionId: string): Promise<Target> => ({ kind: 'session', ...(await a.sessions.load(sessionId)) });
const reviewOf = async (a: Accord, changeId: string) => (await a.view(changeId))!;
const sessionOf = async (a: Accord, sessionId: string) => (await a.sessions.view(sessionId))!;

function changeOf(t: Target): { change: ChangeRequest; version: number } {
  if (t.kind !== 'change') throw new Error(`expected a change target, got ${t.kind}`);
  return t;
}

function sessionOfTarget(t: Target): { session: JointSession; version: number } {
  if (t.kind !== 'session') throw new Error(`expected a session target, got ${t.kind}`);
  return t;
}

// ---- changes ----

const create: Handler<'change:create', ChangeRequest, ReturnType<typeof parseChangeContent>> = {
  audit: 'change.create',
  action: 'change.create',
  subject: (_a, p, _x, key) => newId('ch-', p, key),
  replayTag: (x) => x.content,
  prepare: async (_a, _p, x) => parseChangeContent(x.content),
  target: async () => ({ kind: 'none' }),
  async run(a, p, _x, _t, parsed, id) {
    if (!parsed.ok) throw new AppError('invalid_payload', parsed.problems.join('; '));
    a.inventories.backend(parsed.content.backend);
    const created: ChangeRequest = {
      id, status: 'draft', requestedBy: p.username, authors: [p.username], createdAt: nowIso(),
      revisions: [], votes: [], recusals: [], policy: '',
    };
    await a.store.insert(created, parsed.content.backend, parsed.content.title);
    return {
      result: created,
      detail: { title: parsed.content.title, backend: parsed.content.backend, items: parsed.content.items.length, status: created.status },
      facts: [{ scope: 'change', changeId: created.id, name: 'change:created', detail: {}, statusChanged: true }],
    };
  },
  async after(a, _p, x, change, fresh) {
    const parsed = parseChangeContent(x.content);
    if (!parsed.ok) return;
    // A replay: the first create may have committed and died before its draft was written.
    if (fresh || !('title' in (await a.readDraft(change.id)))) await a.writeDraft(change.id, parsed.content);
  },
  answer: (a, _x, change) => reviewOf(a, change.id),
};

const submit: Handler<'change:submit', { number: number; hash: string }, Record<string, unknown>> = {
  audit: 'change.submit',
  action: 'change.submit',
  subject: (_a, _p, x) => x.changeId,
  // Checked before touching the live draft: a refused submit must not even open a document.
  async prepare(a, p, x) {
    authorizeTarget(p, 'change.submit', await changeTarget(a, x.changeId));
    const draft = await a.readDraft(x.changeId);
    await a.changes.writersRecorded(x.changeId);
    return draft;
  },
  target: (a, x) => changeTarget(a, x.changeId),
  async run(a, p, x, t, draft) {
    const { change, version } = changeOf(t);
    const actual = draftHashOf(draft);
    if (actual !== x.draftHash) {
      throw new AppError('draft_changed', `the draft changed since you looked at it (you named draft ${x.draftHash.slice(0, 12)}, it is now ${actual.slice(0, 12)}): read it again, then submit what you have seen`);
    }
    const parsed = parseChangeContent(draft);
    if (!parsed.ok) throw new AppError('invalid_payload', parsed.problems.join('; '));
    const from = change.status;
    const rev = await a.changes.buildRevision(change, parsed.content, p.username);
    const previous = change.revisions.at(-1);
    if (previous && previous.hash === rev.hash) throw new AppError('conflict', `nothing changed since revision ${previous.number}`);
    change.revisions.push(rev);
    change.status = 'in_review';
    change.policy = await a.policy.policyFor(change);
    // The envelope binds the policy chosen for this revision and the inventory it was computed on.
    rev.envelopeHash = hashEnvelope(rev.content, { policy: change.policy, inventoryVersion: await a.inventories.version(rev.content.backend) });
    await a.changes.settle(change);
    await a.store.save(change, version, rev.content.title);
    return {
      result: rev,
      detail: {
        revision: rev.number, hash: rev.hash, envelopeHash: rev.envelopeHash, itemHashes: rev.itemHashes, authors: rev.authors,
        items: rev.content.items.length, status: change.status,
      },
      facts: [{ scope: 'change', changeId: x.changeId, name: 'revision:submitted', detail: { revision: rev.number, hash: rev.hash }, statusChanged: from !== change.status }],
    };
  },
  answer: (a, x) => reviewOf(a, x.changeId),
};

const vote: Handler<'vote:cast', StatusResult> = {
  audit: 'change.vote',
  action: 'change.vote',
  subject: (_a, _p, x) => x.changeId,
  target: (a, x) => changeTarget(a, x.changeId),
  async run(a, p, x, t) {
    const { change, version } = changeOf(t);
    const current = requireCurrent(change, x.revisionHash, x.revision);
    if (x.choice === 'approve') authorizeTarget(p, 'change.approve', t);
    if (x.itemId !== undefined && current.itemHashes[x.itemId] === undefined) {
      throw new AppError('invalid_payload', `revision ${current.number} has no item ${x.itemId}`);
    }
    if (x.choice === 'reject' && !x.reason?.trim() && (await a.policy.requiresRejectReason(change))) {
      throw new AppError('invalid_payload', 'the policy requires a reason with a reject');
    }
    const cast: Vote = {
      voter: p.username, choice: x.choice, revision: current.number, revisionHash: current.hash, castAt: nowIso(),
      ...(x.reason?.trim() ? { reason: x.reason.trim() } : {}),
      ...(x.itemId !== undefined ? {
        itemId: x.itemId, itemHash: current.itemHashes[x.itemId],
        ...(current.envelopeHash !== undefined ? { envelopeHash: current.envelopeHash } : {}),
      } : {}),
    };
    const fact = (statusChanged: boolean) => [{ scope: 'change' as const, changeId: x.changeId, name: 'vote:recorded' as const, detail: { voter: p.username, choice: x.choice, status: change.status }, statusChanged }];
    // The same vote again (a double click, a retry without a key) is one fact, not two.
    const latest = change.votes.findLast((v) => v.voter === p.username && v.itemId === cast.itemId);
    if (latest && sameVote(latest, cast)) {
      return { result: { id: x.changeId, status: change.status }, detail: { repeated: { castAt: latest.castAt }, status: change.status }, facts: fact(false) };
    }
    const from = change.status;
    change.votes.push(cast);
    await a.changes.settle(change);
    await a.store.save(change, version, current.content.title);
    return { result: { id: x.changeId, status: change.status }, detail: { vote: cast, status: change.status }, facts: fact(from !== change.status) };
  },
  answer: (a, x) => reviewOf(a, x.changeId),
};

const recuse: Handler<'change:recuse', StatusResult> = {
  audit: 'change.recuse',
  action: 'change.recuse',
  subject: (_a, _p, x) => x.changeId,
  target: (a, x) => changeTarget(a, x.changeId),
  async run(a, p, x, t) {
    const { change, version } = changeOf(t);
    requireCurrent(change, x.revisionHash);
    if (!x.reason.trim()) throw new AppError('invalid_payload', 'a recusal states its reason');
    if (change.recusals.some((r) => r.reviewer === p.username)) throw new AppError('conflict', 'you already recused yourself');
    const from = change.status;
    const recusal = { reviewer: p.username, reason: x.reason.trim(), at: nowIso() };
    change.recusals.push(recusal);
    await a.changes.settle(change);
    await a.store.save(change, version, change.revisions.at(-1)!.content.title);
    return {
      result: { id: x.changeId, status: change.status },
      detail: { recusal, revisionHash: x.revisionHash, status: change.status },
      facts: [{ scope: 'change', changeId: x.changeId, name: 'reviewer:recused', detail: { reviewer: p.username }, statusChanged: from !== change.status }],
    };
  },
  answer: (a, x) => reviewOf(a, x.changeId),
};

/**
 * A command that moves a change to another status (withdraw, record the apply outcome): the change is
 * saved with its new status, the audit entry says from where to where, and `status:changed` is published.
 */
function transition<C extends 'change:withdraw' | 'change:apply'>(
  audit: string, action: 'change.withdraw' | 'change.apply',
  to: (x: CommandInput<C>) => ChangeRequest['status'], check: (a: Accord, change: ChangeRequest) => Promise<void> = async () => {},
  extra: (x: CommandInput<C>) => Record<string, unknown> = () => ({}),
): Handler<C, StatusResult> {
  return {
    audit,
    action,
    subject: (_a, _p, x) => x.changeId,
    target: (a, x) => changeTarget(a, x.changeId),
    async run(a, _p, x, t) {
      const { change, version } = changeOf(t);
      await check(a, change);
      const from = change.status;
      change.status = to(x);
      await a.store.save(change, version, change.revisions.at(-1)?.content.title);
      return {
        result: { id: x.changeId, status: change.status },
        detail: { ...extra(x), from, to: change.status, status: change.status },
        facts: [{ scope: 'change', changeId: x.changeId, name: 'status:changed' as CommandFactName<C>, detail: { status: change.status }, statusChanged: true }],
      };
    },
    answer: (a, x) => reviewOf(a, x.changeId),
  };
}

const withdraw = transition<'change:withdraw'>('change.withdraw', 'change.withdraw', () => 'withdrawn');

// ---- annotations ----

const annotationCreate: Handler<'annotation:create', Annotation> = {
  audit: 'annotation.create',
  action: 'annotation.create',
  subject: (_a, _p, x) => x.changeId,
  target: (a, x) => changeTarget(a, x.changeId),
  async run(a, p, x, t) {
    const { change } = changeOf(t);
    const current = change.revisions.at(-1);
    const anchor = x.annotation.anchor;
    // Own keys only: `in` would accept "constructor" or "__proto__" as an item id (integrity finding 9).
    if (anchor.kind === 'item' && !(current && Object.hasOwn(current.itemHashes, anchor.itemId))) throw new AppError('invalid_payload', `no item ${anchor.itemId}`);
    if (anchor.kind === 'line') {
      const rev = change.revisions[anchor.revision - 1];
      if (!rev) throw new AppError('invalid_payload', `no revision ${anchor.revision}`);
      if (anchor.line > rev.rendered.text.split('\n').length) throw new AppError('invalid_payload', `revision ${anchor.revision} has no line ${anchor.line}`);
    }
    const parentId = x.annotation.parentId;
    if (parentId !== undefined) {
      const parent = await a.store.annotation(parentId);
      if (!parent || parent.changeId !== x.changeId || parent.parentId) throw new AppError('invalid_payload', 'replies go to a thread of this change');
    }
    const annotation: Annotation = {
      id: `an-${randomBytes(6).toString('hex')}`, changeId: x.changeId, author: p.username, anchor, body: x.annotation.body,
      resolved: false, deleted: false, createdAt: nowIso(), revision: current?.number ?? 0,
      ...(parentId !== undefined ? { parentId } : {}),
    };
    await a.store.putAnnotation(annotation);
    return {
      result: annotation,
      detail: { id: annotation.id, anchor, parentId: parentId ?? null, body: x.annotation.body },
      facts: [{ scope: 'change', changeId: x.changeId, name: 'annotation:created', detail: { id: annotation.id } }],
    };
  },
  answer: async (_a, _x, annotation) => annotation,
};

/** Edit, delete and resolve: the annotation is the target (only its author edits or deletes it). */
function annotationMutation<C extends 'annotation:edit' | 'annotation:delete' | 'annotation:resolve'>(
  audit: string, action: 'annotation.edit' | 'annotation.resolve', fact: 'annotation:edited' | 'annotation:deleted' | 'annotation:resolved',
  apply: (a: Annotation, p: Principal, x: CommandInput<C>) => Record<string, unknown>,
): Handler<C, Annotation> {
  return {
    audit,
    action,
    // Looked up before the unit of work, only to name the change in the audit log ('unknown' when there is none).
    subject: async (a, _p, x) => (await a.store.annotation(x.annotationId))?.changeId ?? 'unknown',
    async target(a, x) {
      const annotation = await a.store.annotation(x.annotationId);
      if (!annotation) throw new AppError('not_found', 'no such annotation');
      return { kind: 'annotation', annotation, change: (await a.changes.load(annotation.changeId)).change };
    },
    async run(a, p, x, t) {
      if (t.kind !== 'annotation') throw new Error('expected an annotation target');
      const detail = apply(t.annotation, p, x);
      await a.store.putAnnotation(t.annotation);
      return {
        result: t.annotation,
        detail: { id: x.annotationId, ...detail },
        facts: [{ scope: 'change', changeId: t.annotation.changeId, name: fact as never, detail: { id: x.annotationId } }],
      };
    },
    answer: async (_a, _x, annotation) => annotation,
  };
}

const annotationEdit = annotationMutation<'annotation:edit'>('annotation.edit', 'annotation.edit', 'annotation:edited', (a, _p, x) => {
  if (a.deleted) throw new AppError('conflict', 'the annotation was deleted');
  if (!x.body.trim() || x.body.length > 10_000) throw new AppError('invalid_payload', 'an annotation has 1 to 10,000 characters');
  a.body = x.body.trim();
  a.editedAt = nowIso();
  return { body: a.body };
});

const annotationDelete = annotationMutation<'annotation:delete'>('annotation.delete', 'annotation.edit', 'annotation:deleted', (a) => {
  a.deleted = true; // kept for the record: history is never deleted, only hidden
  a.body = '';
  a.editedAt = nowIso();
  return { deleted: true };
});

const annotationResolve = annotationMutation<'annotation:resolve'>('annotation.resolve', 'annotation.resolve', 'annotation:resolved', (a, p, x) => {
  a.resolved = x.resolved;
  if (x.resolved) a.resolvedBy = p.username;
  else delete a.resolvedBy;
  return { resolved: x.resolved };
});

// ---- joint sessions ----

/** A facilitator's command on an open session: the effect changes the session, which is saved and re-projected. */
function facilitate<C extends 'session:agenda' | 'session:goto' | 'session:timer' | 'session:note' | 'session:close' | 'session:rename'>(
  audit: string, effect: (a: Accord, p: Principal, x: CommandInput<C>, s: JointSession) => Promise<Record<string, unknown>>,
): Handler<C, JointSession> {
  return {
    audit,
    action: 'session.facilitate',
    subject: (_a, _p, x) => x.sessionId,
    target: (a, x) => sessionTarget(a, x.sessionId),
    async run(a, p, x, t) {
      const { session, version } = sessionOfTarget(t);
      const detail = await effect(a, p, x, session);
      await a.sessionStore.save(session, version);
      return { result: session, detail, facts: [{ scope: 'session', sessionId: x.sessionId }] };
    },
    answer: (a, x) => sessionOf(a, x.sessionId),
  };
}

const sessionCreate: Handler<'session:create', JointSession> = {
  audit: 'session.create',
  action: 'session.create',
  subject: (_a, p, _x, key) => newId('s-', p, key, 6),
  replayTag: (x) => x.session,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x, _t, _prepared, id) {
    const body = parse(CreateSession, x.session);
    if ((await a.sessionStore.openCount(p.username)) >= MAX_OPEN_PER_FACILITATOR) {
      throw new AppError('conflict', `you already facilitate ${MAX_OPEN_PER_FACILITATOR} open sessions: close one first`);
    }
    const session: JointSession = {
      id, title: body.title, facilitator: p.username, status: 'open', createdAt: iso(now()),
      agenda: await a.sessions.buildAgenda(body.agenda, body.minutesPerItem, []), current: null, timer: { running: false, startedAt: null }, decisions: [],
    };
    await a.sessionStore.insert(session);
    const labels = await Promise.all(session.agenda.map((e) => a.sessions.label(e.changeId)));
    const seed = [`Minutes: ${session.title}`, `Facilitator: ${p.username} · opened ${session.createdAt.slice(0, 10)} ${clock(session.createdAt)}`, 'Agenda:',
      ...labels.map((label, i) => `  ${i + 1}. ${label}`), ''];
    return { result: session, detail: { title: session.title, agenda: session.agenda.map((e) => e.changeId) }, facts: [{ scope: 'session', sessionId: session.id, seed }] };
  },
  answer: (a, _x, session) => sessionOf(a, session.id),
};

const sessionAgenda = facilitate<'session:agenda'>('session.agenda', async (a, _p, x, s) => {
  const body = parse(SetAgenda, { agenda: x.agenda, ...(x.minutesPerItem !== undefined ? { minutesPerItem: x.minutesPerItem } : {}) });
  const currentChange = s.current === null ? null : s.agenda[s.current]!.changeId;
  const agenda = await a.sessions.buildAgenda(body.agenda, body.minutesPerItem, s.agenda);
  const nextCurrent = currentChange === null ? -1 : agenda.findIndex((e) => e.changeId === currentChange);
  if (currentChange !== null && nextCurrent < 0) stopClock(s, now());
  s.agenda = agenda;
  s.current = nextCurrent < 0 ? null : nextCurrent;
  if (s.current === null) s.timer = { running: false, startedAt: null };
  return { agenda: agenda.map((e) => e.changeId) };
});

/** Moves the discussion to agenda item `index`: the old item's clock stops, the new item's starts. */
const sessionGoto = facilitate<'session:goto'>('session.goto', async (_a, _p, x, s) => {
  if (x.index >= s.agenda.length) throw new AppError('invalid_payload', `index: 0 to ${s.agenda.length - 1}`);
  const t = now();
  stopClock(s, t);
  s.current = x.index;
  startClock(s, t);
  return { index: x.index, changeId: s.agenda[x.index]!.changeId };
});

const sessionTimer = facilitate<'session:timer'>('session.timer', async (_a, _p, x, s) => {
  if (s.current === null) throw new AppError('conflict', 'no item is under discussion: move to an agenda item first');
  const t = now();
  if (x.action === 'start') {
    if (!s.timer.running) startClock(s, t);
  } else if (x.action === 'pause') {
    stopClock(s, t);
  } else {
    const running = s.timer.running;
    stopClock(s, t);
    s.agenda[s.current]!.spentMs = 0;
    if (running) startClock(s, t);
  }
  return { action: x.action, item: s.current };
});

/** A decision or remark the facilitator records for the current item (or the session when none). */
const sessionNote = facilitate<'session:note'>('session.note', async (a, p, x, s) => {
  const body = parse(NoteText, x.text);
  if (s.decisions.filter((d) => d.kind === 'note').length >= MAX_NOTES) throw new AppError('conflict', `this session holds ${MAX_NOTES} notes: write further ones into the minutes`);
  const changeId = s.current === null ? null : s.agenda[s.current]!.changeId;
  // Bound to the revision on the table when it was recorded (the audit entry keeps the text too).
  const bound = changeId === null ? {} : revisionOf((await a.store.get(changeId))?.change);
  s.decisions.push({ at: iso(now()), changeId, kind: 'note', text: body, by: p.username, ...bound });
  return { changeId, text: body, ...bound };
});

/**
 * Ends the session: the current item's clock stops (its time is kept), nothing stays under discussion,
 * and each agenda item's status at this moment joins the decision record as its outcome.
 */
const sessionClose = facilitate<'session:close'>('session.close', async (a, p, _x, s) => {
  const t = now();
  stopClock(s, t);
  s.current = null;
  s.status = 'closed';
  s.closedAt = iso(t);
  for (const e of s.agenda) {
    const change = (await a.store.get(e.changeId))?.change;
    s.decisions.push({
      at: s.closedAt, changeId: e.changeId, kind: 'outcome', by: p.username,
      text: `${change ? statusWords(change.status) : 'missing'} when the session closed`, ...revisionOf(change),
    });
  }
  return { decisions: s.decisions.length };
});

/**
 * Renames the session (a typo in the title, a meeting repurposed): the new title is one line, and the
 * change is kept in the decision record, so the record says under which names the session ran.
 */
const sessionRename = facilitate<'session:rename'>('session.rename', async (_a, p, x, s) => {
  const title = parse(SessionTitle, x.title);
  if (title === s.title) throw new AppError('conflict', 'the session already has this title');
  const from = s.title;
  s.title = title;
  s.decisions.push({ at: iso(now()), changeId: null, kind: 'note', text: `renamed from “${oneLine(from)}”`, by: p.username });
  return { from, title };
});

// ---- commands that REST had first ----

/**
 * Adds a co-author: they edit the draft and submit revisions, and like every author never approve or
 * sign off the change. The username must be an Accord user who may request changes.
 */
const invite: Handler<'change:invite', StatusResult> = {
  audit: 'change.invite',
  action: 'change.invite',
  subject: (_a, _p, x) => x.changeId,
  target: (a, x) => changeTarget(a, x.changeId),
  async run(a, _p, x, t) {
    const { change, version } = changeOf(t);
    if (!(await a.isWriter(x.username))) throw new AppError('invalid_payload', `no reviewer "${x.username}" to invite`);
    if (change.authors.includes(x.username)) throw new AppError('conflict', `${x.username} is already an author`);
    change.authors.push(x.username);
    await a.store.save(change, version);
    return {
      result: { id: x.changeId, status: change.status },
      detail: { author: x.username },
      // A new author may now write: draft rights follow (the bridge re-admits on author:added).
      facts: [{ scope: 'change', changeId: x.changeId, name: 'author:added', detail: { author: x.username } }],
    };
  },
  answer: (a, x) => reviewOf(a, x.changeId),
};

const requireSignOff = async (a: Accord, change: ChangeRequest): Promise<void> => {
  if (!(await a.signoffs.hasValidSignOff(change))) throw new AppError('conflict', 'the current revision has no valid sign-off yet');
};

/** Records the outcome of a manual apply (someone pasted the native form): `outcome` given. */
const recordApply = transition<'change:apply'>('change.apply', 'change.apply', (x) => x.outcome ?? 'apply_failed', requireSignOff, (x) => ({ note: x.note, mode: 'manual' }));

/**
 * Applies an approved, signed-off change through its connected target (docs/targets.md): the apply record
 * is stored in this unit of work, the run (plan, steps, verify) starts once it commits and reports through
 * `apply:changed` and, at the end, `status:changed`.
 */
const applyThroughTarget: Handler<'change:apply', StatusResult> = {
  audit: 'change.apply',
  action: 'change.apply',
  subject: (_a, _p, x) => x.changeId,
  target: (a, x) => changeTarget(a, x.changeId),
  async run(a, p, x, t) {
    const { change } = changeOf(t);
    await requireSignOff(a, change);
    const content = change.revisions.at(-1)!.content;
    const target = await a.targets.resolveFor(content);
    const rec = await a.applies.begin(change, target, p.username);
    return {
      result: { id: x.changeId, status: change.status },
      detail: { mode: 'target', target: target.name, revision: rec.revision, revisionHash: rec.revisionHash, note: x.note },
      facts: [{ scope: 'change', changeId: x.changeId, name: 'apply:changed', detail: { state: rec.state } }],
    };
  },
  answer: (a, x) => reviewOf(a, x.changeId),
};

const apply: Handler<'change:apply', StatusResult> = {
  ...applyThroughTarget,
  run: (a, p, x, t, prepared, subject) => (x.outcome === undefined ? applyThroughTarget : recordApply).run(a, p, x, t, prepared, subject),
};

// ---- targets and drift (docs/targets.md) ----

const targetCreate: Handler<'target:create', TargetView> = {
  audit: 'target.create',
  action: 'target.manage',
  subject: (_a, _p, x) => `target:${typeof x.target.name === 'string' ? x.target.name.slice(0, 63) : '?'}`,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x) {
    const parsed = a.targets.parse(x.target);
    const view = await a.targets.save(parsed, p.username);
    // The audit entry names the connection, never its secrets.
    return { result: view, detail: { name: view.name, backend: view.backend, connection: view.connection, secretFields: view.secretFields } };
  },
  answer: async (_a, _x, result) => result,
};

/** Reads a target now: drift against its last approved state, and the backend's inventory from what it holds. */
const targetRead: Handler<'target:read', DriftReport, Observation> = {
  audit: 'target.read',
  action: 'target.manage',
  subject: (_a, _p, x) => `target:${x.name}`,
  async prepare(a, p, x) {
    const d = decide(p, 'target.manage');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    try {
      return await a.drift.observe(x.name);
    } catch (err) {
      if (err instanceof ConnectorError) throw new AppError(err.kind === 'invalid' || err.kind === 'too_large' ? 'invalid_payload' : 'conflict', `target ${x.name}: ${err.kind}: ${err.message}`);
      throw err;
    }
  },
  target: async () => ({ kind: 'none' }),
  async run(a, p, _x, _t, observation) {
    const report = await a.drift.record(observation);
    await a.inventories.putObserved(observation.backend, observation.files, `target:${observation.target}`);
    return {
      result: report,
      detail: { baseline: report.baseline, opened: report.opened.map((f) => ({ id: f.id, kind: f.kind, summary: f.detail.summary })), gone: report.gone, open: report.open.length, by: p.username },
      facts: report.opened.length + report.gone.length > 0 ? [{ scope: 'drift', target: report.target, opened: report.opened.map((f) => ({ id: f.id, summary: f.detail.summary })) }] : [],
    };
  },
  answer: async (_a, _x, result) => result,
};

/** Adopt (the target's state becomes approved) or revert (a change request that undoes the drift goes to review). */
const driftResolve: Handler<'drift:resolve', { findingId: string; resolution: 'adopt' | 'revert' }> = {
  audit: 'drift.resolve',
  action: 'target.manage',
  subject: (_a, _p, x) => `drift:${x.findingId}`,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x) {
    const f = await a.targetRepo.finding(x.findingId);
    if (!f) throw new AppError('not_found', `no drift finding ${x.findingId}`);
    if (f.state !== 'open') throw new AppError('conflict', `drift finding ${f.id} is already ${f.state}`);
    if (x.resolution === 'adopt') await a.drift.adopt(f, p.username);
    else DriftChecker.revertContent(f, 'libvirt'); // refuses what no change request can express, before anything is recorded
    return {
      result: { findingId: f.id, resolution: x.resolution }, detail: { target: f.target, kind: f.kind, summary: f.detail.summary, resolution: x.resolution },
      facts: [{ scope: 'drift', target: f.target, opened: [] }],
    };
  },
  async after(a, p, x, _result, fresh) {
    if (!fresh || x.resolution !== 'revert') return;
    const f = await a.targetRepo.finding(x.findingId);
    const target = f && await a.targetRepo.get(f.target);
    if (!f || !target) return;
    const created = await a.dispatch('change:create', p, { content: DriftChecker.revertContent(f, target.backend as ChangeContent['backend']) });
    const { draftHash } = await a.draft(p, created.id);
    await a.dispatch('change:submit', p, { changeId: created.id, draftHash });
    await a.targetRepo.resolveFinding(f.id, 'reverted', p.username, created.id);
  },
  async answer(a, x) {
    const finding = await a.targetRepo.finding(x.findingId);
    if (!finding) throw new AppError('not_found', `no drift finding ${x.findingId}`);
    return { finding, changeId: finding.changeId };
  },
};

/**
 * Replaces the draft's whole content (REST and CLI users who do not edit the live document): keys the
 * body does not name are removed, so a stray key written over Yjs cannot outlive it. The writer becomes
 * an author of the next revision.
 */
const replaceDraft: Handler<'draft:replace', null> = {
  audit: 'draft.replace',
  action: 'draft.write',
  subject: (_a, _p, x) => x.changeId,
  target: (a, x) => changeTarget(a, x.changeId),
  async run(_a, _p, x) {
    const parsed = parseChangeContent(x.draft);
    if (!parsed.ok) throw new AppError('invalid_payload', parsed.problems.join('; '));
    return { result: null, detail: { items: parsed.content.items.length, title: parsed.content.title } };
  },
  async after(a, p, x, _result, fresh) {
    const parsed = parseChangeContent(x.draft);
    if (!fresh || !parsed.ok) return;
    await a.changes.recordDraftWriter(x.changeId, p.username);
    await a.writeDraft(x.changeId, parsed.content);
  },
  answer: async () => null,
};

/** Validates by importing before storing: a file the backend cannot read is refused with its file and line. */
const importInventory: Handler<'inventory:import', InventoryImportResult> = {
  audit: 'inventory.import',
  action: 'inventory.write',
  subject: (_a, _p, x) => `backend:${x.backend}`,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x) {
    const result = await a.inventories.put(x.backend, x.files, p.username);
    return { result, detail: { version: result.version, warnings: result.warnings, grants: result.grants } };
  },
  answer: async (_a, _x, result) => result,
};

/** Stores a review policy (admins), validated first. */
const writePolicy: Handler<'policy:write', null> = {
  audit: 'policy.write',
  action: 'inventory.write',
  subject: (_a, _p, x) => `policy:${x.name}`,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x) {
    try {
      const policy = parsePolicyYaml(x.yaml, x.name);
      if (policy.name !== x.name) throw new AppError('invalid_payload', `the policy's name is "${policy.name}", not "${x.name}"`);
    } catch (err) {
      if (err instanceof PolicyError) throw new AppError('invalid_payload', err.message);
      throw err;
    }
    await a.store.putPolicy(x.name, x.yaml, p.username);
    return { result: null, detail: { yaml: x.yaml } };
  },
  answer: async () => null,
};

// ---- recertification campaigns (docs/campaigns.md) ----

function campaignRule(p: Principal, action: 'campaign.decide' | 'campaign.close', facts: CampaignFacts): void {
  const d = decide(p, action, { kind: 'campaign', campaign: facts });
  if (!d.allowed) throw new AppError(d.kind === 'state' ? 'conflict' : 'forbidden', d.reason);
}

const campaignFact = (campaignId: string, items?: readonly string[]) => ({ scope: 'campaign' as const, campaignId, ...(items ? { items } : {}) });

const campaignCreate: Handler<'campaign:create', { id: string }> = {
  audit: 'campaign.create',
  action: 'campaign.manage',
  subject: (_a, p, _x, key) => `campaign:${newId('cp-', p, key, 6)}`,
  replayTag: (x) => x.definition,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x, _t, _prepared, subject) {
    let definition: CampaignDefinition;
    try {
      definition = parseCampaignDefinition(x.definition);
    } catch (err) {
      if (err instanceof CampaignDefinitionError) throw new AppError('invalid_payload', err.message);
      throw err;
    }
    const c = await a.campaigns.create(subject.slice('campaign:'.length), definition, p.username, nowIso());
    return { result: { id: c.id }, detail: { id: c.id, definition }, facts: [campaignFact(c.id)] };
  },
  answer: async (a, _x, result) => a.campaigns.view(await a.campaigns.load(result.id)),
};

const campaignStart: Handler<'campaign:start', { id: string; items: number }> = {
  audit: 'campaign.start',
  action: 'campaign.manage',
  subject: (_a, _p, x) => `campaign:${x.campaignId}`,
  target: async () => ({ kind: 'none' }),
  async run(a, _p, x) {
    const c = await a.campaigns.load(x.campaignId);
    const version = c.version;
    const { items } = await a.campaigns.start(c, new Date());
    await a.campaigns.repo.save(c, version);
    return { result: { id: c.id, items }, detail: { items, startedAt: c.startedAt, endsAt: c.endsAt }, facts: [{ ...campaignFact(c.id), started: true }] };
  },
  answer: async (a, x) => a.campaigns.view(await a.campaigns.load(x.campaignId)),
};

const campaignDecide: Handler<'campaign:decide', { decided: number }> = {
  audit: 'campaign.decide',
  action: 'campaign.view',
  subject: (_a, _p, x) => `campaign:${x.campaignId}`,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x) {
    const c = await a.campaigns.load(x.campaignId);
    const ids = [...new Set(x.items)];
    const items = await a.campaigns.repo.itemsById(c.id, ids);
    campaignRule(p, 'campaign.decide', { owner: c.owner, status: c.status, assigned: items.length > 0 && items.every((i) => i.reviewers.includes(p.username)) || items.length < ids.length });
    const decided = await a.campaigns.decide(c, items, ids, x.decision, x.reason, p.username, nowIso());
    return { result: { decided }, detail: { items: ids, decision: x.decision, reason: x.reason }, facts: [campaignFact(c.id, ids)] };
  },
  answer: async (a, x) => a.campaigns.view(await a.campaigns.load(x.campaignId)),
};

/** Closes decisions; revocations become change requests (created after the commit, as the closer). */
const campaignClose: Handler<'campaign:close', { id: string; revocations: ChangeContent[] }> = {
  audit: 'campaign.close',
  action: 'campaign.view',
  subject: (_a, _p, x) => `campaign:${x.campaignId}`,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x) {
    const c = await a.campaigns.load(x.campaignId);
    campaignRule(p, 'campaign.close', { owner: c.owner, status: c.status, assigned: false });
    const version = c.version;
    const { revocations, undecided } = await a.campaigns.close(c, nowIso());
    await a.campaigns.repo.save(c, version);
    return {
      result: { id: c.id, revocations },
      detail: { status: c.status, revocations: revocations.map((r) => ({ backend: r.backend, items: r.items.length })), undecided, defaulted: c.data.defaulted },
      facts: [campaignFact(c.id)],
    };
  },
  async after(a, p, _x, result, fresh) {
    if (!fresh || result.revocations.length === 0) return;
    const created: { backend: string; changeId: string }[] = [];
    for (const content of result.revocations) {
      const change = await a.dispatch('change:create', p, { content });
      const { draftHash } = await a.draft(p, change.id);
      await a.dispatch('change:submit', p, { changeId: change.id, draftHash });
      created.push({ backend: content.backend, changeId: change.id });
    }
    await a.db.transaction(async () => {
      const c = await a.campaigns.load(result.id);
      c.data.revocations = created;
      await a.campaigns.repo.save(c, c.version);
    });
    await a.dispatcher.publish(campaignFact(result.id));
  },
  answer: async (a, x) => a.campaigns.view(await a.campaigns.load(x.campaignId)),
};

/** The owner accepts that a revocation change failed for good: the campaign can close without it. */
const campaignAcceptFailure: Handler<'campaign:accept-failure', { id: string }> = {
  audit: 'campaign.accept_failure',
  action: 'campaign.view',
  subject: (_a, _p, x) => `campaign:${x.campaignId}`,
  target: async () => ({ kind: 'none' }),
  async run(a, p, x) {
    const c = await a.campaigns.load(x.campaignId);
    if (c.owner !== p.username && p.role !== 'admin') throw new AppError('forbidden', 'only the campaign\'s owner or an admin accepts a failed revocation');
    if (c.status !== 'closing') throw new AppError('conflict', `only a closing campaign waits for revocations; this one is ${c.status}`);
    if (!c.data.revocations.some((r) => r.changeId === x.changeId)) throw new AppError('invalid_payload', `${x.changeId} is not one of this campaign's revocations`);
    const status = (await a.store.get(x.changeId))?.change.status;
    if (status === 'applied') throw new AppError('conflict', `${x.changeId} was applied: there is no failure to accept`);
    if (status === 'in_review' || status === 'approved' || status === 'draft') throw new AppError('conflict', `${x.changeId} is ${status}: it may still be applied; accept a failure once it failed, was rejected or withdrawn`);
    const version = c.version;
    if (!c.data.acceptedFailures.includes(x.changeId)) c.data.acceptedFailures.push(x.changeId);
    await a.campaigns.settle(c, nowIso());
    await a.campaigns.repo.save(c, version);
    return { result: { id: c.id }, detail: { changeId: x.changeId, changeStatus: status ?? null, reason: x.reason, status: c.status }, facts: [campaignFact(c.id)] };
  },
  answer: async (a, x) => a.campaigns.view(await a.campaigns.load(x.campaignId)),
};

export const HANDLERS: CommandHandlers<Accord> = {
  'change:create': create,
  'change:submit': submit,
  'change:withdraw': withdraw,
  'change:recuse': recuse,
  'vote:cast': vote,
  'annotation:create': annotationCreate,
  'annotation:edit': annotationEdit,
  'annotation:delete': annotationDelete,
  'annotation:resolve': annotationResolve,
  'session:create': sessionCreate,
  'session:agenda': sessionAgenda,
  'session:goto': sessionGoto,
  'session:timer': sessionTimer,
  'session:note': sessionNote,
  'session:close': sessionClose,
  'session:rename': sessionRename,
  'change:invite': invite,
  'change:apply': apply,
  'draft:replace': replaceDraft,
  'inventory:import': importInventory,
  'policy:write': writePolicy,
  'target:create': targetCreate,
  'target:read': targetRead,
  'drift:resolve': driftResolve,
  'campaign:create': campaignCreate,
  'campaign:start': campaignStart,
  'campaign:decide': campaignDecide,
  'campaign:close': campaignClose,
  'campaign:accept-failure': campaignAcceptFailure,
};
