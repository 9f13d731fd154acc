/**
 * Outgoing webhooks against a local HTTP receiver that verifies Standard Webhooks signatures: an endpoint
 * on a private address is refused unless the server allows private webhooks; a change's events arrive
 * signed (answered 500, then 200: retried, delivered once); Slack and Teams formats; a 410 disables the
 * endpoint; the secret is shown once and never listed; a rotated secret signs alongside the old one.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isInternalAddress } from '../../server/notify/webhooks.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { startTestServer, until } from '../helpers/server.ts';

interface Received { headers: IncomingHttpHeaders; body: string; status: number }

/** A receiver that answers from `script` (then 200) and keeps what it got. */
async function receiver(script: number[]): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const status = script.shift() ?? 200;
      got.push({ headers: req.headers, body, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Standard Webhooks verification, written from the specification, not from Accord's code. */
function verifies(secret: string, r: Received): boolean {
  const id = String(r.headers['webhook-id']);
  const ts = String(r.headers['webhook-timestamp']);
  if (Math.abs(Date.now() / 1_000 - Number(ts)) > 300) return false;
  const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${ts}.${r.body}`).digest();
  return String(r.headers['webhook-signature']).split(' ').some((s) => {
    const [v, sig] = s.split(',');
    const got = Buffer.from(sig ?? '', 'base64');
    return v === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

describe('outgoing webhooks', () => {
  it('refuses loopback and private destinations unless the server allows them', async () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', '::ffff:127.0.0.1', '0.0.0.0', '100.64.0.1']) assert.equal(isInternalAddress(a), true, a);
    for (const a of ['8.8.8.8', '1.1.1.1', '2001:4860:4860::8888']) assert.equal(isInternalAddress(a), false, a);
    const server = await startTestServer();
    const root = apiAs(server.url, await server.user('root', 'admin'));
    for (const url of ['http://127.0.0.1:9/hook', 'http://localhost:9/hook', 'http://169.254.169.254/latest/meta-data', 'http://[::1]:9/']) {
      const res = await root('POST', '/webhooks', { url, events: ['change.needs_vote'] });
      assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error!.message, /loopback, private or internal address/);
    }
    assert.equal((await root('POST', '/webhooks', { url: 'ftp://example.org/', events: ['change.needs_vote'] })).status, 400);
    assert.equal((await root('POST', '/webhooks', { url: 'https://example.org/', events: ['no.such.event'] })).status, 400);
    const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
    assert.equal((await rita('POST', '/webhooks', { url: 'https://example.org/', events: ['change.needs_vote'] })).status, 403);
  });

  it('delivers signed events, retries a 500, formats Slack and Teams, and disables an endpoint that answers 410', async () => {
    const standard = await receiver([500]);
    const slack = await receiver([]);
    const teams = await receiver([410]);
    after(() => Promise.all([standard.close(), slack.close(), teams.close()]));
    const server = await startTestServer({ allowPrivateWebhooks: true, publicUrl: 'https://accord.example.test' });
    const rootToken = await server.user('root', 'admin');
    const root = apiAs(server.url, rootToken);
    await importProxmox(server, rootToken);
    for (const u of ['ana', 'ben']) await server.user(u, 'reviewer');
    const made: Record<string, { id: string; secret: string }> = {};
    for (const [name, r, format] of [['standard', standard, 'standard'], ['slack', slack, 'slack'], ['teams', teams, 'teams']] as const) {
      const res = await root('POST', '/webhooks', { url: r.url, events: ['change.needs_vote'], format });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      made[name] = res.body as unknown as { id: string; secret: string };
      assert.match(made[name].secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    }
    const listed = await root('GET', '/webhooks');
    assert.ok(!JSON.stringify(listed.body).includes(made.standard!.secret), 'the secret is shown once, never listed');

    const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
    const created = await rita('POST', '/changes', PROXMOX_CONTENT);
    const changeId = (created.body as { change: { id: string } }).change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);

    await until(() => standard.got.filter((g) => g.status === 200).length === 1, 'the standard endpoint got it after a retry', 15_000);
    assert.equal(standard.got[0]!.status, 500);
    assert.equal(standard.got[0]!.headers['webhook-id'], standard.got[1]!.headers['webhook-id'], 'a retry keeps the message id');
    assert.ok(standard.got.every((g) => verifies(made.standard!.secret, g)), 'signed with the endpoint secret');
    const body = JSON.parse(standard.got[1]!.body) as { type: string; data: { changeId: string; revisionHash: string; link: string } };
    assert.equal(body.type, 'change.needs_vote');
    assert.equal(body.data.changeId, changeId);
    assert.match(body.data.link, new RegExp(`^https://accord\\.example\\.test/changes/${changeId}$`));
    assert.equal(standard.got.filter((g) => g.status === 200).length, 1, 'once, though several people need to vote');

    await until(() => slack.got.length === 1, 'slack got it');
    const s = JSON.parse(slack.got[0]!.body) as { text: string; blocks: unknown[] };
    assert.match(s.text, /Votes needed \(revision 1\)/);
    assert.ok(verifies(made.slack!.secret, slack.got[0]!));

    await until(() => teams.got.length === 1, 'teams was tried');
    const card = JSON.parse(teams.got[0]!.body) as { attachments: { contentType: string }[] };
    assert.equal(card.attachments[0]!.contentType, 'application/vnd.microsoft.card.adaptive');
    type Listed = { webhooks: { id: string; disabledAt: string | null; disabledReason: string | null }[] };
    let disabled = ((await root('GET', '/webhooks')).body as Listed).webhooks.find((w) => w.id === made.teams!.id)!;
    for (let i = 0; i < 50 && !disabled.disabledAt; i++) {
      await new Promise((r) => setTimeout(r, 100));
      disabled = ((await root('GET', '/webhooks')).body as Listed).webhooks.find((w) => w.id === made.teams!.id)!;
    }
    assert.ok(disabled.disabledAt, 'a 410 disables the endpoint');
    assert.match(disabled.disabledReason!, /410/);

    // Rotation: for a day the old secret still verifies alongside the new one.
    const rotated = await root('POST', `/webhooks/${made.slack!.id}/rotate`);
    assert.equal(rotated.status, 200);
    const newSecret = (rotated.body as { secret: string }).secret;
    const amended = await rita('PUT', `/changes/${changeId}/draft`, { ...PROXMOX_CONTENT, title: `${PROXMOX_CONTENT.title} (amended)` });
    assert.equal(amended.status, 204);
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    await until(() => slack.got.length === 2, 'slack got revision 2');
    assert.ok(verifies(newSecret, slack.got[1]!) && verifies(made.slack!.secret, slack.got[1]!), 'signed with both secrets during the overlap');
    assert.equal(teams.got.length, 1, 'a disabled endpoint gets nothing more');
  });
});
