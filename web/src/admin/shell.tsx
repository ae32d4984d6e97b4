/*
 * The console's frame: a sidebar on a desktop, a top bar and a bottom tab bar on
 * a phone, and the screen the hash route names (#/users, #/push/12, ...).
 */
import { useEffect } from 'preact/hooks';
import type { Session } from '../shared/session';
import { Avatar } from '../shared/ui';
import { AssistantPage } from './assistant';
import { Audit } from './audit';
import { BeforeSendPage } from './before-send';
import { Bots } from './bots';
import { Dashboard } from './dashboard';
import { useRoute } from './hooks';
import { Icon, type IconName } from './icons';
import { Keys } from './keys';
import { Conversations } from './conversations';
import { PushCompose } from './push-compose';
import { PushDetail } from './push-detail';
import { PushList } from './push-list';
import { Settings } from './settings';
import { Users } from './users';
import { WebhookDetail } from './webhook-detail';
import { Webhooks } from './webhooks';
import { Brand } from './widgets';

// `short` is for the phone's tab bar, where nine labels share 390 px. A section
// with `under` is left off it (reached from that tab's page), which it lights up.
const SECTIONS: { path: string; label: string; short: string; icon: IconName; under?: string }[] = [
  { path: '', label: 'Dashboard', short: 'Home', icon: 'dashboard' },
  { path: 'users', label: 'Users', short: 'Users', icon: 'users' },
  { path: 'conversations', label: 'Conversations', short: 'Chats', icon: 'chats' },
  { path: 'keys', label: 'API keys', short: 'Keys', icon: 'key' },
  { path: 'webhooks', label: 'Webhooks', short: 'Hooks', icon: 'webhook' },
  { path: 'bots', label: 'Bots', short: 'Bots', icon: 'bot' },
  { path: 'assistant', label: 'AI assistant', short: 'Assistant', icon: 'sparkle', under: 'bots' },
  { path: 'push', label: 'Push', short: 'Push', icon: 'bell' },
  { path: 'audit', label: 'Audit log', short: 'Audit', icon: 'shield' },
  { path: 'settings', label: 'Settings', short: 'Settings', icon: 'sliders' },
];

function Screen(props: { route: string[]; session: Session }) {
  const [section, id] = props.route;
  switch (section) {
    case undefined:
      return <Dashboard />;
    case 'users':
      return <Users self={props.session.userId} />;
    case 'conversations':
      return <Conversations />;
    case 'keys':
      return <Keys />;
    case 'webhooks':
      if (id === 'before-send') return <BeforeSendPage />;
      // #/webhooks/12/bot: a bot's own webhook, reached from the Bots page.
      if (id !== undefined && /^\d+$/.test(id)) return <WebhookDetail id={Number(id)} ofBot={props.route[2] === 'bot'} />;
      return <Webhooks />;
    case 'bots':
      return <Bots />;
    case 'assistant':
      return <AssistantPage />;
    case 'push':
      if (id === 'new') return <PushCompose />;
      if (id !== undefined && /^\d+$/.test(id)) return <PushDetail id={Number(id)} />;
      return <PushList />;
    case 'audit':
      return <Audit />;
    case 'settings':
      return <Settings />;
    default:
      return (
        <div class="page">
          <div class="empty">
            <strong class="empty-title">No such page</strong>
            <a href="#/">Back to the dashboard</a>
          </div>
        </div>
      );
  }
}

function NavLinks(props: { current: string; class: string; short?: boolean }) {
  // The tab bar lights up the tab a left-off section is reached from.
  const current = props.short ? (SECTIONS.find((s) => s.path === props.current)?.under ?? props.current) : props.current;
  return (
    <nav class={props.class} aria-label="Sections">
      {SECTIONS.filter((s) => !props.short || s.under === undefined).map((s) => (
        <a
          key={s.path}
          href={`#/${s.path}`}
          class="nav-link"
          aria-current={current === s.path ? 'page' : undefined}
        >
          <Icon name={s.icon} size={19} />
          <span>{props.short ? s.short : s.label}</span>
        </a>
      ))}
    </nav>
  );
}

export function Shell(props: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  // A bot's own webhook (#/webhooks/12/bot) belongs to the Bots section.
  const current = route[0] === 'webhooks' && route[2] === 'bot' ? 'bots' : (route[0] ?? '');
  const section = SECTIONS.find((s) => s.path === current);
  useEffect(() => {
    document.title = section ? `${section.label} · pipit admin` : 'pipit admin';
  }, [section]);
  return (
    <div class="admin">
      <aside class="sidebar">
        <Brand href="#/" class="side-brand" />
        <NavLinks current={current} class="side-nav" />
        <div class="side-foot">
          <a class="nav-link" href="/">
            <Icon name="chat" size={19} />
            <span>Open chat app</span>
          </a>
          <div class="who">
            <Avatar name={props.session.username} size="sm" />
            <div class="who-text">
              <strong>{props.session.username}</strong>
              <span class="faint">Administrator</span>
            </div>
            <button type="button" class="btn btn-ghost btn-icon" onClick={props.onSignOut} aria-label="Sign out" title="Sign out">
              <Icon name="logout" />
            </button>
          </div>
        </div>
      </aside>
      <header class="topbar">
        <Brand href="#/" />
        <button type="button" class="btn btn-ghost btn-sm" onClick={props.onSignOut}>
          <Icon name="logout" size={16} />
          Sign out
        </button>
      </header>
      <main class="main" id="main">
        <Screen route={route} session={props.session} />
      </main>
      <NavLinks current={current} class="tabbar" short />
    </div>
  );
}
