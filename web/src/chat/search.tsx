/*
 * Message search, under the chats that match in the sidebar: the server's
 * full-text search (GET /v1/search) over every message the user can see, best
 * match first, 20 at a time with "More results".
 *
 * A query goes out 250 ms after the last keystroke, and an answer to an older
 * query is dropped, so fast typing shows only the newest results. Snippets are
 * the server's pieces, each a text node, the hits inside <mark>: nothing is
 * parsed as HTML. A result opens its chat scrolled to the message (store.target).
 */
import { PipitError, isFileBody, search, type SearchResult, type SnippetPart } from '@pipit/sdk';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Avatar } from '../shared/ui';
import { messagePreview } from './attachments';
import { errorText, listTime } from './format';
import { IconFile } from './icons';
import type { ChatStore } from './store';

const DEBOUNCE_MS = 250;
const PAGE = 20;
const MAX_QUERY_BYTES = 256;

interface SearchState {
  status: 'idle' | 'loading' | 'ready' | 'error';
  results: SearchResult[];
  next: number | null;
  error: string | null;
  loadingMore: boolean;
  moreError: string | null;
}

const IDLE: SearchState = { status: 'idle', results: [], next: null, error: null, loadingMore: false, moreError: null };

/** Runs the search for `query` (debounced), and pages on demand. */
function useMessageSearch(store: ChatStore, query: string) {
  const [state, setState] = useState<SearchState>(IDLE);
  const generation = useRef(0);

  useEffect(() => {
    const gen = ++generation.current;
    if (!query) {
      setState(IDLE);
      return;
    }
    const tooLong = new TextEncoder().encode(query).length > MAX_QUERY_BYTES;
    setState({ ...IDLE, status: tooLong ? 'error' : 'loading', error: tooLong ? 'That is too long to search for.' : null });
    if (tooLong) return;
    const timer = setTimeout(() => {
      search(store.client, { q: query, limit: PAGE }).then(
        (answer) => gen === generation.current && setState({ ...IDLE, status: 'ready', results: answer.results, next: answer.next_offset }),
        (err: unknown) => gen === generation.current && setState({ ...IDLE, status: 'error', error: searchErrorText(err) }),
      );
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [query, store]);

  const more = () => {
    const gen = generation.current;
    if (state.next === null || state.loadingMore) return;
    setState({ ...state, loadingMore: true, moreError: null });
    search(store.client, { q: query, limit: PAGE, offset: state.next }).then(
      (answer) => {
        if (gen !== generation.current) return;
        setState((s) => {
          const seen = new Set(s.results.map((r) => `${r.conv}:${r.seq}`));
          const fresh = answer.results.filter((r) => !seen.has(`${r.conv}:${r.seq}`)); // the index may move between pages
          return { ...s, results: [...s.results, ...fresh], next: answer.next_offset, loadingMore: false };
        });
      },
      (err: unknown) => gen === generation.current && setState((s) => ({ ...s, loadingMore: false, moreError: errorText(err) })),
    );
  };
  return { state, more };
}

function searchErrorText(err: unknown): string {
  if (err instanceof PipitError && err.code === 'bad_request') return 'Search for words, names or numbers.';
  if (err instanceof PipitError && err.code === 'unavailable' && /turned off/.test(err.message)) return 'Message search is turned off on this server.';
  return `Could not search messages. ${errorText(err)}`;
}

/** The "Messages" part of the sidebar while a search is typed. */
export function MessageResults(props: { store: ChatStore; query: string }) {
  const { store, query } = props;
  const { state, more } = useMessageSearch(store, query);
  return (
    <section class="search-section" aria-label="Messages" data-testid="message-results">
      <h2 class="list-heading">Messages</h2>
      {state.status === 'loading' || state.status === 'idle' ? (
        <div class="search-note" role="status">
          <span class="spinner spinner-sm" aria-hidden="true" /> Searching messages…
        </div>
      ) : state.status === 'error' ? (
        <div class="search-note" role="alert">
          {state.error}
        </div>
      ) : state.results.length === 0 ? (
        <div class="search-note" data-testid="no-message-results">
          No messages match “{query}”.
        </div>
      ) : (
        <ul role="list">
          {state.results.map((r) => (
            <li key={`${r.conv}:${r.seq}`}>
              <ResultItem store={store} result={r} />
            </li>
          ))}
        </ul>
      )}
      {state.status === 'ready' && state.next !== null ? (
        <div class="search-more">
          <button type="button" class="btn btn-sm" onClick={more} disabled={state.loadingMore} data-testid="search-more">
            {state.loadingMore ? <span class="spinner spinner-sm" aria-hidden="true" /> : null}
            {state.loadingMore ? 'Loading…' : 'More results'}
          </button>
          {state.moreError ? (
            <span class="error-text" role="alert">
              {state.moreError}
            </span>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

function ResultItem(props: { store: ChatStore; result: SearchResult }) {
  const { store, result: r } = props;
  const conv = store.convs.get(r.conv);
  const title = conv ? store.titleOf(conv) : `Chat ${r.conv}`;
  const who = r.from === store.me.id ? 'You: ' : conv?.type === 'group' ? `${store.nameOf(r.from)}: ` : '';
  return (
    <a
      href={`#/c/${r.conv}`}
      class="conv-item search-hit"
      data-testid="search-result"
      data-conv={r.conv}
      data-seq={r.seq}
      onClick={() => store.showMessage(r.conv, r.seq)}
    >
      <Avatar name={title} />
      <div class="conv-body">
        <div class="conv-line">
          <span class="conv-title">{title}</span>
          <time class="conv-time" dateTime={new Date(r.ts).toISOString()}>
            {listTime(r.ts)}
          </time>
        </div>
        <div class="search-snippet" data-testid="snippet">
          {who ? <span class="search-who">{who}</span> : null}
          {isFileBody(r.body) ? (
            <span class="search-file-icon" aria-hidden="true">
              <IconFile size={14} />
            </span>
          ) : null}
          {r.snippet.length > 0 ? <Snippet parts={r.snippet} /> : messagePreview(r)}
        </div>
      </div>
    </a>
  );
}

/** The server's snippet: plain text pieces, the matching ones marked. */
function Snippet(props: { parts: SnippetPart[] }) {
  return (
    <>
      {props.parts.map((part, i) =>
        part.hit ? (
          <mark key={i} class="hit">
            {part.text}
          </mark>
        ) : (
          part.text
        ),
      )}
    </>
  );
}
