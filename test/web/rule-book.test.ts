/**
 * The review page asks the server's rule book (server/auth/permissions.ts, pure, imported as is) every
 * "may I" question it shows: vote, approve, recuse, annotate, resolve, sign off, amend. The facts come
 * from the review document the server writes; the answers, token scopes included, are the server's,
 * and a "no" comes with the rule book's reason in words instead of a button the server would refuse.
 * No server here: the review document is filled with `projectReview`, as the server does.
 */
import './svelte-loader.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { decide, type ActionName, type ChangeFacts } from '../../server/auth/permissions.ts';
import { ROLES, SCOPES, type Role, type Scope } from '../../server/auth/roles.ts';
import { CHANGE_STATUSES, type ChangeStatus } from '../../server/domain/review/types.ts';
import { projectReview } from '../../server/sync/change-docs.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';

const { LiveConnection } = await import('../../web/state/live-connection.svelte.ts');
const { ReviewSession } = await import('../../web/state/review-session.svelte.ts');

/** The actions the review page offers, by the rule book's names. */
const ASKED: ActionName[] = ['change.vote', 'change.recuse', 'annotation.create', 'annotation.resolve', 'change.signoff', 'draft.write'];

interface Case {
  role: Role;
  scope: Scope;
  status: ChangeStatus;
  /** How "me" relates to the change. */
  relation: 'stranger' | 'requester' | 'author' | 'revision-author' | 'recused';
}

const ME = 'mia';

function view(c: Case) {
  return {
    id: 'c1',
    title: 'Console for VM 100',
    status: c.status,
    requestedBy: c.relation === 'requester' ? ME : 'rita',
    authors: c.relation === 'author' ? ['rita', ME] : ['rita'],
    recusals: c.relation === 'recused' ? [{ reviewer: ME, reason: 'I wrote the rota', at: '2026-01-01T00:00:00.000Z' }] : [],
    votes: [],
    signoffs: [],
    annotations: [],
    revisions: [{
      number: 1, hash: 'a'.repeat(64), itemHashes: {}, authors: c.relation === 'revision-author' ? ['rita', ME] : ['rita'],
      content: { title: 'Console for VM 100', justification: '', backend: 'proxmox', items: [] }, submittedBy: 'rita', submittedAt: '2026-01-01T00:00:00.000Z',
    }],
  };
}

/** A ReviewSession whose review document holds `c`'s view; its socket never connects. */
function sessionFor(c: Case) {
  const socket = io('http://127.0.0.1:9', { autoConnect: false }) as AccordSocket;
  const live = new LiveConnection(ME, { socket, storage: null });
  const opened = live.openDoc.bind(live);
  live.openDoc = (docId: string) => {
    const provider = opened(docId);
    projectReview(provider.doc, view(c), 'server');
    return provider;
  };
  const me = { id: 7, username: ME, role: c.role, scope: c.scope };
  const session = new ReviewSession('c1', me, live);
  return { session, dispose: () => (session.dispose(), live.dispose()) };
}

function factsOf(c: Case): ChangeFacts {
  const v = view(c);
  return { requestedBy: v.requestedBy, authors: v.authors, status: c.status, recused: v.recusals.map((r) => r.reviewer), revisionAuthors: v.revisions[0]!.authors };
}

