/*
 * Webhooks: the app's business systems told of events as they happen (an HTTP
 * POST per event, signed with the webhook's secret). A list with what waits and
 * what failed; create (URL, events, description), with the secret shown ONCE,
 * like an API key's: the server gives it only in that answer and on rotation.
 * Edit, disable, ping, rotate and the deliveries are on the webhook's own page
 * (webhook-detail.tsx), which shares the dialogs below. The before-send hook,
 * asked before a message is stored rather than told after, has its own page
 * (before-send.tsx), linked from the header.
 */
import { useState } from 'preact/hooks';
import { Modal, toast } from '../shared/ui';
import {
  createWebhook,
  deleteWebhook,
  errorText,
  listWebhooks,
  patchWebhook,
  pingWebhook,
  rotateWebhookSecret,
  type Webhook,
  type WebhookEvent,
  type WebhookPatch,
  type WebhookWithSecret,
} from './api';
import { Confirm, FormDialog } from './dialogs';
import { count } from './format';
import { usePaged } from './hooks';
import { Icon } from './icons';
import { DataTable, ListState } from './lists';
import { CopyField, Empty, PageHeader, Status } from './widgets';

export const EVENTS: { name: WebhookEvent; hint: string }[] = [
  { name: 'message.created', hint: 'A message is sent' },
  { name: 'message.edited', hint: 'A message is edited' },
  { name: 'message.recalled', hint: 'A message is recalled' },
  { name: 'conversation.created', hint: 'A direct chat or group starts' },
  { name: 'member.joined', hint: 'Someone joins or is added to a group' },
  { name: 'member.left', hint: 'Someone leaves or is removed' },
  { name: 'user.created', hint: 'An account is made or registered' },
  { name: 'push.finished', hint: 'Every delivery of a push is done' },
  { name: 'push.opened', hint: 'A user opens a push' },
  { name: 'push.clicked', hint: 'A user clicks a push' },
];

/** "All events", or the names; the `*` is what the server stores for "all". */
export function EventTags(props: { events: Webhook['events'] }) {
  if (props.events.includes('*')) return <span class="tag tag-accent">All events</span>;
  return (
    <span class="tags">
      {props.events.map((e) => (
        <span key={e} class="tag mono">
          {e}
        </span>
      ))}
    </span>
  );
}

export function EnabledStatus(props: { hook: Webhook }) {
  return props.hook.enabled ? <Status tone="ok">Enabled</Status> : <Status tone="muted">Disabled</Status>;
}

/** The webhook's name for people: its description, else its URL's host and path. */
export function hookName(h: Webhook): string {
  if (h.description) return h.description;
  try {
    const u = new URL(h.url);
    return `${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return h.url;
  }
}

export function Webhooks() {
  const hooks = usePaged((before) => listWebhooks(before), '');
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ hook: WebhookWithSecret; rotated: boolean } | null>(null);
  const [editing, setEditing] = useState<Webhook | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);

  return (
    <div class="page">
      <PageHeader title="Webhooks" sub="Your servers hear of messages, members, users and pushes as they happen.">
        <a class="btn" href="#/webhooks/before-send" title="Your server asked about each message before it is stored">
          <Icon name="shield" size={16} /> Before-send hook
        </a>
        <button type="button" class="btn" onClick={hooks.reload} aria-label="Refresh">
          <Icon name="refresh" size={16} />
        </button>
        <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
          <Icon name="plus" size={16} /> New webhook
        </button>
      </PageHeader>
      <ListState
        list={hooks}
        more={hooks.next !== null ? hooks.loadMore : null}
        empty={
          <Empty card icon="webhook" title="No webhooks yet">
            A webhook sends each event it subscribes to as a signed HTTP POST to your server.
            <div class="empty-action">
              <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
                Create a webhook
              </button>
            </div>
          </Empty>
        }
      >
        {(items) => (
          <DataTable
            testid="webhooks-table"
            columns={[
              'Webhook',
              'Events',
              'Status',
              { label: 'Queued', num: true },
              { label: 'Failed', num: true },
              { label: 'Actions', hidden: true },
            ]}
          >
            {items.map((h) => (
              <WebhookRow key={h.id} hook={h} onEdit={() => setEditing(h)} onDelete={() => setDeleting(h)} />
            ))}
          </DataTable>
        )}
      </ListState>
      {creating ? (
        <WebhookForm
          onClose={() => setCreating(false)}
          onSaved={(h) => {
            setCreating(false);
            setSecret({ hook: h as WebhookWithSecret, rotated: false });
            hooks.reload();
          }}
        />
      ) : null}
      {secret ? <SecretOnce hook={secret.hook} rotated={secret.rotated} onClose={() => setSecret(null)} /> : null}
      {editing ? (
        <WebhookForm
          hook={editing}
          onClose={() => setEditing(null)}
          onSaved={(h) => {
            setEditing(null);
            hooks.update((x) => x.id === h.id, h);
            toast('Webhook saved', hookName(h));
          }}
        />
      ) : null}
      {deleting ? (
        <DeleteWebhook
          hook={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => hooks.update((x) => x.id === deleting.id, null)}
        />
      ) : null}
    </div>
  );
}

function WebhookRow(props: { hook: Webhook; onEdit: () => void; onDelete: () => void }) {
  const h = props.hook;
  const name = hookName(h);
  return (
    <tr class={h.enabled ? '' : 'row-dim'} data-id={h.id}>
      <td data-label="Webhook" class="cell-main">
        <a href={`#/webhooks/${h.id}`} class="row-anchor">
          <strong class="ellipsis">{name}</strong>
          <span class="faint mono ellipsis webhook-url" title={h.url}>
            {h.url}
          </span>
        </a>
      </td>
      <td data-label="Events">
        <EventTags events={h.events} />
      </td>
      <td data-label="Status">
        <EnabledStatus hook={h} />
      </td>
      <td data-label="Queued" class="num">
        {count(h.queued)}
      </td>
      <td data-label="Failed" class={`num${h.failed > 0 ? ' danger-text' : ''}`}>
        {count(h.failed)}
      </td>
      <td class="cell-actions">
        <div class="row-actions">
          <a class="btn btn-sm" href={`#/webhooks/${h.id}`} aria-label={`Deliveries of ${name}`}>
            Deliveries
          </a>
          <button type="button" class="btn btn-sm" onClick={props.onEdit} aria-label={`Edit ${name}`}>
            Edit
          </button>
          <button type="button" class="btn btn-sm btn-ghost danger-text" onClick={props.onDelete} aria-label={`Delete ${name}`}>
            <Icon name="trash" size={16} />
          </button>
        </div>
      </td>
    </tr>
  );
}

