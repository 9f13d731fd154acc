import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { AppError } from './protocol/errors.ts';
import { parseChangeContent } from './domain/review/content-schema.ts';
import { draftHashOf } from './commands/change-service.ts';

/** The CLI's REST client: `--url URL --token TOKEN` (or ACCORD_URL / ACCORD_TOKEN). */
async function call(url: string, token: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`${url.replace(/\/$/, '')}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new AppError('internal', `cannot reach Accord at ${url}: ${(err as Error).message}`);
  }
  const text = await res.text();
  const json = (text ? JSON.parse(text) : {}) as Record<string, unknown> & { error?: { code: string; message: string } };
  if (!res.ok) throw new AppError('invalid_payload', `${res.status} ${json.error?.code ?? ''}: ${json.error?.message ?? res.statusText}`);
  return json;
}

function connection(values: { url?: string; token?: string }): { url: string; token: string } {
  const url = values.url ?? process.env.ACCORD_URL;
  const token = values.token ?? process.env.ACCORD_TOKEN;
  if (!url || !token) throw new AppError('invalid_payload', 'give --url URL and --token TOKEN (or ACCORD_URL and ACCORD_TOKEN)');
  return { url, token };
}

/** Reads a change file: JSON or YAML by content; errors name the file. */
export function readChangeFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AppError('invalid_payload', `${path}: cannot read: ${(err as Error).message}`);
  }
  try {
    return /^\s*[{[]/.test(text) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new AppError('invalid_payload', `${path}: not valid ${/^\s*[{[]/.test(text) ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

const common = { url: { type: 'string' }, token: { type: 'string' } } as const;

export async function submitCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: common });
  const [file] = positionals;
  if (!file) throw new AppError('invalid_payload', 'usage: accord submit FILE --url URL --token TOKEN');
  const content = readChangeFile(file);
  const parsed = parseChangeContent(content);
  if (!parsed.ok) throw new AppError('invalid_payload', `${file}: ${parsed.problems.join('; ')}`);
  const { url, token } = connection(values);
  const created = (await call(url, token, 'POST', '/changes', content)).change as { id: string };
  try {
    // The draft the server seeded holds exactly this file's content: submit names that state, so an edit
    // someone made to the draft in between is refused rather than submitted unseen.
    const draftHash = draftHashOf(parsed.content as unknown as Record<string, unknown>);
    const submitted = (await call(url, token, 'POST', `/changes/${created.id}/submit`, { draftHash })).revision as { number: number; hash: string };
    out(`submitted revision ${submitted.number} (${submitted.hash})`);
  } catch (err) {
    throw new AppError('invalid_payload', `${file}: created ${created.id} as a draft, but submit was refused: ${(err as Error).message}`);
  }
  out(created.id);
  return 0;
}

export async function statusCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...common, json: { type: 'boolean' } } });
  const [id] = positionals;
  if (!id) throw new AppError('invalid_payload', 'usage: accord status ID --url URL --token TOKEN [--json]');
  const { url, token } = connection(values);
  const change = (await call(url, token, 'GET', `/changes/${encodeURIComponent(id)}`)).change as {
    id: string; title: string; status: string; revisions: { number: number; hash: string }[];
    evaluation: { policy: string; decision: string; requirements: { met: boolean; why: string }[] } | null;
  };
  if (values.json) {
    out(JSON.stringify(change, null, 2));
    return 0;
  }
  const rev = change.revisions.at(-1);
  out(`${change.id}  ${change.title}`);
  out(`status: ${change.status}${rev ? `  revision ${rev.number} ${rev.hash}` : ''}`);
  if (change.evaluation) {
    out(`policy ${change.evaluation.policy}: ${change.evaluation.decision}`);
    for (const r of change.evaluation.requirements) out(`  [${r.met ? 'met' : '   '}] ${r.why}`);
  }
  out(change.status);
  return 0;
}

/** Shortest revision-hash prefix `vote --revision` accepts: 64 bits, too many to grind a colliding revision. */
export const MIN_HASH_PREFIX = 16;

