import { api, ApiError } from '../lib/api.ts';
import { createPasskey, getAssertion, hasWebAuthn } from '../lib/webauthn.ts';

export type SignOffPhase = 'idle' | 'registering' | 'signing' | 'done' | 'failed';

/**
 * The approver's sign-off ceremony: registers a passkey first if the user has none, then asks the
 * server for a challenge bound to the current revision hash and answers it with the passkey.
 */
export class SignOffState {
  #phase = $state<SignOffPhase>('idle');
  #error = $state<string | null>(null);
  #receipt = $state.raw<{ revisionHash: string; signedAt?: string } | null>(null);
  readonly changeId: string;

  constructor(changeId: string) {
    this.changeId = changeId;
  }

  get phase(): SignOffPhase {
    return this.#phase;
  }
  get error(): string | null {
    return this.#error;
  }
  get receipt() {
    return this.#receipt;
  }
  get isBusy(): boolean {
    return this.#phase === 'registering' || this.#phase === 'signing';
  }

  async signOff(): Promise<void> {
    if (this.isBusy) return;
    this.#error = null;
    if (!hasWebAuthn()) {
      this.#fail('This browser cannot use passkeys here (it needs HTTPS or localhost).');
      return;
    }
    try {
      const passkeys = await api.passkeys();
      if (passkeys.length === 0) {
        this.#phase = 'registering';
        await api.registerPasskey(await createPasskey(await api.passkeyOptions()));
      }
      this.#phase = 'signing';
      const assertion = await getAssertion(await api.signOffOptions(this.changeId));
      const result = await api.signOff(this.changeId, assertion);
      this.#receipt = result.receipt;
      this.#phase = 'done';
    } catch (err) {
      if (err instanceof ApiError) this.#fail(err.message);
      else if (err instanceof DOMException && err.name === 'NotAllowedError') this.#fail('The passkey prompt was cancelled or timed out. Nothing was signed.');
      else this.#fail(err instanceof Error ? err.message : 'The sign-off failed.');
    }
  }

  #fail(message: string): void {
    this.#error = message;
    this.#phase = 'failed';
  }

  reset(): void {
    this.#phase = 'idle';
    this.#error = null;
    this.#receipt = null;
  }
}
