/**
 * Seeded generators of native access data, in memory: a Proxmox `user.cfg`, govc `-json` files for
 * vSphere, a libvirt inventory plus Accord rules file, and XAPI `xe` listings. Each returns the native
 * files, so the bench runs the real importers (parsing included), and a 10-item change over the result.
 */
import { readFileSync } from 'node:fs';
import type { AccessModel, Backend, ChangeItem, ChangeSet, Grant, GrantSpec, NativeFile } from '../../server/domain/access/model.ts';
import { knownActions, nativeOf } from '../../server/backends/libvirt/native.ts';
import { renderRulesFile } from '../../server/backends/libvirt/rules-file.ts';
import { backend as libvirtBackend } from '../../server/backends/libvirt/index.ts';
import { mulberry32 } from '../../test/helpers/rng.ts';

/** Seeded (mulberry32): the same data on every run. */
export function rng(seed: number): { next: () => number; int: (n: number) => number; pick: <T>(xs: readonly T[]) => T; chance: (p: number) => boolean } {
  const next = mulberry32(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)]!, chance: (p) => next() < p };
}

export interface Scale {
  vms: number;
  users: number;
  groups: number;
  grants: number;
}

export interface Generated {
  files: NativeFile[];
  /** Describes what was generated beyond the scale (tokens, pools, folders...). */
  notes: string;
  /** A 10-item change over the imported model: adds, removes, replaces, group grants high in the tree. */
  change(model: AccessModel): ChangeSet;
}

const spec = (g: Grant): GrantSpec => ({
  principal: g.principal, resource: g.resource, propagate: g.propagate, effect: g.effect,
  ...(g.role !== undefined ? { role: g.role } : {}), ...(g.privileges ? { privileges: g.privileges } : {}),
});

/** Keep the items the backend accepts one after the other, so the change is valid as a whole. */
export function validChange(backend: Backend, model: AccessModel, items: ChangeItem[]): ChangeSet {
  const kept: ChangeItem[] = [];
  for (const item of items) {
    try {
      backend.validateChange(model, { backend: backend.id, items: [...kept, item] });
      kept.push(item);
    } catch (e) {
      throw new Error(`bench change item ${item.id} refused by ${backend.id}: ${(e as Error).message}`);
    }
  }
  return { backend: backend.id, items: kept };
}

/** Pick existing grants matching `test` for removals and replacements. */
function existing(model: AccessModel, test: (g: Grant) => boolean, n: number, seed: number): Grant[] {
  const r = rng(seed);
  const candidates = model.grants.filter(test);
  const out = new Set<Grant>();
  while (out.size < Math.min(n, candidates.length)) out.add(r.pick(candidates));
  return [...out];
}

// ---------------------------------------------------------------------------------------------- Proxmox

const PVE_ROLES_BUILTIN = ['PVEVMUser', 'PVEVMAdmin', 'PVEAuditor', 'PVEDatastoreUser', 'PVEPoolUser', 'PVETemplateUser', 'PVESysAdmin'];
const PVE_CUSTOM_ROLES: Record<string, string[]> = {
  VMOperator: ['VM.Audit', 'VM.Console', 'VM.PowerMgmt'],
  VMBackup: ['VM.Audit', 'VM.Backup', 'Datastore.AllocateSpace', 'Datastore.Audit'],
  SnapshotOnly: ['VM.Audit', 'VM.Snapshot', 'VM.Snapshot.Rollback'],
  ConsoleOnly: ['VM.Console'],
  NetUser: ['SDN.Audit', 'SDN.Use'],
  StorageAdmin: ['Datastore.Allocate', 'Datastore.AllocateSpace', 'Datastore.AllocateTemplate', 'Datastore.Audit'],
  Monitor: ['Sys.Audit', 'VM.Audit', 'Datastore.Audit'],
  GuestOps: ['VM.Audit', 'VM.GuestAgent.Audit', 'VM.GuestAgent.FileRead', 'VM.GuestAgent.FileWrite', 'VM.GuestAgent.Unrestricted'],
};

/**
 * Proxmox: `scale.users` users (3 % disabled, 2 % expired), one API token per 4 users (half privsep),
 * `scale.groups` groups of ~15 members (users in 1–2 groups), 100 pools of 50 VMs (every VM in one pool),
 * 8 nodes, 20 storages, SDN zones, 8 custom roles, `scale.grants` ACL lines: group grants on pools and
 * nodes, user and token grants on single VMs and storages, a few high in the tree, NoAccess entries,
 * propagate mixed.
 */
