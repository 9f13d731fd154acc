import type { ErrorBody } from '../../server/protocol/errors.ts';
import type { ChangeItem, ChangeSummary, DriftFinding, EvidencePack, Inventory, Preview, ReviewView, SessionSummary, SessionView } from './types.ts';
import { newIdempotencyKey } from './idempotency.ts';

export interface User {
  id: number;
  username: string;
  role: string;
}

export class ApiError extends Error {
  readonly code: string;
  constructor(body: ErrorBody) {
    super(body.message);
    this.code = body.code;
  }
}

/**
 * One request to the API and its answer: the JSON body, nothing for 204, and for a refusal an ApiError with
 * the server's words (or, when the answer is not JSON, e.g. a proxy's error page, what the status says).
 * Every web client of the REST API goes through it.
 */
export async function request<T>(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<T> {
  const res = await fetch(`/api${path}`, { method, credentials: 'same-origin', headers: init.headers ?? {}, body: init.body });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: (T & { error?: ErrorBody }) | null = null;
  try {
    json = text ? (JSON.parse(text) as T & { error?: ErrorBody }) : null;
  } catch {
    // Not JSON (a proxy's error page): the status says what happened.
  }
  if (!res.ok) throw new ApiError(json?.error ?? { code: 'internal', message: `the server answered ${res.status} ${res.statusText}`.trim() });
  return json as T;
}

/** `request` with a JSON body. */
export function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  return request<T>(method, path, body === undefined ? { headers } : { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
}

export interface ListFilter {
  status?: string;
  backend?: string;
  requester?: string;
  /** Only changes waiting for my vote or my sign-off (decided by the server). */
  waitingFor?: 'vote' | 'signoff';
  /** `high`: the current revision gains a high-risk privilege. */
  risk?: 'high' | 'normal';
  /** Title contains (case-insensitive). */
  q?: string;
  limit?: number;
}

function query(filter: ListFilter): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

export const api = {
  me: () => call<{ user: User }>('GET', '/me').then((r) => r.user),
  signIn: (username: string, password: string) => call<{ user: User }>('POST', '/session', { username, password }).then((r) => r.user),
  signOut: () => call<void>('DELETE', '/session'),
  changes: (filter: ListFilter = {}) => call<{ changes: ChangeSummary[] }>('GET', `/changes${query(filter)}`).then((r) => r.changes),
  change: (id: string) => call<{ change: ReviewView }>('GET', `/changes/${encodeURIComponent(id)}`).then((r) => r.change),
  passkeys: () => call<{ passkeys: unknown[] }>('GET', '/passkeys').then((r) => r.passkeys),
  passkeyOptions: () => call<{ options: unknown }>('POST', '/passkeys/options').then((r) => r.options),
  registerPasskey: (response: unknown) => call<{ passkey: unknown }>('POST', '/passkeys', { response }),
  /** A challenge bound to the revision hash shown on the sign-off screen (refused `revision_changed` if it is not current). */
  signOffOptions: (id: string, revisionHash: string) =>
    call<{ options: unknown }>('POST', `/changes/${encodeURIComponent(id)}/signoffs/options`, { revisionHash }).then((r) => r.options),
  /** The passkey's answer, naming the same revision hash as the challenge. */
  signOff: (id: string, response: unknown, revisionHash: string) =>
    call<{ receipt: { revisionHash: string; signedAt?: string }; seen: Record<string, unknown> }>('POST', `/changes/${encodeURIComponent(id)}/signoffs`, { response, revisionHash }),
  /** The live draft as the server reads it, and the hash `submit` must name (REST clients; the web app hashes its own copy). */
  draft: (id: string) => call<{ draft: Record<string, unknown>; draftHash: string }>('GET', `/changes/${encodeURIComponent(id)}/draft`),
  /** Creates a change in `draft` (reviewer+); the key makes a double click create one change, not two. */
  createChange: (content: NewChangeContent, key: string = newIdempotencyKey()) =>
    call<{ change: ReviewView }>('POST', '/changes', content, { 'idempotency-key': key }).then((r) => r.change),
  inviteAuthor: (id: string, username: string) =>
    call<{ change: ReviewView }>('POST', `/changes/${encodeURIComponent(id)}/authors`, { username }, { 'idempotency-key': newIdempotencyKey() }).then((r) => r.change),
  inventory: (backend: string) => call<Inventory>('GET', `/inventories/${encodeURIComponent(backend)}`),
  preview: (backend: string, items: ChangeItem[], signal?: AbortSignal) => callPreview(backend, items, signal),
  /** Exports the evidence pack: a POST, because the server records every export in the audit log (`GET` answers 405). */
  evidence: (id: string) => call<EvidencePack>('POST', `/changes/${encodeURIComponent(id)}/evidence?format=json`),
  sessions: (status?: 'open' | 'closed') => call<{ sessions: SessionSummary[] }>('GET', `/joint-sessions${status ? `?status=${status}` : ''}`).then((r) => r.sessions),
  /** Opens a joint session that I facilitate; the key makes a double click open one session, not two. */
  /** Open drift findings on the connected targets (docs/targets.md); everyone signed in reads them. */
  drift: () => call<{ findings: DriftFinding[] }>('GET', '/drift?state=open').then((r) => r.findings),
  /** Admin: what the target holds becomes approved. The key makes a double click one adoption. */
  adoptDrift: (findingId: string, key: string = newIdempotencyKey()) =>
    call<{ finding: DriftFinding; changeId: null }>('POST', `/drift/${encodeURIComponent(findingId)}/adopt`, {}, { 'idempotency-key': key }),
  /** Admin: submits a change request that undoes the finding (reviewed like any other); answers its id. */
  revertDrift: (findingId: string, key: string = newIdempotencyKey()) =>
    call<{ finding: DriftFinding; changeId: string | null }>('POST', `/drift/${encodeURIComponent(findingId)}/revert`, {}, { 'idempotency-key': key }),
  createSession: (body: { title: string; agenda: string[]; minutesPerItem: number }, key: string = newIdempotencyKey()) =>
    call<{ session: SessionView }>('POST', '/joint-sessions', body, { 'idempotency-key': key }).then((r) => r.session),
};

/** The minimal content `POST /api/changes` accepts: a title, a backend, and nothing else yet. */
export interface NewChangeContent {
  title: string;
  justification: string;
  backend: string;
  items: ChangeItem[];
}

async function callPreview(backend: string, items: ChangeItem[], signal?: AbortSignal): Promise<Preview> {
  const res = await fetch('/api/preview', {
    method: 'POST', credentials: 'same-origin', signal,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ backend, items }),
  });
  const json = (await res.json()) as Preview & { error?: ErrorBody };
  if (!res.ok) throw new ApiError(json.error ?? { code: 'internal', message: res.statusText });
  return json;
}
