/*
 * Notification settings (GET/PUT /v1/me/notification-settings) and browser
 * notifications. PUT replaces everything, so the form edits a copy of what was
 * loaded and sends it whole: keys it does not show (caps, muted chats, the
 * time zone for scheduled pushes) go back unchanged.
 *
 * The categories listed: "chat", those the app describes (GET /v1/push/categories),
 * those the settings mention, and those seen in in-app notifications on this
 * browser (a push may use a category the app never described).
 */
import type { NotificationSettings } from '@pipit/sdk';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ErrorText, FormActions, Modal, toast } from '../shared/ui';
import { errorText } from './format';
import { useStore } from './hooks';
import { seenCategories } from './notifications';
import { enablePush, pushEnabledHere, pushState } from './push';

const CATEGORY_NAMES: Record<string, string> = { chat: 'Chat messages' };

export function SettingsModal(props: { onClose: () => void }) {
  const store = useStore();
  const [draft, setDraft] = useState<NotificationSettings | null>(store.settings);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [described, setDescribed] = useState<string[]>([]);

  useEffect(() => {
    void store.loadSettings().then(() => setDraft((d) => d ?? store.settings));
    store.client
      .call<{ categories: { name: string }[] }>('GET', '/v1/push/categories')
      .then((r) => setDescribed(r.categories.map((c) => c.name)))
      .catch(() => {}); // the list still has what the settings and notifications name
  }, []);

  const categories = useMemo(() => {
    const names = new Set(['chat', ...described, ...Object.keys(draft?.categories ?? {}), ...seenCategories()]);
    return [...names].sort((a, b) => (a === 'chat' ? -1 : b === 'chat' ? 1 : a.localeCompare(b)));
  }, [draft !== null, described]);

  const save = async (e: Event) => {
    e.preventDefault();
    if (!draft) return;
    setBusy(true);
    setError(null);
    try {
      await store.saveSettings(draft);
      toast('Notification settings saved');
      props.onClose();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <Modal title="Notification settings" onClose={props.onClose}>
      {!draft ? (
        store.settingsError ? (
          <div role="alert">
            <p class="error-text">Could not load your settings. {store.settingsError}</p>
            <button class="btn" onClick={() => void store.loadSettings().then(() => setDraft(store.settings))}>
              Try again
            </button>
          </div>
        ) : (
          <div class="empty">
            <span class="spinner" aria-hidden="true" />
            Loading settings…
          </div>
        )
      ) : (
        <form onSubmit={save} data-testid="settings-form">
          <BrowserPush />
          <fieldset class="settings-group">
            <legend>Categories</legend>
            {categories.map((c) => (
              <label key={c} class="switch-row">
                <span class="switch-label">{CATEGORY_NAMES[c] ?? c}</span>
                <input
                  type="checkbox"
                  role="switch"
                  class="switch"
                  checked={draft.categories[c] !== false}
                  onChange={(e) => setDraft({ ...draft, categories: { ...draft.categories, [c]: e.currentTarget.checked } })}
                  data-testid={`category-${c}`}
                />
              </label>
            ))}
          </fieldset>
          <QuietHours draft={draft} setDraft={setDraft} />
          <fieldset class="settings-group">
            <legend>Privacy</legend>
            <label class="switch-row">
              <span>
                <span class="switch-label">Private previews</span>
                <span class="faint">Notifications say “New message” instead of who wrote what.</span>
              </span>
              <input
                type="checkbox"
                role="switch"
                class="switch"
                checked={draft.private_previews}
                onChange={(e) => setDraft({ ...draft, private_previews: e.currentTarget.checked })}
                data-testid="private-previews"
              />
            </label>
          </fieldset>
          <ErrorText error={error} />
          <FormActions
            onCancel={props.onClose}
            label="Save"
            disabled={busy || (draft.quiet_hours !== null && draft.quiet_hours.start === draft.quiet_hours.end)}
            testid="save-settings"
          />
        </form>
      )}
    </Modal>
  );
}

function zones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  const list = intl.supportedValuesOf ? intl.supportedValuesOf('timeZone') : [];
  return list.includes('UTC') ? list : ['UTC', ...list];
}

