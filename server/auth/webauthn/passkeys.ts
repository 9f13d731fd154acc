import { createHash, randomBytes } from 'node:crypto';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { PasskeyRepository, type ChallengeRecord } from '../../store/repositories/passkey-repository.ts';
import { isUniqueViolation, type Database } from '../../store/sql.ts';
import { atLeast, type Principal, type Role } from '../roles.ts';
import { NONCE_BYTES, REVISION_HASH, signOffChallenge } from './challenge.ts';
import { canonicalJson, sha256Hex, signReceipt, type ReceiptSigner, type SignOffReceipt } from './receipt.ts';
import { PasskeyRefusal } from './refusal.ts';
import { webauthn } from './lazy.ts';
import { clientChallenge, parseAssertion, parseRegistration, signCount, storedAssertion } from './response.ts';

export type { ReceiptSigner, SignOffReceipt } from './receipt.ts';

/** How long an issued challenge can be answered. */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** Expired challenges are kept this long (so late answers get "expired", not "unknown"), then pruned. */
const PRUNE_AFTER_MS = 24 * 3_600_000;
/** EdDSA, ES256, RS256: fixed rather than the library default, which varies with the runtime. */
const ALGORITHMS = [-8, -7, -257];

export interface PasskeysOptions {
  rpID: string;
  rpName: string;
  /** The web origin(s) the ceremony runs on, e.g. `https://accord.example.org`. */
  origin: string | string[];
  signer: ReceiptSigner;
  /** Clock in milliseconds since the epoch (tests inject one). */
  now?: () => number;
}

/** The revision being signed off, as the caller knows it NOW (the current revision and its hash). */
export interface SignOffTarget {
  changeId: string;
  revision: number;
  revisionHash: string;
}

export interface SignOffRecord extends SignOffTarget {
  id: number;
  userId: number;
  approver: string;
  credentialId: string;
  at: string;
}

export interface PasskeyInfo {
  id: string;
  transports: string[];
  counter: number;
  createdAt: string;
}

/**
 * Passkey registration and revision-bound sign-off (DESIGN.md §4, docs/signoff.md). Works on either
 * database: what must hold under concurrent requests (a challenge answered once, a counter that only
 * moves forward, one sign-off per approver and revision, one registration per credential) is enforced by
 * single statements and constraints inside the unit of work, not by SQLite's single writer.
 */
export class Passkeys {
  readonly #db: Database;
  /** Every statement on the passkey tables (server/store/repositories/passkey-repository.ts). */
  readonly #repo: PasskeyRepository;
  readonly #rpID: string;
  readonly #rpName: string;
  readonly #origin: string | string[];
  readonly #signer: ReceiptSigner;
  readonly #now: () => number;

  constructor(db: Database, options: PasskeysOptions) {
    this.#db = db;
    this.#repo = new PasskeyRepository(db);
    this.#rpID = options.rpID;
    this.#rpName = options.rpName;
    this.#origin = options.origin;
    this.#signer = options.signer;
    this.#now = options.now ?? Date.now;
  }

