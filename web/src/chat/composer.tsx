/*
 * The message box: Enter sends, Shift+Enter starts a new line, Escape cancels a
 * reply or an edit, ↑ in an empty box edits your last message. Typing "@" in a
 * group opens a picker of members; the usernames left in the text become the
 * message's `mentions`. While the user types, `typing` goes out at most once
 * every 3 s (the server allows 5 per 5 s). Drafts survive switching chats.
 * Files come in by the paperclip, by pasting (a screenshot) or by dropping them
 * on the conversation (conversation.tsx); uploads.tsx shows their progress.
 */
import type { Conversation, MessageEvent } from '@pipit/sdk';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { Avatar, toast } from '../shared/ui';
import { messagePreview } from './attachments';
import { bodyText, clockTime, errorText } from './format';
import { IconClose, IconEdit, IconReply, IconSend } from './icons';
import type { ChatStore } from './store';
import { AttachButton, UploadList } from './uploads';

const TYPING_EVERY_MS = 3000;
const MAX_HEIGHT_PX = 160;
const drafts = new Map<number, string>();

interface Picker {
  start: number;
  query: string;
  index: number;
}

export function Composer(props: {
  store: ChatStore;
  conv: Conversation;
  reply: MessageEvent | null;
  editing: MessageEvent | null;
  onDone: () => void;
  onEditLast: () => void;
}) {
  const { store, conv, reply, editing } = props;
  const [text, setText] = useState(() => drafts.get(conv.id) ?? '');
  const [picker, setPicker] = useState<Picker | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const lastTyping = useRef(0);
  const draftBeforeEdit = useRef('');

  // A layout effect: the box holds the message's text before anything can type into it.
  useLayoutEffect(() => {
    if (editing) {
      draftBeforeEdit.current = text;
      const value = bodyText(editing.body) ?? '';
      setText(value);
      focusEnd(box.current, value.length);
    }
  }, [editing]);

  useEffect(() => {
    if (reply) box.current?.focus();
  }, [reply]);

  // Grows with its text up to a limit, then scrolls.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, MAX_HEIGHT_PX)}px`;
  }, [text]);

  const members = store.members.get(conv.id);
  const candidates = picker && members ? mentionCandidates(store, [...members.values()].map((m) => m.user), picker.query) : [];

  const update = (value: string, caret: number) => {
    setText(value);
    if (!editing) {
      drafts.set(conv.id, value);
      if (value.trim() && Date.now() - lastTyping.current > TYPING_EVERY_MS) {
        lastTyping.current = Date.now();
        store.client.typing(conv.id).catch(() => undefined); // a lost typing hint is harmless
      }
    }
    setPicker(conv.type === 'group' ? findPicker(value, caret, picker) : null);
  };

  const choose = (username: string) => {
    if (!picker) return;
    const el = box.current!;
    const before = text.slice(0, picker.start);
    const after = text.slice(el.selectionStart ?? text.length);
    const value = `${before}@${username} ${after}`;
    setPicker(null);
    update(value, before.length + username.length + 2);
    setPicker(null);
    focusEnd(el, before.length + username.length + 2);
  };

  const finish = () => {
    props.onDone();
    if (editing) setText(draftBeforeEdit.current);
  };

  const submit = () => {
    const value = text.trim();
    if (!value) return;
    if (editing) {
      if (value !== (bodyText(editing.body) ?? '')) {
        store.client.edit(conv.id, editing.seq, { type: 'text', text: value }).catch((err: unknown) => toast('Could not edit the message', errorText(err), true));
      }
      finish();
      return;
    }
    const mentions = conv.type === 'group' && members ? mentionedIds(value, [...members.values()].map((m) => m.user), store.me.id) : [];
    store.send(conv.id, value, {
      ...(reply ? { reply_to: reply.seq } : {}),
      ...(mentions.length ? { mentions } : {}),
    });
    drafts.delete(conv.id);
    setText('');
    lastTyping.current = 0; // the message ended their "typing…": the next key says it again
    props.onDone();
  };

  // A pasted picture (a screenshot) or file is attached; pasted text stays text.
  const onPaste = (e: ClipboardEvent) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.length === 0 || editing) return;
    e.preventDefault();
    store.attach(conv.id, files);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (picker && candidates.length > 0) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setPicker({ ...picker, index: (picker.index + step + candidates.length) % candidates.length });
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        choose(candidates[picker.index % candidates.length]!.username);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        setPicker(null);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape' && (reply || editing)) {
      e.preventDefault();
      e.stopPropagation();
      finish();
    } else if (e.key === 'ArrowUp' && text === '' && !editing) {
      e.preventDefault();
      props.onEditLast();
    }
  };

  const blocked = sendBlocked(store, conv);
  if (blocked) {
    return (
      <footer class="composer composer-blocked" data-testid="composer-blocked">
        {blocked}
      </footer>
    );
  }
  const fullName = conv.type === 'direct' ? store.titleOf(conv) : conv.title || 'the group';
  const name = fullName.length > 28 ? `${fullName.slice(0, 26)}…` : fullName; // a placeholder must fit one line
  return (
    <footer class="composer">
      {reply || editing ? (
        <div class="composer-context" data-testid={editing ? 'editing' : 'replying'}>
          <span class="ctx-icon">{editing ? <IconEdit /> : <IconReply />}</span>
          <div class="ctx-body">
            <div
              class="ctx-title">{editing ? 'Edit message' : `Reply to ${reply!.from === store.me.id ? 'yourself' : store.nameOf(reply!.from)}`}</div
            >
            <div class="ctx-text">{messagePreview((editing ?? reply)!)}</div>
          </div>
          <button type="button" class="btn btn-ghost btn-icon btn-sm" aria-label={editing ? 'Cancel edit' : 'Cancel reply'} onClick={finish}>
            <IconClose size={16} />
          </button>
        </div>
      ) : null}
      {picker && candidates.length > 0 ? (
        <ul class="mention-picker card" role="listbox" id="mention-picker" aria-label="Mention someone">
          {candidates.map((u, i) => (
            <li
              key={u.id}
              id={`mention-${u.id}`}
              role="option"
              aria-selected={i === picker.index % candidates.length}
              class="mention-option"
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the box
                choose(u.username);
              }}
            >
              <Avatar name={store.nameOf(u.id)} size="sm" />
              <span class="mention-name">{store.nameOf(u.id)}</span>
              <span class="faint">@{u.username}</span>
            </li>
          ))}
        </ul>
      ) : null}
      <UploadList store={store} conv={conv.id} />
      <div class="composer-row">
        {editing ? null : <AttachButton onFiles={(files) => store.attach(conv.id, files)} />}
        <textarea
          ref={box}
          class="composer-input"
          rows={1}
          placeholder={`Message ${name}`}
          aria-label="Message"
          aria-autocomplete={conv.type === 'group' ? 'list' : undefined}
          aria-controls={picker && candidates.length > 0 ? 'mention-picker' : undefined}
          aria-activedescendant={picker && candidates.length > 0 ? `mention-${candidates[picker.index % candidates.length]!.id}` : undefined}
          data-testid="composer"
          value={text}
          onInput={(e) => update(e.currentTarget.value, e.currentTarget.selectionStart ?? e.currentTarget.value.length)}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
          onBlur={() => setPicker(null)}
        />
        <button
          type="button"
          class="btn btn-primary btn-icon composer-send"
          aria-label={editing ? 'Save edit' : 'Send'}
          title={editing ? 'Save (Enter)' : 'Send (Enter)'}
          disabled={!text.trim()}
          onMouseDown={(e) => e.preventDefault()}
          onClick={submit}
          data-testid="send"
        >
          <IconSend />
        </button>
      </div>
    </footer>
  );
}

