/**
 * A small vim25 SOAP client: exactly the calls the vSphere connector makes (docs/backends/vsphere.md,
 * "Connector"). Requests are built from escaped strings in the WSDL's element order; responses are parsed
 * with the bounded parser of ./xml.ts after the transport has bounded their size.
 *
 * Transport: node:http / node:https rather than fetch, because a vCenter often has a self-signed
 * certificate (`insecure: true` must switch verification off for this client only, which global fetch
 * cannot do without undici's Agent) and because a socket-level byte count bounds the response.
 *
 * Failures are ConnectorErrors: SOAP faults become a VimFault (a ConnectorError that keeps the fault's
 * type, e.g. `NotFound`), network errors and timeouts `unreachable` (transient).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ConnectorError, type ConnectorFailure } from '../types.ts';
import { child, children, escapeXml, parseXml, XmlError, xsiType, type XmlNode } from './xml.ts';

export interface MoRef {
  type: string;
  value: string;
}

/** vim.AuthorizationManager.Permission. `entity` is absent when the server (vcsim) stored none. */
export interface VimPermission {
  entity?: MoRef;
  principal: string;
  group: boolean;
  roleId: number;
  propagate: boolean;
}

/** vim.AuthorizationManager.Role. */
export interface VimRole {
  roleId: number;
  system: boolean;
  name: string;
  info?: { label: string; summary: string };
  privilege: string[];
}

/** A managed entity with the properties through which it is placed and inherits permissions. */
export interface VimEntity {
  self: MoRef;
  name?: string;
  parent?: MoRef;
  resourcePool?: MoRef;
  parentVApp?: MoRef;
  parentFolder?: MoRef;
}

export interface VimServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  viewManager: MoRef;
  sessionManager: MoRef;
  authorizationManager: MoRef;
  about: { name: string; fullName: string; apiType: string; apiVersion: string; instanceUuid?: string };
}

export interface SoapOptions {
  /** The SDK endpoint: `https://vc.example/sdk` (a URL without a path gets `/sdk`). */
  url: string;
  /** Accept any TLS certificate (self-signed vCenter, vcsim). */
  insecure?: boolean;
  /** Per request, connect to last byte. Default 30 s. */
  timeoutMs?: number;
  /** Largest response accepted. Default 50 MB. */
  maxResponseBytes?: number;
  /** Largest number of XML elements in one response. Default 2,000,000. */
  maxElements?: number;
}

/** A SOAP fault from vSphere, as the ConnectorError it maps to, keeping the vim fault type. */
export class VimFault extends ConnectorError {
  /** The vim25 fault type without prefix: `InvalidLogin`, `NotFound`, `ManagedObjectNotFound`, ... */
  readonly fault: string;
  constructor(kind: ConnectorFailure, fault: string, message: string, transient?: boolean) {
    super(kind, message, transient);
    this.name = 'VimFault';
    this.fault = fault;
  }
}

/** vim fault type → failure kind. Anything not listed is `refused` (the server said no to this request). */
const FAULT_KINDS: Record<string, ConnectorFailure> = {
  InvalidLogin: 'auth',
  NotAuthenticated: 'auth',
  NoPermission: 'refused',
  NotFound: 'refused',
  ManagedObjectNotFound: 'refused',
  UserNotFound: 'refused',
  InvalidArgument: 'refused',
  AlreadyExists: 'refused',
  AuthMinimumAdminPermission: 'refused',
  InvalidRequest: 'refused',
  // The server is (re)starting or momentarily overloaded: worth a retry.
  HostCommunication: 'unreachable',
  RequestCanceled: 'unreachable',
};

const VERSION = '6.5'; // vim25 namespace every vCenter/ESXi from 6.5 to 8.x answers; vcsim 0.24 reports 6.5.
const ENVELOPE_OPEN = '<?xml version="1.0" encoding="UTF-8"?>'
  + '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
  + 'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
  + '<soapenv:Body>';
const ENVELOPE_CLOSE = '</soapenv:Body></soapenv:Envelope>';

function escape(s: string): string {
  try {
    return escapeXml(s);
  } catch (e) {
    throw new ConnectorError('invalid', `cannot send ${JSON.stringify(s.slice(0, 40))} to vSphere: ${(e as Error).message}`);
  }
}

/** `<name>text</name>`, escaped. */
export const el = (name: string, text: string | number | boolean): string => `<${name}>${escape(String(text))}</${name}>`;
/** A ManagedObjectReference element: `<name type="Folder">group-d1</name>`. */
export const ref = (name: string, r: MoRef): string => `<${name} type="${escape(r.type)}">${escape(r.value)}</${name}>`;

