/**
 * The VMware vSphere backend: govc `-json` files in, neutral model out; effective access under vSphere's
 * permission rules; changes rendered as govc commands. See docs/backends/vsphere.md.
 */
import type { CompactBackend } from '../../domain/access/compact.ts';
import { affectedPrincipals, applyChange } from './change.ts';
import { effective, effectiveCompact } from './effective.ts';
import { importVsphere } from './import.ts';
import { PRIVILEGE_MAP, toCommon } from './privileges.ts';
import { render } from './render.ts';
import { validateChange } from './validate.ts';

export const backend: CompactBackend = {
  id: 'vsphere',
  displayName: 'VMware vSphere',
  capabilities: {
    scoping: 'object',
    propagation: true,
    deny: 'override-role',
    expiry: 'scheduled',
    multiParent: true,
  },
  privilegeMap: PRIVILEGE_MAP,
  toCommon,
  import: importVsphere,
  validateChange,
  applyChange,
  render,
  effective,
  effectiveCompact,
  affectedPrincipals,
};

export { toPermissionsJson } from './serialise.ts';
export { ChangeItemError } from './validate.ts';
