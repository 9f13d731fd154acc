import * as Y from 'yjs';
import { digest } from 'lib0/hash/sha256';
import { readDraft } from '../../server/sync/change-docs.ts';
import { canonicalJson } from '../lib/canonical.ts';
import { compareContent, type ContentChanges } from '../lib/diff.ts';
import type { SocketProvider, ProviderStatus } from '../lib/socket-provider.ts';
import { applyTextEdit } from '../lib/ytext.ts';
import { api, ApiError, type User } from '../lib/api.ts';
import { DRAFT_CHANGED, isRefusal, type ChangeItem, type ErrorBody, type Inventory, type Preview, type ReviewView } from '../lib/types.ts';
import type { LiveConnection } from './live-connection.svelte.ts';
import type { CommandOutcome } from './command-queue.svelte.ts';
import { liveDocSubscribers } from './live-doc.svelte.ts';
import { TypingSignal, isTyping } from '../lib/typing.ts';
import { ChangeItemSchema } from '../../server/domain/access/change-schema.ts';

/** How long the editor waits after the last keystroke before asking for a preview. */
const PREVIEW_DEBOUNCE_MS = 250;
/**
 * The backends stop at the first item they refuse: the editor sets that item aside and asks again for
 * the rest, so every item gets its own verdict. At most this many rounds per preview.
 */
const MAX_PREVIEW_ROUNDS = 20;

export interface Editor {
  clientId: number;
  name: string;
  role: string;
  /** What they are editing: an item id, or a field name (`title`, `justification`, ...). */
  editing: string | null;
  /** Typing right now (presence, cleared after a pause). */
  typing: boolean;
  isMe: boolean;
}

/**
 * A problem with the draft, attached to the item it names when it names one. `incomplete`: the item is
 * not filled in yet (found here, with the shared schema); `refused`: Accord refused it (the preview, which
 * knows the inventory: an unknown principal, role or path).
 */
export interface Problem {
  itemId: string | null;
  message: string;
  kind?: 'incomplete' | 'refused';
}

/** The draft as the server reads it, and its hash: SHA-256 (lower-case hex) of its canonical JSON. */
export interface DraftSnapshot {
  draft: Record<string, unknown>;
  draftHash: string;
}

/**
 * Reads a draft document and hashes it, synchronously, exactly as the server does for `change:submit`
 * (`readDraft` from server/sync/change-docs.ts, `canonicalJson`, SHA-256). lib0's SHA-256 rather than
 * WebCrypto: it is synchronous, so the hash is fixed at the moment of the click, and it works outside
 * secure contexts too.
 */
export function snapshotDraft(doc: Y.Doc): DraftSnapshot {
  const draft = readDraft(doc);
  const bytes = digest(new TextEncoder().encode(canonicalJson(draft)));
  return { draft, draftHash: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('') };
}

/** A submit the server refused, with the draft as it was when the user clicked. */
export interface SubmitRefusal {
  error: ErrorBody;
  seen: DraftSnapshot;
}

/**
 * A blank grant for a new item: it grants nothing until the user chooses what (no silent defaults in an
 * access request); the item says what is still missing. The live draft accepts it while it is being
 * filled in (server/sync/update-guard.ts `DraftGrant`); submitting it is refused.
 */
export function blankGrant(): ChangeItem & { op: 'add' } {
  return { id: '', op: 'add', grant: { principal: '', privileges: [], resource: '', propagate: false, effect: 'allow' } };
}

const FIELD_NAMES: Record<string, string> = {
  principal: 'Principal', resource: 'Resource', role: 'Role', privileges: 'Privileges', effect: 'Effect',
  expiresAt: 'Expires', propagate: 'Propagate to children', id: 'Item id', op: 'Operation',
};

