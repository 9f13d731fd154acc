/**
 * How the web app shows a grouped blast radius (server/domain/access/blast-groups.ts): clusters of groups
 * that share privileges and reason (one line each, "4 people gain VM.Console on 5,000 resources"), and the
 * person × resource picture at any size. Pure; the components render these.
 */
import type { BlastGroup, BlastGroups } from './types.ts';

export interface Cluster {
  key: string;
  direction: 'gained' | 'lost';
  privileges: string[];
  common: string[];
  highRisk: boolean;
  why: string;
  /** Indices into BlastGroups.groups: each a set of principals on one resource set. */
  members: number[];
  principals: number;
  /** Distinct resources over the members (an upper bound when members name different sets: the sum). */
  resources: number;
  rows: number;
}

/** Groups that share direction, privileges and reason, largest first (gained before lost). */
export function clustersOf(groups: BlastGroups): Cluster[] {
  const byKey = new Map<string, Cluster>();
  const sets = new Map<string, Set<number>>();
  groups.groups.forEach((g, i) => {
    const key = JSON.stringify([g.direction, g.privileges, g.why]);
    let c = byKey.get(key);
    if (!c) {
      byKey.set(key, (c = { key, direction: g.direction, privileges: g.privileges, common: g.common, highRisk: g.highRisk, why: g.why, members: [], principals: 0, resources: 0, rows: 0 }));
      sets.set(key, new Set());
    }
    c.members.push(i);
    c.principals += g.principals.length;
    c.rows += g.rows;
    const seen = sets.get(key)!;
    if (!seen.has(g.resources)) {
      seen.add(g.resources);
      c.resources = Math.max(c.resources, g.resourceCount);
    }
  });
  return [...byKey.values()].sort((a, b) => (a.direction === b.direction ? 0 : a.direction === 'gained' ? -1 : 1) || Number(b.highRisk) - Number(a.highRisk) || b.rows - a.rows);
}

/** Principals of a cluster, sorted. */
export function clusterPrincipals(groups: BlastGroups, c: Cluster): string[] {
  return [...new Set(c.members.flatMap((i) => groups.groups[i]!.principals))].sort();
}

/** "alice, bob and 3 others". */
export function namesLine(names: readonly string[], shown = 3): string {
  if (names.length <= shown) return names.length === 2 ? `${names[0]} and ${names[1]}` : names.join(', ');
  return `${names.slice(0, shown).join(', ')} and ${(names.length - shown).toLocaleString('en')} others`;
}

export const count = (n: number): string => n.toLocaleString('en');

export interface Matrix {
  columns: { key: string; label: string; resources: number }[];
  rows: { principal: string; cells: { gained: number; lost: number; risky: boolean }[]; total: number }[];
}

/**
 * Principal × resource: one column per resource while there are at most `maxColumns` of them; otherwise
 * resources are bucketed by their parent (`/vms/100` → `/vms/…`), the largest buckets shown and the rest
 * in `other`. A cell counts the rows (privilege × resource) gained and lost.
 */
export function matrixOf(groups: BlastGroups, maxColumns = 6): Matrix {
  const all = new Set<string>();
  for (const set of groups.resourceSets) for (const r of set) all.add(r);
  const single = all.size <= maxColumns;
  const parent = (r: string): string => {
    if (single) return r;
    const cut = r.lastIndexOf('/');
    return cut > 0 ? `${r.slice(0, cut)}/…` : r;
  };
  const sizes = new Map<string, number>();
  for (const r of all) sizes.set(parent(r), (sizes.get(parent(r)) ?? 0) + 1);
  let keys = [...sizes.keys()].sort();
  const OTHER = '\u0000other';
  if (keys.length > maxColumns) {
    const top = new Set([...sizes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, maxColumns - 1).map(([k]) => k));
    keys = [...keys.filter((k) => top.has(k)), OTHER];
  }
  const column = new Map(keys.map((k, i) => [k, i]));
  const columnOf = (r: string): number => column.get(parent(r)) ?? column.get(OTHER)!;
  const columns = keys.map((k) => ({
    key: k, label: k === OTHER ? 'other resources' : k,
    resources: k === OTHER ? [...sizes].filter(([p]) => !column.has(p)).reduce((n, [, s]) => n + s, 0) : sizes.get(k)!,
  }));
  // Per resource set: how many of its resources fall in each column.
  const histogram = groups.resourceSets.map((set) => {
    const h = new Array<number>(keys.length).fill(0);
    for (const r of set) h[columnOf(r)]! += 1;
    return h;
  });
  const byPrincipal = new Map<string, { gained: number; lost: number; risky: boolean }[]>();
  for (const g of groups.groups) addGroup(g, histogram[g.resources]!, byPrincipal, keys.length);
  const rows = [...byPrincipal].map(([principal, cells]) => ({ principal, cells, total: cells.reduce((n, c) => n + c.gained + c.lost, 0) }))
    .sort((a, b) => b.total - a.total || (a.principal < b.principal ? -1 : 1));
  return { columns, rows };
}

function addGroup(g: BlastGroup, h: number[], byPrincipal: Map<string, { gained: number; lost: number; risky: boolean }[]>, width: number): void {
  for (const p of g.principals) {
    let cells = byPrincipal.get(p);
    if (!cells) byPrincipal.set(p, (cells = Array.from({ length: width }, () => ({ gained: 0, lost: 0, risky: false }))));
    h.forEach((n, i) => {
      if (n === 0) return;
      const cell = cells[i]!;
      cell[g.direction] += n * g.privileges.length;
      if (g.direction === 'gained' && g.highRisk) cell.risky = true;
    });
  }
}
