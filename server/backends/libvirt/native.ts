/**
 * What the libvirt backend keeps in `AccessModel.native`: foreign rules files verbatim, the action
 * defaults, the inventory and where Accord's own rules file lives.
 */
import { z } from 'zod';
import type { AccessModel } from '../../domain/access/model.ts';
import { AccessInputError } from '../../domain/access/model.ts';
import { IMPLICIT_VALUES } from './actions.ts';
import { Inventory } from './inventory.ts';

const Implicit = z.enum(IMPLICIT_VALUES);

export const LibvirtNative = z.object({
  /** Rules files Accord does not own, kept verbatim and evaluated as opaque rules (on a fleet: on every host). */
  foreignRules: z.array(z.object({ path: z.string(), text: z.string() })),
  /**
   * A fleet host's own rules files (given as `hosts/NAME/etc/polkit-1/rules.d/…`), by host, with the path
   * polkitd on that host sees; one with the same path as a shared file replaces it on that host.
   */
  hostRules: z.record(z.string(), z.array(z.object({ path: z.string(), text: z.string() }))).default({}),
  /** Path of Accord's rules file (its basename decides its place among the others). */
  accordFile: z.string(),
  /** Action id → implicit defaults, from the `.policy` files. */
  actions: z.record(z.string(), z.object({ any: Implicit, inactive: Implicit, active: Implicit, source: z.string() })),
  inventory: Inventory,
  /** `access_drivers` per daemon config read, when any was given. */
  accessDrivers: z.record(z.string(), z.array(z.string())).default({}),
});
export type LibvirtNative = z.infer<typeof LibvirtNative>;

export function nativeOf(model: AccessModel): LibvirtNative {
  const parsed = LibvirtNative.safeParse(model.native);
  if (!parsed.success) throw new AccessInputError('this model carries no libvirt state: import it with the libvirt backend');
  return parsed.data;
}

/** Native action names (`domain.start`) of every `org.libvirt.api.*` action the policy declares. */
export function knownActions(n: Pick<LibvirtNative, 'actions'>): string[] {
  return Object.keys(n.actions).filter((id) => id.startsWith('org.libvirt.api.')).map((id) => id.slice('org.libvirt.api.'.length)).sort();
}

/** The foreign rules files polkitd sees on `host` (undefined: the single host). */
export function foreignRulesOn(n: Pick<LibvirtNative, 'foreignRules' | 'hostRules'>, host: string | undefined): { path: string; text: string }[] {
  const own = host === undefined ? [] : n.hostRules[host] ?? [];
  const mine = new Set(own.map((f) => f.path));
  return [...n.foreignRules.filter((f) => !mine.has(f.path)), ...own];
}

/** Where a fleet host's file is given and rendered: `hosts/NAME` + the path on the host. */
export const hostFilePath = (host: string, path: string): string => `hosts/${host}${path.startsWith('/') ? '' : '/'}${path}`;
