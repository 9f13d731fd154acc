import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACTIONS, decide, type ActionName, type ChangeFacts, type Resource } from '../../server/auth/permissions.ts';
import { ROLES, SCOPES, type Principal, type Role, type Scope } from '../../server/auth/roles.ts';
import { CHANGE_STATUSES, type ChangeStatus } from '../../server/domain/review/types.ts';

/**
 * The authorization matrix. Every action × role × relation to the change × status has an expected
 * answer written out here, independently of the rules. `Record<ActionName, ...>` makes a new action
 * without a row a type error, so it fails the build (npm test type-checks the tests).
 *
 * Relations: `own` (the requester), `author` (a co-author), `other` (someone else's change; every
 * signed-in user may view every change, so "not invited" reads the same), `recused` (a reviewer who
 * recused from it). Status letters: D draft, R in_review, A approved, J rejected, W withdrawn,
 * P applied, F apply_failed; `*` all; `-` never. A cell is `role:statuses`.
 */
type Relation = 'own' | 'author' | 'other' | 'recused';
type Row = string | Partial<Record<Relation, string>>;

const LETTER: Record<string, ChangeStatus> = { D: 'draft', R: 'in_review', A: 'approved', J: 'rejected', W: 'withdrawn', P: 'applied', F: 'apply_failed' };

const EXPECT: Record<ActionName, Row> = {
  // Actions on no change: the status and relation do not matter; `*` = allowed, `-` = refused.
  'notes.read': 'viewer:* reviewer:* approver:* admin:*',
  'notes.write': 'viewer:- reviewer:* approver:* admin:*',
  'change.create': 'viewer:- reviewer:* approver:* admin:*',
  'inventory.read': 'viewer:* reviewer:* approver:* admin:*',
  'inventory.write': 'viewer:- reviewer:- approver:- admin:*',
  'passkey.register': 'viewer:- reviewer:* approver:* admin:*',
  'token.manage': 'viewer:* reviewer:* approver:* admin:*',
  'user.manage': 'viewer:- reviewer:- approver:- admin:*',
  'target.manage': 'viewer:- reviewer:- approver:- admin:*',
  'campaign.view': 'viewer:* reviewer:* approver:* admin:*',
  'webhook.manage': 'viewer:- reviewer:- approver:- admin:*',
  'audit.view': 'viewer:- reviewer:- approver:- admin:*',
  'campaign.manage': 'viewer:- reviewer:- approver:- admin:*',
  // Deciding and closing depend on the campaign: see the test below (without one, never).
  'campaign.decide': 'viewer:- reviewer:- approver:- admin:-',
  'campaign.close': 'viewer:- reviewer:- approver:- admin:-',
  'campaign.signoff': 'viewer:- reviewer:- approver:- admin:-',
  'session.create': 'viewer:- reviewer:* approver:* admin:*',
  'session.view': 'viewer:* reviewer:* approver:* admin:*',
  // Facilitating depends on the session, not on a change: see the test below (without a session, never).
  'session.facilitate': 'viewer:- reviewer:- approver:- admin:-',
  // Actions on a change.
  'change.view': { own: 'viewer:* reviewer:* approver:* admin:*', author: 'viewer:* reviewer:* approver:* admin:*', other: 'viewer:* reviewer:* approver:* admin:*', recused: 'viewer:* reviewer:* approver:* admin:*' },
  'draft.write': {
    own: 'viewer:DRAJ reviewer:DRAJ approver:DRAJ admin:DRAJ',
    author: 'viewer:DRAJ reviewer:DRAJ approver:DRAJ admin:DRAJ',
    other: 'viewer:- reviewer:RAJ approver:RAJ admin:RAJ',
    recused: 'viewer:- reviewer:RAJ approver:RAJ admin:RAJ',
  },
  'change.submit': {
    own: 'viewer:DRAJ reviewer:DRAJ approver:DRAJ admin:DRAJ',
    author: 'viewer:DRAJ reviewer:DRAJ approver:DRAJ admin:DRAJ',
    other: 'viewer:- reviewer:RAJ approver:RAJ admin:RAJ',
    recused: 'viewer:- reviewer:RAJ approver:RAJ admin:RAJ',
  },
  'change.withdraw': {
    own: 'viewer:DRAJ reviewer:DRAJ approver:DRAJ admin:DRAJ',
    author: 'viewer:- reviewer:- approver:- admin:DRAJ',
    other: 'viewer:- reviewer:- approver:- admin:DRAJ',
    recused: 'viewer:- reviewer:- approver:- admin:DRAJ',
  },
  'change.invite': {
    own: 'viewer:DRAJ reviewer:DRAJ approver:DRAJ admin:DRAJ',
    author: 'viewer:- reviewer:- approver:- admin:DRAJ',
    other: 'viewer:- reviewer:- approver:- admin:DRAJ',
    recused: 'viewer:- reviewer:- approver:- admin:DRAJ',
  },
  'change.vote': {
    own: 'viewer:- reviewer:R approver:R admin:R',
    author: 'viewer:- reviewer:R approver:R admin:R',
    other: 'viewer:- reviewer:R approver:R admin:R',
    recused: 'viewer:- reviewer:- approver:- admin:-',
  },
  // Approving is voting, never by the requester or a co-author (nor, below, by anyone who wrote part of the revision).
  'change.approve': {
    own: 'viewer:- reviewer:- approver:- admin:-',
    author: 'viewer:- reviewer:- approver:- admin:-',
    other: 'viewer:- reviewer:R approver:R admin:R',
    recused: 'viewer:- reviewer:- approver:- admin:-',
  },
  'change.recuse': {
    own: 'viewer:- reviewer:R approver:R admin:R',
    author: 'viewer:- reviewer:R approver:R admin:R',
    other: 'viewer:- reviewer:R approver:R admin:R',
    recused: 'viewer:- reviewer:R approver:R admin:R',
  },
  'change.signoff': {
    own: 'viewer:- reviewer:- approver:- admin:-',
    author: 'viewer:- reviewer:- approver:- admin:-',
    other: 'viewer:- reviewer:- approver:A admin:A',
    recused: 'viewer:- reviewer:- approver:A admin:A',
  },
  'change.apply': {
    own: 'viewer:- reviewer:- approver:- admin:AF',
    author: 'viewer:- reviewer:- approver:- admin:AF',
    other: 'viewer:- reviewer:- approver:- admin:AF',
    recused: 'viewer:- reviewer:- approver:- admin:AF',
  },
  'annotation.create': {
    own: 'viewer:DRAJF reviewer:DRAJF approver:DRAJF admin:DRAJF',
    author: 'viewer:DRAJF reviewer:DRAJF approver:DRAJF admin:DRAJF',
    other: 'viewer:- reviewer:DRAJF approver:DRAJF admin:DRAJF',
    recused: 'viewer:- reviewer:DRAJF approver:DRAJF admin:DRAJF',
  },
  'annotation.resolve': {
    own: 'viewer:- reviewer:* approver:* admin:*',
    author: 'viewer:- reviewer:* approver:* admin:*',
    other: 'viewer:- reviewer:* approver:* admin:*',
    recused: 'viewer:- reviewer:* approver:* admin:*',
  },
  // Editing an annotation depends on who wrote the annotation, not on the change: see the test below.
  'annotation.edit': 'viewer:- reviewer:- approver:- admin:-',
};