export async function voteCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...common, reason: { type: 'string' }, item: { type: 'string' }, revision: { type: 'string' } } });
  const [id, choice] = positionals;
  if (!id || !['approve', 'reject', 'abstain'].includes(choice ?? '')) {
    throw new AppError('invalid_payload', 'usage: accord vote ID approve|reject|abstain --revision HASH [--reason R] [--item ITEM] --url URL --token TOKEN');
  }
  const seen = values.revision?.toLowerCase();
  if (!seen) throw new AppError('invalid_payload', `name the revision you reviewed: --revision HASH (\`accord status ${id}\` prints it; at least ${MIN_HASH_PREFIX} hex digits)`);
  if (!/^[0-9a-f]+$/.test(seen) || seen.length < MIN_HASH_PREFIX || seen.length > 64) {
    throw new AppError('invalid_payload', `--revision takes the revision's hash (or its first ${MIN_HASH_PREFIX} or more hex digits), not ${JSON.stringify(values.revision)}`);
  }
  const { url, token } = connection(values);
  // A prefix names one of the change's revisions (any, not only the current one): the server refuses a vote
  // on one that is no longer current and says what changed.
  const revisions = ((await call(url, token, 'GET', `/changes/${encodeURIComponent(id)}`)).change as { revisions: { number: number; hash: string }[] }).revisions;
  const matches = revisions.filter((r) => r.hash.startsWith(seen));
  if (matches.length !== 1) {
    throw new AppError('invalid_payload', matches.length === 0 ? `no revision of ${id} has a hash starting ${seen}` : `${seen} names ${matches.length} revisions; give more digits`);
  }
  const body = {
    choice, revisionHash: matches[0]!.hash,
    ...(values.reason ? { reason: values.reason } : {}), ...(values.item ? { item: values.item } : {}),
  };
  const change = (await call(url, token, 'POST', `/changes/${encodeURIComponent(id)}/votes`, body)).change as { status: string };
  out(`vote recorded; the change is ${change.status}`);
  out(change.status);
  return 0;
}

export async function exportRemote(id: string, format: 'json' | 'html', values: { url?: string; token?: string }, outFile: string | undefined, out: (s: string) => void): Promise<number> {
  const { url, token } = connection(values);
  const res = await fetch(`${url.replace(/\/$/, '')}/api/changes/${encodeURIComponent(id)}/evidence?format=${format}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (!res.ok) throw new AppError('invalid_payload', `${res.status}: ${text.slice(0, 300)}`);
  if (outFile) writeFileSync(outFile, text);
  else out(text);
  return 0;
}

/** Terminal apply states: nothing more happens until someone presses Apply again. */
const APPLY_DONE = ['verified', 'verification_failed', 'partially_applied', 'apply_failed'];

/**
 * `accord apply ID`: applies an approved, signed-off change through its connected target and waits for the
 * result (`--no-wait`: print `applying` and return). Exit 0 when verified, 1 otherwise; the last line is the
 * apply state.
 */
export async function applyCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...common, 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } } });
  const [id] = positionals;
  if (!id) throw new AppError('invalid_payload', 'usage: accord apply ID [--no-wait] [--timeout SECONDS] --url URL --token TOKEN');
  const { url, token } = connection(values);
  const path = `/changes/${encodeURIComponent(id)}`;
  await call(url, token, 'POST', `${path}/apply`, {});
  if (values['no-wait']) {
    out('applying');
    return 0;
  }
  const deadline = Date.now() + Number(values.timeout ?? 300) * 1_000;
  type Apply = { state: string; target: string; items: { itemId: string; state: string; error?: string; notAfter?: string }[]; difference: string[]; error?: string };
  for (;;) {
    const apply = ((await call(url, token, 'GET', path)).change as { apply: Apply | null }).apply;
    if (apply && APPLY_DONE.includes(apply.state)) {
      out(`${id} on ${apply.target}:`);
      for (const i of apply.items) out(`  ${i.itemId}: ${i.state}${i.notAfter ? ` until ${i.notAfter}` : ''}${i.error ? ` (${i.error})` : ''}`);
      for (const d of apply.difference) out(`  difference: ${d}`);
      if (apply.error) out(`  ${apply.error}`);
      out(apply.state);
      return apply.state === 'verified' ? 0 : 1;
    }
    if (Date.now() > deadline) throw new AppError('invalid_payload', `the apply of ${id} has not finished after ${values.timeout ?? 300} s (state ${apply?.state ?? 'none'}); \`accord status ${id} --json\` shows it`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** `accord target add FILE` (JSON or YAML: { name, backend, ...connection }) and `accord target read NAME`. */
export async function targetCommand(args: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: common });
  const { url, token } = connection(values);
  if (sub === 'add' && positionals[0]) {
    const target = (await call(url, token, 'POST', '/targets', readChangeFile(positionals[0]))).target as { name: string; backend: string };
    out(`connected ${target.backend} target ${target.name}`);
    return 0;
  }
  if (sub === 'read' && positionals[0]) {
    const report = await call(url, token, 'POST', `/targets/${encodeURIComponent(positionals[0])}/read`) as { baseline: string; opened: { id: string; detail: { summary: string } }[]; open: unknown[] };
    if (report.baseline === 'recorded') out('first read: its state is recorded as the approved baseline');
    for (const f of report.opened) out(`drift ${f.id}: ${f.detail.summary}`);
    out(`${report.open.length} open drift finding(s)`);
    return 0;
  }
  if (sub === 'list') {
    for (const t of (await call(url, token, 'GET', '/targets')).targets as { name: string; backend: string }[]) out(`${t.name}\t${t.backend}`);
    return 0;
  }
  throw new AppError('invalid_payload', 'usage: accord target add FILE | target read NAME | target list  --url URL --token TOKEN');
}

