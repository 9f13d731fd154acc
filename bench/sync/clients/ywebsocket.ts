/** y-websocket 3.1.0 WebsocketProvider on `ws` (disableBc, token as URL parameter). */
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { deferred, type BenchClient, type ClientAdapter } from './types.ts';

export function ywebsocketAdapter(url: string): ClientAdapter {
  const wsUrl = url.replace(/^http/, 'ws');
  return {
    connect(room: string, token: string): BenchClient {
      const doc = new Y.Doc();
      const provider = new WebsocketProvider(wsUrl, room, doc, {
        params: { token },
        disableBc: true,
        WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      });
      const synced = deferred();
      const onSync = (isSynced: boolean): void => {
        if (isSynced) synced.resolve();
      };
      provider.on('sync', onSync);
      return {
        doc,
        awareness: provider.awareness,
        synced: synced.promise,
        isSynced: () => provider.synced && provider.wsconnected,
        markEdit: () => {},
        ackedEdits: () => null,
        close: () => {
          provider.destroy();
          doc.destroy();
        },
      };
    },
  };
}
