/**
 * The libvirt inventory: unix principals and libvirt objects, and how each object shows up to polkit
 * (its resource id in Accord and the `action.lookup()` details libvirt passes for it).
 * Format documented in docs/backends/libvirt.md.
 */
import { z } from 'zod';
import type { Principal, Resource, ResourceKind } from '../../domain/access/model.ts';
import { AccessInputError } from '../../domain/access/model.ts';
import { DEFAULT_DRIVER, type ObjectType } from './actions.ts';

const name = z.string().min(1).regex(/^[^/\n]+$/, 'must not contain "/" or newlines');

const InventoryObject = z.discriminatedUnion('type', [
  z.object({ type: z.literal('domain'), driver: name, name, uuid: z.string().optional() }),
  z.object({ type: z.literal('network'), driver: name.optional(), name, uuid: z.string().optional() }),
  z.object({ type: z.literal('storage-pool'), driver: name.optional(), name, uuid: z.string().optional() }),
  z.object({
    type: z.literal('storage-vol'), driver: name.optional(), pool: name, name, key: z.string().optional(),
  }),
  z.object({ type: z.literal('interface'), driver: name.optional(), name, mac: z.string().optional() }),
  z.object({ type: z.literal('node-device'), driver: name.optional(), name }),
  z.object({ type: z.literal('nwfilter'), driver: name.optional(), name, uuid: z.string().optional() }),
  z.object({
    type: z.literal('secret'), driver: name.optional(), uuid: name,
    usage: z.object({ type: z.enum(['volume', 'ceph', 'iscsi', 'tls']), id: z.string() }).optional(),
  }),
]);
export type InventoryObject = z.infer<typeof InventoryObject>;

const hostName = z.string().min(1).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a host name: letters, digits, ".", "_", "-"');

/** One libvirt host of a fleet: its connection drivers and objects (users are the fleet's). */
export const InventoryHost = z.object({
  name: hostName,
  drivers: z.array(name).default([]),
  objects: z.array(InventoryObject).default([]),
});
export type InventoryHost = z.infer<typeof InventoryHost>;

export const Inventory = z.object({
  kind: z.literal('libvirt-inventory'),
  host: z.string().default('localhost'),
  users: z.array(z.object({ name, uid: z.number().int().nonnegative(), groups: z.array(name) })),
  groups: z.array(name).default([]),
  drivers: z.array(name).default([]),
  objects: z.array(InventoryObject).default([]),
  /** A fleet: several hosts, each with its drivers and objects. Absent: one host (`host`, `drivers`, `objects`). */
  hosts: z.array(InventoryHost).optional(),
}).superRefine((inv, ctx) => {
  if (!inv.hosts) return;
  if (inv.drivers.length > 0 || inv.objects.length > 0) {
    ctx.addIssue({ code: 'custom', path: ['hosts'], message: 'with "hosts", give drivers and objects under each host, not at the top level' });
  }
  const seen = new Set<string>();
  for (const [i, h] of inv.hosts.entries()) {
    if (seen.has(h.name)) ctx.addIssue({ code: 'custom', path: ['hosts', i, 'name'], message: `duplicate host ${h.name}` });
    seen.add(h.name);
  }
});
export type Inventory = z.infer<typeof Inventory>;

/** Whether the inventory describes a fleet (resource ids then carry the host: `hv01:/QEMU/domain/web01`). */
export const isFleet = (inv: Inventory): boolean => inv.hosts !== undefined;

/** The hosts to evaluate: a fleet's, or the single host (name undefined) of an inventory without `hosts`. */
export function hostsOf(inv: Inventory): { name: string | undefined; drivers: string[]; objects: InventoryObject[] }[] {
  return inv.hosts ? inv.hosts.map((h) => ({ name: h.name, drivers: h.drivers, objects: h.objects })) : [{ name: undefined, drivers: inv.drivers, objects: inv.objects }];
}

/** `hv01:/QEMU` for a fleet host, `/QEMU` on a single host. */
export const onHost = (host: string | undefined, local: string): string => (host === undefined ? local : `${host}:${local}`);

export function parseInventory(text: string, file: string): Inventory {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new AccessInputError(`invalid JSON: ${(e as Error).message}`, { file });
  }
  const parsed = Inventory.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AccessInputError(`invalid inventory at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? ''}`, { file });
  }
  return parsed.data;
}

export const userId = (user: string): string => `unix-user:${user}`;
export const groupId = (group: string): string => `unix-group:${group}`;

/** One checkable libvirt object: its Accord resource and the polkit details libvirt sends for it. */
export interface LibvirtObject {
  /** The fleet host it lives on (absent on a single-host inventory). */
  host?: string;
  type: ObjectType;
  resource: string;
  details: Record<string, string>;
}

function driverOf(o: InventoryObject): string {
  return o.type === 'domain' ? o.driver : (o.driver ?? DEFAULT_DRIVER[o.type]);
}