  /** The user's registered passkeys. */
  async credentials(user: Principal): Promise<PasskeyInfo[]> {
    return (await this.#repo.credentialsOf(user.userId)).map((r) => ({ id: r.id, transports: r.transports, counter: r.counter, createdAt: r.createdAt }));
  }

  /** Options for navigator.credentials.create(); the challenge is stored, single-use, for 5 minutes. */
  async registrationOptions(user: Principal): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const options = await (await webauthn()).generateRegistrationOptions({
      rpName: this.#rpName,
      rpID: this.#rpID,
      userName: user.username,
      userDisplayName: user.username,
      userID: this.#userHandle(user),
      challenge: new Uint8Array(randomBytes(32)),
      timeout: CHALLENGE_TTL_MS,
      attestationType: 'none',
      excludeCredentials: (await this.#repo.credentialsOf(user.userId)).map((r) => ({ id: r.id, transports: r.transports })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      supportedAlgorithmIDs: ALGORITHMS,
    });
    await this.#storeChallenge(options.challenge, user, 'register', null);
    return options;
  }

  /** Verifies a registration answer and stores the passkey. */
  async verifyRegistration(user: Principal, response: unknown): Promise<PasskeyInfo> {
    const parsed = parseRegistration(response);
    const row = await this.#openChallenge(user, 'register', clientChallenge(parsed.response.clientDataJSON));
    let result;
    try {
      result = await (await webauthn()).verifyRegistrationResponse({
        response: parsed,
        expectedChallenge: row.challenge,
        expectedOrigin: this.#origin,
        expectedRPID: this.#rpID,
        requireUserVerification: true,
        supportedAlgorithmIDs: ALGORITHMS,
      });
    } catch (err) {
      throw new PasskeyRefusal('unauthorized', 'attestation_invalid', `passkey registration refused: ${(err as Error).message}`, { cause: err });
    }
    if (!result.verified) throw new PasskeyRefusal('unauthorized', 'attestation_invalid', 'passkey registration refused: attestation did not verify');
    const { credential } = result.registrationInfo;
    const transports = parsed.response.transports ?? credential.transports ?? [];
    const exists = () => new PasskeyRefusal('conflict', 'credential_exists', 'this passkey is already registered');
    return this.#db.transaction(async () => {
      await this.#consume(row.challenge);
      if (await this.#repo.credentialExists(credential.id)) throw exists();
      try {
        await this.#repo.insertCredential({ id: credential.id, userId: user.userId, publicKey: credential.publicKey, counter: credential.counter, transports });
      } catch (err) {
        // The same passkey registered by a concurrent request (another challenge) since the check above.
        if (isUniqueViolation(err)) throw exists();
        throw err;
      }
      return (await this.credentials(user)).find((c) => c.id === credential.id)!;
    });
  }

