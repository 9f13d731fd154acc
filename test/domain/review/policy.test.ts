import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { DEFAULT_POLICY, evaluate, parsePolicyYaml, type Evaluation, type Policy } from '../../../server/domain/review/policy.ts';
import type { ChangeRequest, Recusal, Vote } from '../../../server/domain/review/types.ts';
import { PEOPLE, change, content, item, revision, twoItems, vote } from './build.ts';

const example = (name: string) => parsePolicyYaml(readFileSync(new URL(`../../../examples/policies/${name}.yaml`, import.meta.url), 'utf8'));

const AND_OR = parsePolicyYaml(`
name: and-or
classes:
  reviewers: { role: reviewer }
  security: { groups: security, veto: true }
  leads: { groups: team-leads }
require:
  all:
    - { id: peer, class: reviewers, approvals: 1 }
    - { id: owner, any: [ { class: security, approvals: 1 }, { class: leads, approvals: 1 } ] }
`);
const EVERY_OPS = parsePolicyYaml(`
name: every-ops
classes: { ops: { groups: ops } }
require: { class: ops, approvals: all }
`);
const NOBODY = parsePolicyYaml(`
name: nobody
classes: { solo: { users: rita } }
require: { class: solo, approvals: all }
`);
const SESSION = parsePolicyYaml(`
name: session
classes: { reviewers: { role: reviewer, veto: true } }
presence: { minimum: 2 }
require: { class: reviewers, approvals: 2 }
`);
const LAX_REASON: Policy = { ...DEFAULT_POLICY, name: 'lax', requireRejectReason: false };
const STAGED = example('staged-lead-security');
const HIGH_RISK = example('high-risk');

const r1 = twoItems();
// r2 changes i2 only; r2b changes only the justification (every item unchanged).
const r2 = revision(2, content([item('i1', 'ops'), item('i2', 'ana@pve', '/vms/201')]));
const r2b = revision(2, content([...r1.content.items].reverse()));
// Integrity finding 1: the same items with a longer duration and a new justification.
const r2d = revision(2, content(r1.content.items, { justification: 'incident 43', durationHours: 8_760 }));

interface Case {
  name: string;
  policy: Policy;
  votes: Vote[];
  revisions?: typeof r1[];
  change?: Partial<ChangeRequest>;
  beneficiaries?: string[];
  present?: string[];
  decision: Evaluation['decision'];
  /** requirement id → substring of its `why` (and met, when given). */
  why?: Record<string, string | [boolean, string]>;
  notes?: string[];
}

const a = (voter: string, rev = r1, itemId?: string) => vote(voter, 'approve', rev, itemId ? { itemId } : {});
const no = (voter: string, reason?: string, rev = r1, itemId?: string) =>
  vote(voter, 'reject', rev, { ...(reason ? { reason } : {}), ...(itemId ? { itemId } : {}) });
const recuse = (reviewer: string): Recusal => ({ reviewer, reason: 'owns VM 100', at: '2025-01-02T00:00:00Z' });

