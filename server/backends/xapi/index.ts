/**
 * The XAPI backend (XenServer / XCP-ng / Citrix Hypervisor and other Xen stacks managed by xapi).
 * See docs/backends/xapi.md for formats, rules and sources.
 */
import type { Backend } from '../../domain/access/model.ts';
import { affectedXapiPrincipals, applyXapiChange, validateXapiChange } from './change.ts';
import { effectiveXapi } from './effective.ts';
import { importXapi } from './import.ts';
import { renderXapi } from './render.ts';
import { XAPI_PRIVILEGE_MAP, toCommon } from './roles.ts';

export const backend: Backend = {
  id: 'xapi',
  displayName: 'XenServer / XCP-ng (XAPI RBAC)',
  capabilities: { scoping: 'pool-wide', propagation: false, deny: 'none', expiry: 'scheduled', multiParent: false },
  privilegeMap: XAPI_PRIVILEGE_MAP,
  toCommon,
  import: importXapi,
  validateChange: validateXapiChange,
  applyChange: applyXapiChange,
  render: renderXapi,
  effective: effectiveXapi,
  affectedPrincipals: affectedXapiPrincipals,
};
