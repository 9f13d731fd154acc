/**
 * PasskeyRepository: every SQL statement on passkeys and revision-bound sign-offs, in tables
 * `webauthn_credentials`, `webauthn_challenges` and `signoffs` (created by the migrations of either
 * database), plus the one read that joins sign-offs with `users` for the review view. It stores and finds
 * rows; every check (who may sign, challenge expiry, the WebAuthn verification itself) stays in Passkeys
 * (server/auth/webauthn/passkeys.ts), except the two that must be one statement to hold under concurrent
 * requests: a challenge is consumed once (`consumeChallenge`) and a counter only moves forward
 * (`advanceCounter`).
 *
 * Transactions: each method is one statement and opens no transaction. Passkeys runs several in one
 * `Database.transaction` where they must commit together (consuming the challenge and storing the
 * passkey; consuming the challenge, advancing the counter and storing the sign-off together with the
 * caller's audit entry); every statement here joins the caller's transaction (sql.ts).
 *
 * Rows are decoded by hand-written functions that check each column's type and throw an Error naming the
 * table and column (never a wrong value): `signOffsOf` runs for every review view, so it avoids a schema
 * library's overhead. BLOBs come back as Uint8Array from SQLite and Buffer (a Uint8Array) from PostgreSQL.
 */
import type { Database, Row } from '../sql.ts';

/** A row of `webauthn_credentials`. */
export interface CredentialRecord {
  /** The base64url credential id. */
  id: string;
  userId: number;
  /** The COSE public key. */
  publicKey: Uint8Array;
  /** The last signature counter seen. */
  counter: number;
  transports: string[];
  createdAt: string;
}

export type ChallengePurpose = 'register' | 'signoff';

/** A row of `webauthn_challenges`; a sign-off challenge also names what it commits to. */
export interface ChallengeRecord {
  challenge: string;
  userId: number;
  purpose: ChallengePurpose;
  changeId: string | null;
  revision: number | null;
  revisionHash: string | null;
  nonce: string | null;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  used: boolean;
}

export type NewChallenge = Omit<ChallengeRecord, 'used'>;

export interface NewCredential {
  id: string;
  userId: number;
  publicKey: Uint8Array;
  counter: number;
  transports: readonly string[];
}

export interface NewSignOff {
  changeId: string;
  revision: number;
  revisionHash: string;
  userId: number;
  credentialId: string;
  /** The assertion as received, canonical JSON: stored byte for byte (the receipt commits to its hash). */
  assertion: string;
  /** The signed receipt, as JSON. */
  receipt: string;
  at: string;
}

/** A stored sign-off with its approver's name, as the review view lists it. */
export interface SignOffListing {
  approver: string;
  revision: number;
  revisionHash: string;
  credentialId: string;
  at: string;
  receipt: unknown;
  assertion: unknown;
}

const CREDENTIALS = 'webauthn_credentials';
const CHALLENGES = 'webauthn_challenges';
const SIGNOFFS = 'signoffs';
const USERS = 'users';

const CREDENTIAL_COLUMNS = 'id, user_id, public_key, counter, transports, created_at';
const CHALLENGE_COLUMNS = 'challenge, user_id, purpose, change_id, revision, revision_hash, nonce, expires_at, used';

const CREDENTIALS_OF = `SELECT ${CREDENTIAL_COLUMNS} FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id`;
const CREDENTIAL = `SELECT ${CREDENTIAL_COLUMNS} FROM webauthn_credentials WHERE id = ?`;
const CREDENTIAL_EXISTS = 'SELECT 1 AS found FROM webauthn_credentials WHERE id = ?';
const COUNTER = 'SELECT counter FROM webauthn_credentials WHERE id = ?';
const INSERT_CREDENTIAL = 'INSERT INTO webauthn_credentials (id, user_id, public_key, counter, transports) VALUES (?, ?, ?, ?, ?)';
/**
 * WebAuthn §6.1.1 in the WHERE clause: a non-zero counter must strictly increase; 0 then 0 means "no
 * counter". On PostgreSQL a concurrent update of the same row waits and re-checks the condition against
 * the committed counter, so two sign-offs with one passkey can never move it backwards.
 */