/** One schema issue of an item, in words: which field and what to do. */
function describeItemIssue(item: Record<string, unknown>, issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] }): string {
  const [part, field] = issue.path.map(String);
  // In a replace the same field exists twice: say which side.
  const prefix = part === 'from' ? 'From: ' : part === 'to' ? 'To: ' : '';
  const side = (text: string) => (prefix ? `${prefix}${text}` : `${text.charAt(0).toUpperCase()}${text.slice(1)}`);
  const grant = (part && typeof item[part] === 'object' ? item[part] : undefined) as { role?: unknown; privileges?: unknown } | undefined;
  if (issue.code === 'unrecognized_keys') {
    return side(`this editor does not know ${issue.keys?.length === 1 ? 'the field' : 'the fields'} ${issue.keys?.join(', ')}: remove the item and add it again.`);
  }
  if (part === 'op') return 'Operation: choose add, remove or replace.';
  if (part === 'id') return 'This item has no id: remove it and add it again.';
  if ((part === 'grant' || part === 'from' || part === 'to') && field === undefined) {
    if (issue.code === 'invalid_type') return side('nothing is filled in: name a principal, a resource and what it grants.');
    if (grant?.role !== undefined && grant?.privileges !== undefined) return side('choose either privileges or a native role, not both.');
    return side('nothing is granted yet. Choose at least one privilege, or switch Grants to a native role and name it.');
  }
  switch (field) {
    case 'principal': return side('Principal is empty: name the user, group or token.');
    case 'resource': return side('Resource is empty: name the VM, pool, path or other resource.');
    case 'privileges':
      return issue.code === 'too_small'
        ? side('No privilege chosen. Choose at least one privilege, or switch Grants to a native role.')
        : side('Privileges: one of them is not a privilege Accord knows; untick it and choose from the list.');
    case 'role': return side('Role is empty: name a native role, or switch Grants to common privileges.');
    case 'expiresAt': return side('Expires is not a complete date and time: fill it in or clear it.');
    case 'effect': return side('Effect: choose allow or deny.');
    case 'propagate': return side('Propagate to children: tick it or leave it unticked.');
    default: return side(`${FIELD_NAMES[field ?? ''] ?? field ?? 'This item'}: ${issue.message}.`);
  }
}

/**
 * What is still missing or wrong in one item, judged on its own with the shared schema
 * (server/domain/access/change-schema.ts, the one `submit` and the preview use), in words. Empty when
 * the item is complete; whether Accord accepts it (known principal, role, path) is the preview's call.
 */
export function itemProblems(item: unknown): string[] {
  const parsed = ChangeItemSchema.safeParse(item);
  if (parsed.success) return [];
  const record = (item && typeof item === 'object' ? item : {}) as Record<string, unknown>;
  return [...new Set(parsed.error.issues.map((issue) => describeItemIssue(record, issue as Parameters<typeof describeItemIssue>[1])))];
}

/** `i1`, `items i1 and i2`, `items i1, i2 and i3`. */
export function nameItems(ids: readonly string[]): string {
  if (ids.length === 1) return `item ${ids[0]}`;
  return `items ${ids.slice(0, -1).join(', ')} and ${ids.at(-1)}`;
}

/**
 * One live draft (`draft:<changeId>`, docs/protocol.md): its authors edit meta, justification and
 * items together; every edit refreshes the native-form and blast-radius preview (debounced
 * `POST /api/preview`). Submitting is a command (`change:submit`) through the command queue.
 */
export class DraftEditor {
  readonly changeId: string;
  readonly me: User;
  readonly #live: LiveConnection;
  readonly #provider: SocketProvider;
  readonly #meta: Y.Map<unknown>;
  readonly #text: Y.Text;
  readonly #items: Y.Array<ChangeItem>;
  readonly #reads = liveDocSubscribers(() => this.#provider);
  #view = $state.raw<ReviewView | null>(null);
  #inventory = $state.raw<Inventory | null>(null);
  #preview = $state.raw<Preview | null>(null);
  /** Refusals from the last preview (the server's, per item, and any that name no item). */
  #refusals = $state.raw<Problem[]>([]);
  /** Items the preview on screen leaves out (incomplete, or refused): it shows what the others do. */
  #previewLeftOut = $state.raw<string[]>([]);
  /** The last preview failed as a whole: the one on screen is older than the draft. */
  #previewStale = $state(false);
  #isPreviewing = $state(false);
  #isSubmitting = $state(false);
  #submitError = $state<string | null>(null);
  #submitRefusal = $state.raw<SubmitRefusal | null>(null);
  #inviteResult = $state<{ ok: boolean; message: string } | null>(null);
  #editing: string | null = null;
  readonly #typing: TypingSignal;
  #inventoryFor = '';
  #previewTimer: ReturnType<typeof setTimeout> | undefined;
  #previewAbort: AbortController | null = null;
  #previewGeneration = 0;
  /** Counts changes of `items` (observer), so the per-item check runs once per change, not per read. */
  #itemsVersion = 0;
  #incompleteCache: { version: number; map: Map<string, string[]> } | null = null;
  #stopFacts: () => void;

