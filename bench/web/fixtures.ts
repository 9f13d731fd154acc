/**
 * Data for the web bench, seeded (mulberry32) so every run sees the same inventory, change and texts:
 * a Proxmox `user.cfg` from bench/access's generator at a small scale, a 200-item change over it, a
 * review policy that keeps the change in review however many of the bench's reviewers approve, and
 * the words the co-authors type.
 */
import type { ChangeItem, CommonPrivilege, Grant, GrantSpec } from '../../server/domain/access/model.ts';
import { backend as proxmox } from '../../server/backends/proxmox/index.ts';
import { proxmox as generateProxmox, rng } from '../access/generate.ts';

/** Big enough for 200 distinct items with room to spare; small enough that submit (blast radius) is quick. */
export const INVENTORY_SCALE = { vms: 600, users: 300, groups: 30, grants: 900 };

/**
 * A CAB-sized quorum (100 approvals from reviewers, no veto): the bench's 50 participants and its
 * browser reviewers all vote and the change stays `in_review`, so every run finds the Approve button.
 */
export const BENCH_POLICY = [
  'name: bench-web',
  'description: bench/web — a quorum no bench run reaches, so the change stays in review',
  'classes:',
  '  reviewers: { role: reviewer }',
  'require: { id: quorum, class: reviewers, approvals: 100 }',
  'requireRejectReason: true',
  '',
].join('\n');

const spec = (g: Grant): GrantSpec => ({
  principal: g.principal, resource: g.resource, propagate: g.propagate, effect: g.effect,
  ...(g.role !== undefined ? { role: g.role } : {}), ...(g.privileges ? { privileges: g.privileges } : {}),
});

export interface BenchInventory {
  files: { path: string; text: string }[];
  /** A valid change of exactly `n` items over the inventory: ~75 % adds (~5 % of them group grants on pools), ~15 % removes, ~10 % replaces. */
  items: ChangeItem[];
}

/**
 * Generates the inventory and a change of `n` distinct items, each checked against the real Proxmox
 * backend (validateChange on the growing set), so the server accepts the whole change at submit.
 */
export function benchInventory(n = 200, seed = 42): BenchInventory {
  const generated = generateProxmox(INVENTORY_SCALE, seed);
  const model = proxmox.import(generated.files);
  const r = rng(seed + 1);
  const users = model.principals.filter((p) => p.kind === 'user' && p.id !== 'root@pam').map((p) => p.id);
  const groups = model.principals.filter((p) => p.kind === 'group').map((p) => p.id);
  const vms = model.resources.filter((x) => x.kind === 'vm').map((x) => x.id);
  const pools = model.resources.filter((x) => x.kind === 'pool').map((x) => x.id);
  const roles = ['PVEVMUser', 'PVEAuditor', 'VMOperator', 'SnapshotOnly', 'ConsoleOnly', 'Monitor'];
  const privileges: CommonPrivilege[][] = [['vm.view'], ['vm.power', 'vm.console'], ['vm.snapshot'], ['vm.view', 'vm.config.media']];
  const removable = model.grants.filter((g) => g.resource.startsWith('/vms/') && g.role !== undefined && g.role !== 'NoAccess');
  const used = new Set<string>();
  const items: ChangeItem[] = [];
  let attempts = 0;
  while (items.length < n) {
    if (++attempts > n * 50) throw new Error(`bench/web: could only build ${items.length} of ${n} valid items`);
    const id = `i${items.length + 1}`;
    const x = r.next();
    let item: ChangeItem;
    if (x < 0.15 && removable.length) {
      const g = r.pick(removable);
      item = { id, op: 'remove', grant: spec(g) };
    } else if (x < 0.25 && removable.length) {
      const g = r.pick(removable);
      item = { id, op: 'replace', from: spec(g), to: { ...spec(g), role: r.pick(roles.filter((ro) => ro !== g.role)) } };
    } else if (x < 0.3) {
      item = { id, op: 'add', grant: { principal: r.pick(groups), role: r.pick(roles), resource: r.pick(pools), propagate: true, effect: 'allow' } };
    } else if (x < 0.5) {
      item = { id, op: 'add', grant: { principal: r.pick(users), privileges: r.pick(privileges), resource: r.pick(vms), propagate: false, effect: 'allow' } };
    } else {
      item = { id, op: 'add', grant: { principal: r.pick(users), role: r.pick(roles), resource: r.pick(vms), propagate: r.chance(0.3), effect: 'allow' } };
    }
    // One item per (principal, resource) and per existing grant: duplicates are refused or meaningless.
    const key = item.op === 'add' ? `${item.grant.principal} ${item.grant.resource}` : item.op === 'remove' ? `${item.grant.principal} ${item.grant.resource}` : `${item.from.principal} ${item.from.resource}`;
    if (used.has(key)) continue;
    try {
      proxmox.validateChange(model, { backend: 'proxmox', items: [...items, item] });
    } catch {
      continue;
    }
    used.add(key);
    items.push(item);
  }
  return { files: generated.files, items };
}

/** Words co-authors type: plain prose, so the text looks like a justification. */
const WORDS = (
  'the migration window opens on friday night and the storage team needs console access to the replicas ' +
  'while the old cluster drains; access ends with the change window and every grant is reviewed again ' +
  'by the platform lead before the next audit so nobody keeps rights they no longer need'
).split(' ');

/** `chars` characters of seeded prose (words and spaces). */
export function prose(seed: number, chars: number): string {
  const r = rng(seed);
  let out = '';
  while (out.length < chars) out += `${r.pick(WORDS)} `;
  return out.slice(0, chars);
}
