import type { Evaluation } from '../domain/review/policy.ts';
import type { Annotation } from '../domain/review/annotations.ts';
import type { ChangeRequest, Vote } from '../domain/review/types.ts';
import { classifyVotes, tallyChange } from '../domain/review/votes.ts';
import type { SignOffView } from './signoff-service.ts';
import type { ApplyRecord, LiveGrant, StepRecord } from '../store/repositories/target-repository.ts';

/** An apply through a connected target (docs/targets.md): where it stands, per item and step, and the live grants. */
export type ApplyView = Pick<ApplyRecord, 'state' | 'target' | 'revision' | 'revisionHash' | 'items' | 'warnings' | 'difference' | 'error' | 'startedBy' | 'startedAt' | 'updatedAt' | 'verifiedAt'> & {
  steps: (Pick<StepRecord, 'status' | 'attempts' | 'error'> & Pick<StepRecord['step'], 'describe' | 'itemIds'>)[];
  grants: (Pick<LiveGrant, 'itemId' | 'notAfter' | 'state'> & { lastError?: string; revokedAt?: string })[];
};

export interface ReviewView {
  id: string;
  title: string;
  status: ChangeRequest['status'];
  requestedBy: string;
  authors: string[];
  createdAt: string;
  policy: string;
  revisions: ChangeRequest['revisions'];
  votes: (Vote & { stale: boolean })[];
  tally: ReturnType<typeof tallyChange> | null;
  recusals: ChangeRequest['recusals'];
  evaluation: Evaluation | null;
  /** Policy rules a client needs before acting (e.g. ask for a reason before sending a reject). */
  rules: { requireRejectReason: boolean };
  annotations: Annotation[];
  signoffs: Omit<SignOffView, 'assertion'>[];
  /** The apply through a connected target; null before one (a manual apply is only the status). */
  apply: ApplyView | null;
}

/** Everything a reviewer sees of a change: what REST returns and what the `review:` document holds. */
export function buildReviewView(change: ChangeRequest, annotations: Annotation[], signoffs: SignOffView[], evaluation: Evaluation | null, rules: ReviewView['rules'], apply: ApplyView | null = null): ReviewView {
  const { stale } = classifyVotes(change);
  const staleSet = new Set(stale);
  return {
    id: change.id,
    title: change.revisions.at(-1)?.content.title ?? '',
    status: change.status,
    requestedBy: change.requestedBy,
    authors: change.authors,
    createdAt: change.createdAt,
    policy: change.policy,
    revisions: change.revisions,
    votes: change.votes.map((v) => ({ ...v, stale: staleSet.has(v) })),
    tally: change.revisions.length ? tallyChange(change) : null,
    recusals: change.recusals,
    evaluation,
    rules,
    annotations,
    signoffs: signoffs.map(({ assertion: _assertion, ...rest }) => rest),
    apply,
  };
}
