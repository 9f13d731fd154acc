/**
 * The VMware vSphere connector (docs/backends/vsphere.md, "Connector"): talks vim25 SOAP to a vCenter (or a
 * standalone ESXi host) with ./soap.ts.
 *
 * - read: roles (AuthorizationManager.roleList), every permission (RetrieveAllPermissions) and the
 *   inventory (a recursive ContainerView over the root folder), written as the govc `-json` files
 *   server/backends/vsphere/import.ts reads. SSO group membership is not readable through vim25: it comes from
 *   the connection's optional `membershipFile` (the importer's group membership file).
 * - plan: the generic diff, except that vSphere holds one permission per (entity, principal): a grant whose
 *   role or propagation changes is one `set` step (SetEntityPermissions overrides), not a remove and an add.
 * - apply: `set` reads the entity's own permissions (RetrieveEntityPermissions, inherited=false), replaces
 *   the principal's and sends the whole list. vCenter merges what it is sent per principal, so the others
 *   are re-set unchanged; vcsim replaces the entity's whole list, so they must be sent. `remove` is
 *   RemoveEntityPermission, skipped when the permission is already gone (vCenter faults NotFound there,
 *   vcsim does not). A role a grant needs that the target lacks (Accord's `ACR_<hash>` roles made for
 *   common privileges) is created first with AddAuthorizationRole, in the same step.
 */
import { readMembershipFile } from '../membership.ts';
import { z } from 'zod';
import type { AccessModel, Backend, ChangeSet, GrantSpec, NativeFile } from '../../domain/access/model.ts';
import { nativeOf } from '../../backends/vsphere/native.ts';
import { ConnectorError, describeGrant, diffPlan, grantKey, type Connector, type ConnectorFactory, type ParsedConnection, type PlanStep } from '../types.ts';
import { VimClient, VimFault, type MoRef, type VimEntity, type VimPermission, type VimRole } from './soap.ts';

/** More entities than this is refused rather than half-read (the largest vCenters hold about 50,000 VMs). */
const MAX_ENTITIES = 500_000;

const Connection = z.strictObject({
  /** The SDK endpoint, `https://vcenter.example/sdk` (`/sdk` is added to a URL without a path). */
  url: z.string().min(1).max(2000).refine((u) => {
    try {
      const p = new URL(u).protocol;
      return p === 'https:' || p === 'http:';
    } catch {
      return false; // not a URL: the refinement's message says so
    }
  }, 'must be an http(s) URL'),
  username: z.string().min(1).max(500),
  /** Accept the server's TLS certificate without verifying it (self-signed vCenter). */
  insecure: z.boolean().default(false),
  /** Per SOAP request, in ms. */
  timeoutMs: z.number().int().min(1_000).max(600_000).default(60_000),
  /**
   * SSO group membership, which vim25 does not expose: a local JSON file `{"groups": {GROUP: [MEMBER...]}}`
   * (docs/backends/vsphere.md, "group membership") read with every read, so new principals are known.
   */
  membershipFile: z.string().min(1).max(500).refine((p) => p.startsWith('/'), 'must be an absolute path').optional(),
});
type Connection = z.infer<typeof Connection>;

const Secrets = z.strictObject({ password: z.string().min(1).max(1000) });

/** What a step carries so it can be applied (and resumed) without the models: JSON only. */
const StepNative = z.object({
  entity: z.object({ type: z.string().min(1), value: z.string().min(1) }),
  principal: z.string().min(1),
  group: z.boolean(),
  /** For a set: the role by name (ids are looked up at apply time) and its propagation. */
  role: z.string().min(1).optional(),
  propagate: z.boolean().optional(),
  /** For a set whose role the target lacks: the privileges to create it with. */
  createRole: z.array(z.string()).optional(),
});
type StepNative = z.infer<typeof StepNative>;

const refKey = (r: MoRef): string => `${r.type}:${r.value}`;
const samePrincipal = (p: VimPermission, principal: string, group: boolean): boolean => p.principal === principal && p.group === group;

