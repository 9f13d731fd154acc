/**
 * Web app budgets (the issue's): initial JavaScript of the review page ≤ 150 KB gzip; the review page
 * interactive in < 1 s on loopback with a 200-item change and 50 participants; typing in the draft
 * stays smooth with 20 co-authors. Prints figures; never asserts timing.
 *
 *   npm run bench:web                      # ~1–2 min on 2 cores
 *   npm run bench:web -- --runs 3 --chars 100
 *
 * Steps: `vite build` into a temp dir (with a manifest); a server child (bench/web/server.ts) serving
 * that build from a fresh data dir; REST setup as an admin and a requester; 50 participants and 20
 * co-authors as real socket.io clients in this process (web/lib/socket-provider.ts); headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core) as a signed-in reviewer or author. Method and
 * last figures: bench/README.md, section "Web budgets".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as Y from 'yjs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import type { ChangeItem } from '../../server/domain/access/model.ts';
import { apiAs, submitDraft } from '../../test/helpers/api.ts';
import { cpuMs, LoopLag } from '../sync/stats.ts';
import { join as joinDoc, pool, sleep, withTimeout, type Person } from './clients.ts';
import { benchInventory, BENCH_POLICY, prose } from './fixtures.ts';
import {
  armTallyProbe, justificationValue, reviewProbe, startTypingProbe, stopTypingProbe,
  type KeyRecord, type ReviewMarks, type TypingTrace,
} from './probes.ts';

const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(SELF, '../../..');
const CHROMIUM = process.env.ACCORD_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PASSWORD = 'bench-web-password';
const VIEWPORT = { width: 1280, height: 800 };
const BUDGET = { initialJsKb: 150, interactiveMs: 1000 };
/** The whole bench is killed after this long, whatever it is doing. */
const WATCHDOG_MS = 6 * 60_000;

// ------------------------------------------------------------------------------------------- options

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  const v = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
};
const RUNS = opt('--runs', 5);
const ITEMS = opt('--items', 200);
const PARTICIPANTS = opt('--participants', 50);
const COAUTHORS = opt('--coauthors', 20);
const CHARS = opt('--chars', 200);
/** Co-author typing: each person types one character every 150–350 ms (≈ 4 chars/s). */
const COAUTHOR_GAP_MS: [number, number] = [150, 350];
/** Browser typing: Playwright holds each key this long (≈ 10 chars/s with the round trips). */
const BROWSER_KEY_MS = 95;
/** A short second typing phase at the start of the text (caret stability). */
const CARET_PROBE_CHARS = 20;

// ------------------------------------------------------------------------------------------- helpers