export function proxmox(scale: Scale, seed = 1): Generated {
  const r = rng(seed);
  const lines: string[] = ['user:root@pam:1:0:::root@example.com:::'];
  const users = Array.from({ length: scale.users }, (_, i) => `u${i}@${i % 5 === 0 ? 'ldap' : 'pve'}`);
  for (const [i, u] of users.entries()) {
    const enabled = r.chance(0.03) ? 0 : 1;
    const expire = r.chance(0.02) ? 1_600_000_000 : 0;
    lines.push(`user:${u}:${enabled}:${expire}:First${i}:Last${i}:${u.replace('@', '.')}@example.com:::`);
  }
  const tokens: string[] = [];
  for (let i = 0; i < scale.users; i += 4) {
    const t = `${users[i]!}!ci${i}`;
    tokens.push(t);
    lines.push(`token:${t}:0:${i % 8 === 0 ? 1 : 0}:automation:`);
  }
  const groups = Array.from({ length: scale.groups }, (_, i) => `g${i}`);
  const members = new Map<string, string[]>(groups.map((g) => [g, []]));
  for (const u of users) {
    members.get(r.pick(groups))!.push(u);
    if (r.chance(0.5)) members.get(r.pick(groups))!.push(u);
  }
  for (const g of groups) lines.push(`group:${g}:${[...new Set(members.get(g))].join(',')}:team ${g}:`);
  const vmids = Array.from({ length: scale.vms }, (_, i) => 100 + i);
  const pools = Array.from({ length: 100 }, (_, i) => `pool${i}`);
  const storages = Array.from({ length: 20 }, (_, i) => `store${i}`);
  const nodes = Array.from({ length: 8 }, (_, i) => `pve${i}`);
  const perPool = Math.ceil(scale.vms / pools.length);
  for (const [i, p] of pools.entries()) {
    const vms = vmids.slice(i * perPool, (i + 1) * perPool);
    lines.push(`pool:${p}:pool ${i}:${vms.join(',')}:${storages[i % storages.length]!}:`);
  }
  for (const [name, privs] of Object.entries(PVE_CUSTOM_ROLES)) lines.push(`role:${name}:${privs.join(',')}:`);
  const roles = [...PVE_ROLES_BUILTIN, ...Object.keys(PVE_CUSTOM_ROLES)];
  const acl = new Set<string>();
  const add = (prop: 0 | 1, path: string, ugid: string, role: string): void => void acl.add(`acl:${prop}:${path}:${ugid}:${role}:`);
  // A few wide grants: auditors and operators high in the tree, as in most clusters.
  add(1, '/', '@g0', 'PVEAuditor');
  add(1, '/vms', '@g1', 'VMOperator');
  add(1, '/storage', '@g2', 'PVEDatastoreUser');
  add(1, '/nodes', '@g3', 'Monitor');
  add(1, '/sdn/zones/zone0', '@g4', 'NetUser');
  for (const g of groups.slice(5)) { // every other group works on 1–3 pools
    for (let k = 0; k < 1 + r.int(3); k++) add(r.chance(0.9) ? 1 : 0, `/pool/${r.pick(pools)}`, `@${g}`, r.pick(roles));
    if (r.chance(0.2)) add(1, `/nodes/${r.pick(nodes)}`, `@${g}`, r.pick(['Monitor', 'PVESysAdmin']));
  }
  while (acl.size < scale.grants) {
    const x = r.next();
    const who = r.chance(0.08) ? r.pick(tokens) : r.pick(users);
    if (x < 0.75) add(r.chance(0.5) ? 1 : 0, `/vms/${r.pick(vmids)}`, who, r.chance(0.05) ? 'NoAccess' : r.pick(roles));
    else if (x < 0.85) add(1, `/storage/${r.pick(storages)}`, who, r.pick(['PVEDatastoreUser', 'StorageAdmin', 'NoAccess']));
    else if (x < 0.92) add(r.chance(0.8) ? 1 : 0, `/pool/${r.pick(pools)}`, who, r.chance(0.05) ? 'NoAccess' : r.pick(roles));
    else if (x < 0.97) add(1, `/nodes/${r.pick(nodes)}`, who, r.pick(['Monitor', 'PVEAuditor', 'NoAccess']));
    else add(1, `/sdn/zones/zone${r.int(4)}`, who, 'NetUser');
  }
  for (const line of acl) lines.push(line);
  return {
    files: [{ path: 'user.cfg', text: `${lines.join('\n')}\n` }],
    notes: `${tokens.length} tokens (half privsep), 100 pools × ${perPool} VMs, 20 storages, 8 nodes, 8 custom roles, ${acl.size} ACL entries (${[...acl].filter((l) => l.endsWith(':NoAccess:')).length} NoAccess)`,
    change(model) {
      const removable = existing(model, (g) => g.resource.startsWith('/pool/') && !g.principal.includes('@'), 2, 7);
      const userVm = existing(model, (g) => g.resource.startsWith('/vms/') && g.role !== 'NoAccess', 2, 8);
      const items: ChangeItem[] = [
        { id: 'c1', op: 'add', grant: { principal: 'g7', role: 'VMOperator', resource: '/vms', propagate: true, effect: 'allow' } },
        { id: 'c2', op: 'add', grant: { principal: 'g8', role: 'PVEAuditor', resource: '/', propagate: true, effect: 'allow' } },
        { id: 'c3', op: 'add', grant: { principal: 'g9', role: 'GuestOps', resource: '/pool/pool3', propagate: true, effect: 'allow' } },
        { id: 'c4', op: 'add', grant: { principal: users[11]!, role: 'NoAccess', resource: '/vms/150', propagate: false, effect: 'deny' } },
        { id: 'c5', op: 'add', grant: { principal: tokens[3]!, role: 'PVEVMUser', resource: '/vms', propagate: true, effect: 'allow' } },
        { id: 'c6', op: 'add', grant: { principal: users[42]!, privileges: ['vm.console', 'vm.power'], resource: '/vms/4242', propagate: false, effect: 'allow' } },
        ...removable.map((g, i): ChangeItem => ({ id: `c${7 + i}`, op: 'remove', grant: spec(g) })),
        ...userVm.map((g, i): ChangeItem => ({ id: `c${9 + i}`, op: 'replace', from: spec(g), to: { ...spec(g), role: 'SnapshotOnly' } })),
      ];
      return { backend: 'proxmox', items };
    },
  };
}

