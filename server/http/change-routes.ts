import express from 'express';
import { z } from 'zod';
import { decide } from '../auth/permissions.ts';
import { CHANGE_STATUSES } from '../domain/review/types.ts';
import { BACKEND_IDS } from '../domain/access/model.ts';
import { parsePolicyYaml, PolicyError } from '../domain/review/policy.ts';
import { AppError } from '../protocol/errors.ts';
import type { Accord } from '../commands/accord.ts';
import { CreateAnnotation } from '../commands/annotation-service.ts';
import { id, key, parse, who } from './request.ts';
import { RevisionHash } from '../protocol/hashes.ts';
import { COMMAND_PAYLOADS } from '../protocol/commands.ts';

/** The `vote:cast` command's payload (server/protocol/commands.ts), as REST has always named the item: `item`. */
const VoteBody = COMMAND_PAYLOADS['vote:cast'].omit({ changeId: true, idempotencyKey: true, itemId: true }).extend({ item: z.string().min(1).max(200).optional() });
const ReasonBody = z.strictObject({ reason: z.string().trim().min(1).max(2_000), revisionHash: RevisionHash });
const SubmitBody = COMMAND_PAYLOADS['change:submit'].pick({ draftHash: true });
const ApplyBody = z.strictObject({ outcome: z.enum(['applied', 'apply_failed']), note: z.string().max(2_000).default('') });
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

/** REST for the review workflow (docs/api.md). Thin: parse, call the command, answer. */
export function changeRouter(accord: Accord): express.Router {
  const r = express.Router();

  r.get('/changes', (req, res) => {
    const q = parse(ListQuery, req.query);
    if (q.waitingFor) return void res.json({ changes: accord.waitingFor(who(res), q.waitingFor).slice(0, q.limit) });
    res.json({ changes: accord.store.list({ status: q.status, backend: q.backend, requestedBy: q.requester, risk: q.risk, title: q.q || undefined, limit: q.limit }) });
  });
  r.post('/changes', async (req, res) => {
    const change = await accord.changes.create(who(res), req.body, key(req));
    res.status(201).json({ change: accord.view(change.id) });
  });
  /** What a draft would do, without saving anything: native form and blast radius (the editor's live preview). */
  r.post('/preview', (req, res) => {
    res.json(accord.preview(who(res), req.body));
  });
  r.get('/changes/:id', (req, res) => {
    const view = accord.view(id(req));
    if (!view) throw new AppError('not_found', 'no such change');
    res.json({ change: view });
  });
  r.get('/changes/:id/draft', async (req, res) => {
    res.json(await accord.draft(who(res), id(req)));
  });
  r.put('/changes/:id/draft', async (req, res) => {
    await accord.replaceDraft(who(res), id(req), req.body);
    res.status(204).end();
  });
  r.post('/changes/:id/submit', async (req, res) => {
    const body = parse(SubmitBody, req.body ?? {});
    const revision = await accord.changes.submit(who(res), id(req), body.draftHash, key(req));
    res.status(201).json({ revision, change: accord.view(id(req)) });
  });
  r.post('/changes/:id/votes', (req, res) => {
    const body = parse(VoteBody, req.body);
    accord.changes.vote(who(res), id(req), {
      choice: body.choice, revisionHash: body.revisionHash,
      ...(body.revision !== undefined ? { revision: body.revision } : {}),
      ...(body.reason !== undefined ? { reason: body.reason } : {}), ...(body.item !== undefined ? { itemId: body.item } : {}),
    }, key(req));
    res.status(201).json({ change: accord.view(id(req)) });
  });
  r.post('/changes/:id/authors', (req, res) => {
    const body = parse(z.strictObject({ username: z.string().min(1).max(64) }), req.body);
    accord.changes.invite(who(res), id(req), body.username, (name) => accord.isWriter(name), key(req));
    res.status(201).json({ change: accord.view(id(req)) });
  });
  r.post('/changes/:id/recusals', (req, res) => {
    const body = parse(ReasonBody, req.body);
    accord.changes.recuse(who(res), id(req), body.reason, body.revisionHash, key(req));
    res.status(201).json({ change: accord.view(id(req)) });
  });
  r.post('/changes/:id/withdraw', (req, res) => {
    accord.changes.withdraw(who(res), id(req), key(req));
    res.json({ change: accord.view(id(req)) });
  });
  r.post('/changes/:id/apply', (req, res) => {
    const body = parse(ApplyBody, req.body);
    accord.changes.recordApply(who(res), id(req), body.outcome, body.note, (c) => accord.signoffs.hasValidSignOff(c), key(req));
    res.json({ change: accord.view(id(req)) });
  });
  r.post('/changes/:id/annotations', (req, res) => {
    const annotation = accord.annotations.create(who(res), id(req), parse(CreateAnnotation, req.body), key(req));
    res.status(201).json({ annotation });
  });
  r.patch('/annotations/:id', (req, res) => {
    const body = parse(EditAnnotation, req.body);
    const annotation = 'body' in body
      ? accord.annotations.edit(who(res), id(req), body.body, key(req))
      : accord.annotations.resolve(who(res), id(req), body.resolved, key(req));
    res.json({ annotation });
  });
  r.delete('/annotations/:id', (req, res) => {
    accord.annotations.remove(who(res), id(req), key(req));
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
  r.post('/changes/:id/evidence', (req, res) => {
    const format = parse(EvidenceQuery, req.query).format;
    const pack = accord.exportEvidence(who(res), id(req));
    if (format === 'html') res.type('html').send(accord.evidenceHtml(pack));
    else res.json(pack);
  });
  r.get('/changes/:id/evidence', (_req, res) => {
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
  r.get('/passkeys', (_req, res) => {
    res.json({ passkeys: accord.passkeys.credentials(who(res)) });
  });

  r.put('/inventories/:backend', (req, res) => {
    const d = decide(who(res), 'inventory.write');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    const body = parse(InventoryBody, req.body);
    const result = accord.inventories.put(String(req.params.backend), body.files, who(res).username);
    accord.audit.append({ actor: who(res).username, action: 'inventory.import', subject: `backend:${req.params.backend}`, outcome: 'ok', detail: result });
    res.json(result);
  });
  r.get('/inventories/:backend', (req, res) => {
    const model = accord.inventories.model(String(req.params.backend));
    res.json({
      backend: model.backend,
      principals: model.principals.map((p) => ({ id: p.id, kind: p.kind })),
      resources: model.resources.map((x) => ({ id: x.id, kind: x.kind })),
      roles: model.roles.map((x) => x.name),
      warnings: model.warnings,
    });
  });
  r.get('/policies', (_req, res) => {
    res.json({ policies: accord.store.policies() });
  });
  r.put('/policies/:name', (req, res) => {
    const d = decide(who(res), 'inventory.write');
    if (!d.allowed) throw new AppError('forbidden', 'writing policies needs the admin role');
    const body = parse(PolicyBody, req.body);
    try {
      const policy = parsePolicyYaml(body.yaml, String(req.params.name));
      if (policy.name !== req.params.name) throw new AppError('invalid_payload', `the policy's name is "${policy.name}", not "${req.params.name}"`);
    } catch (err) {
      if (err instanceof PolicyError) throw new AppError('invalid_payload', err.message);
      throw err;
    }
    accord.store.putPolicy(String(req.params.name), body.yaml, who(res).username);
    accord.audit.append({ actor: who(res).username, action: 'policy.write', subject: `policy:${req.params.name}`, outcome: 'ok', detail: { yaml: body.yaml } });
    res.status(204).end();
  });
  return r;
}
