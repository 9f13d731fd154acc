/**
 * What the web app reads from the server, as types only (erased at build): the review document's
 * shapes are the server's own, so a server change that breaks the client fails `npm run typecheck`.
 */
export type { ReviewView, ApplyView } from '../../server/commands/review-view.ts';
/** Drift findings (docs/targets.md): what `GET /api/drift` lists. */
export type { DriftFinding } from '../../server/store/repositories/target-repository.ts';
export type { Revision, Vote, VoteChoice, Recusal, ChangeStatus } from '../../server/domain/review/types.ts';
export type { Annotation, AnnotationAnchor } from '../../server/domain/review/annotations.ts';
export type { Evaluation, RequirementResult } from '../../server/domain/review/policy-eval.ts';
export type { BlastRow, ChangeItem, GrantSpec, BackendId } from '../../server/domain/access/model.ts';
export type { Fact, FactName, CommandName } from '../../server/protocol/events.ts';
export type { ErrorBody } from '../../server/protocol/errors.ts';

/** One row of `GET /api/changes`. */
export type { ChangeSummary } from '../../server/store/repositories/change-repository.ts';
export type { EvidencePack } from '../../server/audit/evidence.ts';
export type { ChangeRequest } from '../../server/domain/review/types.ts';
export type { RenderResult, BlastRadius, BlastGroup, BlastGroups, BlastAnswer, StoredBlastRadius } from '../../server/domain/access/model.ts';
/** Joint sessions: what the `session:` document and `GET /api/joint-sessions/:id` hold. */
export type { SessionView } from '../../server/commands/session-service.ts';
export type { SessionSummary } from '../../server/store/repositories/session-repository.ts';
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
  /** Every row for a small change; a digest with `truncated` for a large one (see Revision.blast). */
  blast: import('../../server/domain/access/model.ts').StoredBlastRadius;
  /** The blast radius grouped and explained: the full detail. */
  blastGroups: import('../../server/domain/access/model.ts').BlastGroups;
  highRisk: boolean;
}

/**
 * Command payloads the web app sends (docs/api.md), typed end to end: the command queue takes and keeps
 * exactly these (the idempotency key is added when sent). Every decision names the content hash its
 * maker saw, captured when they clicked, so a command queued offline still names what they saw and is
 * refused (`revision_changed`, `draft_changed`) if the content moved meanwhile.
 */
export type { CommandPayload, CommandResult } from '../../server/protocol/commands.ts';
/** `vote:cast`: `revisionHash` is the hash of the revision on screen when the user clicked; `revision`, if sent, must agree. */
export type VoteCastPayload = import('../../server/protocol/commands.ts').CommandPayload<'vote:cast'>;
export type RecusePayload = import('../../server/protocol/commands.ts').CommandPayload<'change:recuse'>;
/** `change:submit`: `draftHash` is SHA-256 (lower-case hex) of `canonicalJson(readDraft(doc))` of the draft on screen. */
export type SubmitPayload = import('../../server/protocol/commands.ts').CommandPayload<'change:submit'>;
export type AnnotationCreatePayload = import('../../server/protocol/commands.ts').CommandPayload<'annotation:create'>;
export type AnnotationResolvePayload = import('../../server/protocol/commands.ts').CommandPayload<'annotation:resolve'>;

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
