/**
 * A software WebAuthn authenticator for tests: ES256 keys from node:crypto, "none" attestation,
 * a hand-written minimal CBOR encoder. Its answers pass @simplewebauthn/server's real verification.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/** A CBOR value this encoder knows: integers, byte strings, text strings, maps (insertion order). */
type Cbor = number | Uint8Array | string | Map<number | string, Cbor>;

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error('cbor: integers only');
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const parts = [head(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v));
  return Buffer.concat(parts);
}

const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

interface SoftCredential {
  id: Buffer;
  privateKey: KeyObject;
  cose: Buffer;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface AssertionOverrides {
  /** Sign with this credential even when the options' allowCredentials do not list it. */
  credentialId?: string;
  /** Set the counter to this value before signing (simulates a cloned or reset authenticator). */
  counter?: number;
  /** Use this RP ID instead of the options' one. */
  rpId?: string;
}

export class SoftAuthenticator {
  readonly #credentials = new Map<string, SoftCredential>();
  /** Flags put into authenticator data: UP (0x01) and UV (0x04) unless a test clears them. */
  flags = 0x01 | 0x04;

  /** navigator.credentials.create(): a new ES256 credential, "none" attestation. */
  createCredential(options: PublicKeyCredentialCreationOptionsJSON, origin: string): RegistrationResponseJSON {
    if (!options.pubKeyCredParams.some((p) => p.alg === -7)) throw new Error('NotSupportedError: ES256 not offered');
    const rpId = options.rp.id ?? new URL(origin).hostname;
    const excluded = new Set((options.excludeCredentials ?? []).map((c) => c.id));
    for (const id of this.#credentials.keys()) if (excluded.has(id)) throw new Error('InvalidStateError: credential excluded');

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = cbor(new Map<number, Cbor>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]));
    const id = randomBytes(32);
    const credential: SoftCredential = { id, privateKey, cose, rpId, userHandle: options.user.id, counter: 0 };
    this.#credentials.set(id.toString('base64url'), credential);

    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      this.#authDataHead(rpId, this.flags | 0x40, credential.counter),
      Buffer.alloc(16), // AAGUID: zeros for "none" attestation
      idLength, id, cose,
    ]);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin, crossOrigin: false }));
    const attestationObject = cbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    const b64 = id.toString('base64url');
    return {
      id: b64, rawId: b64, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: attestationObject.toString('base64url'),
        transports: ['internal'],
      },
    };
  }

  /** navigator.credentials.get(): an ES256 (DER) signature over authData || SHA-256(clientDataJSON). */
  getAssertion(options: PublicKeyCredentialRequestOptionsJSON, origin: string, overrides: AssertionOverrides = {}): AuthenticationResponseJSON {
    const rpId = overrides.rpId ?? options.rpId ?? new URL(origin).hostname;
    const allowed = (options.allowCredentials ?? []).map((c) => c.id);
    const id = overrides.credentialId
      ?? [...this.#credentials.keys()].find((k) => (allowed.length === 0 || allowed.includes(k)) && this.#credentials.get(k)!.rpId === rpId);
    const credential = id === undefined ? undefined : this.#credentials.get(id);
    if (!credential) throw new Error('NotAllowedError: no matching credential on this authenticator');

    credential.counter = overrides.counter ?? credential.counter + 1;
    const authData = this.#authDataHead(rpId, this.flags, credential.counter);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin, crossOrigin: false }));
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey);
    const b64 = credential.id.toString('base64url');
    return {
      id: b64, rawId: b64, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        userHandle: credential.userHandle,
      },
    };
  }

  /** Ids (base64url) of the credentials this authenticator holds. */
  credentialIds(): string[] {
    return [...this.#credentials.keys()];
  }

  #authDataHead(rpId: string, flags: number, counter: number): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count]);
  }
}
