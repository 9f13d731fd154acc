/**
 * libvirt's polkit actions: the `.policy` XML that declares each `org.libvirt.api.*` action and its
 * implicit defaults, and the object types those actions act on (libvirt `docs/aclpolkit.rst`,
 * `src/access/viraccessdriverpolkit.c`).
 */
import { AccessInputError } from '../../domain/access/model.ts';

export const API_PREFIX = 'org.libvirt.api.';

/** polkit's implicit authorizations (`polkit_implicit_authorization_from_string`). */
export const IMPLICIT_VALUES = ['no', 'yes', 'auth_self', 'auth_self_keep', 'auth_admin', 'auth_admin_keep'] as const;
export type Implicit = (typeof IMPLICIT_VALUES)[number];

export interface ActionDefaults {
  any: Implicit;
  inactive: Implicit;
  active: Implicit;
  /** The policy file that declared the action. */
  source: string;
}

export type ObjectType =
  | 'connect' | 'domain' | 'network' | 'network-port' | 'storage-pool' | 'storage-vol'
  | 'interface' | 'node-device' | 'nwfilter' | 'nwfilter-binding' | 'secret';

/** The `connect_driver` an object of each type is checked under when the inventory names none. */
export const DEFAULT_DRIVER: Record<Exclude<ObjectType, 'connect' | 'domain'>, string> = {
  network: 'network', 'network-port': 'network', 'storage-pool': 'storage', 'storage-vol': 'storage',
  interface: 'interface', 'node-device': 'nodedev', nwfilter: 'NWFilter', 'nwfilter-binding': 'NWFilter',
  secret: 'secret',
};

/** Object types an action on a resource of `type` reaches when the grant propagates to children. */
export const CHILD_TYPES: Partial<Record<ObjectType, ObjectType[]>> = {
  network: ['network-port'],
  'storage-pool': ['storage-vol'],
};

export const ALL_OBJECT_TYPES: readonly ObjectType[] = [
  'connect', 'domain', 'network', 'network-port', 'storage-pool', 'storage-vol',
  'interface', 'node-device', 'nwfilter', 'nwfilter-binding', 'secret',
];

/** `domain.start` for `org.libvirt.api.domain.start`; other ids are returned unchanged. */
export function nativeName(actionId: string): string {
  return actionId.startsWith(API_PREFIX) ? actionId.slice(API_PREFIX.length) : actionId;
}

export function actionId(native: string): string {
  return native.startsWith(API_PREFIX) ? native : API_PREFIX + native;
}

/** The object type of a native action name (`storage-pool.search-storage-vols` → `storage-pool`). */
export function objectTypeOf(native: string): ObjectType | undefined {
  const type = nativeName(native).split('.')[0];
  return (ALL_OBJECT_TYPES as readonly string[]).includes(type ?? '') ? (type as ObjectType) : undefined;
}

const ACTION_RE = /<action\s+id\s*=\s*"([^"]+)"\s*>([\s\S]*?)<\/action>/g;

function implicitOf(block: string, tag: string, file: string): Implicit {
  const m = new RegExp(`<${tag}>\\s*([a-z_]+)\\s*</${tag}>`).exec(block);
  // polkitd treats a missing default as "no" (polkitbackendactionpool.c).
  if (!m) return 'no';
  const value = m[1] ?? '';
  if (!(IMPLICIT_VALUES as readonly string[]).includes(value)) {
    throw new AccessInputError(`invalid <${tag}> value "${value}"`, { file });
  }
  return value as Implicit;
}

/** Parse a polkit `.policy` file: action id → implicit defaults. */
export function parsePolicy(text: string, file: string): Map<string, ActionDefaults> {
  if (!/<policyconfig[\s>]/.test(text)) throw new AccessInputError('not a polkit policy file', { file });
  const out = new Map<string, ActionDefaults>();
  for (const m of text.matchAll(ACTION_RE)) {
    const id = m[1] ?? '';
    const defaults = /<defaults>([\s\S]*?)<\/defaults>/.exec(m[2] ?? '')?.[1] ?? '';
    out.set(id, {
      any: implicitOf(defaults, 'allow_any', file),
      inactive: implicitOf(defaults, 'allow_inactive', file),
      active: implicitOf(defaults, 'allow_active', file),
      source: file,
    });
  }
  return out;
}
