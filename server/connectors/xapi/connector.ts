/**
 * The XAPI connector (XenServer / XCP-ng): reads subjects, roles and the pool over xapi's JSON-RPC
 * (`POST <url>/jsonrpc`) and prints them as the `xe subject-list`, `xe role-list` and `xe pool-list` output
 * the XAPI importer reads; applies role grants with subject.add_to_roles / remove_from_roles, creating the
 * subject first (auth.get_subject_identifier + subject.create) when the principal is no subject yet.
 * docs/backends/xapi.md, "Connector (apply and read)", lists the calls and what is untested.
 *
 * add_to_roles is not idempotent in xapi (xapi_subject.ml: ROLE_ALREADY_EXISTS for a role already held),
 * nor is remove_from_roles (ROLE_NOT_FOUND for a role not held): both mean the step is already done.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AccessModel, Backend, ChangeSet, NativeFile } from '../../domain/access/model.ts';
import { ConnectorError, diffPlan } from '../types.ts';
import { baseUrl, onlyKnownFields, transportFields } from '../connection.ts';
import { membershipField, readMembershipFile } from '../membership.ts';
import type { Connector, ConnectorFactory, ParsedConnection, PlanStep } from '../types.ts';
import { POOL_ID, isPending, subjectOf } from '../../backends/xapi/native.ts';
import { formatXeMap, formatXeRecords } from '../../backends/xapi/xe-format.ts';
import type { XeOutField } from '../../backends/xapi/xe-format.ts';

/** The most one response, or one whole read, may hold. */
export const MAX_RESPONSE_BYTES = 20 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

interface XapiConnection {
  url: string;
  username: string;
  insecure: boolean;
  timeoutMs: number;
  /** AD group membership xapi does not hold (the importer's membership file), read with every read. */
  membershipFile?: string;
}

/** A step's payload. `identifier` is the subject's SID when the model knows it (not for a pending subject). */
export interface XapiStepNative {
  principal: string;
  role: string;
  identifier?: string;
}

/** An error xapi returned: its code (`ROLE_NOT_FOUND`) and parameters. */
export class XapiCallError extends ConnectorError {
  readonly code: string;
  readonly params: string[];
  constructor(method: string, code: string, params: string[]) {
    const kind = code === 'SESSION_AUTHENTICATION_FAILED' || code === 'SESSION_INVALID' ? 'auth' : code === 'HANDLE_INVALID' ? 'conflict' : 'refused';
    const hint = code === 'HOST_IS_SLAVE' ? `: connect to the pool master${params[0] ? ` at ${params[0]}` : ''}` : '';
    // HANDLE_INVALID: an object went away between two calls (another client); worth another attempt.
    super(kind, `xapi ${method}: ${code}${params.length ? ` ${JSON.stringify(params)}` : ''}${hint}`, code === 'HANDLE_INVALID');
    this.code = code;
    this.params = params;
  }
}

const invalid = (message: string): ConnectorError => new ConnectorError('invalid', message);

function parseConnection(input: Record<string, unknown>): ParsedConnection {
  onlyKnownFields(input, ['url', 'username', 'password', 'insecure', 'timeoutMs', 'membershipFile'], 'XAPI');
  const { username, password } = input;
  const membershipFile = membershipField(input.membershipFile);
  const base = baseUrl(input.url, 'the pool master, e.g. https://xen1.example', /\/jsonrpc$/);
  if (typeof username !== 'string' || username === '' || /[\r\n]/.test(username)) throw invalid('username is required (e.g. root, or an AD account with pool-admin)');
  if (typeof password !== 'string' || password === '') throw invalid('password is required');
  return {
    connection: { url: base, username, ...transportFields(input.insecure, input.timeoutMs), ...(membershipFile ? { membershipFile } : {}) },
    secrets: { password },
  };
}

const TLS_TRUST = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

let nextId = 1;