// ---------------------------------------------------------------------------------------------- vSphere

/**
 * vSphere: 2 datacenters; per datacenter a VM folder tree (10 top folders × 5 subfolders), 2 clusters of
 * 8 hosts with 10 resource pools each, a datastore folder. VMs sit in a subfolder and (80 %) in a
 * resource pool too, so most have two parents. Groups nest one level (10 % of groups hold other groups).
 */
export function vsphere(scale: Scale, seed = 2): Generated {
  const r = rng(seed);
  let n = 100;
  const next = (prefix: string): string => `${prefix}-${n++}`;
  const elements: unknown[] = [];
  const el = (path: string, type: string, value: string, parent: { type: string; value: string }, extra: Record<string, unknown> = {}): { type: string; value: string } => {
    const self = { type, value };
    elements.push({ path, object: { self, name: path.slice(path.lastIndexOf('/') + 1), parent, ...extra } });
    return self;
  };
  const root = { type: 'Folder', value: 'group-d1' };
  const vmFolders: { path: string; ref: { type: string; value: string } }[] = [];
  const pools: { path: string; ref: { type: string; value: string } }[] = [];
  const hosts: string[] = [];
  const clusters: string[] = [];
  const topFolders: string[] = [];
  const dcs: string[] = [];
  for (let d = 0; d < 2; d++) {
    const dc = `/DC${d}`;
    dcs.push(dc);
    const dcRef = el(dc, 'Datacenter', next('datacenter'), root);
    const vmRoot = el(`${dc}/vm`, 'Folder', next('group-v'), dcRef);
    const hostRoot = el(`${dc}/host`, 'Folder', next('group-h'), dcRef);
    const dsRoot = el(`${dc}/datastore`, 'Folder', next('group-s'), dcRef);
    for (let s = 0; s < 5; s++) el(`${dc}/datastore/ds${s}`, 'Datastore', next('datastore'), dsRoot);
    for (let f = 0; f < 10; f++) {
      const fp = `${dc}/vm/team${f}`;
      topFolders.push(fp);
      const fr = el(fp, 'Folder', next('group-v'), vmRoot);
      for (let s = 0; s < 5; s++) {
        const sp = `${fp}/app${s}`;
        vmFolders.push({ path: sp, ref: el(sp, 'Folder', next('group-v'), fr) });
      }
    }
    for (let c = 0; c < 2; c++) {
      const cp = `${dc}/host/cluster${c}`;
      clusters.push(cp);
      const rpRef = { type: 'ResourcePool', value: next('resgroup') };
      const cr = el(cp, 'ClusterComputeResource', next('domain-c'), hostRoot, { resourcePool: rpRef });
      elements.push({ path: `${cp}/Resources`, object: { self: rpRef, name: 'Resources', parent: cr } });
      for (let h = 0; h < 8; h++) {
        const hp = `${cp}/esx${h}`;
        hosts.push(hp);
        el(hp, 'HostSystem', next('host'), cr);
      }
      for (let p = 0; p < 10; p++) {
        const pp = `${cp}/Resources/rp${p}`;
        pools.push({ path: pp, ref: el(pp, 'ResourcePool', next('resgroup'), rpRef) });
      }
    }
  }
  const vms: string[] = [];
  for (let i = 0; i < scale.vms; i++) {
    const f = r.pick(vmFolders);
    const path = `${f.path}/vm${i}`;
    vms.push(path);
    el(path, 'VirtualMachine', `vm-${i + 10_000}`, f.ref, r.chance(0.8) ? { resourcePool: r.pick(pools).ref } : {});
  }
  const dom = 'CORP';
  const users = Array.from({ length: scale.users }, (_, i) => `${dom}\\u${i}`);
  const groups = Array.from({ length: scale.groups }, (_, i) => `${dom}\\g${i}`);
  const membership: Record<string, string[]> = Object.fromEntries(groups.map((g) => [g, [] as string[]]));
  for (const u of users) {
    membership[r.pick(groups)]!.push(u);
    if (r.chance(0.5)) membership[r.pick(groups)]!.push(u);
  }
  for (let i = 0; i < scale.groups / 10; i++) membership[groups[i]!]!.push(groups[scale.groups - 1 - i]!);
  for (const g of groups) membership[g] = [...new Set(membership[g])];
  const customRoles = [
    { roleId: 100, name: 'vm-operator', privilege: ['VirtualMachine.Interact.PowerOn', 'VirtualMachine.Interact.PowerOff', 'VirtualMachine.Interact.ConsoleInteract', 'VirtualMachine.Interact.Reset'] },
    { roleId: 101, name: 'snapshot-admin', privilege: ['VirtualMachine.State.CreateSnapshot', 'VirtualMachine.State.RemoveSnapshot', 'VirtualMachine.State.RevertToSnapshot'] },
    { roleId: 102, name: 'guest-ops', privilege: ['VirtualMachine.GuestOperations.Query', 'VirtualMachine.GuestOperations.Modify', 'VirtualMachine.GuestOperations.Execute'] },
    { roleId: 103, name: 'datastore-user', privilege: ['Datastore.Browse', 'Datastore.AllocateSpace'] },
    { roleId: 104, name: 'host-ops', privilege: ['Host.Config.Maintenance', 'Host.Config.Power'] },
  ].map((x) => ({ ...x, system: false, privilege: ['System.Anonymous', 'System.Read', 'System.View', ...x.privilege] }));
  const roleIds = [-2, 100, 101, 102, 103];
  const perms = new Map<string, unknown>();
  const refOf = new Map<string, { type: string; value: string }>();
  for (const e of elements as { path: string; object: { self: { type: string; value: string } } }[]) refOf.set(e.path, e.object.self);
  const perm = (on: string, principal: string, group: boolean, roleId: number, propagate: boolean): void => {
    const entity = on === '/' ? root : refOf.get(on)!;
    perms.set(`${on} ${principal}`, { entity, principal, group, propagate, roleId });
  };
  membership[`${dom}\\admins`] = users.slice(0, 3);
  perm('/', `${dom}\\admins`, true, -1, true); // vCenter administrators: a handful of people
  perm('/', `${dom}\\g1`, true, -2, true); // read-only for everybody in g1
  for (const [i, g] of groups.entries()) {
    if (i < 2) continue;
    // Teams own an application folder (a tenth own a whole top folder) and, for half of them, a resource pool.
    perm(r.chance(0.1) ? r.pick(topFolders) : r.pick(vmFolders).path, g, true, r.pick(roleIds), true);
    if (r.chance(0.5)) perm(r.pick(pools).path, g, true, r.pick(roleIds), r.chance(0.3));
    if (r.chance(0.1)) perm(r.pick(clusters), g, true, -2, true);
  }
  while (perms.size < scale.grants) {
    const u = r.pick(users);
    const x = r.next();
    if (x < 0.85) perm(r.pick(vms), u, false, r.chance(0.06) ? -5 : r.pick(roleIds), false);
    else if (x < 0.93) perm(r.pick(vmFolders).path, u, false, r.chance(0.05) ? -5 : r.pick(roleIds), r.chance(0.8));
    else if (x < 0.97) perm(r.pick(hosts), u, false, r.pick([-2, 104]), false);
    else perm(r.pick(pools).path, u, false, r.pick(roleIds), true);
  }
  const files: NativeFile[] = [
    { path: 'ls.json', text: JSON.stringify({ elements }) },
    { path: 'roles.json', text: JSON.stringify(customRoles) },
    { path: 'permissions.json', text: JSON.stringify({ permissions: [...perms.values()] }) },
    { path: 'groups.json', text: JSON.stringify({ groups: membership }) },
  ];
  return {
    files,
    notes: `2 datacenters, ${topFolders.length} + ${vmFolders.length} VM folders, ${clusters.length} clusters, ${hosts.length} hosts, ${pools.length} resource pools, ~80 % of VMs with two parents, ${scale.groups / 10} nested groups, 5 custom roles, ${perms.size} permissions`,
    change(model) {
      const groupGrants = existing(model, (g) => g.principal.includes('\\g') && g.principal !== `${dom}\\g0` && g.principal !== `${dom}\\g1`, 2, 9);
      const userGrants = existing(model, (g) => /\\u\d+$/.test(g.principal) && g.role !== 'NoAccess', 3, 10);
      const items: ChangeItem[] = [
        { id: 'c1', op: 'add', grant: { principal: `${dom}\\g17`, role: 'Admin', resource: vmFolders[3]!.path, propagate: true, effect: 'allow' } },
        { id: 'c2', op: 'add', grant: { principal: `${dom}\\g23`, role: 'vm-operator', resource: topFolders[12]!, propagate: true, effect: 'allow' } },
        { id: 'c2b', op: 'add', grant: { principal: `${dom}\\g29`, role: 'ReadOnly', resource: '/DC1', propagate: true, effect: 'allow' } },
        { id: 'c3', op: 'add', grant: { principal: `${dom}\\u5`, role: 'NoAccess', resource: vms[5]!, propagate: false, effect: 'deny' } },
        { id: 'c4', op: 'add', grant: { principal: `${dom}\\u77`, privileges: ['vm.console', 'vm.power'], resource: topFolders[3]!, propagate: true, effect: 'allow' } },
        { id: 'c5', op: 'add', grant: { principal: `${dom}\\g31`, role: 'guest-ops', resource: clusters[1]!, propagate: true, effect: 'allow' } },
        ...groupGrants.map((g, i): ChangeItem => ({ id: `c${6 + i}`, op: 'remove', grant: spec(g) })),
        ...userGrants.slice(0, 2).map((g, i): ChangeItem => ({ id: `c${8 + i}`, op: 'replace', from: spec(g), to: { ...spec(g), role: 'snapshot-admin' } })),
      ];
      return { backend: 'vsphere', items };
    },
  };
}

