/*
 * Building blocks every screen uses: the brand, the page header, the search
 * bar, loading / error / empty states, status pills, a value to copy and a side
 * drawer. Keeping them here is what makes the screens look like one product.
 * Lists are in lists.tsx, dialogs in dialogs.tsx.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { toast } from '../shared/ui';
import { useFocusOnMount } from './hooks';
import { Icon, type IconName } from './icons';

/** The logo, "pipit" and the "admin" tag; a link home where it sits in the frame. */
export function Brand(props: { href?: string; class?: string }) {
  const inner = (
    <>
      <img src="/favicon.svg" alt="" />
      <span>pipit</span>
      <span class="brand-tag">admin</span>
    </>
  );
  const cls = `brand${props.class ? ` ${props.class}` : ''}`;
  return props.href ? (
    <a class={cls} href={props.href}>
      {inner}
    </a>
  ) : (
    <div class={cls}>{inner}</div>
  );
}

export function PageHeader(props: { title: string; sub?: ComponentChildren; children?: ComponentChildren; back?: string }) {
  return (
    <header class="page-head">
      <div class="page-title">
        {props.back ? (
          <a class="btn btn-ghost btn-icon back" href={props.back} aria-label="Back">
            <Icon name="back" />
          </a>
        ) : null}
        <div>
          <h1>{props.title}</h1>
          {props.sub ? <p class="muted page-sub">{props.sub}</p> : null}
        </div>
      </div>
      {props.children ? <div class="page-actions">{props.children}</div> : null}
    </header>
  );
}

/** A search box over a list, any other filters after it, and a small spinner while a search is on its way. */
export function SearchBar(props: {
  value: string;
  onInput: (v: string) => void;
  label: string;
  placeholder: string;
  busy: boolean;
  children?: ComponentChildren;
}) {
  return (
    <div class="toolbar">
      <label class="search">
        <Icon name="search" size={16} />
        <span class="sr-only">{props.label}</span>
        <input
          class="input"
          type="search"
          value={props.value}
          placeholder={props.placeholder}
          maxLength={64}
          onInput={(e) => props.onInput(e.currentTarget.value)}
        />
      </label>
      {props.children}
      {props.busy ? <div class="spinner" aria-label="Searching" /> : null}
    </div>
  );
}

export function Loading(props: { label?: string }) {
  return (
    <div class="state" role="status">
      <div class="spinner" />
      <span class="muted">{props.label ?? 'Loading…'}</span>
    </div>
  );
}

export function ErrorBox(props: { message: string; onRetry?: () => void }) {
  return (
    <div class="error-box" role="alert">
      <Icon name="warn" />
      <span>{props.message}</span>
      {props.onRetry ? (
        <button type="button" class="btn btn-sm" onClick={props.onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** A form's error line, in words; `role="alert"` so a screen reader says it at once. */

/** An empty state; `card` puts it on a card of its own, where a page's table would be. */
export function Empty(props: { icon: IconName; title: string; card?: boolean; children?: ComponentChildren }) {
  const empty = (
    <div class="empty">
      <span class="empty-icon">
        <Icon name={props.icon} size={22} />
      </span>
      <strong class="empty-title">{props.title}</strong>
      {props.children ? <div class="muted">{props.children}</div> : null}
    </div>
  );
  return props.card ? <div class="card">{empty}</div> : empty;
}

/** A read-only value (a key) with a Copy button; without clipboard access it is selected for Ctrl+C. */
export function CopyField(props: { value: string; label: string; primary?: boolean; testid?: string }) {
  const [copied, setCopied] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied(true);
    } catch {
      // No clipboard access (an insecure origin, a denied permission): select it for Ctrl+C.
      field.current?.select();
      toast('Copy it by hand', 'The key is selected: press Ctrl+C (⌘C on a Mac).');
    }
  };
  return (
    <div class="input-row">
      <input
        ref={field}
        class="input mono"
        readOnly
        value={props.value}
        onFocus={(e) => e.currentTarget.select()}
        data-testid={props.testid}
        aria-label={props.label}
      />
      <button type="button" class={`btn${props.primary ? ' btn-primary' : ''}`} onClick={copy}>
        <Icon name="copy" size={16} /> {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/** A status pill: a coloured dot and a word. */
export function Status(props: { tone: 'ok' | 'danger' | 'warn' | 'muted' | 'accent'; children: ComponentChildren }) {
  return <span class={`pill pill-${props.tone}`}>{props.children}</span>;
}

/** A panel that slides in from the right (full screen on a phone); Escape closes it. */
export function Drawer(props: { title: string; sub?: ComponentChildren; onClose: () => void; children: ComponentChildren }) {
  const close = useFocusOnMount<HTMLButtonElement>();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // A modal opened from the drawer handles its own Escape first.
      if (e.key === 'Escape' && !document.querySelector('.modal-backdrop')) props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onClose]);
  return (
    <div class="drawer-backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <aside class="drawer" role="dialog" aria-modal="true" aria-label={props.title}>
        <header class="drawer-head">
          <div class="drawer-title">
            <h2>{props.title}</h2>
            {props.sub ? <div class="muted">{props.sub}</div> : null}
          </div>
          <button type="button" class="btn btn-ghost btn-icon" ref={close} onClick={props.onClose} aria-label="Close">
            <Icon name="close" />
          </button>
        </header>
        <div class="drawer-body">{props.children}</div>
      </aside>
    </div>
  );
}
