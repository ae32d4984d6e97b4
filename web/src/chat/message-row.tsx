/*
 * One message bubble, with its sender (first of a group), quoted reply, text
 * (mentions and links marked up, everything else plain text nodes) or a file
 * (a picture, or a file to download: attachments.tsx), time, edit mark,
 * "writing…" while a streaming message is still growing, delivery state, and
 * the actions that show on hover or focus.
 *
 * Memoised: rows get primitive props and stable callbacks, so a typing event or
 * a new message re-renders only the rows that changed.
 */
import type { FileMessageBody, MessageEvent } from '@pipit/sdk';
import { memo } from 'preact/compat';
import { useState } from 'preact/hooks';
import { Avatar } from '../shared/ui';
import { FileAttachment, PictureAttachment, fileOf, isPicture } from './attachments';
import { clockTime } from './format';
import { IconAlert, IconClock, IconCopy, IconEdit, IconRecall, IconReply } from './icons';

export interface RowActions {
  reply(msg: MessageEvent): void;
  edit(msg: MessageEvent): void;
  recall(msg: MessageEvent): void;
  copy(text: string): void;
  jumpTo(seq: number): void;
  retry(cmid: string): void;
  discard(cmid: string): void;
}

export interface MessageRowProps {
  convId: number;
  msg: MessageEvent;
  text: string | null;
  mine: boolean;
  pending: 'sending' | 'sent' | 'failed' | null;
  pendingError: string | null;
  first: boolean;
  last: boolean;
  group: boolean;
  senderName: string;
  quoteName: string | null;
  quoteText: string | null;
  receipt: string | null;
  mentionsMe: boolean;
  /** "|ana|bo|": usernames to mark as mentions. */
  usernames: string;
  canEdit: boolean;
  canRecall: boolean;
  actions: RowActions;
}

export const MessageRow = memo(function MessageRow(p: MessageRowProps) {
  const { msg } = p;
  /* Recalled, or erased with its sender's account: no content left to show. */
  const withdrawn = msg.recalled === true || msg.erased === true;
  const file = fileOf(msg);
  // A picture with nothing around it (no sender line, quote or caption) is drawn without a bubble.
  const bare =
    file !== null && isPicture(file) && !(p.group && !p.mine && p.first) && p.quoteName === null && !(typeof file.text === 'string' && file.text.trim());
  const cls = ['msg-row', p.mine ? 'mine' : 'theirs'];
  if (p.first) cls.push('first');
  if (p.last) cls.push('last');
  if (p.mentionsMe) cls.push('mentions-me');
  if (p.pending === 'failed') cls.push('failed');
  return (
    <div
      class={cls.join(' ')}
      id={msg.seq > 0 ? `msg-${p.convId}-${msg.seq}` : undefined}
      data-testid="message"
      data-seq={msg.seq > 0 ? msg.seq : undefined}
      data-state={p.pending ?? 'stored'}
      data-mine={p.mine ? 'true' : 'false'}
      data-streaming={msg.streaming ? 'true' : undefined}
      aria-busy={msg.streaming ? 'true' : undefined}
    >
      {p.group && !p.mine ? <div class="msg-avatar">{p.last ? <Avatar name={p.senderName} size="sm" /> : null}</div> : null}
      <div class="msg-col">
        <div class={`msg${withdrawn ? ' is-recalled' : ''}${bare ? ' msg-pic' : ''}`} tabIndex={0}>
          {p.group && !p.mine && p.first ? <div class="msg-sender">{p.senderName}</div> : null}
          {p.quoteName !== null ? (
            <button
              type="button"
              class="msg-quote"
              onClick={() => msg.reply_to && p.actions.jumpTo(msg.reply_to)}
              aria-label={`Reply to ${p.quoteName}: ${p.quoteText ?? ''}`}
            >
              <span class="msg-quote-name">{p.quoteName}</span>
              <span class="msg-quote-text">{p.quoteText}</span>
            </button>
          ) : null}
          {withdrawn ? (
            <div class="msg-text msg-recalled" data-testid="message-text">
              {msg.erased ? 'Message erased' : 'Message recalled'}
            </div>
          ) : file ? (
            <FileContent p={p} file={file} />
          ) : (
            <div class="msg-text" data-testid="message-text">
              {p.text !== null ? (
                <LongText text={p.text} usernames={p.usernames} />
              ) : (
                <em class="muted">[{msg.body?.type ?? 'message'}] not shown in this app</em>
              )}
              <Meta {...p} />
            </div>
          )}
          {!withdrawn && p.pending === null ? <Actions {...p} /> : null}
        </div>
        {p.pending === 'failed' ? (
          <div class="msg-status msg-failed" role="alert" data-testid="send-failed">
            <IconAlert /> Not sent{p.pendingError ? `: ${p.pendingError}` : ''}
            <button type="button" class="link-btn" onClick={() => p.actions.retry(msg.cmid)}>
              Retry
            </button>
            <button type="button" class="link-btn" onClick={() => p.actions.discard(msg.cmid)}>
              Delete
            </button>
          </div>
        ) : p.receipt ? (
          <div class="msg-status" data-testid="receipt">
            {p.receipt}
          </div>
        ) : null}
      </div>
    </div>
  );
});

