/**
 * Write a model back as the JSON `govc permissions.ls -json` prints (`{"Roles":[...],"Permissions":[...]}`),
 * in upstream lowerCamel keys or old Go field names. With the inventory and group files it was imported
 * with, re-importing this output yields the same grants: the round trip that `verify()` relies on.
 */
import { AccessInputError, type AccessModel } from '../../domain/access/model.ts';
import { nativeOf } from './native.ts';
import { SYSTEM_ROLES } from './privileges.ts';

export type KeyCasing = 'upstream' | 'go';

const key = (casing: KeyCasing, name: string): string => (casing === 'go' ? name.charAt(0).toUpperCase() + name.slice(1) : name);

function withCasing(casing: KeyCasing, o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [key(casing, k), v]));
}

/** Role ids: imported ones kept, system ones fixed, new ones numbered after the largest id in use. */
function roleIds(model: AccessModel): Map<string, number> {
  const ids = new Map<string, number>(Object.entries(nativeOf(model).roleIds));
  for (const r of SYSTEM_ROLES) if (!ids.has(r.name)) ids.set(r.name, r.id);
  let next = Math.max(0, ...ids.values()) + 1;
  for (const r of model.roles) if (!ids.has(r.name)) ids.set(r.name, next++);
  return ids;
}

export function toPermissionsJson(model: AccessModel, casing: KeyCasing = 'upstream'): { Roles: unknown[]; Permissions: unknown[] } {
  const ids = roleIds(model);
  const { refById } = nativeOf(model);
  const kinds = new Map(model.principals.map((p) => [p.id, p.kind]));
  const roles = model.roles.map((r) =>
    withCasing(casing, {
      roleId: ids.get(r.name), system: r.builtin, name: r.name,
      info: withCasing(casing, { label: r.name, summary: '' }), privilege: r.privileges,
    }),
  );
  const permissions = model.grants.map((g) => {
    const ref = refById[g.resource];
    if (!ref) throw new AccessInputError(`no managed object reference for ${g.resource}: import it from govc ls -json`);
    const roleId = g.role !== undefined ? ids.get(g.role) : undefined;
    if (roleId === undefined) throw new AccessInputError(`grant ${g.id} has no vSphere role; apply the change first`);
    return withCasing(casing, {
      entity: withCasing(casing, { type: ref.type, value: ref.value }),
      principal: g.principal, group: kinds.get(g.principal) === 'group', propagate: g.propagate, roleId,
    });
  });
  return { Roles: roles, Permissions: permissions };
}
