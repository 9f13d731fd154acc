/**
 * Review policies: which one governs a change, and the default one. The evaluation lives in
 * policy-eval.ts, the YAML format in policy-schema.ts; this module is the public entry point.
 * Semantics in plain words: docs/policies.md.
 */
import type { ChangeContent, Revision } from './types.ts';
import type { Policy, PolicySelector } from './policy-schema.ts';

export {
  PolicyError, REVIEWER_ROLES, checkPolicySet, parsePolicyYaml, validatePolicy,
  type Policy, type PolicyIssue, type PolicySelector, type Requirement, type ReviewerClass, type ReviewerRole, type Stage,
} from './policy-schema.ts';
export { evaluate, type Decision, type EvaluationInput, type Evaluation, type RequirementResult } from './policy-eval.ts';

/**
 * The policy when no configured one matches: two approvals from reviewers (role reviewer or above)
 * other than the requester, authors and beneficiaries, and no counted rejection from any of them.
 */
export const DEFAULT_POLICY: Policy = Object.freeze({
  name: 'default',
  description: 'Two approvals from reviewers other than the requester; any rejection blocks.',
  select: {},
  classes: { reviewers: { name: 'reviewers', role: 'reviewer', veto: true } },
  stages: [{ name: 'approval', require: { kind: 'class', id: 'approval', class: 'reviewers', approvals: 2 } }],
  requireRejectReason: true,
  itemRejects: 'advisory',
  apply: 'manual',
}) as Policy;

/** How many selector fields a policy sets: more fields = more specific. */
export function specificity(select: PolicySelector): number {
  return (select.backend ? 1 : 0) + (select.environment ? 1 : 0) + (select.risk ? 1 : 0);
}

/** Does a policy's selector match this content and revision? Every given field must match. */
export function policyMatches(select: PolicySelector, content: ChangeContent, revision: Pick<Revision, 'highRisk'>): boolean {
  if (select.backend && !select.backend.includes(content.backend)) return false;
  if (select.environment && !select.environment.some((tag) => (content.environment ?? []).includes(tag))) return false;
  if (select.risk && (select.risk === 'high') !== revision.highRisk) return false;
  return true;
}

/**
 * The governing policy: among the policies whose selector matches, the most specific one (most
 * selector fields set); among equally specific ones, the first in the given order (the admin's file
 * order). A policy without `select` matches everything at specificity 0, so it overrides the default.
 * No match at all: DEFAULT_POLICY.
 */
export function selectPolicy(
  policies: readonly Policy[],
  content: ChangeContent,
  revision: Pick<Revision, 'highRisk'>,
): Policy {
  let best: Policy | undefined;
  for (const p of policies) {
    if (!policyMatches(p.select, content, revision)) continue;
    if (!best || specificity(p.select) > specificity(best.select)) best = p;
  }
  return best ?? DEFAULT_POLICY;
}

/**
 * The policy a change recorded at submit, by name. Unknown names give undefined rather than a
 * fallback: silently evaluating under another policy could loosen the review.
 */
export function policyByName(policies: readonly Policy[], name: string): Policy | undefined {
  if (name === DEFAULT_POLICY.name && !policies.some((p) => p.name === name)) return DEFAULT_POLICY;
  return policies.find((p) => p.name === name);
}
