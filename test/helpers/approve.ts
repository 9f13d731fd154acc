/**
 * A change taken through review the way people do it, for tests of what happens after: the requester
 * submits, two reviewers approve, an approver signs off with a passkey; then an admin applies it.
 */
import assert from 'node:assert/strict';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, currentHash, submitDraft, voteOnCurrent } from './api.ts';
import type { TestServer } from './server.ts';
import { SoftAuthenticator } from './soft-authenticator.ts';

type Api = ReturnType<typeof apiAs>;

export const REVIEW_ORIGIN = 'http://localhost:8080';

export interface ReviewTeam {
  /** root (admin), rita (requester), ana and ben (reviewers), paul (approver with a passkey), vic (viewer). */
  api: Record<'root' | 'rita' | 'ana' | 'ben' | 'paul' | 'vic', Api>;
  tokens: Record<'root' | 'rita' | 'ana' | 'ben' | 'paul' | 'vic', string>;
  approved(content: Record<string, unknown>): Promise<string>;
  /** Presses Apply (202) and waits until the apply reached a final state; returns the view. */
  applied(id: string, timeoutMs?: number): Promise<ReviewView>;
  view(id: string): Promise<ReviewView>;
  /** paul's passkey answering WebAuthn request options (a sign-off). */
  sign(options: Parameters<SoftAuthenticator['getAssertion']>[0]): ReturnType<SoftAuthenticator['getAssertion']>;
}

/** Users and a registered passkey on a server started with `publicUrl: REVIEW_ORIGIN`. */
export async function reviewTeam(server: Pick<TestServer, 'url' | 'user'>): Promise<ReviewTeam> {
  const api = {} as ReviewTeam['api'];
  const tokens = {} as ReviewTeam['tokens'];
  for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paul', 'approver'], ['vic', 'viewer']] as const) {
    tokens[name] = await server.user(name, role);
    api[name] = apiAs(server.url, tokens[name]);
  }
  const authenticator = new SoftAuthenticator();
  const options = (await api.paul('POST', '/passkeys/options')).body as { options: Parameters<SoftAuthenticator['createCredential']>[0] };
  const registered = await api.paul('POST', '/passkeys', { response: authenticator.createCredential(options.options, REVIEW_ORIGIN) });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  const view = async (id: string): Promise<ReviewView> => ((await api.vic('GET', `/changes/${id}`)).body as { change: ReviewView }).change;
  return {
    api,
    tokens,
    view,
    sign: (o) => authenticator.getAssertion(o, REVIEW_ORIGIN),
    async approved(content) {
      const created = await api.rita('POST', '/changes', content);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = (created.body as { change: ReviewView }).change.id;
      const submitted = await submitDraft(api.rita, id);
      assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
      for (const voter of [api.ana, api.ben]) assert.equal((await voteOnCurrent(voter, id, { choice: 'approve' })).status, 201);
      const revisionHash = await currentHash(api.paul, id);
      const signOptions = (await api.paul('POST', `/changes/${id}/signoffs/options`, { revisionHash })).body as { options: Parameters<SoftAuthenticator['getAssertion']>[0] };
      const signed = await api.paul('POST', `/changes/${id}/signoffs`, { response: authenticator.getAssertion(signOptions.options, REVIEW_ORIGIN), revisionHash });
      assert.equal(signed.status, 201, JSON.stringify(signed.body));
      return id;
    },
    async applied(id, timeoutMs = 30_000) {
      const res = await api.root('POST', `/changes/${id}/apply`, {});
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return settledApply(view, id, timeoutMs);
    },
  };
}

/** Waits until the change's apply is in a final state. */
export async function settledApply(view: (id: string) => Promise<ReviewView>, id: string, timeoutMs = 30_000): Promise<ReviewView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await view(id);
    if (v.apply && v.apply.state !== 'applying' && v.apply.state !== 'applied') return v;
    if (Date.now() > deadline) assert.fail(`the apply of ${id} did not finish in ${timeoutMs} ms: ${JSON.stringify(v.apply)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
