import { api, ApiError } from '../lib/api.ts';
import { verifyPack, type PackVerdict } from '../lib/evidence-verify.ts';
import type { EvidencePack } from '../lib/types.ts';
import type { ErrorBody } from '../../server/protocol/errors.ts';

/**
 * One change's evidence pack and its verification in this browser: nothing is trusted because the
 * server said so; the chain, the signature, the content digest, the content against the audit entries
 * and the sign-off receipts are recomputed here (the passkey signatures by `accord audit verify`).
 * Every export is a command (`POST /api/changes/:id/evidence?format=json|html`: recorded in the audit
 * log once, rate limited; GET is refused), so the HTML download is a POST too, saved from a blob.
 */
export class EvidenceState {
  readonly changeId: string;
  #pack = $state.raw<EvidencePack | null>(null);
  #loadError = $state<string | null>(null);
  #verdict = $state.raw<PackVerdict | null>(null);
  #isVerifying = $state(false);
  #isDownloading = $state(false);
  #downloadError = $state<string | null>(null);

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
  get isDownloading(): boolean {
    return this.#isDownloading;
  }
  get downloadError(): string | null {
    return this.#downloadError;
  }

  /** Exports a fresh pack (each export is itself recorded in the audit log). */
  async load(): Promise<void> {
    this.#verdict = null;
    try {
      this.#pack = await api.evidence(this.changeId);
      this.#loadError = null;
    } catch (err) {
      this.#loadError = err instanceof ApiError ? err.message : 'Accord is not reachable';
    }
  }

  /** Exports the pack as a self-contained HTML page and saves it (a POST, so no plain link). */
  async downloadHtml(): Promise<void> {
    this.#isDownloading = true;
    this.#downloadError = null;
    try {
      const res = await fetch(`/api/changes/${encodeURIComponent(this.changeId)}/evidence?format=html`, { method: 'POST', credentials: 'same-origin' });
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { error?: ErrorBody };
        throw new ApiError(body.error ?? { code: 'internal', message: res.statusText });
      }
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      try {
        const a = document.createElement('a');
        a.href = url;
        a.download = `evidence-${this.changeId}.html`;
        document.body.append(a);
        a.click();
        a.remove();
      } finally {
        // After the click has handed the blob to the download.
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      }
    } catch (err) {
      this.#downloadError = err instanceof ApiError ? err.message : 'Accord is not reachable';
    } finally {
      this.#isDownloading = false;
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
