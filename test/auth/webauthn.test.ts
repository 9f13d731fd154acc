import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import type { Principal, Role } from '../../server/auth/roles.ts';
import type { Database } from '../../server/store/sql.ts';
import { CHALLENGE_TTL_MS, Passkeys, type SignOffTarget } from '../../server/auth/webauthn/passkeys.ts';
import { canonicalJson, ed25519Signer, receiptSigningBytes, verifyReceipt, type SignOffReceipt } from '../../server/auth/webauthn/receipt.ts';
import { verifySignOffEvidence } from '../../server/auth/webauthn/evidence.ts';
import { PasskeyRefusal, type RefusalReason } from '../../server/auth/webauthn/refusal.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { onEachDatabase, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';

const ORIGIN = 'https://accord.example.org';
const H1 = createHash('sha256').update('revision 1').digest('hex');
const H2 = createHash('sha256').update('revision 2').digest('hex');
const REV1: SignOffTarget = { changeId: 'chg-42', revision: 1, revisionHash: H1 };
const REV2: SignOffTarget = { changeId: 'chg-42', revision: 2, revisionHash: H2 };

/** Passkeys on a fresh, migrated database of `kind`, with three users. */
async function setup(kind: DatabaseKind) {
  const { db } = await openTestStorage(kind);
  const keys = generateKeyPairSync('ed25519');
  const clock = { t: Date.parse('2026-03-01T10:00:00Z') };
  const passkeys = new Passkeys(db, {
    rpID: 'accord.example.org', rpName: 'Accord', origin: ORIGIN, signer: ed25519Signer(keys.privateKey, 'server-2026'), now: () => clock.t,
  });
  const user = async (username: string, role: Role): Promise<Principal> => {
    const { id } = (await db.get<{ id: number }>('INSERT INTO users (username, role) VALUES (?, ?) RETURNING id', [username, role]))!;
    return { userId: id, username, role };
  };
  return {
    db, passkeys, clock, publicKey: keys.publicKey,
    alice: await user('alice', 'approver'), bob: await user('bob', 'approver'), rita: await user('rita', 'reviewer'),
  };
}

async function register(passkeys: Passkeys, user: Principal): Promise<SoftAuthenticator> {
  const device = new SoftAuthenticator();
  await passkeys.verifyRegistration(user, device.createCredential(await passkeys.registrationOptions(user), ORIGIN));
  return device;
}

/** Everything a refusal must leave untouched. */
async function state(db: Database) {
  return {
    signoffs: await db.all('SELECT * FROM signoffs ORDER BY id'),
    challenges: await db.all('SELECT challenge, used FROM webauthn_challenges ORDER BY challenge'),
    credentials: await db.all('SELECT id, user_id, counter FROM webauthn_credentials ORDER BY id'),
  };
}

/** `attempt` is started once the state before it is read, so a write it made could not hide in that read. */
async function refused(db: Database, attempt: () => Promise<unknown>, code: string, reason: RefusalReason, message?: RegExp) {
  const before = await state(db);
  await assert.rejects(attempt(), (err: unknown) => {
    assert.ok(err instanceof PasskeyRefusal, String(err));
    assert.equal(err.code, code);
    assert.equal(err.reason, reason);
    if (message) assert.match(err.message, message);
    return true;
  });
  assert.deepEqual(await state(db), before, 'a refusal stores nothing');
}

