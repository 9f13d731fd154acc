/**
 * The part of user.cfg the neutral model has no field for, kept in `AccessModel.native` so that a full
 * user.cfg can be written back (names, e-mails, comments, pools) without loss.
 */
import type { AccessModel, Grant } from '../../domain/access/model.ts';
import { classifyUgid, ugidInCfg } from './paths.ts';

export interface PveUserFields {
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
  keys?: string;
}

export interface PvePool {
  comment?: string;
  /** VM ids; a VM belongs to at most one pool. */
  vms: string[];
  /** Storage ids; a storage may belong to several pools. */
  storage: string[];
}

export interface PveNative {
  pools: Record<string, PvePool>;
  userFields: Record<string, PveUserFields>;
  groupComments: Record<string, string>;
  tokenComments: Record<string, string>;
  /**
   * Group → members that no `user:` line defines. Proxmox keeps them in the group (`parse_user_config`
   * records every well-formed member) and writes them back; they cannot log in, so they hold no access.
   * Only groups with such members appear.
   */
  groupMembersWithoutUser: Record<string, string[]>;
  /**
   * ISO instant at which user and token expiry is judged. Absent: the time of the computation.
   * Set it to make effective access reproducible ("as of the import").
   */
  asOf?: string;
}

export function emptyNative(): PveNative {
  return { pools: {}, userFields: {}, groupComments: {}, tokenComments: {}, groupMembersWithoutUser: {} };
}

/** The Proxmox extras of a model, tolerating models built by hand (tests, other tools). */
export function pveNative(model: AccessModel): PveNative {
  const n = (model.native ?? {}) as Partial<PveNative>;
  return {
    pools: n.pools ?? {},
    userFields: n.userFields ?? {},
    groupComments: n.groupComments ?? {},
    tokenComments: n.tokenComments ?? {},
    groupMembersWithoutUser: n.groupMembersWithoutUser ?? {},
    ...(n.asOf ? { asOf: n.asOf } : {}),
  };
}

/** (path, ugid, role) identifies an ACL entry in Proxmox: re-adding it overwrites its propagate flag. */
export function aclKey(path: string, principal: string, role: string): string {
  const c = classifyUgid(principal);
  const ugid = c ? ugidInCfg(c.kind, c.id) : principal;
  return `acl:${path}:${ugid}:${role}`;
}

export function grantKey(g: Pick<Grant, 'resource' | 'principal' | 'role'>): string {
  return aclKey(g.resource, g.principal, g.role ?? '');
}

/** The last second a JavaScript `Date` can hold (+275760-09-13): Perl's `int($expire)` has no such bound. */
export const MAX_EPOCH = 8_640_000_000_000;

/** Proxmox stores expiry as epoch seconds, 0 = never. Later than `MAX_EPOCH` reads as `MAX_EPOCH`. */
export function epochToIso(epoch: number): string | undefined {
  return epoch > 0 ? new Date(Math.min(epoch, MAX_EPOCH) * 1000).toISOString() : undefined;
}

export function isoToEpoch(iso: string | undefined): number {
  return iso ? Math.floor(Date.parse(iso) / 1000) : 0;
}
