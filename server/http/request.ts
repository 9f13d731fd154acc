import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { Principal } from '../auth/roles.ts';
import { AppError } from '../protocol/errors.ts';
import { describeIssues } from '../protocol/issues.ts';

/** Validates a body or query at the edge: `invalid_payload` naming each failing path. */
export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new AppError('invalid_payload', describeIssues(r.error, value).join('; '));
  return r.data;
}

/** The authenticated caller (set by requireAuth). */
export const who = (res: Response) => res.locals.principal as Principal;

/** The `:id` route parameter. */
export const id = (req: Request) => String(req.params.id);

/** Idempotency-Key header: a replayed request returns the first result and changes nothing. */
export function key(req: Request): string | undefined {
  const value = req.get('idempotency-key');
  if (value === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]{8,100}$/.test(value)) throw new AppError('invalid_payload', 'Idempotency-Key: 8 to 100 of A-Z a-z 0-9 _ -');
  return value;
}
