import { api, type User } from '../lib/api.ts';
import type { ChangeSummary } from '../lib/types.ts';
import type { LiveConnection } from './live-connection.svelte.ts';

const ROLE_RANK = ['viewer', 'reviewer', 'approver', 'admin'];
const atLeast = (role: string, min: string) => ROLE_RANK.indexOf(role) >= ROLE_RANK.indexOf(min);
const OPEN = ['draft', 'in_review', 'approved'];
const DECIDED = ['approved', 'rejected', 'withdrawn', 'applied', 'apply_failed'];
const REFRESH_DEBOUNCE_MS = 150;

export interface HomeFilter {
  status: string;
  backend: string;
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
  #filter = $state<HomeFilter>({ status: '', backend: '' });
  #loading = $state(true);
  #error = $state<string | null>(null);
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #stopFacts: () => void;
  #generation = 0;

  constructor(me: User, live: LiveConnection) {
    this.#me = me;
    this.#stopFacts = live.onFacts(() => this.#scheduleRefresh());
    void this.refresh();
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
  readonly recentDecisions = $derived(this.#changes.filter((c) => DECIDED.includes(c.status)).slice(0, 10));

  setStatusFilter(status: string): void {
    this.#filter.status = status;
    void this.refresh();
  }

  setBackendFilter(backend: string): void {
    this.#filter.backend = backend;
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const generation = ++this.#generation;
    try {
      const [changes, vote, signOff] = await Promise.all([
        api.changes({ status: this.#filter.status || undefined, backend: this.#filter.backend || undefined, limit: 200 }),
        atLeast(this.#me.role, 'reviewer') ? api.changes({ waitingFor: 'vote' }) : Promise.resolve([]),
        atLeast(this.#me.role, 'approver') ? api.changes({ waitingFor: 'signoff' }) : Promise.resolve([]),
      ]);
      // A later refresh started while this one awaited: its answer is newer, drop this one.
      if (generation !== this.#generation) return;
      this.#changes = changes;
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
    this.#refreshTimer = setTimeout(() => void this.refresh(), REFRESH_DEBOUNCE_MS);
  }

  dispose(): void {
    clearTimeout(this.#refreshTimer);
    this.#stopFacts();
  }
}
