import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bellLabel, notificationLink, notificationSentence } from '../../web/lib/notification-words.ts';

test('each notification event reads as a sentence with its title and revision', () => {
  const change = { changeId: 'cr-1', title: 'Payments on-call', status: 'in_review', revision: 2, link: '/changes/cr-1' };
  assert.equal(notificationSentence({ event: 'change.needs_vote', payload: change }), 'Your vote is needed: Payments on-call (revision 2)');
  assert.equal(notificationSentence({ event: 'change.needs_signoff', payload: change }), 'Your sign-off is needed: Payments on-call (revision 2)');
  assert.equal(notificationSentence({ event: 'change.decided', payload: { ...change, status: 'approved' } }), 'Decided (approved): Payments on-call (revision 2)');
  assert.equal(notificationSentence({ event: 'campaign.needs_review', payload: { campaignId: 'cmp-1', title: 'Q1', items: 1, endsAt: null } }), 'Campaign to review: Q1 (1 item waits for your decision)');
  assert.equal(notificationSentence({ event: 'something.new', payload: { title: 'X' } }), 'something new: X');
});

test('links stay inside the app: the payload link, else the campaign or the change', () => {
  assert.equal(notificationLink({ payload: { link: '/changes/cr-1' } }), '/changes/cr-1');
  assert.equal(notificationLink({ payload: { link: 'https://evil.example/', campaignId: 'cmp 1' } }), '/campaigns/cmp%201');
  assert.equal(notificationLink({ payload: { link: '//evil.example/', changeId: 'cr-2' } }), '/changes/cr-2');
  assert.equal(notificationLink({ payload: {} }), null);
  assert.equal(bellLabel(3), 'Notifications (3 unread)');
  assert.equal(bellLabel(null), 'Notifications');
});
