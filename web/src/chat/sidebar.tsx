/*
 * The left pane: who you are, the connection state, the search box and the
 * conversation list (most recent first, live), each row with its avatar,
 * presence, last message, time and unread count. While a search is typed, the
 * list shows the chats whose name matches, then the messages (search.tsx).
 */
import type { Conversation } from '@pipit/sdk';
import { useState } from 'preact/hooks';
import { Avatar, toast } from '../shared/ui';
import { messagePreview } from './attachments';
import { errorText, listTime } from './format';
import { useStore } from './hooks';
import { IconBellOff, IconClose, IconCompose, IconSearch } from './icons';
import { Menu } from './menu';
import { MessageResults } from './search';
import type { ChatStore } from './store';

export const SEARCH_ID = 'conv-search';

export function Sidebar(props: {
  activeConv: number | null;
  onNewChat: () => void;
  onSettings: () => void;
  onSecurity: () => void;
  onSignOut: () => void;
}) {
  const store = useStore();
  const [query, setQuery] = useState('');
  const muted = new Set(store.settings?.muted_conversations ?? []);
  const q = query.trim().toLowerCase();
  const convs = store.sortedConvs().filter((c) => !q || matches(store, c, q));

  const signOut = async () => {
    store.forgetLocal();
    try {
      await store.client.logout();
    } catch (err) {
      toast('Signed out on this device', `The server could not be told (${errorText(err)}).`, true);
    }
    props.onSignOut();
  };

  const myName = store.nameOf(store.me.id);
  return (
    <aside class="sidebar" aria-label="Conversations">
      <header class="side-head">
        <Menu
          label="Account"
          buttonClass="side-me"
          align="left"
          testid="account-menu"
          button={<Avatar name={myName} size="sm" />}
          items={[
            { heading: `Signed in as ${store.me.username}` },
            { label: 'Notification settings', onSelect: props.onSettings, testid: 'open-settings' },
            { label: 'Security and sign-in', onSelect: props.onSecurity, testid: 'open-security' },
            { label: 'Sign out', onSelect: () => void signOut(), danger: true, testid: 'sign-out' },
          ]}
        />
        <h1 class="side-title">Chats</h1>
        <ConnectionChip />
        <button class="btn btn-ghost btn-icon" onClick={props.onNewChat} aria-label="New chat" title="New chat" data-testid="new-chat">
          <IconCompose />
        </button>
      </header>
      <div class="side-search">
        <span class="side-search-icon">
          <IconSearch />
        </span>
        <input
          id={SEARCH_ID}
          class="input"
          type="search"
          placeholder="Search chats and messages"
          aria-label="Search chats and messages (Ctrl+K)"
          aria-keyshortcuts="Control+K Meta+K"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape' && query) {
              e.preventDefault();
              setQuery('');
            } else if (e.key === 'Enter' && convs[0]) {
              location.hash = `#/c/${convs[0].id}`;
            }
          }}
        />
        {query ? (
          <button class="side-search-clear" aria-label="Clear search" onClick={() => setQuery('')}>
            <IconClose size={16} />
          </button>
        ) : null}
      </div>
      <nav class="conv-list" aria-label="Conversation list">
        {q && store.listStatus === 'ready' ? (
          <>
            <section aria-label="Chats">
              <h2 class="list-heading">Chats</h2>
              {convs.length > 0 ? (
                <ListBody store={store} convs={convs} query={q} activeConv={props.activeConv} muted={muted} onNewChat={props.onNewChat} />
              ) : (
                <div class="search-note">No chats match “{query.trim()}”.</div>
              )}
            </section>
            <MessageResults store={store} query={query.trim()} />
          </>
        ) : (
          <ListBody store={store} convs={convs} query={q} activeConv={props.activeConv} muted={muted} onNewChat={props.onNewChat} />
        )}
      </nav>
    </aside>
  );
}

