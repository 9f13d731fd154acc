/** The XAPI-specific state kept in `AccessModel.native`: subject records (uuid, other-config) and the pool id. */
import type { AccessModel } from '../../domain/access/model.ts';

export const POOL_ID = 'pool';
export const ROOT_ID = 'root';
/** The `because` id of local root's implicit pool-admin. */
export const ROOT_GRANT_ID = 'builtin:local-root';

export interface XapiSubject {
  /** Principal id (the subject-name, e.g. `CORP\alice`). */
  principal: string;
  /** `pending:<principal>` until `xe subject-add` has created it. */
  uuid: string;
  identifier: string;
  otherConfig: Record<string, string>;
  file?: string;
  line?: number;
}

export interface XapiNative {
  pool: string;
  subjects: XapiSubject[];
}

export function xapiNative(model: AccessModel): XapiNative {
  const n = model.native as Partial<XapiNative> | undefined;
  return { pool: typeof n?.pool === 'string' ? n.pool : POOL_ID, subjects: Array.isArray(n?.subjects) ? n.subjects : [] };
}

export function subjectOf(model: AccessModel, principal: string): XapiSubject | undefined {
  return xapiNative(model).subjects.find((s) => s.principal === principal);
}

export function isPending(s: XapiSubject): boolean {
  return s.uuid.startsWith('pending:');
}

export function grantId(subjectUuid: string, role: string): string {
  return `${subjectUuid}/${role}`;
}

/** Transitive groups of a principal (AD nested groups), excluding itself. */
export function groupsOf(model: AccessModel, principal: string): string[] {
  const byId = new Map(model.principals.map((p) => [p.id, p]));
  const seen = new Set<string>();
  const todo = [...(byId.get(principal)?.memberOf ?? [])];
  while (todo.length > 0) {
    const g = todo.pop() as string;
    if (seen.has(g) || g === principal) continue;
    seen.add(g);
    todo.push(...(byId.get(g)?.memberOf ?? []));
  }
  return [...seen];
}

/** Principals that are (transitively) members of a group. */
export function membersOf(model: AccessModel, group: string): string[] {
  return model.principals.filter((p) => p.id !== group && groupsOf(model, p.id).includes(group)).map((p) => p.id);
}