const q = (xs: readonly number[], p: number): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))]!;
};
const median = (xs: readonly number[]): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};
const max = (xs: readonly number[]): number => {
  const v = xs.filter(Number.isFinite);
  return v.length ? Math.max(...v) : NaN;
};
const f0 = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(0) : '–');
const f1 = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(1) : '–');
const kb = (bytes: number): string => (bytes / 1024).toFixed(1);
const log = (msg: string): void => void process.stderr.write(`bench:web ${msg}\n`);
const table = (head: string[], rows: string[][]): string =>
  [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const chrome = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).stdout.trim() || 'chromium ?';
  return `${availableParallelism()} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${chrome}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

// ------------------------------------------------------------------------------------------- 1. build

interface ManifestChunk { file: string; isEntry?: boolean; imports?: string[]; dynamicImports?: string[]; css?: string[] }
interface Build {
  dir: string;
  /** Every emitted JS file: raw and gzip (zlib level 6, the default of vite's report and most servers) bytes. */
  files: Map<string, { raw: number; gzip: number }>;
  /** The entry chunk and its static imports, transitively: what any page, the review page included, loads first. */
  initial: string[];
  lazy: string[];
  seconds: number;
}

function build(dir: string): Build {
  const t0 = performance.now();
  const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
  const out = spawnSync(process.execPath, [vite, 'build', '--outDir', dir, '--emptyOutDir', '--manifest', '--logLevel', 'warn'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (out.status !== 0) throw new Error(`vite build failed (${out.status ?? out.signal}):\n${out.stdout}\n${out.stderr}`);
  const manifest = JSON.parse(readFileSync(join(dir, '.vite/manifest.json'), 'utf8')) as Record<string, ManifestChunk>;
  const files = new Map<string, { raw: number; gzip: number }>();
  for (const chunk of Object.values(manifest)) {
    if (!chunk.file.endsWith('.js') || files.has(chunk.file)) continue;
    const bytes = readFileSync(join(dir, chunk.file));
    files.set(chunk.file, { raw: bytes.length, gzip: gzipSync(bytes, { level: 6 }).length });
  }
  const entry = Object.entries(manifest).find(([, c]) => c.isEntry);
  if (!entry) throw new Error('no entry chunk in the vite manifest');
  const initial: string[] = [];
  const visit = (key: string): void => {
    const c = manifest[key]!;
    if (initial.includes(c.file)) return;
    initial.push(c.file);
    for (const k of c.imports ?? []) visit(k);
  };
  visit(entry[0]);
  return { dir, files, initial, lazy: [...files.keys()].filter((f) => !initial.includes(f)), seconds: (performance.now() - t0) / 1000 };
}

// ------------------------------------------------------------------------------------------- server

interface ServerChild { child: ChildProcess; url: string; pid: number; tokens: Record<string, string> }

function startServer(webDir: string, dataDir: string, users: [string, string, string?][]): Promise<ServerChild> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/web/server.ts'), JSON.stringify({ webDir, dataDir, users })], {
    cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return withTimeout(new Promise((res, rej) => {
    child.once('message', (m) => res({ child, ...(m as Omit<ServerChild, 'child'>) }));
    child.once('exit', (code) => rej(new Error(`server child exited ${code} before it was ready`)));
  }), 60_000, 'server start');
}

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

// ------------------------------------------------------------------------------------------- 2. review page

interface ReviewSetup { changeId: string; items: number; blastGained: number; docBytes: number; votes: number; annotations: number; setupSeconds: number }

async function setupReview(url: string, tokens: Record<string, string>, participants: string[]): Promise<{ setup: ReviewSetup; people: Person[]; stop: () => void }> {
  const t0 = performance.now();
  const admin = apiAs(url, tokens.root!);
  const inv = benchInventory(ITEMS);
  const imported = await admin('PUT', '/inventories/proxmox', { files: inv.files });
  if (imported.status !== 200) throw new Error(`inventory import: ${JSON.stringify(imported.body)}`);
  const policy = await admin('PUT', '/policies/bench-web', { yaml: BENCH_POLICY });
  if (policy.status >= 300) throw new Error(`policy: ${policy.status} ${JSON.stringify(policy.body)}`);
  const rita = apiAs(url, tokens.rita!);
  const created = await rita<{ change: { id: string } }>('POST', '/changes', {
    title: `Quarterly access cleanup: ${ITEMS} grants across the cluster`,
    justification: 'Bench change: the quarterly review of VM access, generated by bench/web with a seeded RNG.',
    backend: 'proxmox', ticket: 'BENCH-200', items: inv.items,
  });
  if (created.status !== 201) throw new Error(`create change: ${JSON.stringify(created.body)}`);
  const changeId = created.body.change.id;
  const submitted = await submitDraft<{ change: { revisions: { hash: string; blast: { gained: unknown[] } }[] } }>(rita, changeId);
  if (submitted.status !== 201) throw new Error(`submit: ${JSON.stringify(submitted.body)}`);
  const blastGained = submitted.body.change.revisions.at(-1)!.blast.gained.length;
  // Every vote names the revision its voter saw (as the web app sends it, from the change view).
  const revisionHash = submitted.body.change.revisions.at(-1)!.hash;

  log(`connecting ${participants.length} participants to review:${changeId}`);
  const people = await pool(participants, 10, (name) => joinDoc(url, name, tokens[name]!, `review:${changeId}`));
  const itemIds = inv.items.map((i: ChangeItem) => i.id);
  let seed = 7;
  const rand = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  // Presence as the web app sets it: `looking` at an item (the server stamps `user`).
  for (const p of people) p.provider.awareness.setLocalStateField('looking', pick(itemIds));

  // A realistic review in progress: whole votes (approve / abstain / reasoned reject), item votes,
  // annotation threads with replies. Commands go through the same path as the web app's.
  let votes = 0;
  let annotations = 0;
  await pool(people, 8, async (p, i) => {
    const share = i / people.length;
    if (share < 0.4) await p.command('vote:cast', { changeId, choice: 'approve', revisionHash, revision: 1 });
    else if (share < 0.6) await p.command('vote:cast', { changeId, choice: 'abstain', revisionHash, revision: 1 });
    else if (share < 0.7) await p.command('vote:cast', { changeId, choice: 'reject', revisionHash, revision: 1, reason: 'Too broad for one change: split the pool grants out.' });
    else {
      // Three distinct items: the same vote on the same item again would be one fact, not a second vote.
      const items = new Set<string>();
      while (items.size < 3) items.add(pick(itemIds));
      for (const [k, itemId] of [...items].entries()) {
        await p.command('vote:cast', { changeId, choice: k === 2 ? 'reject' : 'approve', revisionHash, revision: 1, itemId, ...(k === 2 ? { reason: 'Not this VM.' } : {}) });
      }
      votes += 2;
    }
    votes += 1;
  });
  const roots: string[] = [];
  await pool(Array.from({ length: 30 }, (_, i) => i), 6, async (i) => {
    const p = people[i % people.length]!;
    const created = (await p.command('annotation:create', { changeId, annotation: { anchor: { kind: 'item', itemId: pick(itemIds) }, body: `Why does item need this? (${i})` } })) as { id: string };
    roots.push(created.id);
    annotations++;
  });
  await pool(roots.slice(0, 10), 5, async (id, i) => {
    await people[(i + 17) % people.length]!.command('annotation:create', { changeId, annotation: { anchor: { kind: 'item', itemId: pick(itemIds) }, body: 'Agreed, see the ticket.', parentId: id } });
    annotations++;
  });
  await withTimeout((async () => {
    while (people.some((p) => ((p.doc.getMap('review').get('annotations') as unknown[] | undefined)?.length ?? 0) < annotations)) await sleep(50);
  })(), 30_000, 'participants seeing every annotation');
  const docBytes = Y.encodeStateAsUpdate(people[0]!.doc).length;

  // While the browser loads: each participant looks at another item every 3–7 s (~10 presence changes/s).
  const timers = people.map((p) => {
    const next = (): ReturnType<typeof setTimeout> => setTimeout(() => {
      p.provider.awareness.setLocalStateField('looking', pick(itemIds));
      handle = next();
    }, 3_000 + rand() * 4_000);
    let handle = next();
    return () => clearTimeout(handle);
  });
  return {
    setup: { changeId, items: inv.items.length, blastGained, docBytes, votes, annotations, setupSeconds: (performance.now() - t0) / 1000 },
    people,
    stop: () => timers.forEach((s) => s()),
  };
}

interface LoadResult {
  cache: 'cold' | 'warm';
  reviewer: string;
  fcp: number;
  items: number;
  participants: number;
  approve: number;
  interactive: number;
  longtasks: number;
  longtaskMs: number;
  scriptMs: number;
  layoutMs: number;
  heapMb: number;
  dom: number;
  jsRequested: { path: string; transferred: number }[];
  clickToTally?: number;
}

async function signIn(context: BrowserContext, base: string, username: string): Promise<void> {
  const res = await context.request.post(`${base}/api/session`, { data: { username, password: PASSWORD }, headers: { origin: base } });
  if (!res.ok()) throw new Error(`sign-in ${username}: ${res.status()} ${await res.text()}`);
}

async function loadReview(context: BrowserContext, base: string, changeId: string, cache: 'cold' | 'warm', reviewer: string, clickApprove: boolean): Promise<LoadResult> {
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  try {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await page.goto(`${base}/changes/${changeId}`, { waitUntil: 'commit' });
    await page.waitForFunction(() => (window as unknown as { __bench?: ReviewMarks }).__bench?.marks.interactive !== undefined, null, { timeout: 30_000, polling: 100 });
    const probe = await page.evaluate(() => {
      const b = (window as unknown as { __bench: ReviewMarks }).__bench;
      const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN;
      const until = b.marks.interactive!;
      const js = (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
        .filter((e) => new URL(e.name).pathname.endsWith('.js') && e.startTime <= until)
        .map((e) => ({ path: new URL(e.name).pathname, transferred: e.transferSize }));
      const count = (sel: string): number => document.querySelectorAll(sel).length;
      const sections = Object.fromEntries([...document.querySelectorAll('section[aria-labelledby]')].map((s) => [s.querySelector('h2')?.textContent?.trim().split(/\s/)[0] ?? '?', s.getElementsByTagName('*').length]));
      return { marks: b.marks, longtasks: b.longtasks.filter((l) => l.start <= until), fcp, js, trace: b.trace, allLong: b.longtasks, dom: count('*'), sections };
    });
    if (process.env.BENCH_WEB_DEBUG) {
      log(`${cache} trace: ${JSON.stringify(probe.trace.map(([t, s]) => `${t.toFixed(0)} ${s}`))} long: ${JSON.stringify(probe.allLong.map((l) => `${l.start.toFixed(0)}+${l.duration.toFixed(0)}`))}`);
      log(`${cache} DOM elements per section: ${JSON.stringify(probe.sections)}`);
    }
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const result: LoadResult = {
      cache, reviewer,
      fcp: probe.fcp, items: probe.marks.items!, participants: probe.marks.participants!, approve: probe.marks.approve!, interactive: probe.marks.interactive!,
      longtasks: probe.longtasks.length, longtaskMs: probe.longtasks.reduce((s, l) => s + l.duration, 0),
      scriptMs: (metrics.ScriptDuration ?? NaN) * 1000, layoutMs: ((metrics.LayoutDuration ?? NaN) + (metrics.RecalcStyleDuration ?? NaN)) * 1000,
      heapMb: (metrics.JSHeapUsedSize ?? NaN) / 2 ** 20, dom: probe.dom, jsRequested: probe.js,
    };
    if (clickApprove) {
      await page.evaluate(armTallyProbe);
      await page.getByRole('group', { name: 'Your vote' }).getByRole('button', { name: 'Approve', exact: true }).click();
      await page.waitForFunction(() => (window as unknown as { __tally: { shown?: number } }).__tally.shown !== undefined, null, { timeout: 15_000, polling: 50 });
      const t = await page.evaluate(() => (window as unknown as { __tally: { click: number; shown: number } }).__tally);
      result.clickToTally = t.shown - t.click;
    }
    await cdp.detach();
    return result;
  } finally {
    await page.close();
  }
}

async function reviewRuns(browser: Browser, base: string, changeId: string, reviewers: string[]): Promise<{ loads: LoadResult[]; failures: string[] }> {
  const results: LoadResult[] = [];
  const failures: string[] = [];
  for (const [i, reviewer] of reviewers.entries()) {
    // Cold: a fresh context (empty HTTP cache, no service worker), signed in by cookie. Warm: a new
    // page in the same context (the JS comes from the cache; the socket and the document do not).
    const context = await browser.newContext({ viewport: VIEWPORT });
    try {
      await context.addInitScript(reviewProbe, { items: ITEMS, participants: PARTICIPANTS + 1 });
      await signIn(context, base, reviewer);
      const cold = await loadReview(context, base, changeId, 'cold', reviewer, true);
      results.push(cold);
      const warm = await loadReview(context, base, changeId, 'warm', reviewer, false);
      results.push(warm);
      log(`review run ${i + 1}/${reviewers.length}: cold ${f0(cold.interactive)} ms, warm ${f0(warm.interactive)} ms, Approve → tally ${f0(cold.clickToTally)} ms`);
    } catch (err) {
      // A run that never became interactive is reported, not hidden, and does not stop the others.
      failures.push(`run ${i + 1} (${reviewer}): ${(err as Error).message.split('\n')[0]}`);
      log(`review run ${i + 1}/${reviewers.length} FAILED: ${(err as Error).message}`);
    } finally {
      await context.close();
    }
  }
  return { loads: results, failures };
}

// ------------------------------------------------------------------------------------------- 3. draft typing

interface TypingResult {
  coauthors: number;
  coauthorEdits: number;
  coauthorRate: number;
  awarenessRate: number;
  loadGenLagP99: number;
  serverCpuPct: number;
  trace: TypingTrace;
  keys: KeyRecord[];
  seconds: number;
  browserRate: number;
  typedIntact: boolean;
  caretProbe: { keys: number; moved: number; intact: boolean };
  converged: boolean;
  convergeMs: number;
  finalLength: number;
  checkedReplicas: number;
}

async function draftTyping(browser: Browser, base: string, server: ServerChild, coauthorNames: string[]): Promise<TypingResult> {
  const writer = apiAs(server.url, server.tokens.writer!);
  const inv = benchInventory(ITEMS);
  const header = 'Why: the storage migration needs temporary access for these people.';
  const seedLines = coauthorNames.map((n) => `${n}: `);
  const created = await writer<{ change: { id: string } }>('POST', '/changes', {
    title: 'Storage migration access (bench draft)', backend: 'proxmox', ticket: 'BENCH-20',
    justification: [header, ...seedLines, 'writer: '].join('\n'), items: inv.items.slice(0, 5),
  });
  if (created.status !== 201) throw new Error(`create draft: ${JSON.stringify(created.body)}`);
  const changeId = created.body.change.id;
  for (const name of coauthorNames) {
    const r = await writer('POST', `/changes/${changeId}/authors`, { username: name });
    if (r.status >= 300) throw new Error(`invite ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  log(`connecting ${coauthorNames.length} co-authors to draft:${changeId}`);
  const people = await pool(coauthorNames, 10, (name) => joinDoc(server.url, name, server.tokens[name]!, `draft:${changeId}`));
  for (const p of people) if (p.provider.access !== 'write') throw new Error(`${p.name} joined the draft read-only`);
  // Each co-author types at the end of their own line; the cursor is a Yjs relative position on the
  // line's newline, so it follows everyone else's edits.
  const cursors = people.map((p) => {
    const text = p.doc.getText('justification');
    const line = `${p.name}: `;
    const at = text.toString().indexOf(`\n${line}`) + 1 + line.length;
    return Y.createRelativePositionFromTypeIndex(text, at);
  });
  for (const p of people) p.provider.awareness.setLocalState({ editing: 'justification', cursor: 0 });

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    await signIn(context, base, 'writer');
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${base}/changes/${changeId}/edit`);
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await page.getByRole('list', { name: 'Editors' }).locator('li').nth(coauthorNames.length).waitFor();
    const textarea = page.getByLabel('Justification');
    await textarea.click();
    await page.keyboard.press('Control+End');

    // Co-authors start typing; the browser starts once they are at full rate.
    let edits = 0;
    let awarenessUpdates = 0;
    let typing = true;
    const texts = prose(99, 100_000);
    const stops = people.map((p, k) => {
      const text = p.doc.getText('justification');
      let n = k * 997;
      let handle: ReturnType<typeof setTimeout>;
      const gap = (): number => COAUTHOR_GAP_MS[0] + Math.random() * (COAUTHOR_GAP_MS[1] - COAUTHOR_GAP_MS[0]);
      const tick = (): void => {
        if (!typing) return;
        const abs = Y.createAbsolutePositionFromRelativePosition(cursors[k]!, p.doc);
        if (abs) {
          text.insert(abs.index, texts[n++ % texts.length]!);
          edits++;
        }
        handle = setTimeout(tick, gap());
      };
      handle = setTimeout(tick, Math.random() * 400);
      // Presence at 1 Hz per co-author: what they edit and where their caret is.
      const presence = setInterval(() => {
        const abs = Y.createAbsolutePositionFromRelativePosition(cursors[k]!, p.doc);
        p.provider.awareness.setLocalState({ editing: 'justification', cursor: abs?.index ?? 0 });
        awarenessUpdates++;
      }, 1_000);
      return () => (clearTimeout(handle), clearInterval(presence));
    });
    await sleep(1_500);

    const lag = new LoopLag();
    lag.start();
    const cpu0 = cpuMs(server.pid);
    const edits0 = edits;
    const aw0 = awarenessUpdates;
    const t0 = performance.now();
    await page.evaluate(startTypingProbe);
    const typed = prose(5, CHARS).replace(/ $/, '.');
    await page.keyboard.type(typed, { delay: BROWSER_KEY_MS });
    const trace = await page.evaluate(stopTypingProbe);
    const seconds = (performance.now() - t0) / 1000;
    const serverCpuPct = ((cpuMs(server.pid) - cpu0) / (seconds * 1000)) * 100;
    const coauthorEdits = edits - edits0;
    const awarenessRate = (awarenessUpdates - aw0) / seconds;
    const loadGenLagP99 = lag.stop();
    const typedIntact = (trace.value ?? '').endsWith(`writer: ${typed}`);

    // Caret stability: type at the very start of the text while the co-authors keep typing below.
    // Nothing is inserted before the caret, so a caret that stays put is at the same index at every keydown.
    await page.keyboard.press('Control+Home');
    await page.evaluate(startTypingProbe);
    const probeText = 'Urgent: '.padEnd(CARET_PROBE_CHARS, '!').slice(0, CARET_PROBE_CHARS);
    await page.keyboard.type(probeText, { delay: BROWSER_KEY_MS });
    const caretTrace = await page.evaluate(stopTypingProbe);
    const moved = caretTrace.keys.slice(1).filter((k, i) => k.caretDown !== caretTrace.keys[i]!.caretAfter).length;

    // Stop, let every edit be acknowledged as durable, then compare every replica with a fresh client's.
    typing = false;
    stops.forEach((s) => s());
    const c0 = performance.now();
    let converged = false;
    let finalLength = 0;
    let checked = 0;
    try {
      await withTimeout(Promise.all(people.map((p) => p.provider.whenAcked())), 20_000, 'co-author acks');
      await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor({ timeout: 20_000 });
      const fresh = await joinDoc(server.url, 'writer', server.tokens.writer!, `draft:${changeId}`);
      try {
        const deadline = performance.now() + 20_000;
        while (!converged && performance.now() < deadline) {
          const reference = fresh.doc.getText('justification').toString();
          const browserText = await page.evaluate(justificationValue);
          converged = browserText === reference && people.every((p) => p.doc.getText('justification').toString() === reference);
          finalLength = reference.length;
          checked = people.length + 2;
          if (!converged) await sleep(200);
        }
      } finally {
        fresh.close();
      }
    } catch (err) {
      log(`convergence check: ${(err as Error).message}`);
    }
    const convergeMs = performance.now() - c0;
    for (const p of people) p.close();
    return {
      coauthors: people.length, coauthorEdits, coauthorRate: coauthorEdits / seconds, awarenessRate, loadGenLagP99, serverCpuPct,
      trace, keys: trace.keys, seconds, browserRate: trace.keys.length / seconds, typedIntact,
      caretProbe: { keys: caretTrace.keys.length, moved, intact: (caretTrace.value ?? '').startsWith(probeText) },
      converged, convergeMs, finalLength, checkedReplicas: checked,
    };
  } finally {
    await context.close();
  }
}

// ------------------------------------------------------------------------------------------- report

function reportBuild(b: Build, loads: LoadResult[]): string {
  const initialGzip = b.initial.reduce((s, f) => s + b.files.get(f)!.gzip, 0);
  const initialRaw = b.initial.reduce((s, f) => s + b.files.get(f)!.raw, 0);
  const requested = new Set(loads.filter((l) => l.cache === 'cold').flatMap((l) => l.jsRequested.map((j) => j.path.replace(/^\//, ''))));
  const cold = loads.filter((l) => l.cache === 'cold');
  const requestedGzip = [...requested].reduce((s, f) => s + (b.files.get(f)?.gzip ?? 0), 0);
  const rows = [...b.files.entries()].sort(([a], [c]) => Number(b.lazy.includes(a)) - Number(b.lazy.includes(c)) || a.localeCompare(c)).map(([file, s]) => [
    `\`${file}\``, b.initial.includes(file) ? 'initial (entry + static imports)' : 'lazy (dynamic import)', kb(s.raw), kb(s.gzip), requested.has(file) ? 'yes' : 'no',
  ]);
  const onWire = (ls: LoadResult[]): number => median(ls.map((l) => l.jsRequested.reduce((s, j) => s + j.transferred, 0)));
  const transferred = onWire(cold);
  const warmTransferred = onWire(loads.filter((l) => l.cache === 'warm'));
  return [
    `### 1. Initial JavaScript of the review page (budget ${BUDGET.initialJsKb} KB gzip)`,
    '',
    `Build: \`vite build\` in ${b.seconds.toFixed(1)} s. Sizes: raw and gzip (zlib level 6) of each emitted chunk.`,
    '',
    table(['chunk', 'kind', 'raw KB', 'gzip KB', 'requested by the review page before interactive (cold)'], rows),
    '',
    `- **Initial JS (entry chunk + its static imports, from the manifest): ${kb(initialGzip)} KB gzip** (${kb(initialRaw)} KB raw) — budget ${BUDGET.initialJsKb} KB: ${initialGzip / 1024 <= BUDGET.initialJsKb ? 'within' : 'OVER'}.`,
    `- In Chromium, JS requested before the review page was interactive (cold loads): ${requested.size} file(s), ${kb(requestedGzip)} KB gzip; bytes on the wire ${kb(transferred)} KB (${transferred < requestedGzip * 1.5 ? 'sent gzipped' : 'sent uncompressed: no `Content-Encoding`'}); warm loads ${kb(warmTransferred)} KB (HTTP cache).`,
  ].join('\n');
}

