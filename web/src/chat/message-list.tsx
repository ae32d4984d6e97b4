/*
 * The scrolling timeline of one conversation.
 *
 * Rows are built from the held events (by seq) plus the messages still on their
 * way out: day separators, a "new messages" line where unread began, system
 * lines for group events, and message bubbles grouped by sender (same sender,
 * same day, within 5 minutes).
 *
 * Scrolling, with no jumps:
 * - at the bottom, new rows keep the view at the bottom; scrolled up, the view
 *   stays put and a "new messages" button appears;
 * - near the top, the next older page loads, and once it is in, the scroll
 *   position moves by exactly the height added above, so what the user was
 *   reading stays where it was (the browser's own scroll anchoring is off, so
 *   only this rule applies);
 * - when the pane changes size (the composer grows, the window resizes) a view
 *   at the bottom stays at the bottom;
 * - a message a search result points at (store.target): older pages load until
 *   it is held, then it is scrolled to the middle and flashes.
 * Pictures get their final size before they load (attachments.tsx), so they
 * move nothing either.
 */
import type { Conversation, MemberEvent, MessageEvent, TimelineEvent } from '@pipit/sdk';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { toast } from '../shared/ui';
import { messagePreview } from './attachments';
import { bodyText, clockTime, dayLabel, sameDay } from './format';
import { IconDown } from './icons';
import { MessageRow, type RowActions } from './message-row';
import type { ChatStore, PendingMessage, Timeline } from './store';

const GROUP_GAP_MS = 5 * 60_000;
const LOAD_OLDER_WITHIN_PX = 400;
const AT_BOTTOM_PX = 48;

/** Where unread began and ended when the conversation was opened: the "new messages" line goes there. */
export interface UnreadAtOpen {
  read: number;
  last: number;
}

type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  | { kind: 'system'; key: string; text: string }
  | { kind: 'msg'; key: string; msg: MessageEvent; pending: PendingMessage | null; first: boolean; last: boolean };

