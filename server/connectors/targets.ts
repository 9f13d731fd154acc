/**
 * Targets: the hypervisors Accord applies to. An admin connects one (`POST /api/targets`); its secrets are
 * sealed at rest (secrets.ts) and never leave the server; a change applies to the target it names, or to
 * the only target of its backend.
 */
import type { Backend, BackendId } from '../domain/access/model.ts';
import { BACKEND_IDS } from '../domain/access/model.ts';
import type { ChangeContent } from '../domain/review/types.ts';
import { getBackend } from '../backends/index.ts';
import { AppError } from '../protocol/errors.ts';
import type { StoredTarget, TargetRepository } from '../store/repositories/target-repository.ts';
import { CONNECTORS } from './index.ts';
import type { TargetSecrets } from './secrets.ts';
import { ConnectorError, type Connector, type ConnectorFactory } from './types.ts';

/** What anyone signed in may see of a target: never its secrets, only which secret fields are set. */
export interface TargetView {
  name: string;
  backend: string;
  connection: Record<string, unknown>;
  secretFields: string[];
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export const TARGET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export class Targets {
  readonly #repo: TargetRepository;
  readonly #secrets: TargetSecrets;
  readonly #factories: Map<string, ConnectorFactory>;

  constructor(repo: TargetRepository, secrets: TargetSecrets, factories: readonly ConnectorFactory[] = CONNECTORS) {
    this.#repo = repo;
    this.#secrets = secrets;
    this.#factories = new Map(factories.map((f) => [f.backend, f]));
  }

  /** Backends that can be connected in this build. */
  get backends(): string[] {
    return [...this.#factories.keys()].sort();
  }

  /** Validates a `POST /api/targets` body; the result is what `save` stores. */
  parse(body: Record<string, unknown>): { name: string; backend: BackendId; connection: Record<string, unknown>; secrets: Record<string, string> } {
    const { name, backend, ...rest } = body;
    if (typeof name !== 'string' || !TARGET_NAME.test(name)) {
      throw new AppError('invalid_payload', 'name: 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
    if (typeof backend !== 'string' || !(BACKEND_IDS as readonly string[]).includes(backend)) {
      throw new AppError('invalid_payload', `backend: one of ${BACKEND_IDS.join(', ')}`);
    }
    const factory = this.#factories.get(backend);
    if (!factory) throw new AppError('invalid_payload', `backend: ${backend} targets cannot be connected in this release (connectable: ${this.backends.join(', ')})`);
    try {
      const parsed = factory.parseConnection(rest);
      return { name, backend: backend as BackendId, ...parsed };
    } catch (err) {
      if (err instanceof ConnectorError) throw new AppError('invalid_payload', err.message);
      throw err;
    }
  }

  async save(t: ReturnType<Targets['parse']>, by: string): Promise<TargetView> {
    await this.#repo.put({ name: t.name, backend: t.backend, connection: t.connection, sealedSecrets: this.#secrets.seal(t.name, t.secrets), createdBy: by });
    return this.view((await this.#repo.get(t.name))!);
  }

  view(t: StoredTarget): TargetView {
    return {
      name: t.name, backend: t.backend, connection: t.connection, secretFields: Object.keys(this.#secrets.open(t.name, t.sealedSecrets)).sort(),
      createdBy: t.createdBy, createdAt: t.createdAt, updatedAt: t.updatedAt,
    };
  }

  async list(): Promise<TargetView[]> {
    return (await this.#repo.list()).map((t) => this.view(t));
  }

  async get(name: string): Promise<StoredTarget> {
    const t = await this.#repo.get(name);
    if (!t) throw new AppError('not_found', `no target named ${name}`);
    return t;
  }

  /** The target a change applies to: the one its content names, or the only target of its backend. */
  async resolveFor(content: Pick<ChangeContent, 'backend' | 'target'>): Promise<StoredTarget> {
    if (content.target !== undefined) {
      const t = await this.#repo.get(content.target);
      if (!t) throw new AppError('conflict', `the change names target ${content.target}, which is not connected: an admin connects it first (POST /api/targets)`);
      if (t.backend !== content.backend) throw new AppError('conflict', `target ${t.name} is a ${t.backend} target; this change is for ${content.backend}`);
      return t;
    }
    const of = (await this.#repo.list()).filter((t) => t.backend === content.backend);
    if (of.length === 0) throw new AppError('conflict', `no ${content.backend} target is connected: an admin connects one (POST /api/targets), or record a manual apply`);
    if (of.length > 1) throw new AppError('conflict', `${of.length} ${content.backend} targets are connected (${of.map((t) => t.name).join(', ')}): the change must name one (target: NAME)`);
    return of[0]!;
  }

  backendOf(t: StoredTarget): Backend {
    return getBackend(t.backend);
  }

  open(t: StoredTarget): Connector {
    const factory = this.#factories.get(t.backend);
    if (!factory) throw new ConnectorError('invalid', `no connector for ${t.backend} in this release`);
    return factory.open({ connection: t.connection, secrets: this.#secrets.open(t.name, t.sealedSecrets) }, this.backendOf(t));
  }
}
