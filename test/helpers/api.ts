import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestServer } from './server.ts';

export interface ApiResult<T = Record<string, unknown>> {
  status: number;
  body: T & { error?: { code: string; message: string } };
}

/** A REST client bound to one user's token. */
export function apiAs(url: string, token: string) {
  return async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult<T>> {
    const res = await fetch(`${url}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as ApiResult<T>['body'] };
  };
}

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export function fixture(path: string): string {
  return readFileSync(`${FIXTURES}${path}`, 'utf8');
}

/** Imports the Proxmox fixture user.cfg as the backend's current state (an admin's job). */
export async function importProxmox(server: TestServer, adminToken: string): Promise<void> {
  const res = await apiAs(server.url, adminToken)('PUT', '/inventories/proxmox', { files: [{ path: 'user.cfg', text: fixture('proxmox/user.cfg') }] });
  if (res.status !== 200) throw new Error(`inventory import failed: ${JSON.stringify(res.body)}`);
}

export const PROXMOX_CONTENT = {
  title: 'Developers can power and console VM 100',
  justification: 'On-call needs to restart the payment VM without waking the platform lead.',
  backend: 'proxmox',
  ticket: 'OPS-1234',
  items: [
    { id: 'i1', op: 'add', grant: { principal: 'devs', privileges: ['vm.power', 'vm.console'], resource: '/vms/100', propagate: false, effect: 'allow' } },
    { id: 'i2', op: 'add', grant: { principal: 'carol@ldap', role: 'PVEVMUser', resource: '/vms/300', propagate: true, effect: 'allow' } },
  ],
};

type Api = ReturnType<typeof apiAs>;

/** The draft's hash as the server reads it: what a submit names (`GET /changes/:id/draft`). */
export async function draftHash(api: Api, changeId: string): Promise<string> {
  const res = await api<{ draftHash: string }>('GET', `/changes/${changeId}/draft`);
  if (res.status !== 200) throw new Error(`reading the draft failed: ${JSON.stringify(res.body)}`);
  return res.body.draftHash;
}

/** Submits the draft as it stands now, naming its hash (as a person who just read it would). */
export async function submitDraft<T = Record<string, unknown>>(api: Api, changeId: string, headers: Record<string, string> = {}): Promise<ApiResult<T>> {
  return api<T>('POST', `/changes/${changeId}/submit`, { draftHash: await draftHash(api, changeId) }, headers);
}

/** The current revision's hash: what a vote, recusal or sign-off names. */
export async function currentHash(api: Api, changeId: string): Promise<string> {
  const res = await api<{ change: { revisions: { hash: string }[] } }>('GET', `/changes/${changeId}`);
  const hash = res.body.change?.revisions.at(-1)?.hash;
  if (!hash) throw new Error(`no current revision for ${changeId}: ${JSON.stringify(res.body)}`);
  return hash;
}

/** Casts a vote on the current revision, naming its hash (body fields as in `POST /changes/:id/votes`). */
export async function voteOnCurrent<T = Record<string, unknown>>(api: Api, changeId: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<ApiResult<T>> {
  return api<T>('POST', `/changes/${changeId}/votes`, { ...body, revisionHash: await currentHash(api, changeId) }, headers);
}
