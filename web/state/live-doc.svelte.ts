import { createSubscriber } from 'svelte/reactivity';
import type { SocketProvider } from '../lib/socket-provider.ts';

/**
 * Reactive reads of a live document, for the state classes that wrap one: call the returned function
 * inside a getter and the getter re-runs when that part changes.
 */
export function liveDocSubscribers(provider: () => SocketProvider) {
  return {
    /** Any change to the document's content. */
    doc: createSubscriber((update) => {
      const doc = provider().doc;
      doc.on('update', update);
      return () => doc.off('update', update);
    }),
    /** Connection status, access level and pending acks. */
    provider: createSubscriber((update) => provider().subscribe(update)),
    /** Who is here and what they look at. */
    presence: createSubscriber((update) => {
      const awareness = provider().awareness;
      awareness.on('change', update);
      return () => awareness.off('change', update);
    }),
  };
}
