/*
 * What every list in the console shows around its rows: an error with "Try
 * again", a spinner until the first rows, an empty state when there are none,
 * "Load more" under a paged one; and the table most of them use, which turns
 * into one card per row on a phone (admin.css).
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { errorText } from './api';
import type { Async } from './hooks';
import { ErrorBox, Loading } from './widgets';

/** A list being fetched: `items` is null until the first answer (usePaged starts with []). */
export interface ListSource<T> {
  items: T[] | null;
  loading: boolean;
  error: string | null;
  reload: () => void;
}

/** A useAsync of an array, as a list. */
export function asList<T>(a: Async<T[]>): ListSource<T> {
  return { ...a, items: a.data };
}

/**
 * The rows (drawn by `children`) once there are some. An error shows above
 * rows still on screen, so a failed refresh does not blank the page.
 */
export function ListState<T>(props: {
  list: ListSource<T>;
  empty: ComponentChildren;
  /** Loads the next page, when there is one. */
  more?: (() => Promise<void>) | null | undefined;
  children: (items: T[]) => ComponentChildren;
}) {
  const { items, loading, error, reload } = props.list;
  const rows = items ?? [];
  let body: ComponentChildren = null; // with an error and no rows, the error box says it all
  if (rows.length > 0) body = props.children(rows);
  else if (!error) body = loading || items === null ? <Loading /> : props.empty;
  return (
    <>
      {error ? <ErrorBox message={error} onRetry={reload} /> : null}
      {body}
      {rows.length > 0 && props.more ? <LoadMore onLoad={props.more} /> : null}
    </>
  );
}

export type Column = string | { label: string; num?: boolean; hidden?: boolean };

/** A table on a card; a `hidden` column's header is for screen readers only (the actions). */
export function DataTable(props: { testid: string; columns: Column[]; children: ComponentChildren }) {
  return (
    <div class="card table-card">
      <table class="table" data-testid={props.testid}>
        <thead>
          <tr>
            {props.columns.map((c) => {
              const col = typeof c === 'string' ? { label: c } : c;
              return (
                <th key={col.label} scope="col" class={col.num ? 'num' : undefined}>
                  {col.hidden ? <span class="sr-only">{col.label}</span> : col.label}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** "Load more" under a paged table, with its own busy and error state. */
function LoadMore(props: { onLoad: () => Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onLoad();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="load-more">
      {error ? <span class="error-text">{error}</span> : null}
      <button type="button" class="btn" onClick={load} disabled={busy}>
        {busy ? 'Loading…' : 'Load more'}
      </button>
    </div>
  );
}
