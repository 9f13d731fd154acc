/**
 * What one grant means natively: which polkit actions it covers and which `action.lookup()` details
 * must equal what, derived from its resource, `propagate` and privileges (or native role).
 */
import type { GrantSpec } from '../../domain/access/model.ts';
import { AccessInputError } from '../../domain/access/model.ts';
import { ALL_OBJECT_TYPES, CHILD_TYPES, objectTypeOf, type ObjectType } from './actions.ts';
import { PRIVILEGE_MAP } from './privileges.ts';

export interface NativeScope {
  /** The fleet host whose Accord file carries the grant; absent: every host's (or the single host's). */
  host?: string;
  /** Native action names (`domain.start`). */
  actions: string[];
  /** Details that must match exactly (`connect_driver`, `domain_name`...). */
  match: Record<string, string>;
}

const NAME_KEY: Partial<Record<ObjectType, string>> = {
  domain: 'domain_name', network: 'network_name', 'storage-pool': 'pool_name',
  interface: 'interface_name', 'node-device': 'node_device_name', nwfilter: 'nwfilter_name', secret: 'secret_uuid',
};

export interface ResourceTarget {
  /** The fleet host the resource is on; absent for a single host's resources and a fleet's root `/`. */
  host?: string;
  types: ObjectType[];
  childTypes: ObjectType[];
  match: Record<string, string>;
}

/**
 * Parse an Accord resource id: `/`, `/DRIVER`, `/DRIVER/TYPE/NAME`, `/DRIVER/storage-vol/POOL/VOL`; on a
 * fleet the same after `HOST:` (`hv01:/`, `hv01:/QEMU/domain/web01`), and `/` for every host.
 */
export function resourceTarget(resource: string): ResourceTarget {
  let hit = TARGETS.get(resource);
  if (!hit) {
    hit = parseTarget(resource);
    if (TARGETS.size >= 100_000) TARGETS.clear();
    TARGETS.set(resource, hit);
  }
  return { ...hit, match: { ...hit.match } };
}

/** Parsed resource ids (pure; a fleet evaluation asks for the same ids per host and per call). */
const TARGETS = new Map<string, ResourceTarget>();

function parseTarget(resource: string): ResourceTarget {
  const at = /^([A-Za-z0-9][A-Za-z0-9._-]*):(\/.*)$/.exec(resource);
  if (at) {
    const local = resourceTarget(at[2]!);
    return { host: at[1]!, types: local.types, childTypes: local.childTypes, match: local.match };
  }
  const parts = resource.split('/').slice(1);
  if (resource === '/') return { types: ['connect'], childTypes: ALL_OBJECT_TYPES.filter((t) => t !== 'connect'), match: {} };
  const [driver, type, name, vol] = parts;
  if (parts.length === 1 && driver) {
    return { types: ['connect'], childTypes: ALL_OBJECT_TYPES.filter((t) => t !== 'connect'), match: { connect_driver: driver } };
  }
  if (driver && type === 'storage-vol' && name && vol && parts.length === 4) {
    return { types: ['storage-vol'], childTypes: [], match: { connect_driver: driver, pool_name: name, vol_name: vol } };
  }
  const key = NAME_KEY[type as ObjectType];
  if (!driver || !name || !key || parts.length !== 3) throw new AccessInputError(`not a libvirt resource id: ${resource}`);
  const t = type as ObjectType;
  return { types: [t], childTypes: CHILD_TYPES[t] ?? [], match: { connect_driver: driver, [key]: name } };
}

/** Expand a native role: comma-separated action names, `TYPE.*` wildcards allowed. */
export function expandRole(role: string, known: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of role.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    const hits = item.endsWith('.*') ? known.filter((a) => a.startsWith(item.slice(0, -1))) : known.filter((a) => a === item);
    if (hits.length === 0) throw new AccessInputError(`unknown libvirt action in role: ${item}`);
    out.push(...hits);
  }
  return [...new Set(out)];
}

/** The native scope of a grant; `known` lists every native action the policy files declare. */
export function nativeScope(grant: GrantSpec, known: readonly string[]): NativeScope {
  const target = resourceTarget(grant.resource);
  const types = new Set<ObjectType>([...target.types, ...(grant.propagate ? target.childTypes : [])]);
  const wanted = grant.role !== undefined
    ? expandRole(grant.role, known)
    : (grant.privileges ?? []).flatMap((p) => PRIVILEGE_MAP[p].native);
  const actions = [...new Set(wanted)].filter((a) => {
    const t = objectTypeOf(a);
    return t !== undefined && types.has(t) && known.includes(a);
  });
  return { ...(target.host !== undefined ? { host: target.host } : {}), actions: actions.sort(), match: target.match };
}