  /** Options for navigator.credentials.get() whose challenge commits to this exact revision hash. */
  async signOffOptions(user: Principal, target: SignOffTarget, minimumRole: Role = 'approver'): Promise<PublicKeyCredentialRequestOptionsJSON> {
    this.#requireRole(user, minimumRole);
    checkTarget(target);
    if (await this.#signedOff(user, target)) throw alreadySignedOff(user, target);
    const creds = await this.#repo.credentialsOf(user.userId);
    if (creds.length === 0) throw new PasskeyRefusal('forbidden', 'no_passkey', 'register a passkey before signing off');
    const nonce = randomBytes(NONCE_BYTES);
    const challenge = signOffChallenge(target.changeId, target.revision, target.revisionHash, nonce);
    const options = await (await webauthn()).generateAuthenticationOptions({
      rpID: this.#rpID,
      challenge: new Uint8Array(Buffer.from(challenge, 'base64url')),
      timeout: CHALLENGE_TTL_MS,
      userVerification: 'required',
      allowCredentials: creds.map((r) => ({ id: r.id, transports: r.transports })),
    });
    if (options.challenge !== challenge) throw new Error('sign-off challenge was re-encoded unexpectedly');
    await this.#storeChallenge(challenge, user, 'signoff', { ...target, nonce: nonce.toString('base64url') });
    return options;
  }

  /**
   * Verifies a sign-off assertion against the CURRENT revision of the change and, in one transaction,
   * marks the challenge used, advances the credential counter and stores the sign-off with its receipt.
   */
  /** The relying party id and origins assertions are checked against (recorded with each sign-off for offline checks). */
  get relyingParty(): { rpID: string; origins: string[] } {
    return { rpID: this.#rpID, origins: Array.isArray(this.#origin) ? [...this.#origin] : [this.#origin] };
  }

  /**
   * `record` runs inside the transaction that stores the sign-off (after every check), and is awaited:
   * whatever it writes (the audit entry) commits or rolls back with the sign-off, and a throw (or a
   * rejection) refuses the sign-off.
   */
  async verifySignOff(
    user: Principal, target: SignOffTarget, response: unknown,
    record?: (stored: { signoff: SignOffRecord; receipt: SignOffReceipt; assertion: string }) => unknown,
    minimumRole: Role = 'approver',
  ): Promise<{ signoff: SignOffRecord; receipt: SignOffReceipt }> {
    this.#requireRole(user, minimumRole);
    checkTarget(target);
    const assertion = parseAssertion(response);
    const row = await this.#openChallenge(user, 'signoff', clientChallenge(assertion.response.clientDataJSON));
    if (row.changeId !== target.changeId || row.revision !== target.revision || row.revisionHash !== target.revisionHash) {
      throw new PasskeyRefusal('conflict', 'stale_revision',
        `the challenge was issued for revision ${row.revision} of ${row.changeId} (${row.revisionHash}), ` +
        `not the current revision ${target.revision} of ${target.changeId} (${target.revisionHash}): request a new sign-off challenge`);
    }
    const cred = await this.#repo.credential(assertion.id);
    if (!cred) throw new PasskeyRefusal('unauthorized', 'unknown_credential', 'unknown passkey');
    if (cred.userId !== user.userId) {
      throw new PasskeyRefusal('forbidden', 'credential_other_user', `the passkey used does not belong to ${user.username}`);
    }
    const counter = signCount(assertion.response.authenticatorData);
    if (!counterAdvances(cred.counter, counter)) {
      // The same response submitted twice at once (a double click): the other submission may have used the
      // challenge and advanced the counter since the challenge was read above. That is a replay, not a clone.
      if ((await this.#repo.challenge(row.challenge))?.used) throw challengeUsed();
      throw new PasskeyRefusal('unauthorized', 'counter_not_increased', `passkey signature counter did not increase (${counter} after ${cred.counter}): possible cloned authenticator`);
    }
    let verified: boolean;
    try {
      const result = await (await webauthn()).verifyAuthenticationResponse({
        response: assertion,
        expectedChallenge: row.challenge,
        expectedOrigin: this.#origin,
        expectedRPID: this.#rpID,
        credential: { id: cred.id, publicKey: new Uint8Array(cred.publicKey), counter: cred.counter, transports: cred.transports },
        requireUserVerification: true,
      });
      verified = result.verified && result.authenticationInfo.userVerified;
    } catch (err) {
      throw new PasskeyRefusal('unauthorized', 'assertion_invalid', `sign-off assertion refused: ${(err as Error).message}`, { cause: err });
    }
    if (!verified) throw new PasskeyRefusal('unauthorized', 'assertion_invalid', 'sign-off assertion refused: signature did not verify');

    const stored = canonicalJson(storedAssertion(assertion));
    const signedAt = new Date(this.#now()).toISOString();
    const receipt = signReceipt({
      v: 1, ...pick(target), approver: user.username, approverId: user.userId,
      credentialId: cred.id, credentialPublicKey: Buffer.from(cred.publicKey).toString('base64url'),
      challenge: row.challenge, nonce: row.nonce!, signedAt, assertionHash: sha256Hex(stored), keyId: this.#signer.keyId,
    }, this.#signer);
    return this.#db.transaction(async () => {
      await this.#consume(row.challenge);
      // Checked again in one statement: a concurrent sign-off with this passkey may have advanced the counter meanwhile.
      if (!(await this.#repo.advanceCounter(cred.id, counter))) {
        if ((await this.#repo.counter(cred.id)) === null) throw new PasskeyRefusal('unauthorized', 'unknown_credential', 'unknown passkey');
        throw new PasskeyRefusal('unauthorized', 'counter_not_increased', 'passkey signature counter did not increase');
      }
      if (await this.#signedOff(user, target)) throw alreadySignedOff(user, target);
      let id: number;
      try {
        id = await this.#repo.insertSignOff({
          ...pick(target), userId: user.userId, credentialId: cred.id, assertion: stored, receipt: JSON.stringify(receipt), at: signedAt,
        });
      } catch (err) {
        // A concurrent sign-off of the same revision (with another challenge) committed since the check above.
        if (isUniqueViolation(err)) throw alreadySignedOff(user, target);
        throw err;
      }
      const signoff: SignOffRecord = { id, ...pick(target), userId: user.userId, approver: user.username, credentialId: cred.id, at: signedAt };
      await record?.({ signoff, receipt, assertion: stored });
      return { signoff, receipt };
    });
  }

  /** Change sign-offs are for approvers; a campaign reviewer (reviewer and up) signs their own decisions. */
  #requireRole(user: Principal, minimum: Role): void {
    if (!atLeast(user.role, minimum)) throw new PasskeyRefusal('forbidden', 'not_approver', minimum === 'approver' ? 'only approvers can sign off' : `signing this needs the ${minimum} role`);
  }

  #userHandle(user: Principal): Uint8Array<ArrayBuffer> {
    // Opaque and stable per user, so every passkey of one user carries the same handle; no PII.
    return new Uint8Array(createHash('sha256').update(`accord-user:${this.#rpID}:${user.userId}`).digest());
  }

  #signedOff(user: Principal, t: SignOffTarget): Promise<boolean> {
    return this.#repo.hasSignedOff(t.changeId, t.revision, user.userId);
  }

  async #storeChallenge(challenge: string, user: Principal, purpose: 'register' | 'signoff', bound: (SignOffTarget & { nonce: string }) | null): Promise<void> {
    const now = this.#now();
    await this.#repo.pruneChallenges(now - PRUNE_AFTER_MS);
    await this.#repo.insertChallenge({
      challenge, userId: user.userId, purpose, changeId: bound?.changeId ?? null, revision: bound?.revision ?? null,
      revisionHash: bound?.revisionHash ?? null, nonce: bound?.nonce ?? null, expiresAt: now + CHALLENGE_TTL_MS,
    });
  }

