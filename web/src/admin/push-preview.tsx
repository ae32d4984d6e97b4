/*
 * A live preview of the push as a phone's lock screen shows it, one tab per A/B
 * variant (and the holdout, who see nothing). The image is never loaded: the
 * page's CSP allows only our own images, and an admin's preview should not ping
 * a third-party host anyway, so its place and host are shown instead.
 */
import { useState } from 'preact/hooks';
import { percent } from './format';
import { Icon } from './icons';
import { holdoutWeight, notificationFor, variantWeight, type Draft } from './push-draft';

function host(url: string): string {
  try {
    const u = new URL(url);
    return u.host + (u.pathname !== '/' ? u.pathname : '');
  } catch {
    return url;
  }
}

function when(d: Draft): Date {
  if (d.schedule === 'at' && d.at) return new Date(d.at);
  if (d.schedule === 'local' && d.local) return new Date(d.local);
  return new Date();
}

/** "9:41": a lock screen shows no AM/PM. */
function clock(d: Date): string {
  return new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' })
    .formatToParts(d)
    .filter((p) => p.type !== 'dayPeriod')
    .map((p) => p.value)
    .join('')
    .trim();
}

export function PushPreview(props: { draft: Draft }) {
  const d = props.draft;
  const [tab, setTab] = useState(0); // a variant's index, or -2: the holdout
  const total = d.variants.reduce((s, v) => s + variantWeight(v), 0) + holdoutWeight(d);
  // With variants every user gets one of them (or the holdout), so there is no "base" tab.
  const current =
    d.variants.length === 0 ? -1 : tab === -2 && holdoutWeight(d) > 0 ? -2 : Math.min(Math.max(tab, 0), d.variants.length - 1);
  const variant = current >= 0 ? d.variants[current]! : null;
  const n = notificationFor(d, variant);
  const at = when(d);
  const tabs = [
    ...d.variants.map((v, i) => ({ id: i, label: v.name.trim() || `Variant ${i + 1}`, weight: variantWeight(v) })),
    ...(d.variants.length > 0 && holdoutWeight(d) > 0 ? [{ id: -2, label: 'Holdout', weight: holdoutWeight(d) }] : []),
  ];
  // Tabs pattern: arrow keys move the selection and the focus.
  const onKey = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    const pos = tabs.findIndex((t) => t.id === current);
    const next = tabs[(pos + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
    if (!next) return;
    e.preventDefault();
    setTab(next.id);
    document.getElementById(`preview-tab-${next.id}`)?.focus();
  };

  return (
    <div class="preview">
      <h2 class="sr-only">Preview</h2>
      {tabs.length > 0 ? (
        <div class="seg preview-tabs" role="tablist" aria-label="Preview variant" onKeyDown={onKey}>
          {tabs.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              id={`preview-tab-${t.id}`}
              aria-selected={current === t.id}
              aria-controls="preview-panel"
              tabIndex={current === t.id ? 0 : -1}
              class="seg-btn"
              onClick={() => setTab(t.id)}
            >
              {t.label}
              <span class="faint"> {percent(t.weight, total)}</span>
            </button>
          ))}
        </div>
      ) : null}
      <div
        class="phone"
        data-testid="preview"
        id="preview-panel"
        role={tabs.length > 0 ? 'tabpanel' : undefined}
        aria-labelledby={tabs.length > 0 ? `preview-tab-${current}` : undefined}
      >
        <div class="phone-notch" />
        <div class="lock-clock">{clock(at)}</div>
        <div class="lock-date">{at.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long' })}</div>
        {current === -2 ? (
          <div class="holdout-note">Users in the holdout get nothing: compare the variants against them.</div>
        ) : (
          <div class="notif">
            <div class="notif-head">
              <img src="/favicon.svg" alt="" class="notif-icon" />
              <span class="notif-app">PIPIT</span>
              {n.category ? <span class="notif-cat">{n.category}</span> : null}
              <span class="notif-time">{d.schedule === 'now' ? 'now' : 'scheduled'}</span>
            </div>
            <div class="notif-title">{n.title || <span class="notif-placeholder">Your title</span>}</div>
            {n.body ? <div class="notif-body">{n.body}</div> : null}
            {n.image ? (
              <div class="notif-image" title={n.image}>
                <Icon name="image" size={20} />
                <span class="ellipsis">{host(n.image)}</span>
              </div>
            ) : null}
            {n.url ? <div class="notif-url ellipsis">Opens {host(n.url)}</div> : null}
          </div>
        )}
        {d.priority === 'high' ? <div class="lock-foot">High priority</div> : null}
      </div>
    </div>
  );
}