export function MessageList(props: { store: ChatStore; conv: Conversation; tl: Timeline | undefined; unread: UnreadAtOpen; actions: RowActions }) {
  const { store, conv, tl } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const snap = useRef({ height: 0, top: 0, firstKey: '', lastKey: '' });
  const [newBelow, setNewBelow] = useState(false);

  /**
   * A scroll whose event has not come yet (it comes a frame later) must still
   * count before anything pins the view to the bottom: else a render in between
   * takes the reader back down, and the older page they scrolled up for never loads.
   */
  const notePendingScroll = (el: HTMLDivElement) => {
    const s = snap.current;
    if (el.scrollTop === s.top) return;
    // The smaller height: a list that shrank clamps scrollTop to its end, which is the bottom.
    atBottom.current = Math.min(s.height, el.scrollHeight) - el.scrollTop - el.clientHeight < AT_BOTTOM_PX;
    s.top = el.scrollTop;
  };

  const pending = store.pendingIn(conv.id);
  const pendingKey = pending.map((p) => `${p.cmid}:${p.state}`).join(',');
  // Names in system lines come from the users the store knows: re-run when it learns more.
  const target = store.target?.conv === conv.id ? store.target : null;
  const rows = useMemo(() => buildRows(store, tl, pending, props.unread), [tl?.rev, tl?.status, pendingKey, conv.id, props.unread, store.users.size]);
  const members = store.members.get(conv.id);
  const usernames = members ? `|${[...members.values()].map((m) => m.user.username.toLowerCase()).join('|')}|` : '||';
  const lastMine = lastOwnStored(rows, store.me.id);
  const receipt = lastMine ? receiptFor(store, conv, lastMine.msg.seq) : null;

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const s = snap.current;
    notePendingScroll(el);
    // Day separators are shared by old and new rows of one day: anchor on the first real row.
    const first = rows.find((r) => r.kind === 'msg' || r.kind === 'system')?.key ?? '';
    const last = rows[rows.length - 1]?.key ?? '';
    const prepended = s.firstKey !== '' && first !== s.firstKey && rows.some((r) => r.key === s.firstKey);
    if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    } else if (prepended) {
      el.scrollTop = s.top + (el.scrollHeight - s.height);
    } else if (last !== s.lastKey && s.lastKey !== '') {
      setNewBelow(true);
    }
    s.height = el.scrollHeight;
    s.top = el.scrollTop;
    s.firstKey = first;
    s.lastKey = last;
    // Still near the top after a page went in (or too little to scroll at all): no
    // scroll event would come to ask for the next one, so ask now.
    if (el.scrollTop < LOAD_OLDER_WITHIN_PX) void store.loadOlder(conv.id);
    if (target && tl?.status === 'ready') revealTarget(el, target.seq);
  });

  /** Scrolls to the target if it is in; else loads the next older page, or gives up. */
  const revealTarget = (el: HTMLDivElement, seq: number) => {
    const row = document.getElementById(`msg-${conv.id}-${seq}`);
    if (row) {
      row.scrollIntoView({ block: 'center' });
      atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < AT_BOTTOM_PX;
      snap.current.top = el.scrollTop;
      row.classList.remove('flash');
      void row.offsetWidth; // restart the animation
      row.classList.add('flash');
      store.clearTarget();
    } else if (tl!.error || !tl!.hasOlder || tl!.oldest <= seq) {
      store.clearTarget();
      toast('That message is not here any more', 'It may have been recalled or deleted.');
    } else {
      void store.loadOlder(conv.id);
    }
  };

  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => {
      notePendingScroll(el);
      if (atBottom.current) el.scrollTop = el.scrollHeight;
      snap.current.height = el.scrollHeight;
      snap.current.top = el.scrollTop;
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const onScroll = () => {
    const el = scroller.current!;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < AT_BOTTOM_PX;
    snap.current.top = el.scrollTop;
    snap.current.height = el.scrollHeight;
    if (atBottom.current && newBelow) setNewBelow(false);
    if (el.scrollTop < LOAD_OLDER_WITHIN_PX) void store.loadOlder(conv.id);
  };

  const toBottom = () => {
    const el = scroller.current!;
    el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
    atBottom.current = true;
    setNewBelow(false);
  };

  const group = conv.type === 'group';
  const myRole = conv.role;
  return (
    <div class="msg-pane">
      <div class="msg-scroller" ref={scroller} onScroll={onScroll} data-testid="message-list" aria-label="Messages" role="log" aria-live="polite">
        <TopOfList tl={tl} onRetry={() => void store.loadOlder(conv.id)} onReload={() => void store.open(conv.id)} />
        {rows.map((r) => {
          if (r.kind === 'day') {
            return (
              <div key={r.key} class="day-sep" role="separator">
                <span>{r.label}</span>
              </div>
            );
          }
          if (r.kind === 'unread') {
            return (
              <div key={r.key} class="unread-sep" role="separator">
                <span>New messages</span>
              </div>
            );
          }
          if (r.kind === 'system') {
            return (
              <div key={r.key} class="sys-line" data-testid="system-line">
                {r.text}
              </div>
            );
          }
          const m = r.msg;
          const mine = m.from === store.me.id;
          const text = bodyText(m.body);
          const quoted = m.reply_to !== undefined ? quoteOf(store, tl, m.reply_to) : null;
          return (
            <MessageRow
              key={r.key}
              convId={conv.id}
              msg={m}
              text={text}
              mine={mine}
              pending={r.pending ? r.pending.state : null}
              pendingError={r.pending?.error ?? null}
              first={r.first}
              last={r.last}
              group={group}
              senderName={store.nameOf(m.from)}
              quoteName={quoted ? quoted.name : null}
              quoteText={quoted ? quoted.text : null}
              receipt={lastMine === r ? receipt : null}
              mentionsMe={!mine && mentionsMe(m, store.me.id)}
              usernames={usernames}
              canEdit={mine && !r.pending && text !== null && !m.streaming}
              canRecall={!r.pending && (mine || (group && (myRole === 'owner' || myRole === 'admin')))}
              actions={props.actions}
            />
          );
        })}
      </div>
      {newBelow ? (
        <button type="button" class="new-below btn btn-primary btn-sm" onClick={toBottom} data-testid="new-below">
          <IconDown /> New messages
        </button>
      ) : null}
    </div>
  );
}