function reportReview(setup: ReviewSetup, loads: LoadResult[], failures: string[]): string {
  const rows = loads.map((l) => [
    `${l.reviewer} ${l.cache}`, f0(l.fcp), f0(l.items), f0(l.participants), f0(l.approve), `**${f0(l.interactive)}**`,
    `${l.longtasks} / ${f0(l.longtaskMs)}`, f0(l.scriptMs), f0(l.layoutMs), f1(l.heapMb), String(l.dom), l.clickToTally !== undefined ? f0(l.clickToTally) : '',
  ]);
  for (const cache of ['cold', 'warm'] as const) {
    const ls = loads.filter((l) => l.cache === cache);
    const col = (pick: (l: LoadResult) => number | undefined): string => `${f0(median(ls.map((l) => pick(l) ?? NaN)))} / ${f0(max(ls.map((l) => pick(l) ?? NaN)))}`;
    rows.push([
      `**${cache}: median / max**`, col((l) => l.fcp), col((l) => l.items), col((l) => l.participants), col((l) => l.approve), `**${col((l) => l.interactive)}**`,
      col((l) => l.longtaskMs), col((l) => l.scriptMs), col((l) => l.layoutMs), '', '', cache === 'cold' ? col((l) => l.clickToTally) : '',
    ]);
  }
  const all = loads.map((l) => l.interactive);
  return [
    `### 2. Review page interactive: ${setup.items}-item change, ${PARTICIPANTS} participants (budget < ${BUDGET.interactiveMs} ms)`,
    '',
    `Setup (${setup.setupSeconds.toFixed(1)} s): ${setup.items} items (${setup.blastGained} blast-radius rows gained), ${PARTICIPANTS} participants connected to \`review:${setup.changeId}\` with presence (each looks at another item every 3–7 s), ${setup.votes} votes and ${setup.annotations} annotations cast by them as commands; review document ${kb(setup.docBytes)} KB as a Yjs update.`,
    '',
    `Times in ms from navigation start (the page's \`performance.now()\`) to the end of the first frame where each holds (checked in a requestAnimationFrame callback, timed by a message posted from it, so after that frame's style, layout and paint): all ${ITEMS} items rendered; \`Participants\` lists everyone (${PARTICIPANTS} + me); \`Approve\` enabled; **interactive** = all three. Long tasks up to interactive: count / total ms. Script and layout+style: CDP \`Performance.getMetrics\` at interactive; DOM elements at interactive. Approve → tally: click event → the tally's approve count changes in the DOM (MutationObserver).`,
    '',
    table(['run', 'FCP', 'items', 'participants', 'Approve', 'interactive', 'long tasks', 'script', 'layout+style', 'JS heap MB', 'DOM elements', 'Approve → tally'], rows),
    '',
    ...failures.map((f) => `- FAILED ${f}`),
    `- **Interactive: median ${f0(median(all))} ms, max ${f0(max(all))} ms over ${loads.length} loads** (cold median ${f0(median(loads.filter((l) => l.cache === 'cold').map((l) => l.interactive)))} ms) — budget < ${BUDGET.interactiveMs} ms: ${max(all) < BUDGET.interactiveMs ? 'every load within' : median(all) < BUDGET.interactiveMs ? 'median within, not every load' : 'OVER'}.`,
  ].join('\n');
}

