import express from 'express';
import { z } from 'zod';
import type { Accord } from '../commands/accord.ts';
import { factsOf } from '../commands/change-service.ts';
import { decide } from '../auth/permissions.ts';
import { groupBlastRows, queryBlast } from '../domain/access/blast-groups.ts';
import type { BlastGroups } from '../domain/access/model.ts';
import type { Revision } from '../domain/review/types.ts';
import { AppError } from '../protocol/errors.ts';
import { id, parse, who } from './request.ts';

const Name = z.string().min(1).max(1_000);
const BlastQuery = z.object({
  principal: Name,
  resource: Name,
  privilege: Name.optional(),
  revision: z.coerce.number().int().min(1).optional(),
});

/** A revision's groups: stored with it, or (revisions stored before groups existed) made from its rows. */
export function groupsOf(revision: Revision): BlastGroups {
  return revision.blastGroups ?? groupBlastRows(revision.blast);
}

/**
 * REST for the blast radius (docs/api.md "Blast radius"): `GET /changes/:id/blast` answers "does X gain Y
 * on Z?" exactly, from the revision's grouped blast radius, with the reason. A read: whoever may read the
 * change (the rule book's `change.view`) may ask.
 */
export function blastRouter(accord: Accord): express.Router {
  const r = express.Router();

  r.get('/changes/:id/blast', async (req, res) => {
    const q = parse(BlastQuery, req.query);
    const found = await accord.store.get(id(req));
    if (!found) throw new AppError('not_found', 'no such change');
    const { change } = found;
    const d = decide(who(res), 'change.view', { kind: 'change', change: factsOf(change) });
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    const revision = q.revision === undefined ? change.revisions.at(-1) : change.revisions.find((rev) => rev.number === q.revision);
    if (!revision) {
      throw new AppError('not_found', q.revision === undefined ? 'the change has no submitted revision yet' : `the change has no revision ${q.revision}`);
    }
    const answer = queryBlast(groupsOf(revision), { principal: q.principal, resource: q.resource, ...(q.privilege !== undefined ? { privilege: q.privilege } : {}) });
    res.json({ revision: revision.number, revisionHash: revision.hash, ...answer });
  });
  return r;
}
