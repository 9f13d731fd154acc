/** Test builders for changes, revisions and votes: hashes are computed, never hand-written. */
import type { ChangeItem } from '../../../server/domain/access/model.ts';
import type { ChangeContent, ChangeRequest, Reviewer, Revision, Vote, VoteChoice } from '../../../server/domain/review/types.ts';
import { hashContent, hashEnvelope, hashItems } from '../../../server/domain/review/canonical.ts';

export function item(id: string, principal: string, resource = '/vms/100', role = 'PVEVMUser'): ChangeItem {
  return { id, op: 'add', grant: { principal, role, resource, propagate: false, effect: 'allow' } };
}

export function content(items: ChangeItem[], extra: Partial<ChangeContent> = {}): ChangeContent {
  return { title: 'Console for the on-call team', justification: 'incident 42', backend: 'proxmox', items, ...extra };
}

export function revision(number: number, c: ChangeContent, opts: { submittedBy?: string; highRisk?: boolean } = {}): Revision {
  return {
    number,
    hash: hashContent(c),
    itemHashes: hashItems(c.items),
    envelopeHash: hashEnvelope(c, { policy: 'default', inventoryVersion: 1 }),
    content: c,
    submittedBy: opts.submittedBy ?? 'rita',
    submittedAt: `2025-01-0${number}T10:00:00Z`,
    rendered: { format: 'text/plain', text: '', items: [], replaces: [], warnings: [] },
    blast: { gained: [], lost: [] },
    highRisk: opts.highRisk ?? false,
  };
}

export function vote(voter: string, choice: VoteChoice, rev: Revision, opts: { itemId?: string; reason?: string } = {}): Vote {
  const v: Vote = { voter, choice, revision: rev.number, revisionHash: rev.hash, castAt: '2025-01-10T10:00:00Z' };
  if (opts.reason !== undefined) v.reason = opts.reason;
  if (opts.itemId !== undefined) {
    v.itemId = opts.itemId;
    const h = rev.itemHashes[opts.itemId];
    if (h === undefined) throw new Error(`no item ${opts.itemId} in revision ${rev.number}`);
    v.itemHash = h;
    if (rev.envelopeHash !== undefined) v.envelopeHash = rev.envelopeHash;
  }
  return v;
}

export function change(revisions: Revision[], votes: Vote[], extra: Partial<ChangeRequest> = {}): ChangeRequest {
  return {
    id: 'c1', status: 'in_review', requestedBy: 'rita', authors: ['rita'], createdAt: '2025-01-01T09:00:00Z',
    revisions, votes, recusals: [], policy: 'default', ...extra,
  };
}

const r = (username: string, role: Reviewer['role'], groups: string[] = []): Reviewer => ({ username, role, groups });

/** rita requests; ana, ben, ivo review; carl and dora are security; lena leads; vic only views. */
export const PEOPLE: Reviewer[] = [
  r('rita', 'reviewer', ['ops']),
  r('ana', 'reviewer', ['ops']),
  r('ben', 'reviewer'),
  r('ivo', 'reviewer', ['ops']),
  r('carl', 'reviewer', ['security']),
  r('dora', 'approver', ['security']),
  r('lena', 'approver', ['team-leads']),
  r('vic', 'viewer', ['security']),
];

/** A two-item change in one revision, the common starting point. */
export function twoItems(opts: { highRisk?: boolean; extra?: Partial<ChangeContent> } = {}): Revision {
  return revision(1, content([item('i1', 'ops'), item('i2', 'ana@pve', '/vms/200')], opts.extra), opts);
}
