import './svelte-loader.ts';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft } from '../e2e/hash-helpers.ts';
import { connect, connected, startTestServer, until } from '../helpers/server.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { SessionView } from '../../server/commands/session-service.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';

const { JointSession, formatClock, readTimer } = await import('../../web/state/joint-session.svelte.ts');
const { LiveConnection } = await import('../../web/state/live-connection.svelte.ts');

/** A real LiveConnection over a test socket (no localStorage, no IndexedDB in Node). */
const liveOver = (socket: AccordSocket, username: string) => new LiveConnection(username, { socket, storage: null });

describe('the session clock', () => {
  it('formats durations, and counts down from the time box with the running stretch', () => {
    assert.equal(formatClock(0), '0:00');
    assert.equal(formatClock(65_000), '1:05');
    assert.equal(formatClock(3_725_000), '1:02:05');
    assert.equal(formatClock(-61_000), '−1:01');
    const startedAt = '2026-11-24T10:00:00.000Z';
    const session = {
      current: 0,
      timer: { running: true, startedAt },
      agenda: [{ minutes: 2, spentMs: 30_000 }] as SessionView['agenda'],
    };
    const at = (s: number) => Date.parse(startedAt) + s * 1000;
    assert.deepEqual(readTimer(session, at(10)), { running: true, spentMs: 40_000, boxMs: 120_000, remainingMs: 80_000 });
    assert.equal(readTimer(session, at(100))!.remainingMs, -10_000, 'over time is negative');
    assert.equal(readTimer({ ...session, timer: { running: false, startedAt: null } }, at(100))!.spentMs, 30_000, 'paused: only the time spent');
    assert.equal(readTimer({ ...session, current: null }, at(1)), null);
  });
});

describe('JointSession against a real server', () => {
  it('follows the presenter by default, browses on request, shows who looks at what, and reports refusals', async () => {
    const server = await startTestServer();
    const root = await server.user('root', 'admin');
    const fran = await server.user('fran', 'reviewer');
    const ana = await server.user('ana', 'reviewer');
    await importProxmox(server, root);
    const ids: string[] = [];
    for (const title of ['First', 'Second']) {
      const created = await apiAs(server.url, fran)<{ change: ReviewView }>('POST', '/changes', { ...PROXMOX_CONTENT, title });
      assert.equal((await submitDraft(apiAs(server.url, fran), created.body.change.id)).status, 201);
      ids.push(created.body.change.id);
    }
    const made = await apiAs(server.url, fran)<{ session: SessionView }>('POST', '/joint-sessions', { title: 'CAB', agenda: ids });
    const sessionId = made.body.session.id;

    const sockets = { fran: connect(server.url, fran), ana: connect(server.url, ana) };
    await Promise.all([connected(sockets.fran), connected(sockets.ana)]);
    const runner = new JointSession(sessionId, { id: 2, username: 'fran', role: 'reviewer' }, liveOver(sockets.fran, 'fran'));
    const follower = new JointSession(sessionId, { id: 3, username: 'ana', role: 'reviewer' }, liveOver(sockets.ana, 'ana'));
    after(() => (runner.dispose(), follower.dispose()));
    await until(() => follower.isLoaded && runner.isLoaded, 'both loaded');
    assert.equal(follower.title, 'CAB');
    assert.equal(runner.canFacilitate, true);
    assert.equal(follower.canFacilitate, false);
    assert.equal(follower.following, true);
    assert.equal(follower.viewedIndex, null, 'nothing to show before the first item');

    assert.equal(await runner.goto(1), true);
    await until(() => follower.viewedIndex === 1, 'the follower moves with the room');
    assert.equal(follower.viewedChange?.title, 'Second');
    assert.equal(follower.timer?.running, true);

    follower.browse(0);
    assert.equal(follower.viewedIndex, 0);
    assert.equal(follower.following, false);
    await until(() => runner.participants.some((p) => p.name === 'ana' && p.viewing === ids[0] && !p.following), 'the facilitator sees ana browsing');
    assert.equal(await runner.goto(0), true);
    assert.equal(await runner.goto(1), true);
    await until(() => follower.current === 1, 'the room is back on item 2');
    assert.equal(follower.viewedIndex, 0, 'a browsing participant stays where they are');
    follower.follow();
    assert.equal(follower.viewedIndex, 1);
    await until(() => runner.participants.some((p) => p.name === 'ana' && p.viewing === ids[1] && p.following), 'and is seen following again');

    assert.equal(await follower.goto(0), false, 'only the facilitator moves the room');
    assert.match(follower.actionError ?? '', /facilitator/);
    assert.equal(follower.current, 1);

    // Closing the session: nothing is under discussion any more, no clock runs or waits paused, there is
    // nobody to follow, and each item's outcome joins the read-only record with the revision it names.
    assert.equal(await runner.timerAction('pause'), true);
    await until(() => follower.timer?.running === false, 'the clock is paused');
    assert.equal(await runner.close(), true);
    await until(() => follower.status === 'closed', 'the close reaches the follower');
    assert.equal(follower.current, null, 'no current item');
    assert.equal(follower.timer, null, 'no paused timer');
    assert.equal(follower.viewedIndex, null, 'nothing to follow');
    assert.equal(follower.following, false);
    assert.equal(runner.canFacilitate, false, 'a closed session has no controls');
    const outcomes = follower.decisions.filter((d) => d.kind === 'outcome');
    assert.deepEqual(outcomes.map((d) => d.changeId), ids);
    assert.ok(outcomes.every((d) => /^[0-9a-f]{64}$/.test(d.revisionHash ?? '')), JSON.stringify(outcomes));
    follower.browse(0);
    assert.equal(follower.viewedChange?.title, 'First', 'any item can still be read');

    sockets.fran.disconnect();
    assert.equal(await runner.timerAction('pause'), false, 'offline, the facilitator is told, not queued');
    assert.match(runner.actionError ?? '', /offline/);
  });
});
