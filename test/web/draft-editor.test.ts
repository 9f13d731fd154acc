/**
 * The draft editor's state (no browser): every item is validated on its own (the shared schema for what
 * is missing, the server's preview for what needs the inventory), a new item grants nothing until chosen,
 * and a draft with an incomplete item is not submitted (the refusal names the item).
 */
import './svelte-loader.ts';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { apiAs, importProxmox } from '../helpers/api.ts';
import { connect, startTestServer, until } from '../helpers/server.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { ChangeItem, CommonPrivilege } from '../../server/domain/access/model.ts';
import { draftProblems } from '../../server/sync/update-guard.ts';

const { LiveConnection } = await import('../../web/state/live-connection.svelte.ts');
const { DraftEditor, blankGrant, itemProblems, incompleteRefusal, toProblems } = await import('../../web/state/draft-editor.svelte.ts');

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string) { return this.map.get(key) ?? null; }
  setItem(key: string, value: string) { this.map.set(key, value); }
  removeItem(key: string) { this.map.delete(key); }
}

/** Stands in for the browser's same-origin fetch: `/api/...` goes to the test server as `token`'s user. */
function browserFetch(baseUrl: string, token: string): void {
  const real = globalThis.fetch;
  globalThis.fetch = ((input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    if (!url.startsWith('/api/')) return real(input, init);
    return real(`${baseUrl}${url}`, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${token}` } });
  }) as typeof fetch;
  after(() => { globalThis.fetch = real; });
}

const grant = (principal: string, resource: string, what: { role: string } | { privileges: CommonPrivilege[] }) =>
  ({ principal, resource, propagate: false, effect: 'allow' as const, ...what }) as Extract<ChangeItem, { op: 'add' }>['grant'];

describe('what a draft item still lacks, in words', () => {
  it('a new item grants nothing by itself and says what it needs, without schema jargon', () => {
    const blank = { ...blankGrant(), id: 'i1' };
    assert.deepEqual(blank.grant.privileges, [], 'no privilege chosen for the user');
    assert.equal(blank.grant.role, undefined);
    const problems = itemProblems(blank);
    assert.deepEqual(problems.map((p) => p.split(/[ :.]/)[0]), ['Principal', 'No', 'Resource']);
    assert.match(problems.join(' '), /Choose at least one privilege/);
    for (const p of problems) assert.doesNotMatch(p, /Too small|expected|>=|grant\./, p);
  });

  it('the live draft accepts an unfinished item (server/sync/update-guard.ts), so it can be filled in together', () => {
    for (const item of [
      { ...blankGrant(), id: 'i1' },
      { id: 'i2', op: 'add', grant: { principal: 'carol@ldap', resource: '/vms/100', propagate: false, effect: 'allow' } },
      { id: 'i3', op: 'replace', from: { principal: '', resource: '', privileges: [] }, to: { principal: '', resource: '', role: '' } },
    ]) {
      const doc = new Y.Doc();
      doc.getMap('meta').set('backend', 'proxmox');
      doc.getArray('items').push([item]);
      assert.deepEqual(draftProblems(doc), [], JSON.stringify(item));
    }
  });

  it('names the other cases too: neither role nor privileges, both, a bad expiry, each side of a replace', () => {
    assert.deepEqual(itemProblems({ id: 'i1', op: 'add', grant: grant('a', 'b', { role: 'x' }) }), [], 'a complete item has no problems');
    assert.deepEqual(itemProblems({ id: 'i1', op: 'add', grant: { principal: 'a', resource: 'b', propagate: false, effect: 'allow' } }),
      ['Nothing is granted yet. Choose at least one privilege, or switch Grants to a native role and name it.']);
    assert.deepEqual(itemProblems({ id: 'i1', op: 'add', grant: { principal: 'a', resource: 'b', role: 'x', privileges: ['vm.view'] } }),
      ['Choose either privileges or a native role, not both.']);
    assert.deepEqual(itemProblems({ id: 'i1', op: 'add', grant: { principal: 'a', resource: 'b', role: 'x', expiresAt: 'soon' } }),
      ['Expires is not a complete date and time: fill it in or clear it.']);
    assert.deepEqual(itemProblems({ id: 'i1', op: 'replace', from: { principal: 'a', resource: 'b', role: 'x' }, to: { principal: '', resource: 'b', role: '' } }),
      ['To: Principal is empty: name the user, group or token.', 'To: Role is empty: name a native role, or switch Grants to common privileges.']);
  });

  it('attaches each backend\'s refusal to the item it names', () => {
    const items = [{ ...blankGrant(), id: 'i1' }, { ...blankGrant(), id: 'i2' }];
    assert.deepEqual(toProblems("change item i2: unknown user 'x@pve'", items), [{ itemId: 'i2', message: "unknown user 'x@pve'" }]);
    assert.deepEqual(toProblems('item i1: unknown principal unix-user:x (use unix-user:NAME or unix-group:NAME)', items),
      [{ itemId: 'i1', message: 'unknown principal unix-user:x (use unix-user:NAME or unix-group:NAME)' }]);
    assert.deepEqual(toProblems('/items/1/grant/principal (item "i2"): unknown principal x', items), [{ itemId: 'i2', message: 'unknown principal x' }]);
    assert.deepEqual(toProblems('something else', items), [{ itemId: null, message: 'something else' }]);
    // A schema refusal by index is said in words (the same words as the editor's own check).
    assert.match(toProblems('items.1.grant.principal: Too small: expected string to have >=1 characters', items)[0]!.message, /^Principal is empty/);
  });

  it('refuses to submit an incomplete item, naming it', () => {
    const done = { id: 'i1', op: 'add', grant: grant('a', 'b', { role: 'x' }) };
    assert.equal(incompleteRefusal([done]), null);
    assert.match(incompleteRefusal([done, { ...blankGrant(), id: 'i2' }]) ?? '', /^Not submitted: item i2 is not complete\. .*No privilege chosen/);
    assert.equal(incompleteRefusal([{ ...blankGrant(), id: 'i2' }, { ...blankGrant(), id: 'i3' }]), 'Not submitted: items i2 and i3 are not complete; each says what it still needs.');
  });
});

describe('DraftEditor against a real server', () => {
  it('validates every item independently: an empty item does not hide an unknown principal or an unknown role elsewhere', async () => {
    const server = await startTestServer();
    const root = await server.user('root', 'admin');
    const token = await server.user('rita', 'reviewer');
    await importProxmox(server, root);
    const rita = apiAs(server.url, token);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', { title: 'Per-item validation', justification: '', backend: 'proxmox', items: [] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const changeId = created.body.change.id;
    browserFetch(server.url, token);

    const live = new LiveConnection('rita', { socket: connect(server.url, token), storage: new MemoryStorage() });
    after(() => live.dispose());
    const sent: string[] = [];
    live.socket.onAnyOutgoing((event: string) => { if (!event.startsWith('doc:')) sent.push(event); });
    const editor = new DraftEditor(changeId, { id: 0, username: 'rita', role: 'reviewer' }, live);
    after(() => editor.dispose());
    await until(() => editor.status === 'synced' && editor.canEdit && editor.backend === 'proxmox', 'the draft loaded');

    const ids = [editor.addItem(), editor.addItem(), editor.addItem(), editor.addItem()];
    assert.deepEqual(ids, ['i1', 'i2', 'i3', 'i4']);
    // A new item grants nothing and says so at once, before any round trip.
    assert.deepEqual((editor.items[1] as Extract<ChangeItem, { op: 'add' }>).grant.privileges, []);
    assert.match(editor.problemsFor('i2').map((p) => p.message).join(' '), /Choose at least one privilege/);
    editor.updateItem('i1', { id: 'i1', op: 'add', grant: grant('nobody@pve', '/vms/100', { role: 'PVEVMUser' }) });
    editor.updateItem('i3', { id: 'i3', op: 'add', grant: grant('carol@ldap', '/vms/100', { privileges: ['vm.power'] }) });
    editor.updateItem('i4', { id: 'i4', op: 'add', grant: grant('carol@ldap', '/vms/101', { role: 'NoSuchRole' }) });

    await until(() => editor.problemsFor('i1').length > 0 && editor.problemsFor('i4').length > 0 && editor.preview !== null, 'the preview judged every item');
    assert.deepEqual(editor.problemsFor('i1').map((p) => [p.kind, p.message]), [['refused', "unknown user 'nobody@pve': no user: line defines it"]]);
    assert.deepEqual(editor.problemsFor('i4').map((p) => [p.kind, p.message]), [['refused', "unknown role 'NoSuchRole'"]]);
    assert.deepEqual(editor.problemsFor('i2').map((p) => p.kind), ['incomplete', 'incomplete', 'incomplete']);
    assert.deepEqual(editor.problemsFor('i3'), [], 'the valid item is not blamed');
    assert.deepEqual(editor.generalProblems, []);
    assert.deepEqual(editor.previewLeftOut, ['i1', 'i2', 'i4']);
    assert.equal(editor.previewStale, false);
    assert.match(editor.preview!.rendered.text, /carol@ldap/, 'the preview shows what the valid item does');
    assert.deepEqual(editor.incompleteItems, ['i2']);

    // Submitting is refused here, naming the incomplete item; nothing is sent.
    const outcome = await editor.submit();
    assert.equal(outcome.ok, false);
    assert.match(editor.submitError ?? '', /^Not submitted: item i2 is not complete\./);
    assert.deepEqual(sent.filter((e) => e === 'change:submit'), []);
    assert.equal((await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.revisions.length, 0);

    // Fixing i1 brings it into the preview; the others keep their own verdicts.
    editor.updateItem('i1', { id: 'i1', op: 'add', grant: grant('alice@pve', '/vms/100', { role: 'PVEVMUser' }) });
    await until(() => editor.problemsFor('i1').length === 0 && editor.previewLeftOut.join() === 'i2,i4', 'i1 is accepted');
    assert.match(editor.preview!.rendered.text, /alice@pve/);
    assert.equal(editor.problemsFor('i4')[0]?.kind, 'refused');
  });
});
