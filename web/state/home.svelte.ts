import { api, type User } from '../lib/api.ts';
import type { ChangeSummary, ReviewView } from '../lib/types.ts';
import type { LiveConnection } from './live-connection.svelte.ts';

const ROLE_RANK = ['viewer', 'reviewer', 'approver', 'admin'];
const atLeast = (role: string, min: string) => ROLE_RANK.indexOf(role) >= ROLE_RANK.indexOf(min);
const OPEN = ['draft', 'in_review', 'approved'];
const DECIDED = ['approved', 'rejected', 'withdrawn', 'applied', 'apply_failed'];
/** How many open changes the home page inspects in detail to find what waits for me. */
const MAX_DETAILED = 40;
const REFRESH_DEBOUNCE_MS = 150;

export interface HomeFilter {
  status: string;
  backend: string;
}

/**
 * The home page's lists, from `GET /api/changes` and the views of open changes, refreshed live
 * whenever the server broadcasts a fact about any change.
 */
export class HomeState {
  /** Set in the constructor; the lists below are derived lazily, after it ran. */
  #me: User = { id: 0, username: '', role: 'viewer' };
  #changes = $state.raw<ChangeSummary[]>([]);
  #views = $state.raw<Map<string, ReviewView>>(new Map());
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
  readonly waitingForMyVote = $derived(
    atLeast(this.#me.role, 'reviewer')
      ? this.#changes.filter((c) => {
          const view = this.#views.get(c.id);
          if (c.status !== 'in_review' || !view || c.requestedBy === this.#me.username) return false;
          if (view.recusals.some((r) => r.reviewer === this.#me.username)) return false;
          return !view.votes.some((v) => v.voter === this.#me.username && !v.stale && v.itemId === undefined);
        })
      : [],
  );
  readonly waitingForMySignOff = $derived(
    atLeast(this.#me.role, 'approver')
      ? this.#changes.filter((c) => {
          const view = this.#views.get(c.id);
          if (c.status !== 'approved' || !view) return false;
          if (view.requestedBy === this.#me.username || view.authors.includes(this.#me.username)) return false;
          return !view.signoffs.some((s) => s.approver === this.#me.username && s.valid);
        })
      : [],
  );
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
      const changes = await api.changes({ status: this.#filter.status || undefined, backend: this.#filter.backend || undefined, limit: 200 });
      const open = changes.filter((c) => c.status === 'in_review' || c.status === 'approved').slice(0, MAX_DETAILED);
      const views = await Promise.all(open.map((c) => api.change(c.id).catch(() => null)));
      // A later refresh started while this one awaited: its answer is newer, drop this one.
      if (generation !== this.#generation) return;
      this.#changes = changes;
      this.#views = new Map(views.filter((v): v is ReviewView => v !== null).map((v) => [v.id, v]));
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
