import { createSubscriber } from 'svelte/reactivity';
import * as Y from 'yjs';
import type { ProviderStatus, SocketProvider } from '../lib/socket-provider.ts';
import { newIdempotencyKey } from '../lib/idempotency.ts';
import type { User } from '../lib/api.ts';
import type { CommandName, SessionDecision, SessionView } from '../lib/types.ts';
import type { LiveConnection } from './live-connection.svelte.ts';
import { liveDocSubscribers } from './live-doc.svelte.ts';

export type AgendaItem = SessionView['agenda'][number];

export interface SessionParticipant {
  clientId: number;
  name: string;
  role: string;
  isMe: boolean;
  isFacilitator: boolean;
  /** The change this person has on screen, and whether they follow the presenter. */
  viewing: string | null;
  following: boolean;
}

/** What the timer shows: the current item's time box against the time spent on it. */
export interface TimerReading {
  running: boolean;
  /** Milliseconds left in the time box; negative once over time. */
  remainingMs: number;
  spentMs: number;
  boxMs: number;
}

/** `mm:ss` (or `h:mm:ss`) of a duration, with a minus sign over time. */
export function formatClock(ms: number): string {
  const sign = ms < 0 ? '−' : '';
  const total = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${sign}${h}:${String(m).padStart(2, '0')}:${s}` : `${sign}${m}:${s}`;
}

/** The timer as of `now` (client clock), from the server-written session. */
export function readTimer(session: Pick<SessionView, 'agenda' | 'current' | 'timer'>, now: number): TimerReading | null {
  if (session.current === null) return null;
  const entry = session.agenda[session.current];
  if (!entry) return null;
  const running = session.timer.running && session.timer.startedAt !== null;
  const spentMs = entry.spentMs + (running ? Math.max(0, now - Date.parse(session.timer.startedAt!)) : 0);
  const boxMs = entry.minutes * 60_000;
  return { running, spentMs, boxMs, remainingMs: boxMs - spentMs };
}

/**
 * One joint session: reads the server-written `session:<id>` document, follows the presenter (the
 * facilitator's current item) unless the user chooses to browse, shows who is here and what they look
 * at, and sends the facilitator's commands. The server decides who may run the session.
 */
export class JointSession {
  readonly sessionId: string;
  readonly me: User;
  readonly #live: LiveConnection;
  readonly #provider: SocketProvider;
  readonly #map: Y.Map<unknown>;
  readonly #reads = liveDocSubscribers(() => this.#provider);
  #following = $state(true);
  /** The change I browse to (by id: the agenda may be reordered meanwhile). */
  #browsing = $state<string | null>(null);
  #busy = $state(false);
  #actionError = $state<string | null>(null);
  /** A clock for the timer display: ticks once a second while anything reads it. */
  readonly #tick = createSubscriber((update) => {
    const timer = setInterval(update, 1_000);
    return () => clearInterval(timer);
  });

  constructor(sessionId: string, me: User, live: LiveConnection) {
    this.sessionId = sessionId;
    this.me = me;
    this.#live = live;
    this.#provider = live.openDoc(`session:${sessionId}`);
    this.#map = this.#provider.doc.getMap('session');
    this.#provider.awareness.setLocalState({ viewing: null, following: true });
  }

  #get<T>(key: string): T | undefined {
    this.#reads.doc();
    return this.#map.get(key) as T | undefined;
  }

  get isLoaded(): boolean {
    return this.#get<string>('id') !== undefined;
  }
  get loadError(): string | null {
    this.#reads.provider();
    return this.#provider.status === 'refused' ? (this.#provider.lastError?.message ?? 'refused') : null;
  }
  get providerStatus(): ProviderStatus {
    this.#reads.provider();
    return this.#provider.status;
  }
  get title(): string {
    return this.#get<string>('title') ?? '';
  }
  get facilitator(): string {
    return this.#get<string>('facilitator') ?? '';
  }
  get status(): 'open' | 'closed' {
    return this.#get<'open' | 'closed'>('status') ?? 'open';
  }
  get isClosed(): boolean {
    return this.status === 'closed';
  }
  /** When the facilitator closed it (server time, ISO), or null while open. */
  get closedAt(): string | null {
    return this.#get<string>('closedAt') ?? null;
  }
  get agenda(): AgendaItem[] {
    return this.#get<AgendaItem[]>('agenda') ?? [];
  }
  /** The item the facilitator has the room on: null before the first, and once the session is closed. */
  get current(): number | null {
    if (this.isClosed) return null;
    return this.#get<number | null>('current') ?? null;
  }
  /** The decision record: written by the server only, read-only here, apart from the shared prose minutes. */
  get decisions(): SessionDecision[] {
    return this.#get<SessionDecision[]>('decisions') ?? [];
  }
  get minutesName(): string {
    return `session-${this.sessionId}`;
  }

  /** May I run it? Mirrors the rule book's session.facilitate for showing controls; the server decides. */
  get canFacilitate(): boolean {
    return this.status === 'open' && (this.facilitator === this.me.username || this.me.role === 'admin');
  }

  /** Following the presenter; a closed session has nobody to follow. */
  get following(): boolean {
    return this.#following && !this.isClosed;
  }
  /** The agenda item on my screen: the presenter's while following, my pick while browsing. */
  get viewedIndex(): number | null {
    if (this.following || this.#browsing === null) return this.current;
    const index = this.agenda.findIndex((a) => a.changeId === this.#browsing);
    return index >= 0 ? index : this.current; // a change taken off the agenda: back to the room's
  }
  get viewedChange(): AgendaItem | null {
    const index = this.viewedIndex;
    return index === null ? null : (this.agenda[index] ?? null);
  }

  /** Follow the presenter again (the default). */
  follow(): void {
    this.#following = true;
    this.#browsing = null;
    this.#announce();
  }
  /** Browse freely: look at agenda item `index` while the room moves on. */
  browse(index: number): void {
    this.#following = false;
    this.#browsing = this.agenda[index]?.changeId ?? null;
    this.#announce();
  }
  setFollowing(on: boolean): void {
    if (on) this.follow();
    else this.browse(this.viewedIndex ?? 0);
  }

  /** Tells the others what I look at (volatile presence; identity is stamped by the server). */
  announce(): void {
    this.#announce();
  }
  #announce(): void {
    const viewing = this.viewedChange?.changeId ?? null;
    const following = this.following;
    const state = this.#provider.awareness.getLocalState() as { viewing?: string | null; following?: boolean } | null;
    if (state?.viewing === viewing && state?.following === following) return;
    this.#provider.awareness.setLocalState({ ...state, viewing, following });
  }

  get participants(): SessionParticipant[] {
    this.#reads.presence();
    const facilitator = this.facilitator;
    const out: SessionParticipant[] = [];
    for (const [clientId, raw] of this.#provider.awareness.getStates()) {
      const s = raw as { user?: { name?: string; role?: string }; viewing?: string | null; following?: boolean };
      const isMe = clientId === this.#provider.doc.clientID;
      const name = isMe ? this.me.username : s.user?.name;
      if (!name) continue;
      out.push({
        clientId, name, role: isMe ? this.me.role : (s.user?.role ?? ''), isMe, isFacilitator: name === facilitator,
        viewing: typeof s.viewing === 'string' ? s.viewing : null, following: s.following !== false,
      });
    }
    return out.sort((a, b) => Number(b.isFacilitator) - Number(a.isFacilitator) || a.name.localeCompare(b.name));
  }

  /** The current item's clock, re-read every second; null before the first item and once closed. */
  get timer(): TimerReading | null {
    if (this.current === null) return null;
    this.#tick();
    return readTimer({ agenda: this.agenda, current: this.current, timer: this.#get<SessionView['timer']>('timer') ?? { running: false, startedAt: null } }, Date.now());
  }

  get busy(): boolean {
    return this.#busy;
  }
  get actionError(): string | null {
    return this.#actionError;
  }
  get isConnected(): boolean {
    return this.#live.isConnected;
  }

  goto(index: number): Promise<boolean> {
    return this.#command('session:goto', { index });
  }
  timerAction(action: 'start' | 'pause' | 'reset'): Promise<boolean> {
    return this.#command('session:timer', { action });
  }
  note(text: string): Promise<boolean> {
    return this.#command('session:note', { text });
  }
  close(): Promise<boolean> {
    return this.#command('session:close', {});
  }

  /** Agenda edits send the whole new order; time spent on items that stay is kept by the server. */
  #setAgenda(agenda: { changeId: string; minutes: number }[]): Promise<boolean> {
    return this.#command('session:agenda', { agenda });
  }
  #entries(): { changeId: string; minutes: number }[] {
    return this.agenda.map((a) => ({ changeId: a.changeId, minutes: a.minutes }));
  }
  moveItem(index: number, by: -1 | 1): Promise<boolean> {
    const entries = this.#entries();
    const to = index + by;
    if (to < 0 || to >= entries.length) return Promise.resolve(false);
    [entries[index], entries[to]] = [entries[to]!, entries[index]!];
    return this.#setAgenda(entries);
  }
  removeItem(index: number): Promise<boolean> {
    return this.#setAgenda(this.#entries().filter((_, i) => i !== index));
  }
  addItem(changeId: string, minutes?: number): Promise<boolean> {
    const entries = this.#entries();
    return this.#setAgenda([...entries, { changeId, minutes: minutes ?? entries.at(-1)?.minutes ?? 10 }]);
  }

  /**
   * The facilitator's commands need the room: they are not queued offline (a "next item" replayed
   * minutes later would move everyone by surprise). A refusal is shown with the server's reason.
   */
  async #command(name: CommandName, payload: Record<string, unknown>): Promise<boolean> {
    this.#actionError = null;
    if (!this.#live.socket.connected) {
      this.#actionError = 'You are offline: running the session needs a connection.';
      return false;
    }
    this.#busy = true;
    try {
      const ack = (await this.#live.socket.timeout(10_000).emitWithAck(name, { sessionId: this.sessionId, ...payload, idempotencyKey: newIdempotencyKey() })) as
        | { ok: true } | { ok: false; error: { message: string } };
      if (!ack.ok) this.#actionError = ack.error.message;
      return ack.ok;
    } catch (err) {
      this.#actionError = `No answer from the server: ${err instanceof Error ? err.message : String(err)}`;
      return false;
    } finally {
      this.#busy = false;
    }
  }

  dispose(): void {
    this.#provider.destroy();
  }
}
