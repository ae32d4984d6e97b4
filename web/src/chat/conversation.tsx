/*
 * One open conversation: its header (who, presence or who is typing), the
 * pinned announcement, the timeline and the composer. It opens the timeline
 * in the store, marks it read while visible, and owns the reply/edit/recall
 * intents the message actions start. Files dropped anywhere on it are sent
 * here (an overlay says so while they are dragged over).
 */
import { PipitError, type Conversation, type MessageEvent } from '@pipit/sdk';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Avatar, Modal, toast } from '../shared/ui';
import { Composer } from './composer';
import { messagePreview } from './attachments';
import { errorText, lastSeen, nameList } from './format';
import { go, useStore } from './hooks';
import { IconBack, IconInfo, IconMegaphone, IconUpload } from './icons';
import { MessageList, type UnreadAtOpen } from './message-list';
import type { RowActions } from './message-row';
import type { ChatStore } from './store';

export function ConversationView(props: { convId: number; phone: boolean; detailsOpen: boolean }) {
  const store = useStore();
  const conv = store.convs.get(props.convId)!;
  const tl = store.timeline(props.convId);
  const [unread] = useState<UnreadAtOpen>(() => ({ read: conv.read_seq, last: conv.last_seq }));
  const [reply, setReply] = useState<MessageEvent | null>(null);
  const [editing, setEditing] = useState<MessageEvent | null>(null);
  const [recalling, setRecalling] = useState<MessageEvent | null>(null);
  const drop = useFileDrop((files) => store.attach(props.convId, files));

  useEffect(() => {
    void store.open(props.convId);
    const onVisible = () => {
      if (document.visibilityState === 'visible') store.markReadSoon();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      store.close(props.convId);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [props.convId]);

  const actions = useMemo<RowActions>(
    () => ({
      reply: (m) => {
        setEditing(null);
        setReply(m);
      },
      edit: (m) => {
        setReply(null);
        setEditing(m);
      },
      recall: (m) => setRecalling(m),
      copy: (text) => {
        navigator.clipboard.writeText(text).then(
          () => toast('Copied'),
          () => toast('Could not copy', 'The browser did not allow it.', true),
        );
      },
      jumpTo: (seq) => jumpTo(props.convId, seq),
      retry: (cmid) => store.retry(cmid),
      discard: (cmid) => store.discard(cmid),
    }),
    [props.convId],
  );

  const editLast = useCallback(() => {
    const items = store.timeline(props.convId)?.items;
    if (!items) return;
    const editable = (e: MessageEvent) => e.ev === 'message' && e.from === store.me.id && !e.recalled && e.body?.type === 'text';
    const mine = [...items.values()].filter((e) => editable(e as MessageEvent)) as MessageEvent[];
    const last = mine.sort((a, b) => b.seq - a.seq)[0];
    if (last) actions.edit(last);
  }, [props.convId]);

  const doRecall = async () => {
    const m = recalling!;
    setRecalling(null);
    try {
      await store.client.recall(props.convId, m.seq);
    } catch (err) {
      const text = err instanceof PipitError && err.code === 'forbidden' ? 'Messages can be recalled only for a short time after sending.' : errorText(err);
      toast('Could not recall the message', text, true);
    }
  };

  return (
    <section class="conv-view" aria-label={store.titleOf(conv)} data-testid="conversation" {...drop.handlers}>
      <Header store={store} conv={conv} phone={props.phone} detailsOpen={props.detailsOpen} />
      {conv.type === 'group' && conv.announcement ? (
        <div class="announcement" data-testid="announcement">
          <IconMegaphone />
          <span>{conv.announcement}</span>
        </div>
      ) : null}
      <MessageList store={store} conv={conv} tl={tl} unread={unread} actions={actions} />
      <Composer
        key={props.convId}
        store={store}
        conv={conv}
        reply={reply}
        editing={editing}
        onDone={() => {
          setReply(null);
          setEditing(null);
        }}
        onEditLast={editLast}
      />
      {drop.over ? (
        <div class="drop-overlay" aria-hidden="true" data-testid="drop-overlay">
          <IconUpload />
          <span>Drop files to send them to {store.titleOf(conv)}</span>
        </div>
      ) : null}
      {recalling ? (
        <Modal title="Recall this message?" onClose={() => setRecalling(null)}>
          <p class="muted">It is replaced by “Message recalled” for everyone in the chat.</p>
          <blockquote class="recall-preview">{messagePreview(recalling)}</blockquote>
          <div class="modal-actions">
            <button class="btn" onClick={() => setRecalling(null)}>
              Cancel
            </button>
            <button class="btn btn-danger" onClick={() => void doRecall()} data-testid="confirm-recall" autoFocus>
              Recall
            </button>
          </div>
        </Modal>
      ) : null}
    </section>
  );
}

function Header(props: { store: ChatStore; conv: Conversation; phone: boolean; detailsOpen: boolean }) {
  const { store, conv } = props;
  const title = store.titleOf(conv);
  const typing = store.typingIn(conv.id);
  const peerOnline = conv.type === 'direct' && conv.peer ? store.isOnline(conv.peer.id) : false;
  let sub: string;
  if (typing.length > 0) {
    const names = typing.map((u) => store.nameOf(u));
    sub = `${nameList(names, 2)} ${names.length > 1 ? 'are' : 'is'} typing…`;
  } else if (conv.type === 'direct') {
    sub = peerOnline ? 'online' : lastSeen(conv.peer?.last_seen);
  } else {
    sub = `${conv.member_count} ${conv.member_count === 1 ? 'member' : 'members'}`;
  }
  const detailsHash = props.detailsOpen ? `#/c/${conv.id}` : `#/c/${conv.id}/details`;
  return (
    <header class="conv-head">
      {props.phone ? (
        <button class="btn btn-ghost btn-icon" aria-label="Back to chats" onClick={() => go('#/')} data-testid="back">
          <IconBack />
        </button>
      ) : null}
      <a class="conv-head-who" href={detailsHash} aria-label={`${title}: details`}>
        <Avatar name={title} online={peerOnline} />
        <span class="conv-head-text">
          <span class="conv-head-title" data-testid="conv-title">
            {title}
          </span>
          <span
            class={`conv-head-sub${typing.length ? ' is-typing' : ''}${peerOnline && !typing.length ? ' is-online' : ''}`}
            data-testid={typing.length ? 'typing' : 'presence'}
          >
            {sub}
          </span>
        </span>
      </a>
      <a
        class={`btn btn-ghost btn-icon${props.detailsOpen ? ' is-active' : ''}`}
        href={detailsHash}
        aria-label={props.detailsOpen ? 'Close details' : 'Details'}
        title="Details"
        data-testid="details-toggle"
      >
        <IconInfo />
      </a>
    </header>
  );
}

/**
 * Dragging files over an element: `over` while they are above it, `onFiles` on
 * drop. Enter and leave fire for every child crossed, so a depth count says when
 * the drag really left. Drags of text or links are not files and are left alone.
 */
function useFileDrop(onFiles: (files: File[]) => void) {
  const [over, setOver] = useState(false);
  const depth = useRef(0);
  const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') === true;
  const handlers = {
    onDragEnter: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth.current++;
      setOver(true);
    },
    onDragOver: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault(); // allows the drop
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    },
    onDragLeave: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth.current = Math.max(0, depth.current - 1);
      if (depth.current === 0) setOver(false);
    },
    onDrop: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth.current = 0;
      setOver(false);
      const files = [...(e.dataTransfer?.files ?? [])];
      if (files.length > 0) onFiles(files);
    },
  };
  return { over, handlers };
}

/** Scrolls to a message and flashes it; one not loaded yet is said so. */
function jumpTo(conv: number, seq: number): void {
  const el = document.getElementById(`msg-${conv}-${seq}`);
  if (!el) {
    toast('That message is further back', 'Scroll up to load older messages.');
    return;
  }
  el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  el.classList.remove('flash');
  void el.offsetWidth; // restart the animation
  el.classList.add('flash');
}