function focusEnd(el: HTMLTextAreaElement | null, at: number): void {
  if (!el) return;
  requestAnimationFrame(() => {
    el.focus();
    el.setSelectionRange(at, at);
  });
}

/** An "@word" right before the caret opens (or keeps) the picker. */
function findPicker(value: string, caret: number, current: Picker | null): Picker | null {
  const m = /(^|\s)@([A-Za-z0-9._-]{0,64})$/.exec(value.slice(0, caret));
  if (!m) return null;
  const start = caret - m[2]!.length - 1;
  return { start, query: m[2]!.toLowerCase(), index: current && current.start === start ? current.index : 0 };
}

function mentionCandidates(store: ChatStore, users: { id: number; username: string }[], query: string) {
  return users
    .filter((u) => u.id !== store.me.id)
    .filter((u) => u.username.toLowerCase().startsWith(query) || store.nameOf(u.id).toLowerCase().includes(query))
    .slice(0, 6);
}

/** Ids of the members whose "@username" is in the text. */
export function mentionedIds(text: string, users: { id: number; username: string }[], me: number): number[] {
  const tokens = new Set([...text.matchAll(/@([A-Za-z0-9._-]+)/g)].map((m) => m[1]!.replace(/\.+$/, '').toLowerCase()));
  return users.filter((u) => u.id !== me && tokens.has(u.username.toLowerCase())).map((u) => u.id);
}

/** Why you cannot send here, or null. */
function sendBlocked(store: ChatStore, conv: Conversation): string | null {
  if (conv.type !== 'group') return null;
  if (conv.muted_all && conv.role === 'member') return 'Only admins can send messages in this group.';
  const me = store.members.get(conv.id)?.get(store.me.id);
  if (me && me.muted_until > Date.now()) return `An admin muted you until ${clockTime(me.muted_until)}.`;
  return null;
}
