/**
 * Integrity: every vote, recusal, sign-off and submit binds to exactly what its maker saw (the integrity
 * issue, findings 1, 2, 3, 8 and 9). Real server, real SQLite, REST as an outside caller uses it.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, currentHash, draftHash, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';

const ORIGIN = 'http://localhost:8080';
type Api = ReturnType<typeof apiAs>;

describe('integrity: decisions bind to what their makers saw', () => {
  let server: TestServer;
  const api: Record<string, Api> = {};
  const teardown = suiteTeardown();
  let vicToken = '';

  before(async () => {
    server = await startTestServer({ publicUrl: ORIGIN, evidenceExportsPerMinute: 3 }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['mal', 'reviewer'], ['paul', 'approver'], ['vic', 'viewer']] as const) {
      const token = await server.user(name, role);
      if (name === 'vic') vicToken = token;
      api[name] = apiAs(server.url, token);
    }
    await importProxmox(server, await server.user('importer', 'admin'));
  });

  const create = async (content: Record<string, unknown> = PROXMOX_CONTENT): Promise<string> => {
    const res = await api.rita!<{ change: ReviewView }>('POST', '/changes', content);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.change.id;
  };
  const view = async (id: string) => (await api.rita!<{ change: ReviewView }>('GET', `/changes/${id}`)).body.change;
  const auditOf = (id: string) => server.app.accord.audit.entriesFor(id);

  it('finding 1: item approvals do not survive a change of the duration or the justification', async () => {
    const id = await create({ ...PROXMOX_CONTENT, durationHours: 4 });
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    const r1 = await currentHash(api.rita!, id);
    for (const who of ['ana', 'ben']) {
      for (const item of ['i1', 'i2']) {
        const res = await api[who]!('POST', `/changes/${id}/votes`, { choice: 'approve', item, revisionHash: r1 });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
    }
    assert.equal((await view(id)).status, 'approved', 'every item approved by two reviewers');

    const amended = { ...PROXMOX_CONTENT, durationHours: 8_760, justification: 'A year, to save asking again.' };
    assert.equal((await api.rita!('PUT', `/changes/${id}/draft`, amended)).status, 204);
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    const v = await view(id);
    assert.equal(v.status, 'in_review', 'revision 2 is not approved by the items votes cast on revision 1');
    assert.ok(v.votes.every((vote) => vote.stale), 'every item vote went stale with the envelope');
    const [rev1, rev2] = v.revisions;
    assert.deepEqual(rev1!.itemHashes, rev2!.itemHashes, 'the items themselves are unchanged');
    assert.notEqual(rev1!.envelopeHash, rev2!.envelopeHash);
    assert.ok(v.evaluation!.notes.some((n) => /what surrounds the items changed/.test(n)), v.evaluation!.notes.join('\n'));
  });

  it('finding 3: a vote, recusal or sign-off names the revision hash its maker saw; an old or missing one is refused', async () => {
    const id = await create();
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    const seen = await currentHash(api.ana!, id);
    // Someone amends while ana reads revision 1.
    assert.equal((await api.rita!('PUT', `/changes/${id}/draft`, { ...PROXMOX_CONTENT, durationHours: 8 })).status, 204);
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    const before = (await auditOf(id)).length;

    const stale = await api.ana!('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash: seen });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error!.code, 'revision_changed');
    assert.match(stale.body.error!.message, /you looked at revision 1, but revision 2 .* is current: duration \(hours\) none → 8/);
    const missing = await api.ana!('POST', `/changes/${id}/votes`, { choice: 'approve' });
    assert.equal(missing.status, 400);
    assert.match(missing.body.error!.message, /revisionHash/);
    const recusal = await api.ana!('POST', `/changes/${id}/recusals`, { reason: 'conflict of interest', revisionHash: seen });
    assert.equal(recusal.body.error?.code, 'revision_changed');
    const v = await view(id);
    assert.equal(v.votes.length, 0, 'nothing was recorded');
    assert.equal(v.recusals.length, 0);
    const entries = (await auditOf(id)).slice(before);
    assert.deepEqual(entries.map((e) => [e.action, e.outcome]), [['change.vote', 'refused'], ['change.recuse', 'refused']],
      'each refusal that reached a command left one audit entry (the schema refusal was answered at the edge)');

    const current = await currentHash(api.ana!, id);
    assert.equal((await api.ana!('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash: current, revision: 2 })).status, 201);
    const wrongNumber = await api.ben!('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash: current, revision: 1 });
    assert.equal(wrongNumber.status, 400, 'a revision number that disagrees with the hash is refused');
    assert.equal((await api.ben!('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash: current })).status, 201);
    assert.equal((await view(id)).status, 'approved');

    // Sign-off: options and the assertion name the hash too.
    const auth = new SoftAuthenticator();
    const reg = (await api.paul!('POST', '/passkeys/options')).body as { options: Parameters<SoftAuthenticator['createCredential']>[0] };
    assert.equal((await api.paul!('POST', '/passkeys', { response: auth.createCredential(reg.options, ORIGIN) })).status, 201);
    const oldOptions = await api.paul!('POST', `/changes/${id}/signoffs/options`, { revisionHash: seen });
    assert.equal(oldOptions.body.error?.code, 'revision_changed');
    assert.equal((await api.paul!('POST', `/changes/${id}/signoffs/options`, {})).status, 400);
    const opts = (await api.paul!('POST', `/changes/${id}/signoffs/options`, { revisionHash: current })).body as { options: Parameters<SoftAuthenticator['getAssertion']>[0] };
    const response = auth.getAssertion(opts.options, ORIGIN);
    const wrong = await api.paul!('POST', `/changes/${id}/signoffs`, { response, revisionHash: seen });
    assert.equal(wrong.body.error?.code, 'revision_changed');
    const signed = await api.paul!('POST', `/changes/${id}/signoffs`, { response, revisionHash: current });
    assert.equal(signed.status, 201, JSON.stringify(signed.body));
    const entry = (await auditOf(id)).findLast((e) => e.action === 'change.signoff' && e.outcome === 'ok')!;
    const detail = entry.detail as Record<string, unknown>;
    assert.equal(detail.revisionHash, current);
    assert.equal(typeof detail.assertion, 'string', 'the audit entry carries the assertion an offline verifier checks');
    assert.equal(detail.rpID, 'localhost');
  });

  it('finding 2: whoever writes into the draft is an author of the revision and never approves or signs it off', async () => {
    const id = await create();
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    // mal is a reviewer, not an author: amendments by reviewers are allowed once a change is in review.
    const planted = { ...PROXMOX_CONTENT, items: [...PROXMOX_CONTENT.items, { id: 'i3', op: 'add', grant: { principal: 'carol@ldap', role: 'Administrator', resource: '/', propagate: true, effect: 'allow' } }] };
    assert.equal((await api.mal!('PUT', `/changes/${id}/draft`, planted)).status, 204);
    assert.equal((await submitDraft(api.rita!, id)).status, 201, 'the requester submits what she read');
    const v = await view(id);
    assert.deepEqual(v.revisions.at(-1)!.authors, ['mal', 'rita']);
    const hash = v.revisions.at(-1)!.hash;
    const own = await api.mal!('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash: hash });
    assert.equal(own.status, 403, JSON.stringify(own.body));
    assert.match(own.body.error!.message, /edited the draft of revision 2/);
    // A vote the policy would otherwise count: make sure the evaluation also excludes the writer.
    const waiting = (await api.mal!<{ changes: { id: string }[] }>('GET', '/changes?waitingFor=vote')).body.changes.map((c) => c.id);
    assert.ok(!waiting.includes(id), 'the change does not wait for the vote of someone who wrote part of it');
    const rejectOk = await api.mal!('POST', `/changes/${id}/votes`, { choice: 'abstain', revisionHash: hash });
    assert.equal(rejectOk.status, 201, 'an author may still abstain or reject');
    assert.ok((await auditOf(id)).some((e) => e.action === 'draft.contribute' && e.actor === 'mal'), 'the first write is audited');
  });

  it('finding 2: a submit names the draft state its submitter saw, and is refused if the draft moved', async () => {
    const id = await create();
    const seen = await draftHash(api.rita!, id);
    assert.equal((await api.rita!('POST', `/changes/${id}/submit`, {})).status, 400, 'no draftHash');
    // A co-author edits between rita's read and her submit.
    assert.equal((await api.rita!('POST', `/changes/${id}/authors`, { username: 'ben' })).status, 201);
    assert.equal((await api.ben!('PUT', `/changes/${id}/draft`, { ...PROXMOX_CONTENT, ticket: 'OPS-9999' })).status, 204);
    const moved = await api.rita!('POST', `/changes/${id}/submit`, { draftHash: seen });
    assert.equal(moved.status, 409);
    assert.equal(moved.body.error!.code, 'draft_changed');
    assert.equal((await view(id)).revisions.length, 0, 'nothing was submitted');
    assert.equal((await auditOf(id)).at(-1)!.outcome, 'refused');
    assert.equal((await submitDraft(api.rita!, id)).status, 201, 'after reading it again');
  });

  it('finding 8: exporting evidence is a rate-limited POST audited once; GET answers 405 and writes nothing', async () => {
    const id = await create();
    const before = (await auditOf(id)).length;
    const get = await api.vic!('GET', `/changes/${id}/evidence`);
    assert.equal(get.status, 405);
    assert.equal((await auditOf(id)).length, before, 'a GET changed nothing');
    const first = await api.vic!('POST', `/changes/${id}/evidence?format=json`);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const exports = async () => (await auditOf(id)).filter((e) => e.action === 'evidence.export');
    assert.equal((await exports()).filter((e) => e.outcome === 'ok').length, 1, 'one export, one audit entry');
    const html = await fetch(`${server.url}/api/changes/${id}/evidence?format=html`, { method: 'POST', headers: { authorization: `Bearer ${vicToken}` } });
    assert.equal(html.status, 200);
    assert.match(await html.text(), /<script type="application\/json" id="evidence">/);
    assert.equal((await api.vic!('POST', `/changes/${id}/evidence`)).status, 200);
    const limited = await api.vic!('POST', `/changes/${id}/evidence`);
    assert.equal(limited.status, 429, 'the fourth export in a minute (limit 3)');
    assert.deepEqual((await exports()).map((e) => e.outcome), ['ok', 'ok', 'ok', 'refused']);
  });

  it('finding 9: an annotation anchored to "constructor" or "__proto__" is refused (own keys only)', async () => {
    const id = await create();
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    for (const itemId of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const res = await api.ana!('POST', `/changes/${id}/annotations`, { anchor: { kind: 'item', itemId }, body: 'hi' });
      assert.equal(res.status, 400, `${itemId}: ${JSON.stringify(res.body)}`);
    }
    assert.equal((await api.ana!('POST', `/changes/${id}/annotations`, { anchor: { kind: 'item', itemId: 'i1' }, body: 'hi' })).status, 201);
  });
});
