/**
 * A FAKE Proxmox VE API server, for connector tests only: no Proxmox can run here. Plain HTTP on 127.0.0.1.
 *
 * Its state is the text of `/etc/pve/user.cfg`. Every request reads it (`cfs_read_file`) and every write
 * writes it back (`cfs_write_file`), as pvedaemon does. Tests read and inject that text directly (`userCfg`,
 * `setUserCfg`, `edit`) to simulate drift: an edit made outside Accord.
 *
 * Upstream sources it follows (pve-access-control 9.1.1, commit 5ccd07d; pve-http-server 5c9e4ea;
 * pve-manager 14a22df3; pve-common HEAD of the stored snapshot). Line numbers are those files' lines:
 * - `PUT /access/acl`, `GET /access/acl`: src/PVE/API2/ACL.pm `update_acl` (:107-268) and `read_acl` (:34-105).
 *   Parameter checks before the lock (:155-167, `raise_param_exc` → 400); the write inside
 *   `lock_user_config(..., "ACL update failed")` (:169-264), so a missing role, group, user or token is a
 *   plain `die` → **HTTP 500** with the message `ACL update failed: role 'X' does not exist`
 *   (AccessControl.pm `lock_user_config` :81-93, `check_token_exist` :705-717); the subset rule for a caller
 *   without `Permissions.Modify` (:189-222, 400 "Cannot add role ..."). Delete of an absent entry is a no-op
 *   (Perl `delete`). The `perm-modify` permission check (RPCEnvironment.pm `check_perm_modify` :442-457 →
 *   `raise_perm_exc` → 403 "Permission check failed (<path>, Permissions.Modify|VM.Allocate)").
 * - `GET /access/users`: src/PVE/API2/User.pm `index` (:154-282), `$extract_user_data` (:137-152).
 * - `GET /access/groups`: src/PVE/API2/Group.pm `index`; `GET /access/roles`, `POST /access/roles`: Role.pm.
 * - `GET /access/permissions`: src/PVE/API2/AccessControl.pm `permissions` (:510-574).
 * - `GET /pools[?poolid=]`: pve-manager PVE/API2/Pool.pm `index` (:20-140). Every VM of a pool is reported
 *   as an existing `qemu` guest on node `pve`, every storage as existing.
 * - user.cfg text: AccessControl.pm `parse_user_config` (:1409-1650, a subset: the fake reads the files it
 *   writes and well-formed hand edits) and `write_user_config` (:1652-1760, exactly), `encode_text`.
 * - Auth: pve-manager PVE/HTTPServer.pm `auth_handler` (:54-130: a bad API token → `die "Authentication
 *   failed!\n"`), pve-http-server AnyEvent.pm (:1590-1650: 401 with that message as status text, no body),
 *   `extract_auth_value` (Formatter.pm :78-88), AccessControl.pm `verify_token` (:487-515).
 * - Responses: pve-http-server Formatter/Standard.pm `prepare_response_data` (:14-51): `{"data": ...}`,
 *   plus `errors` and `message` on failure; the status text is the first line of the message
 *   (AnyEvent.pm :305-315); pve-common Exception.pm `raise_param_exc` / `raise_perm_exc`; JSONSchema.pm
 *   (`invalid format - ...`, `property is missing and it is not optional`).
 *
 * Not reproduced: the 3 s delay Proxmox adds to a 401 (`authDelayMs`, default 0), tickets and CSRF,
 * cluster-wide locking (one process, one async mutex), realms (`domains.cfg`), TFA, the propagate half of
 * the subset rule (ACL.pm :203-212). Effective privileges for the permission checks come from Accord's own
 * Proxmox resolver (server/backends/proxmox/resolve.ts), which test/backends/proxmox/upstream.test.ts checks
 * against upstream's perm-tests.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { backend as proxmoxBackend } from '../../server/backends/proxmox/index.ts';
import { checkPath, isGroupName, isUsername, normalizePath, splitList, TOKEN_RE } from '../../server/backends/proxmox/paths.ts';
import { BUILTIN_ROLES, ROLE_NAME_RE, ROOT_USER, VALID_PRIVILEGES } from '../../server/backends/proxmox/privileges.ts';

/** `$cfg` as parse_user_config builds it. */
export interface PveUser {
  enable: 0 | 1;
  expire: number;
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
  keys?: string;
  groups: Set<string>;
  tokens: Map<string, { privsep: 0 | 1; expire: number; comment?: string }>;
}
export interface PveAclNode {
  users: Map<string, Map<string, 0 | 1>>;
  groups: Map<string, Map<string, 0 | 1>>;
  tokens: Map<string, Map<string, 0 | 1>>;
}
export interface PveCfg {
  users: Map<string, PveUser>;
  groups: Map<string, { users: Set<string>; comment?: string }>;
  /** Built-in roles included, as `userconfig_force_defaults` puts them there. */
  roles: Map<string, Set<string>>;
  pools: Map<string, { comment?: string; vms: Set<string>; storage: Set<string> }>;
  acl: Map<string, PveAclNode>;
}

