/**
 * The hypervisor-neutral access model (DESIGN.md §2). Pure types and tiny helpers: no I/O.
 * Every backend (server/backends/<id>/) translates its native form to and from these shapes.
 */

export const BACKEND_IDS = ['proxmox', 'vsphere', 'libvirt', 'xapi'] as const;
export type BackendId = (typeof BACKEND_IDS)[number];

/** The common privilege vocabulary (reference/hypervisor-access.md §6.1). */
export const COMMON_PRIVILEGES = [
  'vm.view', 'vm.console', 'vm.power', 'vm.config.media', 'vm.config', 'vm.create', 'vm.delete',
  'vm.snapshot', 'vm.snapshot.revert', 'vm.clone', 'vm.migrate', 'vm.backup', 'vm.guest', 'vm.secrets',
  'host.view', 'host.config', 'host.power', 'host.shell',
  'network.view', 'network.use', 'network.manage',
  'storage.view', 'storage.allocate', 'storage.manage',
  'access.manage',
] as const;
export type CommonPrivilege = (typeof COMMON_PRIVILEGES)[number];

/** Privileges a reviewer must never miss: guest files, host shell, access management, revert, console, secrets. */
export const HIGH_RISK_PRIVILEGES: ReadonlySet<CommonPrivilege> = new Set<CommonPrivilege>([
  'vm.guest', 'host.shell', 'access.manage', 'vm.snapshot.revert', 'vm.console', 'vm.secrets',
]);

/** How faithfully a common privilege (or a grant) can be expressed natively. */
export type Fidelity = 'exact' | 'widened' | 'narrowed' | 'unrepresentable';

export type PrincipalKind = 'user' | 'group' | 'token';

export interface Principal {
  kind: PrincipalKind;
  /** Native spelling, unique within a model: `alice@pve`, `alice@pve!ci`, `ops` (Proxmox group), `VSPHERE.LOCAL\alice`. */
  id: string;
  /** Realm, SSO domain, AD domain, `unix`... */
  directory?: string;
  /** Groups (by principal id) a user belongs to. */
  memberOf?: string[];
  /** For a token: the owning user's id. */
  owner?: string;
  /** For a Proxmox token: privilege separation (token rights ∩ owner rights). */
  privsep?: boolean;
  /** False when the account is disabled natively. */
  enabled?: boolean;
  /** ISO date after which the principal no longer exists natively (Proxmox user/token expiry). */
  expiresAt?: string;
}

export type ResourceKind =
  | 'root' | 'datacenter' | 'folder' | 'cluster' | 'host' | 'pool' | 'vm' | 'network' | 'storage' | 'access' | 'other';

export interface Resource {
  /** Native reference, unique within a model: `/vms/100` (Proxmox ACL path), `/DC0/vm/web01` (vSphere path). */
  id: string;
  kind: ResourceKind;
  name?: string;
  /** Parent resource ids. A DAG, not a tree: vSphere objects may have two parents. Root has none. */
  parents: string[];
}

export interface Provenance {
  file?: string;
  line?: number;
  apiId?: string;
}

/** A role as the hypervisor defines it: a name and its native privileges. */
export interface RoleDefinition {
  name: string;
  privileges: string[];
  builtin: boolean;
  provenance?: Provenance;
}

export interface Grant {
  /** Stable within one model; e.g. `user.cfg:12` or a hash of the grant's fields. */
  id: string;
  principal: string;
  /** A native role kept verbatim (preferred when the backend grants through roles)... */
  role?: string;
  /** ...or a set of common privileges that the renderer maps to native ones. */
  privileges?: CommonPrivilege[];
  resource: string;
  propagate: boolean;
  effect: 'allow' | 'deny';
  expiresAt?: string;
  provenance: Provenance;
}

/** What a change item names: a grant without id and provenance. */
export type GrantSpec = Omit<Grant, 'id' | 'provenance'>;

export type ChangeItem =
  | { id: string; op: 'add'; grant: GrantSpec }
  | { id: string; op: 'remove'; grant: GrantSpec }
  | { id: string; op: 'replace'; from: GrantSpec; to: GrantSpec };

export interface ChangeSet {
  backend: BackendId;
  items: ChangeItem[];
}

export interface ImportWarning {
  file?: string;
  line?: number;
  message: string;
}

export interface AccessModel {
  backend: BackendId;
  principals: Principal[];
  resources: Resource[];
  roles: RoleDefinition[];
  grants: Grant[];
  warnings: ImportWarning[];
  /** Backend-specific extra state needed to render faithfully (e.g. polkit rules Accord does not own). */
  native?: Record<string, unknown>;
}

export interface NativeFile {
  path: string;
  text: string;
}

export interface EffectiveRow {
  principal: string;
  resource: string;
  /** Native privilege name (Proxmox `VM.Console`, vSphere `VirtualMachine.Interact.PowerOn`, libvirt `domain.start`, XAPI role permission). */
  privilege: string;
  /** Ids of the grants (or rules) that produce this row. */
  because: string[];
}

export interface EffectiveQuery {
  principals?: readonly string[];
  resources?: readonly string[];
}

export interface RenderedItem {
  itemId: string;
  fidelity: Fidelity;
  note?: string;
}

export interface Replacement {
  itemId: string;
  /** The existing grant that the rendered form silently replaces or overwrites. */
  grantId: string;
  reason: string;
}

