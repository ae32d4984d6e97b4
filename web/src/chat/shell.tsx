/*
 * The signed-in layout. Desktop: the list, the conversation, and the details
 * panel side by side. Phone (≤ 720 px): one pane at a time, chosen by the route,
 * with back buttons. Global keys: Ctrl/Cmd+K focuses the search, Escape closes
 * the details panel (modals and menus close themselves first).
 */
import { useEffect, useState } from 'preact/hooks';
import { ConversationView } from './conversation';
import { DetailsPanel } from './details';
import { go, usePhone, useRoute, useStore } from './hooks';
import { IconChat } from './icons';
import { NewChatModal } from './new-chat';
import { NotificationToasts } from './notifications';
import { refreshPushToken } from './push';
import { SecurityModal } from './security';
import { SettingsModal } from './settings';
import { Sidebar, SEARCH_ID } from './sidebar';

export type ModalName = 'new' | 'settings' | 'security' | null;

export function Shell(props: { onSignOut: () => void }) {
  const store = useStore();
  const route = useRoute();
  const phone = usePhone();
  const [modal, setModal] = useState<ModalName>(null);

  useEffect(() => void refreshPushToken(store.client.token), [store]);

  // Unread count in the tab title, so a background tab still says something came.
  const unread = store.totalUnread();
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) pipit` : 'pipit';
    return () => void (document.title = 'pipit');
  }, [unread]);

  // A conversation we are no longer in (left, removed, bad link) goes back to the list.
  const convKnown = route.conv !== null && store.convs.has(route.conv);
  useEffect(() => {
    if (route.conv !== null && !convKnown && store.gone.has(route.conv)) {
      go('#/');
    } else if (route.conv !== null && !convKnown && store.listStatus === 'ready') {
      void store.fetchConv(route.conv).then(() => {
        if (!store.convs.has(route.conv!)) go('#/');
      });
    }
  }, [route.conv, convKnown, store.listStatus]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        if (phone && route.conv !== null) go('#/');
        setTimeout(() => document.getElementById(SEARCH_ID)?.focus(), 50); // after the list pane shows
      } else if (e.key === 'Escape' && !e.defaultPrevented && !document.querySelector('.modal-backdrop')) {
        if (route.details && route.conv !== null) go(`#/c/${route.conv}`);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [phone, route.conv, route.details]);

  const pane = phone ? (route.conv === null ? 'list' : route.details ? 'details' : 'conv') : 'all';
  return (
    <div class={`chat-app pane-${pane}`}>
      <Sidebar
        activeConv={route.conv}
        onNewChat={() => setModal('new')}
        onSettings={() => setModal('settings')}
        onSecurity={() => setModal('security')}
        onSignOut={props.onSignOut}
      />
      <main class="chat-main">
        {route.conv !== null && convKnown ? (
          <ConversationView key={route.conv} convId={route.conv} phone={phone} detailsOpen={route.details} />
        ) : (
          <div class="empty chat-main-empty">
            <span class="empty-icon">
              <IconChat size={44} />
            </span>
            <h2>{route.conv !== null ? 'Opening…' : 'Your messages'}</h2>
            <p class="muted">Pick a conversation on the left, or start a new one.</p>
            <button class="btn btn-primary" onClick={() => setModal('new')}>
              New chat
            </button>
          </div>
        )}
      </main>
      {route.details && route.conv !== null && convKnown ? <DetailsPanel key={route.conv} convId={route.conv} /> : null}
      <NotificationToasts />
      {modal === 'new' ? <NewChatModal onClose={() => setModal(null)} /> : null}
      {modal === 'settings' ? <SettingsModal onClose={() => setModal(null)} /> : null}
      {modal === 'security' ? <SecurityModal onClose={() => setModal(null)} /> : null}
    </div>
  );
}
