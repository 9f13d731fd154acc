import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAccessCli } from '../../server/backends/access-cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CFG = join(ROOT, 'test/fixtures/proxmox/user.cfg');
const CHANGE = join(ROOT, 'examples/proxmox-change.json');

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runAccessCli(argv, (s) => { out += s; }, (s) => { err += `${s}\n`; });
  return { code, out, err };
}

function tempFile(t: { after: (fn: () => void) => void }, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'accord-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('import prints the model as JSON, warnings on stderr with file and line', async () => {
  const r = await cli('import', '--backend', 'proxmox', CFG);
  assert.equal(r.code, 0);
  const model = JSON.parse(r.out) as { backend: string; grants: unknown[] };
  assert.equal(model.backend, 'proxmox');
  assert.equal(model.grants.length, 11);
  assert.match(r.err, /user\.cfg:19: warning: role 'Legacy': ignored privilege 'VM\.Monitor'/);
});

test('effective answers for a VM that appears in no line, grouped and sorted', async () => {
  const r = await cli('effective', '--backend', 'proxmox', CFG, '--principal', 'bob@pve', '--principal', 'alice@pve!legacy', '--resource', '/vms/999');
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out), [
    { principal: 'alice@pve!legacy', resource: '/vms/999', privileges: ['VM.Audit', 'VM.Console', 'VM.PowerMgmt'] },
    { principal: 'bob@pve', resource: '/vms/999', privileges: ['VM.Audit', 'VM.Console', 'VM.PowerMgmt'] },
  ]);
});

test('render prints user.cfg lines and pveum commands', async () => {
  const r = await cli('render', '--backend', 'proxmox', '--change', CHANGE, CFG);
  assert.equal(r.code, 0);
  assert.match(r.out, /^\+acl:1:\/vms\/300:carol@ldap:PVEVMUser:$/m);
  assert.match(r.out, /^pveum acl delete \/vms\/101 --users bob@pve --roles NoAccess$/m);
  assert.match(r.out, /^# REPLACES acl:\/vms\/100:alice@pve!ci:PVEVMUser: /m);
});

test('impact prints gained and lost rows', async () => {
  const r = await cli('impact', '--backend=proxmox', `--change=${CHANGE}`, CFG);
  assert.equal(r.code, 0);
  const br = JSON.parse(r.out) as { gained: Array<{ principal: string; privilege: string; highRisk: boolean }>; lost: unknown[] };
  assert.ok(br.gained.some((g) => g.principal === 'carol@ldap' && g.privilege === 'VM.GuestAgent.FileRead' && g.highRisk));
  assert.ok(br.lost.length > 0);
});

test('bad input: non-zero exit and a message naming the file, line and problem', async (t) => {
  const badCfg = tempFile(t, 'user.cfg', 'user:a@pve:1:\nacl:1:/vms:a@pve\n');
  const badRole = tempFile(t, 'change.json', '{\n  "backend": "proxmox",\n  "items": [\n    { "id": "x", "op": "add",\n      "grant": { "principal": "bob@pve", "role": "Nope", "resource": "/vms/1000" } }\n  ]\n}\n');
  const extraField = tempFile(t, 'extra.json', '{ "backend": "proxmox", "items": [ { "id": "x", "op": "add", "grant": { "principal": "bob@pve", "role": "PVEAuditor", "resource": "/", "propogate": false } } ] }');
  const notJson = tempFile(t, 'broken.json', '{\n  "backend": "proxmox",\n  "items": [,]\n}');
  const cases: Array<[string[], number, RegExp]> = [
    [['import', '--backend', 'hyperv', CFG], 1, /unknown backend 'hyperv' \(known: .*proxmox/],
    [['import', '--backend', 'proxmox', 'missing/user.cfg'], 1, /missing\/user\.cfg: cannot read file \(ENOENT\)/],
    [['effective', '--backend', 'proxmox', badCfg], 1, /user\.cfg:2: acl line needs/],
    [['render', '--backend', 'proxmox', '--change', badRole, CFG], 1, /change\.json:4: change item x: unknown role 'Nope'/],
    [['impact', '--backend', 'proxmox', '--change', extraField, CFG], 1, /extra\.json: invalid change: items\.0\.grant: has a field Accord does not know: "propogate"; remove it \(check the spelling\)/],
    [['render', '--backend', 'proxmox', '--change', notJson, CFG], 1, /broken\.json:3: invalid JSON/],
    [['render', '--backend', 'proxmox', CFG], 2, /render needs --change/],
    [['effective', CFG], 2, /--backend is required/],
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
  ];
  for (const [argv, code, re] of cases) {
    const r = await cli(...argv);
    assert.equal(r.code, code, argv.join(' '));
    assert.match(r.err, re, argv.join(' '));
    assert.equal(r.out, '');
  }
});

test('the CLI runs as a process: node server/backends/access-cli-main.ts access effective ...', () => {
  const r = spawnSync(process.execPath, ['server/backends/access-cli-main.ts', 'access', 'effective', '--backend', 'proxmox', 'test/fixtures/proxmox/user.cfg', '--principal', 'carol@ldap', '--resource', '/vms/250'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<{ privileges: string[] }>;
  assert.ok(rows[0]?.privileges.includes('VM.GuestAgent.Unrestricted'), 'PVEVMAdmin through the dev pool reaches the nested pool');
  const bad = spawnSync(process.execPath, ['server/backends/access-cli-main.ts', 'access', 'import', '--backend', 'nope', 'x'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown backend 'nope'/);
});

test('jsonErrorOffset finds where JSON stops being valid, and nothing in valid JSON', async () => {
  const { jsonErrorOffset } = await import('../../server/backends/json-error-offset.ts');
  const valid = ['{}', '[]', '{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]}', ' "s" '];
  for (const v of valid) assert.equal(jsonErrorOffset(v), undefined, v);
  const invalid: Array<[string, number]> = [['{"a": 1,}', 8], ['[1 2]', 3], ['{"a" 1}', 5], ['{"a": tru}', 6], ['[1] x', 4], ['', 0], ['"\\q"', 2]];
  for (const [v, at] of invalid) assert.equal(jsonErrorOffset(v), at, v);
});
