/*
 * In-app notifications: a push that reaches a user with pipit open arrives as a
 * `notification` event and shows here as a card (the store already reported it
 * delivered). Opening it reports `opened`, following its link `clicked`. Links
 * are shown only when http(s): a push's url is someone else's input.
 */
import { useEffect } from 'preact/hooks';
import { go, useStore } from './hooks';
import { IconClose } from './icons';
import type { ChatStore, InAppNotification } from './store';

const SHOWN_MS = 10_000;
const SEEN_KEY = 'pipit.seenCategories';

/** Categories of the notifications this browser has shown, for the settings list. */
export function seenCategories(): string[] {
  try {
    const list = JSON.parse(localStorage.getItem(SEEN_KEY) ?? '[]') as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function rememberCategory(category: unknown): void {
  if (typeof category !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(category)) return;
  const list = seenCategories();
  if (!list.includes(category)) localStorage.setItem(SEEN_KEY, JSON.stringify([...list, category].slice(-50)));
}

function safeUrl(url: unknown): string | null {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url, location.origin);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

export function NotificationToasts() {
  const store = useStore();
  if (store.notifications.length === 0) return null;
  return (
    <div class="notif-stack" aria-live="polite" role="status">
      {store.notifications.map((n) => (
        <NotificationCard key={n.key} store={store} n={n} />
      ))}
    </div>
  );
}

function NotificationCard(props: { store: ChatStore; n: InAppNotification }) {
  const { store, n } = props;
  const ev = n.event;
  const url = safeUrl(ev.url);
  const conv = typeof ev.data?.conv === 'number' ? ev.data.conv : null;

  useEffect(() => {
    rememberCategory(ev.category);
    const timer = setTimeout(() => store.dismissNotification(n.key), SHOWN_MS);
    return () => clearTimeout(timer);
  }, []);

  const open = () => {
    store.client.pushEvent(ev.push, url ? 'clicked' : 'opened').catch(() => undefined);
    store.dismissNotification(n.key);
    if (url) window.open(url, '_blank', 'noopener,noreferrer');
    else if (conv !== null) go(`#/c/${conv}`);
  };

  return (
    <div class="toast notif-card" data-testid="notification">
      <button type="button" class="notif-main" onClick={open}>
        <span class="toast-title" data-testid="notification-title">
          {ev.title}
        </span>
        {ev.body ? (
          <span class="muted notif-body" data-testid="notification-body">
            {ev.body}
          </span>
        ) : null}
        {url ? <span class="notif-link">{new URL(url).host} ↗</span> : null}
      </button>
      <button type="button" class="btn btn-ghost btn-icon btn-sm" aria-label="Dismiss" onClick={() => store.dismissNotification(n.key)}>
        <IconClose size={16} />
      </button>
    </div>
  );
}