function parseCells(spec: string): Map<Role, Set<ChangeStatus>> {
  const out = new Map<Role, Set<ChangeStatus>>();
  for (const cell of spec.split(' ')) {
    const [role, statuses] = cell.split(':') as [Role, string];
    const set = new Set<ChangeStatus>(statuses === '*' ? CHANGE_STATUSES : statuses === '-' ? [] : [...statuses].map((l) => LETTER[l]!));
    out.set(role, set);
  }
  assert.deepEqual([...out.keys()].sort(), [...ROLES].sort(), `every role has a cell: ${spec}`);
  return out;
}

const me = (role: Role, scope?: Scope): Principal => ({ userId: 7, username: 'me', role, ...(scope ? { scope } : {}) });

function facts(relation: Relation, status: ChangeStatus): ChangeFacts {
  return {
    requestedBy: relation === 'own' ? 'me' : 'someone',
    authors: relation === 'author' ? ['someone', 'me'] : ['someone'],
    status,
    recused: relation === 'recused' ? ['me'] : [],
  };
}

describe('the authorization matrix', () => {
  it('has a row for every action, and no row for an action that does not exist', () => {
    assert.deepEqual(Object.keys(EXPECT).sort(), [...ACTIONS].sort());
  });

  for (const action of ACTIONS) {
    it(`${action}: every role × relation × status answers as written`, () => {
      const row = EXPECT[action];
      let checked = 0;
      const relations: [Relation | null, string][] = typeof row === 'string' ? [[null, row]] : (Object.entries(row) as [Relation, string][]);
      if (typeof row !== 'string') assert.deepEqual(relations.map(([r]) => r).sort(), ['author', 'other', 'own', 'recused']);
      for (const [relation, spec] of relations) {
        for (const [role, allowed] of parseCells(spec)) {
          for (const status of CHANGE_STATUSES) {
            const resource: Resource = relation === null ? { kind: 'none' } : { kind: 'change', change: facts(relation, status) };
            const d = decide(me(role), action, resource);
            const expected = relation === null ? allowed.size > 0 : allowed.has(status);
            assert.equal(d.allowed, expected, `${action} by ${role} (${relation ?? 'no change'}, ${status}): expected ${expected ? 'allowed' : 'refused'}${d.allowed ? '' : ` — said "${d.reason}"`}`);
            if (!d.allowed) assert.ok(d.reason.length > 5, 'a refusal says why');
            checked++;
          }
        }
      }
      assert.ok(checked >= ROLES.length * CHANGE_STATUSES.length);
    });
  }

  it('session.facilitate: the facilitator or an admin, only while the session is open', () => {
    for (const role of ROLES) {
      for (const facilitator of ['me', 'someone']) {
        for (const status of ['open', 'closed'] as const) {
          const d = decide(me(role), 'session.facilitate', { kind: 'session', session: { facilitator, status } });
          const expected = status === 'open' && (facilitator === 'me' || role === 'admin');
          assert.equal(d.allowed, expected, `${role}, facilitator ${facilitator}, ${status}`);
          if (!d.allowed) assert.equal(d.kind, status === 'closed' ? 'state' : 'forbidden');
        }
      }
    }
    // A scoped token that may only vote cannot run a session, even its facilitator's.
    assert.equal(decide(me('reviewer', 'vote'), 'session.facilitate', { kind: 'session', session: { facilitator: 'me', status: 'open' } }).allowed, false);
    assert.equal(decide(me('reviewer', 'read'), 'session.view').allowed, true);
  });

  it('campaign.decide: the item\'s reviewers, only while the campaign is active; campaign.close: its owner or an admin', () => {
    const statuses = ['draft', 'active', 'closing', 'closed'] as const;
    for (const role of ROLES) {
      for (const status of statuses) {
        for (const assigned of [true, false]) {
          const d = decide(me(role), 'campaign.decide', { kind: 'campaign', campaign: { owner: 'someone', status, assigned } });
          assert.equal(d.allowed, status === 'active' && assigned, `${role} ${status} assigned=${assigned}`);
          if (!d.allowed) assert.equal(d.kind, status !== 'active' ? 'state' : 'forbidden');
        }
        for (const owner of ['me', 'someone']) {
          const d = decide(me(role), 'campaign.close', { kind: 'campaign', campaign: { owner, status, assigned: false } });
          assert.equal(d.allowed, status === 'active' && (owner === 'me' || role === 'admin'), `${role} ${status} owner=${owner}`);
        }
      }
    }
    // A vote-scoped token may decide its items; a read-only one may not.
    const active = { kind: 'campaign' as const, campaign: { owner: 'x', status: 'active' as const, assigned: true } };
    assert.equal(decide(me('reviewer', 'vote'), 'campaign.decide', active).allowed, true);
    assert.equal(decide(me('reviewer', 'read'), 'campaign.decide', active).allowed, false);
  });

  it('change.approve: whoever wrote part of the current revision (a draft writer) never approves it, and is told which revision', () => {
    const change = { ...facts('other', 'in_review'), revisionAuthors: ['someone', 'me'], revision: 3 };
    const d = decide(me('reviewer'), 'change.approve', { kind: 'change', change });
    assert.equal(d.allowed, false);
    assert.match(d.allowed ? '' : d.reason, /edited the draft of revision 3/);
    assert.equal(decide(me('reviewer'), 'change.vote', { kind: 'change', change }).allowed, true, 'they may still reject or abstain');
    assert.equal(decide(me('reviewer'), 'change.approve', { kind: 'change', change: { ...change, revisionAuthors: ['someone'] } }).allowed, true);
  });

  it('annotation.edit: only the annotation\'s author, whatever their role, on any change', () => {
    for (const role of ROLES) {
      for (const author of ['me', 'someone']) {
        const d = decide(me(role), 'annotation.edit', { kind: 'annotation', change: facts('other', 'in_review'), annotation: { author } });
        assert.equal(d.allowed, author === 'me', `${role} editing ${author}'s annotation`);
      }
    }
  });

  it('a token scope narrows what the role allows, never widens it', () => {
    const SCOPE_ALLOWS: Record<Scope, readonly ActionName[] | 'all'> = {
      full: 'all',
      admin: 'all',
      read: ['notes.read', 'change.view', 'inventory.read', 'session.view', 'campaign.view'],
      vote: ['notes.read', 'change.view', 'inventory.read', 'session.view', 'campaign.view', 'change.vote', 'change.approve', 'change.recuse', 'annotation.create', 'annotation.edit', 'annotation.resolve', 'campaign.decide'],
      signoff: ['notes.read', 'change.view', 'inventory.read', 'session.view', 'campaign.view', 'change.signoff', 'passkey.register', 'campaign.signoff'],
    };
    assert.deepEqual(Object.keys(SCOPE_ALLOWS).sort(), [...SCOPES].sort());
    for (const scope of SCOPES) {
      for (const role of ROLES) {
        for (const action of ACTIONS) {
          for (const status of CHANGE_STATUSES) {
            const resource: Resource = { kind: 'annotation', change: facts('other', status), annotation: { author: 'me' } };
            const withScope = decide(me(role, scope), action, resource).allowed;
            const withRole = decide(me(role), action, resource).allowed;
            const scopeOk = SCOPE_ALLOWS[scope] === 'all' || (SCOPE_ALLOWS[scope] as readonly string[]).includes(action);
            assert.equal(withScope, withRole && scopeOk, `${scope} token of a ${role}: ${action} on ${status}`);
          }
        }
      }
    }
  });
});