const KIND: Record<InventoryObject['type'], ResourceKind> = {
  domain: 'vm', network: 'network', 'storage-pool': 'storage', 'storage-vol': 'storage',
  interface: 'other', 'node-device': 'other', nwfilter: 'other', secret: 'other',
};

function describe(o: InventoryObject): { id: string; parent: string; details: Record<string, string> } {
  const d = driverOf(o);
  const details: Record<string, string> = { connect_driver: d };
  const put = (k: string, v: string | undefined): void => { if (v !== undefined) details[k] = v; };
  switch (o.type) {
    case 'domain': put('domain_name', o.name); put('domain_uuid', o.uuid); break;
    case 'network': put('network_name', o.name); put('network_uuid', o.uuid); break;
    case 'storage-pool': put('pool_name', o.name); put('pool_uuid', o.uuid); break;
    case 'storage-vol': put('pool_name', o.pool); put('vol_name', o.name); put('vol_key', o.key); break;
    case 'interface': put('interface_name', o.name); put('interface_macaddr', o.mac); break;
    case 'node-device': put('node_device_name', o.name); break;
    case 'nwfilter': put('nwfilter_name', o.name); put('nwfilter_uuid', o.uuid); break;
    case 'secret': put('secret_uuid', o.uuid); if (o.usage) put(`secret_usage_${o.usage.type === 'iscsi' ? 'target' : o.usage.type === 'tls' ? 'name' : o.usage.type}`, o.usage.id); break;
  }
  if (o.type === 'storage-vol') {
    return { id: `/${d}/storage-vol/${o.pool}/${o.name}`, parent: `/${d}/storage-pool/${o.pool}`, details };
  }
  const label = o.type === 'secret' ? o.uuid : o.name;
  return { id: `/${d}/${o.type}/${label}`, parent: `/${d}`, details };
}

/** Every checkable object: per host, one `connect` per driver, then its objects. */
export function objectsOf(inv: Inventory): LibvirtObject[] {
  return hostsOf(inv).flatMap((h) => hostObjects(h.name, h.drivers, h.objects));
}

function hostObjects(host: string | undefined, drivers: string[], objects: InventoryObject[]): LibvirtObject[] {
  const pools = new Map<string, string | undefined>();
  for (const o of objects) if (o.type === 'storage-pool') pools.set(`${driverOf(o)}/${o.name}`, o.uuid);
  const out: LibvirtObject[] = driversIn(drivers, objects).map((d) => ({ type: 'connect', resource: onHost(host, `/${d}`), details: { connect_driver: d }, ...(host !== undefined ? { host } : {}) }));
  for (const o of objects) {
    const { id, details } = describe(o);
    if (o.type === 'storage-vol') {
      const uuid = pools.get(`${driverOf(o)}/${o.pool}`);
      if (uuid !== undefined) details.pool_uuid = uuid;
    }
    out.push({ type: o.type, resource: onHost(host, id), details, ...(host !== undefined ? { host } : {}) });
  }
  return out;
}

const driversIn = (drivers: string[], objects: InventoryObject[]): string[] => [...new Set([...drivers, ...objects.map(driverOf)])];

/** Connection drivers of a single-host inventory (of every host, for a fleet). */
export function driversOf(inv: Inventory): string[] {
  return [...new Set(hostsOf(inv).flatMap((h) => driversIn(h.drivers, h.objects)))];
}

export function principalsOf(inv: Inventory): Principal[] {
  const groups = new Set([...inv.groups, ...inv.users.flatMap((u) => u.groups)]);
  return [
    ...inv.users.map((u): Principal => ({ kind: 'user', id: userId(u.name), directory: 'unix', memberOf: u.groups.map(groupId) })),
    ...[...groups].map((g): Principal => ({ kind: 'group', id: groupId(g), directory: 'unix' })),
  ];
}

export function resourcesOf(inv: Inventory): Resource[] {
  if (!inv.hosts) {
    const out: Resource[] = [{ id: '/', kind: 'root', name: inv.host, parents: [] }];
    for (const d of driversOf(inv)) out.push({ id: `/${d}`, kind: 'host', name: d, parents: ['/'] });
    for (const o of inv.objects) {
      const { id, parent } = describe(o);
      out.push({ id, kind: KIND[o.type], name: o.type === 'secret' ? o.uuid : o.name, parents: [parent] });
    }
    return out;
  }
  const out: Resource[] = [{ id: '/', kind: 'root', name: inv.host, parents: [] }];
  for (const h of inv.hosts) {
    out.push({ id: onHost(h.name, '/'), kind: 'host', name: h.name, parents: ['/'] });
    for (const d of driversIn(h.drivers, h.objects)) out.push({ id: onHost(h.name, `/${d}`), kind: 'other', name: d, parents: [onHost(h.name, '/')] });
    for (const o of h.objects) {
      const { id, parent } = describe(o);
      out.push({ id: onHost(h.name, id), kind: KIND[o.type], name: o.type === 'secret' ? o.uuid : o.name, parents: [onHost(h.name, parent)] });
    }
  }
  return out;
}
