/**
 * The real oracle: polkitd 122 (duktape) decides generated (user, action, object) cases against the rules
 * file Accord renders plus foreign rules (hand-written ones, and seeded generated ones that branch on
 * domain_name, connect_driver, users, groups...); Accord's effective() (the fleet evaluator) and its
 * per-question Decider must agree on each. One scenario is one host of a fleet (its own rules files).
 * Needs root and `.ci/setup-polkit.sh`; fails (does not skip) without them unless ACCORD_SKIP_POLKIT=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ChangeSet, CommonPrivilege, Grant, GrantSpec, NativeFile } from '../../../server/domain/access/model.ts';
import { createLibvirtBackend } from '../../../server/backends/libvirt/index.ts';
import { Decider } from '../../../server/backends/libvirt/effective.ts';
import { objectsOf, type Inventory } from '../../../server/backends/libvirt/inventory.ts';
import { foreignRulesOn, nativeOf, knownActions } from '../../../server/backends/libvirt/native.ts';
import { orderGrants, renderRulesFile } from '../../../server/backends/libvirt/rules-file.ts';
import { lastEvaluation } from '../../../server/backends/libvirt/effective.ts';
import type { AccessModel } from '../../../server/domain/access/model.ts';
import { randomRulesFile, rngOf } from './generated-rules.ts';
import { LIBVIRT_POLICY, oracleUnavailable, startOracle, type PkResult } from './polkit-harness.ts';
import { mulberry32 as rng } from '../../helpers/rng.ts';

const USERS = ['accord-alice', 'accord-bob', 'accord-carol', 'accord-dave'];
const GROUPS = ['accord-ops', 'accord-dev'];
const CASES = 400;
/** Cases per generated scenario (two scenarios: one host, one host of a fleet). */
const GENERATED_CASES = 500;
const DOMAINS = ['web01', 'web02', 'webapp', 'db01', 'build', 'boom'];


function inventory(): Inventory {
  const id = (args: string[]): string => execFileSync('id', args, { encoding: 'utf8' }).trim();
  return {
    kind: 'libvirt-inventory', host: 'oracle', groups: GROUPS, drivers: ['QEMU', 'LXC'],
    users: [{ name: 'root', uid: 0, groups: ['root'] }, ...USERS.map((u) => ({ name: u, uid: Number(id(['-u', u])), groups: id(['-Gn', u]).split(/\s+/) }))],
    objects: [
      ...['web01', 'web02', 'db01', 'boom'].map((n, i) => ({ type: 'domain' as const, driver: 'QEMU', name: n, uuid: `00000000-0000-4000-8000-00000000000${i}` })),
      { type: 'domain', driver: 'LXC', name: 'demo', uuid: '00000000-0000-4000-8000-000000000009' },
      { type: 'network', name: 'default', uuid: '00000000-0000-4000-8000-000000000010' },
      { type: 'storage-pool', name: 'images', uuid: '00000000-0000-4000-8000-000000000011' },
      { type: 'storage-vol', pool: 'images', name: 'web01.qcow2', key: '/var/lib/libvirt/images/web01.qcow2' },
    ],
  };
}

const FOREIGN: Record<string, string> = {
  // Sorts before 50-accord.rules: decides first. The §1.6 rule, with this machine's test accounts.
  '100-libvirt-acl.rules': `polkit.addRule(function(action, subject) {
  if (action.id.indexOf("org.libvirt.api.") != 0) return polkit.Result.NOT_HANDLED;
  if (subject.isInGroup("accord-ops") && action.lookup("connect_driver") == "QEMU" &&
      /^web/.test(action.lookup("domain_name") || "") &&
      ["org.libvirt.api.domain.start", "org.libvirt.api.domain.open-graphics"].indexOf(action.id) >= 0) {
    return polkit.Result.YES;
  }
  if (subject.user == "accord-dave" && action.id == "org.libvirt.api.domain.read") return polkit.Result.NO;
  if (action.id == "org.libvirt.api.domain.screenshot" && subject.isInGroup("accord-dev")) return polkit.Result.AUTH_ADMIN;
  if (action.lookup("domain_name") == "boom" && action.id == "org.libvirt.api.domain.getattr") throw new Error("boom");
});
`,
  // ES2015 syntax: duktape cannot compile it, so polkitd never loads it.
  '20-es2015.rules': 'polkit.addRule((action, subject) => polkit.Result.YES);\n',
  // Sorts after Accord's file: only reached when Accord's entries do not match.
  '70-late.rules': `polkit.addRule(function(action, subject) {
  if (subject.isInGroup("accord-dev") && action.id == "org.libvirt.api.domain.snapshot") return polkit.Result.YES;
});
`,
};

