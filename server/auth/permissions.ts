import type { DocAccess } from '../protocol/events.ts';
import type { ChangeStatus } from '../domain/review/types.ts';
import { atLeast, type Principal, type Scope } from './roles.ts';

/**
 * The one rule book: every "may X do Y?" question in Accord is answered here, for REST, Socket.io
 * commands, document joins and the CLI alike. `ACTIONS` lists every action; the matrix test in
 * test/auth/permissions.test.ts enumerates them, so an action added without a rule fails the build.
 */
export const ACTIONS = [
  'notes.read', 'notes.write',
  'change.create', 'change.view', 'draft.write', 'change.submit', 'change.withdraw', 'change.invite',
  'change.vote', 'change.approve', 'change.recuse', 'change.signoff', 'change.apply',
  'annotation.create', 'annotation.edit', 'annotation.resolve',
  'session.create', 'session.view', 'session.facilitate',
  'inventory.read', 'inventory.write', 'passkey.register',
  'token.manage', 'user.manage', 'target.manage',
  'campaign.view', 'campaign.manage', 'campaign.decide', 'campaign.close', 'campaign.signoff', 'webhook.manage',
  'audit.view',
] as const;
export type ActionName = (typeof ACTIONS)[number];

/** What the rule needs to know about a change: who asked for it, who writes it, where it stands. */
export interface ChangeFacts {
  requestedBy: string;
  authors: readonly string[];
  status: ChangeStatus;
  recused: readonly string[];
  /** Everyone who wrote any part of the current revision (draft writers included); absent before one exists. */
  revisionAuthors?: readonly string[];
  /** The current revision's number (for reasons that name it); absent before one exists. */
  revision?: number;
}

export interface AnnotationFacts {
  author: string;
}

/** What the rule needs to know about a joint session. */
export interface SessionFacts {
  facilitator: string;
  status: 'open' | 'closed';
}

/** What the rule needs to know about a recertification campaign, for one user. */
export interface CampaignFacts {
  owner: string;
  status: 'draft' | 'active' | 'closing' | 'closed';
  /** Is the user a reviewer of every item the action is about? */
  assigned: boolean;
}

export type Resource =
  | { kind: 'none' }
  | { kind: 'campaign'; campaign: CampaignFacts }
  | { kind: 'session'; session: SessionFacts }
  | { kind: 'change'; change: ChangeFacts }
  | { kind: 'annotation'; change: ChangeFacts; annotation: AnnotationFacts };

/** A refusal is either about who you are (`forbidden`) or about where the change stands (`state`: conflict). */
export type Decision = { allowed: true } | { allowed: false; reason: string; kind: 'forbidden' | 'state' };

const allow: Decision = { allowed: true };
const deny = (reason: string): Decision => ({ allowed: false, reason, kind: 'forbidden' });
const closed = (reason: string): Decision => ({ allowed: false, reason, kind: 'state' });

function isAuthor(p: Principal, c: ChangeFacts): boolean {
  return c.requestedBy === p.username || c.authors.includes(p.username);
}

const AMENDABLE: readonly ChangeStatus[] = ['draft', 'in_review', 'approved', 'rejected'];

const READ: readonly ActionName[] = ['notes.read', 'change.view', 'inventory.read', 'session.view', 'campaign.view'];
/** What each credential scope permits at most; the role and the change's state then decide. */
const SCOPE_ACTIONS: Record<Scope, readonly ActionName[] | 'all'> = {
  full: 'all',
  admin: 'all',
  read: READ,
  vote: [...READ, 'change.vote', 'change.approve', 'change.recuse', 'annotation.create', 'annotation.edit', 'annotation.resolve', 'campaign.decide'],
  signoff: [...READ, 'change.signoff', 'passkey.register', 'campaign.signoff'],
};

function scopeAllows(scope: Scope, action: ActionName): boolean {
  const allowed = SCOPE_ACTIONS[scope];
  return allowed === 'all' || allowed.includes(action);
}

