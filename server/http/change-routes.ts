import express from 'express';
import { z } from 'zod';
import { CHANGE_STATUSES } from '../domain/review/types.ts';
import { BACKEND_IDS } from '../domain/access/model.ts';
import { AppError } from '../protocol/errors.ts';
import type { Accord } from '../commands/accord.ts';
import { CreateAnnotation } from '../protocol/commands.ts';
import { id, key, parse, who } from './request.ts';
import { RevisionHash } from '../protocol/hashes.ts';
import { COMMAND_PAYLOADS } from '../protocol/commands.ts';

/** The `vote:cast` command's payload (server/protocol/commands.ts), as REST has always named the item: `item`. */
const VoteBody = COMMAND_PAYLOADS['vote:cast'].omit({ changeId: true, idempotencyKey: true, itemId: true }).extend({ item: z.string().min(1).max(200).optional() });
const ReasonBody = z.strictObject({ reason: z.string().trim().min(1).max(2_000), revisionHash: RevisionHash });
const SubmitBody = COMMAND_PAYLOADS['change:submit'].pick({ draftHash: true });
/** `{}`: apply through the change's connected target; `{ outcome }`: record a manual apply (docs/api.md). */
const ApplyBody = z.strictObject({ outcome: z.enum(['applied', 'apply_failed']).optional(), note: z.string().max(2_000).default('') });
const EditAnnotation = z.union([
  z.strictObject({ body: z.string().max(10_000) }),
  z.strictObject({ resolved: z.boolean() }),
]);
const InventoryBody = z.strictObject({
  files: z.array(z.strictObject({ path: z.string().min(1).max(300), text: z.string().max(20_000_000) })).min(1).max(50),
});
const EvidenceQuery = z.object({ format: z.enum(['json', 'html']).default('json') });
const PolicyBody = z.strictObject({ yaml: z.string().min(1).max(200_000) });
const ListQuery = z.object({
  status: z.enum(CHANGE_STATUSES).optional(),
  backend: z.enum(BACKEND_IDS).optional(),
  requester: z.string().max(64).optional(),
  waitingFor: z.enum(['vote', 'signoff']).optional(),
  risk: z.enum(['high', 'normal']).optional(),
  q: z.string().trim().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/**
 * REST for the review workflow (docs/api.md). Thin: parse the body as REST has always named it, map it
 * onto the command's payload and dispatch it (the same path as Socket.io), answer.
 */
export function changeRouter(accord: Accord): express.Router {
  const r = express.Router();

  r.get('/changes', async (req, res) => {
    const q = parse(ListQuery, req.query);
    if (q.waitingFor) return void res.json({ changes: (await accord.waitingFor(who(res), q.waitingFor)).slice(0, q.limit) });
    res.json({ changes: await accord.store.list({ status: q.status, backend: q.backend, requestedBy: q.requester, risk: q.risk, title: q.q || undefined, limit: q.limit }) });
  });
  r.post('/changes', async (req, res) => {
    res.status(201).json({ change: await accord.dispatch('change:create', who(res), { content: req.body }, key(req)) });
  });
  /** What a draft would do, without saving anything: native form and blast radius (the editor's live preview). */
  r.post('/preview', async (req, res) => {
    res.json(await accord.preview(who(res), req.body));
  });
  r.get('/changes/:id', async (req, res) => {
    const view = await accord.view(id(req));
    if (!view) throw new AppError('not_found', 'no such change');
    res.json({ change: view });
  });
  r.get('/changes/:id/draft', async (req, res) => {
    res.json(await accord.draft(who(res), id(req)));
  });
  r.put('/changes/:id/draft', async (req, res) => {
    await accord.dispatch('draft:replace', who(res), { changeId: id(req), draft: req.body }, key(req));
    res.status(204).end();
  });
  r.post('/changes/:id/submit', async (req, res) => {
    const body = parse(SubmitBody, req.body ?? {});
    const change = await accord.dispatch('change:submit', who(res), { changeId: id(req), draftHash: body.draftHash }, key(req));
    res.status(201).json({ revision: change.revisions.at(-1), change });
  });
  r.post('/changes/:id/votes', async (req, res) => {
    const body = parse(VoteBody, req.body);
    const change = await accord.dispatch('vote:cast', who(res), {
      changeId: id(req), choice: body.choice, revisionHash: body.revisionHash,
      ...(body.revision !== undefined ? { revision: body.revision } : {}),
      ...(body.reason !== undefined ? { reason: body.reason } : {}), ...(body.item !== undefined ? { itemId: body.item } : {}),
    }, key(req));
    res.status(201).json({ change });
  });
  r.post('/changes/:id/authors', async (req, res) => {
    const body = parse(z.strictObject({ username: z.string().min(1).max(64) }), req.body);
    res.status(201).json({ change: await accord.dispatch('change:invite', who(res), { changeId: id(req), username: body.username }, key(req)) });
  });
  r.post('/changes/:id/recusals', async (req, res) => {
    const body = parse(ReasonBody, req.body);
    res.status(201).json({ change: await accord.dispatch('change:recuse', who(res), { changeId: id(req), reason: body.reason, revisionHash: body.revisionHash }, key(req)) });
  });
  r.post('/changes/:id/withdraw', async (req, res) => {
    res.json({ change: await accord.dispatch('change:withdraw', who(res), { changeId: id(req) }, key(req)) });
  });
  r.post('/changes/:id/apply', async (req, res) => {
    const body = parse(ApplyBody, req.body ?? {});
    const change = await accord.dispatch('change:apply', who(res), { changeId: id(req), note: body.note, ...(body.outcome ? { outcome: body.outcome } : {}) }, key(req));
    res.status(body.outcome ? 200 : 202).json({ change });
  });
  r.post('/changes/:id/annotations', async (req, res) => {
    const annotation = await accord.dispatch('annotation:create', who(res), { changeId: id(req), annotation: parse(CreateAnnotation, req.body) }, key(req));
    res.status(201).json({ annotation });
  });
  r.patch('/annotations/:id', async (req, res) => {
    const body = parse(EditAnnotation, req.body);
    const annotation = 'body' in body
      ? await accord.dispatch('annotation:edit', who(res), { annotationId: id(req), body: body.body }, key(req))
      : await accord.dispatch('annotation:resolve', who(res), { annotationId: id(req), resolved: body.resolved }, key(req));
    res.json({ annotation });
  });
  r.delete('/annotations/:id', async (req, res) => {
    await accord.dispatch('annotation:delete', who(res), { annotationId: id(req) }, key(req));
    res.status(204).end();
  });
  r.post('/changes/:id/signoffs/options', async (req, res) => {
    const body = parse(z.strictObject({ revisionHash: RevisionHash }), req.body ?? {});
    res.json({ options: await accord.signoffs.options(who(res), id(req), body.revisionHash) });
  });
  r.post('/changes/:id/signoffs', async (req, res) => {
    const body = parse(z.strictObject({ response: z.record(z.string(), z.unknown()), revisionHash: RevisionHash }), req.body);
    res.status(201).json(await accord.signoffs.signOff(who(res), id(req), body.response, body.revisionHash));
  });
  /** Exporting evidence writes (an audit entry, a signed checkpoint): a rate-limited command, never a GET. */
  r.post('/changes/:id/evidence', async (req, res) => {
    const format = parse(EvidenceQuery, req.query).format;
    const pack = await accord.exportEvidence(who(res), id(req));
    if (format === 'html') res.type('html').send(accord.evidenceHtml(pack));
    else res.json(pack);
  });
  r.get('/changes/:id/evidence', async (_req, res) => {
    res.set('Allow', 'POST');
    res.status(405).json({ error: { code: 'invalid_payload', message: 'exporting evidence records it in the audit log: use POST /api/changes/:id/evidence (?format=json|html)' } });
  });

  r.post('/passkeys/options', async (_req, res) => {
    res.json({ options: await accord.passkeys.registrationOptions(who(res)) });
  });
  r.post('/passkeys', async (req, res) => {
    const body = parse(z.strictObject({ response: z.record(z.string(), z.unknown()) }), req.body);
    res.status(201).json({ passkey: await accord.passkeys.verifyRegistration(who(res), body.response) });
  });
  r.get('/passkeys', async (_req, res) => {
    res.json({ passkeys: await accord.passkeys.credentials(who(res)) });
  });

  r.put('/inventories/:backend', async (req, res) => {
    const body = parse(InventoryBody, req.body);
    res.json(await accord.dispatch('inventory:import', who(res), { backend: String(req.params.backend), files: body.files }, key(req)));
  });
  r.get('/inventories/:backend', async (req, res) => {
    const model = await accord.inventories.model(String(req.params.backend));
    res.json({
      backend: model.backend,
      principals: model.principals.map((p) => ({ id: p.id, kind: p.kind })),
      resources: model.resources.map((x) => ({ id: x.id, kind: x.kind })),
      roles: model.roles.map((x) => x.name),
      warnings: model.warnings,
    });
  });
  r.get('/policies', async (_req, res) => {
    res.json({ policies: await accord.store.policies() });
  });
  r.put('/policies/:name', async (req, res) => {
    const body = parse(PolicyBody, req.body);
    await accord.dispatch('policy:write', who(res), { name: String(req.params.name), yaml: body.yaml }, key(req));
    res.status(204).end();
  });
  return r;
}