const PRIVS: CommonPrivilege[] = ['vm.view', 'vm.power', 'vm.console', 'vm.config', 'vm.delete', 'vm.snapshot', 'vm.secrets', 'host.view', 'network.view', 'network.manage', 'storage.view', 'storage.manage'];

function generateChange(r: () => number, resources: string[]): ChangeSet {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const principals = [...USERS.map((u) => `unix-user:${u}`), ...GROUPS.map((g) => `unix-group:${g}`)];
  const day = 86_400_000;
  const specs: GrantSpec[] = [
    // A NO for the group, then a later YES for one of its members: the NO wins (deny entries first).
    { principal: 'unix-group:accord-ops', privileges: ['vm.power'], resource: '/QEMU/domain/db01', propagate: false, effect: 'deny' },
    { principal: 'unix-user:accord-bob', privileges: ['vm.power', 'vm.view'], resource: '/QEMU/domain/db01', propagate: false, effect: 'allow' },
    // Expired: must not match any more.
    { principal: 'unix-user:accord-carol', privileges: ['vm.delete'], resource: '/QEMU', propagate: true, effect: 'allow', expiresAt: new Date(Date.now() - day).toISOString() },
    { principal: 'unix-group:accord-dev', role: 'domain.*', resource: '/LXC', propagate: true, effect: 'allow', expiresAt: new Date(Date.now() + 30 * day).toISOString() },
  ];
  for (let i = 0; i < 14; i++) {
    const privileges = [...new Set([pick(PRIVS), pick(PRIVS)])];
    const expiry = r();
    specs.push({
      principal: pick(principals), privileges, resource: pick(resources), propagate: r() < 0.5, effect: r() < 0.3 ? 'deny' : 'allow',
      ...(expiry < 0.2 ? { expiresAt: new Date(Date.now() - (1 + r() * 9) * day).toISOString() } : expiry < 0.4 ? { expiresAt: new Date(Date.now() + (1 + r() * 9) * day).toISOString() } : {}),
    });
  }
  return { backend: 'libvirt', items: specs.map((grant, i) => ({ id: `gen-${i}`, op: 'add', grant })) };
}

async function pool<T>(items: readonly T[], width: number, run: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => { while (next < items.length) await run(items[next++] as T); }));
}

/** False when the test should stop (skipped on request); throws when the oracle is missing. */
function oracleReady(t: { skip(message: string): void }): boolean {
  const why = oracleUnavailable();
  if (!why) return true;
  if (process.env.ACCORD_SKIP_POLKIT === '1') {
    t.skip(`ACCORD_SKIP_POLKIT=1: ${why}`);
    return false;
  }
  assert.fail(`polkit oracle unavailable: ${why} (or set ACCORD_SKIP_POLKIT=1 to skip)`);
}

const probePolicy = (defaults: [string, string, string]): string => `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD polkit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/software/polkit/policyconfig-1.dtd">
<policyconfig><action id="org.accord.probe.${defaults.join('-')}"><description>probe</description><message>probe</message>
<defaults><allow_any>${defaults[0]}</allow_any><allow_inactive>${defaults[1]}</allow_inactive><allow_active>${defaults[2]}</allow_active></defaults>
</action></policyconfig>`;

test('a process outside any logind session gets the allow_any default (what Accord evaluates)', { timeout: 60_000 }, async (t) => {
  if (!oracleReady(t)) return;
  const onlyAny: [string, string, string] = ['yes', 'no', 'no'];
  const notAny: [string, string, string] = ['no', 'yes', 'yes'];
  const oracle = await startOracle({}, { 'a.policy': probePolicy(onlyAny), 'b.policy': probePolicy(notAny) });
  t.after(() => oracle.close());
  const pid = oracle.processAs('accord-dave');
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(await oracle.check(pid, `org.accord.probe.${onlyAny.join('-')}`, {}), 'yes');
  assert.equal(await oracle.check(pid, `org.accord.probe.${notAny.join('-')}`, {}), 'no');
});