function TopOfList(props: { tl: Timeline | undefined; onRetry: () => void; onReload: () => void }) {
  const { tl } = props;
  if (!tl || tl.status === 'loading') {
    return (
      <div class="list-top">
        <span class="spinner" aria-hidden="true" /> <span class="muted">Loading messages…</span>
      </div>
    );
  }
  if (tl.status === 'error') {
    return (
      <div class="list-top" role="alert">
        <span class="error-text">Could not load messages. {tl.error}</span>
        <button class="btn btn-sm" onClick={props.onReload}>
          Try again
        </button>
      </div>
    );
  }
  if (tl.error) {
    return (
      <div class="list-top" role="alert">
        <span class="error-text">Could not load older messages. {tl.error}</span>
        <button class="btn btn-sm" onClick={props.onRetry}>
          Try again
        </button>
      </div>
    );
  }
  if (tl.loadingOlder || tl.hasOlder) {
    return (
      <div class="list-top">
        <span class="spinner" aria-hidden="true" />
      </div>
    );
  }
  return <div class="list-top list-start faint">This is the start of the conversation.</div>;
}

function buildRows(store: ChatStore, tl: Timeline | undefined, pending: PendingMessage[], unread: UnreadAtOpen): Row[] {
  const rows: Row[] = [];
  if (!tl || tl.status !== 'ready') return rows;
  const events = [...tl.items.values()].sort((a, b) => a.seq - b.seq);
  const all: { ev: TimelineEvent; pending: PendingMessage | null }[] = events.map((ev) => ({ ev, pending: null }));
  for (const p of pending) {
    const msg: MessageEvent = { ev: 'message', conv: p.conv, seq: 0, id: 0, from: store.me.id, ts: p.ts, cmid: p.cmid, body: p.body };
    if (p.reply_to !== undefined) msg.reply_to = p.reply_to;
    all.push({ ev: msg, pending: p });
  }
  let prevTs = 0;
  let prevSender: number | null = null;
  let unreadShown = false;
  let lastMsgRow: Extract<Row, { kind: 'msg' }> | null = null;
  for (const { ev, pending: p } of all) {
    if (prevTs === 0 || !sameDay(prevTs, ev.ts)) {
      rows.push({ kind: 'day', key: `d-${dayKey(ev.ts)}`, label: dayLabel(ev.ts) });
      prevSender = null;
    }
    if (!unreadShown && ev.ev === 'message' && ev.seq > unread.read && ev.seq <= unread.last && ev.from !== store.me.id && unread.read > 0) {
      rows.push({ kind: 'unread', key: 'unread' });
      unreadShown = true;
      prevSender = null;
    }
    if (ev.ev === 'message') {
      const m = ev as MessageEvent;
      const first = prevSender !== m.from || ev.ts - prevTs > GROUP_GAP_MS;
      if (first && lastMsgRow) lastMsgRow.last = true;
      const row: Extract<Row, { kind: 'msg' }> = { kind: 'msg', key: `m-${m.from}-${m.cmid}`, msg: m, pending: p, first, last: false };
      rows.push(row);
      lastMsgRow = row;
      prevSender = m.from;
    } else {
      if (lastMsgRow) lastMsgRow.last = true;
      lastMsgRow = null;
      rows.push({ kind: 'system', key: `e-${ev.seq}`, text: systemText(store, ev) });
      prevSender = null;
    }
    prevTs = ev.ts;
  }
  if (lastMsgRow) lastMsgRow.last = true;
  // A separator breaks a run too: the message before it is the last of its run.
  for (let i = 0; i < rows.length - 1; i++) {
    const r = rows[i]!;
    if (r.kind === 'msg' && rows[i + 1]!.kind !== 'msg') r.last = true;
  }
  return rows;
}

