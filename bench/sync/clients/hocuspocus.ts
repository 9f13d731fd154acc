/** @hocuspocus/provider 4.8.0, one WebSocket (`ws`) per client, token in the auth message. */
import * as Y from 'yjs';
import WebSocket from 'ws';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { deferred, type BenchClient, type ClientAdapter } from './types.ts';

export function hocuspocusAdapter(url: string): ClientAdapter {
  const wsUrl = url.replace(/^http/, 'ws');
  return {
    connect(room: string, token: string): BenchClient {
      const doc = new Y.Doc();
      const websocket = new HocuspocusProviderWebsocket({ url: wsUrl, WebSocketPolyfill: WebSocket });
      const provider = new HocuspocusProvider({ websocketProvider: websocket, name: room, document: doc, token });
      provider.attach();
      const synced = deferred();
      provider.on('synced', () => synced.resolve());
      return {
        doc,
        awareness: provider.awareness!,
        synced: synced.promise,
        isSynced: () => provider.synced && websocket.status === 'connected',
        markEdit: () => {},
        ackedEdits: () => null,
        close: () => {
          provider.destroy();
          websocket.destroy();
          doc.destroy();
        },
      };
    },
  };
}
