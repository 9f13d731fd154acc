import { api, ApiError, type User } from '../lib/api.ts';
import type { ChangeSummary, DriftFinding } from '../lib/types.ts';
import type { LiveConnection } from './live-connection.svelte.ts';
import { decide } from '../../server/auth/permissions.ts';
import { isRole } from '../../server/auth/roles.ts';

const ROLE_RANK = ['viewer', 'reviewer', 'approver', 'admin'];
const atLeast = (role: string, min: string) => ROLE_RANK.indexOf(role) >= ROLE_RANK.indexOf(min);
const OPEN = ['draft', 'in_review', 'approved'];
const DECIDED = ['approved', 'rejected', 'withdrawn', 'applied', 'apply_failed'];
const REFRESH_DEBOUNCE_MS = 150;
/**
 * Drift is found by reads of the targets (on demand, and on the server's schedule, every 15 minutes by
 * default) that publish no fact: the list is also read again this often while the page is open.
 */
const DRIFT_POLL_MS = 60_000;

/** What an admin did to a finding from this page, and the change request a revert opened. */
export interface DriftOutcome {
  findingId: string;
  summary: string;
  target: string;
  resolution: 'adopt' | 'revert';
  changeId: string | null;
}

export interface HomeFilter {
  status: string;
  backend: string;
  requester: string;
  risk: '' | 'high' | 'normal';
  /** Title contains. */
  search: string;
}

const SEARCH_DEBOUNCE_MS = 250;

/** A server message as the end of a sentence: one full stop. */
const sentence = (message: string): string => (/[.!?]$/.test(message) ? message : `${message}.`);

/** The same filter the server applies to `GET /api/changes`, for the lists it does not filter (waiting for me). */
export function matches(c: ChangeSummary, f: HomeFilter): boolean {
  return (!f.status || c.status === f.status) && (!f.backend || c.backend === f.backend)
    && (!f.requester || c.requestedBy === f.requester) && (!f.risk || c.highRisk === (f.risk === 'high'))
    && (!f.search || c.title.toLowerCase().includes(f.search.toLowerCase()));
}

/**
 * The home page's lists, from `GET /api/changes` (the server decides what waits for me), refreshed
 * live whenever the server broadcasts a fact about any change.
 */
export class HomeState {
  /** Set in the constructor; the lists below are derived lazily, after it ran. */
  #me: User = { id: 0, username: '', role: 'viewer' };
  #changes = $state.raw<ChangeSummary[]>([]);
  #waitingVote = $state.raw<ChangeSummary[]>([]);
  #waitingSignOff = $state.raw<ChangeSummary[]>([]);
  #inReview = $state.raw<ChangeSummary[]>([]);
  #filter = $state<HomeFilter>({ status: '', backend: '', requester: '', risk: '', search: '' });
  #searchTimer: ReturnType<typeof setTimeout> | undefined;
  #loading = $state(true);
  #error = $state<string | null>(null);
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #stopFacts: () => void;
  #generation = 0;
  #drift = $state.raw<DriftFinding[]>([]);
  #driftLoaded = $state(false);
  #driftError = $state<string | null>(null);
  #driftGeneration = 0;
  #driftTimer: ReturnType<typeof setInterval> | undefined;
  /** Findings with an adopt or revert on its way (their buttons wait). */
  #resolving = $state.raw<ReadonlySet<string>>(new Set());
  #resolveErrors = $state.raw<Readonly<Record<string, string>>>({});
  #outcomes = $state.raw<DriftOutcome[]>([]);

