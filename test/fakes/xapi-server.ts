/**
 * A FAKE xapi (XenServer / XCP-ng toolstack) JSON-RPC endpoint, for connector tests only: no xapi can run
 * here. Plain HTTP on 127.0.0.1, `POST /jsonrpc`.
 *
 * Upstream sources it follows (xapi-project/xen-api, commit e2ee48d688; line numbers of those files):
 * - Transport: ocaml/xapi/api_server.ml `jsoncallback` and `callback1` (:11-58): JSON-RPC 1.0 and 2.0 on
 *   `/jsonrpc`; the result is the value itself; a failure in 2.0 is
 *   `{"error":{"code":1,"message":"<ERROR_CODE>","data":[params...]}}` (api_server_common.ml :192-200,
 *   `error_code_lit = 1`), in 1.0 `{"result":null,"error":["<ERROR_CODE>", params...]}`.
 * - subject.create / destroy / add_to_roles / remove_from_roles: ocaml/xapi/xapi_subject.ml. `create`
 *   (:63-121) refuses a subject_identifier already in the pool with SUBJECT_ALREADY_EXISTS, replaces the
 *   given other_config with the directory's answer (`query_subject_information_from_AD`, unknown →
 *   SUBJECT_CANNOT_BE_RESOLVED via extauth.ml `call_with_exception_handler` :198-220) and starts with no
 *   roles (RBAC licensed). `add_to_roles` (:231-250) is NOT idempotent: a role already held raises
 *   ROLE_ALREADY_EXISTS, an invalid role ROLE_NOT_FOUND. `remove_from_roles` (:252-266) raises ROLE_NOT_FOUND
 *   for a role the subject does not hold.
 * - The subject class (ocaml/idl/datamodel.ml :7133-7226): fields uuid, subject_identifier, other_config,
 *   roles (Set (Ref role)); messages default to _R_POOL_ADMIN.
 * - auth.get_subject_identifier: ocaml/xapi/xapi_auth.ml (:24-27).
 * - session.login_with_password: ocaml/xapi/xapi_session.ml (SESSION_AUTHENTICATION_FAILED [uname; msg],
 *   :1025-1037; the 5 s delay is not reproduced); a stale session ref: SESSION_INVALID [ref]; a missing
 *   object: HANDLE_INVALID [class; ref]; error names from ocaml/xapi-consts/api_errors.ml.
 * - Roles: the six static roles, referenced as `OpaqueRef:<role uuid>` (rbac_static.ml), with the uuids
 *   of test/fixtures/xapi/role-list.txt; permissions are role records too (no subroles), a few are listed.
 *
 * Not reproduced: RBAC_PERMISSION_DENIED's exact message, pool members (HOST_IS_SLAVE), tasks and events,
 * external-auth hook scripts, the free-edition defaults (LICENSE_RESTRICTION), XML-RPC.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeSubject {
  uuid: string;
  subject_identifier: string;
  other_config: Record<string, string>;
  /** Role refs. */
  roles: string[];
}
export interface FakeRole {
  uuid: string;
  name_label: string;
  name_description: string;
  subroles: string[];
  is_internal: boolean;
}

/** The static roles (uuid, name), as test/fixtures/xapi/role-list.txt prints them. */
export const STATIC_ROLES: ReadonlyArray<readonly [string, string]> = [
  ['0165f154-ba3e-034e-6b27-5d271af109ba', 'pool-admin'],
  ['b9ce9791-0604-50cd-0649-09b3284c7dfd', 'pool-operator'],
  ['7955168d-7bec-10ed-105f-c6a7e6e63249', 'vm-power-admin'],
  ['aaa00ab5-7340-bfbc-0d1b-7cf342639a6e', 'vm-admin'],
  ['fb8d4ff9-310c-a959-0613-54101535d3d5', 'vm-operator'],
  ['7233b8e3-eacb-d7da-2c95-f2e581cdbf4e', 'read-only'],
];

export class XapiError extends Error {
  readonly code: string;
  readonly params: string[];
  constructor(code: string, params: string[] = []) {
    super(`${code}${params.length ? ` ${params.join(' ')}` : ''}`);
    this.code = code;
    this.params = params;
  }
}

export interface XapiFakeOptions {
  /** Local accounts: username → password. `root` is the pool's local superuser (pool-admin). */
  accounts?: Record<string, string>;
  /** Accounts that log in but hold only read-only (for RBAC_PERMISSION_DENIED). */
  readOnlyAccounts?: string[];
  poolName?: string;
}

export interface FakeCall { method: string; params: unknown[]; error?: string }

