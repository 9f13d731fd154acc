import type * as Y from 'yjs';
import type { SocketProvider, ProviderStatus } from '../lib/socket-provider.ts';
import type { User } from '../lib/api.ts';
import type { CampaignDecision, CampaignItemView, CampaignView } from '../lib/campaign-api.ts';
import type { LiveConnection } from './live-connection.svelte.ts';
import type { CommandOutcomeOf, QueuedCommand, RefusedCommand } from './command-queue.svelte.ts';
import type { Participant } from './review-session.svelte.ts';
import { liveDocSubscribers } from './live-doc.svelte.ts';
import { decide, type ActionName, type Decision } from '../../server/auth/permissions.ts';
import { isRole, isScope, type Principal } from '../../server/auth/roles.ts';

/** How many items the page renders at once: a campaign can hold ~18,000. */
export const PAGE_SIZE = 100;

/** What the items list shows; every flag narrows it further. */
export interface ItemFilter {
  /** Only items I review. */
  mine: boolean;
  undecided: boolean;
  highRisk: boolean;
  /** Only grants no Accord change request put there. */
  outsideAccord: boolean;
  orphaned: boolean;
  /** Principal or resource contains (case-insensitive). */
  text: string;
}

export const NO_FILTER: ItemFilter = { mine: false, undecided: false, highRisk: false, outsideAccord: false, orphaned: false, text: '' };

/** The items the filter lets through, in the order given. */
export function filterItems(items: readonly CampaignItemView[], f: ItemFilter, me: string): CampaignItemView[] {
  const text = f.text.trim().toLowerCase();
  return items.filter((i) =>
    (!f.mine || i.reviewers.includes(me)) &&
    (!f.undecided || i.decision === null) &&
    (!f.highRisk || i.highRisk) &&
    (!f.outsideAccord || i.approvedBy === null) &&
    (!f.orphaned || i.helpers.orphaned) &&
    (text === '' || i.grant.principal.toLowerCase().includes(text) || i.grant.resource.toLowerCase().includes(text)));
}

/** One page of a list: its items, and which page it is once clamped to the pages there are (0-based). */
export function pageOf<T>(items: readonly T[], page: number, size = PAGE_SIZE): { items: T[]; page: number; pages: number; from: number; to: number } {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const p = Math.min(Math.max(0, page), pages - 1);
  const slice = items.slice(p * size, (p + 1) * size);
  return { items: slice, page: p, pages, from: slice.length ? p * size + 1 : 0, to: p * size + slice.length };
}

/** What the grant gives: its role, or its own privileges. */
export function grantWords(item: CampaignItemView): string {
  const g = item.grant;
  if (g.role) return `role ${g.role}`;
  return `privileges ${(g.privileges ?? []).join(', ') || 'none'}`;
}

/** "alice@pve on /vms/101": how an item is named in labels and presence. */
export const itemName = (item: Pick<CampaignItemView, 'grant'>): string => `${item.grant.principal} on ${item.grant.resource}`;

/** The rule book's answer to one "may I" question, with its reason as a sentence when the answer is no. */
export interface Permission {
  allowed: boolean;
  why: string | null;
}

/** A reason as a sentence: capitalised, one full stop. */
export function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const s = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(s) ? s : `${s}.`;
}

const asPermission = (d: Decision): Permission => (d.allowed ? { allowed: true, why: null } : { allowed: false, why: sentence(d.reason) });

/** Stable order for the items list: principal, then resource, then id (a decision never reorders it). */
const collator = new Intl.Collator(undefined, { numeric: true });
const compareItems = (a: CampaignItemView, b: CampaignItemView): number =>
  collator.compare(a.grant.principal, b.grant.principal) || collator.compare(a.grant.resource, b.grant.resource) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const campaignOf = (c: QueuedCommand): string | undefined => {
  const id = (c.payload as { campaignId?: unknown }).campaignId;
  return typeof id === 'string' ? id : undefined;
};

export type CampaignConnection = 'connected' | 'syncing' | 'offline' | 'refused';

/**
 * One live campaign: reads the server-written `campaign:<id>` document (never writes it; Y.Map `campaign`
 * is the view, Y.Map `items` the items with their reviewers and decisions), shows who is here
 * (awareness), and sends decisions and the close as commands, which queue while offline.
 */