/** The inventory path govc prints for each entity: names from the root folder down. */
function inventoryPaths(root: MoRef, entities: readonly VimEntity[]): Map<string, string> {
  const byRef = new Map(entities.map((e) => [refKey(e.self), e]));
  const paths = new Map<string, string>([[refKey(root), '']]);
  const pathOf = (e: VimEntity, depth: number): string => {
    const key = refKey(e.self);
    const known = paths.get(key);
    if (known !== undefined) return known;
    // Where the object sits in the inventory tree: a vApp's folder, a vApp VM's vApp, else its parent.
    const up = e.self.type === 'VirtualApp' ? e.parentFolder ?? e.parent
      : e.self.type === 'VirtualMachine' ? e.parent ?? e.parentVApp
        : e.parent;
    let prefix: string;
    if (!up) prefix = ''; // only the root folder has no parent; vSphere lists nothing else without one
    else if (paths.has(refKey(up))) prefix = paths.get(refKey(up)) as string;
    else {
      const parent = byRef.get(refKey(up));
      // A parent outside the view (created or moved while listing): a placeholder segment, which the
      // importer reports as a parent not in the inventory.
      prefix = parent && depth < 256 ? pathOf(parent, depth + 1) : `/${refKey(up)}`;
    }
    const path = `${prefix}/${e.name ?? refKey(e.self)}`;
    paths.set(key, path);
    return path;
  };
  for (const e of entities) pathOf(e, 0);
  return paths;
}

const goRef = (r: MoRef): { Type: string; Value: string } => ({ Type: r.type, Value: r.value });

/** The three govc `-json` files (Debian's govc 0.24 spelling: Go field names). */
function nativeFiles(root: MoRef, roles: readonly VimRole[], permissions: readonly VimPermission[], entities: readonly VimEntity[]): NativeFile[] {
  const rolesJson = roles.map((r) => ({
    RoleId: r.roleId, System: r.system, Name: r.name,
    ...(r.info ? { Info: { Label: r.info.label, Summary: r.info.summary } } : {}),
    Privilege: r.privilege,
  }));
  const paths = inventoryPaths(root, entities);
  const sortedPerms = [...permissions].sort((a, b) => {
    const ea = a.entity ? paths.get(refKey(a.entity)) ?? refKey(a.entity) : '';
    const eb = b.entity ? paths.get(refKey(b.entity)) ?? refKey(b.entity) : '';
    return ea < eb ? -1 : ea > eb ? 1 : a.principal < b.principal ? -1 : a.principal > b.principal ? 1 : Number(a.group) - Number(b.group);
  });
  const permissionsJson = {
    Permissions: sortedPerms.map((p) => ({
      ...(p.entity ? { Entity: goRef(p.entity) } : {}),
      Principal: p.principal, Group: p.group, RoleId: p.roleId, Propagate: p.propagate,
    })),
  };
  const elements = entities.map((e) => ({
    Path: paths.get(refKey(e.self)) as string,
    Object: {
      Self: goRef(e.self),
      ...(e.name !== undefined ? { Name: e.name } : {}),
      ...(e.parent ? { Parent: goRef(e.parent) } : {}),
      ...(e.resourcePool ? { ResourcePool: goRef(e.resourcePool) } : {}),
      ...(e.parentVApp ? { ParentVApp: goRef(e.parentVApp) } : {}),
      ...(e.parentFolder ? { ParentFolder: goRef(e.parentFolder) } : {}),
    },
  })).sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
  return [
    { path: 'roles.json', text: `${JSON.stringify(rolesJson, null, 1)}\n` },
    { path: 'permissions.json', text: `${JSON.stringify(permissionsJson, null, 1)}\n` },
    { path: 'inventory.json', text: `${JSON.stringify({ elements }, null, 1)}\n` },
  ];
}

const permissionId = (g: Pick<GrantSpec, 'resource' | 'principal'>): string => `${g.resource}#${g.principal}`;

