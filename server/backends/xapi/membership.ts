/**
 * AD group membership is not in `xe` output (xapi asks the directory at login), so Accord reads it from a
 * small JSON file, documented in docs/backends/xapi.md:
 *
 *   { "format": "accord-xapi-membership/1",
 *     "groups": { "CORP\\xen-ops": ["CORP\\alice", "CORP\\bob"], "CORP\\xen-admins": ["CORP\\xen-ops"] } }
 *
 * Names are subject-names (`DOMAIN\name`); a member that is itself a key of `groups` is a nested group.
 */
import { z } from 'zod';
import { AccessInputError } from '../../domain/access/model.ts';

export const MEMBERSHIP_FORMAT = 'accord-xapi-membership/1';

const MembershipFile = z.object({
  format: z.literal(MEMBERSHIP_FORMAT),
  groups: z.record(z.string().min(1), z.array(z.string().min(1))),
}).strict();

export interface Membership {
  /** group → members, with the 1-based line where the group's key appears. */
  groups: { group: string; members: string[]; line: number | undefined }[];
}

function lineOfOffset(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

function lineOfKey(text: string, key: string): number | undefined {
  const at = text.indexOf(JSON.stringify(key));
  return at < 0 ? undefined : lineOfOffset(text, at);
}

export function looksLikeJson(text: string): boolean {
  return text.trimStart().startsWith('{');
}

export function parseMembership(text: string, file: string): Membership {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? lineOfOffset(text, Number(pos[1])) : undefined;
    throw new AccessInputError(`membership file is not valid JSON: ${msg}`, { file, ...(line ? { line } : {}) });
  }
  const parsed = MembershipFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.map(String) ?? [];
    const groupKey = path[0] === 'groups' ? path[1] : undefined;
    const line = groupKey !== undefined ? lineOfKey(text, groupKey) : undefined;
    throw new AccessInputError(`membership file: ${path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`, { file, ...(line ? { line } : {}) });
  }
  return {
    groups: Object.entries(parsed.data.groups).map(([group, members]) => ({ group, members, line: lineOfKey(text, group) })),
  };
}
