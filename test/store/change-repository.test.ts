/**
 * Contract of ChangeStore (server/store/repositories/change-repository.ts) and SessionStore
 * (server/store/repositories/session-repository.ts) on each database, migrated as the server migrates it:
 * change aggregates with optimistic versions and the home page's list and its filters (risk from the
 * current revision, a title search that ignores case and takes `%`, `_` and `\` literally, a clamped
 * limit), draft writers, annotations in the order they were made, idempotency records, inventories and
 * policies; joint sessions with their versions, the agenda and current-item indexes, counts and list
 * order; and rows that do not decode: a clear error naming table and column, never a wrong value.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { BlastRow } from '../../server/domain/access/model.ts';
import type { Annotation } from '../../server/domain/review/annotations.ts';
import type { ChangeRequest, Revision } from '../../server/domain/review/types.ts';
import type { JointSession } from '../../server/domain/session/types.ts';
import { AppError } from '../../server/protocol/errors.ts';
import { ChangeStore } from '../../server/store/repositories/change-repository.ts';
import { SessionStore } from '../../server/store/repositories/session-repository.ts';
import { isUniqueViolation, type Database } from '../../server/store/sql.ts';
import type { SqliteDatabase } from '../../server/store/sqlite/sqlite-database.ts';
import { onEachDatabase, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';

const T0 = Date.parse('2025-03-01T09:00:00.000Z');

/** A fixed past instant, `minutes` after T0: older than anything a save stamps with the clock. */
function at(minutes: number): string {
  return new Date(T0 + minutes * 60_000).toISOString();
}

function row(privilege: string, highRisk: boolean): BlastRow {
  return { principal: 'alice@pve', resource: '/vms/100', privilege, common: [], highRisk };
}

/** A revision whose blast radius gains (and loses) these rows; `flag` is the revision's own highRisk field. */
function revision(number: number, gained: BlastRow[], lost: BlastRow[] = [], flag = false): Revision {
  return {
    number, hash: `hash-${number}`, itemHashes: {},
    content: { title: 'title', justification: 'why', backend: 'proxmox', items: [] },
    submittedBy: 'alice', submittedAt: at(0),
    rendered: { format: 'text/x-pve-user-cfg', text: '', items: [], replaces: [], warnings: [] },
    blast: { gained, lost }, highRisk: flag,
  };
}

function change(id: string, fields: Partial<ChangeRequest> = {}): ChangeRequest {
  return { id, status: 'draft', requestedBy: 'alice', authors: [], createdAt: at(0), revisions: [], votes: [], recusals: [], policy: 'default', ...fields };
}

function annotation(id: string, changeId: string, body: string): Annotation {
  return { id, changeId, author: 'bob', anchor: { kind: 'item', itemId: 'item-1' }, body, resolved: false, deleted: false, createdAt: at(0), revision: 1 };
}

function session(id: string, agenda: string[], fields: Partial<JointSession> = {}): JointSession {
  return {
    id, title: `Board ${id}`, facilitator: 'alice', status: 'open', createdAt: at(0),
    agenda: agenda.map((changeId) => ({ changeId, minutes: 10, spentMs: 0, lastStatus: 'in_review', lastRevision: 1 })),
    current: null, timer: { running: false, startedAt: null }, decisions: [], ...fields,
  };
}

async function open(kind: DatabaseKind): Promise<{ db: Database; changes: ChangeStore; sessions: SessionStore }> {
  const { db } = await openTestStorage(kind);
  return { db, changes: new ChangeStore(db), sessions: new SessionStore(db) };
}

function isConflict(err: unknown): boolean {
  return err instanceof AppError && err.code === 'conflict';
}

/** The ids of a list, for order-sensitive comparisons. */
function ids(rows: readonly { id: string }[]): string[] {
  return rows.map((r) => r.id);
}

/**
 * Lets an INTEGER column hold text, as SQLite's columns always can: on PostgreSQL the column becomes
 * TEXT (a schema drifting from the code's expectations). Then stores `value` in every row.
 */
async function corruptInteger(kind: DatabaseKind, db: Database, table: string, column: string, value: string): Promise<void> {
  if (kind === 'postgres') await db.run(`ALTER TABLE ${table} ALTER COLUMN ${column} DROP DEFAULT, ALTER COLUMN ${column} TYPE TEXT USING ${column}::text`);
  await db.run(`UPDATE ${table} SET ${column} = ?`, [value]);
}

