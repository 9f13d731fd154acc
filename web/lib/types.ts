/**
 * What the web app reads from the server, as types only (erased at build): the review document's
 * shapes are the server's own, so a server change that breaks the client fails `npm run typecheck`.
 */
export type { ReviewView } from '../../server/commands/review-view.ts';
export type { Revision, Vote, VoteChoice, Recusal, ChangeStatus } from '../../server/domain/review/types.ts';
export type { Annotation, AnnotationAnchor } from '../../server/domain/review/annotations.ts';
export type { Evaluation, RequirementResult } from '../../server/domain/review/policy-eval.ts';
export type { BlastRow, ChangeItem, GrantSpec, BackendId } from '../../server/domain/access/model.ts';
export type { Fact, FactName, CommandName } from '../../server/protocol/events.ts';
export type { ErrorBody } from '../../server/protocol/errors.ts';

/** One row of `GET /api/changes`. */
export type { ChangeSummary } from '../../server/store/sqlite/change-store.ts';
export type { EvidencePack } from '../../server/audit/evidence.ts';
export type { ChangeRequest } from '../../server/domain/review/types.ts';
export type { RenderResult, BlastRadius } from '../../server/domain/access/model.ts';
/** Joint sessions: what the `session:` document and `GET /api/joint-sessions/:id` hold. */
export type { SessionView } from '../../server/commands/session-service.ts';
export type { SessionSummary } from '../../server/store/sqlite/session-store.ts';
export type { SessionDecision } from '../../server/domain/session/types.ts';

/** `GET /api/inventories/:backend`: what autocompletion offers. */
export interface Inventory {
  backend: string;
  principals: { id: string; kind: string }[];
  resources: { id: string; kind: string }[];
  roles: string[];
  warnings: { file?: string; line?: number; message: string }[];
}

/** `POST /api/preview`: what a draft would do, written nowhere. */
export interface Preview {
  rendered: import('../../server/domain/access/model.ts').RenderResult;
  blast: import('../../server/domain/access/model.ts').BlastRadius;
  highRisk: boolean;
}

/**
 * Command payloads the web app sends (docs/api.md), typed end to end: the command queue takes and keeps
 * exactly these (the idempotency key is added when sent). Every decision names the content hash its
 * maker saw, captured when they clicked, so a command queued offline still names what they saw and is
 * refused (`revision_changed`, `draft_changed`) if the content moved meanwhile.
 */
export interface VoteCastPayload {
  changeId: string;
  choice: import('../../server/domain/review/types.ts').VoteChoice;
  /** The hash of the revision on screen when the user clicked (64 lower-case hex). */
  revisionHash: string;
  /** That revision's number; the server checks it agrees with the hash. */
  revision?: number;
  reason?: string;
  itemId?: string;
}
export interface RecusePayload {
  changeId: string;
  reason: string;
  revisionHash: string;
}
export interface SubmitPayload {
  changeId: string;
  /** SHA-256 (lower-case hex) of `canonicalJson(readDraft(doc))` of the draft on screen. */
  draftHash: string;
}
export interface AnnotationCreatePayload {
  changeId: string;
  annotation: { anchor: import('../../server/domain/review/annotations.ts').AnnotationAnchor; body: string; parentId?: string };
}
export interface AnnotationResolvePayload {
  annotationId: string;
  resolved: boolean;
}
/** The payload of each command; commands the web app does not send through the queue stay loosely typed. */
export type CommandPayload<N extends import('../../server/protocol/events.ts').CommandName> =
  N extends 'vote:cast' ? VoteCastPayload
  : N extends 'change:recuse' ? RecusePayload
  : N extends 'change:submit' ? SubmitPayload
  : N extends 'annotation:create' ? AnnotationCreatePayload
  : N extends 'annotation:resolve' ? AnnotationResolvePayload
  : Record<string, unknown>;

/** Refusals the web app explains in place rather than only listing: the content named by the command's hash is no longer current. */
export const REVISION_CHANGED = 'revision_changed';
export const DRAFT_CHANGED = 'draft_changed';
export function isRefusal(error: { code: string } | undefined, code: typeof REVISION_CHANGED | typeof DRAFT_CHANGED): boolean {
  return error?.code === code;
}

/**
 * Everyone who wrote any part of a revision (requester, invited authors, anyone who edited its draft,
 * the submitter): they may reject or abstain, never approve or sign it off. Empty for revisions stored
 * before the server recorded it.
 */
export function revisionAuthors(revision: import('../../server/domain/review/types.ts').Revision | undefined): string[] {
  return Array.isArray(revision?.authors) ? revision.authors : [];
}
