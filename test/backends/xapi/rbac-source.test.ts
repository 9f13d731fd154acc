/**
 * The XAPI permission table is derived from xen-api's datamodel, not from vendor tables (issue 22).
 * The vendored excerpt (test/fixtures/xen-api/excerpt.txt) holds the exact upstream lines; re-deriving the
 * table from it with the generator's own parser must give the shipped table, so a hand edit of a role (or of
 * anything else in server/backends/xapi/rbac-table.ts) fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  EXCERPT_PATH, LICENSE_LINE, TABLE_PATH, deriveTable, excerptLine, parseExcerpt, renderTable,
} from '../../../scripts/xapi-rbac-from-source.ts';
import type { SourceSet } from '../../../scripts/xapi-rbac-from-source.ts';
import { XAPI_PERMISSION_INPUT } from '../../../scripts/xapi-rbac-mapping.ts';
import { RBAC_TABLE, XEN_API_COMMIT } from '../../../server/backends/xapi/rbac-table.ts';
import { XAPI_PERMISSIONS, XAPI_PRIVILEGE_MAP, minRoleFor, permissionsOf } from '../../../server/backends/xapi/roles.ts';
import { COMMON_PRIVILEGES } from '../../../server/domain/access/model.ts';

const excerptText = readFileSync(EXCERPT_PATH, 'utf8');
const excerpt = parseExcerpt(excerptText);

test('re-deriving the table from the vendored excerpt gives the shipped table, entry for entry', () => {
  const { entries } = deriveTable(excerpt);
  assert.deepEqual(entries, RBAC_TABLE.map((e) => ({ ...e, common: [...e.common] })));
  assert.equal(excerpt.commit, XEN_API_COMMIT);
  // The file itself is exactly what the generator writes (no hand edits anywhere in it).
  assert.equal(readFileSync(TABLE_PATH, 'utf8'), renderTable(entries, excerpt.commit));
});

test('a role edited by hand no longer matches what the source gives', () => {
  const { entries } = deriveTable(excerpt);
  const edited = RBAC_TABLE.map((e) => (e.permission === 'vm.start' ? { ...e, minRole: 'read-only' as const } : e));
  assert.notDeepEqual(entries, edited.map((e) => ({ ...e, common: [...e.common] })));
  assert.notEqual(renderTable(edited, XEN_API_COMMIT), readFileSync(TABLE_PATH, 'utf8'));
});

test('the derivation reads the excerpt: changing an upstream line there changes the derived role', () => {
  const start = RBAC_TABLE.find((e) => e.permission === 'vm.start');
  assert.ok(start);
  const [file, line] = start.source.split(':') as [string, string];
  const lines = (excerpt.files.get(file) ?? '').split('\n');
  assert.match(lines[Number(line) - 1] ?? '', /~allowed_roles:_R_VM_OP\b/);
  lines[Number(line) - 1] = (lines[Number(line) - 1] ?? '').replace('_R_VM_OP', '_R_POOL_OP');
  const patched: SourceSet = { ...excerpt, files: new Map(excerpt.files).set(file, lines.join('\n')) };
  const derived = deriveTable(patched).entries.find((e) => e.permission === 'vm.start');
  assert.equal(derived?.minRole, 'pool-operator');
});

test('every entry names its upstream source, and that line holds the role expression and the message', () => {
  assert.ok(excerptText.includes(LICENSE_LINE), 'LGPL attribution line');
  assert.match(excerptText, new RegExp(`^commit ${XEN_API_COMMIT}$`, 'm'));
  const squash = (s: string) => s.replace(/\s+/g, '');
  for (const e of RBAC_TABLE) {
    assert.match(e.source, /^ocaml\/idl\/datamodel[a-z_]*\.ml:\d+$/, e.permission);
    assert.ok(!['doc', 'infer'].includes(e.source), e.permission);
    const at = excerptLine(excerpt, e.source);
    assert.ok(at !== undefined, `${e.permission}: ${e.source} is in the excerpt`);
    assert.ok(squash(at).includes(squash(e.roles).replace(/^\((.*)\)$/, '$1')), `${e.permission}: ${e.source} says ${e.roles}: ${at}`);
    const def = excerptLine(excerpt, e.defined);
    assert.ok(def !== undefined, `${e.permission}: ${e.defined} is in the excerpt`);
    const [cls = '', rest = ''] = e.permission.startsWith('http/') ? ['', e.permission.slice(5)] : e.permission.split('.');
    const name = rest.split('/')[0] ?? '';
    if (e.via === 'http_actions') {
      const last = rest.split('/').pop() ?? '';
      assert.ok(def.includes(`"${last}"`) || /Constants\.[a-z_]+/.test(def), `${e.permission}: ${def}`);
    } else if (e.via === 'map_keys_roles') {
      assert.ok(def.includes(`"${e.permission.split('/key:')[1]}"`), `${e.permission}: ${def}`);
    } else if (e.via === 'allowed_roles' || e.via === 'module call default') {
      assert.ok(def.toLowerCase().includes(`~name:"${name}"`), `${e.permission}: ${def}`);
    } else {
      assert.ok(def.toLowerCase().includes(`~name:_${cls}`), `${e.permission}: ${def}`);
    }
  }
});

test('the table covers every mapped permission once, and every common privilege XAPI can grant', () => {
  assert.deepEqual(RBAC_TABLE.map((e) => e.permission), XAPI_PERMISSION_INPUT.map((x) => x.permission));
  assert.equal(new Set(RBAC_TABLE.map((e) => e.permission)).size, RBAC_TABLE.length);
  assert.deepEqual(XAPI_PERMISSIONS.map((x) => [x.name, x.minRole, x.source]), RBAC_TABLE.map((e) => [e.permission, e.minRole, e.source]));
  for (const c of COMMON_PRIVILEGES) {
    if (c === 'vm.guest') assert.equal(XAPI_PRIVILEGE_MAP[c].fidelity, 'unrepresentable');
    else assert.ok(RBAC_TABLE.some((e) => e.common.includes(c)), c);
  }
});

test('where source and vendor table disagree, the source wins (docs/backends/xapi.md lists each)', () => {
  const role = (p: string) => RBAC_TABLE.find((e) => e.permission === p)?.minRole;
  // network class: ~messages_default_allowed_roles:_R_VM_ADMIN covers the generated create/destroy.
  assert.equal(role('network.create'), 'vm-admin');
  assert.equal(role('network.destroy'), 'vm-admin');
  assert.equal(minRoleFor('network.manage'), 'vm-admin');
  assert.ok(permissionsOf('vm-admin').includes('network.create') && !permissionsOf('vm-operator').includes('network.create'));
  // RRD downloads are named after Constants.get_vm_rrd / get_host_rrd ("vm_rrd", "host_rrd").
  assert.equal(role('http/vm_rrd'), 'read-only');
  assert.equal(role('http/host_rrd'), 'read-only');
  assert.equal(role('http/get_vm_rrd'), undefined);
  // No http/connect_migrate action exists upstream any more.
  assert.equal(role('http/connect_migrate'), undefined);
  // Unchanged, and now from source: CD media at vm-operator, host power at pool-operator, subjects at pool-admin.
  assert.equal(role('vbd.insert'), 'vm-operator');
  assert.equal(role('host.reboot'), 'pool-operator');
  assert.equal(role('subject.create'), 'pool-admin');
  assert.equal(role('pool.enable_external_auth'), 'pool-admin');
});

test('parser: a message whose roles are None takes its class default; local-root-only and unknown names throw', () => {
  const files = new Map(excerpt.files);
  const common = `${files.get('ocaml/idl/datamodel_common.ml')}\nlet _demo = "Demo"\n`;
  files.set('ocaml/idl/datamodel_common.ml', common);
  // As datamodel_roles.ml defines it (only local root, emergency and pool-secret).
  files.set('ocaml/idl/datamodel_roles.ml', `${files.get('ocaml/idl/datamodel_roles.ml')}\nlet _R_LOCAL_ROOT_ONLY = Some []\n`);
  files.set('ocaml/idl/datamodel_demo.ml', [
    '(* demo *)',
    'let poke = call ~name:"poke" ~lifecycle:[] ~allowed_roles:None ()',
    '',
    'let nudge = call ~name:"nudge" ~lifecycle:[] ~allowed_roles:(_R_VM_OP ++ _R_CLIENT_CERT) ()',
    '',
    'let wipe = call ~name:"wipe" ~lifecycle:[] ~allowed_roles:_R_LOCAL_ROOT_ONLY ()',
    '',
    'let t =',
    '  create_obj ~in_db:true ~gen_constructor_destructor:false ~name:_demo',
    '    ~messages_default_allowed_roles:_R_POOL_OP ~messages:[poke; nudge; wipe] ()',
    '',
  ].join('\n'));
  const src: SourceSet = { commit: excerpt.commit, files };
  const one = (permission: string) => deriveTable(src, [{ permission, common: ['vm.power'] }]).entries[0];
  assert.deepEqual([one('demo.poke')?.minRole, one('demo.poke')?.via, one('demo.poke')?.source], ['pool-operator', 'class default', 'ocaml/idl/datamodel_demo.ml:10']);
  assert.equal(one('demo.nudge')?.minRole, 'vm-operator');
  assert.throws(() => one('demo.wipe'), /only local root/);
  assert.throws(() => one('demo.create'), /no generated constructor/);
  assert.throws(() => one('demo.missing'), /no message missing/);
  assert.throws(() => one('http/no_such_action'), /no http action/);
});
