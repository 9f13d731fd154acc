import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyVotes, currentRevision, tallyChange, tallyVotes } from '../../../server/domain/review/votes.ts';
import { change, content, item, revision, vote } from './build.ts';

const i1 = item('i1', 'ops');
const i2 = item('i2', 'ana@pve', '/vms/200');
const i3 = item('i3', 'ben@pve', '/vms/300');
const r1 = revision(1, content([i1, i2, i3]));
// Revision 2 amends i2 and removes i3; i1 is unchanged.
const r2 = revision(2, content([i1, item('i2', 'ana@pve', '/vms/201')]));

test('the current revision is the highest number, whatever the array order', () => {
  assert.equal(currentRevision(change([r2, r1], []))?.number, 2);
  assert.equal(currentRevision(change([], [])), undefined);
});

test('the latest vote per voter and target counts; earlier ones are superseded', () => {
  const first = vote('ana', 'reject', r1, { reason: 'too wide' });
  const second = vote('ana', 'approve', r1);
  const onItem = vote('ana', 'reject', r1, { itemId: 'i1', reason: 'no' });
  const ben = vote('ben', 'approve', r1);
  const out = classifyVotes(change([r1], [first, onItem, second, ben]));
  assert.deepEqual(out.counted, [onItem, second, ben]);
  assert.deepEqual(out.superseded, [first]);
  assert.deepEqual(out.stale, []);
});

test('after an amendment: whole votes go stale, unchanged items carry over, changed and removed items go stale', () => {
  const whole = vote('ana', 'approve', r1);
  const onUnchanged = vote('ben', 'approve', r1, { itemId: 'i1' });
  const onChanged = vote('ben', 'approve', r1, { itemId: 'i2' });
  const onRemoved = vote('ben', 'reject', r1, { itemId: 'i3', reason: 'no' });
  const out = classifyVotes(change([r1, r2], [whole, onUnchanged, onChanged, onRemoved]));
  assert.deepEqual(out.counted, [onUnchanged]);
  assert.deepEqual(out.stale, [whole, onChanged, onRemoved]);
});

test('a later vote on other content does not hide the voter\'s current vote on this content', () => {
  // Ben approved r2; then a stale client sent a reject of r1: that says nothing about r2.
  const onR2 = vote('ben', 'approve', r2);
  const staleLater = vote('ben', 'reject', r1, { reason: 'too wide' });
  const out = classifyVotes(change([r1, r2], [onR2, staleLater]));
  assert.deepEqual(out.counted, [onR2]);
  assert.deepEqual(out.stale, [staleLater]);
  assert.deepEqual(out.superseded, []);
});

test('reverting to identical content makes whole votes on that content count again', () => {
  const r3 = revision(3, content([i1, i2, i3]));
  assert.equal(r3.hash, r1.hash);
  const whole = vote('ana', 'approve', r1);
  const itemOnR1 = vote('ben', 'approve', r1, { itemId: 'i2' });
  const itemOnR2 = vote('ben', 'reject', r2, { itemId: 'i2', reason: 'wrong VM' });
  const out = classifyVotes(change([r1, r2, r3], [whole, itemOnR1, itemOnR2]));
  // Ben rejected r2's different i2; his approval of exactly r3's i2 stands.
  assert.deepEqual(out.counted, [whole, itemOnR1]);
  assert.deepEqual(out.stale, [itemOnR2]);
});

test('an item vote without an item hash, or on a draft without revisions, never counts', () => {
  const broken = { ...vote('ana', 'approve', r1, { itemId: 'i1' }), itemHash: undefined };
  assert.deepEqual(classifyVotes(change([r1], [broken])).stale, [broken]);
  const v = vote('ana', 'approve', r1);
  assert.deepEqual(classifyVotes(change([], [v])).stale, [v]);
});

test('tally per whole revision and per item, every current item listed', () => {
  const votes = [
    vote('ana', 'approve', r2),
    vote('ben', 'reject', r2, { reason: 'x' }),
    vote('ben', 'approve', r2, { itemId: 'i1' }),
    vote('carl', 'abstain', r2, { itemId: 'i1' }),
    vote('carl', 'approve', r1, { itemId: 'i2' }), // stale: i2 changed
  ];
  const c = change([r1, r2], votes);
  assert.deepEqual(tallyChange(c), {
    whole: { approve: ['ana'], reject: ['ben'], abstain: [] },
    items: { i1: { approve: ['ben'], reject: [], abstain: ['carl'] }, i2: { approve: [], reject: [], abstain: [] } },
  });
  assert.deepEqual(tallyVotes([], undefined), { whole: { approve: [], reject: [], abstain: [] }, items: {} });
});