export class XapiFake {
  readonly subjects = new Map<string, FakeSubject>();
  readonly roles = new Map<string, FakeRole>();
  /** The external directory (AD): subject-name → SID and the other_config xapi caches at subject.create. */
  readonly directory = new Map<string, { sid: string; otherConfig: Record<string, string> }>();
  readonly calls: FakeCall[] = [];
  /** Errors of the fake itself (a bug in it): tests assert this stays empty. */
  readonly errors: unknown[] = [];
  /** Answers the next N HTTP requests with this status (a proxy or a restarting xapi). */
  failNext: { count: number; status: number } | undefined;
  url = '';
  #sessions = new Map<string, string>();
  #accounts: Map<string, string>;
  #readOnly: Set<string>;
  #poolName: string;
  #server: Server | undefined;

  constructor(opts: XapiFakeOptions = {}) {
    this.#accounts = new Map(Object.entries(opts.accounts ?? { root: 'xenroot' }));
    this.#readOnly = new Set(opts.readOnlyAccounts ?? []);
    this.#poolName = opts.poolName ?? 'pool0';
    const perms = ['vm.start', 'vm.clean_shutdown', 'subject.create', 'subject.add_to_roles'].map((name) => {
      const uuid = randomUUID();
      this.roles.set(`OpaqueRef:${uuid}`, { uuid, name_label: name, name_description: '', subroles: [], is_internal: false });
      return `OpaqueRef:${uuid}`;
    });
    for (const [uuid, name] of STATIC_ROLES) {
      this.roles.set(`OpaqueRef:${uuid}`, { uuid, name_label: name, name_description: `The ${name} role`, subroles: perms, is_internal: false });
    }
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

  // ---- test helpers: state injected directly, as if changed by another client ----

  roleRef(name: string): string {
    for (const [ref, r] of this.roles) if (r.name_label === name) return ref;
    throw new Error(`fake xapi: no role ${name}`);
  }

  /** Adds a directory entry and a subject for it, holding `roles`. Returns the subject ref. */
  addSubject(name: string, roles: string[], otherConfig: Record<string, string> = {}): string {
    const sid = this.directory.get(name)?.sid ?? `S-1-5-21-1004336348-1177238915-682003330-${3000 + this.directory.size}`;
    const oc = { 'subject-name': name, 'subject-sid': sid, 'subject-is-group': 'false', ...otherConfig };
    this.directory.set(name, { sid, otherConfig: oc });
    const uuid = randomUUID();
    const ref = `OpaqueRef:${randomUUID()}`;
    this.subjects.set(ref, { uuid, subject_identifier: sid, other_config: oc, roles: roles.map((r) => this.roleRef(r)) });
    return ref;
  }

  /** Adds a directory entry only: a user who is no subject yet. */
  addDirectoryUser(name: string, isGroup = false): string {
    const sid = `S-1-5-21-1004336348-1177238915-682003330-${4000 + this.directory.size}`;
    this.directory.set(name, { sid, otherConfig: { 'subject-name': name, 'subject-sid': sid, 'subject-is-group': String(isGroup) } });
    return sid;
  }

  /** Forgets every session, as a restarted xapi does: the next call with an old ref is SESSION_INVALID. */
  dropSessions(): void {
    this.#sessions.clear();
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  subjectByName(name: string): [string, FakeSubject] | undefined {
    for (const e of this.subjects) if (e[1].other_config['subject-name']?.toLowerCase() === name.toLowerCase()) return e;
    return undefined;
  }

  /** Role names a subject holds, sorted. */
  rolesOf(name: string): string[] {
    const s = this.subjectByName(name)?.[1];
    return (s?.roles ?? []).map((r) => this.roles.get(r)?.name_label ?? r).sort();
  }

  // ---- transport ----

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.failNext && this.failNext.count > 0) {
      this.failNext.count -= 1;
      res.statusCode = this.failNext.status;
      return void res.end();
    }
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://fake').pathname !== '/jsonrpc') {
      res.statusCode = 404;
      return void res.end();
    }
    let call: { jsonrpc?: unknown; method?: unknown; params?: unknown; id?: unknown };
    try {
      call = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof call;
    } catch {
      res.statusCode = 500;
      return void res.end('Jsonrpc.Malformed_method_request');
    }
    const v2 = call.jsonrpc === '2.0';
    const method = typeof call.method === 'string' ? call.method : '';
    const params = Array.isArray(call.params) ? call.params : [];
    let body: Record<string, unknown>;
    try {
      const result = this.#dispatch(method, params);
      this.calls.push({ method, params });
      body = v2 ? { jsonrpc: '2.0', result, id: call.id ?? null } : { result, error: null, id: call.id ?? null };
    } catch (err) {
      if (!(err instanceof XapiError)) throw err;
      this.calls.push({ method, params, error: err.code });
      body = v2
        ? { jsonrpc: '2.0', error: { code: 1, message: err.code, data: err.params }, id: call.id ?? null }
        : { result: null, error: [err.code, ...err.params], id: call.id ?? null };
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(body));
  }

  #session(params: unknown[], method: string, write: boolean): string {
    const ref = String(params[0]);
    const user = this.#sessions.get(ref);
    if (user === undefined) throw new XapiError('SESSION_INVALID', [ref]);
    if (write && this.#readOnly.has(user)) {
      // Approximation: xapi names the permission and explains; the exact text is not reproduced.
      throw new XapiError('RBAC_PERMISSION_DENIED', [method, 'The current session does not hold a role allowing this call.']);
    }
    return user;
  }

  #arity(method: string, params: unknown[], n: number): void {
    if (params.length !== n) throw new XapiError('MESSAGE_PARAMETER_COUNT_MISMATCH', [method, String(n), String(params.length)]);
  }

  #subject(ref: unknown): FakeSubject {
    const s = this.subjects.get(String(ref));
    if (!s) throw new XapiError('HANDLE_INVALID', ['subject', String(ref)]);
    return s;
  }

  #dispatch(method: string, params: unknown[]): unknown {
    switch (method) {
      case 'session.login_with_password': {
        if (params.length < 2 || params.length > 4) throw new XapiError('MESSAGE_PARAMETER_COUNT_MISMATCH', [method, '4', String(params.length)]);
        const [uname, pwd] = params.map(String);
        if (this.#accounts.get(uname ?? '') !== pwd) throw new XapiError('SESSION_AUTHENTICATION_FAILED', [uname ?? '', 'Authentication failure']);
        const ref = `OpaqueRef:${randomUUID()}`;
        this.#sessions.set(ref, uname ?? '');
        return ref;
      }
      case 'session.logout':
        this.#arity(method, params, 1);
        this.#session(params, method, false);
        this.#sessions.delete(String(params[0]));
        return '';
      case 'subject.get_all_records':
        this.#arity(method, params, 1);
        this.#session(params, method, false);
        return Object.fromEntries([...this.subjects].map(([ref, s]) => [ref, { ...s, other_config: { ...s.other_config }, roles: [...s.roles] }]));
      case 'subject.get_record':
        this.#arity(method, params, 2);
        this.#session(params, method, false);
        return { ...this.#subject(params[1]) };
      case 'role.get_all_records':
        this.#arity(method, params, 1);
        this.#session(params, method, false);
        return Object.fromEntries(this.roles);
      case 'role.get_by_name_label':
        this.#arity(method, params, 2);
        this.#session(params, method, false);
        return [...this.roles].filter(([, r]) => r.name_label === params[1]).map(([ref]) => ref);
      case 'pool.get_all_records':
        this.#arity(method, params, 1);
        this.#session(params, method, false);
        return { 'OpaqueRef:pool0': { uuid: 'c1f4a0b2-5d6e-4f70-8a9b-0c1d2e3f4a5b', name_label: this.#poolName, name_description: '', master: 'OpaqueRef:host0' } };
      case 'auth.get_subject_identifier': {
        this.#arity(method, params, 2);
        this.#session(params, method, false);
        const name = String(params[1]).toLowerCase();
        for (const [n, d] of this.directory) if (n.toLowerCase() === name) return d.sid;
        throw new XapiError('SUBJECT_CANNOT_BE_RESOLVED');
      }
      case 'subject.create': {
        this.#arity(method, params, 2);
        this.#session(params, method, true);
        const rec = (params[1] ?? {}) as { subject_identifier?: unknown };
        const sid = String(rec.subject_identifier ?? '');
        if ([...this.subjects.values()].some((s) => s.subject_identifier === sid)) throw new XapiError('SUBJECT_ALREADY_EXISTS');
        const entry = [...this.directory.values()].find((d) => d.sid === sid);
        if (!entry) throw new XapiError('SUBJECT_CANNOT_BE_RESOLVED');
        const ref = `OpaqueRef:${randomUUID()}`;
        this.subjects.set(ref, { uuid: randomUUID(), subject_identifier: sid, other_config: { ...entry.otherConfig }, roles: [] });
        return ref;
      }
      case 'subject.destroy':
        this.#arity(method, params, 2);
        this.#session(params, method, true);
        this.#subject(params[1]);
        this.subjects.delete(String(params[1]));
        return '';
      case 'subject.add_to_roles': {
        this.#arity(method, params, 3);
        this.#session(params, method, true);
        const role = String(params[2]);
        const r = this.roles.get(role);
        if (!r || r.subroles.length === 0) throw new XapiError('ROLE_NOT_FOUND'); // Xapi_role.is_valid_role
        const s = this.#subject(params[1]);
        if (s.roles.includes(role)) throw new XapiError('ROLE_ALREADY_EXISTS');
        s.roles.push(role);
        return '';
      }
      case 'subject.remove_from_roles': {
        this.#arity(method, params, 3);
        this.#session(params, method, true);
        const s = this.#subject(params[1]);
        const role = String(params[2]);
        if (!s.roles.includes(role)) throw new XapiError('ROLE_NOT_FOUND');
        s.roles = s.roles.filter((x) => x !== role);
        return '';
      }
      default:
        throw new XapiError('MESSAGE_METHOD_UNKNOWN', [method]);
    }
  }
}
