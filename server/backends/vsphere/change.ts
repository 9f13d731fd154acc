/**
 * applyChange and affectedPrincipals: the model after a change as vSphere would hold it, and the
 * principals whose effective access the change can alter.
 */
import type { AccessModel, ChangeSet } from '../../domain/access/model.ts';
import { indexModel } from './model-index.ts';
import { planChange } from './plan.ts';

/** Pure: returns a new model. A `set` on an existing (principal, entity) replaces that permission. */
export function applyChange(model: AccessModel, change: ChangeSet): AccessModel {
  const plan = planChange(model, change);
  return { ...model, grants: plan.grants, roles: plan.roles, warnings: [...model.warnings] };
}

/** The principals the items name, plus every member (direct or nested) of a named group. */
export function affectedPrincipals(model: AccessModel, change: ChangeSet): string[] {
  const index = indexModel(model);
  const named = new Set<string>();
  for (const item of change.items) {
    if (item.op === 'replace') {
      named.add(item.from.principal);
      named.add(item.to.principal);
    } else named.add(item.grant.principal);
  }
  const out = new Set<string>(named);
  for (const p of named) for (const m of index.membersOf.get(p) ?? []) out.add(m);
  return [...out].sort();
}
