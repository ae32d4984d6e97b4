/*
 * Starting a chat: a direct one with one person (the existing one if there is
 * one: the server keeps one per pair), or a group with a name and members.
 * People are found by search where the server has it, else by exact username.
 */
import { PipitError } from '@pipit/sdk';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Avatar, ErrorText, FormActions, Modal } from '../shared/ui';
import { errorText } from './format';
import { go, useStore } from './hooks';
import { IconClose } from './icons';
import type { ChatStore, UserInfo } from './store';
import { searchUnsupported, searchUsers } from './users';

export function NewChatModal(props: { onClose: () => void }) {
  const store = useStore();
  const [tab, setTab] = useState<'direct' | 'group'>('direct');
  return (
    <Modal title="New chat" onClose={props.onClose}>
      <div class="segmented" role="tablist" aria-label="Kind of chat">
        <button
          type="button"
          role="tab"
          aria-selected={tab === 'direct'}
          class={tab === 'direct' ? 'active' : ''}
          onClick={() => setTab('direct')}
          data-testid="tab-direct"
        >
          Direct message
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={tab === 'group'}
          class={tab === 'group' ? 'active' : ''}
          onClick={() => setTab('group')}
          data-testid="tab-group"
        >
          Group
        </button>
      </div>
      {tab === 'direct' ? <DirectForm store={store} onClose={props.onClose} /> : <GroupForm store={store} onClose={props.onClose} />}
    </Modal>
  );
}

/** Search as the user types, debounced; null results: the server has no search. */
function useUserSearch(store: ChatStore, query: string): { results: UserInfo[] | null; error: string | null } {
  const [results, setResults] = useState<UserInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const q = query.trim().replace(/^@/, '');
    if (!q || searchUnsupported()) {
      setResults(null);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      searchUsers(store.client, q).then(
        (list) => {
          if (!live) return;
          list?.forEach((u) => store.learnUser(u));
          setResults(list ? list.filter((u) => u.id !== store.me.id) : null);
          setError(null);
        },
        (err: unknown) => live && setError(errorText(err)),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [query]);
  return { results, error };
}

function DirectForm(props: { store: ChatStore; onClose: () => void }) {
  const { store } = props;
  const [query, setQuery] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { results, error: searchError } = useUserSearch(store, query);

  const start = async (peer: string) => {
    const username = peer.trim().replace(/^@/, '');
    if (!username || busy) return;
    if (username.toLowerCase() === store.me.username.toLowerCase()) {
      setError('That is you. Pick someone else.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const conv = await store.client.createDirect(username);
      store.adopt(conv);
      props.onClose();
      go(`#/c/${conv.id}`);
    } catch (err) {
      setError(err instanceof PipitError && err.code === 'not_found' ? `No user named “${username}” on this server.` : errorText(err));
      setBusy(false);
    }
  };

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void start(results && results.length === 1 ? results[0]!.username : query);
      }}
    >
      <label class="field">
        <span>Who do you want to write to?</span>
        <input
          class="input"
          autoFocus
          autocapitalize="none"
          spellcheck={false}
          placeholder={searchUnsupported() ? 'Exact username' : 'Name or username'}
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
          data-testid="direct-user"
        />
      </label>
      {searchUnsupported() ? <p class="faint">Type their exact username.</p> : null}
      <UserResults results={results} onPick={(u) => void start(u.username)} />
      <ErrorText error={error ?? searchError} />
      <FormActions onCancel={props.onClose} label="Start chat" disabled={busy || !query.trim()} testid="start-direct" />
    </form>
  );
}

function UserResults(props: { results: UserInfo[] | null; onPick: (u: UserInfo) => void }) {
  if (props.results === null) return null;
  if (props.results.length === 0) return <p class="faint">Nobody found.</p>;
  return (
    <ul class="user-results" role="list">
      {props.results.map((u) => (
        <li key={u.id}>
          <button type="button" class="user-result" onClick={() => props.onPick(u)}>
            <Avatar name={u.display_name || u.username} size="sm" />
            <span class="member-name">
              <span class="member-title">{u.display_name || u.username}</span>
              <span class="faint">@{u.username}</span>
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}

function GroupForm(props: { store: ChatStore; onClose: () => void }) {
  const { store } = props;
  const [title, setTitle] = useState('');
  const [members, setMembers] = useState<string[]>([]);
  const [query, setQuery] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { results } = useUserSearch(store, query);
  const input = useRef<HTMLInputElement>(null);

  const addMember = (raw: string) => {
    const name = raw.trim().replace(/^@/, '').replace(/,$/, '');
    if (!name) return;
    if (name.toLowerCase() === store.me.username.toLowerCase()) {
      setError('You are in the group already, as its owner.');
    } else if (!members.some((m) => m.toLowerCase() === name.toLowerCase())) {
      setMembers([...members, name]);
      setError(null);
    }
    setQuery('');
    input.current?.focus();
  };

  const create = async (e: Event) => {
    e.preventDefault();
    const all = query.trim() ? [...members, query.trim().replace(/^@/, '')] : members;
    if (!title.trim() || busy) return;
    setBusy(true);
    setError(null);
    try {
      const conv = await store.client.createGroup({ title: title.trim(), members: all });
      store.adopt(conv);
      props.onClose();
      go(`#/c/${conv.id}`);
    } catch (err) {
      setError(err instanceof PipitError && err.code === 'not_found' ? 'One of those usernames does not exist. Check the names and try again.' : errorText(err));
      setBusy(false);
    }
  };

  return (
    <form onSubmit={create}>
      <label class="field">
        <span>Group name</span>
        <input
          class="input"
          autoFocus
          required
          maxLength={200}
          placeholder="Weekend trip"
          value={title}
          onInput={(e) => setTitle(e.currentTarget.value)}
          data-testid="group-title-input"
        />
      </label>
      <div class="field">
        <label for="group-member-input">
          <span class="field-label">Members</span>
        </label>
        <div class="chips-input" onClick={() => input.current?.focus()}>
          {members.map((m) => (
            <span key={m} class="chip">
              @{m}
              <button type="button" class="chip-x" aria-label={`Remove ${m}`} onClick={() => setMembers(members.filter((x) => x !== m))}>
                <IconClose size={12} />
              </button>
            </span>
          ))}
          <input
            ref={input}
            id="group-member-input"
            class="chips-field"
            autocapitalize="none"
            spellcheck={false}
            placeholder={members.length ? 'Add another' : 'Usernames; Enter after each'}
            value={query}
            onInput={(e) => {
              const v = e.currentTarget.value;
              if (/[,\s]$/.test(v)) addMember(v);
              else setQuery(v);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && query.trim()) {
                e.preventDefault();
                addMember(query);
              } else if (e.key === 'Backspace' && !query && members.length) {
                setMembers(members.slice(0, -1));
              }
            }}
            data-testid="group-member-input"
          />
        </div>
      </div>
      <UserResults results={results} onPick={(u) => addMember(u.username)} />
      <ErrorText error={error} />
      <FormActions onCancel={props.onClose} label="Create group" disabled={busy || !title.trim()} testid="create-group" />
    </form>
  );
}