/**
 * Makes a TEXT column hold something that is not text in every row. SQLite's TEXT affinity turns a number
 * into text ('7'), but keeps a blob; on PostgreSQL the column becomes INTEGER.
 */
async function corruptText(kind: DatabaseKind, db: Database, table: string, column: string): Promise<void> {
  if (kind === 'sqlite') (db as SqliteDatabase).raw.exec(`UPDATE ${table} SET ${column} = X'00ff'`);
  else await db.run(`ALTER TABLE ${table} ALTER COLUMN ${column} TYPE INTEGER USING 7`);
}

onEachDatabase('ChangeStore', (kind) => {
  it('get, insert and save: each save counts a version; a stale version is a conflict that changes nothing', async () => {
    const { changes } = await open(kind);
    assert.equal(await changes.get('chg-1'), null);
    const first = change('chg-1', { createdAt: at(1) });
    await changes.insert(first, 'proxmox', 'Console for alice');
    assert.deepEqual(await changes.get('chg-1'), { change: first, version: 1 });
    assert.deepEqual(await changes.list({ limit: 10 }), [
      { id: 'chg-1', title: 'Console for alice', status: 'draft', backend: 'proxmox', requestedBy: 'alice', updatedAt: at(1), highRisk: false },
    ]);
    await assert.rejects(changes.insert(change('chg-1'), 'vsphere', 'Again'), (err) => isUniqueViolation(err), 'an id is stored once');

    const submitted: ChangeRequest = { ...first, status: 'in_review', revisions: [revision(1, [row('vm.console', true)])] };
    await changes.save(submitted, 1, 'Console for alice and bob');
    assert.deepEqual(await changes.get('chg-1'), { change: submitted, version: 2 });
    const [afterSave] = await changes.list({ limit: 10 });
    assert.equal(afterSave!.title, 'Console for alice and bob');
    assert.equal(afterSave!.status, 'in_review');
    assert.equal(afterSave!.highRisk, true, 'the risk column follows the saved revision');
    assert.ok(afterSave!.updatedAt > at(1), 'a save stamps updated_at with the clock');

    const approved: ChangeRequest = { ...submitted, status: 'approved' };
    await changes.save(approved, 2);
    const [kept] = await changes.list({ limit: 10 });
    assert.equal(kept!.title, 'Console for alice and bob', 'no title: the stored one stays');
    assert.equal(kept!.status, 'approved');

    await assert.rejects(changes.save({ ...submitted, status: 'rejected', revisions: [] }, 2, 'Stale'), isConflict);
    assert.deepEqual(await changes.get('chg-1'), { change: approved, version: 3 }, 'the stale save changed nothing');
    assert.deepEqual(await changes.list({ limit: 10 }), [kept], 'nor the listed columns');
    await assert.rejects(changes.save(change('chg-404'), 1), isConflict, 'an unknown change is a conflict too');
    assert.equal(await changes.get('chg-404'), null);
  });

  it('list: filters by status, backend, requester and risk (of the current revision), newest first', async () => {
    const { changes } = await open(kind);
    const high = row('vm.console', true);
    const normal = row('vm.view', false);
    await changes.insert(change('a', { status: 'in_review', createdAt: at(1), revisions: [revision(1, [high])] }), 'proxmox', 'Console access for DB team');
    await changes.insert(change('b', { requestedBy: 'bob', createdAt: at(2) }), 'vsphere', 'Snapshot rights');
    // High-risk before, not in the current revision: normal.
    await changes.insert(change('c', { status: 'in_review', createdAt: at(3), revisions: [revision(1, [high]), revision(2, [normal])] }), 'vsphere', 'db backups');
    // One high-risk row among normal ones: high.
    await changes.insert(change('d', { status: 'approved', requestedBy: 'carol', createdAt: at(4), revisions: [revision(1, [normal, high])] }), 'proxmox', 'Power for ops');
    // Only a lost row is high-risk, and the revision's own flag says so: the gained rows decide, normal.
    await changes.insert(change('e', { status: 'in_review', requestedBy: 'bob', createdAt: at(5), revisions: [revision(1, [normal], [high], true)] }), 'proxmox', 'Guest tools');

    assert.deepEqual(ids(await changes.list({ limit: 50 })), ['e', 'd', 'c', 'b', 'a']);
    assert.deepEqual((await changes.list({ limit: 50 })).at(-1), {
      id: 'a', title: 'Console access for DB team', status: 'in_review', backend: 'proxmox', requestedBy: 'alice', updatedAt: at(1), highRisk: true,
    });
    assert.deepEqual(ids(await changes.list({ status: 'in_review', limit: 50 })), ['e', 'c', 'a']);
    assert.deepEqual(ids(await changes.list({ status: 'applied', limit: 50 })), []);
    assert.deepEqual(ids(await changes.list({ backend: 'vsphere', limit: 50 })), ['c', 'b']);
    assert.deepEqual(ids(await changes.list({ requestedBy: 'alice', limit: 50 })), ['c', 'a']);
    assert.deepEqual(ids(await changes.list({ risk: 'high', limit: 50 })), ['d', 'a']);
    assert.deepEqual(ids(await changes.list({ risk: 'normal', limit: 50 })), ['e', 'c', 'b']);
    assert.deepEqual((await changes.list({ limit: 50 })).map((s) => s.highRisk), [false, true, false, false, true]);
    assert.deepEqual(ids(await changes.list({ status: 'in_review', backend: 'proxmox', risk: 'high', limit: 50 })), ['a'], 'filters combine');
    assert.deepEqual(ids(await changes.list({ requestedBy: 'bob', risk: 'normal', backend: 'vsphere', limit: 50 })), ['b']);

    // A new current revision that gains a high-risk privilege makes c high-risk, and newest.
    const c = (await changes.get('c'))!;
    await changes.save({ ...c.change, revisions: [...c.change.revisions, revision(3, [high])] }, c.version);
    assert.deepEqual(ids(await changes.list({ risk: 'high', limit: 50 })), ['c', 'd', 'a']);
    assert.deepEqual(ids(await changes.list({ limit: 50 })), ['c', 'e', 'd', 'b', 'a']);
  });

  it('list: the title search ignores case on both databases and takes %, _ and \\ literally', async () => {
    const { changes } = await open(kind);
    const titles = ['Console access for DB team', 'db backups', '100% uptime', '1000 uptime', 'vm_console', 'vmXconsole', 'C:\\temp', 'C:temp'];
    for (const [i, title] of titles.entries()) await changes.insert(change(`c${i}`, { createdAt: at(i) }), 'proxmox', title);
    const search = async (q: string): Promise<string[]> => (await changes.list({ title: q, limit: 50 })).map((s) => s.title);

    assert.deepEqual(await search('db'), ['db backups', 'Console access for DB team']);
    assert.deepEqual(await search('DB'), ['db backups', 'Console access for DB team']);
    assert.deepEqual(await search('CONSOLE'), ['vmXconsole', 'vm_console', 'Console access for DB team']);
    assert.deepEqual(await search('100%'), ['100% uptime'], '% is not a wildcard');
    assert.deepEqual(await search('%'), ['100% uptime']);
    assert.deepEqual(await search('vm_c'), ['vm_console'], '_ is not a wildcard');
    assert.deepEqual(await search('_'), ['vm_console']);
    assert.deepEqual(await search('VM_CONSOLE'), ['vm_console']);
    assert.deepEqual(await search('C:\\t'), ['C:\\temp'], '\\ is not an escape');
    assert.deepEqual(await search('\\'), ['C:\\temp']);
    assert.deepEqual(await search('no such title'), []);
    assert.deepEqual(ids(await changes.list({ title: 'uptime', status: 'draft', backend: 'vsphere', limit: 50 })), [], 'combines with the other filters');
  });

  it('list: the limit is clamped to 1..500 and takes the newest', async () => {
    const { db, changes } = await open(kind);
    await db.transaction(async () => {
      for (let i = 0; i < 501; i++) await changes.insert(change(`chg-${String(i).padStart(3, '0')}`, { createdAt: at(i) }), 'proxmox', `Change ${i}`);
    });
    assert.deepEqual(ids(await changes.list({ limit: 1 })), ['chg-500']);
    assert.deepEqual(ids(await changes.list({ limit: 0 })), ['chg-500'], 'at least one');
    assert.deepEqual(ids(await changes.list({ limit: -3 })), ['chg-500']);
    assert.deepEqual(ids(await changes.list({ limit: 2.9 })), ['chg-500', 'chg-499'], 'a fraction is rounded down');
    assert.equal((await changes.list({ limit: 500 })).length, 500);
    const capped = await changes.list({ limit: 10_000 });
    assert.equal(capped.length, 500, 'at most 500');
    assert.equal(capped.at(-1)!.id, 'chg-001', 'the oldest is the one left out');
  });

  it('draft writers: recorded once per change (true the first time), listed by name in code unit order', async () => {
    const { changes } = await open(kind);
    await changes.insert(change('chg-1'), 'proxmox', 'One');
    await changes.insert(change('chg-2'), 'proxmox', 'Two');
    assert.deepEqual(await changes.draftWriters('chg-1'), []);
    assert.equal(await changes.addDraftWriter('chg-1', 'mallory', at(1)), true);
    assert.equal(await changes.addDraftWriter('chg-1', 'bob', at(2)), true);
    assert.equal(await changes.addDraftWriter('chg-1', 'Zoe', at(3)), true);
    assert.equal(await changes.addDraftWriter('chg-1', 'mallory', at(4)), false, 'already recorded');
    assert.equal(await changes.addDraftWriter('chg-2', 'mallory', at(4)), true, 'recorded per change');
    assert.deepEqual(await changes.draftWriters('chg-1'), ['Zoe', 'bob', 'mallory']);
    assert.deepEqual(await changes.draftWriters('chg-2'), ['mallory']);
    assert.deepEqual(await changes.draftWriters('chg-404'), []);
    await assert.rejects(changes.addDraftWriter('chg-404', 'bob', at(1)), /foreign key constraint/i, 'the change must exist');
    assert.deepEqual(await changes.draftWriters('chg-404'), []);
  });

  it('annotations: in the order they were made (an update keeps its place), by change, and one by id', async () => {
    const { changes } = await open(kind);
    await changes.insert(change('chg-1'), 'proxmox', 'One');
    await changes.insert(change('chg-2'), 'proxmox', 'Two');
    assert.deepEqual(await changes.annotations('chg-1'), []);
    // Ids out of alphabetical order: the order is the order of insertion, not of ids.
    const z = annotation('ann-z', 'chg-1', 'first');
    const a = annotation('ann-a', 'chg-1', 'second');
    const other = annotation('ann-o', 'chg-2', 'elsewhere');
    const m = { ...annotation('ann-m', 'chg-1', 'third'), anchor: { kind: 'line' as const, revision: 1, line: 4 }, parentId: 'ann-z' };
    for (const x of [z, a, other, m]) await changes.putAnnotation(x);
    assert.deepEqual(await changes.annotations('chg-1'), [z, a, m]);
    assert.deepEqual(await changes.annotations('chg-2'), [other]);

    const resolved: Annotation = { ...z, body: 'first, edited', editedAt: at(5), resolved: true, resolvedBy: 'alice' };
    await changes.putAnnotation(resolved);
    assert.deepEqual(await changes.annotations('chg-1'), [resolved, a, m], 'updated in place, still first');
    assert.deepEqual(await changes.annotation('ann-z'), resolved);
    assert.deepEqual(await changes.annotation('ann-m'), m);
    assert.equal(await changes.annotation('ann-404'), null);
    await assert.rejects(changes.putAnnotation(annotation('ann-x', 'chg-404', 'orphan')), /foreign key constraint/i, 'the change must exist');
    assert.equal(await changes.annotation('ann-x'), null);
  });

  it('command results: remembered per user and key; a second remember of the same key is refused', async () => {
    const { changes } = await open(kind);
    assert.equal(await changes.commandResult(1, 'key-1'), null);
    const result = { ok: true, change: { id: 'chg-1', version: 2 }, list: [1, 'two', null] };
    await changes.rememberResult(1, 'key-1', 'change.vote', result);
    assert.deepEqual(await changes.commandResult(1, 'key-1'), { command: 'change.vote', result });
    assert.equal(await changes.commandResult(2, 'key-1'), null, 'keys are per user');
    assert.equal(await changes.commandResult(1, 'key-2'), null);

    await assert.rejects(changes.rememberResult(1, 'key-1', 'change.withdraw', { ok: false }), (err) => isUniqueViolation(err));
    assert.deepEqual(await changes.commandResult(1, 'key-1'), { command: 'change.vote', result }, 'the first is kept');
    await changes.rememberResult(2, 'key-1', 'change.withdraw', { ok: false });
    assert.deepEqual(await changes.commandResult(2, 'key-1'), { command: 'change.withdraw', result: { ok: false } });
    await changes.rememberResult(1, 'key-3', 'session.close', undefined);
    assert.deepEqual(await changes.commandResult(1, 'key-3'), { command: 'session.close', result: null }, 'no result is stored as null');
  });

  it('inventories: per backend, each import a version 1, 2, ...', async () => {
    const { changes } = await open(kind);
    assert.equal(await changes.inventory('proxmox'), null);
    const v1 = [{ path: 'user.cfg', text: 'user:alice@pve:1:0::::::\n' }];
    const v2 = [{ path: 'user.cfg', text: 'user:bob@pve:1:0::::::\n' }, { path: 'acl.cfg', text: '' }];
    assert.equal(await changes.putInventory('proxmox', v1, 'alice'), 1);
    assert.deepEqual(await changes.inventory('proxmox'), { files: v1, version: 1 });
    assert.equal(await changes.putInventory('proxmox', v2, 'bob'), 2);
    assert.deepEqual(await changes.inventory('proxmox'), { files: v2, version: 2 });
    assert.equal(await changes.putInventory('proxmox', [], 'bob'), 3);
    assert.deepEqual(await changes.inventory('proxmox'), { files: [], version: 3 });
    assert.equal(await changes.putInventory('vsphere', v1, 'alice'), 1, 'versions count per backend');
    assert.deepEqual(await changes.inventory('vsphere'), { files: v1, version: 1 });
    assert.equal(await changes.inventory('libvirt'), null);
  });

  it('policies: written by name (again: replaced), listed by name', async () => {
    const { changes } = await open(kind);
    assert.deepEqual(await changes.policies(), []);
    await changes.putPolicy('standard', 'approvals: 2\n', 'alice');
    await changes.putPolicy('emergency', 'approvals: 1\n', 'alice');
    await changes.putPolicy('Audit', 'approvals: 3\n', 'bob');
    assert.deepEqual(await changes.policies(), [
      { name: 'Audit', yaml: 'approvals: 3\n' },
      { name: 'emergency', yaml: 'approvals: 1\n' },
      { name: 'standard', yaml: 'approvals: 2\n' },
    ]);
    await changes.putPolicy('emergency', 'approvals: 2\nselect: { environment: prod }\n', 'bob');
    assert.deepEqual(await changes.policies(), [
      { name: 'Audit', yaml: 'approvals: 3\n' },
      { name: 'emergency', yaml: 'approvals: 2\nselect: { environment: prod }\n' },
      { name: 'standard', yaml: 'approvals: 2\n' },
    ]);
  });

  it('a corrupted column of a change is an error naming table and column, not a wrong value', async () => {
    const { db, changes } = await open(kind);
    const stored = change('chg-1', { revisions: [revision(1, [row('vm.console', true)])] });
    await changes.insert(stored, 'proxmox', 'One');

    await corruptInteger(kind, db, 'changes', 'high_risk', 'yes');
    await assert.rejects(changes.list({ limit: 10 }), { message: /^changes\.high_risk: expected an integer/ });
    await assert.rejects(changes.list({ status: 'draft', title: 'on', limit: 10 }), /changes\.high_risk/);
    assert.deepEqual(await changes.get('chg-1'), { change: stored, version: 1 }, 'get does not read the risk column');

    await corruptInteger(kind, db, 'changes', 'version', 'two');
    await assert.rejects(changes.get('chg-1'), { message: /^changes\.version: expected an integer/ });

    await corruptText(kind, db, 'changes', 'data');
    await assert.rejects(changes.get('chg-1'), { message: /^changes\.data: expected text/ });
  });

  it('a corrupted column of annotations, draft writers, command results, inventories or policies names table and column', async () => {
    const { db, changes } = await open(kind);
    await changes.insert(change('chg-1'), 'proxmox', 'One');
    await changes.putAnnotation(annotation('ann-1', 'chg-1', 'note'));
    await changes.addDraftWriter('chg-1', 'bob', at(1));
    await changes.rememberResult(1, 'key-1', 'change.vote', { ok: true });
    await changes.putInventory('proxmox', [{ path: 'user.cfg', text: '' }], 'alice');
    await changes.putPolicy('standard', 'approvals: 2\n', 'alice');

    await corruptText(kind, db, 'annotations', 'data');
    await assert.rejects(changes.annotations('chg-1'), { message: /^annotations\.data: expected text/ });
    await assert.rejects(changes.annotation('ann-1'), { message: /^annotations\.data: expected text/ });

    await corruptText(kind, db, 'draft_writers', 'username');
    await assert.rejects(changes.draftWriters('chg-1'), { message: /^draft_writers\.username: expected text/ });

    await corruptText(kind, db, 'command_results', 'result');
    await assert.rejects(changes.commandResult(1, 'key-1'), { message: /^command_results\.result: expected text/ });

    await corruptInteger(kind, db, 'inventories', 'version', 'two');
    await assert.rejects(changes.inventory('proxmox'), { message: /^inventories\.version: expected an integer/ });
    await assert.rejects(changes.putInventory('proxmox', [], 'bob'), /inventories\.version/, 'no version to count from: nothing is written');

    await corruptText(kind, db, 'policies', 'yaml');
    await assert.rejects(changes.policies(), { message: /^policies\.yaml: expected text/ });
  });
});

