import type { Principal } from '../auth/roles.ts';
import { changeDocAccess, notesAccess, sessionDocAccess, type ChangeFacts, type SessionFacts } from '../auth/permissions.ts';
import type { ErrorBody } from '../protocol/errors.ts';
import type { DocAccess } from '../protocol/events.ts';
import type { ParsedDocId } from './doc-kinds.ts';
import type { DocResolver } from './sync-transport.ts';

type Resolution = { ok: true; access: DocAccess; create: boolean } | { ok: false; error: ErrorBody };

const refuse = (code: ErrorBody['code'], message: string): Resolution => ({ ok: false, error: { code, message } });

/** Who may join which document, decided by the rule book. Change and session documents are created by the server only. */
export class AccordDocResolver implements DocResolver {
  readonly #changeFacts: (changeId: string) => ChangeFacts | null;
  readonly #sessionFacts: (sessionId: string) => SessionFacts | null;

  constructor(changeFacts: (changeId: string) => ChangeFacts | null, sessionFacts: (sessionId: string) => SessionFacts | null = () => null) {
    this.#changeFacts = changeFacts;
    this.#sessionFacts = sessionFacts;
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
      case 'session': {
        if (!this.#sessionFacts(doc.name)) return refuse('not_found', 'no such session');
        const access = sessionDocAccess(principal);
        return access ? { ok: true, access, create: true } : refuse('forbidden', 'you may not open this session');
      }
      default:
        return refuse('unknown_kind', `unknown document kind "${doc.kind}"`);
    }
  }
}
