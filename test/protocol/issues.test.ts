/**
 * Validation problems in words (issue 23, defect 3): each names its field and says what to do, instead
 * of the schema library's wording; a message the schema wrote itself is kept. Through the real REST API
 * too: an oversized annotation and an empty principal are refused in words.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { describeIssues } from '../../server/protocol/issues.ts';
import { COMMAND_PAYLOADS, CreateAnnotation } from '../../server/protocol/commands.ts';
import { parseChangeContent } from '../../server/domain/review/content-schema.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { startTestServer } from '../helpers/server.ts';

const LIBRARY = /Too small|Too big|expected string|Invalid input|Unrecognized key|>=|<=/;

function problems(schema: z.ZodType, value: unknown): string[] {
  const r = schema.safeParse(value);
  assert.equal(r.success, false);
  return r.success ? [] : describeIssues(r.error, value);
}

describe('validation problems in words', () => {
  it('says which field, what is wrong and what to do, never the library wording', () => {
    const long = problems(CreateAnnotation, { anchor: { kind: 'item', itemId: 'i1' }, body: 'x'.repeat(10_312) });
    assert.deepEqual(long, ['body: is too long: at most 10,000 characters (this one has 10,312 characters); shorten it']);
    assert.deepEqual(problems(CreateAnnotation, { anchor: { kind: 'item', itemId: 'i1' }, body: '   ' }), ['body: is empty: write something']);
    assert.deepEqual(problems(COMMAND_PAYLOADS['vote:cast'], { changeId: 'ch-1', choice: 'maybe', revisionHash: 'a'.repeat(64) }),
      ['choice: must be one of "approve", "reject", "abstain"']);
    assert.deepEqual(problems(COMMAND_PAYLOADS['session:goto'], { sessionId: 's-1' }), ['index: is missing: give a number']);
    assert.deepEqual(problems(COMMAND_PAYLOADS['session:goto'], { sessionId: 's-1', index: '2' }), ['index: must be a number, not a string']);
    assert.deepEqual(problems(COMMAND_PAYLOADS['change:withdraw'], { changeId: 'ch-1', voter: 'ana' }), ['(body): has a field Accord does not know: "voter"; remove it (check the spelling)']);
    const empty = parseChangeContent({ ...PROXMOX_CONTENT, items: [{ id: 'i1', op: 'add', grant: { principal: '', privileges: ['vm.power'], resource: '/vms/100', propagate: false, effect: 'allow' } }] });
    assert.equal(empty.ok, false);
    if (!empty.ok) {
      assert.deepEqual(empty.problems, ['items.0.grant.principal: is empty: write something']);
      for (const p of empty.problems) assert.doesNotMatch(p, LIBRARY);
    }
  });

  it('keeps a message the schema wrote itself', () => {
    assert.deepEqual(problems(COMMAND_PAYLOADS['change:withdraw'], { changeId: 'ch-1', idempotencyKey: 'short' }),
      ['idempotencyKey: idempotencyKey: 8 to 100 letters, digits, - or _']);
  });

  it('reaches people through the REST API the same way', async () => {
    const server = await startTestServer();
    const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
    await importProxmox(server, await server.user('root', 'admin'));
    const created = await rita<{ change: { id: string } }>('POST', '/changes', PROXMOX_CONTENT);
    const note = await rita<{ error: { code: string; message: string } }>('POST', `/changes/${created.body.change.id}/annotations`, { anchor: { kind: 'item', itemId: 'i1' }, body: 'y'.repeat(10_001) });
    assert.equal(note.status, 400);
    assert.equal(note.body.error.message, 'body: is too long: at most 10,000 characters (this one has 10,001 characters); shorten it');
    const draft = await rita<{ error: { message: string } }>('PUT', `/changes/${created.body.change.id}/draft`, { ...PROXMOX_CONTENT, title: '' });
    assert.equal(draft.status, 400);
    assert.doesNotMatch(draft.body.error.message, LIBRARY);
    assert.match(draft.body.error.message, /^title: /);
  });
});