class HttpError extends Error {
  readonly status: number;
  readonly errors: Record<string, string> | undefined;
  constructor(status: number, message: string, errors?: Record<string, string>) {
    super(message);
    this.status = status;
    this.errors = errors;
  }
}
/** `raise_param_exc` (pve-common Exception.pm :78-92). */
const paramExc = (errors: Record<string, string>): HttpError => new HttpError(400, 'Parameter verification failed.\n', errors);
/** `raise_perm_exc` (Exception.pm :53-67). */
const permExc = (what: string): HttpError => new HttpError(403, `Permission check failed (${what})\n`);

/** PVE::Tools::encode_text: every byte outside 0x20-0x39, 0x3b-0x7e (so `:` too) percent-encoded, as UTF-8. */
export function encodeText(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => ((b >= 0x20 && b <= 0x39) || (b >= 0x3b && b <= 0x7e) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}
function decodeText(text: string): string {
  return Buffer.from(text.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}

const truthy = (s: string | undefined): boolean => s !== undefined && s !== '' && s !== '0';

function emptyNode(): PveAclNode {
  return { users: new Map(), groups: new Map(), tokens: new Map() };
}

/** A subset of `parse_user_config` (AccessControl.pm :1409-1650): enough for the files this fake writes. */
export function parseCfg(text: string): PveCfg {
  const cfg: PveCfg = { users: new Map(), groups: new Map(), roles: new Map(), pools: new Map(), acl: new Map() };
  for (const [name, privs] of BUILTIN_ROLES) cfg.roles.set(name, new Set(privs));
  cfg.users.set(ROOT_USER, { enable: 1, expire: 0, groups: new Set(), tokens: new Map() }); // userconfig_force_defaults
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const [type, ...f] = line.split(':').map((s) => s.trim());
    if (type === 'user') {
      const [id = '', enable, expire, firstname, lastname, email, comment, keys] = f;
      if (!isUsername(id)) continue;
      cfg.users.set(id, {
        enable: truthy(enable) ? 1 : 0, expire: Number(expire || 0), groups: new Set(), tokens: new Map(),
        ...(firstname ? { firstname: decodeText(firstname) } : {}), ...(lastname ? { lastname: decodeText(lastname) } : {}),
        ...(email ? { email } : {}), ...(comment ? { comment: decodeText(comment) } : {}), ...(keys ? { keys } : {}),
      });
    } else if (type === 'token') {
      const [id = '', expire, privsep, comment] = f;
      const m = TOKEN_RE.exec(id);
      const user = m ? cfg.users.get(m[1] ?? '') : undefined;
      if (!m || !user) continue;
      user.tokens.set(m[2] ?? '', { privsep: truthy(privsep) ? 1 : 0, expire: Number(expire || 0), ...(comment ? { comment: decodeText(comment) } : {}) });
    } else if (type === 'group') {
      const [name = '', members, comment] = f;
      if (!isGroupName(name)) continue;
      const g = cfg.groups.get(name) ?? { users: new Set<string>() };
      if (comment) g.comment = decodeText(comment);
      for (const u of splitList(members)) {
        g.users.add(u);
        cfg.users.get(u)?.groups.add(name);
      }
      cfg.groups.set(name, g);
    } else if (type === 'role') {
      const [name = '', privs] = f;
      if (!ROLE_NAME_RE.test(name)) continue;
      const set = cfg.roles.get(name) ?? new Set<string>();
      for (const p of splitList(privs)) if (VALID_PRIVILEGES.has(p)) set.add(p);
      cfg.roles.set(name, set);
    } else if (type === 'pool') {
      const [name = '', comment, vms, stores] = f;
      const p = cfg.pools.get(name) ?? { vms: new Set<string>(), storage: new Set<string>() };
      if (comment) p.comment = decodeText(comment);
      for (const v of splitList(vms)) p.vms.add(String(Number(v)));
      for (const s of splitList(stores)) p.storage.add(s);
      cfg.pools.set(name, p);
    } else if (type === 'acl') {
      const [prop, rawPath = '', ugids, roles] = f;
      const path = normalizePath(rawPath);
      if (!path) continue;
      const node = cfg.acl.get(path) ?? emptyNode();
      for (const role of splitList(roles)) {
        if (!cfg.roles.has(role)) continue;
        for (const ug of splitList(ugids)) {
          const kind = ug.startsWith('@') ? 'groups' : TOKEN_RE.test(ug) ? 'tokens' : 'users';
          const id = kind === 'groups' ? ug.slice(1) : ug;
          const entry = node[kind].get(id) ?? new Map<string, 0 | 1>();
          entry.set(role, truthy(prop) ? 1 : 0);
          node[kind].set(id, entry);
        }
      }
      cfg.acl.set(path, node);
    }
  }
  return cfg;
}

const sortedKeys = (xs: Iterable<string>): string[] => [...xs].sort();

/** `write_user_config` (AccessControl.pm :1652-1760), line for line. */
export function writeCfg(cfg: PveCfg): string {
  let data = '';
  for (const id of sortedKeys(cfg.users.keys())) {
    const d = cfg.users.get(id) as PveUser;
    const enc = (s: string | undefined): string => (s ? encodeText(s) : '');
    data += `user:${id}:${d.enable ? 1 : 0}:${Math.trunc(d.expire || 0)}:${enc(d.firstname)}:${enc(d.lastname)}:${d.email ?? ''}:${enc(d.comment)}:${d.keys ?? ''}:\n`;
    for (const t of sortedKeys(d.tokens.keys())) {
      const td = d.tokens.get(t) as { privsep: 0 | 1; expire: number; comment?: string };
      data += `token:${id}!${t}:${Math.trunc(td.expire || 0)}:${td.privsep ? 1 : 0}:${enc(td.comment)}:\n`;
    }
  }
  data += '\n';
  for (const g of sortedKeys(cfg.groups.keys())) {
    const d = cfg.groups.get(g) as { users: Set<string>; comment?: string };
    data += `group:${g}:${sortedKeys(d.users).join(',')}:${d.comment ? encodeText(d.comment) : ''}:\n`;
  }
  data += '\n';
  for (const p of sortedKeys(cfg.pools.keys())) {
    const d = cfg.pools.get(p) as { comment?: string; vms: Set<string>; storage: Set<string> };
    data += `pool:${p}:${d.comment ? encodeText(d.comment) : ''}:${sortedKeys(d.vms).join(',')}:${sortedKeys(d.storage).join(',')}:\n`;
  }
  data += '\n';
  for (const r of sortedKeys(cfg.roles.keys())) {
    if (BUILTIN_ROLES.has(r)) continue; // `next if $special_roles->{$role}`
    data += `role:${r}:${sortedKeys(cfg.roles.get(r) ?? []).join(',')}:\n`;
  }
  data += '\n';
  for (const path of sortedKeys(cfg.acl.keys())) {
    const node = cfg.acl.get(path) as PveAclNode;
    const byList: Record<0 | 1, Map<string, Set<string>>> = { 0: new Map(), 1: new Map() };
    const collect = (members: Map<string, Map<string, 0 | 1>>, prefix: string, exclude?: string): void => {
      for (const [member, roles] of members) {
        if (member === exclude) continue;
        for (const prop of [0, 1] as const) {
          const list = sortedKeys([...roles].filter(([, p]) => p === prop).map(([r]) => r)).join(',');
          if (!list) continue;
          const set = byList[prop].get(list) ?? new Set<string>();
          set.add(`${prefix}${member}`);
          byList[prop].set(list, set);
        }
      }
    };
    collect(node.groups, '@');
    collect(node.users, '', ROOT_USER); // "no need to save 'root@pam', it is always 'Administrator'"
    collect(node.tokens, '');
    for (const prop of [0, 1] as const) {
      for (const list of sortedKeys(byList[prop].keys())) data += `acl:${prop}:${path}:${sortedKeys(byList[prop].get(list) ?? []).join(',')}:${list}:\n`;
    }
  }
  return data;
}

export interface ProxmoxFakeOptions {
  /** Initial user.cfg text. */
  userCfg?: string;
  /** API token secrets, by full token id (`user@realm!name`). The token must also exist in user.cfg. */
  tokenSecrets?: Record<string, string>;
  /** Delay of a 401, as Proxmox's 3 s (AnyEvent.pm :1627). Default 0 for tests. */
  authDelayMs?: number;
  /** Time each write holds the user.cfg lock, to make concurrent writes overlap in tests. Default 0. */
  writeDelayMs?: number;
}

export interface FakeRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  status: number;
}