/** A picture (the time over its corner, unless a caption follows) or a file row. */
function FileContent(props: { p: MessageRowProps; file: FileMessageBody }) {
  const { p, file } = props;
  const caption = typeof file.text === 'string' && file.text.trim() ? file.text : null;
  const text = caption ? <LongText text={caption} usernames={p.usernames} /> : null;
  if (isPicture(file)) {
    return (
      <>
        <PictureAttachment body={file} overlay={caption ? null : <Meta {...p} overlay />} />
        {caption ? (
          <div class="msg-text msg-caption" data-testid="message-text">
            {text}
            <Meta {...p} />
          </div>
        ) : null}
      </>
    );
  }
  return (
    <div class="msg-text" data-testid="message-text">
      <FileAttachment body={file} />
      {text ? <div class="file-caption">{text}</div> : null}
      <Meta {...p} />
    </div>
  );
}

/** Time, "edited" or "writing…", and for your own messages whether they left yet. */
function Meta(p: MessageRowProps & { overlay?: boolean }) {
  return (
    <span class={p.overlay ? 'msg-meta msg-meta-overlay' : 'msg-meta'}>
      {p.msg.streaming ? (
        <span class="msg-streaming" title="Still being written" data-testid="streaming">
          <span class="msg-streaming-dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
          writing…
        </span>
      ) : null}
      {p.msg.edited ? <span class="msg-edited">edited</span> : null}
      <time dateTime={new Date(p.msg.ts).toISOString()}>{clockTime(p.msg.ts)}</time>
      {p.pending === 'sending' ? (
        <span class="msg-state" title="Sending…" aria-label="Sending" data-testid="sending">
          <IconClock />
        </span>
      ) : null}
    </span>
  );
}

function Actions(p: MessageRowProps) {
  const { msg, actions } = p;
  return (
    <div class="msg-actions" role="toolbar" aria-label="Message actions">
      <button type="button" class="msg-action" aria-label="Reply" title="Reply" onClick={() => actions.reply(msg)}>
        <IconReply />
      </button>
      {p.canEdit ? (
        <button type="button" class="msg-action" aria-label="Edit" title="Edit" onClick={() => actions.edit(msg)}>
          <IconEdit />
        </button>
      ) : null}
      {p.text !== null ? (
        <button type="button" class="msg-action" aria-label="Copy text" title="Copy text" onClick={() => actions.copy(p.text!)}>
          <IconCopy />
        </button>
      ) : null}
      {p.canRecall ? (
        <button
          type="button"
          class="msg-action msg-action-danger"
          aria-label="Recall"
          title="Recall for everyone"
          onClick={() => actions.recall(msg)}
        >
          <IconRecall />
        </button>
      ) : null}
    </div>
  );
}

const LONG_CHARS = 1200;
const LONG_LINES = 20;

/** A very long text starts folded, so one message cannot fill the whole screen. */
function LongText(props: { text: string; usernames: string }) {
  const long = props.text.length > LONG_CHARS || props.text.split('\n', LONG_LINES + 1).length > LONG_LINES;
  const [open, setOpen] = useState(false);
  if (!long) return <RichText text={props.text} usernames={props.usernames} />;
  return (
    <>
      <span class={open ? undefined : 'msg-folded'}>
        <RichText text={props.text} usernames={props.usernames} />
      </span>
      <button type="button" class="link-btn msg-more" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'Show less' : 'Show more'}
      </button>
    </>
  );
}

const TOKEN = /(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'])|(@[A-Za-z0-9._-]+)/g;

/**
 * Text with links and @mentions marked up. Every piece is a Preact text node or
 * an element with text in it: nothing is ever parsed as HTML. Links are only
 * http(s), so no javascript: URL can get in.
 */
function RichText(props: { text: string; usernames: string }) {
  const parts: (string | preact.JSX.Element)[] = [];
  let at = 0;
  let i = 0;
  for (const m of props.text.matchAll(TOKEN)) {
    const start = m.index ?? 0;
    if (start > at) parts.push(props.text.slice(at, start));
    if (m[1]) {
      parts.push(
        <a key={i++} href={m[1]} target="_blank" rel="noopener noreferrer">
          {m[1]}
        </a>,
      );
    } else if (m[2] && (props.usernames.includes(`|${m[2].slice(1).toLowerCase()}|`) || m[2] === '@all')) {
      parts.push(
        <span key={i++} class="mention">
          {m[2]}
        </span>,
      );
    } else {
      parts.push(m[0]);
    }
    at = start + m[0].length;
  }
  if (at < props.text.length) parts.push(props.text.slice(at));
  return <span class="msg-body">{parts}</span>;
}
