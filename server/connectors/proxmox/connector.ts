/**
 * The Proxmox VE connector: reads a cluster's access state through its REST API (as the `user.cfg` the
 * Proxmox importer reads) and applies approved ACL changes with `PUT /access/acl`. Authenticates with an
 * API token (`Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`). docs/backends/proxmox.md,
 * "Connector (apply and read)", lists the calls, the token's privileges and what is untested.
 *
 * Error kinds: a 401 is 'auth'; a 403 or a 400 (Proxmox's parameter and subset checks) is 'refused' with
 * Proxmox's message; a 500 whose message is one of the handler's own refusals (`... does not exist`,
 * `... already exists`: ACL.pm and Role.pm `die` inside `lock_user_config`, which pveproxy answers with 500)
 * is 'refused' too; connection failures, timeouts and any other 5xx are 'unreachable' (transient); a
 * response over 20 MB is 'too_large'.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AccessModel, Backend, ChangeSet, GrantSpec, NativeFile } from '../../domain/access/model.ts';
import { baseUrl, onlyKnownFields, transportFields } from '../connection.ts';
import { ConnectorError, describeGrant, diffPlan } from '../types.ts';
import type { Connector, ConnectorFactory, ParsedConnection, PlanStep } from '../types.ts';
import { classifyUgid, TOKEN_RE } from '../../backends/proxmox/paths.ts';
import { BUILTIN_ROLES, ROOT_USER } from '../../backends/proxmox/privileges.ts';

/** The most one response, or one whole read, may hold. */
export const MAX_RESPONSE_BYTES = 20 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

interface PveConnection {
  url: string;
  tokenId: string;
  insecure: boolean;
  timeoutMs: number;
}

type UgidParam = 'users' | 'groups' | 'tokens';

/** A step's payload: what one API call does. JSON only (steps are stored and resumed). */
export type PveStepNative =
  | { kind: 'acl'; path: string; param: UgidParam; ugid: string; role: string; propagate: boolean; delete: boolean }
  | { kind: 'role'; roleid: string; privs: string[] };

const invalid = (message: string): ConnectorError => new ConnectorError('invalid', message);

function parseConnection(input: Record<string, unknown>): ParsedConnection {
  onlyKnownFields(input, ['url', 'tokenId', 'tokenSecret', 'insecure', 'timeoutMs'], 'Proxmox');
  const { tokenId, tokenSecret } = input;
  const base = baseUrl(input.url, 'the Proxmox API address, e.g. https://pve1.example:8006', /\/api2\/json$/);
  if (typeof tokenId !== 'string' || !TOKEN_RE.test(tokenId)) throw invalid('tokenId is required: the full API token id, user@realm!tokenname');
  if (typeof tokenSecret !== 'string' || !/^[\x21-\x7e]+$/.test(tokenSecret)) throw invalid('tokenSecret is required: the API token secret (printable, no spaces)');
  return { connection: { url: base, tokenId, ...transportFields(input.insecure, input.timeoutMs) }, secrets: { tokenSecret } };
}

/** Handler refusals pveproxy reports as 500 (a plain `die` in the API handler): permanent, not an outage. */
const REFUSAL_500 = /(?:does not exist|already exists|^no such (?:user|token)|is not a valid token ID)/;

/** Transport errors, by Node's code: all are "the target cannot be reached now", except TLS trust failures. */
const TLS_TRUST = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

interface RawResponse { status: number; statusText: string; text: string }

