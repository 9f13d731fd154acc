/**
 * The Proxmox ACL path tree and the spelling of user, token and group ids.
 * Sources: `normalize_path`, `check_path`, `find_acl_tree_node` (AccessControl.pm, PVE 9.x), `PVE::Auth::Plugin`
 * regexes and `verify_username`, `PVE::Tools::split_list`.
 */
import type { ResourceKind } from '../../domain/access/model.ts';

/**
 * Perl's `\s` on the byte strings `parse_user_config` reads (no `unicode_strings`): ASCII whitespace only.
 * JavaScript's `\s` and `trim()` also take a no-break space, a BOM and other Unicode spaces, which Proxmox
 * keeps as part of a name; every pattern here that mirrors a Perl `\s` uses this class instead.
 */
export const PERL_SPACE = '\\t\\n\\v\\f\\r ';
const LEADING_SPACE = new RegExp(`^[${PERL_SPACE}]+`);
const TRAILING_SPACE = new RegExp(`[${PERL_SPACE}]+$`);

/** `s/^\s+//; s/\s+$//` with Perl's `\s`. */
export function perlTrim(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

/**
 * Perl truthiness of a string: only `''` and `'0'` are false. It matters because the `verify_*` helpers
 * return the name they accept and `parse_user_config` tests that return value, so a name `0` is refused.
 */
export function perlTrue(s: string | undefined): s is string {
  return s !== undefined && s !== '' && s !== '0';
}

const LIST_SEPARATOR = new RegExp(`[,;${PERL_SPACE}]+`);

/** `PVE::Tools::split_list`: commas, semicolons or (Perl) whitespace. */
export function splitList(s: string | undefined): string[] {
  return (s ?? '').split(LIST_SEPARATOR).filter(Boolean);
}

/** `normalize_path`: collapse `//`, drop a trailing `/`, force a leading `/`, restrict characters. */
export function normalizePath(raw: string): string | undefined {
  if (!perlTrue(raw)) return undefined; // `return undef if !$path`: '0' too
  let path = raw.replace(/\/+/g, '/').replace(/\/$/, '');
  if (!path) path = '/';
  if (!path.startsWith('/')) path = `/${path}`;
  return /^[A-Za-z0-9.\-_/]+$/.test(path) ? path : undefined;
}

const NAME = '[A-Za-z0-9.\\-_]+';
/** `check_path` of PVE 9.x: the paths an ACL may be set on through the API. */
const CHECK_PATH = new RegExp((
  '^(?:/|/access|/access/groups|/access/groups/N|/access/realm|/access/realm/N|/mapping|/mapping/N|/mapping/N/N'
    + '|/nodes|/nodes/N|/pool|/pool/N|/pool/N/N|/pool/N/N/N|/sdn|/sdn/controllers|/sdn/controllers/N|/sdn/dns'
    + '|/sdn/dns/N|/sdn/fabrics|/sdn/fabrics/N|/sdn/ipams|/sdn/ipams/N|/sdn/prefix-lists|/sdn/prefix-lists/N'
    + '|/sdn/route-maps|/sdn/route-maps/N|/sdn/zones|/sdn/zones/N|/sdn/zones/N/N|/sdn/zones/N/N/[1-9][0-9]{0,3}'
    + '|/storage|/storage/N|/vms|/vms/[1-9][0-9]{2,})$').replaceAll('N', NAME),
);

export function checkPath(path: string): boolean {
  return CHECK_PATH.test(path);
}

/**
 * The ACL tree node a normalized path is stored on. `find_acl_tree_node` skips every false path
 * component (`next if !$p`), so a component `0` is dropped: an entry for `/vms/0` sits on `/vms`, one for
 * `/0` on `/`, and it applies there. `roles()` itself descends into `0` and finds nothing below it.
 */
export function aclNodePath(path: string): string {
  const parts = path.split('/').filter(perlTrue);
  return `/${parts.join('/')}`;
}

/** `/vms/100/a` → [`/`, `/vms`, `/vms/100`, `/vms/100/a`]: the levels `roles()` walks. */
export function pathLevels(path: string): string[] {
  if (path === '/') return ['/'];
  const parts = path.split('/').filter(Boolean);
  return ['/', ...parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`)];
}

/** True when `path` is the last of its own `pathLevels` (leading `/`, no `//`, no trailing `/`). */
export function isLevel(path: string): boolean {
  return path === '/' || (path.startsWith('/') && !path.endsWith('/') && !path.includes('//'));
}

export function parentPath(path: string): string | undefined {
  if (isLevel(path)) return path === '/' ? undefined : path.slice(0, Math.max(1, path.lastIndexOf('/')));
  const levels = pathLevels(path);
  return levels.length > 1 ? levels[levels.length - 2] : undefined;
}

export function resourceKind(path: string): ResourceKind {
  if (path === '/') return 'root';
  const [top, id] = path.split('/').filter(Boolean);
  const leaf = id !== undefined;
  switch (top) {
    case 'vms': return leaf ? 'vm' : 'folder';
    case 'storage': return leaf ? 'storage' : 'folder';
    case 'nodes': return leaf ? 'host' : 'folder';
    case 'pool': return leaf ? 'pool' : 'folder';
    case 'sdn': return 'network';
    case 'access': return 'access';
    default: return 'other';
  }
}

/** `user@realm` as `verify_username` reads it: any non-space, non-`:`, non-`/` name, then a realm. */
export const USER_RE = new RegExp(`^[^${PERL_SPACE}:/]+@[A-Za-z][A-Za-z0-9.\\-_]+$`);
/** `user@realm!tokenid` (`$token_full_regex`). */
export const TOKEN_RE = new RegExp(`^([^${PERL_SPACE}:/]+@[A-Za-z][A-Za-z0-9.\\-_]+)!([A-Za-z][A-Za-z0-9.\\-_]+)$`);
/** `verify_groupname`. */
export const GROUP_RE = /^[A-Za-z0-9.\-_]+$/;
/** Pools nest up to three levels (pve-access-control 8.0.7). */
export const POOL_RE = /^[A-Za-z0-9.\-_]+(?:\/[A-Za-z0-9.\-_]+){0,2}$/;
export const STORAGE_RE = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;

/**
 * `verify_username` (Auth/Plugin.pm): 3 to 64 long, counted in bytes since Perl reads user.cfg as bytes,
 * and `USER_RE`.
 */
export function isUsername(id: string): boolean {
  const len = Buffer.byteLength(id, 'utf8');
  return len >= 3 && len <= 64 && USER_RE.test(id);
}

/** `verify_groupname` as `parse_user_config` tests it (the returned name must be true: not `0`). */
export function isGroupName(name: string): boolean {
  return perlTrue(name) && GROUP_RE.test(name);
}

/** `verify_poolname` as `parse_user_config` tests it. */
export function isPoolName(name: string): boolean {
  return perlTrue(name) && POOL_RE.test(name);
}

export type UgidKind = 'user' | 'token' | 'group';

/**
 * Classify a principal as written in a change or an ACL. Groups appear as `@ops` in user.cfg and as
 * `ops` in the model; a group name can never contain `@`, so the two never collide with users.
 */
export function classifyUgid(ugid: string): { kind: UgidKind; id: string } | undefined {
  if (TOKEN_RE.test(ugid)) return { kind: 'token', id: ugid };
  if (isUsername(ugid)) return { kind: 'user', id: ugid };
  const group = ugid.startsWith('@') ? ugid.slice(1) : ugid;
  return isGroupName(group) ? { kind: 'group', id: group } : undefined;
}

/** The spelling user.cfg and `pveum` use: groups get their `@`. */
export function ugidInCfg(kind: UgidKind, id: string): string {
  return kind === 'group' ? `@${id}` : id;
}
