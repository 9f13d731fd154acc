/**
 * PasskeyRepository: every SQL statement on passkeys and revision-bound sign-offs, in tables
 * `webauthn_credentials`, `webauthn_challenges` and `signoffs` (schema/webauthn.ts), plus the one read
 * that joins sign-offs with `users` for the review view. It stores and finds rows; every check (who may
 * sign, challenge expiry, counter rules, the WebAuthn verification itself) stays in Passkeys
 * (server/auth/webauthn/passkeys.ts), which builds one of these on the connection it is given.
 *
 * Transactions: each method is one statement and opens no transaction. `inTransaction` runs a function
 * in one BEGIN IMMEDIATE transaction on the same connection: Passkeys uses it where several writes must
 * commit together (consuming the challenge and storing the passkey; consuming the challenge, advancing the
 * counter and storing the sign-off together with the caller's audit entry, which the caller writes on the
 * same connection inside that function). Writes made inside commit or roll back with it.
 *
 * Rows are decoded by hand-written functions that check each column's type and throw an Error naming the
 * table and column (never a wrong value): `signOffsOf` runs for every review view, so it avoids a schema
 * library's overhead. Statements are prepared once, here.
 */
import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';
import { inTransaction } from './database.ts';

type Row = Record<string, SQLOutputValue>;

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

export class PasskeyRepository {
  readonly #db: DatabaseSync;
  readonly #credentialsOf: StatementSync;
  readonly #credential: StatementSync;
  readonly #credentialExists: StatementSync;
  readonly #counter: StatementSync;
  readonly #insertCredential: StatementSync;
  readonly #setCounter: StatementSync;
  readonly #pruneChallenges: StatementSync;
  readonly #insertChallenge: StatementSync;
  readonly #challenge: StatementSync;
  readonly #consume: StatementSync;
  readonly #signedOff: StatementSync;
  readonly #insertSignOff: StatementSync;
  readonly #signOffsOf: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#credentialsOf = db.prepare(`SELECT ${CREDENTIAL_COLUMNS} FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id`);
    this.#credential = db.prepare(`SELECT ${CREDENTIAL_COLUMNS} FROM webauthn_credentials WHERE id = ?`);
    this.#credentialExists = db.prepare('SELECT 1 FROM webauthn_credentials WHERE id = ?');
    this.#counter = db.prepare('SELECT counter FROM webauthn_credentials WHERE id = ?');
    this.#insertCredential = db.prepare('INSERT INTO webauthn_credentials (id, user_id, public_key, counter, transports) VALUES (?, ?, ?, ?, ?)');
    this.#setCounter = db.prepare('UPDATE webauthn_credentials SET counter = ? WHERE id = ?');
    this.#pruneChallenges = db.prepare('DELETE FROM webauthn_challenges WHERE expires_at < ?');
    this.#insertChallenge = db.prepare(
      'INSERT INTO webauthn_challenges (challenge, user_id, purpose, change_id, revision, revision_hash, nonce, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#challenge = db.prepare(`SELECT ${CHALLENGE_COLUMNS} FROM webauthn_challenges WHERE challenge = ?`);
    this.#consume = db.prepare('UPDATE webauthn_challenges SET used = 1 WHERE challenge = ? AND used = 0');
    this.#signedOff = db.prepare('SELECT 1 FROM signoffs WHERE change_id = ? AND revision = ? AND user_id = ?');
    this.#insertSignOff = db.prepare(
      'INSERT INTO signoffs (change_id, revision, revision_hash, user_id, credential_id, assertion, receipt, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#signOffsOf = db.prepare(`SELECT s.revision, s.revision_hash, s.credential_id, s.assertion, s.receipt, s.at, u.username
      FROM signoffs s JOIN users u ON u.id = s.user_id WHERE s.change_id = ? ORDER BY s.id`);
  }

  /** Runs `fn` in one IMMEDIATE transaction on this connection; rolls back and rethrows if it throws. */
  inTransaction<T>(fn: () => T): T {
    return inTransaction(this.#db, fn);
  }

  // --- credentials -------------------------------------------------------------------------------

  /** The user's passkeys, oldest first. */
  credentialsOf(userId: number): CredentialRecord[] {
    return this.#credentialsOf.all(userId).map(decodeCredential);
  }

  credential(id: string): CredentialRecord | null {
    const row = this.#credential.get(id);
    return row ? decodeCredential(row) : null;
  }

  credentialExists(id: string): boolean {
    return this.#credentialExists.get(id) !== undefined;
  }

  /** The credential's stored signature counter, or null for an unknown credential. */
  counter(id: string): number | null {
    const row = this.#counter.get(id);
    return row ? int(row, CREDENTIALS, 'counter') : null;
  }

  insertCredential(c: NewCredential): void {
    this.#insertCredential.run(c.id, c.userId, c.publicKey, c.counter, JSON.stringify(c.transports));
  }

  setCounter(id: string, counter: number): void {
    this.#setCounter.run(counter, id);
  }

  // --- challenges --------------------------------------------------------------------------------

  /** Deletes challenges that expired before `before` (ms since the epoch). */
  pruneChallenges(before: number): void {
    this.#pruneChallenges.run(before);
  }

  insertChallenge(c: NewChallenge): void {
    this.#insertChallenge.run(c.challenge, c.userId, c.purpose, c.changeId, c.revision, c.revisionHash, c.nonce, c.expiresAt);
  }

  challenge(challenge: string): ChallengeRecord | null {
    const row = this.#challenge.get(challenge);
    return row ? decodeChallenge(row) : null;
  }

  /** Marks an unused challenge used; false if it was used already (or is unknown). */
  consumeChallenge(challenge: string): boolean {
    return Number(this.#consume.run(challenge).changes) === 1;
  }

  // --- sign-offs ---------------------------------------------------------------------------------

  hasSignedOff(changeId: string, revision: number, userId: number): boolean {
    return this.#signedOff.get(changeId, revision, userId) !== undefined;
  }

  /** Stores a sign-off; returns its id. The UNIQUE (change, revision, user) constraint refuses a second one. */
  insertSignOff(s: NewSignOff): number {
    return Number(this.#insertSignOff.run(s.changeId, s.revision, s.revisionHash, s.userId, s.credentialId, s.assertion, s.receipt, s.at).lastInsertRowid);
  }

  /** Every sign-off of the change (any revision), in the order they were made, with the approver's name. */
  signOffsOf(changeId: string): SignOffListing[] {
    return this.#signOffsOf.all(changeId).map(decodeSignOffListing);
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
