/**
 * What a committed command means to people (notifications issue): who now waits on a change, whose vote
 * went stale, who hears it was decided or applied. Runs inside the command's unit of work (the
 * dispatcher's `beforeCommit`), so a message is queued exactly when its state change commits, and never
 * for one that rolled back. Each message's dedupe key names event, change, revision and recipient: the
 * same event is queued once, however often a fact repeats. Messages only deep-link to the exact
 * revision; approval stays a passkey in Accord.
 */
import { decide } from '../auth/permissions.ts';
import type { Principal } from '../auth/roles.ts';
import type { UserStore } from '../auth/user-store.ts';
import { factsOf } from '../commands/change-service.ts';
import type { PublishedFact } from '../commands/dispatcher.ts';
import type { ChangeRequest } from '../domain/review/types.ts';
import { classifyVotes } from '../domain/review/votes.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';
import type { NewMessage, NotificationRepository } from '../store/repositories/notification-repository.ts';
import { webhookMessages, type WebhookRepository } from './webhooks.ts';
import type { Inbox } from './inbox.ts';
import type { NotificationPreferences, PrefChannel } from './preferences.ts';

export const NOTIFY_EVENTS = [
  'change.needs_vote', 'change.needs_signoff', 'vote.stale', 'change.decided', 'change.applied', 'change.apply_failed',
  'campaign.needs_review', 'campaign.reminder',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
export type CampaignEvent = Extract<NotifyEvent, `campaign.${string}`>;
export type ChangeEvent = Exclude<NotifyEvent, CampaignEvent>;

/** What a message says, besides who it goes to: enough to write it without reading the database again. */
export interface NotificationPayload {
  [key: string]: unknown;
  event: ChangeEvent;
  changeId: string;
  title: string;
  status: string;
  revision: number;
  revisionHash: string;
  link: string;
}

/** A campaign's message: which campaign, how many items wait for this reviewer, until when. */
export interface CampaignPayload {
  [key: string]: unknown;
  event: CampaignEvent;
  campaignId: string;
  title: string;
  items: number;
  endsAt: string | null;
  link: string;
}

export const isCampaignPayload = (p: NotificationPayload | CampaignPayload): p is CampaignPayload => p.event.startsWith('campaign.');

export interface NotifierOptions {
  store: ChangeStore;
  users: UserStore;
  outbox: NotificationRepository;
  /** The URL users open (deep links start with it). */
  publicUrl: string;
  /** Campaigns' undecided items per reviewer (campaign facts); absent: no campaign messages. */
  campaignWaiting?: (campaignId: string) => Promise<{ campaign: { id: string; title: string; endsAt: string | null }; waiting: Record<string, number> } | undefined>;
  /** The in-app notification centre (server/notify/inbox.ts): every message to a person lands there too. */
  inbox?: Inbox;
  /** Outgoing webhooks (server/notify/webhooks.ts): endpoints hear the events they subscribed to. */
  webhooks?: WebhookRepository;
  /** Channels that deliver; a message is queued only for a channel that can deliver it. */
  channels: readonly 'email'[];
  /** Per-user preferences: a person who turned an event off on a channel does not get it there. */
  prefs?: NotificationPreferences;
}

export class Notifier {
  readonly #o: NotifierOptions;

  constructor(options: NotifierOptions) {
    this.#o = options;
  }

  /** Drops the recipients who turned `event` off on `channel` (docs/notifications.md, "Preferences"). */
  async #keep<T extends { event: string; recipient: string }>(items: readonly T[], channel: PrefChannel): Promise<T[]> {
    const prefs = this.#o.prefs;
    if (!prefs || items.length === 0) return [...items];
    const out: T[] = [];
    for (const event of new Set(items.map((i) => i.event))) {
      const ofEvent = items.filter((i) => i.event === event);
      const muted = await prefs.mutedOf([...new Set(ofEvent.map((i) => i.recipient))], event, channel);
      out.push(...ofEvent.filter((i) => !muted.has(i.recipient)));
    }
    return out;
  }

  /** Queues the messages these facts mean to people (call inside the facts' unit of work). */
  async record(facts: readonly PublishedFact[]): Promise<void> {
    const email = this.#o.channels.includes('email');
    const hooks = this.#o.webhooks;
    const inbox = this.#o.inbox;
    if (!email && !hooks && !inbox) return;
    for (const fact of facts) {
      if (fact.scope === 'drift') {
        if (hooks && fact.opened.length > 0) {
          const link = `${this.#o.publicUrl.replace(/\/$/, '')}/`;
          await this.#o.outbox.enqueue(await webhookMessages(hooks, 'drift.found', `${fact.target}:${fact.opened.map((f) => f.id).join(',')}`,
            { event: 'drift.found', target: fact.target, title: `${fact.opened.length} difference(s) on ${fact.target}`, findings: fact.opened, link }));
        }
        continue;
      }
      if (fact.scope === 'campaign' && fact.started && this.#o.campaignWaiting) {
        const w = await this.#o.campaignWaiting(fact.campaignId);
        if (w) await this.campaign('campaign.needs_review', w.campaign, w.waiting);
        continue;
      }
      if (fact.scope !== 'change') continue;
      const found = await this.#o.store.get(fact.changeId);
      if (!found) continue;
      const wanted = await this.#events(fact.name, found.change);
      if (wanted.length === 0) continue;
      const current = found.change.revisions.at(-1);
      if (hooks && current) {
        // Endpoints hear each event once per change revision, not once per person it concerns.
        for (const event of new Set(wanted.map((w) => w.event))) {
          const payload: NotificationPayload = {
            event, changeId: found.change.id, title: current.content.title, status: found.change.status, revision: current.number,
            revisionHash: current.hash, link: `${this.#o.publicUrl.replace(/\/$/, '')}/changes/${encodeURIComponent(found.change.id)}`,
          };
          await this.#o.outbox.enqueue(await webhookMessages(hooks, event, `${found.change.id}:${current.hash}:${found.change.status}`, payload));
        }
      }
      if (inbox && current) {
        for (const { event, recipient, change } of await this.#keep(wanted, 'inbox')) {
          await inbox.add(recipient, `${event}:${change.id}:${current.hash}:${change.status}:${recipient}`, event, {
            event, changeId: change.id, title: current.content.title, status: change.status, revision: current.number, revisionHash: current.hash,
            link: `/changes/${encodeURIComponent(change.id)}`,
          });
        }
      }
      if (!email) continue;
      const byEmail = await this.#keep(wanted, 'email');
      const emails = await this.#o.outbox.emails([...new Set(byEmail.map((w) => w.recipient))]);
      const messages: NewMessage[] = [];
      for (const { event, recipient, change } of byEmail) {
        const address = emails.get(recipient);
        const current = change.revisions.at(-1);
        if (!address || !current) continue;
        const payload: NotificationPayload = {
          event, changeId: change.id, title: current.content.title, status: change.status, revision: current.number,
          revisionHash: current.hash, link: `${this.#o.publicUrl.replace(/\/$/, '')}/changes/${encodeURIComponent(change.id)}`,
        };
        messages.push({ dedupeKey: `${event}:${change.id}:${current.hash}:${recipient}:email`, event, channel: 'email', recipient, address, payload });
      }
      await this.#o.outbox.enqueue(messages);
    }
  }

  /**
   * A campaign's reviewers hear that items wait for them: `needs_review` when it starts, `reminder` once when
   * its end is near (only those with undecided items). Call inside the unit of work of what it reports.
   */
  async campaign(event: CampaignEvent, c: { id: string; title: string; endsAt: string | null }, waiting: Record<string, number>): Promise<number> {
    if (this.#o.webhooks) {
      const total = Object.values(waiting).reduce((a, b) => a + b, 0);
      await this.#o.outbox.enqueue(await webhookMessages(this.#o.webhooks, event, c.id,
        { event, campaignId: c.id, title: c.title, items: total, endsAt: c.endsAt, link: `${this.#o.publicUrl.replace(/\/$/, '')}/campaigns/${encodeURIComponent(c.id)}` }));
    }
    if (this.#o.inbox) {
      const inboxed = new Set((await this.#keep(Object.keys(waiting).map((recipient) => ({ event, recipient })), 'inbox')).map((x) => x.recipient));
      for (const [recipient, items] of Object.entries(waiting)) {
        if (items > 0 && inboxed.has(recipient)) await this.#o.inbox.add(recipient, `${event}:${c.id}:${recipient}`, event, { event, campaignId: c.id, title: c.title, items, endsAt: c.endsAt, link: `/campaigns/${encodeURIComponent(c.id)}` });
      }
    }
    if (!this.#o.channels.includes('email')) return 0;
    const mailed = new Set((await this.#keep(Object.keys(waiting).map((recipient) => ({ event, recipient })), 'email')).map((x) => x.recipient));
    const recipients = Object.entries(waiting).filter(([r, n]) => n > 0 && mailed.has(r));
    const emails = await this.#o.outbox.emails(recipients.map(([r]) => r));
    const messages: NewMessage[] = [];
    for (const [recipient, items] of recipients) {
      const address = emails.get(recipient);
      if (!address) continue;
      const payload: CampaignPayload = { event, campaignId: c.id, title: c.title, items, endsAt: c.endsAt, link: `${this.#o.publicUrl.replace(/\/$/, '')}/campaigns/${encodeURIComponent(c.id)}` };
      messages.push({ dedupeKey: `${event}:${c.id}:${recipient}:email`, event, channel: 'email', recipient, address, payload });
    }
    return this.#o.outbox.enqueue(messages);
  }

  /** Who should hear what, now that `fact` committed and `change` is as stored. */
  async #events(fact: string, change: ChangeRequest): Promise<{ event: ChangeEvent; recipient: string; change: ChangeRequest }[]> {
    const people = await this.#o.users.reviewers();
    const facts = factsOf(change);
    const may = (username: string, role: Principal['role'], action: 'change.approve' | 'change.signoff') =>
      decide({ userId: 0, username, role }, action, { kind: 'change', change: facts }).allowed;
    const out: { event: ChangeEvent; recipient: string; change: ChangeRequest }[] = [];
    const to = (event: ChangeEvent, recipient: string) => out.push({ event, recipient, change });
    if (fact === 'revision:submitted' && change.status === 'in_review') {
      // Waiting for my vote: everyone who may approve it (never its authors, nor who wrote this revision).
      for (const p of people) if (may(p.username, p.role, 'change.approve')) to('change.needs_vote', p.username);
      // My earlier vote no longer counts: the revision I voted on was amended.
      const counted = new Set(classifyVotes(change).counted.map((v) => v.voter));
      for (const voter of new Set(classifyVotes(change).stale.map((v) => v.voter))) if (!counted.has(voter)) to('vote.stale', voter);
    }
    if (change.status === 'approved' && ['vote:recorded', 'reviewer:recused', 'revision:submitted', 'status:changed'].includes(fact)) {
      for (const p of people) if (may(p.username, p.role, 'change.signoff')) to('change.needs_signoff', p.username);
      to('change.decided', change.requestedBy);
    }
    if (change.status === 'rejected' && ['vote:recorded', 'reviewer:recused', 'revision:submitted'].includes(fact)) to('change.decided', change.requestedBy);
    if (fact === 'status:changed' && change.status === 'applied') to('change.applied', change.requestedBy);
    if (fact === 'status:changed' && change.status === 'apply_failed') to('change.apply_failed', change.requestedBy);
    return out;
  }
}