const CASES: Case[] = [
  { name: 'default: two approvals', policy: DEFAULT_POLICY, votes: [a('ana'), a('ben')], decision: 'approved', why: { approval: [true, '2 of 2 approvals from reviewers: ana, ben'] } },
  { name: 'default: one approval', policy: DEFAULT_POLICY, votes: [a('ana')], decision: 'pending', why: { approval: [false, '1 of 2 approvals from reviewers: ana; needs 1 more'] } },
  { name: 'default: nothing yet', policy: DEFAULT_POLICY, votes: [], decision: 'pending', why: { approval: 'needs 2 approvals from reviewers; none yet', 'veto:reviewers': [true, 'no counted reject from reviewers'] } },
  { name: 'self-approval: the requester never counts', policy: DEFAULT_POLICY, votes: [a('rita'), a('ana')], decision: 'pending', notes: ["rita's vote does not count: rita requested this change"] },
  { name: 'self-approval through a group: a beneficiary never counts', policy: DEFAULT_POLICY, votes: [a('ivo'), a('ana')], beneficiaries: ['ivo'], decision: 'pending', notes: ["ivo's vote does not count: ivo gains access through this change"] },
  { name: 'a beneficiary reject does not veto either', policy: DEFAULT_POLICY, votes: [a('ben'), a('ana'), no('ivo', 'mine')], beneficiaries: ['ivo'], decision: 'approved' },
  { name: 'an author never counts', policy: DEFAULT_POLICY, votes: [a('ben'), a('ana')], change: { authors: ['rita', 'ben'] }, decision: 'pending', notes: ["ben's vote does not count: ben is an author of this change"] },
  { name: 'the submitter of the current revision never counts', policy: DEFAULT_POLICY, revisions: [revision(1, r1.content, { submittedBy: 'ana' })], votes: [], decision: 'pending', notes: [] },
  { name: 'a viewer is in no class', policy: DEFAULT_POLICY, votes: [a('vic'), a('ana')], decision: 'pending' },
  { name: 'an unknown user is reported', policy: DEFAULT_POLICY, votes: [a('zed'), a('ana')], decision: 'pending', notes: ["zed's vote does not count: zed is not a known reviewer"] },
  { name: 'veto with its reason', policy: DEFAULT_POLICY, votes: [a('ana'), a('ben'), no('carl', 'too broad')], decision: 'rejected', why: { 'veto:reviewers': [false, 'vetoed by carl (reviewers): too broad'] } },
  { name: 'a reject without reason does not count', policy: DEFAULT_POLICY, votes: [a('ana'), a('ben'), no('carl')], decision: 'approved', notes: ["carl's reject of revision 1 does not count: a reject needs a reason"] },
  { name: 'a reject without reason counts when the policy allows it', policy: LAX_REASON, votes: [a('ana'), no('carl')], decision: 'rejected', why: { 'veto:reviewers': 'vetoed by carl (reviewers): no reason given' } },
  { name: 'a changed vote: the latest counts', policy: DEFAULT_POLICY, votes: [no('carl', 'wait'), a('ana'), a('carl')], decision: 'approved' },
  { name: 'AND/OR: peer alone is not enough', policy: AND_OR, votes: [a('ana')], decision: 'pending', why: { peer: [true, '1 of 1'], owner: [false, 'none of 2 met yet'], approval: '1 of 2 met' } },
  { name: 'AND/OR: peer and a team lead', policy: AND_OR, votes: [a('ana'), a('lena')], decision: 'approved', why: { owner: 'met by: 1 approval from leads' } },
  { name: 'AND/OR: one security approval fills both (a vote counts in every class of its voter)', policy: AND_OR, votes: [a('carl')], decision: 'approved' },
  { name: 'AND/OR: a security veto beats met requirements', policy: AND_OR, votes: [a('ana'), a('lena'), no('dora', 'not on PCI hosts')], decision: 'rejected', why: { 'veto:security': 'vetoed by dora (security): not on PCI hosts' } },
  { name: 'stages: stage 2 is closed until the team lead approves', policy: STAGED, votes: [a('carl'), a('dora')], decision: 'pending', why: { 'team-lead': [false, 'needs 1 approval from team-leads'], security: [false, 'not open: waits for stage 1 (team-lead); so far met by'] } },
  { name: 'stages: lead first, security still needed', policy: STAGED, votes: [a('lena'), a('carl')], decision: 'pending', why: { 'team-lead': [true, 'lena'], 'two-security': [false, '1 of 2 approvals from security: carl'] } },
  { name: 'stages: early security votes count once the stage opens', policy: STAGED, votes: [a('carl'), a('dora'), a('lena')], decision: 'approved' },
  { name: 'stages: a veto holds in a closed stage', policy: STAGED, votes: [no('carl', 'no shell on hosts')], decision: 'rejected' },
  { name: 'every member: waits for the others', policy: EVERY_OPS, votes: [a('ana')], decision: 'pending', why: { approval: [false, '1 of 2 members of ops approved: ana; waiting for ivo'] } },
  { name: 'recusal shrinks "every member"', policy: EVERY_OPS, votes: [a('ana')], change: { recusals: [recuse('ivo')] }, decision: 'approved', why: { approval: 'all 1 eligible members of ops approved: ana (ivo recused)' } },
  { name: 'a recused reviewer\'s vote does not count', policy: DEFAULT_POLICY, votes: [a('ana'), a('ivo')], change: { recusals: [recuse('ivo')] }, decision: 'pending', notes: ["ivo's vote does not count: ivo recused (owns VM 100)"] },
  { name: '"every member" of an empty class is never met', policy: NOBODY, votes: [a('rita')], decision: 'pending', why: { approval: 'no eligible member of solo' } },
  { name: 'presence: no live session', policy: SESSION, votes: [a('ana'), a('ben')], decision: 'pending', why: { presence: [false, 'no live session: needs 2 reviewers present'], approval: [true, '2 of 2'] } },
  { name: 'presence: one of two present', policy: SESSION, votes: [a('ana'), a('ben')], present: ['ana', 'rita', 'carl'], decision: 'pending', why: { presence: 'needs 2 reviewers present and voting; 1 so far: ana' } },
  { name: 'presence: two present and voting', policy: SESSION, votes: [a('ana'), a('ben')], present: ['ben', 'ana'], decision: 'approved', why: { presence: [true, '2 reviewers present and voting (2 needed): ana, ben'] } },
  { name: 'presence: the requester present and voting is not counted', policy: SESSION, votes: [a('ana'), a('ben'), a('rita')], present: ['ana', 'rita'], decision: 'pending' },
  { name: 'presence does not hold up a veto', policy: SESSION, votes: [no('ana', 'no')], decision: 'rejected' },
  { name: 'amendment: whole approvals go stale', policy: DEFAULT_POLICY, revisions: [r1, r2], votes: [a('ana'), a('ben')], decision: 'pending', notes: ["ana's approve of revision 1 is stale: the revision changed", "ben's approve of revision 1 is stale: the revision changed"] },
  { name: 'amendment: approving every item carries over when only the item order changed', policy: DEFAULT_POLICY, revisions: [r1, r2b], votes: [a('ana', r1, 'i1'), a('ana', r1, 'i2'), a('ben', r1, 'i1'), a('ben', r1, 'i2')], decision: 'approved', why: { approval: 'ana (by items), ben (by items)' } },
  { name: 'amendment: item approvals go stale when the duration and justification change', policy: DEFAULT_POLICY, revisions: [r1, r2d], votes: [a('ana', r1, 'i1'), a('ana', r1, 'i2'), a('ben', r1, 'i1'), a('ben', r1, 'i2')], decision: 'pending', notes: [
    "ana's approve on item i1 (revision 1) is stale: what surrounds the items changed (title, justification, duration, environment, ticket, policy or inventory)",
    "ana's approve on item i2 (revision 1) is stale: what surrounds the items changed (title, justification, duration, environment, ticket, policy or inventory)",
    "ben's approve on item i1 (revision 1) is stale: what surrounds the items changed (title, justification, duration, environment, ticket, policy or inventory)",
    "ben's approve on item i2 (revision 1) is stale: what surrounds the items changed (title, justification, duration, environment, ticket, policy or inventory)",
  ] },
  { name: 'amendment: a changed item needs a new vote', policy: DEFAULT_POLICY, revisions: [r1, r2], votes: [a('ana', r1, 'i1'), a('ana', r1, 'i2'), a('ben', r1, 'i1'), a('ben', r1, 'i2'), a('ben', r2, 'i2')], decision: 'pending', why: { approval: '1 of 2 approvals from reviewers: ben (by items)' }, notes: ["ana's approve on item i2 (revision 1) is stale: the item changed"] },
  { name: 'item reject (advisory) withholds that voter\'s approval but does not veto', policy: DEFAULT_POLICY, votes: [a('ana'), no('ana', 'not i1', r1, 'i1'), a('ben')], decision: 'pending', notes: ["ana's approval does not count while ana still rejects item i1"] },
  { name: 'item reject vetoes when the policy says so', policy: HIGH_RISK, votes: [a('ana'), a('dora'), no('carl', 'console on the DC', r1, 'i2')], decision: 'rejected', why: { 'veto:security': 'vetoed by carl (security) on item i2: console on the DC' } },
  { name: 'a whole abstain wins over approved items', policy: DEFAULT_POLICY, votes: [a('ana', r1, 'i1'), a('ana', r1, 'i2'), vote('ana', 'abstain', r1), a('ben')], decision: 'pending' },
  { name: 'no submitted revision', policy: DEFAULT_POLICY, revisions: [], votes: [], decision: 'pending', why: { approval: 'not open: no revision has been submitted' } },
];