function QuietHours(props: { draft: NotificationSettings; setDraft: (s: NotificationSettings) => void }) {
  const { draft, setDraft } = props;
  const q = draft.quiet_hours;
  const allZones = useMemo(zones, []);
  const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const set = (patch: Partial<NonNullable<NotificationSettings['quiet_hours']>>) => setDraft({ ...draft, quiet_hours: { ...q!, ...patch } });
  const same = q !== null && q.start === q.end;
  return (
    <fieldset class="settings-group">
      <legend>Quiet hours</legend>
      <label class="switch-row">
        <span>
          <span class="switch-label">Hold notifications at night</span>
          <span class="faint">They arrive when quiet hours end. Urgent ones still come through.</span>
        </span>
        <input
          type="checkbox"
          role="switch"
          class="switch"
          checked={q !== null}
          onChange={(e) => setDraft({ ...draft, quiet_hours: e.currentTarget.checked ? { start: '22:00', end: '07:00', tz: draft.timezone ?? localZone } : null })}
          data-testid="quiet-hours"
        />
      </label>
      {q ? (
        <div class="quiet-grid">
          <label class="field">
            <span>From</span>
            <input
              class="input"
              type="time"
              required
              value={q.start}
              onInput={(e) => set({ start: e.currentTarget.value })}
              data-testid="quiet-start"
            />
          </label>
          <label class="field">
            <span>Until</span>
            <input class="input" type="time" required value={q.end} onInput={(e) => set({ end: e.currentTarget.value })} data-testid="quiet-end" />
          </label>
          <label class="field quiet-zone">
            <span>Time zone</span>
            <select class="input" value={q.tz} onChange={(e) => set({ tz: e.currentTarget.value })} data-testid="quiet-tz">
              {(allZones.includes(q.tz) ? allZones : [q.tz, ...allZones]).map((z) => (
                <option key={z} value={z}>
                  {z.replace(/_/g, ' ')}
                </option>
              ))}
            </select>
          </label>
          {same ? (
            <p class="error-text quiet-zone" role="alert">
              Start and end must be different times.
            </p>
          ) : null}
        </div>
      ) : null}
    </fieldset>
  );
}

function BrowserPush() {
  const store = useStore();
  const [state, setState] = useState(pushState);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(pushEnabledHere() && state === 'granted');

  const enable = async () => {
    setBusy(true);
    setError(null);
    try {
      await enablePush(store.client);
      setDone(true);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
    setState(pushState());
    setBusy(false);
  };

  let hint: string;
  if (state === 'unsupported') hint = 'This browser cannot show push notifications.';
  else if (done) hint = 'This browser gets notifications when pipit is closed.';
  else if (state === 'denied') hint = 'Notifications are blocked for this site in the browser’s settings.';
  else hint = 'Get notified when pipit is closed.';
  return (
    <fieldset class="settings-group">
      <legend>This browser</legend>
      <div class="switch-row">
        <span>
          <span class="switch-label">Browser notifications</span>
          <span class="faint" data-testid="push-hint">
            {hint}
          </span>
        </span>
        {done ? (
          <span class="tag tag-ok">On</span>
        ) : (
          <button type="button" class="btn btn-sm" disabled={busy || state === 'unsupported'} onClick={() => void enable()} data-testid="enable-push">
            {busy ? <span class="spinner" aria-hidden="true" /> : null}
            {busy ? 'Enabling…' : 'Enable'}
          </button>
        )}
      </div>
      {error ? (
        <p class="error-text" role="alert" data-testid="push-error">
          {error}
        </p>
      ) : null}
    </fieldset>
  );
}
