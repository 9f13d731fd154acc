import type { Principal } from '../auth/roles.ts';
import { changeDocAccess, notesAccess, type ChangeFacts } from '../auth/permissions.ts';
import type { ErrorBody } from '../protocol/errors.ts';
import type { DocAccess } from '../protocol/events.ts';
import type { ParsedDocId } from './doc-kinds.ts';
import type { DocResolver } from './sync-transport.ts';

type Resolution = { ok: true; access: DocAccess; create: boolean } | { ok: false; error: ErrorBody };

const refuse = (code: ErrorBody['code'], message: string): Resolution => ({ ok: false, error: { code, message } });

/** Who may join which document, decided by the rule book. Change documents are created by the server only. */
export class AccordDocResolver implements DocResolver {
  readonly #changeFacts: (changeId: string) => ChangeFacts | null;

  constructor(changeFacts: (changeId: string) => ChangeFacts | null) {
    this.#changeFacts = changeFacts;
  }

  async resolve(principal: Principal, doc: ParsedDocId): Promise<Resolution> {
    switch (doc.kind) {
      case 'notes': {
        const access = notesAccess(principal);
        return access ? { ok: true, access, create: access === 'write' } : refuse('forbidden', 'you may not open these notes');
      }
      case 'review':
      case 'draft': {
        const facts = this.#changeFacts(doc.name);
        if (!facts) return refuse('not_found', 'no such change');
        const access = changeDocAccess(principal, doc.kind, facts);
        return access ? { ok: true, access, create: true } : refuse('forbidden', 'you may not open this change');
      }
      default:
        return refuse('unknown_kind', `unknown document kind "${doc.kind}"`);
    }
  }
}
