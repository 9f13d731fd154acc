import express from 'express';
import { z } from 'zod';
import type { Inbox } from '../notify/inbox.ts';
import { PREF_CHANNELS, PREF_EVENTS, type NotificationPreferences } from '../notify/preferences.ts';
import { parse, who } from './request.ts';

const ListQuery = z.object({ unread: z.enum(['0', '1']).default('0'), limit: z.coerce.number().int().min(1).max(500).default(100) });
const ReadBody = z.union([
  z.strictObject({ ids: z.array(z.string().min(1).max(40)).min(1).max(500) }),
  z.strictObject({ all: z.literal(true) }),
]);

const Settings = z.strictObject({
  off: z.array(z.strictObject({ event: z.enum(PREF_EVENTS), channel: z.enum(PREF_CHANNELS) })).max(PREF_EVENTS.length * PREF_CHANNELS.length),
});

/** The caller's own notification centre and preferences (docs/notifications.md): nobody reads or sets another's. */
export function notificationRouter(inbox: Inbox, prefs?: NotificationPreferences): express.Router {
  const r = express.Router();
  if (prefs) {
    r.get('/me/notification-settings', async (_req, res) => {
      res.json({ events: PREF_EVENTS, channels: PREF_CHANNELS, off: await prefs.off(who(res).username) });
    });
    r.put('/me/notification-settings', async (req, res) => {
      const body = parse(Settings, req.body);
      await prefs.setOff(who(res).username, body.off);
      res.json({ events: PREF_EVENTS, channels: PREF_CHANNELS, off: await prefs.off(who(res).username) });
    });
  }
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
