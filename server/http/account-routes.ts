import express, { type Response } from 'express';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { decide, type ActionName } from '../auth/permissions.ts';
import { SCOPES, type Principal } from '../auth/roles.ts';
import type { UserStore } from '../auth/user-store.ts';
import { AppError } from '../protocol/errors.ts';
import { parse } from './request.ts';

const PasswordChange = z.strictObject({ current: z.string().min(1).max(1_024), next: z.string().min(8).max(1_024) });
const PasswordReset = z.strictObject({ password: z.string().min(8).max(1_024) });
const NewToken = z.strictObject({
  label: z.string().trim().min(1).max(100),
  scope: z.enum(SCOPES.filter((s) => s !== 'full') as ['read', 'vote', 'signoff', 'admin']),
  expiresInDays: z.number().int().min(1).max(366).optional(),
});

export interface AccountDeps {
  users: UserStore;
  audit: AuditLog;
  /**
   * Credentials changed: sockets of the user must re-authenticate. Awaited before the response, so the
   * caller knows its change has reached live sockets; it must not reject (SocketGate.revalidate does not).
   */
  revalidate: () => void | Promise<void>;
}

/** Passwords, account state and API tokens (docs/api.md). Every change is audited. */
export function accountRouter(deps: AccountDeps): express.Router {
  const r = express.Router();
  const who = (res: Response) => res.locals.principal as Principal;
  const allowed = (res: Response, action: ActionName) => {
    const d = decide(who(res), action);
    if (!d.allowed) throw new AppError('forbidden', d.reason);
  };
  const audit = async (res: Response, action: string, subject: string, detail: Record<string, unknown> = {}): Promise<void> => {
    await deps.audit.append({ actor: who(res).username, action, subject, outcome: 'ok', detail });
  };

  r.put('/me/password', async (req, res) => {
    allowed(res, 'token.manage');
    const body = parse(PasswordChange, req.body);
    if (!(await deps.users.checkPassword(who(res).username, body.current))) throw new AppError('unauthorized', 'the current password is wrong');
    await deps.users.setPassword(who(res).username, body.next);
    await audit(res, 'user.password.change', `user:${who(res).username}`);
    await deps.revalidate();
    res.status(204).end(); // every session ended, this one too: sign in again with the new password
  });
  r.post('/users/:name/password', async (req, res) => {
    allowed(res, 'user.manage');
    await deps.users.setPassword(String(req.params.name), parse(PasswordReset, req.body).password);
    await audit(res, 'user.password.reset', `user:${req.params.name}`);
    await deps.revalidate();
    res.status(204).end();
  });
  for (const [path, disabled] of [['disable', true], ['enable', false]] as const) {
    r.post(`/users/:name/${path}`, async (req, res) => {
      allowed(res, 'user.manage');
      if (disabled && req.params.name === who(res).username) throw new AppError('conflict', 'an admin cannot disable their own account');
      await deps.users.setDisabled(String(req.params.name), disabled);
      await audit(res, `user.${path}`, `user:${req.params.name}`);
      await deps.revalidate();
      res.status(204).end();
    });
  }
  r.get('/tokens', async (_req, res) => {
    allowed(res, 'token.manage');
    res.json({ tokens: await deps.users.tokens(who(res).userId) });
  });
  r.post('/tokens', async (req, res) => {
    allowed(res, 'token.manage');
    const body = parse(NewToken, req.body);
    const expiresAt = body.expiresInDays ? Date.now() + body.expiresInDays * 86_400_000 : undefined;
    const token = await deps.users.issueToken(who(res).userId, body.label, body.scope, expiresAt);
    await audit(res, 'token.create', `user:${who(res).username}`, { label: body.label, scope: body.scope, expiresAt: expiresAt ?? null });
    res.status(201).json({ token, tokens: await deps.users.tokens(who(res).userId) });
  });
  r.delete('/tokens/:id', async (req, res) => {
    allowed(res, 'token.manage');
    if ((await deps.users.revokeToken(who(res).userId, String(req.params.id))) === 0) throw new AppError('not_found', 'no such token');
    await audit(res, 'token.revoke', `user:${who(res).username}`, { id: req.params.id });
    await deps.revalidate();
    res.status(204).end();
  });
  return r;
}
