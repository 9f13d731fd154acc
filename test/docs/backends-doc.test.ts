import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fidelityMarkdown } from '../../server/backends/fidelity-table.ts';

test('docs/backends.md carries each backend\'s fidelity table exactly as the code maps privileges', () => {
  const doc = readFileSync('docs/backends.md', 'utf8');
  const generated = fidelityMarkdown();
  assert.ok(doc.endsWith(generated), 'regenerate the tables: node -e "…fidelityMarkdown()" (see server/backends/fidelity-table.ts)');
  for (const id of ['proxmox', 'vsphere', 'libvirt', 'xapi']) assert.match(doc, new RegExp(`\\(\`${id}\`\\)`));
});