export function sdkUrl(raw: string): URL {
  const u = new URL(raw);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ConnectorError('invalid', `url must be http(s), not ${u.protocol}`);
  if (u.username || u.password) throw new ConnectorError('invalid', 'url must not carry credentials: use username and password');
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/sdk';
  u.hash = '';
  return u;
}

const moRefOf = (node: XmlNode | undefined): MoRef | undefined => {
  const type = node?.attrs.type;
  return node && type ? { type, value: node.text } : undefined;
};

const needRef = (node: XmlNode | undefined, what: string): MoRef => {
  const r = moRefOf(node);
  if (!r) throw new ConnectorError('refused', `vSphere answered without ${what}`);
  return r;
};

const bool = (node: XmlNode | undefined): boolean => node?.text.trim() === 'true';

function int(node: XmlNode | undefined, what: string): number {
  const v = Number(node?.text.trim());
  if (!node || !Number.isSafeInteger(v)) throw new ConnectorError('refused', `vSphere answered a ${what} that is not an integer`);
  return v;
}

export function readPermission(node: XmlNode): VimPermission {
  const principal = child(node, 'principal')?.text;
  if (principal === undefined) throw new ConnectorError('refused', 'vSphere answered a permission without a principal');
  const entity = moRefOf(child(node, 'entity'));
  return {
    ...(entity ? { entity } : {}),
    principal,
    group: bool(child(node, 'group')),
    roleId: int(child(node, 'roleId'), 'roleId'),
    propagate: bool(child(node, 'propagate')),
  };
}

function readRole(node: XmlNode): VimRole {
  const name = child(node, 'name')?.text;
  if (name === undefined) throw new ConnectorError('refused', 'vSphere answered a role without a name');
  const info = child(node, 'info');
  return {
    roleId: int(child(node, 'roleId'), 'roleId'),
    system: bool(child(node, 'system')),
    name,
    ...(info ? { info: { label: child(info, 'label')?.text ?? '', summary: child(info, 'summary')?.text ?? '' } } : {}),
    privilege: children(node, 'privilege').map((p) => p.text),
  };
}

export function writePermission(p: VimPermission): string {
  // WSDL order: entity, principal, group, roleId, propagate.
  return `<permission>${p.entity ? ref('entity', p.entity) : ''}${el('principal', p.principal)}${el('group', p.group)}`
    + `${el('roleId', p.roleId)}${el('propagate', p.propagate)}</permission>`;
}

/** Properties fetched per entity type (a spec on a base type applies to its subtypes). */
const ENTITY_PROPS: [string, string[]][] = [
  ['ManagedEntity', ['name', 'parent']],
  ['VirtualMachine', ['resourcePool', 'parentVApp']],
  ['VirtualApp', ['parentFolder', 'parentVApp']],
];

export class VimClient {
  readonly url: URL;
  private readonly insecure: boolean;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxElements: number;
  private cookie: string | undefined;
  private content: VimServiceContent | undefined;
  private credentials: { username: string; password: string } | undefined;

  constructor(options: SoapOptions) {
    this.url = sdkUrl(options.url);
    this.insecure = options.insecure ?? false;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxBytes = options.maxResponseBytes ?? 50 * 1024 * 1024;
    this.maxElements = options.maxElements ?? 2_000_000;
  }

  get loggedIn(): boolean {
    return this.credentials !== undefined;
  }

  /** One SOAP call; returns the response element (`<XResponse>`). */
  private async call(method: string, inner: string, retryLogin = true): Promise<XmlNode> {
    const body = `${ENVELOPE_OPEN}<${method} xmlns="urn:vim25">${inner}</${method}>${ENVELOPE_CLOSE}`;
    const { status, text } = await this.post(method, body);
    let root: XmlNode;
    try {
      root = parseXml(text, { maxDepth: 64, maxNodes: this.maxElements });
    } catch (e) {
      if (e instanceof XmlError && e.tooLarge) throw new ConnectorError('too_large', `${method}: the response is too large (${e.message})`);
      if (status !== 200) throw httpFailure(method, status, text);
      throw new ConnectorError('refused', `${method}: vSphere answered something that is not XML (${(e as Error).message})`);
    }
    const soapBody = root.name === 'Envelope' ? child(root, 'Body') : undefined;
    const first = soapBody?.children[0];
    if (!soapBody || !first) {
      if (status !== 200) throw httpFailure(method, status, text);
      throw new ConnectorError('refused', `${method}: vSphere answered XML that is not a SOAP envelope`);
    }
    const fault = first.name === 'Fault' ? readFault(method, first) : missingSetFault(method, first);
    if (fault) {
      if (fault.fault === 'NotAuthenticated' && retryLogin && this.credentials && method !== 'Login') {
        // The session expired (vCenter drops idle sessions after 30 min by default): log in again once.
        await this.login(this.credentials.username, this.credentials.password);
        return this.call(method, inner, false);
      }
      throw fault;
    }
    if (status !== 200) throw httpFailure(method, status, text);
    return first;
  }

