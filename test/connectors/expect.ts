import assert from 'node:assert/strict';
import { ConnectorError } from '../../server/connectors/types.ts';

/** Awaits `p` and asserts it failed with a ConnectorError of this kind and transience (and message); returns it. */
export async function rejectsWith(p: Promise<unknown>, kind: string, transient: boolean, message?: RegExp): Promise<ConnectorError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ConnectorError, `expected a ConnectorError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    assert.equal(err.transient, transient, err.message);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected a ConnectorError of kind ${kind}`);
}