function ListBody(props: { store: ChatStore; convs: Conversation[]; query: string; activeConv: number | null; muted: Set<number>; onNewChat: () => void }) {
  const { store } = props;
  if (store.listStatus === 'loading') {
    return (
      <div class="empty">
        <span class="spinner" aria-hidden="true" />
        <span>Loading your chats…</span>
      </div>
    );
  }
  if (store.listStatus === 'error') {
    return (
      <div class="empty" role="alert">
        <p>Could not load your chats. {store.listError}</p>
        <button class="btn" onClick={() => void store.loadList()}>
          Try again
        </button>
      </div>
    );
  }
  if (props.convs.length === 0) {
    return props.query ? (
      <div class="empty">No chats match “{props.query}”.</div>
    ) : (
      <div class="empty">
        <h3>No conversations yet</h3>
        <p class="muted">Start one with anyone on this server.</p>
        <button class="btn btn-primary" onClick={props.onNewChat}>
          Start a chat
        </button>
      </div>
    );
  }
  return (
    <ul role="list">
      {props.convs.map((c) => (
        <li key={c.id}>
          <ConvItem store={store} conv={c} active={c.id === props.activeConv} muted={props.muted.has(c.id)} />
        </li>
      ))}
    </ul>
  );
}

function ConvItem(props: { store: ChatStore; conv: Conversation; active: boolean; muted: boolean }) {
  const { store, conv } = props;
  const title = store.titleOf(conv);
  const online = conv.type === 'direct' && conv.peer ? store.isOnline(conv.peer.id) : false;
  const typing = store.typingIn(conv.id);
  const last = conv.last_message;
  let preview: string;
  if (typing.length > 0) {
    preview = conv.type === 'direct' ? 'typing…' : `${store.nameOf(typing[0]!)} is typing…`;
  } else if (last) {
    const who = last.from === store.me.id ? 'You: ' : conv.type === 'group' ? `${store.nameOf(last.from)}: ` : '';
    preview = who + messagePreview(last);
  } else {
    preview = conv.type === 'group' ? `${conv.member_count} members` : 'No messages yet';
  }
  const time = last ? last.ts : conv.created_at;
  const unread = conv.unread > 0 && !props.active;
  return (
    <a
      href={`#/c/${conv.id}`}
      class={`conv-item${props.active ? ' active' : ''}${unread ? ' has-unread' : ''}`}
      aria-current={props.active ? 'page' : undefined}
      data-testid="conv-item"
      data-conv={conv.id}
    >
      <Avatar name={title} online={online} />
      <div class="conv-body">
        <div class="conv-line">
          <span class="conv-title">{title}</span>
          {props.muted ? (
            <span class="conv-muted" title="Notifications muted" aria-label="muted">
              <IconBellOff />
            </span>
          ) : null}
          <time class="conv-time" dateTime={new Date(time).toISOString()}>
            {listTime(time)}
          </time>
        </div>
        <div class="conv-line">
          <span class={`conv-preview${typing.length > 0 ? ' is-typing' : ''}`} data-testid="conv-preview">
            {preview}
          </span>
          {unread ? (
            <span class="badge" data-testid="unread" aria-label={`${conv.unread} unread`}>
              {conv.unread > 99 ? '99+' : conv.unread}
            </span>
          ) : null}
        </div>
      </div>
    </a>
  );
}

function ConnectionChip() {
  const store = useStore();
  const words: Record<string, string> = { connecting: 'Connecting…', syncing: 'Updating…', offline: 'Offline' };
  const text = words[store.connection];
  if (!text) return <span class="conn-chip conn-ok" data-testid="connection" data-state="ready" />;
  return (
    <span
      class={`conn-chip conn-${store.connection}`}
      role="status"
      data-testid="connection"
      data-state={store.connection}
      title={store.connection === 'offline' ? 'Messages you send wait and go out when you are back online.' : undefined}
    >
      <span class="conn-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function matches(store: ChatStore, c: Conversation, q: string): boolean {
  const fields = [store.titleOf(c), c.peer?.username ?? '', c.description ?? ''];
  return fields.some((f) => f.toLowerCase().includes(q));
}
