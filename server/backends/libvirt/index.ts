/** The libvirt backend: polkit ACLs (`access_drivers = [ "polkit" ]`), see docs/backends/libvirt.md. */
import type { Backend } from '../../domain/access/model.ts';
import { affectedPrincipals, applyChange, validateChange } from './change.ts';
import { computeEffective, type EvaluationOptions } from './effective.ts';
import { importLibvirt } from './import.ts';
import { PRIVILEGE_MAP, toCommon } from './privileges.ts';
import { renderLibvirt } from './render.ts';

/** A libvirt backend whose effective() sees `options.nowMs` as the time (for tests and what-if reviews). */
export function createLibvirtBackend(options: EvaluationOptions = {}): Backend {
  return {
    id: 'libvirt',
    displayName: 'libvirt (polkit)',
    capabilities: { scoping: 'object', propagation: true, deny: 'first-match', expiry: 'native', multiParent: false },
    privilegeMap: PRIVILEGE_MAP,
    toCommon,
    import: importLibvirt,
    validateChange,
    applyChange,
    render: renderLibvirt,
    effective: (model, query) => computeEffective(model, query, options),
    affectedPrincipals,
  };
}

export const backend: Backend = createLibvirtBackend();
