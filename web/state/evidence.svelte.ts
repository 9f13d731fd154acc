import { api, ApiError } from '../lib/api.ts';
import { verifyPack, type PackVerdict } from '../lib/evidence-verify.ts';
import type { EvidencePack } from '../lib/types.ts';

/**
 * One change's evidence pack (`GET /api/changes/:id/evidence?format=json`) and its verification in
 * this browser: nothing is trusted because the server said so; the chain, the signature and the
 * content digest are recomputed here.
 */
export class EvidenceState {
  readonly changeId: string;
  #pack = $state.raw<EvidencePack | null>(null);
  #loadError = $state<string | null>(null);
  #verdict = $state.raw<PackVerdict | null>(null);
  #isVerifying = $state(false);

  constructor(changeId: string) {
    this.changeId = changeId;
    void this.load();
  }

  get pack(): EvidencePack | null {
    return this.#pack;
  }
  get loadError(): string | null {
    return this.#loadError;
  }
  get verdict(): PackVerdict | null {
    return this.#verdict;
  }
  get isVerifying(): boolean {
    return this.#isVerifying;
  }
  get htmlUrl(): string {
    return `/api/changes/${encodeURIComponent(this.changeId)}/evidence?format=html`;
  }

  /** Fetches a fresh pack (each export is itself recorded in the audit log). */
  async load(): Promise<void> {
    this.#verdict = null;
    try {
      this.#pack = await api.evidence(this.changeId);
      this.#loadError = null;
    } catch (err) {
      this.#loadError = err instanceof ApiError ? err.message : 'Accord is not reachable';
    }
  }

  async verify(): Promise<void> {
    if (!this.#pack) return;
    this.#isVerifying = true;
    try {
      this.#verdict = await verifyPack(this.#pack);
    } catch (err) {
      this.#verdict = { ok: false, seq: null, part: 'pack', reason: err instanceof Error ? err.message : 'unreadable pack' };
    } finally {
      this.#isVerifying = false;
    }
  }

  reset(): void {
    this.#verdict = null;
  }
}