test('polkitd agrees with Accord\'s effective() on generated cases', { timeout: 120_000 }, async (t) => {
  if (!oracleReady(t)) return;
  const inv = inventory();
  const files: NativeFile[] = [
    { path: LIBVIRT_POLICY, text: readFileSync(LIBVIRT_POLICY, 'utf8') },
    { path: 'inventory.json', text: JSON.stringify(inv) },
    ...Object.entries(FOREIGN).map(([name, text]) => ({ path: `/etc/polkit-1/rules.d/${name}`, text })),
  ];
  const libvirt = createLibvirtBackend();
  const base = libvirt.import(files);
  const r = rng(20261124);
  const change = generateChange(r, base.resources.map((x) => x.id));
  libvirt.validateChange(base, change);
  const model = libvirt.applyChange(base, change);
  const rulesText = libvirt.render(base, change).text;
  const reimported = libvirt.import([...files, { path: '/etc/polkit-1/rules.d/50-accord.rules', text: rulesText }]);
  const strip = ({ provenance: _p, ...g }: Grant): Omit<Grant, 'provenance'> => g;
  assert.deepEqual(reimported.grants.map(strip), orderGrants(model.grants).map(strip), 'the rendered file carries the grants back');

  const tally = await agree(t, { ...FOREIGN, '50-accord.rules': rulesText }, reimported, inv.users, objectsOf(inv), r, CASES);
  assert.ok(tally.yes > 20 && tally.no > 20 && tally.challenge > 0, `cases exercise every outcome: ${JSON.stringify(tally)}`);
  assert.ok(reimported.warnings.some((w) => w.file?.endsWith('20-es2015.rules')), 'the ES2015 file is flagged');
});

type Tally = Record<PkResult, number>;

/**
 * Starts polkitd with `etcRules`, asks `count` random (user, object, action) cases and compares with the
 * Decider and with effective() rows of `model` (for `host` on a fleet). Returns polkitd's tally.
 */
async function agree(t: { after(fn: () => Promise<void>): void; diagnostic(m: string): void }, etcRules: Record<string, string>, model: AccessModel,
  users: Inventory['users'], objects: ReturnType<typeof objectsOf>, r: () => number, count: number, host?: string): Promise<Tally> {
  const libvirt = createLibvirtBackend();
  const allowed = new Set(libvirt.effective(model).map((row) => `${row.principal} ${row.resource} ${row.privilege}`));
  assert.equal(lastEvaluation.mode, 'fleet', `effective() used the fleet evaluator (${lastEvaluation.why ?? ''})`);
  const decider = new Decider(model, host !== undefined ? { host } : {});
  const actions = knownActions(nativeOf(model));
  const cases = Array.from({ length: count }, () => {
    const user = users[Math.floor(r() * users.length)]!;
    const object = objects[Math.floor(r() * objects.length)]!;
    const candidates = actions.filter((a) => a.split('.')[0] === object.type);
    return { user, object, action: candidates[Math.floor(r() * candidates.length)]! };
  });
  const oracle = await startOracle(etcRules);
  t.after(() => oracle.close());
  const pids = new Map(users.map((u) => [u.name, u.uid === 0 ? process.pid : oracle.processAs(u.name)]));
  await new Promise((res) => setTimeout(res, 300));
  const disagreements: string[] = [];
  const tally: Tally = { yes: 0, no: 0, challenge: 0 };
  await pool(cases, 8, async ({ user, action, object: o }) => {
    const real: PkResult = await oracle.check(pids.get(user.name)!, `org.libvirt.api.${action}`, o.details);
    tally[real] += 1;
    const d = decider.decide(user, `org.libvirt.api.${action}`, o.details);
    const mine: PkResult = d.result === 'yes' ? 'yes' : d.result === 'no' ? 'no' : 'challenge';
    const inRows = allowed.has(`unix-user:${user.name} ${o.resource} ${action}`);
    if (mine !== real || inRows !== (real === 'yes')) {
      disagreements.push(`${user.name} ${action} ${o.resource}: polkitd=${real} accord=${mine} rows=${inRows} because=${d.because}`);
    }
  });
  t.diagnostic(`${cases.length - disagreements.length}/${cases.length} cases agree (polkitd: ${JSON.stringify(tally)})`);
  assert.deepEqual(disagreements, []);
  return tally;
}

/** Seeded foreign rules files (by name) for the oracle's accounts, groups and domain names. */
function generatedRules(seed: number, actions: readonly string[], names: readonly string[]): Record<string, string> {
  const r = rngOf(rng(seed));
  const v = {
    users: USERS, groups: [...GROUPS, ...USERS], domainNames: DOMAINS, drivers: ['QEMU', 'LXC'],
    actions: actions.filter((a) => /^(domain|connect|network|storage-pool|storage-vol)\./.test(a)),
  };
  return Object.fromEntries(names.map((name) => [name, randomRulesFile(r, v, name)]));
}

function generatedInventory(hosts?: string[]): Inventory {
  const base = inventory();
  const objects = (i: number): Inventory['objects'] => [
    ...DOMAINS.map((n, k) => ({ type: 'domain' as const, driver: (k + i) % 4 === 3 ? 'LXC' : 'QEMU', name: n, uuid: `00000000-0000-4000-8000-0000000001${i}${k}` })),
    { type: 'network', name: 'default' }, { type: 'network', name: 'isolated' },
    { type: 'storage-pool', name: 'images', uuid: '00000000-0000-4000-8000-000000000011' },
    { type: 'storage-vol', pool: 'images', name: 'web01.qcow2' },
  ];
  if (!hosts) return { ...base, objects: objects(0) };
  return { ...base, drivers: [], objects: [], hosts: hosts.map((name, i) => ({ name, drivers: ['QEMU', 'LXC'], objects: objects(i) })) };
}