// ---------------------------------------------------------------------------------------------- libvirt

const LIBVIRT_POLICY = new URL('../../test/fixtures/libvirt/org.libvirt.api.policy', import.meta.url);
const LIBVIRT_DEFAULT_RULES = new URL('../../test/fixtures/libvirt/60-libvirt.rules', import.meta.url);

/** Domain name prefixes: foreign rules restrict teams by name (`/^web-/`), as aclpolkit.rst's examples do. */
const DOMAIN_PREFIXES = ['web', 'db', 'app', 'ci', 'dev', 'cache', 'mq', 'lb'];

/**
 * Realistic foreign polkit rules for a fleet: team rules on domain name prefixes and drivers, an auditors
 * group, storage and network teams, per-user denials, an on-call rule reading connect_driver. ES5.
 */
function libvirtForeignRule(r: ReturnType<typeof rng>, groups: readonly string[], users: readonly string[], i: number): string {
  const g = r.pick(groups);
  const q = JSON.stringify;
  const pre = r.pick(DOMAIN_PREFIXES);
  const actions = (xs: string[]): string => `[${xs.map((a) => q(`org.libvirt.api.${a}`)).join(', ')}]`;
  switch (i % 8) {
    case 0: // a team may power and open the console of QEMU domains with its prefix
      return `polkit.addRule(function (action, subject) {
  if (action.id.indexOf("org.libvirt.api.domain.") != 0) return polkit.Result.NOT_HANDLED;
  if (!subject.isInGroup(${q(g)})) return polkit.Result.NOT_HANDLED;
  if (action.lookup("connect_driver") == "QEMU" && /^${pre}-/.test(action.lookup("domain_name") || "") &&
      ${actions(['domain.start', 'domain.stop', 'domain.reset', 'domain.open-graphics', 'domain.screenshot'])}.indexOf(action.id) >= 0) {
    return polkit.Result.YES;
  }
  return polkit.Result.NOT_HANDLED;
});`;
    case 1: // auditors read everything
      return `polkit.addRule(function (action, subject) {
  if (subject.isInGroup(${q(g)}) && /\.(getattr|read|search-[a-z-]+)$/.test(action.id)) return polkit.Result.YES;
});`;
    case 2: // a storage team manages pools and volumes
      return `polkit.addRule(function (action, subject) {
  if ((action.id.indexOf("org.libvirt.api.storage-pool.") == 0 || action.id.indexOf("org.libvirt.api.storage-vol.") == 0) &&
      subject.isInGroup(${q(g)})) return polkit.Result.YES;
});`;
    case 3: // a network team manages networks except "default"
      return `polkit.addRule(function (action, subject) {
  if (action.id.indexOf("org.libvirt.api.network.") == 0 && subject.isInGroup(${q(g)})) {
    return action.lookup("network_name") == "default" ? polkit.Result.NO : polkit.Result.YES;
  }
});`;
    case 4: // named people are kept off LXC
      return `var DENIED_${i} = [${[r.pick(users), r.pick(users), r.pick(users)].map((u) => q(u)).join(', ')}];
polkit.addRule(function (action, subject) {
  if (DENIED_${i}.indexOf(subject.user) >= 0 && action.lookup("connect_driver") == "LXC") return polkit.Result.NO;
});`;
    case 5: // a team owns every domain action on its prefix; deletes need an admin
      return `polkit.addRule(function (action, subject) {
  if (action.id.indexOf("org.libvirt.api.domain.") == 0 && subject.isInGroup(${q(g)}) &&
      (action.lookup("domain_name") || "").indexOf(${q(`${pre}-`)}) == 0) {
    return action.id == "org.libvirt.api.domain.delete" ? polkit.Result.AUTH_ADMIN : polkit.Result.YES;
  }
});`;
    case 6: // on-call may connect to any driver and start domains
      return `polkit.addRule(function (action, subject) {
  if (!subject.isInGroup(${q(g)})) return null;
  if (action.id == "org.libvirt.api.connect.getattr" || action.id == "org.libvirt.api.connect.read") return polkit.Result.YES;
  if (action.id == "org.libvirt.api.domain.start" && action.lookup("connect_driver") == "QEMU") return polkit.Result.YES;
  return null;
});`;
    default: // a contractor may only look at one domain
      return `polkit.addRule(function (action, subject) {
  if (subject.user == ${q(r.pick(users))} && action.id.indexOf("org.libvirt.api.domain.") == 0) {
    return action.lookup("domain_name") == ${q(`${pre}-${r.int(50)}`)} && action.id == "org.libvirt.api.domain.getattr" ? polkit.Result.YES : polkit.Result.NO;
  }
});`;
  }
}

