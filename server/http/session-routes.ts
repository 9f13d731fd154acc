import express from 'express';
import { z } from 'zod';
import { decide } from '../auth/permissions.ts';
import type { Accord } from '../commands/accord.ts';
import { TimerAction } from '../commands/session-service.ts';
import { SESSION_STATUSES } from '../domain/session/types.ts';
import { AppError } from '../protocol/errors.ts';
import { id, key, parse, who } from './request.ts';

const ListQuery = z.object({ status: z.enum(SESSION_STATUSES).optional(), limit: z.coerce.number().int().min(1).max(500).default(100) });
const GotoBody = z.strictObject({ index: z.number().int().min(0).max(1_000) });
const TimerBody = z.strictObject({ action: TimerAction });
const NoteBody = z.strictObject({ text: z.string().max(2_000) });

/** REST for joint sessions (docs/api.md, docs/sessions.md): the same commands as over Socket.io. */
export function sessionRouter(accord: Accord): express.Router {
  const r = express.Router();
  const view = async (sessionId: string) => {
    const found = await accord.sessions.view(sessionId);
    if (!found) throw new AppError('not_found', 'no such session');
    return found;
  };

  r.get('/joint-sessions', async (req, res) => {
    const d = decide(who(res), 'session.view');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    const q = parse(ListQuery, req.query);
    res.json({ sessions: await accord.sessions.list({ ...(q.status ? { status: q.status } : {}), limit: q.limit }) });
  });
  r.post('/joint-sessions', async (req, res) => {
    const created = await accord.sessions.create(who(res), req.body, key(req));
    res.status(201).json({ session: await view(created.id) });
  });
  r.get('/joint-sessions/:id', async (req, res) => {
    const d = decide(who(res), 'session.view');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    res.json({ session: await view(id(req)) });
  });
  r.put('/joint-sessions/:id/agenda', async (req, res) => {
    await accord.sessions.setAgenda(who(res), id(req), req.body, key(req));
    res.json({ session: await view(id(req)) });
  });
  r.post('/joint-sessions/:id/goto', async (req, res) => {
    await accord.sessions.goto(who(res), id(req), parse(GotoBody, req.body).index, key(req));
    res.json({ session: await view(id(req)) });
  });
  r.post('/joint-sessions/:id/timer', async (req, res) => {
    await accord.sessions.timer(who(res), id(req), parse(TimerBody, req.body).action, key(req));
    res.json({ session: await view(id(req)) });
  });
  r.post('/joint-sessions/:id/notes', async (req, res) => {
    await accord.sessions.note(who(res), id(req), parse(NoteBody, req.body).text, key(req));
    res.status(201).json({ session: await view(id(req)) });
  });
  r.post('/joint-sessions/:id/close', async (req, res) => {
    await accord.sessions.close(who(res), id(req), key(req));
    res.json({ session: await view(id(req)) });
  });
  return r;
}