  constructor(me: User, live: LiveConnection) {
    this.#me = me;
    this.#stopFacts = live.onFacts(() => this.#scheduleRefresh());
    void this.refresh();
    void this.refreshDrift();
    this.#driftTimer = setInterval(() => {
      if (typeof document === 'undefined' || !document.hidden) void this.refreshDrift();
    }, DRIFT_POLL_MS);
  }

  get filter(): HomeFilter {
    return this.#filter;
  }
  get loading(): boolean {
    return this.#loading;
  }
  get error(): string | null {
    return this.#error;
  }
  get all(): ChangeSummary[] {
    return this.#changes;
  }

  readonly myOpen = $derived(this.#changes.filter((c) => c.requestedBy === this.#me.username && OPEN.includes(c.status)));
  get waitingForMyVote(): ChangeSummary[] {
    return this.#waitingVote;
  }
  get waitingForMySignOff(): ChangeSummary[] {
    return this.#waitingSignOff;
  }
  /**
   * Every change in review (the filters apply): everyone reads along, and a viewer's home is this list.
   * Fetched on its own (`status=in_review`), so a busy board's drafts and decisions never crowd it out.
   */
  get inReview(): ChangeSummary[] {
    return this.#inReview;
  }
  /** For reviewers and above: the changes in review that no other list of mine shows (I voted already, or it waits for others). */
  readonly alsoInReview = $derived.by(() => {
    const shown = new Set([...this.#waitingVote, ...this.myOpen].map((c) => c.id));
    return this.#inReview.filter((c) => !shown.has(c.id));
  });
  readonly recentDecisions = $derived(this.#changes.filter((c) => DECIDED.includes(c.status)).slice(0, 10));

  setStatusFilter(status: string): void {
    this.#filter.status = status;
    void this.refresh();
  }

  setBackendFilter(backend: string): void {
    this.#filter.backend = backend;
    void this.refresh();
  }

  setRiskFilter(risk: HomeFilter['risk']): void {
    this.#filter.risk = risk;
    void this.refresh();
  }

  /** Free-text fields refresh once typing pauses. */
  setRequesterFilter(requester: string): void {
    this.#filter.requester = requester.trim();
    this.#debounced();
  }
  setSearch(text: string): void {
    this.#filter.search = text.trim();
    this.#debounced();
  }

  /** Whether any filter narrows the lists (the page says so, so an empty list is not a surprise). */
  get isFiltered(): boolean {
    const f = this.#filter;
    return Boolean(f.status || f.backend || f.requester || f.risk || f.search);
  }

  #debounced(): void {
    clearTimeout(this.#searchTimer);
    this.#searchTimer = setTimeout(() => void this.refresh(), SEARCH_DEBOUNCE_MS);
  }

  async refresh(): Promise<void> {
    const generation = ++this.#generation;
    const f = { ...this.#filter };
    try {
      const narrow = { backend: f.backend || undefined, requester: f.requester || undefined, risk: f.risk || undefined, q: f.search || undefined };
      const [changes, inReview, voteAll, signOffAll] = await Promise.all([
        api.changes({ ...narrow, status: f.status || undefined, limit: 200 }),
        // A status filter other than "in review" leaves nothing in review to list.
        !f.status || f.status === 'in_review' ? api.changes({ ...narrow, status: 'in_review', limit: 200 }) : Promise.resolve([]),
        atLeast(this.#me.role, 'reviewer') ? api.changes({ waitingFor: 'vote' }) : Promise.resolve([]),
        atLeast(this.#me.role, 'approver') ? api.changes({ waitingFor: 'signoff' }) : Promise.resolve([]),
      ]);
      // The waiting lists come from the server's own rules; the filters narrow them on this side too.
      const keep = (c: ChangeSummary) => matches(c, f);
      const vote = voteAll.filter(keep);
      const signOff = signOffAll.filter(keep);
      // A later refresh started while this one awaited: its answer is newer, drop this one.
      if (generation !== this.#generation) return;
      this.#changes = changes;
      this.#inReview = inReview;
      this.#waitingVote = vote;
      this.#waitingSignOff = signOff;
      this.#error = null;
    } catch {
      if (generation === this.#generation) this.#error = 'Could not load changes; retrying when Accord answers.';
    } finally {
      if (generation === this.#generation) this.#loading = false;
    }
  }

  #scheduleRefresh(): void {
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(() => {
      void this.refresh();
      void this.refreshDrift();
    }, REFRESH_DEBOUNCE_MS);
  }

  // ---- drift (docs/targets.md) ----

  /** Open drift findings on the connected targets, newest first. */
  get drift(): DriftFinding[] {
    return this.#drift;
  }
  get driftLoaded(): boolean {
    return this.#driftLoaded;
  }
  get driftError(): string | null {
    return this.#driftError;
  }
  /** Adopts and reverts done from this page, newest first (a revert links to the change request it opened). */
  get driftOutcomes(): DriftOutcome[] {
    return this.#outcomes;
  }
  isResolving(findingId: string): boolean {
    return this.#resolving.has(findingId);
  }
  /** Why the last adopt or revert of this finding was refused, in the server's words. */
  resolveError(findingId: string): string | null {
    return this.#resolveErrors[findingId] ?? null;
  }
  /** The rule book's `target.manage` (server/auth/permissions.ts, shared): admins adopt and revert drift. */
  get mayResolveDrift(): boolean {
    const { id, username, role } = this.#me;
    return isRole(role) && decide({ userId: id, username, role, scope: 'full' }, 'target.manage').allowed;
  }

  async refreshDrift(): Promise<void> {
    const generation = ++this.#driftGeneration;
    try {
      const findings = await api.drift();
      if (generation !== this.#driftGeneration) return;
      this.#drift = findings.toSorted((a, b) => b.detectedAt.localeCompare(a.detectedAt));
      this.#driftError = null;
    } catch (err) {
      if (!(err instanceof ApiError)) console.error('reading drift findings failed', err);
      if (generation !== this.#driftGeneration) return;
      this.#driftError = `Could not load drift findings: ${sentence(err instanceof ApiError ? err.message : 'Accord is not reachable')}`;
    } finally {
      if (generation === this.#driftGeneration) this.#driftLoaded = true;
    }
  }

  /** Adopt (what the target holds becomes approved) or revert (a change request that undoes it goes to review). */
  async resolveDrift(finding: DriftFinding, resolution: 'adopt' | 'revert'): Promise<void> {
    if (this.#resolving.has(finding.id)) return;
    this.#resolving = new Set([...this.#resolving, finding.id]);
    const { [finding.id]: _old, ...others } = this.#resolveErrors;
    this.#resolveErrors = others;
    try {
      const answer = resolution === 'adopt' ? await api.adoptDrift(finding.id) : await api.revertDrift(finding.id);
      this.#outcomes = [{ findingId: finding.id, summary: finding.detail.summary, target: finding.target, resolution, changeId: answer.changeId }, ...this.#outcomes];
      this.#drift = this.#drift.filter((f) => f.id !== finding.id);
      void this.refreshDrift();
      // A revert submitted a change request: it shows in the lists too.
      if (resolution === 'revert') void this.refresh();
    } catch (err) {
      if (!(err instanceof ApiError)) console.error(`${resolution} of drift finding ${finding.id} failed`, err);
      const verb = resolution === 'adopt' ? 'Adopt' : 'Revert';
      this.#resolveErrors = { ...this.#resolveErrors, [finding.id]: `${verb} refused: ${sentence(err instanceof ApiError ? err.message : 'Accord is not reachable; nothing was changed')}` };
    } finally {
      const left = new Set(this.#resolving);
      left.delete(finding.id);
      this.#resolving = left;
    }
  }

  dispose(): void {
    clearInterval(this.#driftTimer);
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#searchTimer);
    this.#stopFacts();
  }
}
