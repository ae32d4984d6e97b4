/*
 * Building blocks every screen uses: the page header, search box, loading /
 * error / empty states, a confirm dialog for destructive actions, and a side
 * drawer. Keeping them here is what makes the screens look like one product.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Modal } from '../shared/ui';
import { errorText } from './api';
import { useFocusOnMount } from './hooks';
import { Icon, type IconName } from './icons';

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

export function SearchBox(props: { value: string; onInput: (v: string) => void; label: string; placeholder: string }) {
  return (
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

export function Empty(props: { icon: IconName; title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <span class="empty-icon">
        <Icon name={props.icon} size={22} />
      </span>
      <strong class="empty-title">{props.title}</strong>
      {props.children ? <div class="muted">{props.children}</div> : null}
    </div>
  );
}

/** A status pill: a coloured dot and a word. */
export function Status(props: { tone: 'ok' | 'danger' | 'warn' | 'muted' | 'accent'; children: ComponentChildren }) {
  return <span class={`pill pill-${props.tone}`}>{props.children}</span>;
}

/**
 * Asks before a destructive action. The action runs here, so its error shows in
 * the dialog (which stays open) instead of in a toast the user may miss.
 */
export function Confirm(props: {
  title: string;
  children: ComponentChildren;
  confirm: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const cancel = useFocusOnMount<HTMLButtonElement>();
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
      props.onClose();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <div class="confirm-text">{props.children}</div>
      {error ? <p class="error-text" role="alert">{error}</p> : null}
      <div class="modal-actions">
        <button type="button" class="btn" ref={cancel} onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          class={`btn ${props.danger ? 'btn-danger-solid' : 'btn-primary'}`}
          disabled={busy}
          onClick={run}
          data-testid="confirm"
        >
          {busy ? 'Working…' : props.confirm}
        </button>
      </div>
    </Modal>
  );
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

/** "Load more" under a paged table, with its own busy and error state. */
export function LoadMore(props: { onLoad: () => Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onLoad();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="load-more">
      {error ? <span class="error-text">{error}</span> : null}
      <button type="button" class="btn" onClick={load} disabled={busy}>
        {busy ? 'Loading…' : 'Load more'}
      </button>
    </div>
  );
}