onEachDatabase('SessionStore', (kind) => {
  it('get, insert and save: each save counts a version; a stale version is a conflict that changes nothing', async () => {
    const { changes, sessions } = await open(kind);
    for (const id of ['chg-1', 'chg-2']) await changes.insert(change(id), 'proxmox', id);
    assert.equal(await sessions.get('s1'), null);
    const s = session('s1', ['chg-1', 'chg-2']);
    await sessions.insert(s);
    assert.deepEqual(await sessions.get('s1'), { session: s, version: 1 });
    await assert.rejects(sessions.insert(session('s1', [])), (err) => isUniqueViolation(err), 'an id is stored once');

    const started: JointSession = { ...s, current: 0, timer: { running: true, startedAt: at(1) } };
    await sessions.save(started, 1);
    assert.deepEqual(await sessions.get('s1'), { session: started, version: 2 });
    assert.deepEqual(await sessions.discussing('chg-1'), ['s1']);

    const stale: JointSession = { ...started, title: 'Stale', agenda: started.agenda.slice(1), current: 0 };
    await assert.rejects(sessions.save(stale, 1), isConflict);
    assert.deepEqual(await sessions.get('s1'), { session: started, version: 2 }, 'the stale save changed nothing');
    assert.deepEqual(await sessions.discussing('chg-1'), ['s1'], 'nor the current item');
    assert.deepEqual((await sessions.openWith('chg-1')).map((x) => x.id), ['s1'], 'nor the agenda index');
    assert.equal((await sessions.list({ limit: 10 }))[0]!.title, 'Board s1');
    await assert.rejects(sessions.save(session('s404', []), 1), isConflict, 'an unknown session is a conflict too');
    assert.equal(await sessions.get('s404'), null);
  });

  it('openWith: open sessions with the change on their agenda; discussing: open sessions whose current item it is', async () => {
    const { changes, sessions } = await open(kind);
    for (const id of ['chg-1', 'chg-2', 'chg-3']) await changes.insert(change(id), 'proxmox', id);
    const s1 = session('s1', ['chg-1', 'chg-2'], { current: 0 });
    const s2 = session('s2', ['chg-2'], { current: 0 });
    const s3 = session('s3', ['chg-1'], { current: 0 });
    const s4 = session('s4', ['chg-3']);
    for (const s of [s1, s2, s3, s4]) await sessions.insert(s);
    const openWith = async (changeId: string): Promise<string[]> => (await sessions.openWith(changeId)).map((s) => s.id).sort();

    assert.deepEqual(await openWith('chg-1'), ['s1', 's3']);
    assert.deepEqual(await openWith('chg-2'), ['s1', 's2']);
    assert.deepEqual(await openWith('chg-3'), ['s4']);
    assert.deepEqual(await openWith('chg-404'), []);
    assert.deepEqual((await sessions.openWith('chg-3'))[0], s4, 'the whole session');
    assert.deepEqual((await sessions.discussing('chg-1')).sort(), ['s1', 's3']);
    assert.deepEqual(await sessions.discussing('chg-2'), ['s2'], 'on the agenda of s1, but not its current item');
    assert.deepEqual(await sessions.discussing('chg-3'), [], 'no current item yet');

    // Closed, even with its current index left pointing at the change: neither.
    await sessions.save({ ...s3, status: 'closed', closedAt: at(9) }, 1);
    assert.deepEqual(await openWith('chg-1'), ['s1']);
    assert.deepEqual(await sessions.discussing('chg-1'), ['s1']);

    // s1 drops chg-1 from its agenda and moves on to chg-2.
    await sessions.save({ ...s1, agenda: s1.agenda.slice(1), current: 0 }, 1);
    assert.deepEqual(await openWith('chg-1'), []);
    assert.deepEqual(await sessions.discussing('chg-1'), []);
    assert.deepEqual((await sessions.discussing('chg-2')).sort(), ['s1', 's2']);
    assert.deepEqual(await openWith('chg-2'), ['s1', 's2']);

    // A closed session inserted as such (with a current item) is on no one's list either.
    await sessions.insert(session('s5', ['chg-3'], { status: 'closed', current: 0 }));
    assert.deepEqual(await openWith('chg-3'), ['s4']);
    assert.deepEqual(await sessions.discussing('chg-3'), []);
  });

  it('openCount: the open sessions a facilitator runs', async () => {
    const { sessions } = await open(kind);
    await sessions.insert(session('s1', []));
    await sessions.insert(session('s2', []));
    await sessions.insert(session('s3', [], { status: 'closed' }));
    await sessions.insert(session('s4', [], { facilitator: 'bob' }));
    assert.equal(await sessions.openCount('alice'), 2);
    assert.equal(await sessions.openCount('bob'), 1);
    assert.equal(await sessions.openCount('carol'), 0);
    await sessions.save({ ...session('s2', []), status: 'closed' }, 1);
    assert.equal(await sessions.openCount('alice'), 1);
  });

  it('list: open sessions first, then newest; by status; limit clamped to 1..500', async () => {
    const { sessions } = await open(kind);
    await sessions.insert(session('s1', [], { createdAt: at(1) }));
    await sessions.insert(session('s2', [], { status: 'closed', createdAt: at(2) }));
    await sessions.insert(session('s3', [], { createdAt: at(3), facilitator: 'bob', title: 'Weekly board' }));
    await sessions.insert(session('s4', [], { status: 'closed', createdAt: at(4) }));
    assert.deepEqual(ids(await sessions.list({ limit: 50 })), ['s3', 's1', 's4', 's2']);
    assert.deepEqual((await sessions.list({ limit: 50 }))[0], {
      id: 's3', title: 'Weekly board', status: 'open', facilitator: 'bob', createdAt: at(3), updatedAt: at(3),
    });
    assert.deepEqual(ids(await sessions.list({ status: 'closed', limit: 50 })), ['s4', 's2']);
    assert.deepEqual(ids(await sessions.list({ status: 'open', limit: 50 })), ['s3', 's1']);
    assert.deepEqual(ids(await sessions.list({ limit: 2 })), ['s3', 's1']);
    assert.deepEqual(ids(await sessions.list({ limit: 0 })), ['s3'], 'at least one');

    await sessions.save(session('s1', [], { createdAt: at(1), title: 'Renamed' }), 1);
    const listed = await sessions.list({ limit: 50 });
    assert.deepEqual(ids(listed), ['s1', 's3', 's4', 's2'], 'a save makes it the newest');
    assert.equal(listed[0]!.title, 'Renamed');
    assert.equal(listed[0]!.createdAt, at(1));
    assert.ok(listed[0]!.updatedAt > at(4));
    await sessions.save(session('s3', [], { status: 'closed', createdAt: at(3) }), 1);
    assert.deepEqual(ids(await sessions.list({ limit: 50 })), ['s1', 's3', 's4', 's2'], 'closed and newest: after every open one');
  });

  it('a corrupted column of a session is an error naming table and column, not a wrong value', async () => {
    const { db, sessions } = await open(kind);
    const s = session('s1', ['chg-1'], { current: 0 });
    await sessions.insert(s);
    await corruptInteger(kind, db, 'joint_sessions', 'version', '2.5');
    await assert.rejects(sessions.get('s1'), { message: /^joint_sessions\.version: expected an integer/ });
    assert.deepEqual(await sessions.openWith('chg-1'), [s], 'openWith does not read the version');
    await corruptText(kind, db, 'joint_sessions', 'data');
    await assert.rejects(sessions.get('s1'), { message: /^joint_sessions\.data: expected text/ });
    await assert.rejects(sessions.openWith('chg-1'), { message: /^joint_sessions\.data: expected text/ });
    await corruptText(kind, db, 'joint_sessions', 'title');
    await assert.rejects(sessions.list({ limit: 10 }), { message: /^joint_sessions\.title: expected text/ });
  });
});
