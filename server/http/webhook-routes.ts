import express from 'express';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { decide } from '../auth/permissions.ts';
import { AppError } from '../protocol/errors.ts';
import { checkDestination, WEBHOOK_EVENTS, WEBHOOK_FORMATS, type WebhookRepository } from '../notify/webhooks.ts';
import { id, parse, who } from './request.ts';

const CreateBody = z.strictObject({
  url: z.string().min(1).max(2_000),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length),
  format: z.enum(WEBHOOK_FORMATS).default('standard'),
});

/**
 * Outgoing webhooks (docs/notifications.md), admins only. Not dispatcher commands: the answer carries the
 * secret, shown once, and a command's answer is kept for replays (its idempotency record); each call is
 * audited here instead, without the secret.
 */
export function webhookRouter(repo: WebhookRepository, audit: AuditLog, allowPrivate: boolean): express.Router {
  const r = express.Router();
  const admin = (res: express.Response): string => {
    const p = who(res);
    const d = decide(p, 'webhook.manage');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    return p.username;
  };
  r.get('/webhooks', async (_req, res) => {
    admin(res);
    res.json({ webhooks: await repo.list(), events: WEBHOOK_EVENTS });
  });
  r.post('/webhooks', async (req, res) => {
    const by = admin(res);
    const body = parse(CreateBody, req.body);
    const url = await checkDestination(body.url, allowPrivate);
    const { webhook, secret } = await repo.create({ url: url.toString(), events: [...new Set(body.events)], format: body.format, createdBy: by });
    await audit.append({ actor: by, action: 'webhook.create', subject: `webhook:${webhook.id}`, outcome: 'ok', detail: { url: webhook.url, events: webhook.events, format: webhook.format } });
    res.status(201).json({ id: webhook.id, secret, webhook });
  });
  r.post('/webhooks/:id/rotate', async (req, res) => {
    const by = admin(res);
    const secret = await repo.rotate(id(req));
    await audit.append({ actor: by, action: 'webhook.rotate', subject: `webhook:${id(req)}`, outcome: 'ok', detail: { previousValidHours: 24 } });
    res.json({ id: id(req), secret });
  });
  r.delete('/webhooks/:id', async (req, res) => {
    const by = admin(res);
    if ((await repo.remove(id(req))) === 0) throw new AppError('not_found', `no webhook ${id(req)}`);
    await audit.append({ actor: by, action: 'webhook.delete', subject: `webhook:${id(req)}`, outcome: 'ok', detail: {} });
    res.status(204).end();
  });
  return r;
}
