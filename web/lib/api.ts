import type { ErrorBody } from '../../server/protocol/errors.ts';

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

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/api${path}`, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  const json = (await res.json()) as T & { error?: ErrorBody };
  if (!res.ok) throw new ApiError(json.error ?? { code: 'internal', message: res.statusText });
  return json;
}

export const api = {
  me: () => call<{ user: User }>('GET', '/me').then((r) => r.user),
  signIn: (username: string, password: string) => call<{ user: User }>('POST', '/session', { username, password }).then((r) => r.user),
  signOut: () => call<void>('DELETE', '/session'),
};
