/**
 * A tiny history-API router: the current path as state, `navigate()` to move, and same-origin link
 * clicks intercepted so `<a href="/changes/x">` works without a full reload.
 */
export class Router {
  #path = $state(location.pathname);
  #search = $state(location.search);

  get path(): string {
    return this.#path;
  }
  get search(): string {
    return this.#search;
  }

  navigate(to: string, options: { replace?: boolean } = {}): void {
    const url = new URL(to, location.origin);
    if (options.replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    this.#sync();
    window.scrollTo(0, 0);
  }

  /** Starts listening to back/forward and link clicks; returns the stop function. */
  start(): () => void {
    const onPop = () => this.#sync();
    const onClick = (event: MouseEvent) => {
      if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      const anchor = (event.target as Element | null)?.closest?.('a');
      if (!anchor || anchor.target || anchor.hasAttribute('download') || anchor.origin !== location.origin) return;
      if (anchor.pathname.startsWith('/api/')) return;
      event.preventDefault();
      this.navigate(anchor.pathname + anchor.search);
    };
    window.addEventListener('popstate', onPop);
    document.addEventListener('click', onClick);
    return () => {
      window.removeEventListener('popstate', onPop);
      document.removeEventListener('click', onClick);
    };
  }

  #sync(): void {
    this.#path = location.pathname;
    this.#search = location.search;
  }
}

export type Route =
  | { page: 'home' }
  | { page: 'review'; changeId: string }
  | { page: 'new-change' }
  | { page: 'edit'; changeId: string }
  | { page: 'evidence'; changeId: string }
  | { page: 'notes'; name: string }
  | { page: 'sessions' }
  | { page: 'admin' }
  | { page: 'session'; sessionId: string }
  | { page: 'not-found' };

const NAME = '([A-Za-z0-9][A-Za-z0-9._-]{0,127})';

/** Which page a path shows. */
export function matchRoute(path: string): Route {
  if (path === '/' || path === '') return { page: 'home' };
  if (/^\/changes\/new\/?$/.test(path)) return { page: 'new-change' };
  const edit = new RegExp(`^/changes/${NAME}/edit/?$`).exec(path);
  if (edit) return { page: 'edit', changeId: edit[1]! };
  const evidence = new RegExp(`^/changes/${NAME}/evidence/?$`).exec(path);
  if (evidence) return { page: 'evidence', changeId: evidence[1]! };
  const review = new RegExp(`^/changes/${NAME}/?$`).exec(path);
  if (review) return { page: 'review', changeId: review[1]! };
  const notes = new RegExp(`^/notes/${NAME}/?$`).exec(path);
  if (notes) return { page: 'notes', name: notes[1]! };
  if (path === '/notes') return { page: 'notes', name: 'scratchpad' };
  if (/^\/sessions\/?$/.test(path)) return { page: 'sessions' };
  if (/^\/admin\/?$/.test(path)) return { page: 'admin' };
  const session = new RegExp(`^/sessions/${NAME}/?$`).exec(path);
  if (session) return { page: 'session', sessionId: session[1]! };
  return { page: 'not-found' };
}