/**
 * libvirt fleet: `hosts` hosts (QEMU, LXC), `scale.vms` domains spread over them (names `PREFIX-N`), per host
 * 2 networks, 2 storage pools with 3 volumes each; `scale.users` unix users in `scale.groups` groups (1–3
 * each); `rulesFiles` foreign rules files (most shared by every host, one in four a single host's own);
 * Accord's rules file per host holds `scale.grants` grants in all (domains by name, hosts' drivers,
 * networks, a few on the fleet root; some deny), rendered by Accord's own renderer so the importer
 * recognises them.
 */
export function libvirt(scale: Scale, seed = 3, hostCount = 20, rulesFiles = 40): Generated {
  const r = rng(seed);
  const groups = Array.from({ length: scale.groups }, (_, i) => `team${i}`);
  const users = Array.from({ length: scale.users }, (_, i) => ({
    name: `user${i}`, uid: 1000 + i, groups: [`user${i}`, ...new Set(Array.from({ length: 1 + r.int(3) }, () => r.pick(groups)))],
  }));
  const hostNames = Array.from({ length: hostCount }, (_, i) => `hv${String(i).padStart(2, '0')}`);
  const perHost = Math.ceil(scale.vms / hostCount);
  const hosts = hostNames.map((name, h) => ({
    name, drivers: ['QEMU', 'LXC'],
    objects: [
      ...Array.from({ length: Math.min(perHost, scale.vms - h * perHost) }, (_, i) => {
        const n = h * perHost + i;
        return { type: 'domain', driver: n % 10 === 0 ? 'LXC' : 'QEMU', name: `${DOMAIN_PREFIXES[n % DOMAIN_PREFIXES.length]!}-${n}`, uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` };
      }),
      { type: 'network', name: 'default' }, { type: 'network', name: `net-${name}` },
      ...['images', 'iso'].flatMap((pool) => [
        { type: 'storage-pool', name: pool, uuid: `00000000-0000-4000-9000-${String(h).padStart(10, '0')}${pool === 'images' ? '01' : '02'}` },
        ...Array.from({ length: 3 }, (_, v) => ({ type: 'storage-vol', pool, name: `vol${v}.qcow2` })),
      ]),
    ],
  }));
  const inventory = { kind: 'libvirt-inventory', host: 'fleet', users: [{ name: 'root', uid: 0, groups: ['root'] }, ...users], groups: [...groups, 'libvirt'], hosts };
  const base: NativeFile[] = [
    { path: '/usr/share/polkit-1/actions/org.libvirt.api.policy', text: readFileSync(LIBVIRT_POLICY, 'utf8') },
    { path: 'inventory.json', text: JSON.stringify(inventory) },
    { path: '/usr/share/polkit-1/rules.d/60-libvirt.rules', text: readFileSync(LIBVIRT_DEFAULT_RULES, 'utf8') },
  ];
  const userNames = users.map((u) => u.name);
  for (let i = 0; i < rulesFiles; i++) {
    const name = `${String(10 + ((i * 7) % 80)).padStart(2, '0')}-site${i}.rules`;
    const text = `// generated site rules ${i}
${libvirtForeignRule(r, groups, userNames, i)}
`;
    base.push({ path: i % 4 === 3 ? `hosts/${hostNames[(i * 3) % hostCount]!}/etc/polkit-1/rules.d/${name}` : `/etc/polkit-1/rules.d/${name}`, text });
  }
  const privs = [['vm.view'], ['vm.view', 'vm.console'], ['vm.view', 'vm.power'], ['vm.snapshot'], ['vm.config', 'vm.view']] as const;
  const domains = hosts.flatMap((h) => h.objects.flatMap((o) => ('driver' in o && o.type === 'domain' ? [{ host: h.name, driver: o.driver, name: o.name }] : [])));
  const grants: Grant[] = [];
  const seen = new Set<string>();
  while (grants.length < scale.grants) {
    const group = r.chance(0.3);
    const principal = group ? `unix-group:${r.pick(groups)}` : `unix-user:${r.pick(users).name}`;
    const d = r.pick(domains);
    const x = r.next();
    const resource = x < 0.85 ? `${d.host}:/${d.driver}/domain/${d.name}` : x < 0.95 ? `${d.host}:/network/network/default` : x < 0.995 ? `${d.host}:/QEMU` : '/';
    const deny = r.chance(0.05);
    const key = `${principal} ${resource} ${deny}`;
    if (seen.has(key)) continue;
    seen.add(key);
    grants.push({
      id: `g${grants.length}`, principal, resource, propagate: resource.endsWith('/QEMU'), effect: deny ? 'deny' : 'allow',
      privileges: resource.includes('/network/') ? ['network.manage'] : resource === '/' ? ['host.view'] : [...r.pick(privs)], provenance: {},
    });
  }
  const known = knownActions(nativeOf(libvirtBackend.import(base)));
  const rules: NativeFile[] = hostNames.map((h) => ({ path: `hosts/${h}/etc/polkit-1/rules.d/50-accord.rules`, text: renderRulesFile(grants, known, h) }));
  return {
    files: [...base, ...rules],
    notes: `${hostCount} hosts × ${perHost} domains (QEMU, LXC), 2 networks and 2 storage pools × 3 volumes per host, ${scale.users} users in ${scale.groups} groups, ${rulesFiles} foreign rules files (${rulesFiles - Math.floor((rulesFiles + 1) / 4)} shared, ${Math.floor((rulesFiles + 1) / 4)} a host's own), ${grants.length} Accord grants in ${hostCount} per-host files`,
    change(model) {
      const some = existing(model, (g) => g.effect === 'allow' && g.resource.includes('/domain/'), 4, 11);
      // Small scales (the tests' generated inventories) have few hosts and domains: pick modulo their counts.
      const host = (i: number) => hostNames[i % hostNames.length]!;
      const d3 = domains[3 % domains.length]!;
      const d4 = domains[(4 + perHost) % domains.length]!;
      const lxc = domains.find((d) => d.driver === 'LXC' && d.host === host(5)) ?? domains.find((d) => d.driver === 'LXC') ?? domains[0]!;
      const items: ChangeItem[] = [
        { id: 'c1', op: 'add', grant: { principal: 'unix-group:team1', privileges: ['vm.view', 'vm.power'], resource: `${host(1)}:/QEMU`, propagate: true, effect: 'allow' } },
        { id: 'c2', op: 'add', grant: { principal: 'unix-group:team2', privileges: ['vm.console'], resource: `${host(2)}:/QEMU`, propagate: true, effect: 'allow' } },
        { id: 'c3', op: 'add', grant: { principal: 'unix-user:user3', privileges: ['vm.view'], resource: `${d3.host}:/${d3.driver}/domain/${d3.name}`, propagate: false, effect: 'deny' } },
        { id: 'c4', op: 'add', grant: { principal: 'unix-user:user4', privileges: ['vm.snapshot'], resource: `${d4.host}:/${d4.driver}/domain/${d4.name}`, propagate: false, effect: 'allow' } },
        { id: 'c5', op: 'add', grant: { principal: 'unix-group:team3', privileges: ['network.manage'], resource: `${host(6)}:/network/network/default`, propagate: false, effect: 'allow' } },
        { id: 'c6', op: 'add', grant: { principal: 'unix-user:user6', privileges: ['vm.view', 'vm.console'], resource: `${lxc.host}:/LXC/domain/${lxc.name}`, propagate: false, effect: 'allow' } },
        ...some.slice(0, 2).map((g, i): ChangeItem => ({ id: `c${7 + i}`, op: 'remove', grant: spec(g) })),
        ...some.slice(2).map((g, i): ChangeItem => ({ id: `c${9 + i}`, op: 'replace', from: spec(g), to: { ...spec(g), privileges: ['vm.view', 'vm.snapshot'] } })),
      ];
      return { backend: 'libvirt', items };
    },
  };
}

// ---------------------------------------------------------------------------------------------- XAPI

const XAPI_ROLES = ['pool-admin', 'pool-operator', 'vm-power-admin', 'vm-admin', 'vm-operator', 'read-only'];
const uuid = (kind: number, i: number): string => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const rec = (fields: [string, string, string][]): string => {
  const w = Math.max(...fields.map(([k, m]) => `${k} (${m})`.length));
  return `${fields.map(([k, m, v]) => `${`${k} (${m})`.padStart(w)}: ${v}`).join('\n')}\n\n\n`;
};

/**
 * XAPI: one pool, 8 hosts, `scale.vms` VMs (plus one control domain per host), `scale.users` AD users and
 * `scale.groups` AD groups as subjects (`scale.grants` subject roles in all: roles are pool-wide), group
 * membership file, the six built-in roles from the fixture `role-list`.
 */
export function xapi(scale: Scale, seed = 4): Generated {
  const r = rng(seed);
  const hosts = Array.from({ length: 8 }, (_, i) => ({ uuid: uuid(1, i), name: `xs-node${i}` }));
  const pool = rec([['uuid', ' RO', uuid(2, 0)], ['name-label', ' RW', 'prod-pool'], ['name-description', ' RW', ''], ['master', ' RO', hosts[0]!.uuid], ['default-SR', ' RW', uuid(3, 0)]]);
  const hostText = hosts.map((h) => rec([['uuid', ' RO', h.uuid], ['name-label', ' RW', h.name], ['name-description', ' RW', 'Default install']])).join('');
  const vmText = [
    ...hosts.map((h, i) => rec([['uuid', ' RO', uuid(4, i)], ['name-label', ' RW', `Control domain on host: ${h.name}`], ['power-state', ' RO', 'running'], ['is-control-domain', ' RO', 'true'], ['resident-on', ' RO', h.uuid]])),
    ...Array.from({ length: scale.vms }, (_, i) => rec([['uuid', ' RO', uuid(5, i)], ['name-label', ' RW', `vm${i}`], ['power-state', ' RO', r.chance(0.8) ? 'running' : 'halted'], ['is-control-domain', ' RO', 'false'], ['resident-on', ' RO', r.pick(hosts).uuid]])),
  ].join('');
  const groups = Array.from({ length: scale.groups }, (_, i) => `CORP\\xg${i}`);
  const users = Array.from({ length: scale.users }, (_, i) => `CORP\\xu${i}`);
  const membership: Record<string, string[]> = Object.fromEntries(groups.map((g) => [g, [] as string[]]));
  for (const u of users) membership[r.pick(groups)]!.push(u);
  const subjects: string[] = [];
  const subject = (i: number, name: string, isGroup: boolean, role: string): void => {
    subjects.push(rec([
      ['uuid', ' RO', uuid(6, i)], ['subject-identifier', ' RO', `S-1-5-21-1-2-3-${10_000 + i}`],
      ['other-config', 'MRO', `subject-name: ${name}; subject-sid: S-1-5-21-1-2-3-${10_000 + i}; subject-is-group: ${isGroup}; subject-account-disabled: ${!isGroup && r.chance(0.03)}`],
      ['roles', 'SRO', role],
    ]));
  };
  // Every group is a subject; users become subjects until `scale.grants` subject roles exist.
  groups.forEach((g, i) => subject(i, g, true, r.pick(XAPI_ROLES)));
  for (let i = 0; subjects.length < Math.min(scale.grants, scale.groups + scale.users); i++) subject(scale.groups + i, users[i]!, false, r.pick(XAPI_ROLES.slice(2)));
  return {
    files: [
      { path: 'pool-list.txt', text: pool }, { path: 'host-list.txt', text: hostText }, { path: 'vm-list.txt', text: vmText },
      { path: 'role-list.txt', text: readFileSync(new URL('../../test/fixtures/xapi/role-list.txt', import.meta.url), 'utf8') },
      { path: 'subject-list.txt', text: subjects.join('') },
      { path: 'membership.json', text: JSON.stringify({ format: 'accord-xapi-membership/1', groups: membership }) },
    ],
    notes: `1 pool, 8 hosts, ${scale.vms} VMs + 8 control domains, ${subjects.length} subjects (${scale.groups} groups), roles pool-wide`,
    change(model) {
      const some = existing(model, (g) => g.role !== 'pool-admin' && !g.id.startsWith('builtin:'), 4, 12);
      const items: ChangeItem[] = [
        { id: 'c1', op: 'add', grant: { principal: groups[1]!, role: 'pool-admin', resource: 'pool', propagate: true, effect: 'allow' } },
        { id: 'c2', op: 'add', grant: { principal: groups[2]!, role: 'vm-admin', resource: 'pool', propagate: true, effect: 'allow' } },
        { id: 'c3', op: 'add', grant: { principal: users[scale.users - 1]!, role: 'vm-operator', resource: 'pool', propagate: true, effect: 'allow' } },
        { id: 'c4', op: 'add', grant: { principal: users[scale.users - 2]!, role: 'read-only', resource: 'pool', propagate: true, effect: 'allow' } },
        ...some.slice(0, 3).map((g, i): ChangeItem => ({ id: `c${5 + i}`, op: 'remove', grant: spec(g) })),
        ...some.slice(3).map((g, i): ChangeItem => ({ id: `c${8 + i}`, op: 'replace', from: spec(g), to: { ...spec(g), role: 'vm-power-admin' } })),
      ];
      return { backend: 'xapi', items };
    },
  };
}
