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