for (const c of CASES) {
  test(`policy: ${c.name}`, () => {
    const out = evaluate({
      change: change(c.revisions ?? [r1], c.votes, c.change),
      policy: c.policy,
      reviewers: PEOPLE,
      beneficiaries: c.beneficiaries ?? [],
      ...(c.present ? { present: c.present } : {}),
    });
    assert.equal(out.decision, c.decision, JSON.stringify(out, null, 1));
    for (const [id, expected] of Object.entries(c.why ?? {})) {
      const row = out.requirements.find((r) => r.id === id);
      assert.ok(row, `no requirement ${id} in ${out.requirements.map((r) => r.id).join(', ')}`);
      const [met, text] = Array.isArray(expected) ? expected : [undefined, expected];
      if (met !== undefined) assert.equal(row.met, met, `${id}: ${row.why}`);
      assert.ok(row.why.includes(text), `${id}: "${row.why}" lacks "${text}"`);
    }
    if (c.notes) assert.deepEqual(out.notes, c.notes);
  });
}

test('every requirement is listed, met or not, in order: vetoes, presence, stages', () => {
  const out = evaluate({ change: change([r1], []), policy: STAGED, reviewers: PEOPLE, beneficiaries: [] });
  assert.deepEqual(out.requirements.map((r) => [r.id, r.stage ?? null]), [
    ['veto:security', null], ['team-lead', 'team-lead'], ['security', 'security'], ['two-security', 'security'], ['security-lead', 'security'],
  ]);
  assert.match(out.requirements[1]?.description ?? '', /^stage 1 \(team lead\): 1 approval from team-leads$/);
  assert.equal(out.requirements[4]?.description, 'a security lead');
});

