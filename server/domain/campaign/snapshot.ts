/**
 * The snapshot a campaign reviews: one item per grant in scope, as it stands when the campaign starts, with
 * what a reviewer needs to decide (docs/campaigns.md): its effective reach, whether it is high risk, where it
 * came from (the change request that approved it, or outside Accord), its expiry, and the decision helpers
 * (orphaned principal, peers with the same access). Pure: the caller supplies models and provenance.
 */
import { createHash } from 'node:crypto';
import type { AccessModel, Backend, GrantSpec } from '../access/model.ts';
import { HIGH_RISK_PRIVILEGES } from '../access/model.ts';
import type { CampaignDefinition } from './definition.ts';

export interface CampaignItem {
  id: string;
  backend: string;
  grant: GrantSpec;
  /** The principal's kind in the imported model (unknown when the grant names one the model lacks). */
  principalKind: 'user' | 'group' | 'token' | 'unknown';
  /** Native privileges the grant opens (its role's, or its own). */
  privileges: string[];
  highRisk: boolean;
  /** Resources it reaches (the resource and, when it propagates, every descendant), and how many are VMs. */
  reach: { resources: number; vms: number };
  /** The change request whose apply put it there, or null: granted outside Accord. */
  approvedBy: string | null;
  expiresAt: string | null;
  helpers: {
    /** The principal is not in the directory any more, is disabled, or has expired. */
    orphaned: boolean;
    /** Other principals with the same role (or privileges) on the same resource. */
    peers: number;
  };
}

const key = (backend: string, g: GrantSpec): string => JSON.stringify([backend, g.principal, g.resource, g.role ?? null, [...(g.privileges ?? [])].sort(), g.propagate, g.effect, g.expiresAt ?? null]);

export function itemId(backend: string, g: GrantSpec): string {
  return `ci-${createHash('sha256').update(key(backend, g)).digest('hex').slice(0, 16)}`;
}

/** Descendant counts per resource, computed once per model. */
function reachOf(model: AccessModel): (resource: string, propagate: boolean) => { resources: number; vms: number } {
  const children = new Map<string, string[]>();
  const kind = new Map(model.resources.map((r) => [r.id, r.kind]));
  for (const r of model.resources) for (const p of r.parents) children.set(p, [...(children.get(p) ?? []), r.id]);
  const memo = new Map<string, { resources: number; vms: number }>();
  const under = (id: string, seen: Set<string>): { resources: number; vms: number } => {
    const hit = memo.get(id);
    if (hit) return hit;
    let resources = 1;
    let vms = kind.get(id) === 'vm' ? 1 : 0;
    for (const c of children.get(id) ?? []) {
      if (seen.has(c)) continue; // multi-parent inventories (Proxmox pools) are DAGs: count each once per path
      seen.add(c);
      const sub = under(c, seen);
      resources += sub.resources;
      vms += sub.vms;
    }
    const out = { resources, vms };
    memo.set(id, out);
    return out;
  };
  return (resource, propagate) => (propagate ? under(resource, new Set([resource])) : { resources: 1, vms: kind.get(resource) === 'vm' ? 1 : 0 });
}

export interface SnapshotInput {
  backend: Backend;
  model: AccessModel;
  /** The change that approved a grant, by the backend and the grant, or null. */
  approvedBy: (g: GrantSpec) => string | null;
  now: number;
}

/** Items for one backend's model, filtered by the definition's scope. */
export function snapshotItems(d: CampaignDefinition, input: SnapshotInput): CampaignItem[] {
  const { backend, model } = input;
  const s = d.scope;
  const principals = new Map(model.principals.map((p) => [p.id, p]));
  const roles = new Map(model.roles.map((r) => [r.name, r]));
  const reach = reachOf(model);
  const peers = new Map<string, number>();
  const peerKey = (g: GrantSpec): string => JSON.stringify([g.resource, g.role ?? null, [...(g.privileges ?? [])].sort(), g.effect]);
  for (const g of model.grants) peers.set(peerKey(g), (peers.get(peerKey(g)) ?? 0) + 1);
  const out = new Map<string, CampaignItem>();
  for (const g of model.grants) {
    if (g.effect !== 'allow') continue; // a deny takes access away: there is nothing to recertify
    if (s.resourcePrefix !== undefined && !g.resource.startsWith(s.resourcePrefix)) continue;
    if (s.role !== undefined && (g.role === undefined || !s.role.includes(g.role))) continue;
    const p = principals.get(g.principal);
    const kind = p?.kind ?? 'unknown';
    if (s.principalKind !== undefined && (kind === 'unknown' || !s.principalKind.includes(kind))) continue;
    const privileges = g.role !== undefined ? [...(roles.get(g.role)?.privileges ?? [])] : [...(g.privileges ?? [])];
    const common = g.role !== undefined ? privileges.flatMap((x) => backend.toCommon(x)) : (g.privileges ?? []);
    const highRisk = common.some((c) => HIGH_RISK_PRIVILEGES.has(c));
    if (s.highRiskOnly && !highRisk) continue;
    const spec: GrantSpec = {
      principal: g.principal, resource: g.resource, propagate: g.propagate, effect: g.effect,
      ...(g.role !== undefined ? { role: g.role } : {}), ...(g.privileges !== undefined ? { privileges: g.privileges } : {}),
      ...(g.expiresAt !== undefined ? { expiresAt: g.expiresAt } : {}),
    };
    const approvedBy = input.approvedBy(spec);
    if (s.outsideAccordOnly && approvedBy !== null) continue;
    const expired = p?.expiresAt !== undefined && Date.parse(p.expiresAt) <= input.now;
    const item: CampaignItem = {
      id: itemId(backend.id, spec), backend: backend.id, grant: spec, principalKind: kind, privileges: privileges.sort(), highRisk,
      reach: reach(g.resource, g.propagate), approvedBy, expiresAt: g.expiresAt ?? null,
      helpers: { orphaned: p === undefined || p.enabled === false || expired, peers: (peers.get(peerKey(g)) ?? 1) - 1 },
    };
    out.set(item.id, item);
  }
  return [...out.values()];
}
