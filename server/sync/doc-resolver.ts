import type { Principal } from '../auth/roles.ts';
import { can, changeDocAccess, notesAccess, sessionDocAccess, type ChangeFacts, type SessionFacts } from '../auth/permissions.ts';
import type { ErrorBody } from '../protocol/errors.ts';
import type { DocAccess } from '../protocol/events.ts';
import type { ParsedDocId } from './doc-kinds.ts';
import type { DocResolver } from './sync-transport.ts';

type Resolution = { ok: true; access: DocAccess; create: boolean } | { ok: false; error: ErrorBody };

const refuse = (code: ErrorBody['code'], message: string): Resolution => ({ ok: false, error: { code, message } });

/** Bounds on who creates `notes:` documents: joining one that does not exist creates it (integrity finding 7). */
export interface CreationLimit {
  exists(docId: string): Promise<boolean>;
  /** Counts one creation by this user; false when they are over their limit. */
  take(principal: Principal): boolean | Promise<boolean>;
  /** What the refusal says, e.g. "60 new documents an hour". */
  describe: string;
}

/** Who may join which document, decided by the rule book. Change and session documents are created by the server only. */
export class AccordDocResolver implements DocResolver {
  readonly #changeFacts: (changeId: string) => Promise<ChangeFacts | null>;
  readonly #sessionFacts: (sessionId: string) => Promise<SessionFacts | null>;
  readonly #creation: CreationLimit | undefined;
  readonly #campaignExists: (campaignId: string) => Promise<boolean>;

  constructor(
    changeFacts: (changeId: string) => Promise<ChangeFacts | null>, sessionFacts: (sessionId: string) => Promise<SessionFacts | null> = async () => null,
    creation?: CreationLimit, campaignExists: (campaignId: string) => Promise<boolean> = async () => false,
  ) {
    this.#changeFacts = changeFacts;
    this.#sessionFacts = sessionFacts;
    this.#creation = creation;
    this.#campaignExists = campaignExists;
  }

  async resolve(principal: Principal, doc: ParsedDocId): Promise<Resolution> {
    switch (doc.kind) {
      case 'notes': {
        const access = notesAccess(principal);
        if (!access) return refuse('forbidden', 'you may not open these notes');
        if (access === 'write' && this.#creation && !(await this.#creation.exists(doc.docId)) && !(await this.#creation.take(principal))) {
          return refuse('rate_limited', `you may create at most ${this.#creation.describe}; open an existing document or try again later`);
        }
        return { ok: true, access, create: access === 'write' };
      }
      case 'review':
      case 'draft': {
        const facts = await this.#changeFacts(doc.name);
        if (!facts) return refuse('not_found', 'no such change');
        const access = changeDocAccess(principal, doc.kind, facts);
        return access ? { ok: true, access, create: true } : refuse('forbidden', 'you may not open this change');
      }
      case 'session': {
        if (!(await this.#sessionFacts(doc.name))) return refuse('not_found', 'no such session');
        const access = sessionDocAccess(principal);
        return access ? { ok: true, access, create: true } : refuse('forbidden', 'you may not open this session');
      }
      case 'campaign': {
        // Server-written: everyone who may view campaigns reads along; decisions are commands.
        if (!(await this.#campaignExists(doc.name))) return refuse('not_found', 'no such campaign');
        return can(principal, 'campaign.view') ? { ok: true, access: 'read', create: true } : refuse('forbidden', 'you may not open this campaign');
      }
      default:
        return refuse('unknown_kind', `unknown document kind "${doc.kind}"`);
    }
  }
}
