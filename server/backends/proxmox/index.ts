/**
 * The Proxmox VE backend: `/etc/pve/user.cfg` in, effective access and `pveum` commands out.
 * See docs/backends/proxmox.md for the rules and their sources.
 */
import { AccessInputError } from '../../domain/access/model.ts';
import type { AccessModel, EffectiveQuery } from '../../domain/access/model.ts';
import { expandingEffective } from '../../domain/access/compact.ts';
import type { CompactBackend, CompactTable } from '../../domain/access/compact.ts';
import { affectedPrincipals, applyChange, validateChange } from './change.ts';
import { parseUserCfg } from './parse.ts';
import { normalizePath } from './paths.ts';
import { PRIVILEGE_MAP, toCommon } from './privilege-map.ts';
import { render } from './render.ts';
import { compactTable } from './resolve.ts';

/** Accept `/vms/100/` or `vms/100` as `/vms/100`; anything else is a caller mistake worth naming. */
function normalizeQuery(query: EffectiveQuery | undefined): EffectiveQuery {
  if (!query?.resources) return query ?? {};
  const resources = query.resources.map((r) => {
    const p = normalizePath(r);
    if (!p) throw new AccessInputError(`'${r}' is not a Proxmox ACL path`);
    return p;
  });
  return { ...query, resources };
}

function effectiveCompact(model: AccessModel, query?: EffectiveQuery): CompactTable {
  return compactTable(model, normalizeQuery(query));
}

export const backend: CompactBackend = {
  id: 'proxmox',
  displayName: 'Proxmox VE',
  capabilities: { scoping: 'object', propagation: true, deny: 'override-role', expiry: 'principal-level', multiParent: true },
  privilegeMap: PRIVILEGE_MAP,
  toCommon,
  import: parseUserCfg,
  validateChange,
  applyChange,
  render,
  // The rows are the compact table expanded (resolve.ts `effectiveRows`), registered as such for the blast radius.
  effective: expandingEffective(effectiveCompact),
  effectiveCompact,
  affectedPrincipals,
};

export { writeUserCfg } from './write.ts';