// Property: taking one approval out of the vote log never turns a decision into 'approved'.
// A small cast keeps collisions (same voter, same target, several revisions) frequent.
const NAMES = ['ana', 'ben', 'carl', 'dora', 'lena', 'ivo', 'rita', 'zed'];
const POLICIES = [DEFAULT_POLICY, AND_OR, EVERY_OPS, SESSION, STAGED, HIGH_RISK, LAX_REASON];
const voteArb = fc.record({
  voter: fc.constantFrom(...NAMES),
  choice: fc.constantFrom('approve', 'approve', 'reject', 'abstain' as const),
  rev: fc.constantFrom(r1, r2),
  target: fc.constantFrom(undefined, undefined, 'i1', 'i2'),
  reason: fc.option(fc.constant('because'), { nil: undefined }),
}).map(({ voter, choice, rev, target, reason }) =>
  vote(voter, choice as Vote['choice'], rev, { ...(target ? { itemId: target } : {}), ...(reason ? { reason } : {}) }));

test('property: removing an approval never makes the decision approved', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...POLICIES), fc.array(voteArb, { maxLength: 14 }), fc.boolean(),
      fc.subarray(NAMES, { maxLength: 1 }), fc.subarray(NAMES, { maxLength: 1 }), fc.option(fc.subarray(NAMES), { nil: undefined }), fc.nat(),
      (policy, votes, amended, recused, beneficiaries, present, pick) => {
        const approvals = votes.map((v, i) => [v, i] as const).filter(([v]) => v.choice === 'approve');
        fc.pre(approvals.length > 0);
        const removeAt = approvals[pick % approvals.length]?.[1] ?? 0;
        const run = (vs: Vote[]) => evaluate({
          change: change(amended ? [r1, r2] : [r1], vs, { recusals: recused.map(recuse) }),
          policy, reviewers: PEOPLE, beneficiaries, ...(present ? { present } : {}),
        }).decision;
        const after = run(votes.filter((_, i) => i !== removeAt));
        if (after === 'approved') assert.equal(run(votes), 'approved');
      },
    ),
    { numRuns: 3000 },
  );
});
