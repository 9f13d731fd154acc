/**
 * REST of the admin area (docs/api.md, "Admin"): accounts, tokens, inventories, policies, the audit log.
 * Answers are typed from the server's own declarations where they exist.
 */
import type { UserListRecord } from '../../server/store/repositories/user-repository.ts';
import type { InventoryImportResult, InventorySummary } from '../../server/commands/inventory.ts';
import type { PolicyPreview } from '../../server/commands/policy-engine.ts';
import type { AuditEntry } from '../../server/audit/entry.ts';
import type { VerifyResult } from '../../server/audit/verify.ts';
import type { TargetView } from '../../server/connectors/targets.ts';
import type { DriftReport } from '../../server/connectors/drift.ts';
import type { Webhook } from '../../server/notify/webhooks.ts';
import { call } from './api.ts';
import { newIdempotencyKey } from './idempotency.ts';

export type { TargetView, DriftReport, Webhook };
export type { UserListRecord as AdminUser, InventorySummary, InventoryImportResult, PolicyPreview, AuditEntry, VerifyResult };

export interface TokenView {
  id: string;
  label: string;
  scope: string;
  expiresAt: number | null;
  revoked: boolean;
  lastUsedAt: string | null;
}

export const ROLE_CHOICES = ['viewer', 'reviewer', 'approver', 'admin'] as const;
export const TOKEN_SCOPES = ['read', 'vote', 'signoff', 'admin'] as const;
export const BACKENDS = ['proxmox', 'vsphere', 'libvirt', 'xapi'] as const;

const enc = encodeURIComponent;

export const adminApi = {
  users: () => call<{ users: UserListRecord[] }>('GET', '/users').then((r) => r.users),
  createUser: (body: { username: string; role: string; password?: string; groups: string[] }) =>
    call<{ user: UserListRecord; token: string }>('POST', '/users', body),
  updateUser: (name: string, body: { role?: string; groups?: string[] }) =>
    call<{ user: UserListRecord }>('PATCH', `/users/${enc(name)}`, body).then((r) => r.user),
  setDisabled: (name: string, disabled: boolean) => call<void>('POST', `/users/${enc(name)}/${disabled ? 'disable' : 'enable'}`),
  resetPassword: (name: string, password: string) => call<void>('POST', `/users/${enc(name)}/password`, { password }),
  myTokens: () => call<{ tokens: TokenView[] }>('GET', '/tokens').then((r) => r.tokens),
  createToken: (body: { label: string; scope: string; expiresInDays?: number }) => call<{ token: string; tokens: TokenView[] }>('POST', '/tokens', body),
  revokeMyToken: (id: string) => call<void>('DELETE', `/tokens/${enc(id)}`),
  tokensOf: (name: string) => call<{ tokens: TokenView[] }>('GET', `/users/${enc(name)}/tokens`).then((r) => r.tokens),
  revokeTokenOf: (name: string, id: string) => call<void>('DELETE', `/users/${enc(name)}/tokens/${enc(id)}`),
  inventories: () => call<{ inventories: InventorySummary[] }>('GET', '/inventories').then((r) => r.inventories),
  importInventory: (backend: string, files: { path: string; text: string }[]) =>
    call<InventoryImportResult>('PUT', `/inventories/${enc(backend)}`, { files }),
  policies: () => call<{ policies: { name: string; yaml: string }[] }>('GET', '/policies').then((r) => r.policies),
  checkPolicy: (body: { name: string; yaml: string; changeId?: string }) => call<PolicyPreview>('POST', '/policies/check', body),
  savePolicy: (name: string, yaml: string) => call<void>('PUT', `/policies/${enc(name)}`, { yaml }),
  audit: (q: { before?: number; limit?: number; actor?: string; action?: string; subject?: string }) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') params.set(k, String(v));
    return call<{ entries: AuditEntry[]; next: number | null }>('GET', `/audit?${params}`);
  },
  verifyAudit: () => call<VerifyResult>('POST', '/audit/verify'),
  targets: () => call<{ targets: TargetView[]; connectable: string[] }>('GET', '/targets'),
  /** `target:create`: the key makes a double click one target. */
  connectTarget: (target: Record<string, unknown>, key: string = newIdempotencyKey()) =>
    call<{ target: TargetView }>('POST', '/targets', target, { 'idempotency-key': key }).then((r) => r.target),
  readTarget: (name: string, key: string = newIdempotencyKey()) =>
    call<DriftReport>('POST', `/targets/${enc(name)}/read`, {}, { 'idempotency-key': key }),
  webhooks: () => call<{ webhooks: Webhook[]; events: string[] }>('GET', '/webhooks'),
  createWebhook: (body: { url: string; events: string[]; format: string }) => call<{ id: string; secret: string; webhook: Webhook }>('POST', '/webhooks', body),
  rotateWebhook: (id: string) => call<{ id: string; secret: string }>('POST', `/webhooks/${enc(id)}/rotate`),
  deleteWebhook: (id: string) => call<void>('DELETE', `/webhooks/${enc(id)}`),
};

/** A refusal as a sentence for people (the server's messages already name the field and what to do). */
export function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const s = text.trim();
  return s ? s[0]!.toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.') : 'Something went wrong.';
}

/** Groups typed as "a, b c" → ["a", "b", "c"] (order kept, duplicates dropped). */
export function parseGroups(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((g) => g.trim()).filter(Boolean))];
}

export function when(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const t = typeof value === 'number' ? value : Date.parse(value);
  return Number.isNaN(t) ? String(value) : new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
