/**
 * E-mail notifications (notifications issue, first channel) against a real SMTP server (`smtp-server`,
 * messages parsed with `mailparser`): reviewers hear that a change waits for their vote, the approver
 * that it waits for their sign-off (deep link and revision hash, nothing that approves by itself), the
 * requester that it was decided, a voter that their vote went stale; each event once. With the SMTP
 * server down the outbox keeps the messages and retries; once it is up each arrives exactly once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { NotificationRepository } from '../../server/store/repositories/notification-repository.ts';
import { apiAs, currentHash, importProxmox, PROXMOX_CONTENT, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { freePort, startTestServer, until, type TestServer } from '../helpers/server.ts';
import { REVIEW_ORIGIN, reviewTeam } from '../helpers/approve.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';
import { PVE_SECRET, pveUserCfg } from '../connectors/pve-fixture.ts';

interface Mail { to: string; subject: string; text: string; html: string; messageId: string }

/** A real SMTP server on `port` (0: any) that keeps what it receives. */
async function smtp(port = 0): Promise<{ port: number; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then((m: ParsedMail) => {
        const to = Array.isArray(m.to) ? m.to.map((a) => a.text).join(', ') : (m.to?.text ?? '');
        mails.push({ to, subject: m.subject ?? '', text: m.text ?? '', html: typeof m.html === 'string' ? m.html : '', messageId: m.messageId ?? '' });
        callback();
      }, callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.server.address() as { port: number };
  return { port: address.port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function people(server: TestServer) {
  const outbox = new NotificationRepository(server.app.db);
  const tokens: Record<string, string> = {};
  for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paula', 'approver'], ['vic', 'viewer'], ['quiet', 'reviewer']] as const) {
    tokens[name] = await server.user(name, role);
    if (name !== 'quiet') await outbox.setEmail(name, `${name}@example.test`); // quiet has no address: never mailed
  }
  await importProxmox(server, tokens.root!);
  return { tokens, outbox, api: (name: string) => apiAs(server.url, tokens[name]!) };
}

describe('e-mail notifications', () => {
  it('tells each person what waits for them, once, with a deep link to the exact revision', async () => {
    const mailServer = await smtp();
    after(() => mailServer.close());
    const server = await startTestServer({ smtpUrl: `smtp://127.0.0.1:${mailServer.port}`, mailFrom: 'Accord <accord@example.test>', publicUrl: 'https://accord.example.test' });
    const { api } = await people(server);
    const created = await api('rita')<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    const id = created.body.change.id;
    assert.equal((await submitDraft(api('rita'), id)).status, 201);
    const to = (who: string) => mailServer.mails.filter((m) => m.to.includes(`${who}@example.test`));
    await until(() => ['ana', 'ben', 'paula', 'root'].every((who) => to(who).length === 1), 'everyone who may approve hears the change needs their vote');
    const hash = await currentHash(api('rita'), id);
    for (const who of ['ana', 'ben', 'paula', 'root']) {
      const [mail] = to(who);
      assert.equal(mail!.subject, `Your vote is needed: ${PROXMOX_CONTENT.title} (revision 1)`);
      assert.match(mail!.text, new RegExp(`Revision hash: ${hash}`));
      assert.match(mail!.text, new RegExp(`Open it: https://accord\\.example\\.test/changes/${id}\\b`));
      assert.match(mail!.html, new RegExp(`href="https://accord\\.example\\.test/changes/${id}"`));
    }
    assert.equal(to('rita').length, 0, 'the requester never approves: no vote asked of her');
    assert.equal(to('vic').length, 0, 'a viewer does not vote');

    // Ana votes on revision 1; rita amends it: ana's vote went stale, and she hears it (and is asked again).
    assert.equal((await voteOnCurrent(api('ana'), id, { choice: 'approve' })).status, 201);
    const amended = await api('rita')('PUT', `/changes/${id}/draft`, { ...PROXMOX_CONTENT, title: `${PROXMOX_CONTENT.title}, for a week` });
    assert.equal(amended.status, 204);
    assert.equal((await submitDraft(api('rita'), id)).status, 201);
    await until(() => to('ana').some((m) => m.subject.startsWith('Your vote no longer counts')), 'a stale vote tells its voter');

    // Two approvals decide it: the approver is asked to sign off, the requester hears it is approved.
    for (const who of ['ana', 'ben']) assert.equal((await voteOnCurrent(api(who), id, { choice: 'approve' })).status, 201);
    const view = (await api('rita')<{ change: ReviewView }>('GET', `/changes/${id}`)).body.change;
    assert.equal(view.status, 'approved');
    await until(() => to('paula').some((m) => m.subject.startsWith('Sign-off needed')), 'the approver hears it waits for her sign-off');
    await until(() => to('rita').some((m) => m.subject.startsWith('Approved:')), 'the requester hears it was approved');
    const signoff = to('paula').find((m) => m.subject.startsWith('Sign-off needed'))!;
    assert.equal(signoff.subject, `Sign-off needed: ${PROXMOX_CONTENT.title}, for a week (revision 2)`);
    assert.match(signoff.text, new RegExp(`Revision hash: ${await currentHash(api('rita'), id)}`));
    assert.match(signoff.text, /Nothing is approved or signed by this message/);

    // Each event once: the second approval and the status it set are facts too, and queue nothing twice.
    await server.app.settle();
    await new Promise((r) => setTimeout(r, 300));
    const subjects = mailServer.mails.map((m) => `${m.to} ${m.subject}`);
    assert.equal(new Set(subjects).size, subjects.length, `no message twice: ${subjects.join(' | ')}`);
    assert.equal(new Set(mailServer.mails.map((m) => m.messageId)).size, mailServer.mails.length);
  });

  it('tells the requester when an apply through the target ends, verified or not', async () => {
    const mailServer = await smtp();
    after(() => mailServer.close());
    const fake = new ProxmoxFake({ userCfg: pveUserCfg(), tokenSecrets: { 'accord@pve!apply': PVE_SECRET } });
    await fake.start();
    after(() => fake.stop());
    const server = await startTestServer({ smtpUrl: `smtp://127.0.0.1:${mailServer.port}`, publicUrl: REVIEW_ORIGIN, applyRetryMs: '20' });
    const team = await reviewTeam(server);
    await new NotificationRepository(server.app.db).setEmail('rita', 'rita@example.test');
    assert.equal((await team.api.root('POST', '/targets', { name: 'pve1', backend: 'proxmox', url: fake.url, tokenId: 'accord@pve!apply', tokenSecret: PVE_SECRET })).status, 201);
    assert.equal((await team.api.root('POST', '/targets/pve1/read')).status, 200);
    const id = await team.approved({ ...PROXMOX_CONTENT, target: 'pve1' });
    assert.equal((await team.applied(id)).apply!.state, 'verified');
    const rita = () => mailServer.mails.filter((m) => m.to.includes('rita@example.test'));
    await until(() => rita().some((m) => /^Applied/.test(m.subject)), 'the requester hears her change was applied');
    // Wrong credentials now: the next apply fails, and she hears that too.
    assert.equal((await team.api.root('POST', '/targets', { name: 'pve1', backend: 'proxmox', url: fake.url, tokenId: 'accord@pve!apply', tokenSecret: 'wrong' })).status, 201);
    const second = await team.approved({ ...PROXMOX_CONTENT, title: 'Second change, wrong key', target: 'pve1' });
    assert.equal((await team.applied(second)).apply!.state, 'apply_failed');
    await until(() => rita().some((m) => /fail/i.test(m.subject) && m.subject.includes('Second change')), 'the requester hears the apply failed');
  });

  it('keeps messages while the SMTP server is down, retries, and delivers each once it is up', async () => {
    const port = await freePort();
    const server = await startTestServer({ smtpUrl: `smtp://127.0.0.1:${port}`, publicUrl: 'https://accord.example.test' });
    const { api, outbox } = await people(server);
    const created = await api('rita')<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    assert.equal((await submitDraft(api('rita'), created.body.change.id)).status, 201);
    let rows = await outbox.all();
    assert.deepEqual(rows.map((r) => r.recipient).sort(), ['ana', 'ben', 'paula', 'root'], 'queued with the submit, for who may approve and has an address');
    for (let deadline = Date.now() + 10_000; !(rows.every((r) => r.attempts >= 1 && r.lastError)); rows = await outbox.all()) {
      if (Date.now() > deadline) assert.fail(`no failed attempt recorded: ${JSON.stringify(rows)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(rows.every((r) => r.sentAt === null), 'nothing marked sent while nothing was');

    const mailServer = await smtp(port);
    after(() => mailServer.close());
    await until(() => mailServer.mails.length === 4, 'each queued message arrives once the server is up', 20_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(mailServer.mails.length, 4, 'and no second copy');
    assert.ok((await outbox.all()).every((r) => r.sentAt !== null));
  });
});