/** One HTTP exchange, bounded in size and time. Shared with nothing: the budget is per read. */
function exchange(conn: PveConnection, secret: string, method: string, path: string, params: Record<string, string>, budget: { left: number }): Promise<RawResponse> {
  const form = new URLSearchParams(params).toString();
  const url = new URL(`${conn.url}/api2/json${path}${method === 'GET' && form ? `?${form}` : ''}`);
  const body = method === 'GET' ? undefined : form;
  const headers: Record<string, string> = {
    // extract_auth_value uri-unescapes the value (pve-http-server Formatter.pm :85).
    Authorization: `PVEAPIToken=${encodeURIComponent(conn.tokenId)}=${encodeURIComponent(secret)}`,
    Accept: 'application/json',
  };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    headers['Content-Length'] = String(Buffer.byteLength(body));
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers, timeout: conn.timeoutMs, ...(url.protocol === 'https:' ? { rejectUnauthorized: !conn.insecure } : {}) }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > budget.left) {
        res.destroy();
        return reject(new ConnectorError('too_large', `Proxmox answered ${method} ${path} with ${declared} bytes; the limit is ${MAX_RESPONSE_BYTES}`));
      }
      res.on('data', (c: Buffer) => {
        budget.left -= c.length;
        if (budget.left < 0) {
          res.destroy();
          return reject(new ConnectorError('too_large', `Proxmox's answer to ${method} ${path} is over ${MAX_RESPONSE_BYTES} bytes`));
        }
        chunks.push(c);
      });
      res.on('error', (err) => reject(new ConnectorError('unreachable', `Proxmox ${method} ${path}: connection lost: ${err.message}`)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${conn.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof ConnectorError) return reject(err);
      const code = err.code ?? '';
      if (TLS_TRUST.has(code)) return reject(new ConnectorError('invalid', `Proxmox at ${conn.url}: TLS certificate not trusted (${code}); install its CA or set insecure`));
      reject(new ConnectorError('unreachable', `Proxmox at ${conn.url} unreachable: ${code ? `${code} ` : ''}${err.message}`));
    });
    req.end(body);
  });
}

/** Turns an HTTP answer into data or a ConnectorError, as docs/backends/proxmox.md describes. */
function interpret(method: string, path: string, r: RawResponse): unknown {
  let json: { data?: unknown; errors?: Record<string, unknown>; message?: unknown } | undefined;
  try {
    json = r.text ? (JSON.parse(r.text) as typeof json) : undefined;
  } catch {
    json = undefined;
  }
  const message = (typeof json?.message === 'string' ? json.message : r.statusText).trim();
  const errors = json?.errors ? Object.entries(json.errors).map(([k, v]) => `${k}: ${String(v).trim()}`).join('; ') : '';
  const what = `Proxmox ${method} ${path}: ${r.status} ${message}${errors ? ` (${errors})` : ''}`;
  if (r.status === 200) {
    if (!json || !('data' in json)) throw invalid(`Proxmox ${method} ${path}: the answer is not Proxmox JSON`);
    return json.data;
  }
  if (r.status === 401) throw new ConnectorError('auth', what);
  if (r.status === 403 || r.status === 400) throw new ConnectorError('refused', what);
  if (r.status === 500 && REFUSAL_500.test(message.replace(/^[^:]*failed: /, ''))) throw new ConnectorError('refused', what);
  if (r.status >= 500 && r.status !== 501) throw new ConnectorError('unreachable', what);
  throw invalid(what);
}

/** PVE::Tools::encode_text: what `write_user_config` does to names and comments (`:` and non-ASCII escaped). */
function encodeText(text: unknown): string {
  if (typeof text !== 'string' || text === '') return '';
  return [...Buffer.from(text, 'utf8')].map((b) => ((b >= 0x20 && b <= 0x39) || (b >= 0x3b && b <= 0x7e) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** An id Proxmox validated; checked again, because a `:` or a newline in it would forge user.cfg lines. */
function id(value: unknown, what: string): string {
  if (typeof value !== 'string' || !/^[^\s:,;]+$/.test(value)) throw invalid(`Proxmox returned an invalid ${what}: ${JSON.stringify(value)}`);
  return value;
}
const list = (value: unknown, what: string): string[] => (typeof value === 'string' ? value.split(/[,;\s]+/).filter(Boolean).map((v) => id(v, what)) : []);
const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : Number(value ?? 0) || 0);
const flag = (value: unknown): 0 | 1 => (value === true || value === 1 || value === '1' ? 1 : 0);
/** E-mail and keys are written unencoded by Proxmox; refuse what would break the line. */
function raw(value: unknown, what: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string' || /[:\n\r]/.test(value)) throw invalid(`Proxmox returned an invalid ${what}: ${JSON.stringify(value)}`);
  return value;
}
type Row = Record<string, unknown>;
function arrayOf(value: unknown, what: string): Row[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'object' || v === null)) throw invalid(`Proxmox returned no list for ${what}`);
  return value as Record<string, unknown>[];
}
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

