/*
 * UI pieces the chat app and the admin console share: avatars, a modal, toasts,
 * and small formatting helpers. Everything user-supplied is rendered as text by
 * Preact (never as HTML), which is what keeps hostile names and messages inert.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { signalList } from './signal';

const AVATAR_COLOURS = ['#2563eb', '#7c3aed', '#db2777', '#ea580c', '#16a34a', '#0891b2', '#4f46e5', '#b45309'];

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) {
    h = (h * 31 + text.charCodeAt(i)) | 0;
  }
  return Math.abs(h);
}

/** Up to two letters from a name: "Ada Lovelace" → "AL", "bob" → "B". */
export function initials(name: string): string {
  const words = name.trim().split(/[\s._-]+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0]![0], words[1]![0]] : [name.trim()[0] ?? '?'];
  return letters.join('').toUpperCase();
}

export function Avatar(props: { name: string; size?: 'sm' | 'lg'; online?: boolean }) {
  const cls = `avatar${props.size ? ` avatar-${props.size}` : ''}`;
  return (
    <span class={cls} style={{ background: AVATAR_COLOURS[hash(props.name) % AVATAR_COLOURS.length] }} aria-hidden="true">
      {initials(props.name)}
      {props.online ? <span class="dot" title="online" /> : null}
    </span>
  );
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]';
const FIELDS = 'input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled])';

/** What Tab can reach inside `root`, in order: shown, enabled, not taken out with tabindex -1. */
function tabbable(root: HTMLElement, selector = FOCUSABLE): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(selector)].filter((el) => el.tabIndex >= 0 && el.getClientRects().length > 0);
}

/** Only the innermost open modal (one may open from another's content) answers keys. */
function isTopModal(dialog: HTMLElement): boolean {
  const all = document.querySelectorAll('.modal');
  return all[all.length - 1] === dialog;
}

/** Tab and Shift+Tab wrap around inside the dialog instead of reaching the page behind it. */
function keepTabInside(dialog: HTMLElement, e: KeyboardEvent): void {
  const items = tabbable(dialog);
  const first = items[0];
  const last = items[items.length - 1];
  const active = document.activeElement;
  const inside = active !== dialog && dialog.contains(active);
  if (!first || !last) {
    e.preventDefault();
    dialog.focus();
  } else if (e.shiftKey && (active === first || !inside)) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (active === last || !inside)) {
    e.preventDefault();
    first.focus();
  }
}

/**
 * A dialog over the page. While it is open the keyboard stays inside it; on open
 * it focuses the caller's [autofocus] element, else its first field, else its
 * first button (a caller that focuses something itself wins); on close the focus
 * goes back to where it was, usually the button that opened it.
 */
export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren }) {
  const dialog = useRef<HTMLDivElement>(null);
  // Read while rendering too, in case the content moved the focus in before our effect ran.
  const [focusedAtRender] = useState(() => document.activeElement);
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  useEffect(() => {
    const root = dialog.current!;
    const focused = document.activeElement;
    // Now rather than at render: a modal that replaced another one (a form, then its result) sees
    // the focus its predecessor gave back to the page.
    const opener = focused && focused !== document.body && !root.contains(focused) ? focused : focusedAtRender;
    if (!root.contains(focused)) {
      const start = root.querySelector<HTMLElement>('[autofocus]') ?? tabbable(root, FIELDS)[0] ?? tabbable(root)[0] ?? root;
      start.focus();
    }
    const onKey = (e: KeyboardEvent) => {
      if (!isTopModal(root)) return;
      if (e.key === 'Escape') onClose.current();
      else if (e.key === 'Tab') keepTabInside(root, e);
    };
    // Tab alone misses a few ways out (the browser's own order in a radio group, a script
    // focusing the page behind): whatever takes the focus outside, it comes back in.
    const onFocusIn = (e: FocusEvent) => {
      if (isTopModal(root) && e.target instanceof Node && !root.contains(e.target)) (tabbable(root)[0] ?? root).focus();
    };
    window.addEventListener('keydown', onKey);
    document.addEventListener('focusin', onFocusIn);
    return () => {
      window.removeEventListener('keydown', onKey);
      document.removeEventListener('focusin', onFocusIn);
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    };
  }, []);
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class="modal card" role="dialog" aria-modal="true" aria-label={props.title} ref={dialog} tabIndex={-1}>
        <h2>{props.title}</h2>
        {props.children}
      </div>
    </div>
  );
}

export interface Toast {
  id: number;
  title: string;
  body?: string;
  error?: boolean;
}

export const toasts = signalList<Toast>();
let nextToast = 1;

/** Shows a toast for a few seconds. */
export function toast(title: string, body?: string, error = false): void {
  const t: Toast = { id: nextToast++, title, ...(body !== undefined ? { body } : {}), error };
  toasts.push(t);
  setTimeout(() => toasts.remove((x) => x.id === t.id), error ? 8000 : 5000);
}

export function Toasts() {
  const list = toasts.use();
  return (
    <div class="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast${t.error ? ' toast-error' : ''}`}>
          <div class="toast-title">{t.title}</div>
          {t.body ? <div class="muted">{t.body}</div> : null}
        </div>
      ))}
    </div>
  );
}

/**
 * A line icon on a 24-unit grid, in the text's colour: inline SVG (no icon font,
 * which the CSP would not load anyway). Decorative: the control carries the label.
 */
export function IconSvg(props: { size: number; stroke?: number; class?: string | undefined; children: ComponentChildren }) {
  return (
    <svg
      class={props.class}
      width={props.size}
      height={props.size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      stroke-width={props.stroke ?? 2}
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {props.children}
    </svg>
  );
}

/** An error in words under a form, announced to screen readers; nothing when there is none. */
export function ErrorText(props: { error: string | null | undefined }) {
  return props.error ? (
    <p class="error-text" role="alert">
      {props.error}
    </p>
  ) : null;
}

/** A form's Cancel and submit buttons; `inline` sits under a panel's form rather than in a modal. */
export function FormActions(props: {
  onCancel: () => void;
  label: ComponentChildren;
  disabled?: boolean;
  danger?: boolean | undefined;
  testid?: string | undefined;
  inline?: boolean;
}) {
  return (
    <div class={props.inline ? 'form-actions' : 'modal-actions'}>
      <button type="button" class="btn" onClick={props.onCancel}>
        Cancel
      </button>
      <button
        type="submit"
        class={`btn ${props.danger ? 'btn-danger-solid' : 'btn-primary'}`}
        disabled={props.disabled}
        data-testid={props.testid}
      >
        {props.label}
      </button>
    </div>
  );
}

/** "14:05" today, "Mon 14:05" this week, else "3 Dec". */
export function shortTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const age = now - ms;
  const hm = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (new Date(now).toDateString() === d.toDateString()) return hm;
  if (age < 6 * 86400_000) return `${d.toLocaleDateString(undefined, { weekday: 'short' })} ${hm}`;
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
