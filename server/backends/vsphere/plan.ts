/**
 * A change set as the vSphere operations it becomes, simulated in order against the model: which role
 * each grant uses (an existing role with exactly the needed privileges, else a new `ACR_<hash>` role),
 * which `SetEntityPermissions`/`RemoveEntityPermission` calls run, and which existing permission each
 * call silently replaces (one permission per principal per entity). applyChange and render share it.
 */
import { createHash } from 'node:crypto';
import type { AccessModel, ChangeItem, ChangeSet, CommonPrivilege, Fidelity, Grant, GrantSpec, RoleDefinition } from '../../domain/access/model.ts';
import { grantId, permissionKey } from './native.ts';
import { NO_ACCESS, PRIVILEGE_MAP, nativeRolePrivileges, systemRoleDefinitions } from './privileges.ts';
import { validateChange } from './validate.ts';

export interface SetPermission { op: 'set'; grant: Grant }
export interface RemovePermission { op: 'remove'; grant: Grant }
export type Operation = SetPermission | RemovePermission;

export interface PlannedItem {
  item: ChangeItem;
  operations: Operation[];
  /** Roles this item needs created first. */
  createRoles: RoleDefinition[];
  /** Existing permissions a `set` overwrites without the item asking to remove them. */
  replaces: { grant: Grant; reason: string }[];
  fidelity: Fidelity;
  notes: string[];
}

export interface Plan {
  items: PlannedItem[];
  grants: Grant[];
  roles: RoleDefinition[];
}

const RANK: Record<Fidelity, number> = { exact: 0, narrowed: 1, widened: 2, unrepresentable: 3 };

/** One fidelity for a set of privileges: the most alarming, except that partly-renderable is narrowed. */
export function combineFidelity(privileges: readonly CommonPrivilege[]): Fidelity {
  const each = privileges.map((p) => PRIVILEGE_MAP[p].fidelity);
  if (each.length > 0 && each.every((f) => f === 'unrepresentable')) return 'unrepresentable';
  const partial = each.map((f) => (f === 'unrepresentable' ? 'narrowed' : f));
  return partial.reduce<Fidelity>((worst, f) => (RANK[f] > RANK[worst] ? f : worst), 'exact');
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((x) => sa.has(x));
};

interface RoleChoice { name: string | undefined; create: RoleDefinition | undefined; fidelity: Fidelity; notes: string[] }

function chooseRole(spec: GrantSpec, roles: RoleDefinition[], itemId: string): RoleChoice {
  if (spec.effect === 'deny') {
    const widened = (spec.privileges?.length ?? 0) > 0;
    return {
      name: NO_ACCESS, create: undefined, fidelity: widened ? 'widened' : 'exact',
      notes: widened ? ['vSphere has no per-privilege deny: NoAccess removes every privilege on the entity'] : [],
    };
  }
  if (spec.role !== undefined) return { name: spec.role, create: undefined, fidelity: 'exact', notes: [] };
  const asked = spec.privileges ?? [];
  const fidelity = combineFidelity(asked);
  const notes = asked.flatMap((p) => (PRIVILEGE_MAP[p].note && PRIVILEGE_MAP[p].fidelity !== 'exact' ? [`${p}: ${PRIVILEGE_MAP[p].note}`] : []));
  const representable = asked.filter((p) => PRIVILEGE_MAP[p].fidelity !== 'unrepresentable');
  if (representable.length === 0) return { name: undefined, create: undefined, fidelity: 'unrepresentable', notes };
  const natives = nativeRolePrivileges(representable);
  let result = fidelity;
  if (!asked.some((p) => p.endsWith('.view'))) {
    // vSphere adds System.Anonymous, System.View and System.Read to every role it stores.
    notes.push('vSphere adds System.View and System.Read to every role: the grant also lets the principal see the entity');
    if (RANK[result] < RANK.widened) result = 'widened';
  }
  const existing = [...roles].sort((a, b) => Number(b.builtin) - Number(a.builtin)).find((r) => sameSet(r.privileges, natives));
  if (existing) return { name: existing.name, create: undefined, fidelity: result, notes };
  const name = `ACR_${createHash('sha256').update(natives.join('\n')).digest('hex').slice(0, 10)}`;
  const create: RoleDefinition = { name, privileges: natives, builtin: false, provenance: { apiId: `change/${itemId}` } };
  return { name, create, fidelity: result, notes };
}

/** Simulate a change set; throws AccessInputError (via validateChange) for an invalid one. */
export function planChange(model: AccessModel, change: ChangeSet): Plan {
  validateChange(model, change);
  const roles = model.roles.some((r) => r.name === NO_ACCESS) ? [...model.roles] : [...systemRoleDefinitions(), ...model.roles];
  const addedRoles: RoleDefinition[] = [];
  const current = new Map<string, Grant>(model.grants.map((g) => [permissionKey(g), g]));
  const items: PlannedItem[] = [];

  for (const item of change.items) {
    const planned: PlannedItem = { item, operations: [], createRoles: [], replaces: [], fidelity: 'exact', notes: [] };
    const remove = (spec: GrantSpec): void => {
      const key = permissionKey(spec);
      const existing = current.get(key);
      if (!existing) {
        planned.notes.push(`no permission of ${spec.principal} on ${spec.resource} exists at this point: nothing to remove`);
        return;
      }
      if (spec.role !== undefined && existing.role !== spec.role) {
        planned.notes.push(`removes ${existing.role} (the item names ${spec.role}): vSphere removes by principal and entity only`);
      }
      planned.operations.push({ op: 'remove', grant: existing });
      current.delete(key);
    };
    const set = (spec: GrantSpec, expected: Grant | undefined): void => {
      const choice = chooseRole(spec, roles, item.id);
      planned.fidelity = choice.fidelity;
      planned.notes.push(...choice.notes);
      if (spec.expiresAt) planned.notes.push(`expiry ${spec.expiresAt} is not native to vSphere: Accord schedules the removal`);
      if (choice.name === undefined) return;
      if (choice.create && !roles.some((r) => r.name === choice.create!.name)) {
        roles.push(choice.create);
        addedRoles.push(choice.create);
        planned.createRoles.push(choice.create);
      }
      const key = permissionKey(spec);
      const existing = current.get(key);
      if (existing && existing !== expected) {
        planned.replaces.push({ grant: existing, reason: `vSphere keeps one permission per principal per entity: ${existing.role ?? 'the existing role'} on ${existing.resource} for ${existing.principal} is overwritten` });
      }
      const grant: Grant = {
        id: grantId(spec.resource, spec.principal), principal: spec.principal, role: choice.name, resource: spec.resource,
        propagate: spec.propagate, effect: choice.name === NO_ACCESS ? 'deny' : 'allow', provenance: { apiId: `change/${item.id}` },
      };
      current.delete(key); // a replaced permission moves to the end, as a fresh one would
      current.set(key, grant);
      planned.operations.push({ op: 'set', grant });
    };

    if (item.op === 'add') set(item.grant, undefined);
    else if (item.op === 'remove') remove(item.grant);
    else if (permissionKey(item.from) === permissionKey(item.to)) {
      // Same principal and entity: one SetEntityPermissions call overwrites the permission in place.
      set(item.to, current.get(permissionKey(item.from)));
    } else {
      remove(item.from);
      set(item.to, undefined);
    }
    items.push(planned);
  }
  return { items, grants: [...current.values()], roles: [...model.roles, ...addedRoles] };
}
