/**
 * Blast radius of a change (DESIGN.md §2): effective(after) − effective(before) and the reverse, with the
 * same backend engine on both sides. Pure and backend-agnostic.
 *
 * Only the principals the backend names as affected are evaluated: a change to one ACL cannot alter
 * anybody else's access, and skipping them keeps large inventories fast. Both sides are evaluated on the
 * union of the before and after resources, so a resource the change introduces (a VM no line mentioned)
 * is compared against what it inherited before, not against nothing.
 */
import type { AccessModel, Backend, BlastRadius, BlastRow, ChangeSet, EffectiveRow } from './model.ts';
import { HIGH_RISK_PRIVILEGES } from './model.ts';

const keyOf = (r: Pick<EffectiveRow, 'principal' | 'resource' | 'privilege'>): string => `${r.principal}\u0000${r.resource}\u0000${r.privilege}`;

function toBlastRow(backend: Backend, r: EffectiveRow): BlastRow {
  const common = backend.toCommon(r.privilege);
  return { principal: r.principal, resource: r.resource, privilege: r.privilege, common, highRisk: common.some((c) => HIGH_RISK_PRIVILEGES.has(c)) };
}

function compareRows(a: BlastRow, b: BlastRow): number {
  return keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0;
}

/** Rows of `from` whose (principal, resource, privilege) is absent from `other`. */
function minus(backend: Backend, from: readonly EffectiveRow[], other: readonly EffectiveRow[]): BlastRow[] {
  const present = new Set(other.map(keyOf));
  return from.filter((r) => !present.has(keyOf(r))).map((r) => toBlastRow(backend, r)).sort(compareRows);
}

export function blastRadius(backend: Backend, before: AccessModel, change: ChangeSet): BlastRadius {
  if (change.items.length === 0) return { gained: [], lost: [] };
  const after = backend.applyChange(before, change);
  const principals = backend.affectedPrincipals(before, change);
  if (principals.length === 0) return { gained: [], lost: [] };
  const resources = [...new Set([...before.resources, ...after.resources].map((r) => r.id))].sort();
  const query = { principals, resources };
  const rowsBefore = backend.effective(before, query);
  const rowsAfter = backend.effective(after, query);
  return { gained: minus(backend, rowsAfter, rowsBefore), lost: minus(backend, rowsBefore, rowsAfter) };
}