  constructor(changeId: string, me: User, live: LiveConnection) {
    this.changeId = changeId;
    this.me = me;
    this.#live = live;
    this.#provider = live.openDoc(`draft:${changeId}`);
    const doc = this.#provider.doc;
    this.#meta = doc.getMap('meta');
    this.#text = doc.getText('justification');
    this.#items = doc.getArray('items');
    this.#provider.awareness.setLocalStateField('editing', null);
    this.#typing = new TypingSignal(this.#provider.awareness);
    // Plain Yjs observers, not $effect: the preview follows the document, whoever edited it.
    this.#items.observeDeep(this.#onItemsChanged);
    this.#meta.observe(this.#onMetaChanged);
    this.#stopFacts = live.onFacts((name, fact) => {
      if (name === 'connected' || fact?.changeId === this.changeId) void this.#loadView();
    });
    void this.#loadView();
  }

  // ---- reading ----
  #metaField<T>(key: string): T | undefined {
    this.#reads.doc();
    return this.#meta.get(key) as T | undefined;
  }
  get status(): ProviderStatus {
    this.#reads.provider();
    return this.#provider.status;
  }
  get isLoaded(): boolean {
    return this.status === 'synced' || this.#metaField<string>('backend') !== undefined;
  }
  get loadError(): string | null {
    this.#reads.provider();
    return this.#provider.status === 'refused' ? (this.#provider.lastError?.message ?? 'refused') : null;
  }
  get canEdit(): boolean {
    this.#reads.provider();
    return this.#provider.access === 'write';
  }
  get unsaved(): number {
    this.#reads.provider();
    return this.#provider.unacked;
  }
  get title(): string {
    const title = this.#metaField<string | Y.Text>('title');
    return title instanceof Y.Text ? title.toString() : (title ?? '');
  }
  /** The title as shared text (co-authors type in it together), or null in a draft that still holds a plain string. */
  get titleText(): Y.Text | null {
    const title = this.#metaField<unknown>('title');
    return title instanceof Y.Text ? title : null;
  }
  get backend(): string {
    return this.#metaField<string>('backend') ?? '';
  }
  get ticket(): string {
    return this.#metaField<string>('ticket') ?? '';
  }
  get durationHours(): number | undefined {
    return this.#metaField<number>('durationHours');
  }
  get environment(): string[] {
    return this.#metaField<string[]>('environment') ?? [];
  }
  get justification(): string {
    this.#reads.doc();
    return this.#text.toString();
  }
  /** The shared justification, for binding a textarea to it (lib/ytext-binding.ts). */
  get justificationText(): Y.Text {
    return this.#text;
  }
  get items(): ChangeItem[] {
    this.#reads.doc();
    return this.#items.toJSON() as ChangeItem[];
  }
  get inventory(): Inventory | null {
    return this.#inventory;
  }
  get preview(): Preview | null {
    return this.#preview;
  }
  /**
   * What each item still lacks, judged item by item as it is typed (no round trip): one incomplete item
   * never hides the others' problems. Recomputed once per change of the items (a plain Yjs observer
   * counts them), read reactively through the document's subscriber.
   */
  get #incomplete(): Map<string, string[]> {
    this.#reads.doc();
    if (this.#incompleteCache?.version !== this.#itemsVersion) {
      const map = new Map<string, string[]>();
      for (const item of this.#items.toArray()) {
        const problems = itemProblems(item);
        if (problems.length) map.set(item.id, [...(map.get(item.id) ?? []), ...problems]);
      }
      this.#incompleteCache = { version: this.#itemsVersion, map };
    }
    return this.#incompleteCache.map;
  }
  /** Every problem on screen: each item's own (incomplete, refused), then those that name no item. */
  get problems(): Problem[] {
    const out: Problem[] = [];
    for (const item of this.items) out.push(...this.problemsFor(item.id));
    return [...out, ...this.generalProblems];
  }
  /** Refusals that name no item (they are shown above the preview). */
  readonly generalProblems = $derived(this.#refusals.filter((p) => p.itemId === null));
  /** Ids of the items the preview on screen leaves out, in draft order. */
  get previewLeftOut(): string[] {
    return this.#previewLeftOut;
  }
  /** True when the preview on screen is an older one (the latest could not be made). */
  get previewStale(): boolean {
    return this.#previewStale;
  }
  /** Items not complete yet, in draft order: submitting is refused while there are any. */
  get incompleteItems(): string[] {
    return [...this.#incomplete.keys()];
  }
  get isPreviewing(): boolean {
    return this.#isPreviewing;
  }
  get isSubmitting(): boolean {
    return this.#isSubmitting;
  }
  get submitError(): string | null {
    return this.#submitError;
  }
  /** The last refused submit, with the draft as I saw it when I clicked. */
  get submitRefusal(): SubmitRefusal | null {
    return this.#submitRefusal;
  }
  /**
   * After a `draft_changed` refusal: what differs between the draft I submitted and the draft now on
   * screen (live: someone else's edit may reach this page a moment after the refusal). Null otherwise.
   */
  get draftChanges(): ContentChanges | null {
    const refusal = this.#submitRefusal;
    if (!refusal || !isRefusal(refusal.error, DRAFT_CHANGED)) return null;
    this.#reads.doc();
    return compareContent(refusal.seen.draft, readDraft(this.#provider.doc));
  }
  /** The draft as it is on screen now, hashed as the server hashes it. */
  snapshot(): DraftSnapshot {
    return snapshotDraft(this.#provider.doc);
  }
  dismissSubmitRefusal(): void {
    this.#submitRefusal = null;
    this.#submitError = null;
  }
  get inviteResult() {
    return this.#inviteResult;
  }
  get changeStatus(): string {
    return this.#view?.status ?? '';
  }
  get requestedBy(): string {
    return this.#view?.requestedBy ?? '';
  }
  get authors(): string[] {
    return this.#view?.authors ?? [];
  }
  get revisionCount(): number {
    return this.#view?.revisions.length ?? 0;
  }
  /** The requester (or an admin) invites co-authors (server/auth/permissions.ts `change.invite`). */
  get canInvite(): boolean {
    return this.canEdit && (this.requestedBy === this.me.username || this.me.role === 'admin');
  }
  /**
   * One item's problems: what it still lacks (at once, as typed) or, once complete, what Accord refused
   * in it (from the last preview; a refusal of an earlier, incomplete state is not shown).
   */
  problemsFor(itemId: string): Problem[] {
    const incomplete = this.#incomplete.get(itemId);
    if (incomplete) return incomplete.map((message) => ({ itemId, message, kind: 'incomplete' }));
    return this.#refusals.filter((p) => p.itemId === itemId);
  }
  get editors(): Editor[] {
    this.#reads.presence();
    const out: Editor[] = [];
    for (const [clientId, state] of this.#provider.awareness.getStates()) {
      const s = state as { user?: { name?: string; role?: string }; editing?: string | null };
      const isMe = clientId === this.#provider.doc.clientID;
      const name = isMe ? this.me.username : s.user?.name;
      if (name) out.push({ clientId, name, role: isMe ? this.me.role : (s.user?.role ?? ''), editing: s.editing ?? null, typing: isTyping(s), isMe });
    }
    return out.sort((a, b) => Number(b.isMe) - Number(a.isMe) || a.name.localeCompare(b.name));
  }

  /** I am typing in one of the draft's fields (shows as typing to the others until a pause). */
  typing(): void {
    this.#typing.pulse();
  }

  // ---- editing (each a small Yjs transaction) ----
  /** Sets the whole title; in a draft that still holds a plain string this makes it shared text. */
  setTitle(title: string): void {
    this.#meta.set('title', new Y.Text(title));
  }
  setTicket(ticket: string): void {
    if (ticket) this.#meta.set('ticket', ticket);
    else this.#meta.delete('ticket');
  }
  setDurationHours(hours: number | undefined): void {
    if (hours !== undefined && Number.isFinite(hours) && hours > 0) this.#meta.set('durationHours', hours);
    else this.#meta.delete('durationHours');
  }
  addEnvironmentTag(tag: string): void {
    const clean = tag.trim();
    if (!clean || this.environment.includes(clean)) return;
    this.#meta.set('environment', [...this.environment, clean]);
  }
  removeEnvironmentTag(tag: string): void {
    const rest = this.environment.filter((t) => t !== tag);
    if (rest.length) this.#meta.set('environment', rest);
    else this.#meta.delete('environment');
  }
  editJustification(next: string): void {
    applyTextEdit(this.#text, next);
  }

  /** Appends a new item with the next free id (`i1`, `i2`, ...) and returns that id. */
  addItem(): string {
    const taken = new Set(this.#items.toArray().map((i) => i.id));
    let n = this.#items.length + 1;
    while (taken.has(`i${n}`)) n++;
    const item = { ...blankGrant(), id: `i${n}` };
    this.#items.push([item]);
    return item.id;
  }
  removeItem(itemId: string): void {
    const index = this.#items.toArray().findIndex((i) => i.id === itemId);
    if (index >= 0) this.#items.delete(index, 1);
  }
  /** Replaces one item (the array holds plain objects: an edit is a delete and an insert in one transaction). */
  updateItem(itemId: string, next: ChangeItem): void {
    const index = this.#items.toArray().findIndex((i) => i.id === itemId);
    if (index < 0) return;
    this.#provider.doc.transact(() => {
      this.#items.delete(index, 1);
      this.#items.insert(index, [next]);
    });
  }

  /** Tells the other editors what I am editing (volatile presence). */
  focusOn(what: string | null): void {
    if (this.#editing === what) return;
    this.#editing = what;
    this.#provider.awareness.setLocalStateField('editing', what);
  }

  async invite(username: string): Promise<void> {
    this.#inviteResult = null;
    try {
      const view = await api.inviteAuthor(this.changeId, username.trim());
      this.#view = view;
      this.#inviteResult = { ok: true, message: `${username.trim()} is now an author and can edit this draft.` };
    } catch (err) {
      this.#inviteResult = { ok: false, message: err instanceof ApiError ? err.message : 'Accord is not reachable' };
    }
  }

  /**
   * Submits the draft as the next revision, naming the hash of the draft on screen at the click (taken
   * before anything else can change it). Then waits until every edit of mine is durably stored (after
   * the next sync, when offline): the
   * server snapshots the document it holds, so an edit still in flight would be left out. If someone
   * else's edit reached the server in between, the hashes differ and the server refuses (`draft_changed`):
   * `draftChanges` then says what moved, and the user submits again after reading it.
   */
  async submit(): Promise<CommandOutcome> {
    if (this.#isSubmitting) return { ok: false, error: { code: 'conflict', message: 'A submit is already on its way.' } };
    this.#isSubmitting = true;
    this.#submitError = null;
    this.#submitRefusal = null;
    try {
      const seen = this.snapshot();
      // No item goes for review half filled in (an item that grants nothing chosen, an empty principal):
      // refused here, naming the items, before anything is sent. The server refuses it too.
      const refusal = incompleteRefusal(seen.draft.items);
      if (refusal) {
        this.#submitError = refusal;
        return { ok: false, error: { code: 'invalid_payload', message: refusal } };
      }
      if (this.#provider.status === 'refused') throw new Error(this.#provider.lastError?.message ?? 'Accord refused this draft');
      // Offline: wait for the reconnection's sync, which sends the edits made meanwhile (acked below), so
      // the server holds my edits before the command names them. Anything else that arrives counts as new.
      await this.#provider.whenSynced();
      await this.#provider.whenAcked();
      const outcome = await this.#live.commands.send('change:submit', { changeId: this.changeId, draftHash: seen.draftHash }, `Submit ${this.changeId}`);
      if (!outcome.ok) {
        this.#submitError = outcome.error.code === 'invalid_payload' ? describeSubmitRefusal(outcome.error.message, seen.draft.items) : outcome.error.message;
        this.#submitRefusal = { error: outcome.error, seen };
        // Shown here, next to the button; not again in the global list of refused commands.
        for (const r of this.#live.commands.refused) if (r.name === 'change:submit' && r.payload.changeId === this.changeId) this.#live.commands.dismissRefusal(r.key);
      }
      return outcome;
    } catch (err) {
      const message = err instanceof Error ? err.message : 'The submit failed';
      this.#submitError = message;
      return { ok: false, error: { code: 'internal', message } };
    } finally {
      this.#isSubmitting = false;
    }
  }

  // ---- background ----
  async #loadView(): Promise<void> {
    try {
      this.#view = await api.change(this.changeId);
    } catch {
      // The document join reports access problems; the view only adds authors and status.
    }
  }

  #onMetaChanged = (): void => {
    const backend = this.#meta.get('backend');
    if (typeof backend === 'string' && backend !== this.#inventoryFor) {
      this.#inventoryFor = backend;
      api.inventory(backend).then((inv) => (this.#inventory = inv), () => (this.#inventory = null));
    }
    this.#schedulePreview();
  };

  #onItemsChanged = (): void => {
    this.#itemsVersion++;
    this.#repairDuplicateIds();
    this.#schedulePreview();
  };

  /**
   * Two authors editing one item at the same moment each delete it and insert their version: both
   * inserts survive the merge. Every client repairs that the same way (deterministic, so the repairs
   * converge): an identical copy is dropped, a different one gets the next free `<id>-<n>` so neither
   * edit is lost silently.
   */
  #repairDuplicateIds(): void {
    if (this.#provider.access !== 'write' || this.#provider.status !== 'synced') return;
    const all = this.#items.toArray();
    const seen = new Map<string, ChangeItem>();
    const taken = new Set(all.map((i) => i.id));
    const fixes: { index: number; replacement: ChangeItem | null }[] = [];
    all.forEach((item, index) => {
      const first = seen.get(item.id);
      if (!first) return void seen.set(item.id, item);
      if (JSON.stringify(first) === JSON.stringify(item)) return void fixes.push({ index, replacement: null });
      let n = 2;
      while (taken.has(`${item.id}-${n}`)) n++;
      taken.add(`${item.id}-${n}`);
      fixes.push({ index, replacement: { ...item, id: `${item.id}-${n}` } });
    });
    if (!fixes.length) return;
    this.#provider.doc.transact(() => {
      for (const fix of fixes.reverse()) {
        this.#items.delete(fix.index, 1);
        if (fix.replacement) this.#items.insert(fix.index, [fix.replacement]);
      }
    });
  }

  #schedulePreview(): void {
    clearTimeout(this.#previewTimer);
    this.#previewTimer = setTimeout(() => void this.#runPreview(), PREVIEW_DEBOUNCE_MS);
  }

  /**
   * Previews the draft item by item, as far as the server allows: incomplete items are left out (they
   * say what they lack), the rest go to `POST /api/preview` together. A backend stops at the first item
   * it refuses, so that item is set aside with its refusal and the rest are asked again, until the
   * preview passes: every item gets its own verdict, and the preview shows what the others do (naming
   * the items it leaves out).
   */
  async #runPreview(): Promise<void> {
    const backend = this.#meta.get('backend');
    if (typeof backend !== 'string') return;
    const items = this.#items.toJSON() as ChangeItem[];
    const generation = ++this.#previewGeneration;
    this.#previewAbort?.abort();
    const abort = (this.#previewAbort = new AbortController());
    const current = () => generation === this.#previewGeneration && !abort.signal.aborted;
    this.#isPreviewing = true;
    let candidates = items.filter((item) => itemProblems(item).length === 0);
    const refused: Problem[] = [];
    try {
      for (let round = 1; ; round++) {
        try {
          const preview = await api.preview(backend, candidates, abort.signal);
          if (!current()) return;
          const shown = new Set(candidates.map((i) => i.id));
          this.#preview = preview;
          this.#previewLeftOut = items.filter((i) => !shown.has(i.id)).map((i) => i.id);
          this.#previewStale = false;
          this.#refusals = refused;
          return;
        } catch (err) {
          if (!current()) return;
          if (!(err instanceof ApiError)) {
            this.#refusals = [...refused, { itemId: null, message: 'The preview is not reachable right now: the native form and blast radius below are from before your last edit.' }];
            this.#previewStale = true;
            return;
          }
          const parts = toProblems(err.message, candidates).map((p): Problem => ({ ...p, kind: 'refused' }));
          const named = parts.filter((p) => p.itemId !== null);
          if (named.length === 0 || round >= MAX_PREVIEW_ROUNDS) {
            const more = named.length > 0 ? [{ itemId: null, message: 'Other items may have problems too: Accord checks them once these are fixed.' }] : [];
            this.#refusals = [...refused, ...parts, ...more];
            this.#previewStale = true;
            return;
          }
          refused.push(...named);
          const setAside = new Set(named.map((p) => p.itemId));
          candidates = candidates.filter((i) => !setAside.has(i.id));
        }
      }
    } finally {
      if (generation === this.#previewGeneration) this.#isPreviewing = false;
    }
  }

  dispose(): void {
    clearTimeout(this.#previewTimer);
    this.#previewAbort?.abort();
    this.#stopFacts();
    this.#items.unobserveDeep(this.#onItemsChanged);
    this.#meta.unobserve(this.#onMetaChanged);
    this.#typing.dispose();
    this.#provider.destroy();
  }
}

/**
 * Splits the server's refusal into problems and attaches each to an item: backends name the item
 * (Proxmox and XAPI `change item i3: unknown user ...`, libvirt `item i3: ...`, vSphere
 * `/items/2/grant/principal (item "i3"): ...`), the schema names its index (`items.2.grant.principal: ...`).
 */
export function toProblems(message: string, items: readonly ChangeItem[]): Problem[] {
  const known = (id: string | undefined) => id !== undefined && items.some((i) => i.id === id);
  return message.split('; ').map((part) => {
    const named = /^(?:change )?item (\S+?): (.*)$/s.exec(part);
    if (named && known(named[1])) return { itemId: named[1]!, message: named[2]! };
    const pointed = /^\/items\/\d+\S* \(item ("(?:[^"\\]|\\.)*")\): (.*)$/s.exec(part);
    const pointedId = pointed ? (JSON.parse(pointed[1]!) as string) : undefined;
    if (pointed && known(pointedId)) return { itemId: pointedId!, message: pointed[2]! };
    const indexed = /^items\.(\d+)\.?(.*)$/s.exec(part);
    const item = indexed ? items[Number(indexed[1])] : undefined;
    if (indexed && item) {
      const words = itemProblems(item);
      return { itemId: item.id, message: words.length ? words.join(' ') : indexed[2]!.replace(/^(grant|from|to)\./, '$1 ') };
    }
    return { itemId: null, message: part };
  });
}

/** The refusal of a submit with incomplete items, naming them and what the first one lacks; null when every item is complete. */
export function incompleteRefusal(items: unknown): string | null {
  if (!Array.isArray(items)) return null;
  const incomplete = items.flatMap((item: unknown) => {
    const problems = itemProblems(item);
    const id = (item as { id?: unknown } | null)?.id;
    return problems.length ? [{ id: typeof id === 'string' && id ? id : '(without id)', problems }] : [];
  });
  if (!incomplete.length) return null;
  const [first] = incomplete;
  if (incomplete.length === 1) return `Not submitted: item ${first!.id} is not complete. ${first!.problems.join(' ')}`;
  return `Not submitted: ${nameItems(incomplete.map((i) => i.id))} are not complete; each says what it still needs.`;
}

/** A submit the server refused as invalid, in words: the items it names, by id. */
function describeSubmitRefusal(message: string, items: unknown): string {
  const list = Array.isArray(items) ? (items as ChangeItem[]) : [];
  const problems = toProblems(message, list);
  if (!problems.some((p) => p.itemId !== null)) return message;
  return `Not submitted: ${problems.map((p) => (p.itemId ? `item ${p.itemId}: ${p.message}` : p.message)).join('; ')}`;
}