describe('the review page asks the server\'s rule book', () => {
  it('gives the rule book\'s answer to every question it shows, for every role, scope, status and relation', () => {
    let checked = 0;
    for (const role of ROLES) for (const scope of SCOPES) for (const status of CHANGE_STATUSES) {
      for (const relation of ['stranger', 'requester', 'author', 'revision-author', 'recused'] as const) {
        const c = { role, scope, status, relation };
        const { session, dispose } = sessionFor(c);
        try {
          for (const action of ASKED) {
            const expected = decide({ userId: 7, username: ME, role, scope }, action, { kind: 'change', change: factsOf(c) });
            const shown = session.may(action);
            assert.equal(shown.allowed, expected.allowed, `${action} for ${JSON.stringify(c)}`);
            if (!expected.allowed) assert.ok(shown.why && shown.why.length > 10, `a reason in words for ${action}: ${JSON.stringify(c)}`);
            else assert.equal(shown.why, null);
            checked++;
          }
          // The page's own flags follow the same answers.
          assert.equal(session.canVote, session.may('change.vote').allowed);
          assert.equal(session.canAnnotate, session.may('annotation.create').allowed);
          assert.equal(session.canResolve, session.may('annotation.resolve').allowed);
          assert.equal(session.canSignOff, session.may('change.signoff').allowed);
          if (session.canApprove) assert.equal(session.canVote, true, 'approving is voting');
        } finally {
          dispose();
        }
      }
    }
    assert.equal(checked, ROLES.length * SCOPES.length * CHANGE_STATUSES.length * 5 * ASKED.length);
  });

  it('shows the requester what they can do on their own change, and why not the rest', () => {
    const { session, dispose } = sessionFor({ role: 'reviewer', scope: 'full', status: 'in_review', relation: 'requester' });
    try {
      assert.equal(session.canVote, true, 'a requester may reject or abstain');
      assert.equal(session.canApprove, false);
      assert.equal(session.mayApprove.why, 'You are an author of this change: you can reject or abstain, not approve.');
      assert.equal(session.may('change.recuse').allowed, true);
      assert.equal(session.may('annotation.create').allowed, true);
      assert.equal(session.may('change.signoff').why, 'Only an approved change is signed off; this one is in review.');
    } finally {
      dispose();
    }
  });

  it('says why in words: role, closed votes, recusal, authorship of the revision, token scope', () => {
    const viewer = sessionFor({ role: 'viewer', scope: 'full', status: 'in_review', relation: 'stranger' });
    const closed = sessionFor({ role: 'reviewer', scope: 'full', status: 'approved', relation: 'stranger' });
    const recused = sessionFor({ role: 'reviewer', scope: 'full', status: 'in_review', relation: 'recused' });
    const wrote = sessionFor({ role: 'approver', scope: 'full', status: 'approved', relation: 'revision-author' });
    const wroteInReview = sessionFor({ role: 'reviewer', scope: 'full', status: 'in_review', relation: 'revision-author' });
    const readToken = sessionFor({ role: 'approver', scope: 'read', status: 'in_review', relation: 'stranger' });
    const signToken = sessionFor({ role: 'approver', scope: 'signoff', status: 'approved', relation: 'stranger' });
    try {
      assert.equal(viewer.session.may('change.vote').why, 'Voting needs the reviewer role.');
      assert.equal(viewer.session.may('annotation.create').why, 'Annotating needs the reviewer role.');
      assert.equal(viewer.session.may('annotation.resolve').why, 'Resolving needs the reviewer role.');
      assert.equal(closed.session.may('change.vote').why, 'Votes are closed: the change is approved.');
      assert.equal(recused.session.may('change.vote').why, 'You recused yourself from this change.');
      assert.equal(wrote.session.canSignOff, false);
      assert.equal(wrote.session.may('change.signoff').why, 'You wrote part of this revision, so you cannot sign it off.');
      assert.equal(wroteInReview.session.canVote, true);
      assert.equal(wroteInReview.session.canApprove, false);
      assert.match(wroteInReview.session.mayApprove.why ?? '', /^You edited the draft of revision 1, so you are one of its authors/);
      // A token narrowed to reading or signing off: the page does not offer what the server would refuse.
      assert.equal(readToken.session.canVote, false, 'a read-only token does not vote, whatever the role');
      assert.equal(readToken.session.canApprove, false);
      assert.equal(readToken.session.canAnnotate, false);
      assert.match(readToken.session.may('change.vote').why ?? '', /scope \(read\)/);
      assert.equal(signToken.session.canSignOff, true);
      assert.equal(signToken.session.canAnnotate, false);
      assert.equal(signToken.session.connection, 'offline', 'never connected here');
    } finally {
      for (const s of [viewer, closed, recused, wrote, wroteInReview, readToken, signToken]) s.dispose();
    }
  });
});