/** Queues a `ping` now; a disabled webhook is refused by the server (409), so the button is off then. */
export function PingButton(props: { hook: Webhook; onPinged?: (delivery: number) => void }) {
  const [busy, setBusy] = useState(false);
  const ping = async () => {
    setBusy(true);
    try {
      const { delivery } = await pingWebhook(props.hook.id);
      toast('Ping queued', `Delivery ${delivery} goes to ${props.hook.url} now.`);
      props.onPinged?.(delivery);
    } catch (err) {
      toast('Could not send a ping', errorText(err), true);
    } finally {
      setBusy(false);
    }
  };
  return (
    <button
      type="button"
      class="btn"
      onClick={ping}
      disabled={busy || !props.hook.enabled}
      title={props.hook.enabled ? 'Send a ping event now' : 'Enable the webhook to ping it'}
    >
      <Icon name="send" size={16} /> {busy ? 'Pinging…' : 'Send ping'}
    </button>
  );
}

/** The events a form has ticked: all, or some of the list. */
function EventPicker(props: { all: boolean; chosen: Set<WebhookEvent>; onAll: (all: boolean) => void; onToggle: (e: WebhookEvent) => void }) {
  return (
    <fieldset class="field checks">
      <legend>Events</legend>
      <label class="check">
        <input type="checkbox" checked={props.all} onChange={(e) => props.onAll(e.currentTarget.checked)} data-testid="event-all" />
        <span>
          <strong>All events</strong>
          <span class="faint"> — every event below, and those later versions add</span>
        </span>
      </label>
      <div class="event-grid">
        {EVENTS.map((e) => (
          <label key={e.name} class="check">
            <input
              type="checkbox"
              checked={props.all || props.chosen.has(e.name)}
              disabled={props.all}
              onChange={() => props.onToggle(e.name)}
            />
            <span class="who-text">
              <strong class="mono event-name">{e.name}</strong>
              <span class="faint">{e.hint}</span>
            </span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

/**
 * Create (no `hook`) or edit. Creating answers with the secret, which the
 * caller shows once; an edit sends only what changed.
 */
export function WebhookForm(props: { hook?: Webhook; onClose: () => void; onSaved: (h: Webhook | WebhookWithSecret) => void }) {
  const old = props.hook;
  const [url, setUrl] = useState(old?.url ?? '');
  const [all, setAll] = useState(old ? old.events.includes('*') : false);
  const [chosen, setChosen] = useState<Set<WebhookEvent>>(
    new Set(old ? (old.events.filter((e) => e !== '*') as WebhookEvent[]) : ['message.created']),
  );
  const [description, setDescription] = useState(old?.description ?? '');
  const [enabled, setEnabled] = useState(old?.enabled ?? true);

  const toggle = (e: WebhookEvent) => {
    const next = new Set(chosen);
    if (next.has(e)) next.delete(e);
    else next.add(e);
    setChosen(next);
  };

  const save = async () => {
    const events: Webhook['events'] = all ? ['*'] : EVENTS.map((e) => e.name).filter((e) => chosen.has(e));
    if (events.length === 0) throw new Error('Pick at least one event, or all of them.');
    const desc = description.trim();
    if (!old) {
      props.onSaved(await createWebhook({ url: url.trim(), events, ...(desc !== '' ? { description: desc } : {}) }));
      return;
    }
    const patch: WebhookPatch = {};
    if (url.trim() !== old.url) patch.url = url.trim();
    if (events.join(',') !== old.events.join(',')) patch.events = events;
    if (desc !== (old.description ?? '')) patch.description = desc === '' ? null : desc;
    if (enabled !== old.enabled) patch.enabled = enabled;
    props.onSaved(Object.keys(patch).length === 0 ? old : await patchWebhook(old.id, patch));
  };

  return (
    <FormDialog
      title={old ? 'Edit webhook' : 'New webhook'}
      onClose={props.onClose}
      onSubmit={save}
      action={old ? 'Save' : 'Create webhook'}
      busyLabel={old ? 'Saving…' : 'Creating…'}
      testid={old ? 'edit-webhook' : 'create-webhook'}
    >
      <label class="field">
        <span>URL</span>
        <input
          class="input mono"
          type="url"
          name="url"
          required
          maxLength={2048}
          placeholder="https://billing.example.com/pipit-events"
          value={url}
          onInput={(e) => setUrl(e.currentTarget.value)}
        />
        <small class="faint">
          Where each event is POSTed. <span class="mono">https://</span>, on a public address unless the server allows private
          ones.
        </small>
      </label>
      <EventPicker all={all} chosen={chosen} onAll={setAll} onToggle={toggle} />
      <label class="field">
        <span>Description (optional)</span>
        <input
          class="input"
          name="description"
          maxLength={256}
          placeholder="e.g. CRM sync"
          value={description}
          onInput={(e) => setDescription(e.currentTarget.value)}
        />
      </label>
      {old ? (
        <label class="check">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
          <span>
            <strong>Enabled</strong>
            <span class="faint"> — off: no new events are queued for it (those already queued still go)</span>
          </span>
        </label>
      ) : null}
    </FormDialog>
  );
}

/** The secret, once: after a create, or after a rotation. */
export function SecretOnce(props: { hook: WebhookWithSecret; rotated: boolean; onClose: () => void }) {
  return (
    <Modal title={props.rotated ? 'Copy the new signing secret' : 'Copy the signing secret'} onClose={props.onClose}>
      <div class="key-once" data-testid="secret-once">
        <div class="warn-box" role="note">
          <Icon name="warn" />
          <span>
            This is the only time the secret is shown: copy it now and store it like a password.
            {props.rotated ? ' The old secret no longer signs deliveries: give your server this one.' : ''}
          </span>
        </div>
        <label class="field">
          <span>{hookName(props.hook)}</span>
          <CopyField value={props.hook.secret} label="Signing secret" primary testid="webhook-secret" />
        </label>
        <p class="faint">
          Each delivery carries <span class="mono">X-Pipit-Signature: t=…,v1=…</span>, an HMAC-SHA256 with this secret of the
          timestamp, a dot and the body. Check it before trusting a delivery (docs/operations.md, “Webhooks”).
        </p>
      </div>
      <div class="modal-actions">
        <button type="button" class="btn" onClick={props.onClose}>
          I have saved it
        </button>
      </div>
    </Modal>
  );
}

export function DeleteWebhook(props: { hook: Webhook; onClose: () => void; onDeleted: () => void }) {
  const name = hookName(props.hook);
  return (
    <Confirm
      title={`Delete “${name}”?`}
      confirm="Delete webhook"
      danger
      onClose={props.onClose}
      onConfirm={async () => {
        await deleteWebhook(props.hook.id);
        props.onDeleted();
        toast('Webhook deleted', `${name} gets no more events.`);
      }}
    >
      No more events go to <span class="mono break">{props.hook.url}</span>. Its queued deliveries are dropped and its
      delivery history is deleted. This cannot be undone.
    </Confirm>
  );
}

export function RotateSecret(props: { hook: Webhook; onClose: () => void; onRotated: (h: WebhookWithSecret) => void }) {
  return (
    <Confirm
      title={`Rotate the secret of “${hookName(props.hook)}”?`}
      confirm="Rotate secret"
      danger
      onClose={props.onClose}
      onConfirm={async () => props.onRotated(await rotateWebhookSecret(props.hook.id))}
    >
      A new secret is made and shown once. The current one stops signing at once: every delivery from now on, retries
      included, is signed with the new secret, and your server refuses them until it has it.
    </Confirm>
  );
}