function reportTyping(r: TypingResult): string {
  const keys = r.keys.filter((k) => k.painted !== undefined);
  const latency = keys.map((k) => k.painted! - k.down);
  const toFrame = keys.map((k) => k.frame! - k.down);
  const handler = keys.map((k) => k.input! - k.down);
  const frames = r.trace.frames;
  const gaps = frames.slice(1).map((t, i) => t - frames[i]!);
  const lt = r.trace.longtasks;
  const interactions = new Map<number, number>();
  for (const e of r.trace.events) if (e.interactionId) interactions.set(e.interactionId, Math.max(interactions.get(e.interactionId) ?? 0, e.duration));
  const rows: string[][] = [
    ['co-authors typing (real socket.io clients)', `${r.coauthors}: ${f1(r.coauthorRate)} edits/s in all (${f1(r.coauthorRate / r.coauthors)} chars/s each), presence ${f1(r.awarenessRate)} updates/s`],
    ['browser typing', `${r.keys.length} characters in ${r.seconds.toFixed(1)} s (${f1(r.browserRate)} chars/s, Playwright \`keyboard.type\`)`],
    ['**keystroke latency** keydown → frame after the character is in the textarea: p50 / p95 / p99 / max (ms)', `**${f1(q(latency, 50))} / ${f1(q(latency, 95))} / ${f1(q(latency, 99))} / ${f1(max(latency))}**`],
    ['  keydown → input handled (app + Yjs + send): p50 / p95 / max (ms)', `${f1(q(handler, 50))} / ${f1(q(handler, 95))} / ${f1(max(handler))}`],
    ['  keydown → next animation frame: p50 / p95 / max (ms)', `${f1(q(toFrame, 50))} / ${f1(q(toFrame, 95))} / ${f1(max(toFrame))}`],
    ['  keystrokes over 50 ms / 100 ms', `${latency.filter((v) => v > 50).length} / ${latency.filter((v) => v > 100).length} of ${latency.length}`],
    ['Event Timing (keydown to next paint, 8 ms granularity): interactions over 50 ms / worst (ms)', `${[...interactions.values()].filter((d) => d > 50).length} / ${f0(max([...interactions.values()]))}`],
    ['**long tasks > 50 ms** during typing: count / total / longest (ms)', `**${lt.length}** / ${f0(lt.reduce((s, l) => s + l.duration, 0))} / ${f0(max(lt.map((l) => l.duration)))}`],
    ['frames: count / gap p50 / p99 / max (ms)', `${frames.length} / ${f1(q(gaps, 50))} / ${f1(q(gaps, 99))} / ${f1(max(gaps))}`],
    ['frame gaps > 50 ms (≥ 3 frames dropped)', `${gaps.filter((g) => g > 50).length}`],
    ['server CPU while typing (% of one core) / load generator event-loop p99 (ms)', `${f0(r.serverCpuPct)} / ${f1(r.loadGenLagP99)}`],
    ['typed text intact at the end of the text', r.typedIntact ? 'yes' : 'NO'],
    [`caret probe: ${r.caretProbe.keys} keys typed at the start of the text — keydowns that found the caret moved`, `${r.caretProbe.moved} of ${Math.max(0, r.caretProbe.keys - 1)}; typed text intact: ${r.caretProbe.intact ? 'yes' : 'NO'}`],
    ['**converged** (browser textarea = every co-author = a fresh client synced from the server)', `**${r.converged ? 'yes' : 'NO'}** (${r.checkedReplicas} replicas, ${r.finalLength} chars, ${f0(r.convergeMs)} ms after the last edit incl. durable acks)`],
  ];
  return [`### 3. Typing in the draft with ${r.coauthors} co-authors`, '', table(['metric', 'value'], rows)].join('\n');
}