onEachDatabase('passkeys', (kind) => {
  describe('registration', () => {
    it('registers a passkey with user verification required, once per challenge', async () => {
      const { db, passkeys, alice } = await setup(kind);
      const options = await passkeys.registrationOptions(alice);
      assert.equal(options.authenticatorSelection?.userVerification, 'required');
      assert.equal(options.attestation, 'none');
      const device = new SoftAuthenticator();
      const response = device.createCredential(options, ORIGIN);
      const info = await passkeys.verifyRegistration(alice, response);
      assert.equal(info.id, response.id);
      assert.deepEqual(info.transports, ['internal']);
      const row = await db.get<Record<string, number>>('SELECT user_id, counter, length(public_key) AS len FROM webauthn_credentials');
      assert.deepEqual({ ...row }, { user_id: alice.userId, counter: 0, len: 77 });
      assert.equal((await db.get<{ used: number }>('SELECT used FROM webauthn_challenges WHERE challenge = ?', [options.challenge]))!.used, 1);

      await refused(db, () => passkeys.verifyRegistration(alice, response), 'conflict', 'challenge_used');
      const again = await passkeys.registrationOptions(alice);
      assert.deepEqual(again.excludeCredentials?.map((c) => c.id), [response.id]);
    });

    it('refuses a registration challenge answered by another user, or from another origin', async () => {
      const { db, passkeys, alice, bob } = await setup(kind);
      const options = await passkeys.registrationOptions(alice);
      await refused(db, () => passkeys.verifyRegistration(bob, new SoftAuthenticator().createCredential(options, ORIGIN)), 'forbidden', 'challenge_other_user');
      await refused(db, () => passkeys.verifyRegistration(alice, new SoftAuthenticator().createCredential(options, 'https://evil.example')),
        'unauthorized', 'attestation_invalid', /origin/);
    });
  });

  describe('sign-off bound to a revision hash', () => {
    it('stores a sign-off whose challenge commits to the revision hash, with a receipt the server key verifies', async () => {
      const { db, passkeys, alice, publicKey, clock } = await setup(kind);
      const device = await register(passkeys, alice);
      const options = await passkeys.signOffOptions(alice, REV1);
      assert.equal(options.userVerification, 'required');
      assert.deepEqual(options.allowCredentials?.map((c) => c.id), device.credentialIds());

      const { signoff, receipt } = await passkeys.verifySignOff(alice, REV1, device.getAssertion(options, ORIGIN));
      assert.deepEqual(signoff, {
        id: 1, changeId: 'chg-42', revision: 1, revisionHash: H1, userId: alice.userId, approver: 'alice',
        credentialId: device.credentialIds()[0], at: new Date(clock.t).toISOString(),
      });
      // The challenge is recomputable from the receipt: SHA-256 over the documented layout.
      const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
      const expected = createHash('sha256').update(Buffer.concat([
        Buffer.from('accord-signoff:v1'), u32(6), Buffer.from('chg-42'), u32(1), u32(64), Buffer.from(H1), Buffer.from(receipt.nonce, 'base64url'),
      ])).digest('base64url');
      assert.equal(options.challenge, expected);
      assert.equal(receipt.challenge, expected);
      assert.equal(Buffer.from(receipt.nonce, 'base64url').length, 16);

      // The receipt's signature verifies with the server's public key, independently of our helper.
      assert.equal(receipt.keyId, 'server-2026');
      assert.ok(verify(null, receiptSigningBytes(receipt), publicKey, Buffer.from(receipt.signature, 'base64url')));
      assert.ok(verifyReceipt(receipt, publicKey));
      assert.equal(verifyReceipt({ ...receipt, revisionHash: H2 }, publicKey), false);

      const row = (await db.get<Record<string, string>>('SELECT * FROM signoffs'))!;
      assert.deepEqual(JSON.parse(row['receipt']!) as SignOffReceipt, receipt);
      assert.equal(createHash('sha256').update(row['assertion']!).digest('hex'), receipt.assertionHash);
      assert.equal(row['revision_hash'], H1);
      assert.deepEqual((await passkeys.credentials(alice)).map((c) => c.counter), [1]);
      await refused(db, () => passkeys.signOffOptions(alice, REV1), 'conflict', 'already_signed_off');
    });

    it('refuses a replayed assertion (the same response twice)', async () => {
      const { db, passkeys, alice } = await setup(kind);
      const device = await register(passkeys, alice);
      const response = device.getAssertion(await passkeys.signOffOptions(alice, REV1), ORIGIN);
      await passkeys.verifySignOff(alice, REV1, response);
      await refused(db, () => passkeys.verifySignOff(alice, REV1, response), 'conflict', 'challenge_used', /replay/);
      assert.equal((await state(db)).signoffs.length, 1);
    });

    it('lets only one of two concurrent submissions of the same assertion through', async () => {
      const { db, passkeys, alice } = await setup(kind);
      const device = await register(passkeys, alice);
      const response = device.getAssertion(await passkeys.signOffOptions(alice, REV1), ORIGIN);
      const results = await Promise.allSettled([passkeys.verifySignOff(alice, REV1, response), passkeys.verifySignOff(alice, REV1, response)]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const failure = results.find((r) => r.status === 'rejected')!.reason as PasskeyRefusal;
      assert.equal(failure.reason, 'challenge_used');
      assert.equal((await state(db)).signoffs.length, 1);
    });

    it('stores one of two sign-offs of one revision made at once with two passkeys (two challenges)', async () => {
      const { db, passkeys, alice } = await setup(kind);
      const laptop = await register(passkeys, alice);
      const phone = await register(passkeys, alice);
      const first = laptop.getAssertion(await passkeys.signOffOptions(alice, REV1), ORIGIN);
      const second = phone.getAssertion(await passkeys.signOffOptions(alice, REV1), ORIGIN);
      // The first holds its unit of work open (in `record`, where the audit entry is written) until the
      // second has started. On PostgreSQL the second then finds no sign-off yet (not committed) and the
      // unique constraint refuses it once the first commits: reported as the refusal it is, not an
      // internal error. On SQLite the second waits for the first to commit and finds its sign-off.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let recording!: () => void;
      const firstRecording = new Promise<void>((resolve) => (recording = resolve));
      const one = passkeys.verifySignOff(alice, REV1, first, async () => {
        recording();
        await gate;
      });
      await firstRecording;
      const two = passkeys.verifySignOff(alice, REV1, second);
      setTimeout(release, 100);
      const results = await Promise.allSettled([one, two]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const failure = results.find((r) => r.status === 'rejected')!.reason as PasskeyRefusal;
      assert.ok(failure instanceof PasskeyRefusal, String(failure));
      assert.equal(failure.reason, 'already_signed_off');
      const after = await state(db);
      assert.equal(after.signoffs.length, 1);
      assert.equal(after.challenges.filter((c) => Number(c['used']) === 1).length, 3, 'two registrations and the accepted sign-off');
    });

    it('refuses a challenge issued for revision 1 once revision 2 exists (stale revision)', async () => {
      const { db, passkeys, alice } = await setup(kind);
      const device = await register(passkeys, alice);
      const stale = device.getAssertion(await passkeys.signOffOptions(alice, REV1), ORIGIN);
      await refused(db, () => passkeys.verifySignOff(alice, REV2, stale), 'conflict', 'stale_revision', /revision 1 .* not the current revision 2/);
      // Same revision number with another hash (content changed under it) is stale too.
      await refused(db, () => passkeys.verifySignOff(alice, { ...REV1, revisionHash: H2 }, stale), 'conflict', 'stale_revision');
      const fresh = device.getAssertion(await passkeys.signOffOptions(alice, REV2), ORIGIN);
      assert.equal((await passkeys.verifySignOff(alice, REV2, fresh)).receipt.revisionHash, H2);
    });

    it("refuses an assertion made with another user's credential", async () => {
      const { db, passkeys, alice, bob } = await setup(kind);
      const aliceDevice = await register(passkeys, alice);
      await register(passkeys, bob);
      const bobOptions = await passkeys.signOffOptions(bob, REV1);
      const forged = aliceDevice.getAssertion(bobOptions, ORIGIN, { credentialId: aliceDevice.credentialIds()[0]! });
      await refused(db, () => passkeys.verifySignOff(bob, REV1, forged), 'forbidden', 'credential_other_user');
    });

    it('refuses a tampered signature without burning the challenge', async () => {
      const { db, passkeys, alice } = await setup(kind);
      const device = await register(passkeys, alice);
      const options = await passkeys.signOffOptions(alice, REV1);
      const good = device.getAssertion(options, ORIGIN);
      const sig = Buffer.from(good.response.signature, 'base64url');
      sig[sig.length - 5]! ^= 0x01;
      const tampered = { ...good, response: { ...good.response, signature: sig.toString('base64url') } };
      await refused(db, () => passkeys.verifySignOff(alice, REV1, tampered), 'unauthorized', 'assertion_invalid');
      await passkeys.verifySignOff(alice, REV1, device.getAssertion(options, ORIGIN));
    });

    it('refuses an expired challenge', async () => {
      const { db, passkeys, alice, clock } = await setup(kind);
      const device = await register(passkeys, alice);
      const response = device.getAssertion(await passkeys.signOffOptions(alice, REV1), ORIGIN);
      clock.t += CHALLENGE_TTL_MS;
      await refused(db, () => passkeys.verifySignOff(alice, REV1, response), 'unauthorized', 'challenge_expired');
    });

    it('refuses a challenge issued to user A used by user B', async () => {
      const { db, passkeys, alice, bob } = await setup(kind);
      const aliceDevice = await register(passkeys, alice);
      const bobDevice = await register(passkeys, bob);
      const aliceOptions = await passkeys.signOffOptions(alice, REV1);
      const bobsAnswer = bobDevice.getAssertion(aliceOptions, ORIGIN, { credentialId: bobDevice.credentialIds()[0]! });
      await refused(db, () => passkeys.verifySignOff(bob, REV1, bobsAnswer), 'forbidden', 'challenge_other_user');
      await refused(db, () => passkeys.verifySignOff(bob, REV1, aliceDevice.getAssertion(aliceOptions, ORIGIN)), 'forbidden', 'challenge_other_user');
    });

    it('refuses a wrong origin, a missing user verification, a non-increasing counter and an unknown challenge', async () => {
      const { db, passkeys, alice } = await setup(kind);
      const device = await register(passkeys, alice);
      const options = await passkeys.signOffOptions(alice, REV1);
      await refused(db, () => passkeys.verifySignOff(alice, REV1, device.getAssertion(options, 'https://evil.example')), 'unauthorized', 'assertion_invalid', /origin/);
      device.flags = 0x01;
      await refused(db, () => passkeys.verifySignOff(alice, REV1, device.getAssertion(options, ORIGIN)), 'unauthorized', 'assertion_invalid', /verif/);
      device.flags = 0x05;
      await passkeys.verifySignOff(alice, REV1, device.getAssertion(options, ORIGIN, { counter: 7 }));
      const next = await passkeys.signOffOptions(alice, REV2);
      await refused(db, () => passkeys.verifySignOff(alice, REV2, device.getAssertion(next, ORIGIN, { counter: 7 })), 'unauthorized', 'counter_not_increased');
      await refused(db, () => passkeys.verifySignOff(alice, REV2, device.getAssertion({ ...next, challenge: 'AAAA' }, ORIGIN)), 'unauthorized', 'unknown_challenge');
      const registration = await passkeys.registrationOptions(alice);
      await refused(db, () => passkeys.verifySignOff(alice, REV2, device.getAssertion({ ...next, challenge: registration.challenge }, ORIGIN)),
        'unauthorized', 'unknown_challenge');
    });

    it('refuses non-approvers, approvers without a passkey, bad targets and malformed responses', async () => {
      const { db, passkeys, bob, rita, alice } = await setup(kind);
      await refused(db, () => passkeys.signOffOptions(rita, REV1), 'forbidden', 'not_approver');
      await refused(db, () => passkeys.signOffOptions(bob, REV1), 'forbidden', 'no_passkey');
      await register(passkeys, alice);
      await refused(db, () => passkeys.signOffOptions(alice, { ...REV1, revisionHash: 'abc' }), 'invalid_payload', 'invalid_target');
      await refused(db, () => passkeys.signOffOptions(alice, { ...REV1, revision: 0 }), 'invalid_payload', 'invalid_target');
      await refused(db, () => passkeys.verifySignOff(alice, REV1, { id: 'x' }), 'invalid_payload', 'malformed_response');
      await refused(db, () => passkeys.verifySignOff(alice, REV1, 'nope'), 'invalid_payload', 'malformed_response');
    });

    it('a stored sign-off verifies offline from its receipt and assertion, and edits are detected', async () => {
      const { db, passkeys, alice, publicKey } = await setup(kind);
      const device = await register(passkeys, alice);
      await passkeys.verifySignOff(alice, REV1, device.getAssertion(await passkeys.signOffOptions(alice, REV1), ORIGIN));
      const row = (await db.get<{ assertion: string; receipt: string }>('SELECT assertion, receipt FROM signoffs'))!;
      const receipt = JSON.parse(row.receipt) as SignOffReceipt;
      const check = { receipt, assertion: row.assertion, serverPublicKey: publicKey, origin: ORIGIN, rpID: 'accord.example.org' };
      assert.deepEqual(await verifySignOffEvidence(check), []);
      // Claiming the passkey signed revision 2: the server signature and the challenge commitment both break.
      const moved = await verifySignOffEvidence({ ...check, receipt: { ...receipt, revision: 2, revisionHash: H2 } });
      assert.ok(moved.includes('receipt signature does not verify with the server key'), moved.join('; '));
      assert.ok(moved.includes('challenge does not commit to the receipt revision hash'), moved.join('; '));
      const otherServer = generateKeyPairSync('ed25519').publicKey;
      assert.deepEqual(await verifySignOffEvidence({ ...check, serverPublicKey: otherServer }), ['receipt signature does not verify with the server key']);
      const assertion = JSON.parse(row.assertion) as { response: { authenticatorData: string } };
      const authData = Buffer.from(assertion.response.authenticatorData, 'base64url');
      authData[36]! ^= 0x01;
      assertion.response.authenticatorData = authData.toString('base64url');
      const edited = await verifySignOffEvidence({ ...check, assertion: canonicalJson(assertion) });
      assert.ok(edited.includes('assertion does not match the receipt assertionHash'), edited.join('; '));
      assert.ok(edited.includes('passkey signature does not verify'), edited.join('; '));
    });
  });
});
