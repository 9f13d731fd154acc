import express from 'express';
import { z } from 'zod';
import type { Accord } from '../commands/accord.ts';
import { decide } from '../auth/permissions.ts';
import { AppError } from '../protocol/errors.ts';
import { id, key, parse, who } from './request.ts';

const DriftQuery = z.object({ state: z.enum(['open', 'all']).default('open') });

/**
 * REST for targets and drift (docs/api.md, docs/targets.md): thin maps onto the commands `target:create`,
 * `target:read` and `drift:resolve`; the lists are reads.
 */
export function targetRouter(accord: Accord): express.Router {
  const r = express.Router();

  /** Everyone signed in sees which targets exist and how they are reached; never a secret. */
  r.get('/targets', async (_req, res) => {
    const d = decide(who(res), 'inventory.read');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    res.json({ targets: await accord.targets.list(), connectable: accord.targets.backends });
  });
  r.post('/targets', async (req, res) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AppError('invalid_payload', 'the body must be a JSON object: { name, backend, ...connection }');
    res.status(201).json({ target: await accord.dispatch('target:create', who(res), { target: body as Record<string, unknown> }, key(req)) });
  });
  r.post('/targets/:name/read', async (req, res) => {
    res.json(await accord.dispatch('target:read', who(res), { name: String(req.params.name) }, key(req)));
  });
  r.get('/drift', async (req, res) => {
    const d = decide(who(res), 'inventory.read');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    const q = parse(DriftQuery, req.query);
    res.json({ findings: q.state === 'open' ? await accord.targetRepo.openFindings() : await accord.targetRepo.findings() });
  });
  r.post('/drift/:id/adopt', async (req, res) => {
    res.json(await accord.dispatch('drift:resolve', who(res), { findingId: id(req), resolution: 'adopt' }, key(req)));
  });
  r.post('/drift/:id/revert', async (req, res) => {
    res.status(201).json(await accord.dispatch('drift:resolve', who(res), { findingId: id(req), resolution: 'revert' }, key(req)));
  });
  return r;
}
