import type { UserStore } from '../auth/user-store.ts';
import { DEFAULT_POLICY, evaluate, parsePolicyYaml, policyByName, selectPolicy, type Evaluation, type Policy } from '../domain/review/policy.ts';
import { PolicyError, type PolicyIssue } from '../domain/review/policy-schema.ts';
import type { ChangeRequest } from '../domain/review/types.ts';
import { AppError } from '../protocol/errors.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';

/** What the change service asks of policies. */
export interface PolicyEngine {
  policyFor(change: ChangeRequest): Promise<string>;
  decide(change: ChangeRequest): Promise<Evaluation>;
  requiresRejectReason(change: ChangeRequest): Promise<boolean>;
}

/**
 * The hypervisor principal's plain name: `alice@pve`, `alice@pve!ci`, `VSPHERE.LOCAL\alice`,
 * `unix-user:alice` and `CORP\alice` all name `alice`. Accord users whose username equals it are the
 * change's beneficiaries (docs/decisions.md): their approvals never count.
 */
export function localName(principal: string): string {
  let name = principal;
  name = name.replace(/^unix-(user|group):/, '');
  name = name.slice(name.lastIndexOf('\\') + 1);
  name = name.split('!')[0]!;
  name = name.split('@')[0]!;
  return name.toLowerCase();
}

export function beneficiaries(change: ChangeRequest, usernames: readonly string[]): string[] {
  const gained = new Set((change.revisions.at(-1)?.blast.gained ?? []).map((row) => localName(row.principal)));
  return usernames.filter((u) => gained.has(u.toLowerCase()));
}

/** What `POST /api/policies/check` answers (docs/api.md). */
export type PolicyPreview =
  | { ok: false; issues: PolicyIssue[] }
  | {
    ok: true;
    policy: string;
    change?:
      | { id: string; note: string }
      | { id: string; governedBy: string; selectsDraft: boolean; currentPolicy: string; evaluation: Evaluation };
  };

/** Policies stored by admins (YAML), evaluated live against the users as they are now. */
export class StoredPolicyEngine implements PolicyEngine {
  readonly #store: ChangeStore;
  readonly #users: UserStore;
  readonly #present: (changeId: string) => Promise<string[] | undefined>;
  #cache: { key: string; policies: Policy[] } | undefined;

  constructor(store: ChangeStore, users: UserStore, present: (changeId: string) => Promise<string[] | undefined>) {
    this.#store = store;
    this.#users = users;
    this.#present = present;
  }

  async policies(): Promise<Policy[]> {
    const rows = await this.#store.policies();
    const key = JSON.stringify(rows);
    if (this.#cache?.key !== key) this.#cache = { key, policies: rows.map((r) => parsePolicyYaml(r.yaml, r.name)) };
    return this.#cache.policies;
  }

  async #policyOf(change: ChangeRequest): Promise<Policy> {
    const policy = policyByName(await this.policies(), change.policy || DEFAULT_POLICY.name);
    if (!policy) throw new AppError('conflict', `the policy "${change.policy}" that governs this change no longer exists`);
    return policy;
  }

  async policyFor(change: ChangeRequest): Promise<string> {
    const revision = change.revisions.at(-1)!;
    return selectPolicy(await this.policies(), revision.content, revision).name;
  }

  async decide(change: ChangeRequest): Promise<Evaluation> {
    const reviewers = await this.#users.reviewers();
    const present = await this.#present(change.id);
    return evaluate({
      change,
      policy: await this.#policyOf(change),
      reviewers,
      beneficiaries: beneficiaries(change, reviewers.map((r) => r.username)),
      ...(present ? { present } : {}),
    });
  }

  /**
   * An admin's draft policy, checked and tried on a change without storing it: would the draft govern the
   * change if saved (it replaces a stored policy of the same name), and how would it decide the change's
   * current revision with the votes cast so far? Errors name the line, as `policy:write` would.
   */
  async preview(name: string, yaml: string, change: ChangeRequest | null): Promise<PolicyPreview> {
    let draft: Policy;
    try {
      draft = parsePolicyYaml(yaml, name);
    } catch (err) {
      if (err instanceof PolicyError) return { ok: false, issues: err.issues };
      throw err;
    }
    if (draft.name !== name) return { ok: false, issues: [{ path: 'name', message: `the policy's name is "${draft.name}", not "${name}": they must match` }] };
    if (!change) return { ok: true, policy: draft.name };
    const revision = change.revisions.at(-1);
    if (!revision) return { ok: true, policy: draft.name, change: { id: change.id, note: 'the change has no submitted revision yet: there is nothing to evaluate' } };
    const stored = (await this.policies()).filter((p) => p.name !== name);
    const governing = selectPolicy([...stored, draft], revision.content, revision);
    const reviewers = await this.#users.reviewers();
    const present = await this.#present(change.id);
    const evaluation = evaluate({
      change, policy: draft, reviewers,
      beneficiaries: beneficiaries(change, reviewers.map((r) => r.username)),
      ...(present ? { present } : {}),
    });
    return {
      ok: true, policy: draft.name,
      change: { id: change.id, governedBy: governing.name, selectsDraft: governing.name === draft.name, currentPolicy: change.policy || DEFAULT_POLICY.name, evaluation },
    };
  }

  /** Whether the change's policy applies it as soon as it is signed off (`apply: auto`). */
  async appliesAutomatically(change: ChangeRequest): Promise<boolean> {
    return (await this.#policyOf(change)).apply === 'auto';
  }

  async requiresRejectReason(change: ChangeRequest): Promise<boolean> {
    return (await this.#policyOf(change)).requireRejectReason;
  }
}