/** The API's view, written as `write_user_config` (AccessControl.pm) writes user.cfg. */
function buildUserCfg(users: unknown, groups: unknown, roles: unknown, pools: { poolid: string; comment?: unknown; members: Record<string, unknown>[] }[], acl: unknown): string {
  let data = '';
  const userRows = arrayOf(users, 'users').map((u): Row & { userid: string } => ({ ...u, userid: id(u.userid, 'user id') }));
  for (const u of userRows.sort((a, b) => (a.userid < b.userid ? -1 : 1))) {
    data += `user:${u.userid}:${flag(u.enable)}:${num(u.expire)}:${encodeText(u.firstname)}:${encodeText(u.lastname)}:${raw(u.email, 'e-mail')}:${encodeText(u.comment)}:${raw(u.keys, 'keys')}:\n`;
    const tokens = u.tokens === undefined ? [] : arrayOf(u.tokens, `tokens of ${u.userid}`).map((t): Row & { tokenid: string } => ({ ...t, tokenid: id(t.tokenid, 'token id') }));
    for (const t of tokens.sort((a, b) => (a.tokenid < b.tokenid ? -1 : 1))) {
      data += `token:${u.userid}!${t.tokenid}:${num(t.expire)}:${flag(t.privsep)}:${encodeText(t.comment)}:\n`;
    }
  }
  data += '\n';
  const groupRows = arrayOf(groups, 'groups').map((g): Row & { groupid: string } => ({ ...g, groupid: id(g.groupid, 'group id') }));
  for (const g of groupRows.sort((a, b) => (a.groupid < b.groupid ? -1 : 1))) {
    data += `group:${g.groupid}:${sorted(list(g.users, 'group member')).join(',')}:${encodeText(g.comment)}:\n`;
  }
  data += '\n';
  for (const p of [...pools].sort((a, b) => (a.poolid < b.poolid ? -1 : 1))) {
    const vms = p.members.filter((m) => m.type === 'qemu' || m.type === 'lxc' || m.type === 'openvz').map((m) => id(String(m.vmid), 'vmid'));
    const stores = p.members.filter((m) => m.type === 'storage').map((m) => id(m.storage, 'storage id'));
    data += `pool:${p.poolid}:${encodeText(p.comment)}:${sorted(vms).join(',')}:${sorted(stores).join(',')}:\n`;
  }
  data += '\n';
  const roleRows = arrayOf(roles, 'roles').map((r): Row & { roleid: string } => ({ ...r, roleid: id(r.roleid, 'role id') }));
  // `next if $special_roles->{$role}`: built-in roles are never written (the importer defines them).
  for (const r of roleRows.filter((x) => !flag(x.special) && !BUILTIN_ROLES.has(x.roleid)).sort((a, b) => (a.roleid < b.roleid ? -1 : 1))) {
    data += `role:${r.roleid}:${sorted(list(r.privs, 'privilege')).join(',')}:\n`;
  }
  data += '\n';
  // ACL lines: per path, members with the same role list (per propagate flag) share a line.
  const byPath = new Map<string, Map<string, Map<string, 0 | 1>>>();
  for (const e of arrayOf(acl, 'ACL entries')) {
    const path = e.path;
    if (typeof path !== 'string' || !/^\/[A-Za-z0-9.\-_/]*$/.test(path)) throw invalid(`Proxmox returned an invalid ACL path: ${JSON.stringify(path)}`);
    const ugid = id(e.ugid, 'ACL member');
    if (e.type === 'user' && ugid === ROOT_USER) continue; // "no need to save 'root@pam', it is always 'Administrator'"
    const member = e.type === 'group' ? `@${ugid}` : e.type === 'user' || e.type === 'token' ? ugid : undefined;
    if (member === undefined) throw invalid(`Proxmox returned an ACL entry of unknown type ${JSON.stringify(e.type)}`);
    const members = byPath.get(path) ?? new Map<string, Map<string, 0 | 1>>();
    const roleMap = members.get(member) ?? new Map<string, 0 | 1>();
    roleMap.set(id(e.roleid, 'role id'), flag(e.propagate));
    members.set(member, roleMap);
    byPath.set(path, members);
  }
  for (const path of sorted(byPath.keys())) {
    const byList: Record<0 | 1, Map<string, string[]>> = { 0: new Map(), 1: new Map() };
    for (const [member, roleMap] of byPath.get(path) ?? []) {
      for (const prop of [0, 1] as const) {
        const roleList = sorted([...roleMap].filter(([, p]) => p === prop).map(([r]) => r)).join(',');
        if (roleList) byList[prop].set(roleList, [...(byList[prop].get(roleList) ?? []), member]);
      }
    }
    for (const prop of [0, 1] as const) {
      for (const roleList of sorted(byList[prop].keys())) data += `acl:${prop}:${path}:${sorted(byList[prop].get(roleList) ?? []).join(',')}:${roleList}:\n`;
    }
  }
  return data;
}