  /** The stored challenge the response answers, if it is this user's, of this purpose, unused and unexpired. */
  async #openChallenge(user: Principal, purpose: 'register' | 'signoff', challenge: string): Promise<ChallengeRecord> {
    const row = await this.#repo.challenge(challenge);
    if (!row || row.purpose !== purpose) throw new PasskeyRefusal('unauthorized', 'unknown_challenge', `unknown ${purpose === 'signoff' ? 'sign-off' : 'registration'} challenge`);
    if (row.userId !== user.userId) throw new PasskeyRefusal('forbidden', 'challenge_other_user', 'this challenge was issued to another user');
    if (row.used) throw challengeUsed();
    if (row.expiresAt <= this.#now()) throw new PasskeyRefusal('unauthorized', 'challenge_expired', 'the challenge has expired: request a new one');
    return row;
  }

  /** Marks a challenge used; fails if a concurrent request used it first. Call inside a transaction. */
  async #consume(challenge: string): Promise<void> {
    if (!(await this.#repo.consumeChallenge(challenge))) throw challengeUsed();
  }
}

function challengeUsed(): PasskeyRefusal {
  return new PasskeyRefusal('conflict', 'challenge_used', 'this challenge was already used (replayed response)');
}

function alreadySignedOff(user: Principal, t: SignOffTarget): PasskeyRefusal {
  return new PasskeyRefusal('conflict', 'already_signed_off', `${user.username} already signed off revision ${t.revision} of ${t.changeId}`);
}

/**
 * WebAuthn §6.1.1: a non-zero counter must strictly increase; 0 then 0 means "no counter". The early
 * check, before the signature is verified; PasskeyRepository.advanceCounter applies the same rule in SQL.
 */
function counterAdvances(stored: number, received: number): boolean {
  return (received === 0 && stored === 0) || received > stored;
}

function pick(t: SignOffTarget): SignOffTarget {
  return { changeId: t.changeId, revision: t.revision, revisionHash: t.revisionHash };
}

function checkTarget(t: SignOffTarget): void {
  const ok = typeof t.changeId === 'string' && t.changeId.length > 0 && t.changeId.length <= 200
    && Number.isSafeInteger(t.revision) && t.revision >= 1 && t.revision <= 0xffffffff
    && typeof t.revisionHash === 'string' && REVISION_HASH.test(t.revisionHash);
  if (!ok) throw new PasskeyRefusal('invalid_payload', 'invalid_target', 'sign-off needs a change id, a revision number >= 1 and a SHA-256 hex revision hash');
}
