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
export interface ChangeSummary {
  id: string;
  title: string;
  status: string;
  backend: string;
  requestedBy: string;
  updatedAt: string;
}