/** The ACL entry a grant is, in PUT /access/acl's terms. */
function aclOf(g: GrantSpec): { param: UgidParam; ugid: string; role: string } {
  const c = classifyUgid(g.principal);
  if (!c) throw invalid(`'${g.principal}' is not a Proxmox user, token or group`);
  if (g.role === undefined) throw invalid(`the grant ${describeGrant(g)} has no Proxmox role: the backend resolves privileges to a role before apply`);
  return { param: c.kind === 'token' ? 'tokens' : c.kind === 'group' ? 'groups' : 'users', ugid: c.id, role: g.role };
}

/**
 * The plan: custom roles the desired state defines and the target lacks (`POST /access/roles`) first,
 * then diffPlan's removals and additions as single ACL calls. A grant whose only difference is its
 * propagate flag is one call, not a removal and an addition: Proxmox keeps one flag per (path, member,
 * role) and `PUT /access/acl` overwrites it, so the member never goes without access in between.
 */
function plan(observed: AccessModel, desired: AccessModel, change: ChangeSet): PlanStep[] {
  const steps = diffPlan(observed, desired, change);
  const key = (g: GrantSpec): string => { const a = aclOf(g); return JSON.stringify([g.resource, a.param, a.ugid, a.role]); };
  const adds = new Map(steps.filter((s) => s.op === 'add' && s.grant).map((s) => [key(s.grant as GrantSpec), s]));
  const out: PlanStep[] = [];
  for (const s of steps) {
    const g = s.grant as GrantSpec;
    const a = aclOf(g);
    const native: PveStepNative = { kind: 'acl', path: g.resource, param: a.param, ugid: a.ugid, role: a.role, propagate: g.propagate, delete: s.op === 'remove' };
    if (s.op === 'remove') {
      const replacing = adds.get(key(g));
      if (replacing) {
        replacing.itemIds = [...new Set([...replacing.itemIds, ...s.itemIds])];
        replacing.describe = `set propagate ${replacing.grant?.propagate ? 1 : 0} on ${describeGrant(replacing.grant as GrantSpec)} (was ${g.propagate ? 1 : 0})`;
        continue;
      }
    }
    out.push({ ...s, native });
  }
  const haveRoles = new Set(observed.roles.map((r) => r.name));
  const roleSteps: PlanStep[] = desired.roles
    .filter((r) => !r.builtin && !haveRoles.has(r.name) && out.some((s) => s.op === 'add' && s.grant?.role === r.name))
    .map((r) => ({
      id: `role:${r.name}`,
      itemIds: [...new Set(out.filter((s) => s.op === 'add' && s.grant?.role === r.name).flatMap((s) => s.itemIds))],
      op: 'add' as const,
      describe: `create role ${r.name} with privileges ${[...r.privileges].sort().join(', ')}`,
      native: { kind: 'role', roleid: r.name, privs: [...r.privileges].sort() } satisfies PveStepNative,
    }));
  return [...roleSteps, ...out];
}

function stepNative(step: PlanStep): PveStepNative {
  const n = step.native as Partial<PveStepNative> | undefined;
  if (n?.kind === 'acl' && typeof n.path === 'string' && typeof n.ugid === 'string' && typeof n.role === 'string'
    && (n.param === 'users' || n.param === 'groups' || n.param === 'tokens') && typeof n.propagate === 'boolean' && typeof n.delete === 'boolean') return n as PveStepNative;
  if (n?.kind === 'role' && typeof n.roleid === 'string' && Array.isArray(n.privs)) return n as PveStepNative;
  throw invalid(`step ${step.id} carries no Proxmox operation`);
}

class ProxmoxConnector implements Connector {
  #conn: PveConnection;
  #secret: string;

  constructor(conn: PveConnection, secret: string) {
    this.#conn = conn;
    this.#secret = secret;
  }

