/**
 * vSphere state the neutral model has no field for, kept in `AccessModel.native` so the model can be
 * written back as govc JSON: managed object references and numeric role ids.
 */
import type { AccessModel, Grant, Principal } from '../../domain/access/model.ts';
import type { MoRef } from './json.ts';

export interface VsphereNative {
  /** Resource id (inventory path) → managed object reference. */
  refById: Record<string, MoRef>;
  /** Role name → vSphere role id (system roles are negative). */
  roleIds: Record<string, number>;
}

export function nativeOf(model: AccessModel): VsphereNative {
  const n = model.native;
  const refById = n && typeof n.refById === 'object' && n.refById !== null ? (n.refById as Record<string, MoRef>) : {};
  const roleIds = n && typeof n.roleIds === 'object' && n.roleIds !== null ? (n.roleIds as Record<string, number>) : {};
  return { refById, roleIds };
}

/**
 * vSphere keys a permission by (entity, principal, group flag): "A ManagedEntity is limited to one
 * permission per principal" (vim.AuthorizationManager.Permission). The grant id is that key, so it is
 * stable across imports and after a change replaces a permission.
 */
export const grantId = (resource: string, principal: string): string => `${resource}#${principal}`;

export const permissionKey = (g: Pick<Grant, 'resource' | 'principal'>): string => grantId(g.resource, g.principal);

/** `VSPHERE.LOCAL\alice` → `VSPHERE.LOCAL`; `alice@corp.example` → `corp.example`. */
export function directoryOf(principal: string): string | undefined {
  const slash = principal.indexOf('\\');
  if (slash > 0) return principal.slice(0, slash);
  const at = principal.lastIndexOf('@');
  return at > 0 ? principal.slice(at + 1) : undefined;
}

export const isGroup = (principals: ReadonlyMap<string, Principal>, id: string): boolean => principals.get(id)?.kind === 'group';