  private post(method: string, body: string): Promise<{ status: number; text: string }> {
    const u = this.url;
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const target = `${u.protocol}//${u.host}${u.pathname}`;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: ConnectorError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(e);
      };
      const headers: Record<string, string | number> = {
        'Content-Type': 'text/xml; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        SOAPAction: `"urn:vim25/${VERSION}"`,
      };
      if (this.cookie) headers.Cookie = this.cookie;
      const req = send(u, {
        method: 'POST',
        headers,
        ...(u.protocol === 'https:' ? { rejectUnauthorized: !this.insecure } : {}),
      }, (res: IncomingMessage) => {
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.maxBytes) {
          return fail(new ConnectorError('too_large', `${method}: the response is ${declared} bytes, more than the ${this.maxBytes} accepted`));
        }
        const setCookie = res.headers['set-cookie']?.find((c) => c.startsWith('vmware_soap_session='));
        if (setCookie) this.cookie = setCookie.split(';')[0];
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxBytes) return fail(new ConnectorError('too_large', `${method}: the response exceeds the ${this.maxBytes} bytes accepted`));
          chunks.push(chunk);
        });
        res.on('error', (e) => fail(networkFailure(method, target, e)));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      const timer = setTimeout(() => fail(new ConnectorError('unreachable', `${method}: no complete answer from ${target} within ${this.timeoutMs} ms`)), this.timeoutMs);
      req.on('error', (e) => {
        clearTimeout(timer);
        fail(networkFailure(method, target, e));
      });
      req.end(body);
    });
  }

  async serviceContent(): Promise<VimServiceContent> {
    if (this.content) return this.content;
    const res = await this.call('RetrieveServiceContent', ref('_this', { type: 'ServiceInstance', value: 'ServiceInstance' }));
    const r = child(res, 'returnval');
    if (!r) throw new ConnectorError('refused', 'RetrieveServiceContent: no service content');
    const about = child(r, 'about');
    const text = (name: string): string => (about ? child(about, name)?.text ?? '' : '');
    const uuid = text('instanceUuid');
    this.content = {
      rootFolder: needRef(child(r, 'rootFolder'), 'a root folder'),
      propertyCollector: needRef(child(r, 'propertyCollector'), 'a property collector'),
      viewManager: needRef(child(r, 'viewManager'), 'a view manager'),
      sessionManager: needRef(child(r, 'sessionManager'), 'a session manager'),
      authorizationManager: needRef(child(r, 'authorizationManager'), 'an authorization manager (a standalone ESXi without vCenter still has one)'),
      about: { name: text('name'), fullName: text('fullName'), apiType: text('apiType'), apiVersion: text('apiVersion'), ...(uuid ? { instanceUuid: uuid } : {}) },
    };
    return this.content;
  }

  async login(username: string, password: string): Promise<void> {
    const sc = await this.serviceContent();
    await this.call('Login', `${ref('_this', sc.sessionManager)}${el('userName', username)}${el('password', password)}`, false);
    this.credentials = { username, password };
  }

  async logout(): Promise<void> {
    if (!this.credentials) return;
    const sc = await this.serviceContent();
    this.credentials = undefined;
    await this.call('Logout', ref('_this', sc.sessionManager), false);
    this.cookie = undefined;
  }

  /** Every managed entity below the root folder (not the root itself), through a recursive ContainerView. */
  async listEntities(): Promise<VimEntity[]> {
    const sc = await this.serviceContent();
    const created = await this.call('CreateContainerView',
      `${ref('_this', sc.viewManager)}${ref('container', sc.rootFolder)}${el('recursive', true)}`);
    const view = needRef(child(created, 'returnval'), 'a container view');
    let entities: VimEntity[];
    try {
      entities = await this.collectEntities(view);
    } catch (e) {
      await this.destroyView(view).catch((d: unknown) => {
        throw new ConnectorError((e as ConnectorError).kind ?? 'refused', `${(e as Error).message}; and DestroyView failed too: ${(d as Error).message}`);
      });
      throw e;
    }
    await this.destroyView(view);
    return entities;
  }

  private async destroyView(view: MoRef): Promise<void> {
    await this.call('DestroyView', ref('_this', view));
  }

  private async collectEntities(view: MoRef): Promise<VimEntity[]> {
    const sc = await this.serviceContent();
    const propSet = ENTITY_PROPS.map(([type, paths]) => `<propSet>${el('type', type)}${paths.map((p) => el('pathSet', p)).join('')}</propSet>`).join('');
    const objectSet = `<objectSet>${ref('obj', view)}${el('skip', true)}<selectSet xsi:type="TraversalSpec">${el('name', 'view')}`
      + `${el('type', 'ContainerView')}${el('path', 'view')}${el('skip', false)}</selectSet></objectSet>`;
    const entities: VimEntity[] = [];
    let res = await this.call('RetrievePropertiesEx',
      `${ref('_this', sc.propertyCollector)}<specSet>${propSet}${objectSet}</specSet><options>${el('maxObjects', 1000)}</options>`);
    for (;;) {
      const result = child(res, 'returnval');
      if (!result) break; // no objects at all
      for (const o of children(result, 'objects')) entities.push(readEntity(o));
      const token = child(result, 'token')?.text;
      if (!token) break;
      res = await this.call('ContinueRetrievePropertiesEx', `${ref('_this', sc.propertyCollector)}${el('token', token)}`);
    }
    return entities;
  }

  /** Properties of one object (e.g. `roleList` of the AuthorizationManager). Returns the `val` elements by name. */
  private async properties(obj: MoRef, paths: string[]): Promise<Map<string, XmlNode>> {
    const sc = await this.serviceContent();
    const res = await this.call('RetrievePropertiesEx', `${ref('_this', sc.propertyCollector)}<specSet><propSet>${el('type', obj.type)}`
      + `${paths.map((p) => el('pathSet', p)).join('')}</propSet><objectSet>${ref('obj', obj)}</objectSet></specSet><options></options>`);
    const out = new Map<string, XmlNode>();
    for (const o of children(child(res, 'returnval') ?? res, 'objects')) {
      for (const p of children(o, 'propSet')) {
        const name = child(p, 'name')?.text;
        const val = child(p, 'val');
        if (name !== undefined && val) out.set(name, val);
      }
    }
    return out;
  }

  async roleList(): Promise<VimRole[]> {
    const sc = await this.serviceContent();
    const val = (await this.properties(sc.authorizationManager, ['roleList'])).get('roleList');
    if (!val) throw new ConnectorError('refused', 'vSphere answered no roleList (does this account have System.View on the root?)');
    return children(val, 'AuthorizationRole').map(readRole);
  }

  async retrieveAllPermissions(): Promise<VimPermission[]> {
    const sc = await this.serviceContent();
    const res = await this.call('RetrieveAllPermissions', ref('_this', sc.authorizationManager));
    return children(res, 'returnval').map(readPermission);
  }

  async retrieveEntityPermissions(entity: MoRef, inherited: boolean): Promise<VimPermission[]> {
    const sc = await this.serviceContent();
    const res = await this.call('RetrieveEntityPermissions', `${ref('_this', sc.authorizationManager)}${ref('entity', entity)}${el('inherited', inherited)}`);
    return children(res, 'returnval').map(readPermission);
  }

  async setEntityPermissions(entity: MoRef, permissions: readonly VimPermission[]): Promise<void> {
    const sc = await this.serviceContent();
    await this.call('SetEntityPermissions', `${ref('_this', sc.authorizationManager)}${ref('entity', entity)}${permissions.map(writePermission).join('')}`);
  }

  async removeEntityPermission(entity: MoRef, user: string, isGroup: boolean): Promise<void> {
    const sc = await this.serviceContent();
    await this.call('RemoveEntityPermission', `${ref('_this', sc.authorizationManager)}${ref('entity', entity)}${el('user', user)}${el('isGroup', isGroup)}`);
  }

  /**
   * Creates a role. vSphere adds System.Anonymous, System.View and System.Read itself. The id it answers is
   * not returned: vcsim 0.24 always answers 0 (and numbers its roles 0, 1, ...), so callers read the id
   * back from roleList by name, which is right on both.
   */
  async addAuthorizationRole(name: string, privIds: readonly string[]): Promise<void> {
    const sc = await this.serviceContent();
    await this.call('AddAuthorizationRole', `${ref('_this', sc.authorizationManager)}${el('name', name)}${privIds.map((p) => el('privIds', p)).join('')}`);
  }
}