/** One JSON-RPC 2.0 call, bounded in size and time. Resolves to `result`; an xapi failure is an XapiCallError. */
function rpc(conn: XapiConnection, method: string, params: unknown[], budget: { left: number }): Promise<unknown> {
  const body = JSON.stringify({ jsonrpc: '2.0', method, params, id: nextId++ });
  const url = new URL(`${conn.url}/jsonrpc`);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const where = `xapi at ${conn.url}`;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
      timeout: conn.timeoutMs,
      ...(url.protocol === 'https:' ? { rejectUnauthorized: !conn.insecure } : {}),
    }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      if (Number(res.headers['content-length'] ?? 0) > budget.left) {
        res.destroy();
        return reject(new ConnectorError('too_large', `${where}: the answer to ${method} is over ${MAX_RESPONSE_BYTES} bytes`));
      }
      res.on('data', (c: Buffer) => {
        budget.left -= c.length;
        if (budget.left < 0) {
          res.destroy();
          return reject(new ConnectorError('too_large', `${where}: the answer to ${method} is over ${MAX_RESPONSE_BYTES} bytes`));
        }
        chunks.push(c);
      });
      res.on('error', (err) => reject(new ConnectorError('unreachable', `${where}: ${method}: connection lost: ${err.message}`)));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 500) return reject(new ConnectorError('unreachable', `${where}: ${method}: HTTP ${status}`));
        if (status !== 200) return reject(invalid(`${where}: ${method}: HTTP ${status} (is this the xapi JSON-RPC endpoint?)`));
        let json: { result?: unknown; error?: { message?: unknown; data?: unknown } | null };
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof json;
        } catch {
          return reject(invalid(`${where}: ${method}: the answer is not JSON`));
        }
        if (json.error) {
          const code = typeof json.error.message === 'string' ? json.error.message : 'UNKNOWN_ERROR';
          const data = Array.isArray(json.error.data) ? json.error.data.map(String) : [];
          return reject(new XapiCallError(method, code, data));
        }
        if (!('result' in json)) return reject(invalid(`${where}: ${method}: no result in the answer`));
        resolve(json.result);
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${conn.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof ConnectorError) return reject(err);
      const code = err.code ?? '';
      if (TLS_TRUST.has(code)) return reject(invalid(`${where}: TLS certificate not trusted (${code}); install its CA or set insecure`));
      reject(new ConnectorError('unreachable', `${where} unreachable: ${code ? `${code} ` : ''}${err.message}`));
    });
    req.end(body);
  });
}

interface SubjectRecord { uuid: string; subject_identifier: string; other_config: Record<string, string>; roles: string[] }
interface RoleRecord { uuid: string; name_label: string; name_description: string; subroles: string[] }

/** xe prints one record per line group: a value with a line break would forge records. */
function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || /[\r\n]/.test(value)) throw invalid(`xapi returned an invalid ${what}: ${JSON.stringify(value)}`);
  return value;
}
function records<T>(value: unknown, what: string): [string, T][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`xapi returned no record map for ${what}`);
  return Object.entries(value as Record<string, T>);
}
function subjectRecord(value: unknown): SubjectRecord {
  const r = (value ?? {}) as Record<string, unknown>;
  const oc = (r.other_config ?? {}) as Record<string, unknown>;
  if (typeof oc !== 'object' || Array.isArray(oc)) throw invalid('xapi returned a subject without an other_config map');
  const roles = Array.isArray(r.roles) ? r.roles : [];
  return {
    uuid: text(r.uuid, 'subject uuid'),
    subject_identifier: text(r.subject_identifier ?? '', 'subject identifier'),
    other_config: Object.fromEntries(Object.entries(oc).map(([k, v]) => [text(k, 'other_config key'), text(v, 'other_config value')])),
    roles: roles.map((x) => text(x, 'role ref')),
  };
}

/** The name a subject goes by in the model: what the importer reads (subject-name, else the identifier). */
const nameOf = (s: SubjectRecord): string => s.other_config['subject-name'] || s.other_config['subject-sid'] || s.subject_identifier;

class XapiConnector implements Connector {
  #conn: XapiConnection;
  #password: string;
  #session: string | undefined;

  constructor(conn: XapiConnection, password: string) {
    this.#conn = conn;
    this.#password = password;
  }

  async #login(budget: { left: number }): Promise<string> {
    const ref = await rpc(this.#conn, 'session.login_with_password', [this.#conn.username, this.#password, '1.0', 'accord'], budget);
    this.#session = text(ref, 'session ref');
    return this.#session;
  }

