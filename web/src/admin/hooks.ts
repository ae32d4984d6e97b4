/*
 * Small hooks the console's screens share: the hash route, a request's
 * loading/error/data state, a form's submit, a debounced value for search
 * boxes, and focus on open.
 */
import type { RefObject } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from './api';

/** The hash route as path parts: "#/push/12" → ["push", "12"]. */
export function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const onHash = () => setParts(read());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return parts;
}

export function go(path: string): void {
  location.hash = `#/${path}`;
}

export interface Async<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` now and whenever `deps` change; an answer that arrives after a
 * newer request started is dropped, so a fast typist never sees stale results.
 */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => mine === generation.current && setState({ data, error: null, loading: false }),
      (err) => mine === generation.current && setState((s) => ({ ...s, error: errorText(err), loading: false })),
    );
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

export interface Paged<T> {
  items: T[];
  next: number | null;
  loading: boolean;
  error: string | null;
  reload: () => void;
  loadMore: () => Promise<void>;
  /** Replaces one row in place (after a PATCH), without a reload. */
  update: (match: (item: T) => boolean, item: T | null) => void;
}

/**
 * A cursor-paged list (`after` / `next`) that restarts when `key` (the search)
 * changes. Rows stay on screen while a new search loads, so the table does not jump.
 */
export function usePaged<T>(
  load: (after: number | null) => Promise<{ items: T[]; next: number | null }>,
  key: string,
): Paged<T> {
  const [state, setState] = useState<{ items: T[]; next: number | null; loading: boolean; error: string | null }>({
    items: [],
    next: null,
    loading: true,
    error: null,
  });
  const generation = useRef(0);
  const reload = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    load(null).then(
      (page) => mine === generation.current && setState({ ...page, loading: false, error: null }),
      (err) => mine === generation.current && setState((s) => ({ ...s, loading: false, error: errorText(err) })),
    );
  }, [key]);
  useEffect(reload, [reload]);
  return {
    ...state,
    reload,
    loadMore: async () => {
      const mine = generation.current;
      const page = await load(state.next);
      if (mine === generation.current) {
        setState((s) => ({ ...s, items: [...s.items, ...page.items], next: page.next }));
      }
    },
    update: (match, item) =>
      setState((s) => ({ ...s, items: s.items.flatMap((x) => (match(x) ? (item === null ? [] : [item]) : [x])) })),
  };
}

export function useDebounced<T>(value: T, ms = 250): T {
  const [out, setOut] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setOut(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return out;
}

export interface Submit {
  busy: boolean;
  error: string | null;
  submit: (e?: Event) => Promise<void>;
}

/**
 * A form's submit: busy while `action` runs, and its error in words when it
 * throws, with the form left open to fix and retry. After a success busy stays
 * on: the form is about to close or move on, and must not send twice meanwhile.
 */
export function useSubmit(action: () => Promise<void>): Submit {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e?: Event) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

/**
 * Focuses the element when the component mounts (a drawer, the sign-in form),
 * and gives focus back to whatever had it (the button that opened it) when it
 * unmounts, so keyboard users do not land at the top of the page. Modals do
 * this themselves (shared/ui.tsx).
 */
export function useFocusOnMount<T extends HTMLElement>(): RefObject<T> {
  const ref = useRef<T>(null);
  useEffect(() => {
    const before = document.activeElement;
    ref.current?.focus();
    return () => {
      if (before instanceof HTMLElement && before.isConnected) before.focus();
    };
  }, []);
  return ref;
}