export interface RenderResult {
  /** Media type-ish label: `text/x-pve-user-cfg`, `text/x-shell`, `application/javascript`. */
  format: string;
  /** The native form a human would apply, with one line per action where the format allows. */
  text: string;
  items: RenderedItem[];
  replaces: Replacement[];
  warnings: string[];
}

export interface BlastRow {
  principal: string;
  resource: string;
  privilege: string;
  common: CommonPrivilege[];
  highRisk: boolean;
}

export interface BlastRadius {
  gained: BlastRow[];
  lost: BlastRow[];
}

/**
 * The rows a revision stores (blast-groups.ts `storedBlastRows`): all of them for a small change; for a
 * large one a digest (one row per principal, privilege and direction) and `truncated` with the full
 * counts. The principals, privileges and high-risk flags it names are the blast radius's either way.
 */
export interface StoredBlastRadius extends BlastRadius {
  truncated?: { gained: number; lost: number };
}

/**
 * The blast radius grouped (server/domain/access/blast-groups.ts): the rows of BlastRadius, exactly, as
 * groups of principals that gain (or lose) the same privileges on the same resources for the same reason.
 * `expandBlastGroups` yields exactly the rows of `blastRadius`.
 */
export interface BlastGroup {
  direction: 'gained' | 'lost';
  /** Principals sharing exactly this change, sorted (code units). */
  principals: string[];
  /** Native privileges gained (or lost) on every resource of the group, sorted; a privilege listed twice is a row the backend yields twice. */
  privileges: string[];
  /** Index into BlastGroups.resourceSets: the group's resources, sorted. */
  resources: number;
  resourceCount: number;
  /** The common privileges the native ones imply, in vocabulary order. */
  common: CommonPrivilege[];
  highRisk: boolean;
  /** Rows this group stands for: principals × resources × privileges. */
  rows: number;
  /** One line: which grants (or rules) give or take it, what they replace, and the backend's rule that decides. */
  why: string;
  /**
   * The ids behind it (EffectiveRow.because). Gained: `after` gives the privileges, `before` held the
   * principal's access on those resources before. Lost: `before` gave them, `after` holds what remains.
   */
  because: { after: string[]; before: string[] };
}

export interface BlastGroups {
  format: 'accord-blast-groups/1';
  /** Rows of the expanded blast radius. */
  rows: { gained: number; lost: number };
  /** Native privilege → its common privileges and whether one is high-risk (every privilege the groups name). */
  privileges: Record<string, { common: CommonPrivilege[]; highRisk: boolean }>;
  /** Distinct resource lists (sorted), shared by the groups that name them. */
  resourceSets: string[][];
  /** Gained groups, then lost; within each, the most rows first. */
  groups: BlastGroup[];
}

/** "Does X gain Y on Z?" answered exactly from BlastGroups (`queryBlast`). */
export interface BlastAnswer {
  principal: string;
  resource: string;
  /** The privilege asked about (native or common), or absent: every privilege. */
  privilege?: string;
  /** gained: some matching privilege is gained; lost: none gained, some lost; unchanged: the change neither gives nor takes any. */
  answer: 'gained' | 'lost' | 'unchanged';
  /** Each matching native privilege that changes, with the index of its group and that group's why. */
  changes: { direction: 'gained' | 'lost'; privilege: string; common: CommonPrivilege[]; highRisk: boolean; group: number; why: string }[];
}

export interface BackendCapabilities {
  scoping: 'object' | 'pool-wide';
  propagation: boolean;
  deny: 'none' | 'override-role' | 'first-match';
  expiry: 'native' | 'principal-level' | 'scheduled';
  multiParent: boolean;
}

export interface PrivilegeMapping {
  native: string[];
  fidelity: Fidelity;
  note?: string;
}

/** One hypervisor. Pure: files in, data out. Errors are thrown as AccessInputError. */
export interface Backend {
  id: BackendId;
  displayName: string;
  capabilities: BackendCapabilities;
  /** Common privilege → native privileges with fidelity. */
  privilegeMap: Record<CommonPrivilege, PrivilegeMapping>;
  /** Native privilege → the common privileges it implies (for flagging and display). */
  toCommon(nativePrivilege: string): CommonPrivilege[];
  import(files: NativeFile[]): AccessModel;
  /** Check a change against the model (known principals, resources, roles). Throws AccessInputError. */
  validateChange(model: AccessModel, change: ChangeSet): void;
  /** The model after the change, as the hypervisor would hold it (including silent replacements). */
  applyChange(model: AccessModel, change: ChangeSet): AccessModel;
  render(model: AccessModel, change: ChangeSet): RenderResult;
  effective(model: AccessModel, query?: EffectiveQuery): EffectiveRow[];
  /** Principals whose effective access a change can alter (named ones, their members, their tokens). */
  affectedPrincipals(model: AccessModel, change: ChangeSet): string[];
}

/** Bad input from a file or a change: carries where it was found so the CLI can name file and line. */
export class AccessInputError extends Error {
  readonly file: string | undefined;
  readonly line: number | undefined;
  constructor(message: string, where: { file?: string; line?: number } = {}) {
    super(where.file ? `${where.file}${where.line ? `:${where.line}` : ''}: ${message}` : message);
    this.name = 'AccessInputError';
    this.file = where.file;
    this.line = where.line;
  }
}
