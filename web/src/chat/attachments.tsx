/*
 * Files in messages: a picture (its thumbnail in a box sized from the body's
 * width and height, so nothing moves when it loads; a click opens the
 * lightbox) and any other file (icon, name, size, a download button).
 *
 * The bytes come through file-view.tsx (the token cannot ride on an <img src>).
 */
import { isFileBody, type FileMessageBody, type MessageBody, type MessageEvent } from '@pipit/sdk';
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { bytes } from '../shared/ui';
import { DownloadButton, fileName, useObjectUrl } from './file-view';
import { previewOf } from './format';
import { IconFile, IconImage } from './icons';
import { Lightbox } from './lightbox';

/** The box a picture gets in the timeline: at most this wide and tall, never scaled up. */
const MAX_W = 280;
const MAX_H = 300;
const UNKNOWN_SIZE = { width: 240, height: 180 };

/** The body, if it is a file message this app draws. */
export function fileOf(msg: Pick<MessageEvent, 'body' | 'recalled'>): FileMessageBody | null {
  return !msg.recalled && isFileBody(msg.body) ? msg.body : null;
}

export function isPicture(body: FileMessageBody): boolean {
  return body.type === 'image';
}

/** One line for lists, quotes and search: "Photo", "report.pdf", a caption if there is one. */
export function messagePreview(msg: Pick<MessageEvent, 'body' | 'recalled' | 'deleted' | 'erased'>): string {
  const file = msg.recalled || msg.deleted ? null : fileOf(msg);
  if (!file) return previewOf(msg);
  const caption = typeof file.text === 'string' ? file.text.replace(/\s+/g, ' ').trim() : '';
  const what = isPicture(file) ? 'Photo' : typeof file.name === 'string' && file.name ? file.name : 'File';
  return caption ? `${what} · ${caption}` : what;
}

/** Fits width×height into the timeline's box, keeping the shape. */
export function pictureBox(body: MessageBody): { width: number; height: number } {
  const w = Number(body.width);
  const h = Number(body.height);
  if (!(w > 0 && h > 0)) return UNKNOWN_SIZE;
  const scale = Math.min(1, MAX_W / w, MAX_H / h);
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
}

/** "PDF", "ZIP": the extension, else the MIME subtype, for the line under a file's name. */
function kindOf(body: FileMessageBody): string {
  const ext = /\.([A-Za-z0-9]{1,6})$/.exec(String(body.name ?? ''))?.[1];
  if (ext) return ext.toUpperCase();
  const sub = /^[a-z]+\/([a-z0-9.+-]{1,20})$/.exec(String(body.mime ?? ''))?.[1];
  return sub ? sub.toUpperCase() : 'File';
}

/** A picture's thumbnail (the file itself while there is none), and the lightbox on click. */
export function PictureAttachment(props: { body: FileMessageBody; overlay: ComponentChildren }) {
  const { body } = props;
  const [open, setOpen] = useState(false);
  const thumb = useObjectUrl(body.file, true);
  const box = pictureBox(body);
  const name = fileName(body);
  return (
    <div class="pic" style={{ width: `${box.width}px`, height: `${box.height}px` }} data-testid="image-attachment">
      {thumb.url ? (
        <button type="button" class="pic-open" onClick={() => setOpen(true)} aria-label={`Open picture ${name}`} data-testid="open-image">
          <img src={thumb.url} alt={name} class="pic-img" data-testid="image-thumb" />
        </button>
      ) : thumb.error ? (
        <div class="pic-state" role="alert">
          <IconImage />
          <span>Picture unavailable</span>
          <button type="button" class="link-btn" onClick={thumb.retry}>
            Try again
          </button>
        </div>
      ) : (
        <div class="pic-state" aria-label="Loading picture">
          <span class="spinner" aria-hidden="true" />
        </div>
      )}
      {props.overlay}
      {open ? <Lightbox body={body} onClose={() => setOpen(false)} /> : null}
    </div>
  );
}

/** Any other file: what it is, how big, and a button that saves it. */
export function FileAttachment(props: { body: FileMessageBody }) {
  const { body } = props;
  const name = fileName(body);
  const size = typeof body.size === 'number' ? bytes(body.size) : null;
  return (
    <div class="file-att" data-testid="file-attachment">
      <span class="file-icon" aria-hidden="true">
        <IconFile />
      </span>
      <span class="file-info">
        <span class="file-name" title={name} data-testid="file-name">
          {name}
        </span>
        <span class="file-sub">{size ? `${size} · ${kindOf(body)}` : kindOf(body)}</span>
      </span>
      <DownloadButton file={body.file} name={name} />
    </div>
  );
}
