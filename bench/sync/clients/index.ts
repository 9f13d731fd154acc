import type { ServerName } from '../common.ts';
import { accordAdapter } from './accord.ts';
import { hocuspocusAdapter } from './hocuspocus.ts';
import type { ClientAdapter } from './types.ts';
import { ywebsocketAdapter } from './ywebsocket.ts';

export function adapterFor(server: ServerName, url: string): ClientAdapter {
  switch (server) {
    case 'accord':
      return accordAdapter(url);
    case 'ywebsocket':
      return ywebsocketAdapter(url);
    case 'hocuspocus':
      return hocuspocusAdapter(url);
  }
}
