import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, fixture, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { connect, connected, startTestServer, until } from '../helpers/server.ts';

/** The admin area's REST (docs/api.md, "Admin"): accounts, tokens, inventories, policy checks, the audit log. */
describe('admin API', () => {
  it('creates accounts with groups, changes roles and groups, and never leaves Accord without an enabled admin', async () => {
    const server = await startTestServer();
    const rootToken = await server.user('root', 'admin');
    const root = apiAs(server.url, rootToken);
    const rev = apiAs(server.url, await server.user('rev', 'reviewer'));

    assert.equal((await rev('GET', '/users')).status, 403, 'a reviewer does not list accounts');
    assert.equal((await rev('POST', '/users', { username: 'x', role: 'admin' })).status, 403);

    const bad = await root('POST', '/users', { username: 'Not Valid', role: 'wizard', password: 'short' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error!.message, /username/);
    assert.match(bad.body.error!.message, /role/);
    assert.match(bad.body.error!.message, /password: at least 8 characters/);
    assert.equal(((await root('GET', '/users')).body as { users: unknown[] }).users.length, 2, 'a refused create adds nobody');

    const made = await root<{ user: { username: string; role: string; groups: string[]; hasPassword: boolean; disabled: boolean }; token: string }>(
      'POST', '/users', { username: 'sana', role: 'reviewer', password: 'sana password', groups: ['secops', 'net'] });
    assert.equal(made.status, 201);
    assert.deepEqual(made.body.user.groups, ['net', 'secops']);
    assert.equal(made.body.user.hasPassword, true);
    assert.match(made.body.token, /^acc_/, 'the first API token is shown once');
    assert.equal((await apiAs(server.url, made.body.token)('GET', '/me')).status, 200);
    assert.equal((await root('POST', '/users', { username: 'sana', role: 'viewer' })).status, 409);

    // Promoting a user whose socket is open makes it re-authenticate at the new level.
    const socket = connect(server.url, made.body.token);
    await connected(socket);
    socket.io.reconnection(false);
    const promoted = await root<{ user: { role: string; groups: string[] } }>('PATCH', '/users/sana', { role: 'approver', groups: ['secops'] });
    assert.equal(promoted.status, 200);
    assert.equal(promoted.body.user.role, 'approver');
    assert.deepEqual(promoted.body.user.groups, ['secops']);
    await until(() => socket.disconnected, 'the promoted user\'s socket re-authenticates');
    const me = await apiAs(server.url, made.body.token)<{ user: { role: string } }>('GET', '/me');
    assert.equal(me.body.user.role, 'approver');

    const listed = (await root<{ users: { username: string; role: string; groups: string[] }[] }>('GET', '/users')).body.users;
    assert.deepEqual(listed.map((u) => u.username), ['rev', 'root', 'sana']);
    assert.ok(!JSON.stringify(listed).includes('scrypt') && !JSON.stringify(listed).includes('password_hash'), 'no password hash leaves the server');

    assert.equal((await root('PATCH', '/users/root', { role: 'reviewer' })).status, 409, 'an admin does not demote themselves');
    assert.equal((await root('PATCH', '/users/sana', {})).status, 400);
    assert.equal((await root('PATCH', '/users/nobody', { role: 'viewer' })).status, 404);
    assert.equal((await root('PATCH', '/users/sana', { groups: ['Bad Group'] })).status, 400);

    // A second admin may demote the first only while another enabled admin remains.
    const other = await root<{ token: string }>('POST', '/users', { username: 'ola', role: 'admin' });
    const ola = apiAs(server.url, other.body.token);
    assert.equal((await ola('PATCH', '/users/root', { role: 'viewer' })).status, 200);
    assert.equal((await apiAs(server.url, rootToken)('GET', '/users')).status, 403, 'root is a viewer now');
    await server.app.db.run("UPDATE users SET role = 'admin' WHERE username = 'root'");
    await server.app.db.run("UPDATE users SET disabled = 1 WHERE username = 'root'");
    const last = await ola('PATCH', '/users/sana', { role: 'admin' }).then(() => ola('PATCH', '/users/sana', { role: 'viewer' }));
    assert.equal(last.status, 200, 'ola stays an admin: demoting sana leaves one');
    const audit = await server.app.db.all<{ action: string; subject: string }>("SELECT action, subject FROM audit_log WHERE action LIKE 'user.%' ORDER BY seq");
    assert.deepEqual(audit.map((a) => a.action), ['user.create', 'user.update', 'user.create', 'user.update', 'user.update', 'user.update']);
  });

  it('the account store refuses a change that would leave no enabled admin (the CLI and the API share it)', async () => {
    const server = await startTestServer();
    await server.user('root', 'admin');
    await server.user('ola', 'admin');
    await server.app.users.setDisabled('ola', true);
    await assert.rejects(server.app.users.update('root', { role: 'reviewer' }), /root is the last enabled admin: make another user admin first/);
    const rows = await server.app.db.all<{ username: string }>("SELECT username FROM users WHERE role = 'admin' AND disabled = 0");
    assert.deepEqual(rows.map((r) => r.username), ['root'], 'the refused change was rolled back');
    await server.app.users.setDisabled('ola', false);
    assert.equal((await server.app.users.update('root', { role: 'reviewer' })).role, 'reviewer', 'with ola enabled it is allowed');
  });

  it('lists and revokes another user\'s tokens', async () => {
    const server = await startTestServer();
    const root = apiAs(server.url, await server.user('root', 'admin'));
    const tomToken = await server.user('tom', 'reviewer');
    const tom = apiAs(server.url, tomToken);
    const minted = await tom<{ token: string; tokens: { id: string; label: string }[] }>('POST', '/tokens', { label: 'ci', scope: 'vote', expiresInDays: 7 });
    const listed = await root<{ tokens: { id: string; label: string; scope: string; revoked: boolean; expiresAt: number | null }[] }>('GET', '/users/tom/tokens');
    assert.equal(listed.status, 200);
    const ci = listed.body.tokens.find((t) => t.label === 'ci')!;
    assert.equal(ci.scope, 'vote');
    assert.ok(ci.expiresAt! > Date.now());
    assert.equal((await tom('GET', '/users/root/tokens')).status, 403);
    assert.equal((await root('DELETE', `/users/tom/tokens/${ci.id}`)).status, 204);
    assert.equal((await apiAs(server.url, minted.body.token)('GET', '/me')).status, 401, 'the revoked token no longer works');
    assert.equal((await tom('GET', '/me')).status, 200, 'tom\'s other token still does');
    assert.equal((await root('DELETE', `/users/tom/tokens/${ci.id}`)).status, 404);
    assert.equal((await root('GET', '/users/nobody/tokens')).status, 404);
  });

  it('an import answers each warning with file and line; the inventory list says what each backend holds', async () => {
    const server = await startTestServer();
    const root = apiAs(server.url, await server.user('root', 'admin'));
    const text = `${fixture('proxmox/user.cfg')}\nuser:Bad User!@pve:1:0::::::\n`;
    const lines = text.split('\n');
    const badLine = lines.findIndex((l) => l.startsWith('user:Bad User')) + 1;
    const imported = await root<{ warnings: number; warningDetails: { file?: string; line?: number; message: string }[] }>(
      'PUT', '/inventories/proxmox', { files: [{ path: 'user.cfg', text }] });
    assert.equal(imported.status, 200);
    assert.ok(imported.body.warnings >= 1);
    assert.equal(imported.body.warningDetails.length, imported.body.warnings);
    const bad = imported.body.warningDetails.find((w) => w.line === badLine);
    assert.ok(bad, `a warning names user.cfg line ${badLine}: ${JSON.stringify(imported.body.warningDetails)}`);
    assert.equal(bad.file, 'user.cfg');
    assert.match(bad.message, /Bad User/);

    const list = await apiAs(server.url, await server.user('vi', 'viewer'))<{ inventories: { backend: string; version: number; importedBy: string; grants: number; warningDetails: unknown[] }[] }>('GET', '/inventories');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.inventories.map((i) => [i.backend, i.version, i.importedBy]), [['proxmox', 1, 'root']]);
    assert.ok(list.body.inventories[0]!.grants > 0);
    assert.deepEqual(list.body.inventories[0]!.warningDetails, imported.body.warningDetails);
  });

  it('checks a policy draft and tries it on a change without storing it', async () => {
    const server = await startTestServer();
    const rootToken = await server.user('root', 'admin');
    const root = apiAs(server.url, rootToken);
    await root('PUT', '/inventories/proxmox', { files: [{ path: 'user.cfg', text: fixture('proxmox/user.cfg') }] });
    const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
    const ana = apiAs(server.url, await server.user('ana', 'reviewer'));
    const created = await rita<{ change: { id: string } }>('POST', '/changes', PROXMOX_CONTENT);
    const changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    const hash = (await ana<{ change: { revisions: { hash: string }[] } }>('GET', `/changes/${changeId}`)).body.change.revisions.at(-1)!.hash;
    assert.equal((await ana('POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash: hash })).status, 201);

    const broken = await root<{ ok: boolean; issues: { line?: number; message: string; path: string }[] }>('POST', '/policies/check', {
      name: 'two-eyes', yaml: 'name: two-eyes\nclasses:\n  team:\n    role: reviewer\nrequire:\n  class: teem\n  approvals: 1\n',
    });
    assert.equal(broken.status, 200);
    assert.equal(broken.body.ok, false);
    assert.ok(broken.body.issues.some((i) => /teem/.test(i.message) && i.line === 6), JSON.stringify(broken.body.issues));

    const yaml = (n: number) => `name: two-eyes\nselect:\n  backend: proxmox\nclasses:\n  team:\n    role: reviewer\nrequire:\n  class: team\n  approvals: ${n}\n`;
    const one = await root<{ ok: true; change: { governedBy: string; selectsDraft: boolean; evaluation: { decision: string; policy: string } } }>(
      'POST', '/policies/check', { name: 'two-eyes', yaml: yaml(1), changeId });
    assert.equal(one.body.ok, true);
    assert.equal(one.body.change.selectsDraft, true);
    assert.equal(one.body.change.evaluation.decision, 'approved', 'ana\'s approval meets one approval');
    const two = await root<{ change: { evaluation: { decision: string } } }>('POST', '/policies/check', { name: 'two-eyes', yaml: yaml(2), changeId });
    assert.equal(two.body.change.evaluation.decision, 'pending');

    assert.deepEqual((await root<{ policies: unknown[] }>('GET', '/policies')).body.policies, [], 'nothing was stored');
    assert.equal((await ana('POST', '/policies/check', { name: 'two-eyes', yaml: yaml(1) })).status, 403);
    assert.equal((await root('POST', '/policies/check', { name: 'two-eyes', yaml: yaml(1), changeId: 'nope' })).status, 404);
  });

  it('browses the audit log newest first with filters and pages, and verifies it', async () => {
    const server = await startTestServer();
    const root = apiAs(server.url, await server.user('root', 'admin'));
    const rev = apiAs(server.url, await server.user('rev', 'reviewer'));
    for (const n of ['u1', 'u2', 'u3']) await root('POST', '/users', { username: n, role: 'viewer' });
    await root('POST', '/users/u1/disable');
    type Page = { entries: { seq: number; action: string; actor: string; subject: string }[]; next: number | null };
    assert.equal((await rev('GET', '/audit')).status, 403);

    const first = await root<Page>('GET', '/audit?limit=2&action=user');
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.entries.map((e) => e.action), ['user.disable', 'user.create']);
    assert.ok(first.body.entries[0]!.seq > first.body.entries[1]!.seq);
    const page2 = await root<Page>('GET', `/audit?limit=2&action=user&before=${first.body.next}`);
    assert.deepEqual(page2.body.entries.map((e) => e.subject), ['user:u2', 'user:u1']);
    const bySubject = await root<Page>('GET', '/audit?subject=user:u3');
    assert.deepEqual(bySubject.body.entries.map((e) => e.action), ['user.create']);
    assert.equal(bySubject.body.next, null);
    assert.deepEqual((await root<Page>('GET', '/audit?action=user.creat')).body.entries, [], 'a prefix stops at a dot');
    assert.equal((await root('GET', '/audit?limit=0')).status, 400);

    const verified = await root<{ ok: boolean; entries: number }>('POST', '/audit/verify');
    assert.equal(verified.status, 200);
    assert.equal(verified.body.ok, true);
    assert.ok(verified.body.entries >= 4);

    await server.app.db.run("UPDATE audit_log SET actor = 'mallory' WHERE action = 'user.disable'");
    const broken = await root<{ ok: boolean; seq: number; reason: string }>('POST', '/audit/verify');
    assert.equal(broken.body.ok, false);
    assert.equal(broken.body.seq, first.body.entries[0]!.seq);
  });
});
