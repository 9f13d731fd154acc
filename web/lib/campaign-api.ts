/**
 * REST for recertification campaigns (docs/campaigns.md, docs/api.md): the list, defining a campaign from
 * its YAML and starting it. Decisions and closing are live commands (web/state/campaign.svelte.ts); the
 * campaign itself is read from its live document.
 */
import type { CampaignView } from '../../server/commands/campaign-service.ts';
import type { CampaignItem } from '../../server/domain/campaign/snapshot.ts';
import { request } from './api.ts';
import { newIdempotencyKey } from './idempotency.ts';

export type { CampaignView, CampaignItem };
export type CampaignStatus = CampaignView['status'];
export type CampaignDecision = 'keep' | 'revoke';

/** One item as the live document and `GET /api/campaigns/:id` carry it: the snapshot, its reviewers and its decision. */
export type CampaignItemView = CampaignItem & {
  reviewers: string[];
  decision: CampaignDecision | null;
  reason: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
};

const call = request;

export const campaignApi = {
  /** Every campaign (any signed-in user reads them), or only the active ones with items waiting for my decision. */
  list: (waitingForMe = false) =>
    call<{ campaigns: CampaignView[] }>('GET', `/campaigns${waitingForMe ? '?waitingFor=me' : ''}`).then((r) => r.campaigns),
  /** Admin: defines a campaign (a draft) from its YAML; the key makes a double click one campaign, not two. */
  create: (yaml: string, key: string = newIdempotencyKey()) =>
    call<{ campaign: CampaignView }>('POST', '/campaigns', { body: yaml, headers: { 'content-type': 'application/yaml', 'idempotency-key': key } }).then((r) => r.campaign),
  /** Admin: takes the snapshot and opens the campaign for decisions (refused when the scope matches nothing). */
  start: (id: string, key: string = newIdempotencyKey()) =>
    call<{ campaign: CampaignView }>('POST', `/campaigns/${encodeURIComponent(id)}/start`, { headers: { 'idempotency-key': key } }).then((r) => r.campaign),
  /** What I would sign: my decisions on this campaign, the attestation and the hash of both (docs/campaigns.md). */
  myDecisions: (id: string) => call<MyDecisions>('GET', `/campaigns/${encodeURIComponent(id)}/signoffs/mine`),
  /** WebAuthn options whose challenge commits to `decisionsHash` (409 `revision_changed` once I decided more). */
  signOffOptions: (id: string, decisionsHash: string) =>
    call<{ options: unknown }>('POST', `/campaigns/${encodeURIComponent(id)}/signoffs/options`, json({ decisionsHash })).then((r) => r.options),
  /** The passkey's answer, naming the same hash again; recorded with its receipt. */
  signOff: (id: string, response: unknown, decisionsHash: string) =>
    call<{ receipt: { revisionHash: string }; attestation: string; decisions: number }>('POST', `/campaigns/${encodeURIComponent(id)}/signoffs`, json({ response, decisionsHash })),
};

const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

/** A reviewer's decisions as they would sign them: the attestation names them, the hash binds them. */
export interface MyDecisions {
  count: number;
  hash: string;
  attestation: string;
  decisions: { item: string; grant: CampaignItem['grant']; decision: CampaignDecision; reason: string | null }[];
}

/** The auditors' report: a plain link (the session cookie authenticates GETs). */
export function reportUrl(id: string, format: 'csv' | 'json'): string {
  return `/api/campaigns/${encodeURIComponent(id)}/report?format=${format}`;
}

/** A campaign's status in words. */
export function statusWords(status: CampaignStatus): string {
  switch (status) {
    case 'draft': return 'Not started yet';
    case 'active': return 'Open for decisions';
    case 'closing': return 'Closed for decisions; waiting for its revocations to be applied';
    case 'closed': return 'Closed';
  }
}

/** "7 of 10 decided (70%)". */
export function progressWords(p: { total: number; decided: number }): string {
  if (p.total === 0) return 'no items yet';
  return `${p.decided} of ${p.total} decided (${Math.floor((p.decided / p.total) * 100)}%)`;
}

/** A date and time for people, or a dash. */
export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}
