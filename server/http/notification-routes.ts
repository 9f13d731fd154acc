import express from 'express';
import { z } from 'zod';
import type { Inbox } from '../notify/inbox.ts';
import { parse, who } from './request.ts';

const ListQuery = z.object({ unread: z.enum(['0', '1']).default('0'), limit: z.coerce.number().int().min(1).max(500).default(100) });
const ReadBody = z.union([
  z.strictObject({ ids: z.array(z.string().min(1).max(40)).min(1).max(500) }),
  z.strictObject({ all: z.literal(true) }),
]);

/** The caller's own notification centre (docs/notifications.md): nobody reads or marks another's. */
export function notificationRouter(inbox: Inbox): express.Router {
  const r = express.Router();
  r.get('/notifications', async (req, res) => {
    const q = parse(ListQuery, req.query);
    const me = who(res).username;
    res.json({ notifications: await inbox.list(me, q.unread === '1', q.limit), unread: await inbox.unread(me) });
  });
  r.post('/notifications/read', async (req, res) => {
    const body = parse(ReadBody, req.body);
    const me = who(res).username;
    const marked = await inbox.markRead(me, 'all' in body ? 'all' : body.ids);
    res.json({ marked, unread: await inbox.unread(me) });
  });
  return r;
}
