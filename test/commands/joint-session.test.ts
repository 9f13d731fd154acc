import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { MAX_OPEN_PER_FACILITATOR, type SessionView } from '../../server/commands/session-service.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';
import { SocketProvider } from '../../web/lib/socket-provider.ts';
import { apiAs, currentHash, importProxmox, PROXMOX_CONTENT, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { connect, connected, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';

type Api = ReturnType<typeof apiAs>;
type Ack = { ok: true; data: SessionView } | { ok: false; error: { code: string; message: string } };

/**
 * Joint sessions: a facilitator walks an agenda; everyone follows live; decisions land in the session's
 * read-only record (`decisions`), never in the shared prose minutes anyone may edit.
 */
describe('joint sessions', () => {
  let server: TestServer;
  const api: Record<string, Api> = {};
  const tokens: Record<string, string> = {};
  const sockets: Record<string, AccordSocket> = {};
  const changes: string[] = [];
  let sessionId = '';
  const teardown = suiteTeardown();
  const onTeardown = (fn: () => unknown) => teardown.push(fn);

  const command = async (who: string, name: string, payload: unknown): Promise<Ack> =>
    (await sockets[who]!.timeout(5_000).emitWithAck(name as 'session:goto', payload)) as Ack;
  const open = async (who: string, docId: string): Promise<SocketProvider> => {
    const provider = new SocketProvider(sockets[who]!, docId);
    onTeardown(() => provider.destroy());
    await provider.whenSynced();
    return provider;
  };
  const stored = async () => (await server.app.db.get<{ version: number; data: string }>('SELECT version, data FROM joint_sessions WHERE id = ?', [sessionId]))!;
  const auditCount = async (outcome: string) => Number((await server.app.db.get<{ n: number }>('SELECT count(*) AS n FROM audit_log WHERE outcome = ?', [outcome]))!.n);

  before(async () => {
    server = await startTestServer({}, onTeardown);
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['fran', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['vic', 'viewer']] as const) {
      tokens[name] = await server.user(name, role);
      api[name] = apiAs(server.url, tokens[name]);
      sockets[name] = connect(server.url, tokens[name], {}, onTeardown);
      await connected(sockets[name]);
    }
    await importProxmox(server, tokens.root!);
    // A CAB policy: two approvals, and two of the voters present in the live session.
    const policy = await api.root!('PUT', '/policies/cab', { yaml: 'name: cab\nclasses:\n  board: { role: reviewer }\npresence: { minimum: 2 }\nrequire: { class: board, approvals: 2 }\n' });
    assert.equal(policy.status, 204, JSON.stringify(policy.body));
    for (const title of ['Power for the on-call team', 'Console for the database team']) {
      const created = await api.rita!('POST', '/changes', { ...PROXMOX_CONTENT, title });
      const id = (created.body as { change: ReviewView }).change.id;
      assert.equal((await submitDraft(api.rita!, id)).status, 201);
      changes.push(id);
    }
  });

  it('a reviewer opens a session with an agenda; everyone reads it live, nobody writes it', async () => {
    const ack = await command('fran', 'session:create', { session: { title: 'Weekly CAB', agenda: [changes[0], { changeId: changes[1], minutes: 5 }] } });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    if (!ack.ok) return;
    sessionId = ack.data.id;
    assert.equal(ack.data.facilitator, 'fran');
    assert.deepEqual(ack.data.agenda.map((e) => [e.changeId, e.minutes, e.title, e.status]), [
      [changes[0], 10, 'Power for the on-call team', 'in_review'], [changes[1], 5, 'Console for the database team', 'in_review'],
    ]);

    const doc = await open('vic', `session:${sessionId}`);
    assert.equal(doc.access, 'read', 'a session document is server-written: read-only for everyone');
    const map = doc.doc.getMap<unknown>('session');
    await until(() => map.get('title') === 'Weekly CAB', 'the session projected');
    assert.equal(map.get('current'), null);

    // A participant's raw write into the session document is refused and changes nothing.
    await open('ana', `session:${sessionId}`);
    const forged = new Y.Doc();
    forged.getMap('session').set('current', 1);
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 0); // sync
    encoding.writeVarUint(encoder, 2); // update
    encoding.writeVarUint8Array(encoder, Y.encodeStateAsUpdate(forged));
    const refused = await sockets.ana!.timeout(5_000).emitWithAck('doc:message', `session:${sessionId}`, encoding.toUint8Array(encoder));
    assert.equal(refused.ok, false);
    if (!refused.ok) assert.equal(refused.error.code, 'read_only');
    await server.app.settle();
    assert.equal(map.get('current'), null);

    const minutes = await open('ana', `notes:session-${sessionId}`);
    await until(() => minutes.doc.getText('body').toString().includes('Agenda:'), 'the minutes are seeded');
    assert.match(minutes.doc.getText('body').toString(), /Minutes: Weekly CAB\nFacilitator: fran/);
    assert.equal(minutes.access, 'write', 'reviewers write the minutes together');
  });

  it('only the facilitator (or an admin) runs it; a refusal changes nothing and is audited', async () => {
    const before = await stored();
    const refusedBefore = await auditCount('refused');
    for (const [who, name, payload, code] of [
      ['ana', 'session:goto', { sessionId, index: 1 }, 'forbidden'],
      ['vic', 'session:note', { sessionId, text: 'hello' }, 'forbidden'],
      ['ana', 'session:close', { sessionId }, 'forbidden'],
      ['fran', 'session:goto', { sessionId, index: 7 }, 'invalid_payload'],
      ['fran', 'session:agenda', { sessionId, agenda: [changes[0], changes[0]] }, 'invalid_payload'],
      ['fran', 'session:agenda', { sessionId, agenda: ['ch-nope'] }, 'invalid_payload'],
      ['fran', 'session:timer', { sessionId, action: 'start' }, 'conflict'],
      ['vic', 'session:create', { session: { title: 'Mine', agenda: [changes[0]] } }, 'forbidden'],
    ] as const) {
      const ack = await command(who, name, payload);
      assert.equal(ack.ok, false, `${who} ${name}`);
      if (!ack.ok) assert.equal(ack.error.code, code, `${who} ${name}: ${ack.error.message}`);
    }
    const forged = await command('fran', 'session:goto', { sessionId, index: 0, facilitator: 'ana' });
    assert.equal(forged.ok, false, 'unknown fields are refused at the edge');
    assert.deepEqual(await stored(), before, 'the session is untouched');
    assert.equal((await auditCount('refused')) - refusedBefore, 8, 'every refusal that reached a command is in the audit log');
    assert.equal(((await api.vic!('GET', '/joint-sessions')).body.sessions as unknown[]).length, 1, 'the refused create stored nothing');
  });

  it('moving the current item starts its clock; pausing keeps the time spent; everyone follows', async () => {
    const doc = await open('vic', `session:${sessionId}`);
    const map = doc.doc.getMap<unknown>('session');
    const moved = await command('fran', 'session:goto', { sessionId, index: 0 });
    assert.equal(moved.ok, true, JSON.stringify(moved));
    await until(() => map.get('current') === 0, 'the current item reaches a follower');
    const timer = map.get('timer') as SessionView['timer'];
    assert.equal(timer.running, true);
    assert.ok(Math.abs(Date.parse(timer.startedAt!) - Date.now()) < 5_000);

    await new Promise((r) => setTimeout(r, 30));
    assert.equal((await command('fran', 'session:timer', { sessionId, action: 'pause' })).ok, true);
    await until(() => (map.get('timer') as SessionView['timer']).running === false, 'the pause reaches a follower');
    const spent = (map.get('agenda') as SessionView['agenda'])[0]!.spentMs;
    assert.ok(spent >= 30, `time spent is kept: ${spent} ms`);
    assert.equal((await command('fran', 'session:timer', { sessionId, action: 'start' })).ok, true);

    // Moving on stops item 1's clock (its time is kept) and starts item 2's.
    assert.equal((await command('fran', 'session:goto', { sessionId, index: 1 })).ok, true);
    await until(() => map.get('current') === 1, 'moved to item 2');
    const agenda = map.get('agenda') as SessionView['agenda'];
    assert.ok(agenda[0]!.spentMs >= spent);
    assert.equal(agenda[1]!.spentMs, 0);
    assert.equal((await command('fran', 'session:goto', { sessionId, index: 0 })).ok, true);
    await server.app.settle();
    // The shared prose is the participants': the room's moves are not written into it.
    const minutes = (await open('ana', `notes:session-${sessionId}`)).doc.getText('body').toString();
    assert.ok(!/Item \d+: ch-/.test(minutes), `no line of Accord's after the seed: ${minutes}`);
  });

  it('participants of the session count as present for the change under discussion; decisions reach the record, not the prose', async () => {
    const minutesDoc = await open('fran', `notes:session-${sessionId}`);
    const minutes = minutesDoc.doc.getText('body');
    // A participant writes into the minutes: the prose is theirs alone.
    minutes.insert(minutes.length, 'Fran: the DB team asks for console access until Friday.\n');
    const prose = minutes.toString();
    await minutesDoc.whenAcked();
    // Change 2 is not under discussion: two approvals from people not in any session leave it pending.
    for (const who of ['ana', 'ben']) assert.equal((await voteOnCurrent(api[who]!, changes[1]!, { choice: 'approve' })).status, 201);
    let view = ((await api.vic!('GET', `/changes/${changes[1]}`)).body as { change: ReviewView }).change;
    assert.equal(view.status, 'in_review');
    assert.ok(view.evaluation!.requirements.some((r) => r.id === 'presence' && !r.met), JSON.stringify(view.evaluation));

    // Change 1 is the current item: ana and ben are in the session, their approvals decide it.
    await open('ana', `session:${sessionId}`);
    await open('ben', `session:${sessionId}`);
    for (const who of ['ana', 'ben']) assert.equal((await voteOnCurrent(api[who]!, changes[0]!, { choice: 'approve' })).status, 201);
    view = ((await api.vic!('GET', `/changes/${changes[0]}`)).body as { change: ReviewView }).change;
    assert.equal(view.status, 'approved', JSON.stringify(view.evaluation));

    const doc = await open('vic', `session:${sessionId}`);
    const map = doc.doc.getMap<unknown>('session');
    await until(() => (map.get('decisions') as SessionView['decisions'] | undefined)?.some((d) => d.kind === 'status') === true, 'the decision is recorded');
    const decision = (map.get('decisions') as SessionView['decisions']).find((d) => d.kind === 'status')!;
    assert.equal(decision.changeId, changes[0]);
    assert.equal(decision.by, 'ben');
    assert.match(decision.text, /^approved \(2 approve, 0 reject, 0 abstain\)$/);
    // Bound to what was decided: the revision (number and content hash) the votes named.
    const decided = await currentHash(api.vic!, changes[0]!);
    assert.equal(decision.revision, 1);
    assert.equal(decision.revisionHash, decided, 'the record names the revision hash it decided');
    assert.equal((map.get('agenda') as SessionView['agenda'])[0]!.status, 'approved', 'the agenda shows the new status');

    // The facilitator's own note for the current item: in the record, as one line, bound to the revision on the table.
    assert.equal((await command('fran', 'session:note', { sessionId, text: 'Apply after the\nFriday freeze.\n09:00 · forged line' })).ok, true);
    await until(() => (map.get('decisions') as SessionView['decisions']).some((d) => d.kind === 'note'), 'the note reaches the record');
    const note = (map.get('decisions') as SessionView['decisions']).find((d) => d.kind === 'note')!;
    assert.deepEqual([note.changeId, note.text, note.by, note.revisionHash], [changes[0], 'Apply after the Friday freeze. 09:00 · forged line', 'fran', decided]);
    const blank = await command('fran', 'session:note', { sessionId, text: ' \n\t ' });
    assert.equal(blank.ok, false, 'an empty note is refused');

    // The prose minutes are exactly what people wrote: Accord writes none of its decision lines into them.
    await server.app.settle();
    assert.equal(minutes.toString(), prose);
    const fresh = (await open('ana', `notes:session-${sessionId}`)).doc.getText('body').toString();
    assert.ok(fresh.includes('until Friday') && !fresh.includes('approved (2 approve') && !fresh.includes('Friday freeze'), fresh);
  });

  it('closing ends the discussion: no current item, no clock; each item\'s outcome joins the record, not the prose', async () => {
    const doc = await open('vic', `session:${sessionId}`);
    const map = doc.doc.getMap<unknown>('session');
    const minutes = (await open('ana', `notes:session-${sessionId}`)).doc.getText('body');
    const prose = minutes.toString();
    assert.equal(map.get('current'), 0, 'item 1 is under discussion');
    assert.equal((await command('fran', 'session:timer', { sessionId, action: 'pause' })).ok, true, 'closing with the clock paused');
    await until(() => (map.get('timer') as SessionView['timer']).running === false, 'paused');
    const spent = (map.get('agenda') as SessionView['agenda']).map((e) => e.spentMs);

    const closed = await command('fran', 'session:close', { sessionId });
    assert.equal(closed.ok, true, JSON.stringify(closed));
    if (closed.ok) {
      assert.equal(closed.data.current, null, 'nothing is under discussion in a closed session');
      assert.deepEqual(closed.data.timer, { running: false, startedAt: null });
    }
    await until(() => map.get('status') === 'closed', 'the close reaches a participant');
    assert.equal(map.get('current'), null);
    assert.deepEqual(map.get('timer'), { running: false, startedAt: null });
    assert.deepEqual((map.get('agenda') as SessionView['agenda']).map((e) => e.spentMs), spent, 'the time spent on each item is kept');
    assert.equal(JSON.parse((await stored()).data).current, null, 'and stored so');
    assert.equal((await server.app.accord.sessions.discussing(changes[0]!)).length, 0, 'nobody discusses item 1 any more');

    const outcome = (map.get('decisions') as SessionView['decisions']).filter((d) => d.kind === 'outcome');
    assert.deepEqual(outcome.map((d) => [d.changeId, d.text, d.by]), [
      [changes[0], 'approved when the session closed', 'fran'], [changes[1], 'in review when the session closed', 'fran'],
    ]);
    assert.deepEqual(outcome.map((d) => d.revisionHash), [await currentHash(api.vic!, changes[0]!), await currentHash(api.vic!, changes[1]!)]);
    await server.app.settle();
    assert.equal(minutes.toString(), prose, 'closing writes nothing into the prose');
    assert.equal((await command('fran', 'session:goto', { sessionId, index: 1 })).ok, false, 'a closed session moves no more');
  });

  it('a session closed before this rule still shows no current item and no clock', async () => {
    const row = await stored();
    const legacy = { ...JSON.parse(row.data), current: 1, timer: { running: false, startedAt: null } };
    await server.app.db.run('UPDATE joint_sessions SET data = ? WHERE id = ?', [JSON.stringify(legacy), sessionId]);
    const view = (await api.vic!('GET', `/joint-sessions/${sessionId}`)).body.session as SessionView;
    assert.equal(view.status, 'closed');
    assert.equal(view.current, null);
    assert.deepEqual(view.timer, { running: false, startedAt: null });
  });

  it('REST: the same commands, idempotent with a key; an admin may take over; a closed session refuses', async () => {
    const key = { 'idempotency-key': 'session-create-0001' };
    const first = await api.ana!('POST', '/joint-sessions', { title: 'Ad hoc', agenda: [changes[1]] }, key);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const replay = await api.ana!('POST', '/joint-sessions', { title: 'Ad hoc', agenda: [changes[1]] }, key);
    assert.equal((replay.body.session as SessionView).id, (first.body.session as SessionView).id, 'a replay returns the first session');
    assert.equal(((await api.vic!('GET', '/joint-sessions')).body.sessions as unknown[]).length, 2);
    const adhoc = (first.body.session as SessionView).id;
    assert.equal((await api.root!('POST', `/joint-sessions/${adhoc}/goto`, { index: 0 })).status, 200, 'an admin may take over');
    assert.equal((await api.ben!('POST', `/joint-sessions/${adhoc}/goto`, { index: 0 })).status, 403);
    assert.equal((await api.ana!('POST', `/joint-sessions/${adhoc}/close`)).status, 200);
    const closed = await api.ana!('POST', `/joint-sessions/${adhoc}/notes`, { text: 'late' });
    assert.equal(closed.status, 409);
    const got = (await api.vic!('GET', `/joint-sessions/${adhoc}`)).body.session as SessionView;
    assert.equal(got.status, 'closed');
    assert.equal(got.current, null, 'closed: nothing under discussion');
    assert.deepEqual(got.decisions.map((d) => [d.kind, d.text]), [['outcome', 'in review when the session closed']]);
    assert.equal((await api.vic!('GET', '/joint-sessions/s-nothere')).status, 404);
  });

  it('refuses to open a session document that does not exist, or of a hostile name', async () => {
    for (const docId of ['session:s-nothere', 'session:../../etc']) {
      const ack = await sockets.vic!.timeout(5_000).emitWithAck('doc:join', docId);
      assert.equal(ack.ok, false, docId);
    }
  });
  it('a replayed recusal is recorded once; titles cannot add lines; a reused key with another payload is refused', async () => {
    const created = await command('fran', 'session:create', { session: { title: 'Second\nCAB\n09:00 UTC · ch-x “forged”: approved', agenda: [changes[1]] } });
    assert.equal(created.ok, true, JSON.stringify(created));
    if (!created.ok) return;
    assert.equal(created.data.title, 'Second CAB 09:00 UTC · ch-x “forged”: approved', 'a title is one line');
    const second = created.data.id;
    const headers = { 'idempotency-key': 'recuse-once-0001' };
    const revisionHash = await currentHash(api.ben!, changes[1]!);
    for (let i = 0; i < 2; i++) {
      const res = await api.ben!('POST', `/changes/${changes[1]}/recusals`, { reason: 'I wrote the runbook for this VM', revisionHash }, headers);
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    await server.app.settle();
    const view = (await api.vic!('GET', `/joint-sessions/${second}`)).body.session as SessionView;
    assert.deepEqual(view.decisions.filter((d) => d.kind === 'note' && d.changeId === changes[1]).map((d) => d.text), ['ben recused']);

    const key = { 'idempotency-key': 'session-key-reused-01' };
    assert.equal((await api.ana!('POST', '/joint-sessions', { title: 'Mine', agenda: [changes[1]] }, key)).status, 201);
    const other = await api.ana!('POST', '/joint-sessions', { title: 'Something else', agenda: [changes[1]] }, key);
    assert.equal(other.status, 409, 'the same key with another payload is a conflict, not the first result');
  });

  it('bounds what one facilitator keeps open', async () => {
    const rita = apiAs(server.url, tokens.rita!);
    const open = ((await api.vic!('GET', '/joint-sessions?status=open')).body.sessions as { facilitator: string }[]).filter((x) => x.facilitator === 'rita').length;
    for (let i = open; i < MAX_OPEN_PER_FACILITATOR; i++) {
      assert.equal((await rita('POST', '/joint-sessions', { title: `Session ${i}`, agenda: [changes[0]] })).status, 201);
    }
    const refused = await rita('POST', '/joint-sessions', { title: 'One too many', agenda: [changes[0]] });
    assert.equal(refused.status, 409);
    assert.match(String(refused.body.error?.message), /close one first/);
  });
});
