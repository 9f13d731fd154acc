/**
 * Change validation against a model: known principals, entities and roles, grant shapes vSphere can hold,
 * and removals of permissions that exist at that point of the change (items apply in order).
 */
import { AccessInputError, COMMON_PRIVILEGES, type AccessModel, type ChangeSet, type GrantSpec } from '../../domain/access/model.ts';
import { indexModel } from './model-index.ts';
import { grantId, permissionKey } from './native.ts';
import { NO_ACCESS, SYSTEM_ROLES } from './privileges.ts';

/** An invalid change item. `pointer` is a JSON pointer into the change set (`/items/2/grant/role`). */
export class ChangeItemError extends AccessInputError {
  readonly itemId: string;
  readonly pointer: string;
  constructor(message: string, itemId: string, pointer: string) {
    super(`${pointer} (item ${JSON.stringify(itemId)}): ${message}`);
    this.name = 'ChangeItemError';
    this.itemId = itemId;
    this.pointer = pointer;
  }
}

const common = new Set<string>(COMMON_PRIVILEGES);

export function validateChange(model: AccessModel, change: ChangeSet): void {
  if (change.backend !== 'vsphere') throw new AccessInputError(`change set is for ${change.backend}, not vsphere`);
  const index = indexModel(model);
  const roleNames = new Set([...SYSTEM_ROLES.map((r) => r.name), ...model.roles.map((r) => r.name)]);
  const present = new Set(model.grants.map(permissionKey));
  const ids = new Set<string>();

  change.items.forEach((item, i) => {
    const fail = (message: string, at: string): never => {
      throw new ChangeItemError(message, item.id, `/items/${i}${at}`);
    };
    if (ids.has(item.id)) fail(`duplicate item id`, '/id');
    ids.add(item.id);
    const checkSpec = (spec: GrantSpec, at: string, isRemoval = false): void => {
      const kind = index.kinds.get(spec.principal);
      if (kind === undefined) fail(`unknown principal ${spec.principal}`, `${at}/principal`);
      if (kind === 'token') fail(`vSphere has no tokens: ${spec.principal}`, `${at}/principal`);
      if (!index.indexOf.has(spec.resource)) fail(`unknown entity ${spec.resource}`, `${at}/resource`);
      if (spec.role !== undefined && !roleNames.has(spec.role)) fail(`unknown role ${spec.role}`, `${at}/role`);
      if (spec.role !== undefined && spec.privileges !== undefined) fail('name a role or privileges, not both', at);
      spec.privileges?.forEach((p, j) => {
        if (!common.has(p)) fail(`unknown common privilege ${p}`, `${at}/privileges/${j}`);
      });
      if (spec.effect === 'deny' && spec.role !== undefined && spec.role !== NO_ACCESS) {
        fail(`vSphere denies only through the NoAccess role, not ${spec.role}`, `${at}/role`);
      }
      if (spec.effect === 'allow' && !isRemoval) {
        if (spec.role === NO_ACCESS) fail('NoAccess is a deny: set effect to "deny"', `${at}/effect`);
        if (spec.role === undefined && (spec.privileges?.length ?? 0) === 0) fail('an allow grant needs a role or privileges', at);
      }
    };
    const mustExist = (spec: GrantSpec, at: string): void => {
      if (!present.has(permissionKey(spec))) fail(`no permission of ${spec.principal} on ${spec.resource} to remove`, at);
    };
    if (item.op === 'add') {
      checkSpec(item.grant, '/grant');
      present.add(grantId(item.grant.resource, item.grant.principal));
    } else if (item.op === 'remove') {
      checkSpec(item.grant, '/grant', true);
      mustExist(item.grant, '/grant');
      present.delete(permissionKey(item.grant));
    } else if (item.op === 'replace') {
      checkSpec(item.from, '/from', true);
      checkSpec(item.to, '/to');
      mustExist(item.from, '/from');
      present.delete(permissionKey(item.from));
      present.add(permissionKey(item.to));
    } else {
      fail(`unknown op ${(item as { op: unknown }).op}`, '/op');
    }
  });
}
