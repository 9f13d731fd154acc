/**
 * The hashes a command names to say what its maker saw (docs/protocol.md, "Binding to what you saw").
 * No Node imports: the web app validates with the same schemas.
 */
import { z } from 'zod';

const HEX64 = /^[0-9a-f]{64}$/;

/** The SHA-256 (lower-case hex) of the revision a vote, recusal or sign-off is about. */
export const RevisionHash = z.string({ error: 'name the revision you looked at: revisionHash (64 hex digits, the revision\'s hash)' })
  .regex(HEX64, 'revisionHash is the revision\'s SHA-256: 64 lower-case hex digits');

/** The SHA-256 (lower-case hex) of the canonical JSON of the draft as its submitter read it. */
export const DraftHash = z.string({ error: 'name the draft you looked at: draftHash (GET /api/changes/:id/draft returns it)' })
  .regex(HEX64, 'draftHash is the draft\'s SHA-256: 64 lower-case hex digits');