const ADVANCE_COUNTER = 'UPDATE webauthn_credentials SET counter = ? WHERE id = ? AND (counter < ? OR (counter = 0 AND ? = 0))';
const PRUNE_CHALLENGES = 'DELETE FROM webauthn_challenges WHERE expires_at < ?';
const INSERT_CHALLENGE = 'INSERT INTO webauthn_challenges (challenge, user_id, purpose, change_id, revision, revision_hash, nonce, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
const CHALLENGE = `SELECT ${CHALLENGE_COLUMNS} FROM webauthn_challenges WHERE challenge = ?`;
const CONSUME = 'UPDATE webauthn_challenges SET used = 1 WHERE challenge = ? AND used = 0';
const SIGNED_OFF = 'SELECT 1 AS found FROM signoffs WHERE change_id = ? AND revision = ? AND user_id = ?';
const INSERT_SIGNOFF = 'INSERT INTO signoffs (change_id, revision, revision_hash, user_id, credential_id, assertion, receipt, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id';
const SIGNOFFS_OF = `SELECT s.revision, s.revision_hash, s.credential_id, s.assertion, s.receipt, s.at, u.username
  FROM signoffs s JOIN users u ON u.id = s.user_id WHERE s.change_id = ? ORDER BY s.id`;

export class PasskeyRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  // --- credentials -------------------------------------------------------------------------------

  /** The user's passkeys, oldest first. */
  async credentialsOf(userId: number): Promise<CredentialRecord[]> {
    return (await this.#db.all(CREDENTIALS_OF, [userId])).map(decodeCredential);
  }

  async credential(id: string): Promise<CredentialRecord | null> {
    const row = await this.#db.get(CREDENTIAL, [id]);
    return row ? decodeCredential(row) : null;
  }

  async credentialExists(id: string): Promise<boolean> {
    return (await this.#db.get(CREDENTIAL_EXISTS, [id])) !== undefined;
  }

  /** The credential's stored signature counter, or null for an unknown credential. */
  async counter(id: string): Promise<number | null> {
    const row = await this.#db.get(COUNTER, [id]);
    return row ? int(row, CREDENTIALS, 'counter') : null;
  }

  /** Stores a passkey; an id already registered fails with the database's unique violation (`isUniqueViolation`). */
  async insertCredential(c: NewCredential): Promise<void> {
    await this.#db.run(INSERT_CREDENTIAL, [c.id, c.userId, c.publicKey, c.counter, JSON.stringify(c.transports)]);
  }

  /**
   * Sets the credential's counter to `counter` if that advances it (strictly greater, or 0 after 0);
   * false when it does not, or the credential is unknown.
   */
  async advanceCounter(id: string, counter: number): Promise<boolean> {
    return (await this.#db.run(ADVANCE_COUNTER, [counter, id, counter, counter])) === 1;
  }

  // --- challenges --------------------------------------------------------------------------------

  /** Deletes challenges that expired before `before` (ms since the epoch). */
  async pruneChallenges(before: number): Promise<void> {
    await this.#db.run(PRUNE_CHALLENGES, [before]);
  }

  async insertChallenge(c: NewChallenge): Promise<void> {
    await this.#db.run(INSERT_CHALLENGE, [c.challenge, c.userId, c.purpose, c.changeId, c.revision, c.revisionHash, c.nonce, c.expiresAt]);
  }

  async challenge(challenge: string): Promise<ChallengeRecord | null> {
    const row = await this.#db.get(CHALLENGE, [challenge]);
    return row ? decodeChallenge(row) : null;
  }

  /** Marks an unused challenge used; false if it was used already (or is unknown). */
  async consumeChallenge(challenge: string): Promise<boolean> {
    return (await this.#db.run(CONSUME, [challenge])) === 1;
  }

  // --- sign-offs ---------------------------------------------------------------------------------

  async hasSignedOff(changeId: string, revision: number, userId: number): Promise<boolean> {
    return (await this.#db.get(SIGNED_OFF, [changeId, revision, userId])) !== undefined;
  }

  /**
   * Stores a sign-off; returns its id. The UNIQUE (change, revision, user) constraint refuses a second
   * one with the database's unique violation (`isUniqueViolation`).
   */
  async insertSignOff(s: NewSignOff): Promise<number> {
    const row = await this.#db.get(INSERT_SIGNOFF, [s.changeId, s.revision, s.revisionHash, s.userId, s.credentialId, s.assertion, s.receipt, s.at]);
    if (!row) throw new Error('signoffs: INSERT ... RETURNING id returned no row');
    return int(row, SIGNOFFS, 'id');
  }

  /** Every sign-off of the change (any revision), in the order they were made, with the approver's name. */
  async signOffsOf(changeId: string): Promise<SignOffListing[]> {
    return (await this.#db.all(SIGNOFFS_OF, [changeId])).map(decodeSignOffListing);
  }
}

// --- decoders ------------------------------------------------------------------------------------

function decodeCredential(row: Row): CredentialRecord {
  return {
    id: text(row, CREDENTIALS, 'id'),
    userId: int(row, CREDENTIALS, 'user_id'),
    publicKey: blob(row, CREDENTIALS, 'public_key'),
    counter: int(row, CREDENTIALS, 'counter'),
    transports: stringArray(row, CREDENTIALS, 'transports'),
    createdAt: text(row, CREDENTIALS, 'created_at'),
  };
}

function decodeChallenge(row: Row): ChallengeRecord {
  const purpose = text(row, CHALLENGES, 'purpose');
  if (purpose !== 'register' && purpose !== 'signoff') throw corrupt(CHALLENGES, 'purpose', "'register' or 'signoff'", purpose);
  return {
    challenge: text(row, CHALLENGES, 'challenge'),
    userId: int(row, CHALLENGES, 'user_id'),
    purpose,
    changeId: textOrNull(row, CHALLENGES, 'change_id'),
    revision: intOrNull(row, CHALLENGES, 'revision'),
    revisionHash: textOrNull(row, CHALLENGES, 'revision_hash'),
    nonce: textOrNull(row, CHALLENGES, 'nonce'),
    expiresAt: int(row, CHALLENGES, 'expires_at'),
    used: int(row, CHALLENGES, 'used') !== 0,
  };
}

function decodeSignOffListing(row: Row): SignOffListing {
  return {
    approver: text(row, USERS, 'username'),
    revision: int(row, SIGNOFFS, 'revision'),
    revisionHash: text(row, SIGNOFFS, 'revision_hash'),
    credentialId: text(row, SIGNOFFS, 'credential_id'),
    at: text(row, SIGNOFFS, 'at'),
    receipt: json(row, SIGNOFFS, 'receipt'),
    assertion: json(row, SIGNOFFS, 'assertion'),
  };
}

function corrupt(table: string, column: string, expected: string, value: unknown): Error {
  const found = value === null ? 'NULL' : value instanceof Uint8Array ? 'a blob' : typeof value;
  return new Error(`corrupt row in ${table}: column ${column} should be ${expected}, found ${found}`);
}

function text(row: Row, table: string, column: string): string {
  const v = row[column];
  if (typeof v !== 'string') throw corrupt(table, column, 'text', v);
  return v;
}

function textOrNull(row: Row, table: string, column: string): string | null {
  const v = row[column];
  if (v !== null && typeof v !== 'string') throw corrupt(table, column, 'text or NULL', v);
  return v;
}

function int(row: Row, table: string, column: string): number {
  const v = row[column];
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw corrupt(table, column, 'an integer', v);
}

function intOrNull(row: Row, table: string, column: string): number | null {
  return row[column] === null ? null : int(row, table, column);
}

function blob(row: Row, table: string, column: string): Uint8Array {
  const v = row[column];
  if (!(v instanceof Uint8Array)) throw corrupt(table, column, 'a blob', v);
  return v;
}

function json(row: Row, table: string, column: string): unknown {
  const v = text(row, table, column);
  try {
    return JSON.parse(v) as unknown;
  } catch {
    throw new Error(`corrupt row in ${table}: column ${column} should be JSON text, found text that does not parse`);
  }
}

function stringArray(row: Row, table: string, column: string): string[] {
  const v = json(row, table, column);
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw new Error(`corrupt row in ${table}: column ${column} should be a JSON array of strings, found other JSON`);
  }
  return v as string[];
}
