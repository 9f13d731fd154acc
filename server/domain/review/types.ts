/**
 * The review workflow's data (DESIGN.md §4). Pure types: no I/O. Commands in server/commands/ create
 * and change these; the server writes them into the `review:<id>` Yjs document for clients to read.
 */
import type { BackendId, BlastGroups, ChangeItem, RenderResult, StoredBlastRadius } from '../access/model.ts';

/** The status values of the public API, in workflow order. */
export const CHANGE_STATUSES = ['draft', 'in_review', 'approved', 'rejected', 'withdrawn', 'applied', 'apply_failed'] as const;
export type ChangeStatus = (typeof CHANGE_STATUSES)[number];

export type VoteChoice = 'approve' | 'reject' | 'abstain';

/** Who acts, as the review workflow sees them: Accord identity, role and group memberships. */
export interface Reviewer {
  username: string;
  role: 'viewer' | 'reviewer' | 'approver' | 'admin';
  groups: readonly string[];
}

/** What a requester proposes; the content that revisions snapshot and hash. */
export interface ChangeContent {
  title: string;
  justification: string;
  backend: BackendId;
  items: ChangeItem[];
  ticket?: string;
  /** The connected target the change applies to (docs/targets.md); absent: the only target of its backend. */
  target?: string;
  /** Requested duration of the access in hours (time-bound access); absent = permanent. */
  durationHours?: number;
  /** Free-form environment tags (e.g. `prod`) that policies can select on. */
  environment?: string[];
}

export interface Revision {
  /** 1, 2, 3... never rewritten. */
  number: number;
  /** SHA-256 (hex) over the canonical JSON of the content (server/domain/review/canonical.ts). */
  hash: string;
  /** SHA-256 (hex) per item id over the canonical JSON of that item: votes on unchanged items carry over. */
  itemHashes: Record<string, string>;
  /**
   * SHA-256 (hex) over everything a reviewer sees that is not an item (server/domain/review/canonical.ts
   * `hashEnvelope`): title, justification, backend, ticket, duration, environment, the governing policy,
   * the inventory version the blast radius was computed on. Item votes carry over only while it is unchanged.
   * Absent on revisions stored before it existed (they are read as having a unique envelope).
   */
  envelopeHash?: string;
  /** Everyone who wrote any part of this revision: requester, invited authors, draft writers, submitter. */
  authors?: string[];
  content: ChangeContent;
  submittedBy: string;
  submittedAt: string;
  rendered: RenderResult;
  /**
   * The blast radius as rows (the contract since revision 1): every row when the change has at most
   * BLAST_ROWS_LIMIT (2,000) of them; above, a digest with one row per (principal, privilege) and
   * direction plus `truncated` holding the full counts. `blastGroups` holds the full detail.
   */
  blast: StoredBlastRadius;
  /**
   * The blast radius grouped and explained (server/domain/access/blast-groups.ts): exact, expandable to
   * every row. Absent on revisions stored before it existed (read them with `groupBlastRows(blast)`).
   */
  blastGroups?: BlastGroups;
  /** True when any gained privilege is high-risk. */
  highRisk: boolean;
}

export interface Vote {
  voter: string;
  choice: VoteChoice;
  reason?: string;
  /** The revision the vote was cast on, and its hash. */
  revision: number;
  revisionHash: string;
  /** Present for a vote on one item; absent for a vote on the whole revision. */
  itemId?: string;
  /** Hash of that item in the revision the vote was cast on. */
  itemHash?: string;
  /** For an item vote: the envelope hash of the revision it was cast on (see Revision.envelopeHash). */
  envelopeHash?: string;
  castAt: string;
}

export interface Recusal {
  reviewer: string;
  reason: string;
  at: string;
}

export interface ChangeRequest {
  id: string;
  status: ChangeStatus;
  requestedBy: string;
  authors: string[];
  createdAt: string;
  revisions: Revision[];
  /** Every vote ever cast, in order; a changed vote appends, the latest per (voter, item) counts. */
  votes: Vote[];
  recusals: Recusal[];
  /** Name of the policy that governs this change (chosen at submit by its selectors). */
  policy: string;
}
