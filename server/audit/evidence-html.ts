/**
 * The evidence pack as one self-contained HTML page for an auditor: inline CSS, no executable script,
 * every value HTML-escaped. The pack itself is embedded as inert JSON so `accord audit verify --pack`
 * can verify the page; rendering is deterministic, so the verifier also checks that the visible page
 * is exactly the rendering of the verified pack.
 */
import type { BlastGroups, ChangeItem, GrantSpec } from '../domain/access/model.ts';
import type { Revision, Vote } from '../domain/review/types.ts';
import type { EvidencePack } from './evidence.ts';

/** The renderer's version: verifying a page requires it to be byte for byte this renderer's output. /2 renders accord-evidence/2 packs. */
export const EVIDENCE_HTML_VERSION = 'accord-evidence-html/2';

const CSS = `body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#111;background:#fff}
h1{font-size:1.5rem}h2{border-bottom:2px solid #333;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{border:1px solid #999;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}code{overflow-wrap:anywhere}
pre{background:#f6f6f6;border:1px solid #ccc;padding:.5rem;overflow-x:auto}
pre.native .ln{display:inline-block;width:4ch;margin-right:1ch;text-align:right;color:#555;user-select:none}
.risk{background:#fde2e2;font-weight:700}.stale,.superseded,.context{color:#555}.refused{background:#fff3cd}
@media print{body{margin:0;max-width:none}}`;

function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function json(value: unknown): string {
  return esc(JSON.stringify(value, null, 2) ?? 'null');
}

