/**
 * The admin area's REST (docs/api.md, "Admin"): accounts and their groups and tokens, what each imported
 * inventory holds with every import warning, a policy draft checked and tried on a change, and the audit
 * log browsed and verified. Every route asks the one rule book; every change is audited and makes live
 * sockets of the account re-authenticate at their new level.
 */
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import type { ServerKey } from '../audit/server-key.ts';
import { verifyAudit } from '../audit/verify.ts';
import { decide, type ActionName } from '../auth/permissions.ts';
import { ROLES, type Principal } from '../auth/roles.ts';
import type { UserStore } from '../auth/user-store.ts';
import type { Accord } from '../commands/accord.ts';
import { AppError } from '../protocol/errors.ts';
import { AuditRepository } from '../store/repositories/audit-repository.ts';
import type { Database } from '../store/sql.ts';
import { parse } from './request.ts';

const Username = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'username: use a-z, 0-9, . _ - (at most 64, starting with a letter or digit)');
const Group = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'group: use a-z, 0-9, . _ - (at most 64, starting with a letter or digit)');
const NewUser = z.strictObject({
  username: Username,
  role: z.enum(ROLES),
  password: z.string().min(8, 'password: at least 8 characters').max(1_024).optional(),
  groups: z.array(Group).max(100).default([]),
});
const UserChange = z.strictObject({ role: z.enum(ROLES).optional(), groups: z.array(Group).max(100).optional() })
  .refine((x) => x.role !== undefined || x.groups !== undefined, 'give a role, groups, or both');
const PolicyCheck = z.strictObject({
  name: z.string().min(1).max(200),
  yaml: z.string().min(1).max(200_000),
  changeId: z.string().min(1).max(64).optional(),
});
const AuditQuery = z.strictObject({
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  actor: z.string().max(200).optional(),
  action: z.string().max(200).optional(),
  subject: z.string().max(300).optional(),
});

export interface AdminDeps {
  accord: Accord;
  users: UserStore;
  db: Database;
  key: ServerKey;
  audit: AuditLog;
  /** Credentials or roles changed: live sockets re-authenticate (SocketGate.revalidate; never rejects). */
  revalidate: () => void | Promise<void>;
}

export function adminRouter(deps: AdminDeps): express.Router {
  const r = express.Router();
  const who = (res: Response) => res.locals.principal as Principal;
  const allowed = (res: Response, action: ActionName) => {
    const d = decide(who(res), action);
    if (!d.allowed) throw new AppError('forbidden', d.reason);
  };
  const audit = (res: Response, action: string, subject: string, detail: Record<string, unknown> = {}) =>
    deps.audit.append({ actor: who(res).username, action, subject, outcome: 'ok', detail });
  const name = (req: Request) => parse(Username, String(req.params.name));

  r.get('/users', async (_req, res) => {
    allowed(res, 'user.manage');
    res.json({ users: await deps.users.list() });
  });
  r.post('/users', async (req, res) => {
    allowed(res, 'user.manage');
    const body = parse(NewUser, req.body);
    const { principal, token } = await deps.users.addUser(body.username, body.role, body.password);
    if (body.groups.length > 0) await deps.users.addToGroups(principal.userId, body.groups);
    await audit(res, 'user.create', `user:${body.username}`, { role: body.role, groups: body.groups, password: body.password !== undefined });
    const user = (await deps.users.list()).find((u) => u.username === body.username);
    // The first API token is shown once, here; only its hash is kept.
    res.status(201).json({ user, token });
  });
  r.patch('/users/:name', async (req, res) => {
    allowed(res, 'user.manage');
    const username = name(req);
    const body = parse(UserChange, req.body);
    if (body.role !== undefined && username === who(res).username && body.role !== who(res).role) {
      throw new AppError('conflict', 'an admin cannot change their own role: ask another admin');
    }
    const user = await deps.users.update(username, body);
    await audit(res, 'user.update', `user:${username}`, { ...(body.role ? { role: body.role } : {}), ...(body.groups ? { groups: body.groups } : {}) });
    await deps.revalidate();
    res.json({ user });
  });
  r.get('/users/:name/tokens', async (req, res) => {
    allowed(res, 'user.manage');
    const id = await deps.users.userId(name(req));
    if (id === null) throw new AppError('not_found', `no user "${req.params.name}"`);
    res.json({ tokens: await deps.users.tokens(id) });
  });
  r.delete('/users/:name/tokens/:id', async (req, res) => {
    allowed(res, 'user.manage');
    const username = name(req);
    const id = await deps.users.userId(username);
    if (id === null) throw new AppError('not_found', `no user "${username}"`);
    if ((await deps.users.revokeToken(id, String(req.params.id))) === 0) throw new AppError('not_found', `${username} has no unrevoked token ${req.params.id}`);
    await audit(res, 'token.revoke', `user:${username}`, { id: req.params.id });
    await deps.revalidate();
    res.status(204).end();
  });

  r.get('/inventories', async (_req, res) => {
    allowed(res, 'inventory.read');
    res.json({ inventories: await deps.accord.inventories.summaries() });
  });

  /** Checks a policy draft and, given a change, how it would decide it: stores nothing (docs/policies.md). */
  r.post('/policies/check', async (req, res) => {
    allowed(res, 'inventory.write');
    const body = parse(PolicyCheck, req.body);
    const found = body.changeId ? await deps.accord.store.get(body.changeId) : null;
    if (body.changeId && !found) throw new AppError('not_found', `no change "${body.changeId}"`);
    res.json(await deps.accord.policy.preview(body.name, body.yaml, found?.change ?? null));
  });

  r.get('/audit', async (req, res) => {
    allowed(res, 'audit.view');
    const q = parse(AuditQuery, req.query);
    const entries = await new AuditRepository(deps.db).page(q);
    const last = entries.at(-1);
    res.json({ entries, next: entries.length === q.limit && last && last.seq > 1 ? last.seq : null });
  });
  /** Verifies the whole chain, its checkpoints and the signed head against the server's key (as `accord audit verify`). */
  r.post('/audit/verify', async (_req, res) => {
    allowed(res, 'audit.view');
    const result = await verifyAudit(deps.db, deps.key.publicKeyPem);
    await audit(res, 'audit.verify', 'audit', { ok: result.ok });
    res.json(result);
  });
  return r;
}