/** The fake server. `start()` listens on 127.0.0.1 (port 0 = any free port); `url` is then `http://127.0.0.1:<port>`. */
export class ProxmoxFake {
  #text: string;
  #secrets: Map<string, string>;
  #server: Server | undefined;
  #lock: Promise<void> = Promise.resolve();
  #opts: ProxmoxFakeOptions;
  /** Errors of the fake itself (a bug in it, not an API error): tests assert this stays empty. */
  readonly errors: unknown[] = [];
  /** Every API request answered, in order (for assertions). */
  readonly requests: FakeRequest[] = [];
  /** Answers the next N requests with this HTTP status (e.g. 503 from a proxy in front), then serves normally. */
  failNext: { count: number; status: number; message: string } | undefined;
  /** Called before each API request is handled (a test changes the state between two of Accord's reads). */
  onRequest: ((method: string, path: string) => void) | undefined;
  /** Pads every successful GET response body with this many spaces (to test the connector's size limit). */
  padResponses = 0;
  url = '';

  constructor(opts: ProxmoxFakeOptions = {}) {
    this.#opts = opts;
    this.#text = writeCfg(parseCfg(opts.userCfg ?? ''));
    this.#secrets = new Map(Object.entries(opts.tokenSecrets ?? {}));
  }

  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.errors.push(err);
        res.destroy();
      });
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  }

  /** The current user.cfg, as `write_user_config` writes it. */
  userCfg(): string {
    return this.#text;
  }

  /** Replaces user.cfg (an edit on the host, outside Accord). */
  setUserCfg(text: string): void {
    this.#text = writeCfg(parseCfg(text));
  }

  /** Edits the parsed config in place and writes it back: drift injected without the API. */
  edit(fn: (cfg: PveCfg) => void): void {
    const cfg = parseCfg(this.#text);
    fn(cfg);
    this.#text = writeCfg(cfg);
  }

  setTokenSecret(tokenId: string, secret: string): void {
    this.#secrets.set(tokenId, secret);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    if (req.method === 'PUT' || req.method === 'POST') Object.assign(params, Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    const rel = url.pathname.replace(/^\/api2\/json/, '');
    this.onRequest?.(req.method ?? '', rel);
    const record = (status: number): void => void this.requests.push({ method: req.method ?? '', path: rel, params, status });
    if (this.failNext && this.failNext.count > 0) {
      this.failNext.count -= 1;
      record(this.failNext.status);
      return this.#send(res, this.failNext.status, this.failNext.message, undefined);
    }
    if (!url.pathname.startsWith('/api2/json/')) {
      record(501);
      return this.#send(res, 501, 'no such uri', undefined);
    }
    let authId: string;
    try {
      authId = this.#authenticate(req.headers.authorization);
    } catch (err) {
      record(401);
      // AnyEvent.pm :1643: `HTTP::Response->new(HTTP_UNAUTHORIZED, $err)`: the message is the status text, no body.
      await new Promise((r) => setTimeout(r, this.#opts.authDelayMs ?? 0));
      return this.#send(res, 401, (err as Error).message, undefined);
    }
    try {
      const data = await this.#route(req.method ?? 'GET', rel, params, authId);
      record(200);
      this.#send(res, 200, 'OK', { data }, req.method === 'GET' ? this.padResponses : 0);
    } catch (err) {
      // rest_handler (pve-manager HTTPServer.pm :221-232): a PVE::Exception keeps its code, anything else is a 500.
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      record(status);
      this.#send(res, status, message, { data: null, ...(err instanceof HttpError && err.errors ? { errors: err.errors } : {}), message });
    }
  }

  #send(res: ServerResponse, status: number, message: string, body: unknown, pad = 0): void {
    res.statusCode = status;
    res.statusMessage = (message.split(/[\r\n]/)[0] ?? '') || 'Error'; // AnyEvent.pm :306-315: first line only
    if (body === undefined) return void res.end();
    res.setHeader('Content-Type', 'application/json;charset=UTF-8');
    res.end(JSON.stringify(body) + ' '.repeat(pad));
  }

  /** auth_handler + verify_token: any failure is "Authentication failed!" (HTTPServer.pm :85-91). */
  #authenticate(header: string | undefined): string {
    // extract_auth_value (Formatter.pm :78-88)
    const raw = /(?:^|\s)PVEAPIToken(?:=| )([^;]*)/.exec(header ?? '')?.[1];
    if (!raw) throw new Error('No ticket');
    const value = decodeURIComponent(raw);
    const m = /^(.*)=(.*)$/.exec(value);
    const tokenId = m?.[1] ?? '';
    const t = TOKEN_RE.exec(tokenId);
    const cfg = parseCfg(this.#text);
    const user = t ? cfg.users.get(t[1] ?? '') : undefined;
    const token = user?.tokens.get(t?.[2] ?? '');
    const now = Date.now() / 1000;
    const ok = m && t && user && user.enable && !(user.expire && user.expire < now) && token
      && !(token.expire && token.expire < now) && this.#secrets.get(tokenId) === m[2];
    if (!ok) throw new Error('Authentication failed!');
    return tokenId;
  }

  /** The privileges `permissions($authid, $path)` gives, from Accord's Proxmox resolver on this user.cfg. */
  #privs(authId: string, path: string): Set<string> {
    const model = proxmoxBackend.import([{ path: 'user.cfg', text: this.#text }]);
    return new Set(proxmoxBackend.effective(model, { principals: [authId], resources: [path] }).map((r) => r.privilege));
  }

  /** check_any (RPCEnvironment.pm :307-326). */
  #checkAny(authId: string, path: string, privs: string[], noerr: boolean): boolean {
    const have = this.#privs(authId, path);
    if (privs.some((p) => have.has(p))) return true;
    if (noerr) return false;
    throw permExc(`${path}, ${privs.join('|')}`);
  }

  /** check_perm_modify (RPCEnvironment.pm :442-457). */
  #checkPermModify(authId: string, path: string, noerr: boolean): boolean {
    const test = ['Permissions.Modify'];
    if (/^\/storage\/.+$/.test(path)) test.push('Datastore.Allocate');
    else if (/^\/vms\/.+$/.test(path)) test.push('VM.Allocate');
    else if (/^\/pool\/.+$/.test(path)) test.push('Pool.Allocate');
    return this.#checkAny(authId, path, test, noerr);
  }

  /** lock_user_config (AccessControl.pm :81-93): writes are serialised; a failure is "$errmsg: $err". */
  async #locked<T>(errmsg: string, fn: (cfg: PveCfg) => T): Promise<T> {
    const prev = this.#lock;
    let release = (): void => {};
    this.#lock = new Promise<void>((r) => { release = r; });
    await prev;
    try {
      const cfg = parseCfg(this.#text); // cfs_read_file, inside the lock
      if (this.#opts.writeDelayMs) await new Promise((r) => setTimeout(r, this.#opts.writeDelayMs));
      const out = fn(cfg);
      this.#text = writeCfg(cfg); // cfs_write_file
      return out;
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new Error(`${errmsg}: ${(err as Error).message}`);
    } finally {
      release();
    }
  }

  async #route(method: string, rel: string, params: Record<string, string>, authId: string): Promise<unknown> {
    const key = `${method} ${rel}`;
    if (key === 'GET /access/acl') return this.#readAcl(authId);
    if (key === 'PUT /access/acl') return this.#updateAcl(params, authId);
    if (key === 'GET /access/users') return this.#users(params, authId);
    if (key === 'GET /access/groups') return this.#groups(authId);
    if (key === 'GET /access/roles') return this.#roles();
    if (key === 'POST /access/roles') return this.#createRole(params, authId);
    if (key === 'GET /access/permissions') return this.#permissions(params, authId);
    if (key === 'GET /pools') return this.#pools(params, authId);
    throw new HttpError(501, `Method '${method} ${rel}' not implemented`);
  }

  /** read_acl (ACL.pm :62-104). */
  #readAcl(authId: string): unknown[] {
    const cfg = parseCfg(this.#text);
    const audit = this.#checkAny(authId, '/access', ['Sys.Audit'], true);
    const out: unknown[] = [];
    for (const [path, node] of cfg.acl) {
      for (const type of ['user', 'group', 'token'] as const) {
        const d = node[`${type}s`];
        if (d.size === 0) continue;
        if (!(audit || this.#checkPermModify(authId, path, true))) continue;
        for (const [ugid, roles] of d) for (const [roleid, propagate] of roles) out.push({ path, type, ugid, roleid, propagate });
      }
    }
    return out;
  }

  /** update_acl (ACL.pm :152-267), after the `perm-modify` check on {path} (:113). */
  async #updateAcl(params: Record<string, string>, authId: string): Promise<null> {
    // rest_handler checks permissions (HTTPServer.pm :174) before RESTHandler validates the parameters.
    const permPath = normalizePath(params.path ?? '');
    if (permPath) this.#checkPermModify(authId, permPath, false);
    this.#validate(params, { path: 'string', roles: 'pve-roleid-list', users: 'pve-userid-list?', groups: 'pve-groupid-list?', tokens: 'pve-tokenid-list?', propagate: 'boolean?', delete: 'boolean?' });
    if (!(params.users || params.groups || params.tokens)) {
      throw paramExc(Object.fromEntries(['users', 'groups', 'tokens'].map((k) => [k, "either 'users', 'groups' or 'tokens' is required."])));
    }
    const path = normalizePath(params.path ?? '');
    if (!path) throw paramExc({ path: `invalid ACL path '${params.path ?? ''}'` });
    const del = truthy(params.delete);
    if (!del && !checkPath(path)) throw paramExc({ path: `invalid ACL path '${params.path ?? ''}'` });
    const authPrivs = this.#privs(authId, path);
    await this.#locked('ACL update failed', (cfg) => {
      const propagate: 0 | 1 = params.propagate === undefined ? 1 : truthy(params.propagate) ? 1 : 0;
      const node = cfg.acl.get(path) ?? emptyNode();
      cfg.acl.set(path, node);
      for (const role of splitList(params.roles)) {
        const rolePrivs = cfg.roles.get(role);
        if (!rolePrivs) throw new Error(`role '${role}' does not exist\n`);
        if (!authPrivs.has('Permissions.Modify')) {
          const verb = del ? 'remove' : 'add';
          for (const p of rolePrivs) {
            if (!authPrivs.has(p)) throw paramExc({ role: `Cannot ${verb} role '${role}' - requires 'Permissions.Modify' or superset of privileges.` });
          }
          if (role === 'NoAccess') throw paramExc({ role: `Cannot ${verb} role '${role}' - requires 'Permissions.Modify'` });
        }
        const set = (m: Map<string, Map<string, 0 | 1>>, id: string): void => {
          if (del) { m.get(id)?.delete(role); return; }
          const e = m.get(id) ?? new Map<string, 0 | 1>();
          e.set(role, propagate);
          m.set(id, e);
        };
        for (const g of splitList(params.groups)) {
          if (!cfg.groups.has(g)) throw new Error(`group '${g}' does not exist\n`);
          set(node.groups, g);
        }
        for (const u of splitList(params.users)) {
          if (!cfg.users.has(u)) throw new Error(`user '${u}' does not exist\n`);
          set(node.users, u);
        }
        for (const t of splitList(params.tokens)) {
          const m = TOKEN_RE.exec(t);
          const user = m?.[1] ?? '';
          if (!cfg.users.has(user)) throw new Error(`no such user ('${user}')\n`); // check_user_exist :678
          if (!cfg.users.get(user)?.tokens.has(m?.[2] ?? '')) throw new Error(`no such token '${m?.[2] ?? ''}' for user '${user}'\n`);
          set(node.tokens, t);
        }
      }
    });
    return null;
  }

  /** User.pm index (:223-281), `full` adds groups and tokens. */
  #users(params: Record<string, string>, authId: string): unknown[] {
    const cfg = parseCfg(this.#text);
    const canUserMod = this.#checkAny(authId, '/access/groups', ['User.Modify', 'Sys.Audit'], true);
    const self = TOKEN_RE.exec(authId)?.[1] ?? authId;
    const out: unknown[] = [];
    for (const id of sortedKeys(cfg.users.keys())) {
      if (!canUserMod && id !== self && id !== authId) continue; // group-based visibility not modelled
      const u = cfg.users.get(id) as PveUser;
      const entry: Record<string, unknown> = { userid: id, enable: u.enable, expire: u.expire };
      for (const k of ['firstname', 'lastname', 'email', 'comment', 'keys'] as const) if (u[k] !== undefined) entry[k] = u[k];
      if (params.enabled !== undefined && Boolean(u.enable) !== truthy(params.enabled)) continue;
      if (truthy(params.full)) {
        entry.groups = sortedKeys(u.groups).join(',');
        entry.tokens = sortedKeys(u.tokens.keys()).map((t) => ({ tokenid: t, ...u.tokens.get(t) }));
      }
      out.push(entry);
    }
    return out;
  }

  /** Group.pm index: groups with User.Modify, Sys.Audit or Group.Allocate on /access/groups/<group>. */
  #groups(authId: string): unknown[] {
    const cfg = parseCfg(this.#text);
    const out: unknown[] = [];
    for (const [groupid, g] of cfg.groups) {
      if (!this.#checkAny(authId, `/access/groups/${groupid}`, ['User.Modify', 'Sys.Audit', 'Group.Allocate'], true)) continue;
      out.push({ groupid, ...(g.comment !== undefined ? { comment: g.comment } : {}), users: sortedKeys(g.users).join(',') });
    }
    return out;
  }

  /** Role.pm index: every role, `special` for the built-in ones. */
  #roles(): unknown[] {
    const cfg = parseCfg(this.#text);
    return [...cfg.roles].map(([roleid, privs]) => ({ roleid, privs: sortedKeys(privs).join(','), special: BUILTIN_ROLES.has(roleid) ? 1 : 0 }));
  }

  /** Role.pm create_role: Sys.Modify on /access, no `PVE` prefix, not an existing role. */
  async #createRole(params: Record<string, string>, authId: string): Promise<null> {
    this.#checkAny(authId, '/access', ['Sys.Modify'], false);
    this.#validate(params, { roleid: 'pve-roleid', privs: 'pve-priv-list?' });
    const role = params.roleid ?? '';
    if (/^PVE/i.test(role)) throw paramExc({ roleid: "cannot use role ID starting with the (case-insensitive) 'PVE' namespace" });
    await this.#locked('create role failed', (cfg) => {
      if (cfg.roles.has(role)) throw new Error(`role '${role}' already exists\n`);
      cfg.roles.set(role, new Set(splitList(params.privs)));
    });
    return null;
  }

  /** AccessControl.pm `permissions` (:543-573), with `path`; without it only the asked path set is not modelled. */
  #permissions(params: Record<string, string>, authId: string): unknown {
    const userid = params.userid ?? authId;
    const owner = TOKEN_RE.exec(userid)?.[1];
    if (!(userid === authId || owner === authId)) this.#checkAny(authId, '/access', ['Sys.Audit'], false);
    const path = params.path;
    if (!path) throw new HttpError(501, 'the fake answers GET /access/permissions only with a path');
    const privs = this.#privs(userid, path);
    return privs.size > 0 ? { [path]: Object.fromEntries([...privs].map((p) => [p, 1])) } : {};
  }

  /** pve-manager Pool.pm index (:87-140): pools with Pool.Audit, or one pool's members. */
  #pools(params: Record<string, string>, authId: string): unknown[] {
    const cfg = parseCfg(this.#text);
    if (params.poolid) {
      const p = cfg.pools.get(params.poolid);
      if (!p) throw new Error(`pool '${params.poolid}' does not exist\n`);
      const members = [
        ...sortedKeys(p.vms).map((vmid) => ({ type: 'qemu', id: `qemu/${vmid}`, node: 'pve', vmid: Number(vmid) })),
        ...sortedKeys(p.storage).map((s) => ({ type: 'storage', id: `storage/pve/${s}`, node: 'pve', storage: s })),
      ];
      return [{ poolid: params.poolid, ...(p.comment !== undefined ? { comment: p.comment } : {}), members }];
    }
    return sortedKeys(cfg.pools.keys())
      .filter((id) => this.#checkAny(authId, `/pool/${id}`, ['Pool.Audit'], true))
      .map((poolid) => ({ poolid, ...(cfg.pools.get(poolid)?.comment !== undefined ? { comment: cfg.pools.get(poolid)?.comment } : {}) }));
  }

  /** The JSON-schema check RESTHandler runs before the handler (pve-common JSONSchema.pm :1581, :1629-1633). */
  #validate(params: Record<string, string>, schema: Record<string, string>): void {
    const errors: Record<string, string> = {};
    for (const [name, spec] of Object.entries(schema)) {
      const optional = spec.endsWith('?');
      const type = spec.replace(/\?$/, '');
      const v = params[name];
      if (v === undefined) {
        if (!optional) errors[name] = 'property is missing and it is not optional';
        continue;
      }
      if (type === 'boolean') {
        if (!/^(0|1|true|false|yes|no|on|off)$/i.test(v)) errors[name] = `type check ('boolean') failed - got '${v}'`;
        continue;
      }
      const check = (x: string): string | undefined => {
        if (type.startsWith('pve-roleid')) return ROLE_NAME_RE.test(x) ? undefined : `role name '${x}' contains invalid characters\n`;
        if (type.startsWith('pve-userid')) return isUsername(x) ? undefined : `value '${x}' does not look like a valid user name\n`;
        if (type.startsWith('pve-groupid')) return isGroupName(x) ? undefined : `group name '${x}' contains invalid characters\n`;
        if (type.startsWith('pve-tokenid')) return TOKEN_RE.test(x) ? undefined : `value '${x}' does not look like a valid token ID\n`;
        if (type.startsWith('pve-priv')) return VALID_PRIVILEGES.has(x) ? undefined : `invalid privilege name '${x}'\n`;
        return undefined;
      };
      const bad = (type.endsWith('-list') ? splitList(v) : [v]).map(check).find((e) => e !== undefined);
      if (bad) errors[name] = `invalid format - ${bad}`;
    }
    for (const name of Object.keys(params)) if (!(name in schema)) errors[name] = 'property is not defined in schema and the schema does not allow additional properties';
    if (Object.keys(errors).length > 0) throw paramExc(errors);
  }
}
