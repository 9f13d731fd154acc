/**
 * The words the Apply panel and the drift list use (web/lib/apply-words.ts): every apply state said in
 * words, time left rounded down to two units, and each grant state a sentence; an expired grant that was
 * not revoked is the loud one, with the reason. And who is offered Apply: the rule book's `change.apply`
 * (shared, not copied), then a valid sign-off and no run under way, each refusal in words.
 */
import './svelte-loader.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { decide } from '../../server/auth/permissions.ts';
import { ROLES, type Role } from '../../server/auth/roles.ts';
import { CHANGE_STATUSES, type ChangeStatus } from '../../server/domain/review/types.ts';
import type { ApplyView } from '../../server/commands/review-view.ts';
import { projectReview } from '../../server/sync/change-docs.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';
import { APPLY_STATES } from '../../server/store/repositories/target-repository.ts';
import {
  APPLY_STATE_MEANING, APPLY_STATE_WORDS, applyTone, durationWords, grantLine, hasCountdown, isApplying, type ApplyGrant,
} from '../../web/lib/apply-words.ts';

const { LiveConnection } = await import('../../web/state/live-connection.svelte.ts');
const { ReviewSession } = await import('../../web/state/review-session.svelte.ts');

const NOW = Date.parse('2026-03-01T12:00:00Z');
const at = (ms: number) => new Date(NOW + ms).toISOString();

describe('apply words', () => {
  it('says every apply state the server has in words, with a meaning', () => {
    for (const state of APPLY_STATES) {
      assert.ok(APPLY_STATE_WORDS[state], state);
      assert.ok(APPLY_STATE_MEANING[state], state);
    }
    assert.equal(APPLY_STATE_WORDS.verified, 'Verified');
    assert.equal(APPLY_STATE_WORDS.verification_failed, 'Verification failed');
    assert.equal(APPLY_STATE_WORDS.partially_applied, 'Partially applied');
    assert.equal(APPLY_STATE_WORDS.apply_failed, 'Apply failed');
    assert.equal(applyTone('verified'), 'ok');
    assert.equal(applyTone('partially_applied'), 'bad');
    assert.ok(isApplying('applying') && isApplying('applied') && !isApplying('verified') && !isApplying(undefined));
  });

  it('counts time down in the two coarsest units, rounded down', () => {
    assert.equal(durationWords((3 * 3600 + 12 * 60 + 59) * 1000), '3 h 12 min');
    assert.equal(durationWords(3 * 3600 * 1000), '3 h');
    assert.equal(durationWords((12 * 60 + 5) * 1000 + 999), '12 min 5 s');
    assert.equal(durationWords(45_999), '45 s');
    assert.equal(durationWords((2 * 86_400 + 4 * 3600 + 59) * 1000), '2 d 4 h');
    assert.equal(durationWords(-5_000), '0 s');
  });

  it('says where each grant stands, loudly when it expired and was not revoked', () => {
    const base: ApplyGrant = { itemId: 'i1', notAfter: at(3 * 3600_000 + 12 * 60_000 + 30_000), state: 'active' };
    assert.deepEqual(grantLine(base, NOW), { text: 'ends in 3 h 12 min', tone: 'live' });
    assert.equal(grantLine({ ...base, notAfter: null }, NOW).text, 'permanent (no end)');
    assert.match(grantLine({ ...base, notAfter: at(-1000) }, NOW).text, /^time is up \(.+\); Accord is revoking it$/);
    const retrying = grantLine({ ...base, notAfter: at(-1000), lastError: 'unreachable: ECONNREFUSED' }, NOW);
    assert.match(retrying.retrying ?? '', /the last attempt to revoke it failed: unreachable: ECONNREFUSED; Accord tries again/);
    assert.match(grantLine({ ...base, state: 'revoked', revokedAt: at(-60_000) }, NOW).text, /^revoked at /);
    assert.match(grantLine({ ...base, state: 'released' }, NOW).text, /nothing removed, another approved grant still covers the same access/);
    const alarm = grantLine({ ...base, state: 'expired_unrevoked', lastError: 'auth: 401 Authentication failed!' }, NOW);
    assert.deepEqual(alarm, { text: 'expired, NOT revoked: auth: 401 Authentication failed!', tone: 'alarm' });
    assert.ok(hasCountdown([base]));
    assert.ok(!hasCountdown([{ ...base, notAfter: null }, { ...base, state: 'revoked' }]));
  });
});