export class CampaignSession {
  readonly campaignId: string;
  readonly me: User & { scope?: string };
  readonly #live: LiveConnection;
  readonly #provider: SocketProvider;
  readonly #campaign: Y.Map<unknown>;
  readonly #itemsMap: Y.Map<CampaignItemView>;
  readonly #reads = liveDocSubscribers(() => this.#provider);
  #view = $state.raw<CampaignView | null>(null);
  #items = $state.raw<CampaignItemView[]>([]);
  /** Where each item sits in `#items`, so a decision replaces entries without sorting again. */
  #index = new Map<string, number>();

  constructor(campaignId: string, me: User & { scope?: string }, live: LiveConnection) {
    this.campaignId = campaignId;
    this.me = me;
    this.#live = live;
    this.#provider = live.openDoc(`campaign:${campaignId}`);
    this.#campaign = this.#provider.doc.getMap('campaign');
    this.#itemsMap = this.#provider.doc.getMap('items');
    this.#campaign.observe(this.#onCampaign);
    this.#itemsMap.observe(this.#onItems);
    this.#onCampaign();
    this.#onItems(null);
    // Presence needs a local state; `looking` is the item this person has in focus.
    this.#provider.awareness.setLocalStateField('looking', null);
  }

  #onCampaign = (): void => {
    const json = this.#campaign.toJSON() as Partial<CampaignView>;
    this.#view = typeof json.id === 'string' && json.progress ? (json as CampaignView) : null;
  };

  #onItems = (event: Y.YMapEvent<CampaignItemView> | null): void => {
    if (event) {
      const changed = [...event.keysChanged];
      // Only decisions on items already here: replace them in place (the order does not depend on decisions).
      if (changed.every((k) => this.#index.has(k) && this.#itemsMap.has(k))) {
        const next = [...this.#items];
        for (const k of changed) next[this.#index.get(k)!] = this.#itemsMap.get(k)!;
        this.#items = next;
        return;
      }
    }
    const all = [...this.#itemsMap.values()].sort(compareItems);
    this.#index = new Map(all.map((i, n) => [i.id, n]));
    this.#items = all;
  };

  /** The campaign view (status, progress, revocations); null until the first sync brings it in. */
  get view(): CampaignView | null {
    return this.#view;
  }
  get isLoaded(): boolean {
    return this.#view !== null;
  }
  /** Every item of the snapshot, in a stable order (principal, resource). */
  get items(): readonly CampaignItemView[] {
    return this.#items;
  }
  item(id: string): CampaignItemView | undefined {
    const n = this.#index.get(id);
    return n === undefined ? undefined : this.#items[n];
  }

  get providerStatus(): ProviderStatus {
    this.#reads.provider();
    return this.#provider.status;
  }
  /** Why the document could not be opened (no such campaign, not allowed), in the server's words; null otherwise. */
  get loadError(): string | null {
    return this.providerStatus === 'refused' ? sentence(this.#provider.lastError?.message ?? 'the server refused this campaign') : null;
  }
  get connection(): CampaignConnection {
    const status = this.providerStatus;
    if (status === 'refused') return 'refused';
    if (!this.#live.isConnected || status === 'offline') return 'offline';
    if (status !== 'synced' || this.queued.length > 0) return 'syncing';
    return 'connected';
  }
  get connectionLabel(): string {
    const n = this.queued.length;
    const waiting = n ? ` — ${n} decision${n === 1 ? '' : 's'} waiting to be sent` : '';
    switch (this.connection) {
      case 'refused': return 'Refused';
      case 'offline': return `Offline${waiting}`;
      case 'syncing': return `Syncing…${waiting}`;
      default: return 'Connected';
    }
  }

  get principal(): Principal | null {
    const { id, username, role, scope } = this.me;
    if (!isRole(role)) return null;
    return { userId: id, username, role, scope: isScope(scope) ? scope : 'full' };
  }
  /** The server's rule book (server/auth/permissions.ts, shared, not copied) on one campaign action. */
  #decide(action: ActionName, assigned: boolean): Decision {
    const p = this.principal;
    if (!p) return { allowed: false, kind: 'forbidden', reason: `your role (${this.me.role}) is not one this page knows; reload it` };
    const v = this.#view;
    if (!v) return { allowed: false, kind: 'state', reason: 'the campaign is still loading' };
    return decide(p, action, { kind: 'campaign', campaign: { owner: v.owner, status: v.status, assigned } });
  }
  /** May I decide these items (a reviewer of every one, while the campaign is active)? */
  mayDecide(items: readonly CampaignItemView[]): Permission {
    if (items.length === 0) return { allowed: false, why: 'Select items first.' };
    return asPermission(this.#decide('campaign.decide', items.every((i) => i.reviewers.includes(this.me.username))));
  }
  /** Do I review this item at all (whatever the campaign's status)? */
  reviews(item: CampaignItemView): boolean {
    return item.reviewers.includes(this.me.username);
  }
  /** Am I one of the campaign's reviewers (items assigned to me)? */
  get isReviewer(): boolean {
    return (this.#view?.progress.byReviewer[this.me.username]?.assigned ?? 0) > 0;
  }
  /** May I sign my decisions with a passkey (a reviewer of the campaign, once it has started)? */
  get maySignOff(): Permission {
    return asPermission(this.#decide('campaign.signoff', this.isReviewer));
  }
  /**
   * What my decisions are right now, as one string (item, decision, reason): it changes whenever what I
   * would sign changes, so the sign-off panel reads it again. Empty when I decided nothing.
   */
  get myDecisionsKey(): string {
    const me = this.me.username;
    return this.#items.filter((i) => i.decidedBy === me && i.decision !== null).map((i) => `${i.id}:${i.decision}:${i.reason ?? ''}`).join('\n');
  }
  /** May I close the campaign (its owner or an admin, while it is active)? */
  get mayClose(): Permission {
    return asPermission(this.#decide('campaign.close', false));
  }

  /**
   * Records one decision on items I review (`campaign:decide`); it waits in the queue while offline. The
   * answer is the server's: a refusal (a bulk keep with high-risk items, a revoke without a reason) says why.
   */
  decideItems(ids: readonly string[], decision: CampaignDecision, reason: string): Promise<CommandOutcomeOf<'campaign:decide'>> {
    const first = ids.length === 1 ? this.item(ids[0]!) : undefined;
    const what = first ? itemName(first) : `${ids.length} items`;
    const label = `${decision === 'keep' ? 'Keep' : 'Revoke'} ${what}`;
    return this.#live.commands.send('campaign:decide', { campaignId: this.campaignId, items: [...ids], decision, reason: reason.trim() }, label);
  }
  /** Closes the campaign for decisions; revoked items become one change request per backend. */
  close(): Promise<CommandOutcomeOf<'campaign:close'>> {
    return this.#live.commands.send('campaign:close', { campaignId: this.campaignId }, `Close campaign ${this.#view?.title ?? this.campaignId}`);
  }

  /** My commands on this campaign that the server has not answered yet (queued offline or in flight). */
  get queued(): readonly QueuedCommand[] {
    return this.#live.commands.pending.filter((c) => c.name.startsWith('campaign:') && campaignOf(c) === this.campaignId);
  }
  /** My decision on an item that waits to be sent, if any (the latest). */
  pendingDecision(itemId: string): CampaignDecision | undefined {
    for (const c of this.queued.toReversed()) if (c.name === 'campaign:decide' && c.payload.items.includes(itemId)) return c.payload.decision;
    return undefined;
  }
  /** My commands on this campaign that the server refused, with its reason (shown until dismissed). */
  get refused(): readonly RefusedCommand[] {
    return this.#live.commands.refused.filter((c) => c.name.startsWith('campaign:') && campaignOf(c) === this.campaignId);
  }
  dismissRefusal(key: string): void {
    this.#live.commands.dismissRefusal(key);
  }

  /** Who has this campaign open, me first. */
  get participants(): Participant[] {
    this.#reads.presence();
    const out: Participant[] = [];
    for (const [clientId, state] of this.#provider.awareness.getStates()) {
      const s = state as { user?: { name?: string; role?: string }; looking?: string | null };
      const isMe = clientId === this.#provider.doc.clientID;
      const name = isMe ? this.me.username : s.user?.name;
      if (name) out.push({ clientId, name, role: isMe ? this.me.role : (s.user?.role ?? ''), looking: s.looking ?? null, typing: false, isMe });
    }
    return out.sort((a, b) => Number(b.isMe) - Number(a.isMe) || a.name.localeCompare(b.name));
  }
  /** Tells the others which item I have in focus (volatile presence). */
  lookAt(itemId: string | null): void {
    if ((this.#provider.awareness.getLocalState() as { looking?: string | null } | null)?.looking === itemId) return;
    this.#provider.awareness.setLocalStateField('looking', itemId);
  }

  dispose(): void {
    this.#campaign.unobserve(this.#onCampaign);
    this.#itemsMap.unobserve(this.#onItems);
    this.#provider.destroy();
  }
}
