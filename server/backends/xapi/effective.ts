/**
 * XAPI effective access (Citrix "Calculating RBAC roles"; reference §4.1, §6.2):
 * - a user's roles are those of its own subject plus those of every AD group subject it belongs to;
 * - the static roles are linearly ordered (datamodel_roles.ml), so the union of their permissions is the
 *   highest role's: the highest role wins, whichever side (user or group) holds it;
 * - roles are pool-wide: the same permissions apply to every object of the pool (no scoping, propagation
 *   or deny);
 * - local root is always pool-admin.
 * Rows carry native permission names; `because` names the grant(s) holding the winning role.
 * Disabled accounts (other-config subject-account-disabled: true) cannot log in and get no rows.
 */
import type { AccessModel, EffectiveQuery, EffectiveRow, Grant } from '../../domain/access/model.ts';
import { ROOT_GRANT_ID, ROOT_ID, groupsOf } from './native.ts';
import { isXapiRole, permissionsOf, roleForPrivileges, roleRank } from './roles.ts';
import type { XapiRole } from './roles.ts';

/** The role a grant confers, if Accord knows it (privilege grants map to their lowest covering role). */
export function roleOfGrant(g: Pick<Grant, 'role' | 'privileges'>): XapiRole | undefined {
  if (g.role !== undefined) return isXapiRole(g.role) ? g.role : undefined;
  return g.privileges ? roleForPrivileges(g.privileges).role : undefined;
}

export interface EffectiveRole {
  role: XapiRole;
  because: string[];
}

/** Highest role held directly or through (nested) groups; undefined when the principal holds none. */
export function effectiveRole(model: AccessModel, principal: string): EffectiveRole | undefined {
  if (principal === ROOT_ID) return { role: 'pool-admin', because: [ROOT_GRANT_ID] };
  const holders = new Set([principal, ...groupsOf(model, principal)]);
  let best: EffectiveRole | undefined;
  for (const g of model.grants) {
    if (!holders.has(g.principal) || g.effect !== 'allow') continue;
    const role = roleOfGrant(g);
    if (role === undefined) continue;
    if (!best || roleRank(role) > roleRank(best.role)) best = { role, because: [g.id] };
    else if (role === best.role) best.because.push(g.id);
  }
  return best;
}

export function effectiveXapi(model: AccessModel, query: EffectiveQuery = {}): EffectiveRow[] {
  const wanted = query.principals ? new Set(query.principals) : undefined;
  const resources = query.resources ? [...query.resources] : model.resources.map((r) => r.id);
  const rows: EffectiveRow[] = [];
  for (const p of model.principals) {
    if (wanted && !wanted.has(p.id)) continue;
    if (p.enabled === false) continue;
    const eff = effectiveRole(model, p.id);
    if (!eff) continue;
    const perms = permissionsOf(eff.role);
    for (const resource of resources) {
      for (const privilege of perms) rows.push({ principal: p.id, resource, privilege, because: [...eff.because] });
    }
  }
  return rows;
}
