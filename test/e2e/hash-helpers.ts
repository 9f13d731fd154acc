/**
 * REST helpers for the integrity contract (every submit, vote, recusal and sign-off names the content
 * hash its maker saw): read what a person would look at, then act on exactly that. Used by the e2e and
 * web-state tests; test/helpers/ stays as it is.
 */
import type { ApiResult } from '../helpers/api.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';

/** A REST client bound to one user (what `apiAs(url, token)` returns). */
export type RestClient = <T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<ApiResult<T>>;

/** The live draft as the server reads it, and the hash a submit must name. */
export async function readDraftOverRest(api: RestClient, changeId: string): Promise<{ draft: Record<string, unknown>; draftHash: string }> {
  const res = await api<{ draft: Record<string, unknown>; draftHash: string }>('GET', `/changes/${changeId}/draft`);
  if (res.status !== 200) throw new Error(`GET draft of ${changeId}: ${res.status} ${JSON.stringify(res.body)}`);
  if (!/^[0-9a-f]{64}$/.test(res.body.draftHash)) throw new Error(`GET draft of ${changeId} returned no draftHash: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Submits the draft as it is now: reads it (with its hash), then submits naming that hash. */
export async function submitDraft(api: RestClient, changeId: string): Promise<ApiResult> {
  const { draftHash } = await readDraftOverRest(api, changeId);
  return api('POST', `/changes/${changeId}/submit`, { draftHash });
}

/** Replaces the draft (PUT) and submits it as the next revision; throws unless both succeed. */
export async function amendAndSubmit(api: RestClient, changeId: string, content: unknown): Promise<ApiResult> {
  const put = await api('PUT', `/changes/${changeId}/draft`, content);
  if (put.status !== 204) throw new Error(`PUT draft of ${changeId}: ${put.status} ${JSON.stringify(put.body)}`);
  const submitted = await submitDraft(api, changeId);
  if (submitted.status !== 201) throw new Error(`submit of ${changeId}: ${submitted.status} ${JSON.stringify(submitted.body)}`);
  return submitted;
}

/** The current revision (number and hash) as the review view shows it. */
export async function currentRevision(api: RestClient, changeId: string): Promise<{ number: number; hash: string }> {
  const res = await api<{ change: ReviewView }>('GET', `/changes/${changeId}`);
  const rev = res.body.change?.revisions.at(-1);
  if (!rev) throw new Error(`${changeId} has no revision: ${res.status} ${JSON.stringify(res.body)}`);
  return { number: rev.number, hash: rev.hash };
}

/** A whole-revision (or item) vote over REST on the revision current now. */
export async function voteOverRest(api: RestClient, changeId: string, vote: { choice: 'approve' | 'reject' | 'abstain'; reason?: string; item?: string }): Promise<ApiResult> {
  const { hash } = await currentRevision(api, changeId);
  return api('POST', `/changes/${changeId}/votes`, { ...vote, revisionHash: hash });
}
