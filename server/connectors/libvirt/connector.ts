/**
 * The libvirt/polkit connector (docs/targets.md): reads the host's polkit rules directory, libvirt's action
 * file and the Accord inventory file; applies by writing Accord's rendered rules file atomically (temporary
 * file in the same directory, fsync, rename: polkitd never sees half a file); checks the result with the
 * host's real polkitd through `pkcheck`, for every affected (user, action, object).
 *
 * Local hosts only in this release: the connection names directories on the machine Accord runs on (SSH is
 * documented as not yet supported). Writing `/etc/polkit-1/rules.d` needs root, as polkitd's own files do.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type { AccessModel, Backend, ChangeSet, NativeFile } from '../../domain/access/model.ts';
import { API_PREFIX, objectTypeOf } from '../../backends/libvirt/actions.ts';
import { Decider } from '../../backends/libvirt/effective.ts';
import { groupId, objectsOf, userId } from '../../backends/libvirt/inventory.ts';
import { knownActions, nativeOf } from '../../backends/libvirt/native.ts';
import { renderRulesFile } from '../../backends/libvirt/rules-file.ts';
import { polkitOrder } from '../../backends/libvirt/sandbox.ts';
import { nativeScope } from '../../backends/libvirt/scope.ts';
import { ConnectorError, type Connector, type ConnectorFactory, type ParsedConnection, type PlanStep } from '../types.ts';

/** Bounds on what a target may hand Accord: hostile or huge state is refused, never half-read. */
const MAX_FILE_BYTES = 2 * 1024 * 1024;
const MAX_RULES_FILES = 500;
/** How many (user, action, object) questions one verification asks polkitd at most. */
const MAX_CHECKS = 2_000;
const CHECK_CONCURRENCY = 8;

const absolute = z.string().min(1).max(500).refine((p) => isAbsolute(p), 'must be an absolute path');
const Connection = z.strictObject({
  /** The polkit rules directory Accord writes its file into (normally /etc/polkit-1/rules.d). */
  rulesDir: absolute,
  /** Further rules directories polkitd reads (normally /usr/share/polkit-1/rules.d); read, never written. */
  extraRulesDirs: z.array(absolute).max(5).default([]),
  /** libvirt's polkit action file. */
  actionsFile: absolute.default('/usr/share/polkit-1/actions/org.libvirt.api.policy'),
  /** The libvirt inventory (docs/backends/libvirt.md) describing this host's users and objects. */
  inventoryFile: absolute,
  /** Accord's rules file name inside rulesDir. */
  accordFile: z.string().regex(/^[A-Za-z0-9._-]+\.rules$/, 'must be a file name ending in .rules').default('50-accord.rules'),
  /** The system bus polkitd listens on (default: the host's); `pkcheck` is pointed at it. */
  systemBus: z.string().min(1).max(500).optional(),
  /** How long verification waits for polkitd to load a new rules file, in ms. */
  reloadWaitMs: z.number().int().min(0).max(60_000).default(5_000),
});
type Connection = z.infer<typeof Connection>;

async function readBounded(path: string): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConnectorError(code === 'EACCES' ? 'auth' : 'unreachable', `cannot read ${path}: ${code ?? (err as Error).message}`, code !== 'EACCES' && code !== 'ENOENT');
  }
  if (size > MAX_FILE_BYTES) throw new ConnectorError('too_large', `${path} is ${size} bytes (at most ${MAX_FILE_BYTES} are read)`);
  return readFile(path, 'utf8');
}

async function rulesIn(dir: string, required: boolean): Promise<NativeFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.rules')).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return [];
    throw new ConnectorError(code === 'EACCES' ? 'auth' : 'unreachable', `cannot list ${dir}: ${code ?? (err as Error).message}`, code !== 'EACCES' && code !== 'ENOENT');
  }
  if (names.length > MAX_RULES_FILES) throw new ConnectorError('too_large', `${dir} holds ${names.length} rules files (at most ${MAX_RULES_FILES} are read)`);
  const out: NativeFile[] = [];
  for (const n of names) out.push({ path: join(dir, n), text: await readBounded(join(dir, n)) });
  return out;
}

