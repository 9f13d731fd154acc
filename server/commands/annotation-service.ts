import { randomBytes } from 'node:crypto';
import type { Principal } from '../auth/roles.ts';
import { decide } from '../auth/permissions.ts';
import type { Annotation } from '../domain/review/annotations.ts';
import { AppError } from '../protocol/errors.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';
import type { CommandRunner } from './command-runner.ts';
import { authorize, factsOf, type ChangeEvents, type ChangeService } from './change-service.ts';

import { CreateAnnotation } from '../protocol/commands.ts';

export { CreateAnnotation };

const now = () => new Date().toISOString();

/** Audit command name for each fact the annotation commands broadcast. */
const COMMAND_OF: Record<string, string> = {
  'annotation:edited': 'annotation.edit',
  'annotation:deleted': 'annotation.delete',
  'annotation:resolved': 'annotation.resolve',
};

/** Annotations by command: the author is always the authenticated user; only the author edits or deletes. */
export class AnnotationService {
  readonly #store: ChangeStore;
  readonly #runner: CommandRunner;
  readonly #changes: ChangeService;
  readonly #events: Pick<ChangeEvents, 'changed'>;

  constructor(store: ChangeStore, runner: CommandRunner, changes: ChangeService, events: Pick<ChangeEvents, 'changed'>) {
    this.#store = store;
    this.#runner = runner;
    this.#changes = changes;
    this.#events = events;
  }

  async create(p: Principal, changeId: string, input: CreateAnnotation, key?: string): Promise<Annotation> {
    const created = await this.#runner.run(p, 'annotation.create', changeId, key, async () => {
      const { change } = await this.#changes.load(changeId);
      authorize(p, 'annotation.create', change);
      const current = change.revisions.at(-1);
      const anchor = input.anchor;
      // Own keys only: `in` would accept "constructor" or "__proto__" as an item id (integrity finding 9).
      if (anchor.kind === 'item' && !(current && Object.hasOwn(current.itemHashes, anchor.itemId))) throw new AppError('invalid_payload', `no item ${anchor.itemId}`);
      if (anchor.kind === 'line') {
        const rev = change.revisions[anchor.revision - 1];
        if (!rev) throw new AppError('invalid_payload', `no revision ${anchor.revision}`);
        if (anchor.line > rev.rendered.text.split('\n').length) throw new AppError('invalid_payload', `revision ${anchor.revision} has no line ${anchor.line}`);
      }
      if (input.parentId !== undefined) {
        const parent = await this.#store.annotation(input.parentId);
        if (!parent || parent.changeId !== changeId || parent.parentId) throw new AppError('invalid_payload', 'replies go to a thread of this change');
      }
      const annotation: Annotation = {
        id: `an-${randomBytes(6).toString('hex')}`, changeId, author: p.username, anchor, body: input.body,
        resolved: false, deleted: false, createdAt: now(), revision: current?.number ?? 0,
        ...(input.parentId !== undefined ? { parentId: input.parentId } : {}),
      };
      await this.#store.putAnnotation(annotation);
      return { result: annotation, detail: { id: annotation.id, anchor, parentId: input.parentId ?? null, body: input.body } };
    });
    await this.#events.changed(changeId, 'annotation:created', { id: created.id });
    return created;
  }

  edit(p: Principal, id: string, body: string, key?: string): Promise<Annotation> {
    return this.#mutate(p, id, 'annotation.edit', 'annotation:edited', key, (a) => {
      if (a.deleted) throw new AppError('conflict', 'the annotation was deleted');
      if (!body.trim() || body.length > 10_000) throw new AppError('invalid_payload', 'an annotation has 1 to 10,000 characters');
      a.body = body.trim();
      a.editedAt = now();
      return { body: a.body };
    });
  }

  remove(p: Principal, id: string, key?: string): Promise<Annotation> {
    return this.#mutate(p, id, 'annotation.edit', 'annotation:deleted', key, (a) => {
      a.deleted = true; // kept for the record: history is never deleted, only hidden
      a.body = '';
      a.editedAt = now();
      return { deleted: true };
    });
  }

  resolve(p: Principal, id: string, resolved: boolean, key?: string): Promise<Annotation> {
    return this.#mutate(p, id, 'annotation.resolve', 'annotation:resolved', key, (a) => {
      a.resolved = resolved;
      if (resolved) a.resolvedBy = p.username;
      else delete a.resolvedBy;
      return { resolved };
    });
  }

  async #mutate(p: Principal, id: string, action: 'annotation.edit' | 'annotation.resolve', fact: 'annotation:edited' | 'annotation:deleted' | 'annotation:resolved', key: string | undefined, fn: (a: Annotation) => Record<string, unknown>): Promise<Annotation> {
    const command = COMMAND_OF[fact]!;
    const annotation = typeof id === 'string' ? await this.#store.annotation(id) : null;
    const subject = annotation?.changeId ?? 'unknown';
    const result = await this.#runner.run(p, command, subject, key, async () => {
      const a = await this.#store.annotation(id);
      if (!a) throw new AppError('not_found', 'no such annotation');
      const { change } = await this.#changes.load(a.changeId);
      const d = decide(p, action, { kind: 'annotation', change: factsOf(change), annotation: { author: a.author } });
      if (!d.allowed) throw new AppError(d.kind === 'state' ? 'conflict' : 'forbidden', d.reason);
      const detail = fn(a);
      await this.#store.putAnnotation(a);
      return { result: a, detail: { id, ...detail } };
    });
    await this.#events.changed(result.changeId, fact, { id });
    return result;
  }
}
