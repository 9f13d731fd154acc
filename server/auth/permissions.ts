import type { DocAccess } from '../protocol/events.ts';
import { atLeast, type Principal } from './roles.ts';

/**
 * The one rule book: every "may X do Y?" question in Accord is answered here.
 * Actions are added as features land; an action without a rule does not type-check.
 */
export type Action =
  | { kind: 'doc.read'; docKind: string }
  | { kind: 'doc.write'; docKind: string }
  | { kind: 'doc.create'; docKind: string };

export function can(principal: Principal, action: Action): boolean {
  switch (action.kind) {
    case 'doc.read':
      return action.docKind === 'notes';
    case 'doc.write':
    case 'doc.create':
      // Shared prose is written by reviewers and above; viewers read along.
      return action.docKind === 'notes' && atLeast(principal.role, 'reviewer');
  }
}

/** The access level a principal gets when joining a document of `docKind`, or null if refused. */
export function docAccess(principal: Principal, docKind: string): DocAccess | null {
  if (can(principal, { kind: 'doc.write', docKind })) return 'write';
  if (can(principal, { kind: 'doc.read', docKind })) return 'read';
  return null;
}
