/**
 * The policy engine: a pure function of a change, its policy and who is who (DESIGN.md §4). The
 * server reruns it after every command and writes the result into the review document, so every
 * client sees each requirement's progress live. Semantics: docs/policies.md.
 *
 * The steps: (1) votes.ts says which votes are bound to the current content; (2) votes of people who
 * may not weigh are dropped (requester, authors, the current revision's submitter, beneficiaries,
 * recused reviewers, unknown users) and so are rejects without a reason when the policy wants one;
 * (3) each remaining voter gets one stance on the revision; (4) vetoes, presence and stages are read
 * from those stances.
 */
import type { ChangeRequest, Reviewer, Vote } from './types.ts';
import { classifyVotes, currentRevision } from './votes.ts';
import { REVIEWER_ROLES, type Policy, type Requirement, type ReviewerClass } from './policy-schema.ts';

export type Decision = 'approved' | 'rejected' | 'pending';

export interface RequirementResult {
  id: string;
  /** The stage the row belongs to; absent for vetoes and presence, which hold across stages. */
  stage?: string;
  description: string;
  met: boolean;
  why: string;
}

export interface Evaluation {
  policy: string;
  decision: Decision;
  /** Vetoes first, then presence, then every stage's requirements (parents before children). */
  requirements: RequirementResult[];
  /** Votes that were seen but do not weigh, and why: "ben's vote does not count: ben requested this change". */
  notes: string[];
}

export interface EvaluationInput {
  change: ChangeRequest;
  policy: Policy;
  /** Accord users as they are now (role, groups): class membership is read at evaluation time. */
  reviewers: readonly Reviewer[];
  /** Usernames who gain access through the change, directly or through a group (computed by the caller). */
  beneficiaries: readonly string[];
  /** Usernames present in the live session; absent when there is none. */
  present?: readonly string[];
}

type Stance = 'approve' | 'reject' | 'abstain' | 'none';

interface VoterState {
  reviewer: Reviewer;
  stance: Stance;
  /** `by items`: the approval comes from approving every item. */
  derived: boolean;
  wholeReject?: Vote;
  itemRejects: Vote[];
}

const rank = (role: Reviewer['role']) => REVIEWER_ROLES.indexOf(role);
const list = (names: readonly string[]) => names.join(', ');
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Class membership: every criterion the class sets must match; voting needs the reviewer role. */
export function isMember(cls: ReviewerClass, r: Reviewer): boolean {
  if (rank(r.role) < rank('reviewer')) return false;
  if (cls.role && rank(r.role) < rank(cls.role)) return false;
  if (cls.groups && !cls.groups.some((g) => r.groups.includes(g))) return false;
  if (cls.users && !cls.users.includes(r.username)) return false;
  return true;
}

function choiceWord(v: Vote): string {
  return v.itemId === undefined ? `${v.choice} of revision ${v.revision}` : `${v.choice} on item ${v.itemId} (revision ${v.revision})`;
}

