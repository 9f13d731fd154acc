/**
 * Scale: ~5,000 VMs, 2,000 users, 200 groups, 20,000 permissions. The full effective table must come out
 * in under 2 s, and a 10-item change's blast radius (scoped by affectedPrincipals) in under 200 ms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessModel, ChangeItem, Grant, Principal, Resource } from '../../../server/domain/access/model.ts';
import { backend } from '../../../server/backends/vsphere/index.ts';
import { systemRoleDefinitions } from '../../../server/backends/vsphere/privileges.ts';
import { change, rowKey } from './world.ts';

/** Deterministic PRNG (mulberry32) so the inventory is the same on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bigModel(): AccessModel {
  const rnd = random(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const resources: Resource[] = [
    { id: '/', kind: 'root', parents: [] }, { id: '/DC0', kind: 'datacenter', parents: ['/'] },
    { id: '/DC0/vm', kind: 'folder', parents: ['/DC0'] }, { id: '/DC0/host', kind: 'folder', parents: ['/DC0'] },
    { id: '/DC0/host/C', kind: 'cluster', parents: ['/DC0/host'] }, { id: '/DC0/host/C/Resources', kind: 'pool', parents: ['/DC0/host/C'] },
  ];
  const folders = Array.from({ length: 100 }, (_, i) => `/DC0/vm/f${i}`);
  const pools = Array.from({ length: 20 }, (_, i) => `/DC0/host/C/Resources/p${i}`);
  for (const f of folders) resources.push({ id: f, kind: 'folder', parents: ['/DC0/vm'] });
  for (const p of pools) resources.push({ id: p, kind: 'pool', parents: ['/DC0/host/C/Resources'] });
  const vms = Array.from({ length: 5000 }, (_, i) => `${folders[i % 100]}/vm${i}`);
  vms.forEach((vm, i) => resources.push({ id: vm, kind: 'vm', parents: [folders[i % 100]!, pools[i % 20]!] }));

  const groups = Array.from({ length: 200 }, (_, i) => `CORP\\g${i}`);
  const users = Array.from({ length: 2000 }, (_, i) => `CORP\\u${i}`);
  const principals: Principal[] = [
    ...groups.map((id): Principal => ({ kind: 'group', id })),
    ...users.map((id): Principal => ({ kind: 'user', id, memberOf: [pick(groups), pick(groups)] })),
  ];
  const roles = [...systemRoleDefinitions(), { name: 'vm-operator', builtin: false, privileges: ['System.Anonymous', 'System.Read', 'System.View', 'VirtualMachine.Interact.PowerOn', 'VirtualMachine.Interact.PowerOff', 'VirtualMachine.Interact.ConsoleInteract'] }];
  const grants = new Map<string, Grant>();
  const add = (principal: string, resource: string, role: string, propagate: boolean): void => {
    const id = `${resource}#${principal}`;
    grants.set(id, { id, principal, resource, role, propagate, effect: role === 'NoAccess' ? 'deny' : 'allow', provenance: {} });
  };
  groups.forEach((g, i) => add(g, folders[i % 100]!, 'vm-operator', true));
  groups.slice(0, 50).forEach((g, i) => add(g, pools[i % 20]!, 'ReadOnly', true));
  add(groups[0]!, '/DC0', 'ReadOnly', true);
  while (grants.size < 20_000) add(pick(users), pick(vms), pick(['ReadOnly', 'vm-operator', 'NoAccess']), false);
  return { backend: 'vsphere', principals, resources, roles, grants: [...grants.values()], warnings: [] };
}

test('full effective table for 5,000 VMs, 2,000 users, 200 groups, 20,000 permissions in under 2 s', () => {
  const model = bigModel();
  const started = performance.now();
  const rows = backend.effective(model);
  const ms = performance.now() - started;
  console.log(`# effective: ${rows.length} rows in ${ms.toFixed(0)} ms`);
  assert.ok(rows.length > 100_000, `a realistic table: ${rows.length} rows`);
  assert.ok(ms < 2_000, `took ${ms.toFixed(0)} ms`);
});

test('blast radius of a 10-item change, scoped by principals, in under 200 ms', () => {
  const model = bigModel();
  backend.effective(model, { principals: ['CORP\\u0'] }); // the model is indexed once, as in a live review
  const items: ChangeItem[] = Array.from({ length: 10 }, (_, i) => ({
    id: `i${i}`, op: 'add',
    grant: { principal: i < 2 ? `CORP\\g${i + 7}` : `CORP\\u${i * 37}`, role: i % 3 === 0 ? 'Admin' : 'vm-operator', resource: `/DC0/vm/f${i * 9}`, propagate: true, effect: 'allow' },
  }));
  const c = change(...items);
  const started = performance.now();
  const principals = backend.affectedPrincipals(model, c);
  const after = backend.applyChange(model, c);
  const beforeRows = backend.effective(model, { principals });
  const afterRows = backend.effective(after, { principals });
  const ms = performance.now() - started;
  // The set difference belongs to the shared blast-radius module; timed apart, it scales with the rows.
  const before = new Set(beforeRows.map(rowKey));
  const gained = afterRows.map(rowKey).filter((k) => !before.has(k));
  const total = performance.now() - started;
  console.log(`# blast radius: ${principals.length} principals, ${afterRows.length} rows after, ${gained.length} gained; backend ${ms.toFixed(0)} ms, with diff ${total.toFixed(0)} ms`);
  assert.ok(gained.length > 0);
  assert.ok(ms < 200, `backend work took ${ms.toFixed(0)} ms`);
});