const HASH = 'a'.repeat(64);

/** A ReviewSession of `me` whose review document holds a change in `status` (never connects). */
function sessionFor(role: Role, status: ChangeStatus, signedOff: boolean, apply: ApplyView | null, target?: string) {
  const socket = io('http://127.0.0.1:9', { autoConnect: false }) as AccordSocket;
  const live = new LiveConnection('mia', { socket, storage: null });
  const opened = live.openDoc.bind(live);
  live.openDoc = (docId: string) => {
    const provider = opened(docId);
    projectReview(provider.doc, {
      id: 'c1', title: 'Console for VM 100', status, requestedBy: 'rita', authors: ['rita'], recusals: [], votes: [], annotations: [],
      signoffs: signedOff ? [{ approver: 'paul', revision: 1, revisionHash: HASH, credentialId: 'k', at: at(0), valid: true, receipt: {} }] : [],
      apply,
      revisions: [{
        number: 1, hash: HASH, itemHashes: {}, authors: ['rita'], submittedBy: 'rita', submittedAt: at(0),
        content: { title: 'Console for VM 100', justification: '', backend: 'proxmox', items: [], ...(target ? { target } : {}) },
      }],
    }, 'server');
    return provider;
  };
  const session = new ReviewSession('c1', { id: 7, username: 'mia', role }, live);
  return { session, dispose: () => (session.dispose(), live.dispose()) };
}

const run = (state: ApplyView['state']): ApplyView => ({
  state, target: 'pve1', revision: 1, revisionHash: HASH, items: [{ itemId: 'i1', state: 'pending' }], steps: [], warnings: [], difference: [],
  startedBy: 'root', startedAt: at(0), updatedAt: at(0), grants: [],
});

describe('who is offered Apply', () => {
  it('asks the rule book, then wants a valid sign-off and no run under way', () => {
    for (const role of ROLES) for (const status of CHANGE_STATUSES) for (const signedOff of [false, true]) {
      const { session, dispose } = sessionFor(role, status, signedOff, null);
      try {
        const rule = decide({ userId: 7, username: 'mia', role, scope: 'full' }, 'change.apply', { kind: 'change', change: { requestedBy: 'rita', authors: ['rita'], status, recused: [], revisionAuthors: ['rita'], revision: 1 } });
        const shown = session.mayApply;
        assert.equal(shown.allowed, rule.allowed && signedOff, `${role} ${status} signed off: ${signedOff}`);
        if (!shown.allowed) assert.ok(shown.why && /[.]$/.test(shown.why), `a reason in words: ${shown.why}`);
      } finally {
        dispose();
      }
    }
  });

  it('says why not: the role, the sign-off, the run under way; names the target; reads the run from the review document', () => {
    const reviewer = sessionFor('reviewer', 'approved', true, null);
    const unsigned = sessionFor('admin', 'approved', false, null, 'pve1');
    const running = sessionFor('admin', 'approved', true, run('applying'));
    const failed = sessionFor('admin', 'apply_failed', true, run('partially_applied'));
    try {
      assert.equal(reviewer.session.mayApply.why, 'Applying a change needs the admin role.');
      assert.equal(unsigned.session.mayApply.why, "Apply needs an approver's sign-off of revision 1 first.");
      assert.equal(unsigned.session.targetName, 'pve1');
      assert.equal(running.session.mayApply.why, 'An apply is under way.');
      assert.equal(running.session.apply?.state, 'applying');
      assert.equal(failed.session.mayApply.allowed, true, 'Apply may be pressed again after a failure');
    } finally {
      for (const s of [reviewer, unsigned, running, failed]) s.dispose();
    }
  });
});
