/*
 * UI pieces the chat app and the admin console share: avatars, a modal, toasts,
 * and small formatting helpers. Everything user-supplied is rendered as text by
 * Preact (never as HTML), which is what keeps hostile names and messages inert.
 */
import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
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

export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onClose]);
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class="modal card" role="dialog" aria-modal="true" aria-label={props.title}>
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
