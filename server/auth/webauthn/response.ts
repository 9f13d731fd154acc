import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { PasskeyRefusal } from './refusal.ts';

const B64URL = /^[A-Za-z0-9_-]*$/;
const MAX_FIELD = 64 * 1024;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function b64(value: unknown, name: string, optional = false): string | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_FIELD || !B64URL.test(value)) {
    throw malformed(`${name} must be a non-empty base64url string`);
  }
  return value;
}

function malformed(message: string): PasskeyRefusal {
  return new PasskeyRefusal('invalid_payload', 'malformed_response', `malformed WebAuthn response: ${message}`);
}

function common(value: unknown): { id: string; inner: Record<string, unknown>; clientExtensionResults: Record<string, unknown> } {
  if (!isObject(value)) throw malformed('not an object');
  const id = b64(value['id'], 'id')!;
  if (value['rawId'] !== id) throw malformed('rawId must equal id');
  if (value['type'] !== 'public-key') throw malformed('type must be "public-key"');
  if (!isObject(value['response'])) throw malformed('response must be an object');
  const ext = value['clientExtensionResults'];
  if (ext !== undefined && !isObject(ext)) throw malformed('clientExtensionResults must be an object');
  return { id, inner: value['response'], clientExtensionResults: ext ?? {} };
}

/** Validates the shape of a navigator.credentials.get() result (signatures are checked later). */
export function parseAssertion(value: unknown): AuthenticationResponseJSON {
  const { id, inner, clientExtensionResults } = common(value);
  const userHandle = b64(inner['userHandle'], 'response.userHandle', true);
  return {
    id, rawId: id, type: 'public-key', clientExtensionResults,
    response: {
      clientDataJSON: b64(inner['clientDataJSON'], 'response.clientDataJSON')!,
      authenticatorData: b64(inner['authenticatorData'], 'response.authenticatorData')!,
      signature: b64(inner['signature'], 'response.signature')!,
      ...(userHandle === undefined ? {} : { userHandle }),
    },
  };
}

/** Validates the shape of a navigator.credentials.create() result (attestation is checked later). */
export function parseRegistration(value: unknown): RegistrationResponseJSON {
  const { id, inner, clientExtensionResults } = common(value);
  const transports = inner['transports'];
  if (transports !== undefined && (!Array.isArray(transports) || !transports.every((t) => typeof t === 'string' && t.length <= 32))) {
    throw malformed('response.transports must be a list of strings');
  }
  return {
    id, rawId: id, type: 'public-key', clientExtensionResults,
    response: {
      clientDataJSON: b64(inner['clientDataJSON'], 'response.clientDataJSON')!,
      attestationObject: b64(inner['attestationObject'], 'response.attestationObject')!,
      ...(transports === undefined ? {} : { transports: (transports as string[]).slice(0, 8) }),
    },
  };
}

/** The challenge a client says it answered (a lookup key only: the signature check binds it). */
export function clientChallenge(clientDataJSON: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
  } catch {
    throw malformed('clientDataJSON is not JSON');
  }
  if (!isObject(parsed) || typeof parsed['challenge'] !== 'string' || !B64URL.test(parsed['challenge'])) {
    throw malformed('clientDataJSON has no challenge');
  }
  return parsed['challenge'];
}

/** The signature counter from authenticator data (bytes 33..36, big-endian). */
export function signCount(authenticatorData: string): number {
  const bytes = Buffer.from(authenticatorData, 'base64url');
  if (bytes.length < 37) throw malformed('authenticatorData is too short');
  return bytes.readUInt32BE(33);
}

/** What is stored and hashed for a sign-off: the signed fields and the credential id, nothing else. */
export function storedAssertion(a: AuthenticationResponseJSON): Record<string, unknown> {
  return { id: a.id, rawId: a.rawId, type: a.type, response: { ...a.response } };
}
