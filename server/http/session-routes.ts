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
const TitleBody = z.strictObject({ title: z.string().max(200) });
/** Checked in full by the command (an unknown agenda entry is refused there, and audited). */
const AgendaBody = z.strictObject({ agenda: z.unknown(), minutesPerItem: z.unknown().optional() });

/** REST for joint sessions (docs/api.md, docs/sessions.md): the same commands as over Socket.io. */
export function sessionRouter(accord: Accord): express.Router {
  const r = express.Router();
  const view = async (sessionId: string) => {
    const found = await accord.sessions.view(sessionId);
    if (!found) throw new AppError('not_found', 'no such session');
    return found;
  };
  const facilitate = async <C extends 'session:agenda' | 'session:goto' | 'session:timer' | 'session:note' | 'session:close' | 'session:rename'>(
    req: express.Request, res: express.Response, name: C, payload: Record<string, unknown>, status = 200,
  ) => {
    res.status(status).json({ session: await accord.dispatch(name, who(res), { ...payload, sessionId: id(req) }, key(req)) });
  };

  r.get('/joint-sessions', async (req, res) => {
    const d = decide(who(res), 'session.view');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    const q = parse(ListQuery, req.query);
    res.json({ sessions: await accord.sessions.list({ ...(q.status ? { status: q.status } : {}), limit: q.limit }) });
  });
  r.post('/joint-sessions', async (req, res) => {
    res.status(201).json({ session: await accord.dispatch('session:create', who(res), { session: req.body }, key(req)) });
  });
  r.get('/joint-sessions/:id', async (req, res) => {
    const d = decide(who(res), 'session.view');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    res.json({ session: await view(id(req)) });
  });
  r.put('/joint-sessions/:id/agenda', async (req, res) => {
    await facilitate(req, res, 'session:agenda', parse(AgendaBody, req.body));
  });
  r.post('/joint-sessions/:id/goto', async (req, res) => {
    await facilitate(req, res, 'session:goto', parse(GotoBody, req.body));
  });
  r.post('/joint-sessions/:id/timer', async (req, res) => {
    await facilitate(req, res, 'session:timer', parse(TimerBody, req.body));
  });
  r.post('/joint-sessions/:id/notes', async (req, res) => {
    await facilitate(req, res, 'session:note', parse(NoteBody, req.body), 201);
  });
  r.post('/joint-sessions/:id/close', async (req, res) => {
    await facilitate(req, res, 'session:close', {});
  });
  /** Renames the session (facilitator): the old title stays in the decision record. */
  r.put('/joint-sessions/:id/title', async (req, res) => {
    await facilitate(req, res, 'session:rename', parse(TitleBody, req.body));
  });
  return r;
}
