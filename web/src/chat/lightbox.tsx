/*
 * A picture at full size over everything. While the file loads, the thumbnail
 * (already in memory) stands in for it, scaled up. Escape, the close button or
 * a click anywhere but the bar closes it. Like the shared Modal it keeps the
 * keyboard inside while open and gives the focus back to the thumbnail after.
 *
 * Its keys are taken in the capture phase, so Escape closes the picture and
 * not also the details panel or a reply behind it.
 */
import type { FileMessageBody } from '@pipit/sdk';
import { createPortal } from 'preact/compat';
import { useEffect, useRef } from 'preact/hooks';
import { bytes } from '../shared/ui';
import { DownloadButton, fileName, useObjectUrl } from './file-view';
import { IconClose } from './icons';

export function Lightbox(props: { body: FileMessageBody; onClose: () => void }) {
  const { body } = props;
  const root = useRef<HTMLDivElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  const full = useObjectUrl(body.file, false);
  const thumb = useObjectUrl(body.file, true);
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  const name = fileName(body);

  useEffect(() => {
    const opener = document.activeElement;
    closeButton.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        onClose.current();
      } else if (e.key === 'Tab') {
        keepTabInside(root.current!, e);
      }
    };
    const onFocusIn = (e: FocusEvent) => {
      if (e.target instanceof Node && !root.current!.contains(e.target)) closeButton.current?.focus();
    };
    window.addEventListener('keydown', onKey, true);
    document.addEventListener('focusin', onFocusIn);
    return () => {
      window.removeEventListener('keydown', onKey, true);
      document.removeEventListener('focusin', onFocusIn);
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    };
  }, []);

  const shown = full.url ?? thumb.url;
  return createPortal(
    <div
      class="lightbox"
      role="dialog"
      aria-modal="true"
      aria-label={`Picture: ${name}`}
      ref={root}
      data-testid="lightbox"
      onClick={(e) => {
        if (!(e.target as HTMLElement).closest('.lightbox-bar')) props.onClose();
      }}
    >
      <div class="lightbox-bar">
        <span class="lightbox-title">
          <span class="lightbox-name">{name}</span>
          {typeof body.size === 'number' ? <span class="lightbox-size">{bytes(body.size)}</span> : null}
        </span>
        <DownloadButton file={body.file} name={name} class="btn btn-ghost lightbox-btn" label="Download" />
        <button type="button" class="btn btn-ghost btn-icon lightbox-btn" aria-label="Close" title="Close (Esc)" ref={closeButton} onClick={props.onClose} data-testid="lightbox-close">
          <IconClose />
        </button>
      </div>
      <div class="lightbox-stage">
        {shown ? (
          <img
            src={shown}
            alt={name}
            // The picture's own size, so the thumbnail standing in takes the same box as the file after it.
            width={typeof body.width === 'number' ? body.width : undefined}
            height={typeof body.height === 'number' ? body.height : undefined}
            class={`lightbox-img${full.url ? '' : ' is-preview'}`}
            data-testid="lightbox-image"
            data-full={full.url ? 'true' : 'false'}
          />
        ) : null}
        {!full.url && !full.error ? <span class="spinner lightbox-spinner" aria-label="Loading the full picture" /> : null}
        {full.error ? (
          <p class="lightbox-error" role="alert">
            Could not load the picture: {full.error}
          </p>
        ) : null}
      </div>
    </div>,
    document.body,
  );
}

const FOCUSABLE = 'a[href], button:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** Tab and Shift+Tab wrap around inside the lightbox. */
function keepTabInside(root: HTMLElement, e: KeyboardEvent): void {
  const items = [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
  const first = items[0];
  const last = items[items.length - 1];
  if (!first || !last) return;
  const active = document.activeElement;
  if (e.shiftKey && (active === first || !root.contains(active))) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (active === last || !root.contains(active))) {
    e.preventDefault();
    first.focus();
  }
}