export class VsphereConnector implements Connector {
  readonly client: VimClient;
  private readonly username: string;
  private readonly password: string;
  private readonly membershipFile: string | undefined;

  constructor(connection: Connection, password: string) {
    this.membershipFile = connection.membershipFile;
    this.client = new VimClient({ url: connection.url, insecure: connection.insecure, timeoutMs: connection.timeoutMs });
    this.username = connection.username;
    this.password = password;
  }

  private async session(): Promise<VimClient> {
    if (!this.client.loggedIn) await this.client.login(this.username, this.password);
    return this.client;
  }

  async read(): Promise<NativeFile[]> {
    const client = await this.session();
    const sc = await client.serviceContent();
    const roles = await client.roleList();
    const entities = await client.listEntities();
    if (entities.length > MAX_ENTITIES) throw new ConnectorError('too_large', `the inventory holds ${entities.length} entities (at most ${MAX_ENTITIES} are read)`);
    const permissions = await client.retrieveAllPermissions();
    const files = nativeFiles(sc.rootFolder, roles, permissions, entities);
    if (this.membershipFile !== undefined) files.push(await readMembershipFile(this.membershipFile, 'groups.json'));
    return files;
  }

  plan(observed: AccessModel, desired: AccessModel, change: ChangeSet): PlanStep[] {
    const diff = diffPlan(observed, desired, change);
    const refs = { ...nativeOf(desired).refById, ...nativeOf(observed).refById };
    const roleIds = nativeOf(observed).roleIds;
    const kinds = new Map([...observed.principals, ...desired.principals].map((p) => [p.id, p.kind]));
    const entityOf = (g: GrantSpec): MoRef => {
      const r = refs[g.resource];
      if (!r) throw new ConnectorError('invalid', `no managed object reference for ${g.resource}: re-read the target`);
      return { type: r.type, value: r.value };
    };
    const base = (g: GrantSpec): StepNative => ({ entity: entityOf(g), principal: g.principal, group: kinds.get(g.principal) === 'group' });

    const adds = new Map(diff.filter((s) => s.op === 'add').map((s) => [permissionId(s.grant as GrantSpec), s]));
    const steps: PlanStep[] = [];
    const setSteps: PlanStep[] = [];
    for (const s of diff) {
      const g = s.grant as GrantSpec;
      if (s.op === 'remove') {
        const add = adds.get(permissionId(g));
        if (add) {
          // Same (entity, principal): one SetEntityPermissions replaces the permission in place.
          setSteps.push(this.setStep(add, base, roleIds, desired, { replaces: g, itemIds: s.itemIds }));
          adds.delete(permissionId(g));
        } else {
          steps.push({ ...s, native: base(g) });
        }
      }
    }
    for (const s of diff) {
      if (s.op === 'add' && adds.get(permissionId(s.grant as GrantSpec)) === s) setSteps.push(this.setStep(s, base, roleIds, desired));
    }
    return [...steps, ...setSteps];
  }

  private setStep(
    add: PlanStep, base: (g: GrantSpec) => StepNative, roleIds: Record<string, number>, desired: AccessModel,
    replacing?: { replaces: GrantSpec; itemIds: string[] },
  ): PlanStep {
    const g = add.grant as GrantSpec;
    if (g.role === undefined) throw new ConnectorError('invalid', `${describeGrant(g)}: vSphere grants through roles; the desired model names none`);
    const native: StepNative = { ...base(g), role: g.role, propagate: g.propagate };
    if (roleIds[g.role] === undefined) {
      const def = desired.roles.find((r) => r.name === g.role);
      if (!def) throw new ConnectorError('invalid', `role ${g.role} is neither on the target nor defined by the change`);
      native.createRole = def.privileges.slice().sort();
    }
    if (!replacing) return { ...add, native };
    return {
      id: `set:${grantKey(g)}`,
      itemIds: [...new Set([...replacing.itemIds, ...add.itemIds])],
      op: 'add',
      grant: g,
      describe: `set ${describeGrant(g)} (replacing ${describeGrant(replacing.replaces)})`,
      native,
    };
  }

