/**
 * `HomeState` in Node against a real server (issue 23, defect 11): a viewer reads along, so their home
 * lists every change in review (narrowed by the same filters as the other lists) and follows facts
 * live; for reviewers and above, the changes in review that no other list of theirs shows are listed
 * too (a reviewer who already voted still finds the review). `fetch('/api/…')` is pointed at the test
 * server with the user's token, as the browser's cookie would do.
 */
import './svelte-loader.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft, voteOverRest } from '../e2e/hash-helpers.ts';
import { connect, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';

const { LiveConnection } = await import('../../web/state/live-connection.svelte.ts');
const { HomeState } = await import('../../web/state/home.svelte.ts');

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string) { return this.map.get(key) ?? null; }
  setItem(key: string, value: string) { this.map.set(key, value); }
  removeItem(key: string) { this.map.delete(key); }
}

const IN_REVIEW = 'Console for on-call';
const DRAFT = 'Half-written request';
const LATER = 'Audit view for the devs';

describe('HomeState: the changes in review', () => {
  let server: TestServer;
  const tokens: Record<string, string> = {};
  const teardown = suiteTeardown();
  const realFetch = globalThis.fetch;
  /** Whose token `fetch('/api/…')` carries: one user per HomeState at a time. */
  let actingAs = '';
  let inReviewId = '';

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['vic', 'viewer']] as const) tokens[name] = await server.user(name, role);
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    inReviewId = (await rita<{ change: ReviewView }>('POST', '/changes', { ...PROXMOX_CONTENT, title: IN_REVIEW })).body.change.id;
    assert.equal((await submitDraft(rita, inReviewId)).status, 201);
    assert.equal((await rita('POST', '/changes', { ...PROXMOX_CONTENT, title: DRAFT })).status, 201);
    // The web app's relative calls go to the test server as `actingAs`; the REST helpers' absolute calls pass untouched.
    globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
      if (typeof input !== 'string' || !input.startsWith('/')) return realFetch(input, init);
      return realFetch(`${server.url}${input}`, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), authorization: `Bearer ${tokens[actingAs]}` } });
    }) as typeof fetch;
  });
  after(() => { globalThis.fetch = realFetch; });

  function open(name: string, role: string) {
    actingAs = name;
    const live = new LiveConnection(name, { socket: connect(server.url, tokens[name], {}, (fn) => teardown.push(fn)), storage: new MemoryStorage() });
    const home = new HomeState({ id: 0, username: name, role }, live);
    teardown.push(() => home.dispose());
    return home;
  }
  const titles = (list: { title: string }[]) => list.map((c) => c.title).sort();

  it("lists every change in review on a viewer's home, filtered like the other lists, and live", async () => {
    const home = open('vic', 'viewer');
    await until(() => !home.loading, 'the first load');
    assert.deepEqual(titles(home.inReview), [IN_REVIEW], 'the draft is not in review');
    assert.deepEqual(home.myOpen, [], 'a viewer requests nothing');

    home.setStatusFilter('draft');
    await until(() => home.inReview.length === 0, 'a status filter other than in review empties the list');
    home.setStatusFilter('in_review');
    await until(() => home.inReview.length === 1, 'the in-review filter keeps it');
    home.setStatusFilter('');
    home.setSearch('audit');
    await until(() => home.inReview.length === 0, 'the title search narrows it');
    home.setSearch('');
    await until(() => home.inReview.length === 1, 'the search cleared');

    // Submitted later: the fact refreshes the list.
    const rita = apiAs(server.url, tokens.rita!);
    const later = (await rita<{ change: ReviewView }>('POST', '/changes', { ...PROXMOX_CONTENT, title: LATER })).body.change.id;
    assert.equal((await submitDraft(rita, later)).status, 201);
    await until(() => home.inReview.length === 2, 'the newly submitted change');
    assert.deepEqual(titles(home.inReview), [LATER, IN_REVIEW].sort());
    home.dispose();
  });

  it("lists for a reviewer the reviews no other list of theirs shows (voted already, or someone else's)", async () => {
    const ana = open('ana', 'reviewer');
    await until(() => !ana.loading && ana.waitingForMyVote.length === 2, "ana's first load");
    assert.deepEqual(ana.alsoInReview, [], 'both wait for her vote: listed there, not twice');
    assert.equal((await voteOverRest(apiAs(server.url, tokens.ana!), inReviewId, { choice: 'approve' })).status, 201);
    await until(() => ana.alsoInReview.length === 1, 'after her vote the review is still listed');
    assert.deepEqual(titles(ana.alsoInReview), [IN_REVIEW]);
    assert.deepEqual(titles(ana.waitingForMyVote), [LATER]);
    ana.dispose();

    const rita = open('rita', 'reviewer');
    await until(() => !rita.loading, "rita's first load");
    assert.deepEqual(titles(rita.myOpen), [DRAFT, IN_REVIEW, LATER].sort(), 'her own open requests');
    assert.deepEqual(rita.alsoInReview, [], 'her own changes in review are in My open requests, not twice');
    rita.dispose();
  });
});