  /** A call in the session; a session xapi no longer knows (restart, expiry) is renewed once. */
  async #call(method: string, args: unknown[], budget = { left: MAX_RESPONSE_BYTES }): Promise<unknown> {
    const session = this.#session ?? await this.#login(budget);
    try {
      return await rpc(this.#conn, method, [session, ...args], budget);
    } catch (err) {
      if (!(err instanceof XapiCallError && err.code === 'SESSION_INVALID')) throw err;
      this.#session = undefined;
      return rpc(this.#conn, method, [await this.#login(budget), ...args], budget);
    }
  }

  async #subjects(budget?: { left: number }): Promise<[string, SubjectRecord][]> {
    return records<unknown>(await this.#call('subject.get_all_records', [], budget), 'subjects').map(([ref, r]) => [ref, subjectRecord(r)]);
  }

  async read(): Promise<NativeFile[]> {
    const budget = { left: MAX_RESPONSE_BYTES };
    const subjects = await this.#subjects(budget);
    const roles = records<RoleRecord>(await this.#call('role.get_all_records', [], budget), 'roles');
    const pools = records<Record<string, unknown>>(await this.#call('pool.get_all_records', [], budget), 'pools');
    const roleName = new Map(roles.map(([ref, r]) => [ref, text(r.name_label, 'role name')]));
    const subjectList: XeOutField[][] = subjects
      .sort(([, a], [, b]) => (nameOf(a).toLowerCase() < nameOf(b).toLowerCase() ? -1 : 1))
      .map(([, s]) => [
        { key: 'uuid', qualifier: 'RO', value: s.uuid },
        { key: 'subject-identifier', qualifier: 'RO', value: s.subject_identifier },
        { key: 'other-config', qualifier: 'MRO', value: formatXeMap(s.other_config) },
        // A ref no role has (a dangling reference) is printed as is: the importer warns about it.
        { key: 'roles', qualifier: 'SRO', value: s.roles.map((r) => roleName.get(r) ?? r).join('; ') },
      ]);
    // `xe role-list` lists roles, not the permissions xapi also stores as role records (those have no subroles).
    const roleList: XeOutField[][] = roles
      .filter(([, r]) => Array.isArray(r.subroles) && r.subroles.length > 0)
      .map(([, r]) => [
        { key: 'uuid', qualifier: 'RO', value: text(r.uuid, 'role uuid') },
        { key: 'name', qualifier: 'RO', value: text(r.name_label, 'role name') },
        { key: 'description', qualifier: 'RO', value: text(r.name_description ?? '', 'role description') },
      ]);
    const poolList: XeOutField[][] = pools.map(([, p]) => [
      { key: 'uuid', qualifier: 'RO', value: text(p.uuid, 'pool uuid') },
      { key: 'name-label', qualifier: 'RW', value: text(p.name_label ?? '', 'pool name') },
      { key: 'name-description', qualifier: 'RW', value: text(p.name_description ?? '', 'pool description') },
      // xe prints the master's uuid; the importer only needs the field to know a pool record.
      { key: 'master', qualifier: 'RO', value: text(p.master ?? '', 'pool master') },
    ]);
    return [
      { path: 'subject-list.txt', text: formatXeRecords(subjectList) },
      { path: 'role-list.txt', text: formatXeRecords(roleList) },
      { path: 'pool-list.txt', text: formatXeRecords(poolList) },
      ...(this.#conn.membershipFile !== undefined ? [await readMembershipFile(this.#conn.membershipFile, 'membership.json')] : []),
    ];
  }

  plan(observed: AccessModel, desired: AccessModel, change: ChangeSet): PlanStep[] {
    return diffPlan(observed, desired, change).map((s) => {
      const g = s.grant;
      if (!g || g.role === undefined || g.resource !== POOL_ID || g.effect !== 'allow') {
        throw invalid(`step ${s.id}: XAPI can only grant or revoke a role on the pool`);
      }
      const subject = subjectOf(desired, g.principal) ?? subjectOf(observed, g.principal);
      const identifier = subject && !isPending(subject) && subject.identifier ? subject.identifier : undefined;
      const native: XapiStepNative = { principal: g.principal, role: g.role, ...(identifier ? { identifier } : {}) };
      return { ...s, native };
    });
  }

  /** The subject a step names, by SID when known, else by subject-name (AD names are case-insensitive). */
  async #findSubject(n: XapiStepNative): Promise<[string, SubjectRecord] | undefined> {
    const subjects = await this.#subjects();
    const lower = n.principal.toLowerCase();
    return subjects.find(([, s]) => n.identifier !== undefined && s.subject_identifier === n.identifier)
      ?? subjects.find(([, s]) => nameOf(s).toLowerCase() === lower);
  }

  async #roleRef(role: string): Promise<string> {
    const refs = await this.#call('role.get_by_name_label', [role]);
    if (!Array.isArray(refs) || refs.length === 0) throw new ConnectorError('refused', `xapi has no role ${role}`);
    return text(refs[0], 'role ref');
  }

  async apply(step: PlanStep): Promise<void> {
    const n = step.native as Partial<XapiStepNative> | undefined;
    if (typeof n?.principal !== 'string' || typeof n.role !== 'string') throw invalid(`step ${step.id} carries no XAPI operation`);
    const native: XapiStepNative = { principal: n.principal, role: n.role, ...(typeof n.identifier === 'string' ? { identifier: n.identifier } : {}) };
    const role = await this.#roleRef(native.role);
    if (step.op === 'remove') {
      const found = await this.#findSubject(native);
      if (!found) return; // no subject, so no role: already done
      try {
        await this.#call('subject.remove_from_roles', [found[0], role]);
      } catch (err) {
        if (err instanceof XapiCallError && err.code === 'ROLE_NOT_FOUND') return; // xapi_subject.ml: not held = already removed
        throw err;
      }
      return;
    }
    if (step.op !== 'add') throw invalid(`step ${step.id}: XAPI steps add or remove a role`);
    const ref = (await this.#findSubject(native))?.[0] ?? await this.#createSubject(native);
    try {
      await this.#call('subject.add_to_roles', [ref, role]);
    } catch (err) {
      if (err instanceof XapiCallError && err.code === 'ROLE_ALREADY_EXISTS') return; // xapi_subject.ml: already held
      throw err;
    }
  }

  /** `xe subject-add subject-name=...`: resolve the name in the directory, then subject.create. */
  async #createSubject(n: XapiStepNative): Promise<string> {
    const sid = n.identifier ?? text(await this.#call('auth.get_subject_identifier', [n.principal]), 'subject identifier');
    try {
      return text(await this.#call('subject.create', [{ subject_identifier: sid, other_config: {} }]), 'subject ref');
    } catch (err) {
      if (!(err instanceof XapiCallError && err.code === 'SUBJECT_ALREADY_EXISTS')) throw err;
      // Created meanwhile (an earlier attempt, another client): use that one.
      const again = await this.#findSubject({ ...n, identifier: sid });
      if (!again) throw new ConnectorError('conflict', `xapi says subject ${n.principal} (${sid}) exists, but lists no such subject`, true);
      return again[0];
    }
  }

  async close(): Promise<void> {
    const session = this.#session;
    if (session === undefined) return;
    this.#session = undefined;
    try {
      await rpc(this.#conn, 'session.logout', [session], { left: MAX_RESPONSE_BYTES });
    } catch (err) {
      // A session xapi already dropped needs no logout; anything else is reported.
      if (!(err instanceof XapiCallError && err.code === 'SESSION_INVALID')) throw err;
    }
  }
}

export const xapiConnector: ConnectorFactory = {
  backend: 'xapi',
  parseConnection,
  open(parsed: ParsedConnection, _backend: Backend): Connector {
    const c = parsed.connection;
    const password = parsed.secrets.password;
    if (typeof c.url !== 'string' || typeof c.username !== 'string' || typeof password !== 'string') throw invalid('XAPI connection lacks url, username or password');
    return new XapiConnector({
      url: c.url, username: c.username, insecure: c.insecure === true, timeoutMs: typeof c.timeoutMs === 'number' ? c.timeoutMs : DEFAULT_TIMEOUT_MS,
      ...(typeof c.membershipFile === 'string' ? { membershipFile: c.membershipFile } : {}),
    }, password);
  },
};
