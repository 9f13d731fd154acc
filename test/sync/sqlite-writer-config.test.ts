import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { loadConfig } from '../../server/config.ts';
import { startTestServer } from '../helpers/server.ts';

test('ACCORD_SQLITE_WRITER picks where commits run; auto uses the thread only with more than one core', async () => {
  assert.equal(loadConfig([], {}).sqliteWriter, 'auto');
  assert.equal(loadConfig([], { ACCORD_SQLITE_WRITER: 'inline' }).sqliteWriter, 'inline');
  assert.throws(() => loadConfig([], { ACCORD_SQLITE_WRITER: 'sometimes' }), /sqliteWriter/);
  for (const [setting, expected] of [['thread', 'thread'], ['inline', 'inline'], ['auto', availableParallelism() > 1 ? 'thread' : 'inline']] as const) {
    const server = await startTestServer({ sqliteWriter: setting });
    assert.equal(server.app.sqliteWriter, expected, setting);
  }
});