  async apply(step: PlanStep, _observed?: AccessModel, _desired?: AccessModel): Promise<void> {
    const parsed = StepNative.safeParse(step.native);
    if (!parsed.success) throw new ConnectorError('invalid', `step ${step.id} carries no vSphere operation (was it planned by another connector?)`);
    const n = parsed.data;
    const client = await this.session();
    if (step.op === 'remove') {
      const current = await client.retrieveEntityPermissions(n.entity, false);
      if (!current.some((p) => samePrincipal(p, n.principal, n.group))) return; // already gone
      try {
        await client.removeEntityPermission(n.entity, n.principal, n.group);
      } catch (e) {
        // Removed by someone else between the read and the call: the approved state holds.
        if (e instanceof VimFault && e.fault === 'NotFound') return;
        throw e;
      }
      return;
    }
    if (step.op !== 'add' || n.role === undefined || n.propagate === undefined) {
      throw new ConnectorError('invalid', `step ${step.id}: vSphere steps are add (set) or remove, with a role`);
    }
    const roleId = await this.roleId(client, n.role, n.createRole);
    const want: VimPermission = { entity: n.entity, principal: n.principal, group: n.group, roleId, propagate: n.propagate };
    const current = await client.retrieveEntityPermissions(n.entity, false);
    if (current.some((p) => samePrincipal(p, n.principal, n.group) && p.roleId === roleId && p.propagate === n.propagate)) return;
    // The whole list, the principal's permission replaced: right under vCenter's per-principal merge and
    // under vcsim's replace-everything. A permission vcsim stored without its entity gets it back.
    const merged = [...current.filter((p) => !samePrincipal(p, n.principal, n.group)).map((p) => ({ ...p, entity: p.entity ?? n.entity })), want];
    await client.setEntityPermissions(n.entity, merged);
  }

  /** The role's id on the target, creating the role first when the step says how. */
  private async roleId(client: VimClient, name: string, createWith: string[] | undefined): Promise<number> {
    const find = (roles: VimRole[]): number | undefined => roles.find((r) => r.name === name)?.roleId;
    const existing = find(await client.roleList());
    if (existing !== undefined) return existing;
    if (!createWith) throw new ConnectorError('conflict', `role ${name} no longer exists on the target: re-read it and plan again`);
    try {
      await client.addAuthorizationRole(name, createWith);
    } catch (e) {
      // Created concurrently (or by an earlier attempt whose answer was lost): use it.
      if (!(e instanceof VimFault && e.fault === 'AlreadyExists')) throw e;
    }
    const created = find(await client.roleList());
    if (created === undefined) throw new ConnectorError('conflict', `role ${name} was created but is not in the role list`);
    return created;
  }

  async close(): Promise<void> {
    await this.client.logout();
  }
}

export const vsphereConnector: ConnectorFactory = {
  backend: 'vsphere',
  parseConnection(input: Record<string, unknown>): ParsedConnection {
    const { password, ...rest } = input;
    const c = Connection.safeParse(rest);
    if (!c.success) {
      const i = c.error.issues[0];
      throw new ConnectorError('invalid', `vSphere target: ${i?.path.join('.') || 'connection'}: ${i?.message ?? 'invalid'}`);
    }
    const s = Secrets.safeParse({ password });
    if (!s.success) throw new ConnectorError('invalid', 'vSphere target: password: a non-empty string is required');
    return { connection: c.data as unknown as Record<string, unknown>, secrets: { password: s.data.password } };
  },
  open(parsed: ParsedConnection, _backend: Backend): VsphereConnector {
    const c = Connection.safeParse(parsed.connection);
    const s = Secrets.safeParse(parsed.secrets);
    if (!c.success || !s.success) throw new ConnectorError('invalid', 'vSphere target: stored connection is not readable (connect it again)');
    return new VsphereConnector(c.data, s.data.password);
  },
};