// ------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    log(`watchdog: still running after ${WATCHDOG_MS / 1000} s, giving up`);
    process.exit(2);
  }, WATCHDOG_MS);
  watchdog.unref();
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set ACCORD_CHROMIUM)`);
  const started = performance.now();
  const header = `bench:web, ${new Date().toISOString()}: ${machine()}`;
  log(header);
  const tmp = mkdtempSync(join(tmpdir(), 'accord-bench-web-'));
  let browser: Browser | undefined;
  let stopPresence = (): void => undefined;
  let participants: Person[] = [];
  try {
    log('building the web app (vite build)');
    const b = build(join(tmp, 'dist'));

    const participantNames = Array.from({ length: PARTICIPANTS }, (_, i) => `p${String(i + 1).padStart(2, '0')}`);
    const reviewerNames = Array.from({ length: RUNS }, (_, i) => `web${i + 1}`);
    const coauthorNames = Array.from({ length: COAUTHORS }, (_, i) => `co${String(i + 1).padStart(2, '0')}`);
    const users: [string, string, string?][] = [
      ['root', 'admin'], ['rita', 'reviewer'], ['writer', 'reviewer', PASSWORD],
      ...participantNames.map((n): [string, string] => [n, 'reviewer']),
      ...reviewerNames.map((n): [string, string, string] => [n, 'reviewer', PASSWORD]),
      ...coauthorNames.map((n): [string, string] => [n, 'reviewer']),
    ];
    log(`starting the server with ${users.length} users`);
    const server = await startServer(b.dir, join(tmp, 'data'), users);

    const review = await setupReview(server.url, server.tokens, participantNames);
    participants = review.people;
    stopPresence = review.stop;
    log(`review ready in ${review.setup.setupSeconds.toFixed(1)} s (document ${kb(review.setup.docBytes)} KB)`);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const { loads, failures } = await reviewRuns(browser, server.url, review.setup.changeId, reviewerNames);
    stopPresence();
    for (const p of participants) p.close();
    participants = [];

    let typing: TypingResult | string;
    try {
      typing = await draftTyping(browser, server.url, server, coauthorNames);
      log(`typing done: p95 ${f1(q(typing.keys.filter((k) => k.painted !== undefined).map((k) => k.painted! - k.down), 95))} ms, converged ${typing.converged}`);
    } catch (err) {
      typing = (err as Error).message;
      log(`typing FAILED: ${(err as Error).stack}`);
    }

    const out = [
      '',
      `## ${header}; ${((performance.now() - started) / 1000).toFixed(0)} s in all`,
      '',
      reportBuild(b, loads),
      '',
      reportReview(review.setup, loads, failures),
      '',
      typeof typing === 'string' ? `### 3. Typing in the draft with ${COAUTHORS} co-authors\n\nFAILED: ${typing}` : reportTyping(typing),
      '',
    ].join('\n');
    console.log(out);
    // Timing never fails the bench; a run that could not be measured or a divergence does.
    if (failures.length || typeof typing === 'string' || !typing.converged) process.exitCode = 1;
  } finally {
    stopPresence();
    for (const p of participants) p.close();
    await browser?.close().catch(() => undefined);
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(300);
    rmSync(tmp, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
