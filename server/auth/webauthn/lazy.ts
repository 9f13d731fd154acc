/**
 * @simplewebauthn/server, loaded on first use: it is the heaviest module of the server (about 0.3 s to
 * load cold) and only passkey registration and sign-off need it, so start-up does not pay for it.
 */
let loading: Promise<typeof import('@simplewebauthn/server')> | undefined;

export function webauthn(): Promise<typeof import('@simplewebauthn/server')> {
  return (loading ??= import('@simplewebauthn/server'));
}