/** The rules. Each returns allowed or a reason a person can read. */
export function decide(p: Principal, action: ActionName, resource: Resource = { kind: 'none' }): Decision {
  const scope = p.scope ?? 'full';
  if (!scopeAllows(scope, action)) return deny(`this token's scope (${scope}) does not allow ${action}`);
  const change = resource.kind === 'change' || resource.kind === 'annotation' ? resource.change : undefined;
  switch (action) {
    case 'notes.read':
    case 'change.view':
    case 'inventory.read':
    case 'session.view':
    case 'campaign.view':
      return allow; // every signed-in user reads along: review is transparent by design
    case 'notes.write':
      return atLeast(p.role, 'reviewer') ? allow : deny('viewers read along; writing needs the reviewer role');
    case 'change.create':
      return atLeast(p.role, 'reviewer') ? allow : deny('requesting a change needs the reviewer role');
    case 'draft.write': {
      if (!change) return deny('no change');
      // Amending a decided change reopens it on submit: sign-offs and votes bind to the old hash.
      if (!AMENDABLE.includes(change.status)) return closed(`the change is ${change.status}`);
      if (isAuthor(p, change)) return allow;
      // Reviewers may propose amendments once the change is in review.
      return change.status !== 'draft' && atLeast(p.role, 'reviewer') ? allow : deny('only authors edit a draft');
    }
    case 'change.submit': {
      if (!change) return deny('no change');
      if (!['draft', 'in_review', 'approved', 'rejected'].includes(change.status)) return closed(`the change is ${change.status}`);
      if (isAuthor(p, change)) return allow;
      return change.status !== 'draft' && atLeast(p.role, 'reviewer') ? allow : deny('only an author submits a draft');
    }
    case 'change.withdraw':
      if (!change) return deny('no change');
      if (!['draft', 'in_review', 'approved', 'rejected'].includes(change.status)) return closed(`the change is ${change.status}`);
      return change.requestedBy === p.username || p.role === 'admin' ? allow : deny('only the requester or an admin withdraws');
    case 'change.invite':
      if (!change) return deny('no change');
      if (!AMENDABLE.includes(change.status)) return closed(`the change is ${change.status}`);
      return change.requestedBy === p.username || p.role === 'admin' ? allow : deny('only the requester or an admin invites co-authors');
    case 'change.vote':
      if (!change) return deny('no change');
      if (change.status !== 'in_review') return closed(`votes are closed: the change is ${change.status}`);
      if (!atLeast(p.role, 'reviewer')) return deny('voting needs the reviewer role');
      if (change.recused.includes(p.username)) return deny('you recused yourself from this change');
      return allow;
    case 'change.approve': {
      // Approving is voting, and never by anyone who wrote the change or any part of this revision: the
      // one home of the no-self-approval rule (the vote command, the home page's lists and the web app ask it).
      const vote = decide(p, 'change.vote', resource);
      if (!vote.allowed || !change) return vote;
      if (isAuthor(p, change)) return deny('you are an author of this change: you can reject or abstain, not approve');
      if (change.revisionAuthors?.includes(p.username)) {
        const which = change.revision === undefined ? 'this revision' : `revision ${change.revision}`;
        return deny(`you edited the draft of ${which}, so you are one of its authors: you can reject or abstain, not approve`);
      }
      return allow;
    }
    case 'change.recuse':
      if (!change) return deny('no change');
      if (change.status !== 'in_review') return closed(`the change is ${change.status}`);
      return atLeast(p.role, 'reviewer') ? allow : deny('recusal is for reviewers');
    case 'change.signoff':
      if (!change) return deny('no change');
      if (change.status !== 'approved') return closed(`only an approved change is signed off; this one is ${change.status}`);
      if (!atLeast(p.role, 'approver')) return deny('signing off needs the approver role');
      if (isAuthor(p, change)) return deny('a requester or author never signs off their own change');
      if (change.revisionAuthors?.includes(p.username)) return deny('you wrote part of this revision, so you cannot sign it off');
      return allow;
    case 'change.apply':
      if (!change) return deny('no change');
      // apply_failed: Apply may be pressed again (it resumes or re-plans from what the target holds).
      if (change.status !== 'approved' && change.status !== 'apply_failed') return closed(`only an approved change is applied; this one is ${change.status}`);
      return p.role === 'admin' ? allow : deny('applying a change needs the admin role');
    case 'webhook.manage':
      return p.role === 'admin' ? allow : deny('managing webhooks needs the admin role');
    case 'campaign.manage':
      return p.role === 'admin' ? allow : deny('defining and starting campaigns needs the admin role');
    case 'campaign.decide': {
      if (resource.kind !== 'campaign') return deny('no campaign');
      if (resource.campaign.status !== 'active') return closed(`decisions are closed: the campaign is ${resource.campaign.status}`);
      return resource.campaign.assigned ? allow : deny('you are not a reviewer of these items');
    }
    case 'campaign.signoff': {
      // A reviewer signs the decisions they made, with a passkey, once the campaign has started.
      if (resource.kind !== 'campaign') return deny('no campaign');
      if (resource.campaign.status === 'draft') return closed('the campaign has not started');
      return resource.campaign.assigned ? allow : deny('you are not a reviewer of this campaign');
    }
    case 'campaign.close': {
      if (resource.kind !== 'campaign') return deny('no campaign');
      if (resource.campaign.status !== 'active') return closed(`only an active campaign is closed; this one is ${resource.campaign.status}`);
      return resource.campaign.owner === p.username || p.role === 'admin' ? allow : deny('only the campaign\'s owner or an admin closes it');
    }
    case 'target.manage':
      return p.role === 'admin' ? allow : deny('connecting and reading targets needs the admin role');
    case 'annotation.create':
      if (!change) return deny('no change');
      if (['withdrawn', 'applied'].includes(change.status)) return closed(`the change is ${change.status}`);
      return atLeast(p.role, 'reviewer') || isAuthor(p, change) ? allow : deny('annotating needs the reviewer role');
    case 'annotation.edit':
      if (resource.kind !== 'annotation') return deny('no annotation');
      return resource.annotation.author === p.username ? allow : deny('only its author edits or deletes an annotation');
    case 'annotation.resolve':
      if (!change) return deny('no change');
      return atLeast(p.role, 'reviewer') ? allow : deny('resolving needs the reviewer role');
    case 'session.create':
      return atLeast(p.role, 'reviewer') ? allow : deny('running a joint session needs the reviewer role');
    case 'session.facilitate': {
      if (resource.kind !== 'session') return deny('no session');
      if (resource.session.status !== 'open') return closed('the session is closed');
      // The facilitator runs the session; an admin may take over when the facilitator drops out.
      return resource.session.facilitator === p.username || p.role === 'admin' ? allow : deny('only the facilitator runs the session');
    }
    case 'inventory.write':
      return p.role === 'admin' ? allow : deny('importing backend inventories needs the admin role');
    case 'passkey.register':
      // Approvers sign off changes; reviewers sign their campaign decisions.
      return atLeast(p.role, 'reviewer') ? allow : deny('passkeys are for reviewers and approvers');
    case 'token.manage':
      return allow; // one's own API tokens; scoped tokens cannot mint or revoke tokens (see SCOPE_ACTIONS)
    case 'user.manage':
      return p.role === 'admin' ? allow : deny('managing accounts needs the admin role');
    case 'audit.view':
      // The log names every actor and subject: browsing and verifying it is an admin's (auditors get packs).
      return p.role === 'admin' ? allow : deny('browsing the audit log needs the admin role');
  }
}

export function can(p: Principal, action: ActionName, resource?: Resource): boolean {
  return decide(p, action, resource).allowed;
}

/** The access level for a `notes:` document, or null. Change documents ask `changeDocAccess`. */
export function notesAccess(p: Principal): DocAccess | null {
  if (can(p, 'notes.write')) return 'write';
  return can(p, 'notes.read') ? 'read' : null;
}

/** `session:` documents are server-written (facilitator commands): everyone who may view reads them. */
export function sessionDocAccess(p: Principal): DocAccess | null {
  return can(p, 'session.view') ? 'read' : null;
}

/** `review:` documents are server-written: everyone who may view reads them. `draft:` follows draft.write. */
export function changeDocAccess(p: Principal, kind: 'review' | 'draft', change: ChangeFacts): DocAccess | null {
  if (!can(p, 'change.view', { kind: 'change', change })) return null;
  if (kind === 'review') return 'read';
  return can(p, 'draft.write', { kind: 'change', change }) ? 'write' : 'read';
}