function readEntity(o: XmlNode): VimEntity {
  const self = needRef(child(o, 'obj'), 'an object reference');
  const e: VimEntity = { self };
  for (const p of children(o, 'propSet')) {
    const name = child(p, 'name')?.text;
    const val = child(p, 'val');
    if (!val) continue;
    if (name === 'name') e.name = val.text;
    else if (name === 'parent' || name === 'resourcePool' || name === 'parentVApp' || name === 'parentFolder') {
      const r = moRefOf(val);
      if (r) e[name] = r;
    }
  }
  return e;
}

/**
 * A property the collector withheld (`missingSet`): vcsim answers a call without a session this way
 * (NotAuthenticated per property), vCenter for properties the account may not read (NoPermission).
 * The connector needs every property it asks for, so the first withheld one fails the call.
 */
function missingSetFault(method: string, response: XmlNode): VimFault | undefined {
  if (method !== 'RetrievePropertiesEx' && method !== 'ContinueRetrievePropertiesEx') return undefined;
  for (const o of children(child(response, 'returnval') ?? response, 'objects')) {
    const missing = child(o, 'missingSet');
    if (!missing) continue;
    const path = child(missing, 'path')?.text ?? '?';
    const inner = child(missing, 'fault');
    const detail = inner ? child(inner, 'fault') ?? inner : undefined;
    const type = (detail && xsiType(detail)) ?? 'NoPermission';
    const obj = moRefOf(child(o, 'obj'));
    return new VimFault(FAULT_KINDS[type] ?? 'refused', type, `${method}: vSphere withheld ${path} of ${obj ? `${obj.type}:${obj.value}` : 'an object'} (${type})`);
  }
  return undefined;
}