  async #call(method: string, path: string, params: Record<string, string> = {}, budget = { left: MAX_RESPONSE_BYTES }): Promise<unknown> {
    return interpret(method, path, await exchange(this.#conn, this.#secret, method, path, params, budget));
  }

  async read(): Promise<NativeFile[]> {
    const budget = { left: MAX_RESPONSE_BYTES }; // one bound for the whole read
    // GET /access/acl lists only paths the caller may modify unless it has Sys.Audit on /access (ACL.pm :74-85),
    // and GET /access/users every user only with Sys.Audit on /access/groups (User.pm :235-245): a token
    // without them would read part of the state and understate who has access.
    for (const path of ['/access', '/access/groups']) {
      const perms = await this.#call('GET', '/access/permissions', { path }, budget) as Record<string, Record<string, unknown>> | null;
      if (!perms?.[path] || !('Sys.Audit' in perms[path])) {
        throw new ConnectorError('refused', `the API token ${this.#conn.tokenId} lacks Sys.Audit on ${path}: Proxmox would list only part of the users and ACL entries`);
      }
    }
    const users = await this.#call('GET', '/access/users', { full: '1' }, budget);
    const groups = await this.#call('GET', '/access/groups', {}, budget);
    const roles = await this.#call('GET', '/access/roles', {}, budget);
    const pools: { poolid: string; comment?: unknown; members: Record<string, unknown>[] }[] = [];
    for (const p of arrayOf(await this.#call('GET', '/pools', {}, budget), 'pools')) {
      const poolid = id(p.poolid, 'pool id');
      const detail = arrayOf(await this.#call('GET', '/pools', { poolid }, budget), `pool ${poolid}`)[0];
      pools.push({ poolid, comment: p.comment, members: detail?.members === undefined ? [] : arrayOf(detail.members, `members of pool ${poolid}`) });
    }
    const acl = await this.#call('GET', '/access/acl', {}, budget);
    return [{ path: 'user.cfg', text: buildUserCfg(users, groups, roles, pools, acl) }];
  }

  plan(observed: AccessModel, desired: AccessModel, change: ChangeSet): PlanStep[] {
    return plan(observed, desired, change);
  }

  async apply(step: PlanStep): Promise<void> {
    const n = stepNative(step);
    if (n.kind === 'role') return this.#createRole(n.roleid, n.privs);
    const params: Record<string, string> = { path: n.path, roles: n.role, [n.param]: n.ugid, propagate: n.propagate ? '1' : '0' };
    if (n.delete) params.delete = '1';
    try {
      await this.#call('PUT', '/access/acl', params);
    } catch (err) {
      // Deleting a user, group, token or role deletes its ACL entries (AccessControl.pm delete_user_acl,
      // delete_group_acl, delete_role_acl): the entry a removal targets is then already gone.
      if (n.delete && err instanceof ConnectorError && err.kind === 'refused' && / does not exist|no such (?:user|token)/.test(err.message)) return;
      throw err;
    }
  }

  async #createRole(roleid: string, privs: string[]): Promise<void> {
    try {
      await this.#call('POST', '/access/roles', { roleid, privs: privs.join(',') });
    } catch (err) {
      if (!(err instanceof ConnectorError && err.kind === 'refused' && /already exists/.test(err.message))) throw err;
      // Created by an earlier attempt (or by someone else): fine if it holds exactly these privileges.
      const existing = arrayOf(await this.#call('GET', '/access/roles'), 'roles').find((r) => r.roleid === roleid);
      const have = sorted(list(existing?.privs, 'privilege')).join(',');
      if (have !== sorted(privs).join(',')) throw new ConnectorError('conflict', `role ${roleid} exists on the target with privileges ${have || '(none)'}, not ${sorted(privs).join(',')}`);
    }
  }

  async close(): Promise<void> {
    // Stateless: every call carries the token; no session to end.
  }
}

export const proxmoxConnector: ConnectorFactory = {
  backend: 'proxmox',
  parseConnection,
  open(parsed: ParsedConnection, _backend: Backend): Connector {
    const c = parsed.connection;
    const secret = parsed.secrets.tokenSecret;
    if (typeof c.url !== 'string' || typeof c.tokenId !== 'string' || typeof secret !== 'string') throw invalid('Proxmox connection lacks url, tokenId or tokenSecret');
    return new ProxmoxConnector({ url: c.url, tokenId: c.tokenId, insecure: c.insecure === true, timeoutMs: typeof c.timeoutMs === 'number' ? c.timeoutMs : DEFAULT_TIMEOUT_MS }, secret);
  },
};
