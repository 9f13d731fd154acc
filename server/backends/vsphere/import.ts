/**
 * Import: govc `-json` files (role.ls, permissions.ls, ls) plus Accord's group membership file, each
 * recognised by its content, into the neutral model. Anything unreadable inside a file becomes a warning
 * with the file and JSON pointer; a file that is not JSON, or of no known kind, is an AccessInputError.
 */
import {
  AccessInputError, type AccessModel, type Grant, type ImportWarning, type NativeFile, type Principal, type RoleDefinition,
} from '../../domain/access/model.ts';
import { buildInventory, kindOf, type InventoryFile } from './inventory.ts';
import { field, isObject, moRef, parseJson, pointerToken, refKey, stringField, boolField, type JsonObject } from './json.ts';
import { directoryOf, grantId, type VsphereNative } from './native.ts';
import { NO_ACCESS, SYSTEM_ROLES } from './privileges.ts';

interface RoleRecord { id: number; def: RoleDefinition }

interface Sources {
  roles: { file: string; pointer: string; list: unknown[] }[];
  permissions: { file: string; pointer: string; list: unknown[] }[];
  inventory: InventoryFile[];
  groups: { file: string; groups: JsonObject }[];
}

/** Which govc output (or membership file) a parsed document is, by its shape. */
function classify(file: NativeFile, data: unknown, into: Sources): void {
  if (Array.isArray(data)) return void into.roles.push({ file: file.path, pointer: '', list: data }); // role.ls -json
  if (isObject(data)) {
    const elements = field(data, 'elements');
    if (Array.isArray(elements)) return void into.inventory.push({ path: file.path, elements }); // ls -json
    if (isObject(data.groups)) return void into.groups.push({ file: file.path, groups: data.groups });
    // permissions.ls -json: {"Roles":[...],"Permissions":[...]}; either key is omitted when empty.
    const permKey = 'Permissions' in data ? 'Permissions' : 'permissions';
    const roleKey = 'Roles' in data ? 'Roles' : 'roles';
    const perms = data[permKey];
    const roles = data[roleKey];
    if (Array.isArray(perms) || Array.isArray(roles)) {
      if (Array.isArray(roles)) into.roles.push({ file: file.path, pointer: `/${roleKey}`, list: roles });
      if (Array.isArray(perms)) into.permissions.push({ file: file.path, pointer: `/${permKey}`, list: perms });
      return;
    }
  }
  throw new AccessInputError('not govc role.ls/permissions.ls/ls -json output nor a {"groups":{...}} membership file', { file: file.path });
}

function readRoles(sources: Sources['roles'], warnings: ImportWarning[]): Map<number, RoleRecord> {
  const byId = new Map<number, RoleRecord>(
    SYSTEM_ROLES.map((r) => [r.id, { id: r.id, def: { name: r.name, privileges: [...r.privileges], builtin: true } }]),
  );
  for (const { file, pointer, list } of sources) {
    list.forEach((raw, i) => {
      const apiId = `${pointer}/${i}`;
      const id = isObject(raw) ? field(raw, 'roleId') : undefined;
      const name = isObject(raw) ? stringField(raw, 'name') : undefined;
      const privileges = isObject(raw) ? field(raw, 'privilege') ?? [] : undefined;
      if (!isObject(raw) || typeof id !== 'number' || !name || !Array.isArray(privileges) || privileges.some((p) => typeof p !== 'string')) {
        warnings.push({ file, message: `${apiId}: unreadable role, skipped` });
        return;
      }
      const builtin = boolField(raw, 'system') ?? id < 0;
      byId.set(id, { id, def: { name, privileges: (privileges as string[]).slice(), builtin, provenance: { file, apiId } } });
    });
  }
  return byId;
}

interface PrincipalBook { byId: Map<string, Principal>; warnings: ImportWarning[] }

function notePrincipal(book: PrincipalBook, id: string, kind: 'user' | 'group', file: string): Principal {
  const known = book.byId.get(id);
  if (known) {
    if (known.kind !== kind) book.warnings.push({ file, message: `${id} is used both as a user and as a group; kept ${known.kind}` });
    return known;
  }
  const directory = directoryOf(id);
  const p: Principal = { kind, id, ...(directory ? { directory } : {}) };
  book.byId.set(id, p);
  return p;
}

