import { api, ApiError } from '../lib/api.ts';
import { REVISION_CHANGED, isRefusal } from '../lib/types.ts';
import { createPasskey, getAssertion, hasWebAuthn } from '../lib/webauthn.ts';

export type SignOffPhase = 'idle' | 'registering' | 'signing' | 'done' | 'failed';

/** Registers a passkey first when the user has none (`registering` says so to the page). Both sign-offs use it. */
export async function ensurePasskey(registering: () => void): Promise<void> {
  if ((await api.passkeys()).length > 0) return;
  registering();
  await api.registerPasskey(await createPasskey(await api.passkeyOptions()));
}

/** The revision the approver is signing: the one shown on the sign-off screen when they clicked. */
export interface SigningTarget {
  number: number;
  hash: string;
}

/**
 * The approver's sign-off ceremony: registers a passkey first if the user has none, then asks the
 * server for a challenge bound to the revision hash on screen and answers it with the passkey, naming
 * the same hash again. The hash is fixed at the click: if the change is amended meanwhile, the server
 * refuses (`revision_changed`) and nothing is signed; `amended` then says which revision was being signed.
 *
 * One per review page (not per panel): the panel may disappear when an amendment reopens the review,
 * and the refusal must still be shown.
 */
export class SignOffState {
  #phase = $state<SignOffPhase>('idle');
  #error = $state<string | null>(null);
  #receipt = $state.raw<{ revisionHash: string; signedAt?: string } | null>(null);
  #target = $state.raw<SigningTarget | null>(null);
  #amended = $state.raw<{ from: SigningTarget; message: string } | null>(null);
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
  /** The revision being signed (or last signed or refused): what the screen must show while the ceremony runs. */
  get target(): SigningTarget | null {
    return this.#target;
  }
  /** Set when the server refused because the change was amended after the approver looked: which revision they were signing. */
  get amended(): { from: SigningTarget; message: string } | null {
    return this.#amended;
  }
  get isBusy(): boolean {
    return this.#phase === 'registering' || this.#phase === 'signing';
  }
  /** Running, or failed and not yet dismissed: the page keeps the panel on screen, whatever the change's status now. */
  get needsAttention(): boolean {
    return this.isBusy || this.#phase === 'failed';
  }

  /** Signs `target` (the revision on screen at the click) off with a passkey. */
  async signOff(target: SigningTarget): Promise<void> {
    if (this.isBusy) return;
    this.#error = null;
    this.#amended = null;
    this.#target = { number: target.number, hash: target.hash };
    if (!hasWebAuthn()) {
      this.#fail('This browser cannot use passkeys here (it needs HTTPS or localhost).');
      return;
    }
    try {
      await ensurePasskey(() => (this.#phase = 'registering'));
      this.#phase = 'signing';
      const assertion = await getAssertion(await api.signOffOptions(this.changeId, target.hash));
      const result = await api.signOff(this.changeId, assertion, target.hash);
      this.#receipt = result.receipt;
      if (result.receipt.revisionHash !== target.hash) {
        this.#fail(`The server recorded a sign-off of ${result.receipt.revisionHash}, not of the revision shown (${target.hash}). Check the evidence pack.`);
        return;
      }
      this.#phase = 'done';
    } catch (err) {
      if (err instanceof ApiError && isRefusal(err, REVISION_CHANGED)) {
        this.#amended = { from: this.#target, message: err.message };
        this.#fail(`Nothing was signed: revision ${target.number} is no longer the current revision. ${err.message}`);
      } else if (err instanceof ApiError) this.#fail(err.message);
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
    this.#target = null;
    this.#amended = null;
  }
}
