/**
 * `accord access ...`: import native access files, ask for effective access, render a change natively,
 * and show its blast radius. I/O lives here; the backends and the domain stay pure.
 * Exit codes: 0 done, 1 bad input (file, line and problem on stderr), 2 bad usage.
 */
import { readFile } from 'node:fs/promises';
import { blastRadius } from '../domain/access/blast-radius.ts';
import { parseChangeSet } from '../domain/access/change-schema.ts';
import { AccessInputError } from '../domain/access/model.ts';
import type { AccessModel, Backend, ChangeSet, EffectiveRow, NativeFile } from '../domain/access/model.ts';
import { backendIds, getBackend } from './index.ts';
import { jsonErrorOffset } from './json-error-offset.ts';

const USAGE = `usage: accord access <command> --backend B [options] FILE...
  import    --backend B FILE...                                  the access model as JSON
  effective --backend B FILE... [--principal P]... [--resource R]...  effective privileges as JSON
  render    --backend B --change CHANGE.json FILE...             the change in native form
  impact    --backend B --change CHANGE.json FILE...             { gained, lost } as JSON
backends: ${backendIds().join(', ')}`;

class UsageError extends Error {}

interface Args { backend: string; change?: string; principals: string[]; resources: string[]; files: string[] }

const VALUE_FLAGS: Record<string, 'backend' | 'change' | 'principals' | 'resources'> = {
  '--backend': 'backend', '--change': 'change', '--principal': 'principals', '--resource': 'resources',
};

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { backend: '', principals: [], resources: [], files: [] };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] ?? '';
    const [flag = '', inline] = raw.startsWith('--') ? raw.split(/=(.*)/s, 2) : [raw];
    const field = VALUE_FLAGS[flag];
    if (!raw.startsWith('--')) { args.files.push(raw); continue; }
    if (!field) throw new UsageError(`unknown option ${flag}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    if (field === 'principals' || field === 'resources') args[field].push(value);
    else args[field] = value;
  }
  if (!args.backend) throw new UsageError('--backend is required');
  if (args.files.length === 0) throw new UsageError('at least one FILE is required');
  return args;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new AccessInputError(`cannot read file (${code})`, { file: path });
  }
}

async function loadModel(backend: Backend, files: readonly string[], err: (s: string) => void): Promise<AccessModel> {
  const natives: NativeFile[] = [];
  for (const path of files) natives.push({ path, text: await readText(path) });
  const model = backend.import(natives);
  for (const w of model.warnings) err(`${w.file ?? ''}${w.line ? `:${w.line}` : ''}: warning: ${w.message}`);
  return model;
}

/** 1-based line of a character offset. */
const lineAt = (text: string, offset: number): number => text.slice(0, offset).split('\n').length;

function lineOfItem(text: string, id: string): number | undefined {
  const at = text.search(new RegExp(`"id"\\s*:\\s*${JSON.stringify(id).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  return at >= 0 ? lineAt(text, at) : undefined;
}

function decodeJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const offset = jsonErrorOffset(text);
    throw new AccessInputError(`invalid JSON: ${msg}`, { file, ...(offset !== undefined ? { line: lineAt(text, offset) } : {}) });
  }
}

/** Read, schema-check and validate a change file against the model, naming the item's line on failure. */
async function loadChange(file: string, backend: Backend, model: AccessModel): Promise<ChangeSet> {
  const text = await readText(file);
  const parsed = parseChangeSet(decodeJson(file, text));
  if (!parsed.ok) throw new AccessInputError(`invalid change: ${parsed.problems.join('; ')}`, { file });
  const change = parsed.change;
  if (change.backend !== backend.id) throw new AccessInputError(`change is for backend '${change.backend}' but --backend is '${backend.id}'`, { file });
  for (const item of change.items) {
    try {
      backend.validateChange(model, { backend: change.backend, items: [item] });
    } catch (e) {
      if (!(e instanceof AccessInputError)) throw e;
      const line = lineOfItem(text, item.id);
      throw new AccessInputError(e.message, { file, ...(line ? { line } : {}) });
    }
  }
  return change;
}

/** Rows grouped per (principal, resource), privileges sorted: the shape a reviewer diffs. */
function groupRows(rows: readonly EffectiveRow[]): Array<{ principal: string; resource: string; privileges: string[] }> {
  const groups = new Map<string, { principal: string; resource: string; privileges: Set<string> }>();
  for (const r of rows) {
    const key = `${r.principal}\u0000${r.resource}`;
    const g = groups.get(key) ?? { principal: r.principal, resource: r.resource, privileges: new Set<string>() };
    g.privileges.add(r.privilege);
    groups.set(key, g);
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => ({ principal: g.principal, resource: g.resource, privileges: [...g.privileges].sort() }));
}

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

async function run(command: string, args: Args, out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const backend = getBackend(args.backend);
  const model = await loadModel(backend, args.files, err);
  if (command === 'import') return out(json(model));
  if (command === 'effective') {
    const query = { ...(args.principals.length ? { principals: args.principals } : {}), ...(args.resources.length ? { resources: args.resources } : {}) };
    return out(json(groupRows(backend.effective(model, query))));
  }
  if (!args.change) throw new UsageError(`${command} needs --change CHANGE.json`);
  const change = await loadChange(args.change, backend, model);
  if (command === 'render') {
    const result = backend.render(model, change);
    for (const w of result.warnings) err(`warning: ${w}`);
    return out(result.text);
  }
  return out(json(blastRadius(backend, model, change)));
}

export async function runAccessCli(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const [command = 'help', ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') { out(USAGE); return 0; }
  try {
    if (!['import', 'effective', 'render', 'impact'].includes(command)) throw new UsageError(`unknown command '${command}'`);
    await run(command, parseArgs(rest), out, err);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) { err(`accord access: ${e.message}\n${USAGE}`); return 2; }
    if (e instanceof AccessInputError) { err(`accord access: ${e.message}`); return 1; }
    throw e;
  }
}
