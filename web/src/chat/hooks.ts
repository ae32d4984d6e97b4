/*
 * Small hooks the chat views share: the store's version (re-render on change),
 * the hash route, and the media query that switches the phone layout.
 */
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import type { ChatStore } from './store';

export const StoreContext = createContext<ChatStore | null>(null);

/** The store, re-rendering the caller whenever it changes. */
export function useStore(): ChatStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useStore outside <StoreContext.Provider>');
  const [, setVersion] = useState(store.version);
  useEffect(() => store.subscribe(() => setVersion(store.version)), [store]);
  return store;
}

/**
 * Routes are hashes, so pipitd needs no fallback for deep links:
 * "#/" the list, "#/c/12" a conversation, "#/c/12/details" its details.
 */
export interface Route {
  conv: number | null;
  details: boolean;
}

export function parseRoute(hash: string): Route {
  const m = /^#\/c\/(\d+)(\/details)?$/.exec(hash);
  return m ? { conv: Number(m[1]), details: m[2] !== undefined } : { conv: null, details: false };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function go(hash: string): void {
  if (location.hash !== hash) location.hash = hash;
}

/** True at phone widths, where one pane shows at a time. */
export function usePhone(): boolean {
  const query = '(max-width: 720px)';
  const [phone, setPhone] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const mql = matchMedia(query);
    const onChange = () => setPhone(mql.matches);
    mql.addEventListener('change', onChange);
    return () => mql.removeEventListener('change', onChange);
  }, []);
  return phone;
}