/** The start time of a process (field 22 of /proc/PID/stat): pkcheck's `pid,start-time,uid` subject. */
async function startTimeOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = fields[19];
  if (!start) throw new Error(`/proc/${pid}/stat has no start time`);
  return start;
}

type PkAnswer = 'yes' | 'no';

export class LibvirtConnector implements Connector {
  readonly #c: Connection;

  constructor(c: Connection) {
    this.#c = c;
  }

  get accordPath(): string {
    return join(this.#c.rulesDir, this.#c.accordFile);
  }

  async read(): Promise<NativeFile[]> {
    const rules = [...await rulesIn(this.#c.rulesDir, true)];
    for (const d of this.#c.extraRulesDirs) rules.push(...await rulesIn(d, false));
    return [
      ...rules,
      { path: this.#c.actionsFile, text: await readBounded(this.#c.actionsFile) },
      { path: this.#c.inventoryFile, text: await readBounded(this.#c.inventoryFile) },
    ];
  }

  plan(observed: AccessModel, desired: AccessModel, change: ChangeSet): PlanStep[] {
    const n = nativeOf(observed);
    if (basename(n.accordFile) !== this.#c.accordFile && n.foreignRules.some((f) => basename(f.path) === this.#c.accordFile)) {
      throw new ConnectorError('conflict', `${this.accordPath} was edited by hand (it is not the file Accord renders for its grants): review it as drift before applying, so nothing is overwritten blindly`);
    }
    const known = knownActions(n);
    const before = renderRulesFile(observed.grants, known);
    const after = renderRulesFile(desired.grants, known);
    const exists = n.accordFile === this.accordPath;
    if (exists && before === after) return [];
    return [{
      id: 'write', itemIds: change.items.map((i) => i.id), op: 'write', describe: `write ${this.accordPath} (${desired.grants.length} grants)`,
      native: { text: after },
    }];
  }

  /** Warnings for people: rules files that polkitd consults before Accord's and that decide some of the same actions. */
  shadowWarnings(desired: AccessModel): string[] {
    const n = nativeOf(desired);
    const known = knownActions(n);
    const actions = new Set(desired.grants.flatMap((g) => nativeScope(g, known).actions.map((a) => API_PREFIX + a)));
    const order = polkitOrder([...n.foreignRules, { path: this.accordPath, text: '' }]);
    const out: string[] = [];
    for (const f of order) {
      if (f.path === this.accordPath) break;
      const named = [...actions].filter((a) => f.text.includes(a) || f.text.includes(a.slice(API_PREFIX.length)));
      const generic = /org\.libvirt\.api\.?["']?\s*\)?/.test(f.text) && /indexOf|startsWith|match|test\(/.test(f.text);
      if (named.length > 0 || generic) {
        out.push(`${f.path} sorts before ${this.#c.accordFile} and decides ${named.length > 0 ? named.slice(0, 5).join(', ') + (named.length > 5 ? ', ...' : '') : 'libvirt actions by pattern'}: where it answers, Accord's rules are never reached`);
      }
    }
    return out;
  }

  async apply(step: PlanStep): Promise<void> {
    if (step.op !== 'write') throw new ConnectorError('invalid', `the libvirt connector writes whole files; it cannot ${step.op} one grant`);
    const text = (step.native as { text?: unknown } | undefined)?.text;
    if (typeof text !== 'string') throw new ConnectorError('invalid', 'the planned write carries no file text');
    // Not ending in .rules: polkitd ignores the temporary file while it is being written.
    const tmp = join(this.#c.rulesDir, `.${this.#c.accordFile}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const fd = openSync(tmp, 'wx', 0o644);
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      await rename(tmp, this.accordPath);
      const dir = openSync(this.#c.rulesDir, 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch (err) {
      await unlink(tmp).catch(() => undefined); // the temporary file may never have been created
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConnectorError(code === 'EACCES' || code === 'EPERM' ? 'auth' : 'unreachable',
        `cannot write ${this.accordPath}: ${code ?? (err as Error).message}`, code === 'EAGAIN' || code === 'EBUSY' || code === 'EIO');
    }
  }

  /**
   * Asks the real polkitd, through pkcheck, every (user, action, object) the change touches and compares
   * with what `desired` decides. polkitd reloads rules asynchronously after a write: differences are asked
   * again until `reloadWaitMs` has passed.
   */
  async checkNative(desired: AccessModel, principals: readonly string[], change?: ChangeSet): Promise<string[]> {
    const n = nativeOf(desired);
    const known = knownActions(n);
    const decider = new Decider(desired);
    const specs = (change?.items ?? []).flatMap((i) => (i.op === 'replace' ? [i.from, i.to] : [i.grant]));
    const actions = new Set(specs.flatMap((s) => nativeScope(s, known).actions));
    const wanted = new Set(principals);
    const users = n.inventory.users.filter((u) => u.uid !== 0 && (wanted.has(userId(u.name)) || u.groups.some((g) => wanted.has(groupId(g)))));
    const objects = objectsOf(n.inventory);
    const checks: { user: (typeof users)[number]; action: string; details: Record<string, string>; resource: string; expect: PkAnswer }[] = [];
    for (const user of users) {
      for (const action of [...actions].sort()) {
        const type = objectTypeOf(action);
        for (const o of objects) {
          if (o.type !== type) continue;
          const d = decider.decide(user, API_PREFIX + action, o.details);
          checks.push({ user, action, details: o.details, resource: o.resource, expect: d.result === 'yes' ? 'yes' : 'no' });
        }
      }
    }
    const asked = checks.slice(0, MAX_CHECKS);
    const start = await startTimeOf(process.pid);
    const deadline = Date.now() + this.#c.reloadWaitMs;
    let pending = asked;
    for (;;) {
      const answers = await pool(pending, CHECK_CONCURRENCY, (c) => this.#pkcheck(`${process.pid},${start},${c.user.uid}`, API_PREFIX + c.action, c.details));
      pending = pending.filter((c, i) => answers[i] !== c.expect);
      if (pending.length === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const out = pending.map((c) => `polkitd answers ${c.expect === 'yes' ? 'no' : 'yes'} for ${userId(c.user.name)} ${c.action} on ${c.resource}; the approved state says ${c.expect}`);
    if (checks.length > asked.length) out.push(`only ${asked.length} of ${checks.length} (user, action, object) questions were asked of polkitd`);
    return out;
  }

  #pkcheck(subject: string, actionId: string, details: Record<string, string>): Promise<PkAnswer> {
    const args = ['--action-id', actionId, '--process', subject];
    for (const [k, v] of Object.entries(details)) args.push('--detail', k, v);
    const env = this.#c.systemBus ? { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: this.#c.systemBus } : process.env;
    return new Promise((resolve, reject) => {
      const pk = spawn('pkcheck', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      pk.stderr.on('data', (b: Buffer) => { if (err.length < 4_000) err += b.toString(); });
      pk.on('error', (e) => reject(new ConnectorError('unreachable', `pkcheck could not run: ${e.message}`, false)));
      pk.on('exit', (code) => {
        // 0 authorized; 1 not authorized; 2 would need authentication (libvirt never asks: a no); 3 dismissed.
        if (code === 0) resolve('yes');
        else if (code === 1 || code === 2 || code === 3) resolve('no');
        else reject(new ConnectorError('unreachable', `pkcheck ${actionId} exited ${code}: ${err.trim() || 'no message'}`, true));
      });
    });
  }

  async close(): Promise<void> {}
}

async function pool<T, R>(items: readonly T[], concurrency: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

export const libvirtConnector: ConnectorFactory = {
  backend: 'libvirt',
  parseConnection(input: Record<string, unknown>): ParsedConnection {
    const r = Connection.safeParse(input);
    if (!r.success) {
      const i = r.error.issues[0];
      throw new ConnectorError('invalid', `libvirt target: ${i?.path.join('.') || 'connection'}: ${i?.message ?? 'invalid'}${'host' in input ? ' (SSH targets are not supported yet: give local directories)' : ''}`);
    }
    return { connection: r.data as unknown as Record<string, unknown>, secrets: {} };
  },
  open(parsed: ParsedConnection, _backend: Backend): LibvirtConnector {
    return new LibvirtConnector(Connection.parse(parsed.connection));
  },
};