/** `{"groups": {"VSPHERE.LOCAL\\ops": ["VSPHERE.LOCAL\\alice", ...]}}`: members that are keys are nested groups. */
function readGroups(sources: Sources['groups'], book: PrincipalBook): void {
  const groupIds = new Set(sources.flatMap((s) => Object.keys(s.groups)));
  for (const { file, groups } of sources) {
    for (const [group, members] of Object.entries(groups)) {
      notePrincipal(book, group, 'group', file);
      if (!Array.isArray(members)) {
        book.warnings.push({ file, message: `/groups/${pointerToken(group)}: members must be a list of principals` });
        continue;
      }
      for (const m of members) {
        if (typeof m !== 'string') continue;
        const member = notePrincipal(book, m, groupIds.has(m) ? 'group' : 'user', file);
        member.memberOf = [...new Set([...(member.memberOf ?? []), group])];
      }
    }
  }
}

export function importVsphere(files: NativeFile[]): AccessModel {
  const sources: Sources = { roles: [], permissions: [], inventory: [], groups: [] };
  for (const f of files) classify(f, parseJson(f.path, f.text), sources);
  const warnings: ImportWarning[] = [];
  const roles = readRoles(sources.roles, warnings);
  const inventory = buildInventory(sources.inventory, warnings);
  const book: PrincipalBook = { byId: new Map(), warnings };
  readGroups(sources.groups, book);

  const resources = inventory.resources;
  const grants: Grant[] = [];
  const seen = new Map<string, string>();
  for (const { file, pointer, list } of sources.permissions) {
    list.forEach((raw, i) => {
      const apiId = `${pointer}/${i}`;
      const warn = (message: string): void => void warnings.push({ file, message: `${apiId}: ${message}` });
      if (!isObject(raw)) return warn('unreadable permission, skipped');
      const principal = stringField(raw, 'principal');
      const roleId = field(raw, 'roleId');
      const entity = moRef(field(raw, 'entity'));
      if (!principal || typeof roleId !== 'number') return warn('permission without principal or roleId, skipped');
      // vcsim (and RetrieveEntityPermissions on some versions) may drop the entity: nothing to attach it to.
      if (!entity) return warn(`permission of ${principal} has no entity, skipped`);
      const role = roles.get(roleId);
      if (!role) return warn(`unknown role id ${roleId} in the permission of ${principal}, skipped`);
      let resource = inventory.idByRef.get(refKey(entity));
      if (resource === undefined) {
        // Keep the grant visible for review, on a placeholder resource that inherits nothing.
        resource = refKey(entity);
        warn(`entity ${resource} is not in the inventory; kept as a detached resource`);
        inventory.idByRef.set(resource, resource);
        inventory.refById[resource] = entity;
        resources.push({ id: resource, kind: kindOf(entity.type), parents: [] });
      }
      const id = grantId(resource, principal);
      // A missing boolean is Go's zero value: govc omits nothing else, so absent means false.
      const group = boolField(raw, 'group') ?? false;
      const propagate = boolField(raw, 'propagate') ?? false;
      // `permissions.ls -a` over several entities repeats inherited permissions: identical copies are fine.
      const shape = `${roleId}/${propagate}/${group}`;
      if (seen.has(id)) return seen.get(id) === shape ? undefined : warn(`second permission of ${principal} on ${resource}; vSphere keeps one, skipped`);
      seen.set(id, shape);
      notePrincipal(book, principal, group ? 'group' : 'user', file);
      grants.push({
        id, principal, role: role.def.name, resource, propagate,
        effect: role.def.name === NO_ACCESS ? 'deny' : 'allow', provenance: { file, apiId },
      });
    });
  }
  const native: VsphereNative = {
    refById: inventory.refById,
    roleIds: Object.fromEntries([...roles.values()].map((r) => [r.def.name, r.id])),
  };
  return {
    backend: 'vsphere',
    principals: [...book.byId.values()],
    resources,
    roles: [...roles.values()].map((r) => r.def),
    grants,
    warnings,
    native: { ...native },
  };
}