function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** The newest own message the server stored, if nothing of ours is still on its way after it. */
function lastOwnStored(rows: Row[], me: number): Extract<Row, { kind: 'msg' }> | null {
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i]!;
    if (r.kind !== 'msg' || r.msg.from !== me) continue;
    if (r.pending) return null;
    if (!r.msg.recalled) return r;
  }
  return null;
}

/** "Seen" / "Delivered" in a direct chat; "Read by Ana, Bo" in a group; else "Sent". */
export function receiptFor(store: ChatStore, conv: Conversation, seq: number): string {
  const members = store.members.get(conv.id);
  const others = members ? [...members.values()].filter((m) => m.user.id !== store.me.id) : [];
  if (conv.type === 'direct') {
    const peer = others[0];
    if (peer && peer.read_seq >= seq) return 'Seen';
    if (peer && peer.delivered_seq >= seq) return 'Delivered';
    return 'Sent';
  }
  const readers = others.filter((m) => m.read_seq >= seq).map((m) => store.nameOf(m.user.id));
  if (readers.length === 0) return 'Sent';
  if (readers.length === others.length && others.length > 3) return 'Read by everyone';
  const shown = readers.slice(0, 3).join(', ');
  return readers.length > 3 ? `Read by ${shown} and ${readers.length - 3} more` : `Read by ${shown}`;
}

function quoteOf(store: ChatStore, tl: Timeline | undefined, seq: number): { name: string; text: string } {
  const target = tl?.items.get(seq);
  if (target?.ev === 'message') {
    const m = target as MessageEvent;
    return { name: m.from === store.me.id ? 'You' : store.nameOf(m.from), text: messagePreview(m) };
  }
  return { name: 'Earlier message', text: 'Scroll up to load it' };
}

function mentionsMe(m: MessageEvent, me: number): boolean {
  return m.mentions === 'all' || (Array.isArray(m.mentions) && m.mentions.includes(me));
}

/** Group events as one line of text, with "You" for yourself. */
function systemText(store: ChatStore, ev: TimelineEvent): string {
  const who = (id: number) => (id === store.me.id ? 'You' : store.nameOf(id));
  const whom = (id: number) => (id === store.me.id ? 'you' : store.nameOf(id));
  if (ev.ev === 'conv_created') {
    const title = (ev as TimelineEvent & { title?: string | null }).title;
    return title ? `${who(ev.from)} created the group “${title}”` : `${who(ev.from)} created the group`;
  }
  if (ev.ev === 'member') {
    const m = ev as MemberEvent;
    switch (m.action) {
      case 'joined':
        return m.from === m.user ? `${who(m.user)} joined` : `${who(m.from)} added ${whom(m.user)}`;
      case 'left':
        return `${who(m.user)} left`;
      case 'removed':
        return `${who(m.from)} removed ${whom(m.user)}`;
      case 'role':
        return `${who(m.from)} made ${whom(m.user)} ${m.role === 'admin' ? 'an admin' : m.role === 'owner' ? 'the owner' : 'a member'}`;
      case 'muted':
        return m.until ? `${who(m.from)} muted ${whom(m.user)} until ${clockTime(m.until)}` : `${who(m.from)} unmuted ${whom(m.user)}`;
    }
  }
  if (ev.ev === 'conv_updated') {
    const c = (ev as TimelineEvent & { changes: Record<string, unknown> }).changes;
    const parts: string[] = [];
    if (typeof c.title === 'string') parts.push(`renamed the group to “${c.title}”`);
    if ('description' in c) parts.push(c.description ? 'updated the description' : 'removed the description');
    if ('announcement' in c) parts.push(c.announcement ? 'pinned an announcement' : 'removed the announcement');
    if (c.muted_all === true) parts.push('let only admins send messages');
    if (c.muted_all === false) parts.push('let everyone send messages');
    if (typeof c.owner === 'number') parts.push(`made ${whom(c.owner)} the owner`);
    if ('avatar_url' in c) parts.push('changed the group picture');
    return `${who(ev.from)} ${parts.length ? parts.join(' and ') : 'changed the group'}`;
  }
  return `${who(ev.from)} did something this app does not show (${ev.ev})`;
}