function readFault(method: string, fault: XmlNode): VimFault {
  const faultString = child(fault, 'faultstring')?.text.trim() ?? '';
  const detail = child(fault, 'detail')?.children[0];
  const type = detail ? xsiType(detail) ?? detail.name.replace(/Fault$/, '') : 'ServerFault';
  const kind = FAULT_KINDS[type] ?? 'refused';
  const what = faultString && faultString !== type ? `${type}: ${faultString}` : type;
  const hint = type === 'InvalidLogin' ? ' (wrong user name or password)' : type === 'NoPermission' ? ' (the account lacks a privilege: Accord needs Authorization.ModifyPermissions on the entities it manages)' : '';
  return new VimFault(kind, type, `${method}: vSphere refused with ${what}${hint}`);
}

function httpFailure(method: string, status: number, text: string): ConnectorError {
  const excerpt = text.slice(0, 200).replace(/\s+/g, ' ');
  if (status === 401 || status === 403) return new ConnectorError('auth', `${method}: HTTP ${status} ${excerpt}`);
  if (status === 404) return new ConnectorError('invalid', `${method}: HTTP 404: no vSphere SDK at this url (it usually ends in /sdk)`);
  if (status >= 500) return new ConnectorError('unreachable', `${method}: HTTP ${status} without a SOAP fault (the server or a proxy in front of it is failing): ${excerpt}`);
  return new ConnectorError('refused', `${method}: HTTP ${status}: ${excerpt}`);
}

function networkFailure(method: string, target: string, e: Error): ConnectorError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  // Socket errors carry errno names (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND, EAI_AGAIN): retry.
  // Anything else on https is TLS (ERR_SSL_*, ERR_TLS_CERT_ALTNAME_INVALID, DEPTH_ZERO_SELF_SIGNED_CERT, or
  // OpenSSL's verify errors Node reports as UNSPECIFIED, e.g. vcsim's 1024-bit test key "EE certificate key
  // too weak"): retrying will not help until the certificate is trusted or `insecure: true` is set.
  if (target.startsWith('https:') && code !== '' && !/^E[A-Z0-9_]+$/.test(code)) {
    return new ConnectorError('unreachable', `${method}: ${target}: TLS failure (${code}: ${e.message}); for a self-signed vCenter set insecure: true`, false);
  }
  return new ConnectorError('unreachable', `${method}: ${target}: ${code ? `${code} ` : ''}${e.message}`);
}