/**
 * `accord campaign create FILE.yaml` (prints the new campaign's id last), `campaign start ID`,
 * `campaign status ID` (progress per reviewer), `campaign close ID` (prints the revocation change ids),
 * `campaign report ID --format json|csv [--out FILE]`.
 */
export async function campaignCommand(args: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { ...common, format: { type: 'string' }, out: { type: 'string' } } });
  const [arg] = positionals;
  const usage = 'usage: accord campaign create FILE.yaml | start ID | status ID | close ID | report ID [--format json|csv] [--out FILE]  --url URL --token TOKEN';
  if (!arg) throw new AppError('invalid_payload', usage);
  const { url, token } = connection(values);
  type View = { id: string; title: string; status: string; progress: { total: number; decided: number; byReviewer: Record<string, { assigned: number; decided: number }> }; revocations: { changeId: string; backend: string; status: string | null }[] };
  const show = (c: View): void => {
    out(`${c.id}  ${c.title}`);
    out(`${c.progress.decided} of ${c.progress.total} items decided`);
    for (const [who, p] of Object.entries(c.progress.byReviewer)) out(`  ${who}: ${p.decided}/${p.assigned}`);
    for (const r of c.revocations) out(`  revocations on ${r.backend}: ${r.changeId} (${r.status ?? 'unknown'})`);
    out(c.status);
  };
  switch (sub) {
    case 'create': {
      let text: string;
      try {
        text = readFileSync(arg, 'utf8');
      } catch (err) {
        throw new AppError('invalid_payload', `${arg}: cannot read: ${(err as Error).message}`);
      }
      const res = await fetch(`${url.replace(/\/$/, '')}/api/campaigns`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' }, body: text });
      const json = (await res.json()) as { campaign?: View; error?: { message: string } };
      if (!res.ok || !json.campaign) throw new AppError('invalid_payload', `${arg}: ${res.status} ${json.error?.message ?? ''}`);
      out(`created campaign "${json.campaign.title}" (draft): start it with \`accord campaign start ${json.campaign.id}\``);
      out(json.campaign.id);
      return 0;
    }
    case 'start':
    case 'close': {
      const res = await call(url, token, 'POST', `/campaigns/${encodeURIComponent(arg)}/${sub}`);
      show(res.campaign as View);
      return 0;
    }
    case 'status': {
      show((await call(url, token, 'GET', `/campaigns/${encodeURIComponent(arg)}`)).campaign as View);
      return 0;
    }
    case 'report': {
      const format = values.format ?? 'json';
      if (format !== 'json' && format !== 'csv') throw new AppError('invalid_payload', '--format json or csv');
      const res = await fetch(`${url.replace(/\/$/, '')}/api/campaigns/${encodeURIComponent(arg)}/report?format=${format}`, { headers: { authorization: `Bearer ${token}` } });
      const text = await res.text();
      if (!res.ok) throw new AppError('invalid_payload', `${res.status}: ${text.slice(0, 300)}`);
      if (values.out) writeFileSync(values.out, text);
      else out(text);
      return 0;
    }
    default:
      throw new AppError('invalid_payload', usage);
  }
}