function generatedChange(r: () => number, model: AccessModel): ChangeSet {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const principals = [...USERS.map((u) => `unix-user:${u}`), ...GROUPS.map((g) => `unix-group:${g}`)];
  const resources = model.resources.map((x) => x.id);
  const day = 86_400_000;
  const specs: GrantSpec[] = Array.from({ length: 16 }, () => ({
    principal: pick(principals), privileges: [...new Set([pick(PRIVS), pick(PRIVS)])], resource: pick(resources), propagate: r() < 0.5,
    effect: r() < 0.3 ? 'deny' as const : 'allow' as const,
    ...(r() < 0.2 ? { expiresAt: new Date(Date.now() + (r() < 0.5 ? -1 : 1) * (1 + r() * 9) * day).toISOString() } : {}),
  }));
  return { backend: 'libvirt', items: specs.map((grant, i) => ({ id: `gen-${i}`, op: 'add', grant })) };
}

test('polkitd agrees on generated rules reading domain_name, connect_driver, users and groups', { timeout: 120_000 }, async (t) => {
  if (!oracleReady(t)) return;
  const inv = generatedInventory();
  const policy = { path: LIBVIRT_POLICY, text: readFileSync(LIBVIRT_POLICY, 'utf8') };
  const libvirt = createLibvirtBackend();
  const known = knownActions(nativeOf(libvirt.import([policy, { path: 'inventory.json', text: JSON.stringify(inv) }])));
  const foreign = generatedRules(7_001, known, ['10-gen.rules', '40-gen.rules', '60-gen.rules', '70-gen.rules', '90-gen.rules']);
  const files: NativeFile[] = [policy, { path: 'inventory.json', text: JSON.stringify(inv) }, ...Object.entries(foreign).map(([name, text]) => ({ path: `/etc/polkit-1/rules.d/${name}`, text }))];
  const base = libvirt.import(files);
  const r = rng(7_002);
  const change = generatedChange(r, base);
  libvirt.validateChange(base, change);
  const model = libvirt.applyChange(base, change);
  const tally = await agree(t, { ...foreign, '50-accord.rules': libvirt.render(base, change).text }, model, inv.users, objectsOf(inv), r, GENERATED_CASES);
  assert.ok(tally.yes > 20 && tally.no > 20, `cases exercise yes and no: ${JSON.stringify(tally)}`);
});

test('polkitd on one host of a fleet (shared and own rules files) agrees with that host\'s rows', { timeout: 120_000 }, async (t) => {
  if (!oracleReady(t)) return;
  const inv = generatedInventory(['hv-a', 'hv-b']);
  const policy = { path: LIBVIRT_POLICY, text: readFileSync(LIBVIRT_POLICY, 'utf8') };
  const libvirt = createLibvirtBackend();
  const known = knownActions(nativeOf(libvirt.import([policy, { path: 'inventory.json', text: JSON.stringify(inv) }])));
  const shared = generatedRules(8_001, known, ['10-fleet.rules', '60-fleet.rules', '80-fleet.rules']);
  const own = generatedRules(8_002, known, ['20-own.rules', '60-fleet.rules']); // 60-fleet.rules: hv-b's copy differs
  const files: NativeFile[] = [
    policy, { path: 'inventory.json', text: JSON.stringify(inv) },
    ...Object.entries(shared).map(([name, text]) => ({ path: `/etc/polkit-1/rules.d/${name}`, text })),
    ...Object.entries(own).map(([name, text]) => ({ path: `hosts/hv-b/etc/polkit-1/rules.d/${name}`, text })),
  ];
  const base = libvirt.import(files);
  const r = rng(8_003);
  const change = generatedChange(r, base);
  libvirt.validateChange(base, change);
  const model = libvirt.applyChange(base, change);
  const native = nativeOf(model);
  const onB: Record<string, string> = Object.fromEntries(foreignRulesOn(native, 'hv-b').map((f) => [f.path.slice(f.path.lastIndexOf('/') + 1), f.text]));
  onB['50-accord.rules'] = renderRulesFile(model.grants, known, 'hv-b');
  const objects = objectsOf(inv).filter((o) => o.host === 'hv-b');
  const tally = await agree(t, onB, model, inv.users, objects, r, GENERATED_CASES, 'hv-b');
  assert.ok(tally.yes > 20 && tally.no > 20, `cases exercise yes and no: ${JSON.stringify(tally)}`);
});