export function evaluate(input: EvaluationInput): Evaluation {
  const { change, policy } = input;
  const current = currentRevision(change);
  const notes: string[] = [];
  const directory = new Map(input.reviewers.map((r) => [r.username, r]));

  // Who may never weigh, with the first reason that applies (the order is the order of the checks).
  const excluded = new Map<string, string>();
  const exclude = (u: string, why: string) => { if (!excluded.has(u)) excluded.set(u, why); };
  exclude(change.requestedBy, 'requested this change');
  for (const a of change.authors) exclude(a, 'is an author of this change');
  if (current) exclude(current.submittedBy, `submitted revision ${current.number}`);
  for (const a of current?.authors ?? []) exclude(a, `wrote part of revision ${current!.number}`);
  for (const b of input.beneficiaries) exclude(b, 'gains access through this change');
  for (const r of change.recusals) exclude(r.reviewer, `recused (${r.reason})`);

  const { counted, stale } = classifyVotes(change);
  // Report a stale vote only while it is the voter's latest word on that target and nothing current replaces it.
  const key = (v: Vote) => JSON.stringify([v.voter, v.itemId ?? null]);
  const countedKeys = new Set(counted.map(key));
  const lastStale = new Map(stale.map((v) => [key(v), v]));
  for (const v of lastStale.values()) {
    if (countedKeys.has(key(v))) continue;
    const what = v.itemId === undefined ? 'the revision changed'
      : !current || !Object.hasOwn(current.itemHashes, v.itemId) ? 'the item was removed'
      : current.itemHashes[v.itemId] !== v.itemHash ? 'the item changed'
      : 'what surrounds the items changed (title, justification, duration, environment, ticket, policy or inventory)';
    notes.push(`${v.voter}'s ${choiceWord(v)} is stale: ${what}`);
  }

  const byVoter = new Map<string, Vote[]>();
  for (const v of counted) byVoter.set(v.voter, [...(byVoter.get(v.voter) ?? []), v]);
  const itemIds = current ? Object.keys(current.itemHashes) : [];
  const voters = new Map<string, VoterState>();
  for (const [name, votes] of byVoter) {
    const reviewer = directory.get(name);
    if (excluded.has(name) || !reviewer) {
      notes.push(`${name}'s vote does not count: ${name} ${excluded.get(name) ?? 'is not a known reviewer'}`);
      continue;
    }
    const unreasoned = (v: Vote) => v.choice === 'reject' && policy.requireRejectReason && !v.reason?.trim();
    for (const v of votes.filter(unreasoned)) notes.push(`${name}'s ${choiceWord(v)} does not count: a reject needs a reason`);
    const whole = votes.find((v) => v.itemId === undefined);
    const items = votes.filter((v) => v.itemId !== undefined && !unreasoned(v));
    const itemRejects = items.filter((v) => v.choice === 'reject');
    const state: VoterState = { reviewer, stance: 'none', derived: false, itemRejects };
    if (whole && !unreasoned(whole)) {
      state.stance = whole.choice;
      if (whole.choice === 'reject') state.wholeReject = whole;
    } else if (!whole && itemIds.length > 0 && itemIds.every((id) => items.some((v) => v.itemId === id && v.choice === 'approve'))) {
      // A voter who approved every item of this revision has approved it (docs/policies.md).
      state.stance = 'approve';
      state.derived = true;
    }
    if (state.stance === 'approve' && itemRejects.length > 0) {
      notes.push(`${name}'s approval does not count while ${name} still rejects item ${list(itemRejects.map((v) => v.itemId ?? ''))}`);
      state.stance = 'none';
    }
    // A voter with nothing that weighs (only an unreasoned reject) is not a participant either.
    if (state.stance !== 'none' || items.length > 0) voters.set(name, state);
  }

  const classOf = (name: string) => (Object.hasOwn(policy.classes, name) ? policy.classes[name] : undefined);
  const requirements: RequirementResult[] = [];

  // Vetoes hold in every stage: a reject from a veto class is never "not yet relevant".
  let vetoed = false;
  for (const cls of Object.values(policy.classes).filter((c) => c.veto)) {
    const reasons: string[] = [];
    for (const [name, s] of voters) {
      if (!isMember(cls, s.reviewer)) continue;
      if (s.wholeReject) reasons.push(`vetoed by ${name} (${cls.name}): ${s.wholeReject.reason ?? 'no reason given'}`);
      if (policy.itemRejects === 'veto') {
        for (const v of s.itemRejects) reasons.push(`vetoed by ${name} (${cls.name}) on item ${v.itemId}: ${v.reason ?? 'no reason given'}`);
      }
    }
    if (reasons.length > 0) vetoed = true;
    const kind = policy.itemRejects === 'veto' ? 'reject (whole or item)' : 'reject';
    requirements.push({
      id: `veto:${cls.name}`, description: `no veto from ${cls.name}`, met: reasons.length === 0,
      why: reasons.length > 0 ? reasons.join('; ') : `no counted ${kind} from ${cls.name}`,
    });
  }

  let presenceMet = true;
  if (policy.presence) {
    const min = policy.presence.minimum;
    const present = input.present ? [...voters.keys()].filter((v) => input.present?.includes(v)) : [];
    presenceMet = present.length >= min;
    const why = !input.present
      ? `no live session: needs ${min} reviewers present and voting`
      : presenceMet
        ? `${present.length} reviewers present and voting (${min} needed): ${list(present)}`
        : `needs ${min} reviewers present and voting; ${present.length === 0 ? 'none yet' : `${present.length} so far: ${list(present)}`}`;
    requirements.push({ id: 'presence', description: `at least ${min} reviewers present in the session and voting`, met: presenceMet, why });
  }

  const approverNames = [...voters].filter(([, s]) => s.stance === 'approve').map(([n]) => n);
  const label = (n: string) => (voters.get(n)?.derived ? `${n} (by items)` : n);

  /** Evaluate one requirement node; rows are pushed parent first, so the parent's row is reserved. */
  const walk = (req: Requirement, stage: string, rows: RequirementResult[]): { met: boolean; description: string } => {
    const row: RequirementResult = { id: req.id, stage, description: '', met: false, why: '' };
    rows.push(row);
    if (req.kind === 'class') {
      const cls = classOf(req.class);
      const members = cls ? input.reviewers.filter((r) => isMember(cls, r)) : [];
      const eligible = members.filter((r) => !excluded.has(r.username)).map((r) => r.username);
      const recused = members.filter((r) => change.recusals.some((x) => x.reviewer === r.username)).map((r) => r.username);
      const got = approverNames.filter((n) => eligible.includes(n)).map(label);
      const after = recused.length > 0 ? ` (${list(recused)} recused)` : '';
      if (req.approvals === 'all') {
        row.description = req.description ?? `approval from every member of ${req.class}`;
        row.met = eligible.length > 0 && got.length === eligible.length;
        row.why = eligible.length === 0
          ? `no eligible member of ${req.class} (the requester, authors, beneficiaries and recused reviewers do not count)${after}`
          : row.met
            ? `all ${eligible.length} eligible members of ${req.class} approved: ${list(got)}${after}`
            : `${got.length} of ${eligible.length} members of ${req.class} approved${got.length ? `: ${list(got)}` : ''}; waiting for ${list(eligible.filter((n) => !approverNames.includes(n)))}${after}`;
      } else {
        const n = req.approvals;
        row.description = req.description ?? `${plural(n, 'approval')} from ${req.class}`;
        row.met = got.length >= n;
        const short = eligible.length < n ? `; only ${eligible.length} eligible in ${req.class}` : '';
        row.why = row.met
          ? `${got.length} of ${n} approvals from ${req.class}: ${list(got)}`
          : got.length === 0
            ? `needs ${plural(n, 'approval')} from ${req.class}; none yet${short}${after}`
            : `${got.length} of ${n} approvals from ${req.class}: ${list(got)}; needs ${n - got.length} more${short}${after}`;
      }
      return { met: row.met, description: row.description };
    }
    const children = req.of.map((c) => walk(c, stage, rows));
    const metCount = children.filter((c) => c.met).length;
    const joined = children.map((c) => c.description).join('; ');
    if (req.kind === 'all') {
      row.description = req.description ?? `all of: ${joined}`;
      row.met = metCount === children.length;
      row.why = row.met ? `all ${children.length} met` : `${metCount} of ${children.length} met; waiting for: ${children.filter((c) => !c.met).map((c) => c.description).join('; ')}`;
    } else {
      row.description = req.description ?? `any of: ${joined}`;
      row.met = metCount > 0;
      row.why = row.met ? `met by: ${children.filter((c) => c.met).map((c) => c.description).join('; ')}` : `none of ${children.length} met yet`;
    }
    return { met: row.met, description: row.description };
  };

  // Stages: stage N+1 opens only when stage N is met. A closed stage still shows its progress (votes
  // cast early count once it opens: a vote is bound to content, not to the moment a stage opened).
  let open = current !== undefined;
  let blocker = current ? '' : 'no revision has been submitted';
  let stagesMet = true;
  policy.stages.forEach((stage, i) => {
    const rows: RequirementResult[] = [];
    const { met } = walk(stage.require, stage.name, rows);
    const root = rows[0];
    if (root && policy.stages.length > 1) root.description = `stage ${i + 1} (${stage.description ?? stage.name}): ${root.description}`;
    if (!open) for (const r of rows) { r.met = false; r.why = `not open: ${blocker}; so far ${r.why}`; }
    requirements.push(...rows);
    if (!open || !met) {
      stagesMet = false;
      if (open) blocker = `waits for stage ${i + 1} (${stage.name})`;
      open = false;
    }
  });

  const decision: Decision = vetoed ? 'rejected' : current && stagesMet && presenceMet ? 'approved' : 'pending';
  return { policy: policy.name, decision, requirements, notes };
}
