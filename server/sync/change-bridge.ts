import type { Logger } from '../log.ts';
import type { ChangeContent } from '../domain/review/types.ts';
import type { FactName } from '../protocol/events.ts';
import type { ChangeEvents, ChangedInfo } from '../commands/change-service.ts';
import type { ReviewView } from '../commands/review-view.ts';
import { projectReview, readDraft, writeDraft } from './change-docs.ts';
import type { Origin } from './origin.ts';
import type { AccordServer, SyncTransport } from './sync-transport.ts';

/** Waits between tries of a failed review projection. */
const PROJECTION_RETRIES_MS = [100, 500, 2_000];

/** Every authenticated socket is in this room and hears facts about all changes (home page lists). */
export const CHANGES_ROOM = 'changes';

/**
 * Connects commands to live documents: drafts are read and seeded through the registry, and after
 * every committed command the `review:` document is re-projected from the database (the source of
 * truth) with a server origin, and the fact is broadcast.
 */
export class ChangeBridge implements ChangeEvents {
  readonly #sync: SyncTransport;
  readonly #io: AccordServer;
  readonly #log: Logger;
  readonly #view: (changeId: string) => Promise<ReviewView | null>;
  readonly #status: (changeId: string) => Promise<string | undefined>;
  #projecting = new Map<string, Promise<void>>();

  /** `view`: what the review document shows; `status`: the stored status alone (what a broadcast carries). */
  constructor(sync: SyncTransport, io: AccordServer, log: Logger, view: (changeId: string) => Promise<ReviewView | null>, status: (changeId: string) => Promise<string | undefined>) {
    this.#sync = sync;
    this.#io = io;
    this.#log = log;
    this.#view = view;
    this.#status = status;
  }

  async readDraft(changeId: string): Promise<Record<string, unknown>> {
    const doc = await this.#sync.registry.acquire(`draft:${changeId}`, 'draft', true);
    try {
      return readDraft(doc!.doc);
    } finally {
      this.#sync.registry.release(doc!);
    }
  }

  async writeDraft(changeId: string, content: ChangeContent): Promise<void> {
    const doc = await this.#sync.registry.acquire(`draft:${changeId}`, 'draft', true);
    try {
      writeDraft(doc!.doc, content, { source: 'server', reason: 'draft' } satisfies Origin);
      await this.#sync.registry.batcher.whenDurable();
    } finally {
      this.#sync.registry.release(doc!);
    }
  }

  /**
   * `info.statusChanged` is decided by the command from the stored change (the status it read and the
   * one it saved), never from memory of this process: after a restart the first status change still
   * re-admits the sockets on the draft (integrity finding 10).
   */
  async changed(changeId: string, fact: FactName, detail: Record<string, unknown>, info?: ChangedInfo): Promise<void> {
    // The status as stored now (a later command may already have moved it): the detail's when it cannot be read.
    const status = await this.#status(changeId).catch((err: unknown) => {
      this.#log.error({ err, changeId, fact }, 'reading the change for its broadcast failed; the fact goes out with the status the command saw');
      return typeof detail.status === 'string' ? detail.status : undefined;
    });
    this.#io.to(`review:${changeId}`).to(CHANGES_ROOM).emit(fact, { ...detail, changeId, ...(status !== undefined ? { status } : {}) });
    // A new author may now write; draft rights follow the status.
    if (fact === 'author:added' || info?.statusChanged) this.#sync.readmit(`draft:${changeId}`);
    void this.project(changeId);
  }

  /** Resolves when every projection started so far has been written. */
  async settled(): Promise<void> {
    await Promise.all([...this.#projecting.values()]);
  }

  /** Writes the current view into `review:<id>`; projections of one change run one after another. */
  project(changeId: string): Promise<void> {
    const previous = this.#projecting.get(changeId) ?? Promise.resolve();
    const next = previous.then(async () => {
      // A projection re-reads the stored change, so a failed one is simply tried again (the database
      // may be briefly unavailable); only after the last try is it reported.
      for (let attempt = 0; ; attempt++) {
        try {
          const doc = await this.#sync.registry.acquire(`review:${changeId}`, 'review', true);
          try {
            const view = await this.#view(changeId);
            if (view) projectReview(doc!.doc, view as unknown as { revisions: unknown[] }, { source: 'server', reason: 'decision' } satisfies Origin);
          } finally {
            this.#sync.registry.release(doc!);
          }
          return;
        } catch (err) {
          if (attempt >= PROJECTION_RETRIES_MS.length) throw err;
          this.#log.warn({ err, changeId, attempt: attempt + 1 }, 'projecting a review failed; trying again');
          await new Promise((resolve) => setTimeout(resolve, PROJECTION_RETRIES_MS[attempt]));
        }
      }
    }).catch((err: unknown) => this.#log.error({ err, changeId }, 'projecting a review failed after retries: its review document lags until the next change'));
    this.#projecting.set(changeId, next);
    void next.finally(() => {
      if (this.#projecting.get(changeId) === next) this.#projecting.delete(changeId);
    });
    return next;
  }
}
