/**
 * `session:rename` (PUT /api/joint-sessions/:id/title): the command added on the dispatcher, as a
 * declaration (server/protocol/commands.ts), a handler (server/commands/handlers.ts) and this test.
 * The facilitator renames; everyone on the session document sees it live; the old title stays in the
 * decision record; others are refused, and so is a closed session; a replay renames once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionView } from '../../server/commands/session-service.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { connect, connected, openProvider, startTestServer, until } from '../helpers/server.ts';

type Ack = { ok: true; data: SessionView } | { ok: false; error: { code: string; message: string } };

describe('renaming a joint session', () => {
  it('renames over Socket.io and REST for the facilitator only, live, recorded, once per key', async () => {
    const server = await startTestServer();
    const tokens = { fran: await server.user('fran', 'reviewer'), ana: await server.user('ana', 'reviewer'), root: await server.user('root', 'admin') };
    await importProxmox(server, tokens.root);
    const fran = apiAs(server.url, tokens.fran);
    const ana = apiAs(server.url, tokens.ana);
    const change = (await fran<{ change: { id: string } }>('POST', '/changes', PROXMOX_CONTENT)).body.change.id;
    const created = await fran<{ session: SessionView }>('POST', '/joint-sessions', { title: 'Weekly CBA', agenda: [change] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.session.id;

    // Ana follows the session document; fran renames it over Socket.io.
    const live = await openProvider(connect(server.url, tokens.ana), `session:${id}`);
    const socket = connect(server.url, tokens.fran);
    await connected(socket);
    const renamed = (await socket.timeout(5_000).emitWithAck('session:rename', { sessionId: id, title: '  Weekly\nCAB  ', idempotencyKey: 'rename-once-0001' })) as Ack;
    assert.equal(renamed.ok, true, JSON.stringify(renamed));
    assert.equal(renamed.ok && renamed.data.title, 'Weekly CAB', 'one line, trimmed');
    await until(() => live.doc.getMap('session').get('title') === 'Weekly CAB', 'the live session document shows the new title');
    const record = () => (live.doc.getMap('session').get('decisions') as SessionView['decisions']).filter((d) => d.text.startsWith('renamed'));
    await until(() => record().length === 1, 'the rename is in the decision record');
    assert.deepEqual(record().map((d) => [d.text, d.by]), [['renamed from “Weekly CBA”', 'fran']]);

    // A replay with the same key renames nothing more; the same title again is a conflict.
    const replay = (await socket.timeout(5_000).emitWithAck('session:rename', { sessionId: id, title: 'Weekly CAB', idempotencyKey: 'rename-once-0001' })) as Ack;
    assert.equal(replay.ok, true);
    assert.equal((await fran('PUT', `/joint-sessions/${id}/title`, { title: 'Weekly CAB' })).status, 409);

    // Only the facilitator: ana is refused, and the refusal is audited; bad bodies are refused at the edge.
    const refused = await ana<{ error: { code: string } }>('PUT', `/joint-sessions/${id}/title`, { title: 'Ana was here' });
    assert.equal(refused.status, 403);
    const audit = await server.app.db.all<{ outcome: string; actor: string }>("SELECT outcome, actor FROM audit_log WHERE action = 'session.rename' ORDER BY seq");
    assert.deepEqual(audit.map((r) => `${r.actor}:${r.outcome}`), ['fran:ok', 'fran:refused', 'ana:refused']);
    assert.equal((await fran('PUT', `/joint-sessions/${id}/title`, { title: '' })).status, 400);
    assert.equal((await fran('PUT', `/joint-sessions/${id}/title`, { title: 'x', facilitator: 'ana' })).status, 400);

    // Over REST, then closed: a closed session keeps its name.
    const rest = await fran<{ session: SessionView }>('PUT', `/joint-sessions/${id}/title`, { title: 'CAB, week 49' });
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.equal(rest.body.session.title, 'CAB, week 49');
    assert.equal((await fran('POST', `/joint-sessions/${id}/close`, {})).status, 200);
    const closed = await fran<{ error: { code: string } }>('PUT', `/joint-sessions/${id}/title`, { title: 'Too late' });
    assert.equal(closed.status, 409);
    assert.equal((await ana<{ session: SessionView }>('GET', `/joint-sessions/${id}`)).body.session.title, 'CAB, week 49');
    assert.equal(record().length, 2, 'two renames, two record entries, none for the replay or the refusals');
  });
});
