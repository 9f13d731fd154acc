/**
 * The in-app notification centre's messages in words (docs/notifications.md): each event of
 * server/notify/notifier.ts as one sentence, and where it leads.
 */
import type { InboxItem } from '../../server/protocol/events.ts';

export type { InboxItem };

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** One notification as a sentence, e.g. "Your vote is needed: Payments on-call (revision 2)". */
export function notificationSentence(n: Pick<InboxItem, 'event' | 'payload'>): string {
  const p = n.payload;
  const title = str(p.title) ?? str(p.changeId) ?? str(p.campaignId) ?? 'untitled';
  const revision = num(p.revision);
  const change = `${title}${revision !== null ? ` (revision ${revision})` : ''}`;
  const items = num(p.items);
  const itemWords = items !== null ? `${items} item${items === 1 ? '' : 's'}` : 'items';
  const endsAt = str(p.endsAt);
  const ends = endsAt ? `, ends ${new Date(endsAt).toLocaleString()}` : '';
  switch (n.event) {
    case 'change.needs_vote': return `Your vote is needed: ${change}`;
    case 'change.needs_signoff': return `Your sign-off is needed: ${change}`;
    case 'vote.stale': return `The change was amended, your vote no longer counts: ${change}`;
    case 'change.decided': return `Decided${str(p.status) ? ` (${str(p.status)!.replace(/_/g, ' ')})` : ''}: ${change}`;
    case 'change.applied': return `Applied: ${change}`;
    case 'change.apply_failed': return `Applying failed: ${change}`;
    case 'campaign.needs_review': return `Campaign to review: ${title} (${itemWords} ${items === 1 ? 'waits' : 'wait'} for your decision${ends})`;
    case 'campaign.reminder': return `Reminder: ${title} still has ${itemWords} waiting for your decision${ends}`;
    default: return `${n.event.replace(/[._]/g, ' ')}: ${title}`;
  }
}

/** Where a notification leads inside the app: its own link, else its change or campaign; null when none. */
export function notificationLink(n: Pick<InboxItem, 'payload'>): string | null {
  const p = n.payload;
  const link = str(p.link);
  if (link && link.startsWith('/') && !link.startsWith('//')) return link;
  const campaign = str(p.campaignId);
  if (campaign) return `/campaigns/${encodeURIComponent(campaign)}`;
  const changeId = str(p.changeId);
  if (changeId) return `/changes/${encodeURIComponent(changeId)}`;
  return null;
}

/** "Notifications (3 unread)": the bell's accessible name. */
export function bellLabel(unread: number | null): string {
  return unread === null ? 'Notifications' : `Notifications (${unread} unread)`;
}
