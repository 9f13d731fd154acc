import type { AccessModel, Backend, ImportWarning } from '../domain/access/model.ts';
import { AccessInputError } from '../domain/access/model.ts';
import { getBackend } from '../backends/index.ts';
import { AppError } from '../protocol/errors.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';

/** An import's answer: `warnings` counts them; `warningDetails` says each (at most 500), with file and line. */
export interface InventoryImportResult {
  version: number;
  warnings: number;
  grants: number;
  warningDetails: ImportWarning[];
}

export interface InventorySummary {
  backend: string;
  version: number;
  importedBy: string;
  importedAt: string;
  principals: number;
  resources: number;
  grants: number;
  warnings: number;
  warningDetails: ImportWarning[];
}

const MAX_WARNING_DETAILS = 500;
const warningOf = (w: ImportWarning): ImportWarning => ({
  ...(w.file !== undefined ? { file: w.file } : {}), ...(w.line !== undefined ? { line: w.line } : {}), message: w.message,
});

/**
 * The current access state of each backend, imported from native files by an admin. Parsed models are
 * cached by inventory version, so submits do not re-import unchanged files.
 */
export class Inventories {
  readonly #store: ChangeStore;
  readonly #cache = new Map<string, { version: number; model: AccessModel }>();

  constructor(store: ChangeStore) {
    this.#store = store;
  }

  backend(id: string): Backend {
    try {
      return getBackend(id);
    } catch (err) {
      throw new AppError('invalid_payload', (err as Error).message);
    }
  }

  /** The imported model for a backend; `conflict` when an admin has not imported one yet. */
  async model(backendId: string): Promise<AccessModel> {
    const stored = await this.#store.inventory(backendId);
    if (!stored) throw new AppError('conflict', `no inventory is imported for backend ${backendId}: an admin imports one first`);
    const cached = this.#cache.get(backendId);
    if (cached && cached.version === stored.version) return cached.model;
    const model = this.backend(backendId).import(stored.files);
    this.#cache.set(backendId, { version: stored.version, model });
    return model;
  }

  /** The version of the backend's imported inventory (0 when none is imported). */
  async version(backendId: string): Promise<number> {
    return (await this.#store.inventory(backendId))?.version ?? 0;
  }

  /**
   * The state read from a connected target becomes the backend's inventory (a new version only when the
   * files differ), so the next review's blast radius is computed on what the hypervisor really holds.
   */
  async putObserved(backendId: string, files: { path: string; text: string }[], by: string): Promise<number> {
    const stored = await this.#store.inventory(backendId);
    if (stored && JSON.stringify(stored.files) === JSON.stringify(files)) return stored.version;
    return (await this.put(backendId, files, by)).version;
  }

  /**
   * What the admin area shows per imported backend: version, who imported it when, what the import found
   * and every warning with its file and line (the same model the reviews use, from the cache).
   */
  async summaries(): Promise<InventorySummary[]> {
    const out: InventorySummary[] = [];
    for (const row of await this.#store.inventoryList()) {
      const model = await this.model(row.backend);
      out.push({
        ...row, principals: model.principals.length, resources: model.resources.length, grants: model.grants.length,
        warnings: model.warnings.length, warningDetails: model.warnings.map(warningOf),
      });
    }
    return out;
  }

  /** Validates by importing before storing: a file the backend cannot read is refused with its file and line. */
  async put(backendId: string, files: { path: string; text: string }[], by: string): Promise<InventoryImportResult> {
    let model: AccessModel;
    try {
      model = this.backend(backendId).import(files);
    } catch (err) {
      if (err instanceof AccessInputError) throw new AppError('invalid_payload', err.message);
      throw err;
    }
    const version = await this.#store.putInventory(backendId, files, by);
    this.#cache.set(backendId, { version, model });
    return { version, warnings: model.warnings.length, grants: model.grants.length, warningDetails: model.warnings.slice(0, MAX_WARNING_DETAILS).map(warningOf) };
  }
}
