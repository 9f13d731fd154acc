import express from 'express';
import { z } from 'zod';
import type { Accord } from '../commands/accord.ts';
import { reportCsv } from '../commands/campaign-service.ts';
import { decide } from '../auth/permissions.ts';
import { AppError } from '../protocol/errors.ts';
import { CampaignDefinitionError, parseCampaignYaml } from '../domain/campaign/definition.ts';
import { id, key, parse, who } from './request.ts';

const DecisionBody = z.strictObject({ items: z.array(z.string().min(1).max(40)).min(1).max(5_000), decision: z.enum(['keep', 'revoke']), reason: z.string().max(2_000).default('') });
const ItemsQuery = z.object({ mine: z.enum(['0', '1']).default('0'), undecided: z.enum(['0', '1']).default('0') });
const ReportQuery = z.object({ format: z.enum(['json', 'csv']).default('json') });
const ListQuery = z.object({ waitingFor: z.literal('me').optional() });

/**
 * REST for recertification campaigns (docs/api.md, docs/campaigns.md): thin maps onto the `campaign:*`
 * commands; the reads (view, items, report) ask the rule book's `campaign.view`.
 */
export function campaignRouter(accord: Accord): express.Router {
  const r = express.Router();
  const canView = (res: express.Response): void => {
    const d = decide(who(res), 'campaign.view');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
  };

  r.get('/campaigns', async (req, res) => {
    canView(res);
    const q = parse(ListQuery, req.query);
    const me = who(res).username;
    const out = [];
    for (const c of await accord.campaigns.repo.list()) {
      const view = await accord.campaigns.view(c);
      const mine = view.progress.byReviewer[me];
      if (q.waitingFor === 'me' && !(c.status === 'active' && mine && mine.decided < mine.assigned)) continue;
      out.push(view);
    }
    res.json({ campaigns: out });
  });
  /** JSON definition, or YAML as text (`content-type: application/yaml`), as the CLI sends a file. */
  r.post('/campaigns', express.text({ type: ['application/yaml', 'text/yaml'], limit: '200kb' }), async (req, res) => {
    let definition: unknown = req.body;
    if (typeof req.body === 'string') {
      try {
        definition = parseCampaignYaml(req.body, 'body');
      } catch (err) {
        if (err instanceof CampaignDefinitionError) throw new AppError('invalid_payload', err.message);
        throw err;
      }
    }
    res.status(201).json({ campaign: await accord.dispatch('campaign:create', who(res), { definition }, key(req)) });
  });
  r.get('/campaigns/:id', async (req, res) => {
    canView(res);
    const q = parse(ItemsQuery, req.query);
    const c = await accord.campaigns.load(id(req));
    const view = await accord.campaigns.view(c);
    let items = q.mine === '1' ? await accord.campaigns.repo.itemsOf(c.id, who(res).username, q.undecided === '1') : await accord.campaigns.repo.items(c.id);
    if (q.undecided === '1') items = items.filter((i) => i.decision === null);
    res.json({ campaign: view, items: items.map((i) => ({ ...i.item, reviewers: i.reviewers, decision: i.decision, reason: i.reason, decidedBy: i.decidedBy, decidedAt: i.decidedAt })) });
  });
  r.post('/campaigns/:id/start', async (req, res) => {
    res.json({ campaign: await accord.dispatch('campaign:start', who(res), { campaignId: id(req) }, key(req)) });
  });
  r.post('/campaigns/:id/decisions', async (req, res) => {
    const body = parse(DecisionBody, req.body);
    res.json({ campaign: await accord.dispatch('campaign:decide', who(res), { campaignId: id(req), ...body }, key(req)) });
  });
  r.post('/campaigns/:id/close', async (req, res) => {
    const campaign = await accord.dispatch('campaign:close', who(res), { campaignId: id(req) }, key(req));
    res.json({ campaign, revocations: campaign.revocations.map((x) => x.changeId) });
  });
  r.post('/campaigns/:id/revocations/:change/accept-failure', async (req, res) => {
    const body = parse(z.strictObject({ reason: z.string().trim().min(1).max(2_000) }), req.body);
    res.json({ campaign: await accord.dispatch('campaign:accept-failure', who(res), { campaignId: id(req), changeId: String(req.params.change), reason: body.reason }, key(req)) });
  });
  /**
   * A reviewer signs their decisions with a passkey: the options' challenge commits to the hash of exactly
   * the decisions they made (`decisionsHash`, which they name: a decision made since is a 409).
   */
  const signTarget = async (res: express.Response, campaignId: string, named: unknown) => {
    const p = who(res);
    const c = await accord.campaigns.load(campaignId);
    const d = decide(p, 'campaign.signoff', { kind: 'campaign', campaign: { owner: c.owner, status: c.status, assigned: ((await accord.campaigns.view(c)).progress.byReviewer[p.username]?.assigned ?? 0) > 0 } });
    if (!d.allowed) throw new AppError(d.kind === 'state' ? 'conflict' : 'forbidden', d.reason);
    const mine = await accord.campaigns.decisionsOf(c, p.username);
    if (mine.count === 0) throw new AppError('conflict', 'you have not decided any item yet: there is nothing to sign');
    if (typeof named !== 'string' || named !== mine.hash) throw new AppError('revision_changed', `your decisions are now ${mine.count} item(s) with hash ${mine.hash}: read them again and sign what you see`);
    return { c, mine, target: { changeId: `campaign:${c.id}`, revision: mine.count, revisionHash: mine.hash } };
  };
  r.get('/campaigns/:id/signoffs/mine', async (req, res) => {
    const c = await accord.campaigns.load(id(req));
    res.json(await accord.campaigns.decisionsOf(c, who(res).username));
  });
  r.post('/campaigns/:id/signoffs/options', async (req, res) => {
    const body = parse(z.strictObject({ decisionsHash: z.string().regex(/^[0-9a-f]{64}$/) }), req.body);
    const { target, mine } = await signTarget(res, id(req), body.decisionsHash);
    res.json({ options: await accord.passkeys.signOffOptions(who(res), target, 'reviewer'), attestation: mine.attestation, decisions: mine.count });
  });
  r.post('/campaigns/:id/signoffs', async (req, res) => {
    const body = parse(z.strictObject({ response: z.record(z.string(), z.unknown()), decisionsHash: z.string().regex(/^[0-9a-f]{64}$/) }), req.body);
    const p = who(res);
    const { c, target, mine } = await signTarget(res, id(req), body.decisionsHash);
    const { receipt } = await accord.passkeys.verifySignOff(p, target, body.response, async ({ signoff, receipt: r, assertion }) => {
      await accord.audit.append({
        actor: p.username, action: 'campaign.signoff', subject: `campaign:${c.id}`, outcome: 'ok',
        detail: { reviewer: p.username, decisions: mine.count, decisionsHash: mine.hash, attestation: mine.attestation, credentialId: signoff.credentialId, receipt: r, assertion },
      });
    }, 'reviewer');
    await accord.dispatcher.publish({ scope: 'campaign', campaignId: c.id });
    res.status(201).json({ receipt, attestation: mine.attestation, decisions: mine.count });
  });

  /** The auditors' report: scope, snapshot, each decision with who, when and why, the revocations and where they stand. */
  r.get('/campaigns/:id/report', async (req, res) => {
    canView(res);
    const q = parse(ReportQuery, req.query);
    const c = await accord.campaigns.load(id(req));
    const items = await accord.campaigns.repo.items(c.id);
    if (q.format === 'csv') {
      res.type('text/csv').attachment(`${c.id}.csv`).send(reportCsv(items));
      return;
    }
    const view = await accord.campaigns.view(c);
    const audit = (await accord.audit.all()).filter((e) => e.subject === `campaign:${c.id}`);
    const revocations = [];
    for (const r of view.revocations) revocations.push({ ...r, apply: await accord.applyView(r.changeId) });
    res.json({
      format: 'accord-campaign-report/1', generatedAt: new Date().toISOString(), campaign: view,
      items: items.map((i) => ({ ...i.item, reviewers: i.reviewers, decision: i.decision, reason: i.reason, decidedBy: i.decidedBy, decidedAt: i.decidedAt })),
      revocations, audit,
    });
  });
  return r;
}
