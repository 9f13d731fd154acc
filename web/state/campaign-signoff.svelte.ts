import { ApiError } from '../lib/api.ts';
import { campaignApi, type MyDecisions } from '../lib/campaign-api.ts';
import { REVISION_CHANGED, isRefusal } from '../lib/types.ts';
import { getAssertion, hasWebAuthn } from '../lib/webauthn.ts';
import { ensurePasskey, type SignOffPhase } from './signoff.svelte.ts';

/**
 * A campaign reviewer's sign-off of their own decisions (docs/campaigns.md, "Sign-off by each reviewer"):
 * reads what they would sign (`GET .../signoffs/mine`: the attestation, the decisions, their hash), then,
 * like the change sign-off, registers a passkey if they have none, asks for a challenge bound to the hash
 * on screen and answers it naming the same hash. A decision made meanwhile is a refusal (`revision_changed`):
 * nothing is signed, `changed` says so and what is read again is shown.
 */
export class CampaignSignOffState {
  readonly campaignId: string;
  #mine = $state.raw<MyDecisions | null>(null);
  #loadError = $state<string | null>(null);
  #phase = $state<SignOffPhase>('idle');
  #error = $state<string | null>(null);
  #changed = $state.raw<{ from: number; message: string } | null>(null);
  #signed = $state.raw<{ count: number; hash: string } | null>(null);
  /** Counts reads: an older answer never replaces a newer one. */
  #reads = 0;

  constructor(campaignId: string) {
    this.campaignId = campaignId;
  }

  /** What I would sign now; null until read. */
  get mine(): MyDecisions | null {
    return this.#mine;
  }
  get loadError(): string | null {
    return this.#loadError;
  }
  get phase(): SignOffPhase {
    return this.#phase;
  }
  get error(): string | null {
    return this.#error;
  }
  /** Set when the server refused because my decisions changed after I read them: how many I was signing. */
  get changed(): { from: number; message: string } | null {
    return this.#changed;
  }
  /** What this page signed, once the server recorded it. */
  get signed(): { count: number; hash: string } | null {
    return this.#signed;
  }
  get isBusy(): boolean {
    return this.#phase === 'registering' || this.#phase === 'signing';
  }

  /** Reads my decisions again (after any decision of mine); an error is kept and shown, not thrown. */
  async load(): Promise<void> {
    const read = ++this.#reads;
    try {
      const mine = await campaignApi.myDecisions(this.campaignId);
      if (read !== this.#reads) return;
      this.#mine = mine;
      this.#loadError = null;
    } catch (err) {
      if (read !== this.#reads) return;
      this.#loadError = `Your decisions could not be read: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Signs `target` (the decisions on screen at the click) with a passkey. */
  async signOff(target: Pick<MyDecisions, 'count' | 'hash'>): Promise<void> {
    if (this.isBusy) return;
    this.#error = null;
    this.#changed = null;
    if (!hasWebAuthn()) {
      this.#fail('This browser cannot use passkeys here (it needs HTTPS or localhost).');
      return;
    }
    try {
      await ensurePasskey(() => (this.#phase = 'registering'));
      this.#phase = 'signing';
      const assertion = await getAssertion(await campaignApi.signOffOptions(this.campaignId, target.hash));
      const result = await campaignApi.signOff(this.campaignId, assertion, target.hash);
      if (result.receipt.revisionHash !== target.hash) {
        this.#fail(`The server recorded a sign-off of ${result.receipt.revisionHash}, not of the decisions shown (${target.hash}). Check the audit log.`);
        return;
      }
      this.#signed = { count: target.count, hash: target.hash };
      this.#phase = 'done';
    } catch (err) {
      if (err instanceof ApiError && isRefusal(err, REVISION_CHANGED)) {
        this.#changed = { from: target.count, message: err.message };
        this.#fail(`Nothing was signed: your decisions changed since you read them (you were signing ${target.count}).`);
        await this.load();
      } else if (err instanceof ApiError) this.#fail(`Nothing was signed: ${err.message}`);
      else if (err instanceof DOMException && err.name === 'NotAllowedError') this.#fail('The passkey prompt was cancelled or timed out. Nothing was signed.');
      else this.#fail(`Nothing was signed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #fail(message: string): void {
    this.#error = message;
    this.#phase = 'failed';
  }

  /** Clears a finished or failed ceremony (a new decision makes the old "signed" stale). */
  reset(): void {
    if (this.isBusy) return;
    this.#phase = 'idle';
    this.#error = null;
    this.#changed = null;
  }
}
