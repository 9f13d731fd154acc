import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { Revision } from '../../server/domain/review/types.ts';
import type { Fact } from '../../server/protocol/events.ts';
import { SocketProvider } from '../../web/lib/socket-provider.ts';
import { apiAs, currentHash, importProxmox, PROXMOX_CONTENT, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { connect, connected, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';

type Api = ReturnType<typeof apiAs>;

const ORIGIN = 'http://localhost:8080';

describe('review workflow: from draft to signed off, through REST and live documents', () => {
  let server: TestServer;
  const api: Record<string, Api> = {};
  const tokens: Record<string, string> = {};
  let changeId = '';

  const teardown = suiteTeardown();
  before(async () => {
    server = await startTestServer({ publicUrl: ORIGIN }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['carol', 'reviewer'], ['paul', 'approver'], ['vic', 'viewer']] as const) {
      tokens[name] = await server.user(name, role);
      api[name] = apiAs(server.url, tokens[name]);
    }
    await importProxmox(server, tokens.root!);
  });

  it('a requester creates a change and submits revision 1 with hash, native form and blast radius', async () => {
    const created = await api.rita!('POST', '/changes', PROXMOX_CONTENT);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    changeId = (created.body as { change: ReviewView }).change.id;
    assert.equal((created.body as { change: ReviewView }).change.status, 'draft');
    const submitted = await submitDraft(api.rita!, changeId);
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    const rev = (submitted.body as { revision: Revision }).revision;
    assert.equal(rev.number, 1);
    assert.match(rev.hash, /^[0-9a-f]{64}$/);
    assert.match(rev.rendered.text, /pveum acl modify \/vms\/100/);
    assert.ok(rev.blast.gained.some((row) => row.principal === 'carol@ldap' && row.resource === '/vms/100' && row.privilege === 'VM.Console'), 'devs members gain on /vms/100');
    assert.ok(!rev.blast.gained.some((row) => row.principal === 'bob@pve' && row.resource === '/vms/100'), 'bob already had it through ops');
    assert.ok(rev.blast.gained.some((row) => row.highRisk), 'console access is flagged high-risk');
    const view = (await api.vic!('GET', `/changes/${changeId}`)).body as { change: ReviewView };
    assert.equal(view.change.status, 'in_review');
    assert.equal(view.change.evaluation?.decision, 'pending');
  });

  it('shows the review live in a read-only document, with votes arriving as they are cast', async () => {
    const socket = connect(server.url, tokens.vic!);
    await connected(socket);
    const review = new SocketProvider(socket, `review:${changeId}`);
    after(() => review.destroy());
    await review.whenSynced();
    assert.equal(review.access, 'read');
    const state = review.doc.getMap<unknown>('review');
    await until(() => state.get('status') === 'in_review', 'status projected');
    assert.equal(review.doc.getArray('revisions').length, 1);

    const facts: Fact[] = [];
    socket.on('vote:recorded', (f) => facts.push(f));
    const ana = connect(server.url, tokens.ana!);
    await connected(ana);
    const revisionHash = await currentHash(api.ana!, changeId);
    const ack = await ana.timeout(5_000).emitWithAck('vote:cast', { changeId, choice: 'approve', revisionHash, revision: 1 });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    await until(() => facts.length === 1, 'the vote fact is broadcast');
    assert.equal(facts[0]!.voter, 'ana');
    await until(() => (state.get('votes') as unknown[] | undefined)?.length === 1, 'the vote is in the review document');
  });

  it('refuses self-approval, forged voters, stale revisions and out-of-order transitions, recording only the refusal', async () => {
    const auditBefore = await auditCounts(server);
    const before = (await api.rita!('GET', `/changes/${changeId}`)).body as { change: ReviewView };
    const revisionHash = await currentHash(api.rita!, changeId);
    const cases: [Api, string, string, unknown, number, string][] = [
      [api.rita!, 'POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash }, 403, 'forbidden'],
      [api.ben!, 'POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash, voter: 'paul' }, 400, 'invalid_payload'],
      // A vote that does not name the revision it was cast on never lands on whatever is current (edge schema).
      [api.ben!, 'POST', `/changes/${changeId}/votes`, { choice: 'approve' }, 400, 'invalid_payload'],
      [api.ben!, 'POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash: 'f'.repeat(64) }, 409, 'revision_changed'],
      [api.ben!, 'POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash, revision: 7 }, 400, 'invalid_payload'],
      [api.ben!, 'POST', `/changes/${changeId}/votes`, { choice: 'reject', revisionHash }, 400, 'invalid_payload'],
      [api.vic!, 'POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash }, 403, 'forbidden'],
      [api.paul!, 'POST', `/changes/${changeId}/signoffs/options`, { revisionHash }, 409, 'conflict'],
      [api.root!, 'POST', `/changes/${changeId}/apply`, { outcome: 'applied' }, 409, 'conflict'],
      [api.ben!, 'POST', `/changes/${changeId}/withdraw`, undefined, 403, 'forbidden'],
      [api.ben!, 'POST', '/changes', { ...PROXMOX_CONTENT, items: [{ ...PROXMOX_CONTENT.items[0], grant: { ...PROXMOX_CONTENT.items[0]!.grant, propogate: true } }] }, 400, 'invalid_payload'],
    ];
    for (const [who, method, path, body, status, code] of cases) {
      const res = await who(method, path, body);
      assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error?.code, code);
    }
    const afterView = (await api.rita!('GET', `/changes/${changeId}`)).body as { change: ReviewView };
    assert.deepEqual(afterView.change.votes, before.change.votes, 'no vote was written');
    assert.equal(afterView.change.status, before.change.status);
    const auditAfter = await auditCounts(server);
    assert.equal(auditAfter.ok, auditBefore.ok, 'no command succeeded');
    // Every refusal that reached a command is audited; a payload that fails the edge schema (the forged voter,
    // the vote naming no revision) never reaches one.
    assert.equal(auditAfter.refused - auditBefore.refused, cases.length - 2);
  });

  it('a create replayed with its idempotency key returns the first change instead of a second one or a conflict', async () => {
    const key = { 'idempotency-key': 'create-once-0001' };
    const first = await api.ana!('POST', '/changes', { ...PROXMOX_CONTENT, title: 'Created once' }, key);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const id = (first.body as { change: ReviewView }).change.id;
    assert.equal((await api.ana!('PUT', `/changes/${id}/draft`, { ...PROXMOX_CONTENT, title: 'Edited since' })).status, 204);
    const replay = await api.ana!('POST', '/changes', { ...PROXMOX_CONTENT, title: 'Created once' }, key);
    assert.equal(replay.status, 201, JSON.stringify(replay.body));
    assert.equal((replay.body as { change: ReviewView }).change.id, (first.body as { change: ReviewView }).change.id);
    const mine = (await api.ana!('GET', '/changes?requester=ana')).body as { changes: { title: string }[] };
    assert.equal(mine.changes.length, 1);
    const socket = connect(server.url, tokens.ana!);
    await connected(socket);
    const draft = new SocketProvider(socket, `draft:${id}`);
    after(() => draft.destroy());
    await draft.whenSynced();
    assert.equal(String(draft.doc.getMap('meta').get('title')), 'Edited since', 'the replay did not overwrite the draft');
    const different = await api.ana!('POST', '/changes', { ...PROXMOX_CONTENT, title: 'Something else' }, key);
    assert.equal(different.status, 409, 'the same key with another payload is refused, not answered with the first change');
    // The same key from another user is that user's own key: a different change.
    const other = await api.ben!('POST', '/changes', { ...PROXMOX_CONTENT, title: 'Created once' }, key);
    assert.notEqual((other.body as { change: ReviewView }).change.id, (first.body as { change: ReviewView }).change.id);
  });

  it('does not count a beneficiary\'s approval, and approves on two counted approvals', async () => {
    const carol = await voteOnCurrent(api.carol!, changeId, { choice: 'approve' });
    assert.equal(carol.status, 201);
    let view = ((await api.rita!('GET', `/changes/${changeId}`)).body as { change: ReviewView }).change;
    assert.equal(view.status, 'in_review', 'carol gains access through item i2: her approval does not count');
    assert.ok(view.evaluation!.notes.some((n) => n.includes('carol')), JSON.stringify(view.evaluation!.notes));
    const ben = await voteOnCurrent(api.ben!, changeId, { choice: 'approve', revision: 1 });
    assert.equal(ben.status, 201);
    view = ((await api.rita!('GET', `/changes/${changeId}`)).body as { change: ReviewView }).change;
    assert.equal(view.status, 'approved');
    assert.ok(view.evaluation!.requirements.every((r) => r.met));
  });

  it('an approver signs off with a passkey bound to the revision hash; a replay is refused', async () => {
    const authenticator = new SoftAuthenticator();
    const regOptions = (await api.paul!('POST', '/passkeys/options')).body as { options: Parameters<SoftAuthenticator['createCredential']>[0] };
    const registered = await api.paul!('POST', '/passkeys', { response: authenticator.createCredential(regOptions.options, ORIGIN) });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const revisionHash = await currentHash(api.paul!, changeId);
    const options = (await api.paul!('POST', `/changes/${changeId}/signoffs/options`, { revisionHash })).body as { options: Parameters<SoftAuthenticator['getAssertion']>[0] };
    const assertion = authenticator.getAssertion(options.options, ORIGIN);
    const signed = await api.paul!('POST', `/changes/${changeId}/signoffs`, { response: assertion, revisionHash });
    assert.equal(signed.status, 201, JSON.stringify(signed.body));
    const { receipt, seen } = signed.body as { receipt: { revisionHash: string }; seen: { votes: unknown[] } };
    const view = ((await api.paul!('GET', `/changes/${changeId}`)).body as { change: ReviewView }).change;
    assert.equal(receipt.revisionHash, view.revisions[0]!.hash);
    assert.deepEqual(seen.votes.map((v) => (v as { voter: string }).voter).sort(), ['ana', 'ben', 'carol'], 'the sign-off records the votes the approver saw');
    assert.equal(view.signoffs.length, 1);
    assert.equal(view.signoffs[0]!.valid, true);
    const replay = await api.paul!('POST', `/changes/${changeId}/signoffs`, { response: assertion, revisionHash });
    assert.ok(replay.status === 409 || replay.status === 401, JSON.stringify(replay.body));
  });

  it('records the apply and exports evidence that verifies offline', async () => {
    const applied = await api.root!('POST', `/changes/${changeId}/apply`, { outcome: 'applied', note: 'pveum commands run by root' });
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    assert.equal((applied.body as { change: ReviewView }).change.status, 'applied');
    // Exporting writes an audit entry: a GET (which a link or a prefetch can trigger) is refused.
    const viaGet = await api.vic!('GET', `/changes/${changeId}/evidence`);
    assert.equal(viaGet.status, 405, JSON.stringify(viaGet.body));
    const pack = await api.vic!('POST', `/changes/${changeId}/evidence`);
    assert.equal(pack.status, 200, JSON.stringify(pack.body));
    const { verifyEvidencePack } = await import('../../server/audit/verify-pack.ts');
    const verified = await verifyEvidencePack(pack.body);
    assert.equal(verified.ok, true, JSON.stringify(verified));
    const forged = JSON.parse(JSON.stringify(pack.body)) as { change: { votes: { choice: string }[] } };
    forged.change.votes[0]!.choice = 'reject';
    assert.equal((await verifyEvidencePack(forged)).ok, false, 'an edited vote breaks the pack');
  });
});

async function auditCounts(server: TestServer): Promise<{ ok: number; refused: number }> {
  const rows = await server.app.db.all<{ outcome: string; n: number }>('SELECT outcome, count(*) AS n FROM audit_log GROUP BY outcome');
  return { ok: Number(rows.find((r) => r.outcome === 'ok')?.n ?? 0), refused: Number(rows.find((r) => r.outcome === 'refused')?.n ?? 0) };
}