function row(cells: readonly string[], cls = '', header = false): string {
  const tag = header ? 'th' : 'td';
  return `<tr${cls ? ` class="${cls}"` : ''}>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
}

function table(head: readonly string[], rows: readonly string[], empty: string): string {
  if (rows.length === 0) return `<p>${esc(empty)}</p>`;
  return `<table><thead>${row(head.map(esc), '', true)}</thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

function dl(pairs: readonly (readonly [string, string | undefined])[]): string {
  return `<dl>${pairs.filter(([, v]) => v !== undefined).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

/** A value of unknown shape (annotations, sign-offs): top-level fields as rows, nested values as JSON. */
function generic(value: unknown): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `<pre>${json(value)}</pre>`;
  const inline = (v: unknown): boolean => v === null || ['string', 'number', 'boolean'].includes(typeof v);
  return dl(Object.entries(value).map(([k, v]) => [k, inline(v) ? `<code>${esc(v)}</code>` : `<pre>${json(v)}</pre>`] as const));
}

function grant(g: GrantSpec): string {
  const what = g.role !== undefined ? `role ${g.role}` : (g.privileges ?? []).join(', ');
  return esc(`${g.effect} ${g.principal}: ${what} on ${g.resource}${g.propagate ? ' (propagates)' : ''}${g.expiresAt ? ` until ${g.expiresAt}` : ''}`);
}

function item(i: ChangeItem): string {
  const body = i.op === 'replace' ? `${grant(i.from)} <strong>→</strong> ${grant(i.to)}` : grant(i.grant);
  return row([`<code>${esc(i.id)}</code>`, esc(i.op), body]);
}

function nativeForm(text: string): string {
  const lines = text.split('\n');
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  return `<pre class="native">${lines.map((l, n) => `<span class="ln">${n + 1}</span>${esc(l)}`).join('\n')}</pre>`;
}

/**
 * A revision's blast radius from its groups (revisions that store them): one row per group, each naming
 * its resource set; the sets are listed once below. Exact: the rows are principals × resources × privileges.
 */
function blastGroupsSection(g: BlastGroups): string {
  const groups = g.groups.map((x) => row([
    esc(x.direction), esc(x.principals.join(', ')), `<code>${esc(x.privileges.join(', '))}</code>`, esc(x.common.join(', ')),
    esc(`set R${x.resources + 1} (${x.resourceCount})`), esc(x.rows), esc(x.why), x.highRisk ? 'HIGH RISK' : '',
  ], x.highRisk ? 'risk' : ''));
  const sets = g.resourceSets.map((set, i) => row([esc(`R${i + 1}`), esc(set.length), `<code>${esc(set.join(' '))}</code>`]));
  return `<p>${esc(`${g.rows.gained} rows gained and ${g.rows.lost} lost, in ${g.groups.length} groups (${g.format}): each group's rows are its principals × its resources × its privileges.`)}</p>
${table(['change', 'principals', 'privileges', 'common', 'resources', 'rows', 'why', 'risk'], groups, 'No change in effective access.')}
${g.resourceSets.length ? `<h5>Resource sets</h5>\n${table(['set', 'resources', 'ids'], sets, '')}` : ''}`;
}

function revision(r: Revision, pack: EvidencePack): string {
  const c = r.content;
  const blastRows = [
    ...r.blast.gained.map((b) => ({ ...b, kind: 'gained' })),
    ...r.blast.lost.map((b) => ({ ...b, kind: 'lost' })),
  ].map((b) => row([
    esc(b.kind), esc(b.principal), esc(b.resource), `<code>${esc(b.privilege)}</code>`, esc(b.common.join(', ')),
    b.highRisk ? 'HIGH RISK' : '',
  ], b.highRisk ? 'risk' : ''));
  const votesOn = pack.change.votes.filter((v) => v.revision === r.number).length;
  return `<section class="revision" id="revision-${r.number}"><h3>Revision ${r.number}</h3>
${dl([
    ['Hash (SHA-256)', `<code>${esc(r.hash)}</code>`], ['Submitted', esc(`${r.submittedAt} by ${r.submittedBy}`)],
    ['Title', esc(c.title)], ['Justification', esc(c.justification)], ['Backend', esc(c.backend)],
    ['Ticket', c.ticket === undefined ? undefined : esc(c.ticket)],
    ['Duration', c.durationHours === undefined ? 'permanent' : esc(`${c.durationHours} hours`)],
    ['Environment', c.environment === undefined ? undefined : esc(c.environment.join(', '))],
    ['High risk', r.highRisk ? '<strong>YES: gains a high-risk privilege</strong>' : 'no'], ['Votes cast on it', esc(votesOn)],
  ])}
<h4>Items</h4>
${table(['item', 'op', 'grant'], c.items.map(item), 'No items.')}
<h4>Item hashes</h4>
${table(['item', 'hash'], Object.entries(r.itemHashes).map(([id, h]) => row([`<code>${esc(id)}</code>`, `<code>${esc(h)}</code>`])), 'None.')}
<h4>Native form (${esc(r.rendered.format)})</h4>
${nativeForm(r.rendered.text)}
${r.rendered.warnings.length ? `<p><strong>Render warnings:</strong></p><ul>${r.rendered.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : ''}
${r.rendered.replaces.length ? `<p><strong>Silently replaces:</strong></p>${table(['item', 'existing grant', 'why'], r.rendered.replaces.map((x) => row([esc(x.itemId), esc(x.grantId), esc(x.reason)])), '')}` : ''}
<h4>Blast radius</h4>
${r.blastGroups ? blastGroupsSection(r.blastGroups) : table(['change', 'principal', 'resource', 'privilege', 'common', 'risk'], blastRows, 'No change in effective access.')}
</section>`;
}

/** Per vote: current, stale (cast on an older revision whose item or whole content changed) or superseded. */
function voteState(vote: Vote, index: number, pack: EvidencePack): string {
  const votes = pack.change.votes;
  const later = votes.slice(index + 1).some((v) => v.voter === vote.voter && v.itemId === vote.itemId);
  if (later) return 'superseded';
  const latest = pack.change.revisions.at(-1);
  if (!latest || vote.revision === latest.number) return 'current';
  if (vote.itemId !== undefined && latest.itemHashes[vote.itemId] === vote.itemHash) return 'current';
  return 'stale';
}

function auditRows(pack: EvidencePack): string[] {
  const id = pack.change.id;
  return pack.audit.entries.map((e) => row([
    esc(e.seq), esc(e.at), esc(e.actor), esc(e.action), esc(e.subject === id ? e.subject : `${e.subject} (context)`),
    esc(e.outcome), `<code>${esc(JSON.stringify(e.detail))}</code>`, `<code>${esc(e.hash)}</code>`,
  ], e.outcome === 'refused' ? 'refused' : e.subject === id ? '' : 'context'));
}

/** The self-contained auditor's page for a pack. Deterministic: the same pack gives the same bytes. */
export function renderEvidenceHtml(pack: EvidencePack): string {
  const ch = pack.change;
  const latest = ch.revisions.at(-1);
  const title = latest?.content.title ?? '(no revision)';
  const first = pack.audit.entries[0];
  const embedded = JSON.stringify(pack).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const votes = ch.votes.map((v, i) => {
    const state = voteState(v, i, pack);
    return row([
      esc(v.voter), `<strong>${esc(v.choice)}</strong>`, esc(v.itemId ?? 'whole revision'), esc(v.reason ?? ''),
      esc(`${v.revision}`), `<code>${esc(v.revisionHash.slice(0, 16))}…</code>`, esc(v.castAt), esc(state),
    ], state === 'current' ? '' : state);
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${EVIDENCE_HTML_VERSION}">
<title>Evidence: ${esc(title)} (${esc(ch.id)})</title>
<style>${CSS}</style>
</head>
<body>
<h1>Evidence pack: ${esc(title)}</h1>
<section id="summary"><h2>Summary</h2>
${dl([
    ['Change', `<code>${esc(ch.id)}</code>`], ['Status', `<strong>${esc(ch.status)}</strong>`],
    ['Requested by', esc(ch.requestedBy)], ['Authors', esc(ch.authors.join(', '))], ['Created', esc(ch.createdAt)],
    ['Policy', esc(ch.policy)], ['Revisions', esc(ch.revisions.length)],
    ['Latest revision hash', latest ? `<code>${esc(latest.hash)}</code>` : 'none'],
    ['High risk', latest?.highRisk ? '<strong>YES: the latest revision gains a high-risk privilege</strong>' : 'no'],
    ['Votes', esc(ch.votes.length)], ['Sign-offs', esc(pack.signoffs.length)],
    ['Audit segment', esc(`entries ${first?.seq ?? '?'} to ${pack.audit.checkpoint.seq}`)],
    ['Signed head', esc(`entry ${pack.audit.checkpoint.seq} at ${pack.audit.checkpoint.at}`)],
    ['Server key id', `<code>${esc(pack.audit.keyId)}</code>`],
  ])}
</section>
<section id="revisions"><h2>Revisions</h2>
${ch.revisions.map((r) => revision(r, pack)).join('\n')}
</section>
<section id="votes"><h2>Votes</h2>
<p>Every vote ever cast, in order. A changed vote supersedes the voter's earlier one on the same item; a vote is stale when the item (or, for a whole-revision vote, anything) changed in a later revision.</p>
${table(['voter', 'choice', 'on', 'reason', 'revision', 'revision hash', 'cast at', 'state'], votes, 'No votes.')}
<h3>Recusals</h3>
${table(['reviewer', 'reason', 'at'], ch.recusals.map((r) => row([esc(r.reviewer), esc(r.reason), esc(r.at)])), 'No recusals.')}
</section>
<section id="signoffs"><h2>Sign-offs</h2>
${pack.signoffs.length ? pack.signoffs.map((s, i) => `<h3>Sign-off ${i + 1}</h3>${generic(s)}`).join('\n') : '<p>No sign-offs.</p>'}
</section>
<section id="annotations"><h2>Annotations</h2>
${pack.annotations.length ? pack.annotations.map((a, i) => `<h3>Annotation ${i + 1}</h3>${generic(a)}`).join('\n') : '<p>No annotations.</p>'}
</section>
<section id="audit"><h2>Audit trail</h2>
<p>Entries ${esc(first?.seq ?? '?')} to ${esc(pack.audit.checkpoint.seq)} of the server's hash-chained log. Entries about other subjects are included (marked “context”) because the chain runs through them. Refused commands are marked “refused”.</p>
${table(['seq', 'at', 'actor', 'action', 'subject', 'outcome', 'detail', 'hash'], auditRows(pack), 'No entries.')}
<p>Signed head: entry ${esc(pack.audit.checkpoint.seq)}, hash <code>${esc(pack.audit.checkpoint.hash)}</code>, signed by key <code>${esc(pack.audit.keyId)}</code>, signature <code>${esc(pack.audit.checkpoint.signature)}</code>.</p>
<pre>${esc(pack.audit.publicKeyPem)}</pre>
</section>
<section id="verify"><h2>How to verify</h2>
<p>This page carries its evidence pack as inert JSON. With Accord (no server, no network needed):</p>
<pre>npm run accord -- audit verify --pack THIS-FILE.html --public-key SERVER-PUBLIC-KEY.pem</pre>
<p>The command recomputes every audit entry's hash and the chain, checks the server's Ed25519 signature over the last entry, checks that the content of this pack (revisions, votes, annotations, sign-offs) is the content recorded by its <code>evidence.export</code> entry, that the revisions (and their hashes, recomputed from their content), votes, recusals, status and sign-offs are exactly those the change's audit entries record, that each sign-off's receipt is signed by the server key and its passkey assertion verifies, and that the page is exactly the rendering of that pack. Compare the key id <code>${esc(pack.audit.keyId)}</code> with the one your organisation published; without <code>--public-key</code> the command trusts the key inside the pack. It names the first broken entry, vote or sign-off if anything was changed.</p>
</section>
<script type="application/json" id="evidence">${embedded}</script>
</body>
</html>
`;
}
