/*
 * One webhook (#/webhooks/12): what it sends where, its actions (ping, edit,
 * enable/disable, rotate the secret, delete) and its deliveries, newest first,
 * by state, with each one's last answer and a Retry on those that failed.
 * Deliveries move on their own (retries back off from seconds to minutes), so
 * while the first page shows one queued or being sent the page refreshes every
 * 2 s, for at most about 5 minutes; the Refresh button restarts that.
 * A bot's own webhook (#/webhooks/12/bot, from the Bots page) shows the same,
 * but its URL is edited on the Bots page and its events are fixed (the
 * messages of the bot's conversations), so it has no Edit.
 */
import { PipitError } from '@pipit/sdk';
import { useEffect, useRef, useState } from 'preact/hooks';
import { toast } from '../shared/ui';
import {
  errorText,
  getWebhook,
  listWebhookDeliveries,
  patchWebhook,
  retryWebhookDelivery,
  type DeliveryState,
  type Webhook,
  type WebhookDelivery,
  type WebhookWithSecret,
} from './api';
import { ago, count, dateTime } from './format';
import { go, useAsync, usePaged } from './hooks';
import { Icon } from './icons';
import { DataTable, ListState } from './lists';
import {
  DeleteWebhook,
  EnabledStatus,
  EventTags,
  PingButton,
  RotateSecret,
  SecretOnce,
  WebhookForm,
  hookName,
} from './webhooks';
import { Empty, ErrorBox, Loading, PageHeader, Status } from './widgets';

const PAGE = 50;
const REFRESH_MS = 2000;
const MAX_REFRESHES = 150;

const STATES: { value: DeliveryState | ''; label: string }[] = [
  { value: '', label: 'All states' },
  { value: 'queued', label: 'Queued' },
  { value: 'sending', label: 'Sending' },
  { value: 'delivered', label: 'Delivered' },
  { value: 'failed', label: 'Failed' },
];

type Ask = 'edit' | 'rotate' | 'delete';

export function WebhookDetail(props: { id: number; ofBot?: boolean }) {
  const hook = useAsync(() => getWebhook(props.id), [props.id]);
  const [ask, setAsk] = useState<Ask | null>(null);
  const [secret, setSecret] = useState<WebhookWithSecret | null>(null);
  const [busy, setBusy] = useState(false);
  const [pings, setPings] = useState(0);
  const h = hook.data;
  const back = props.ofBot ? '#/bots' : '#/webhooks';

  if (!h) {
    const gone = hook.error !== null && /no such|not found/i.test(hook.error);
    return (
      <div class="page">
        <PageHeader title="Webhook" back={back} />
        {hook.error ? (
          gone ? (
            <Empty card icon="webhook" title="No such webhook">
              It was deleted, or belongs to another app.{' '}
              {props.ofBot ? <a href="#/bots">Back to the bots</a> : <a href="#/webhooks">Back to the webhooks</a>}
            </Empty>
          ) : (
            <ErrorBox message={hook.error} onRetry={hook.reload} />
          )
        ) : (
          <Loading />
        )}
      </div>
    );
  }

  const setEnabled = async (enabled: boolean) => {
    setBusy(true);
    try {
      await patchWebhook(h.id, { enabled });
      hook.reload();
      toast(enabled ? 'Webhook enabled' : 'Webhook disabled', enabled ? 'New events go to it again.' : 'No new events are queued for it; those already queued still go.');
    } catch (err) {
      toast(enabled ? 'Could not enable the webhook' : 'Could not disable the webhook', errorText(err), true);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="page" data-testid="webhook-detail">
      <PageHeader
        title={props.ofBot ? `Bot webhook: ${hookName(h)}` : hookName(h)}
        back={back}
        sub={<span class="mono break">{h.url}</span>}
      >
        <PingButton hook={h} onPinged={() => setPings((n) => n + 1)} />
        {props.ofBot ? null : (
          <button type="button" class="btn" onClick={() => setAsk('edit')}>
            Edit
          </button>
        )}
        {h.enabled ? (
          <button type="button" class="btn" disabled={busy} onClick={() => void setEnabled(false)}>
            Disable
          </button>
        ) : (
          <button type="button" class="btn" disabled={busy} onClick={() => void setEnabled(true)}>
            Enable
          </button>
        )}
        <button type="button" class="btn" onClick={() => setAsk('rotate')}>
          <Icon name="key" size={16} /> Rotate secret
        </button>
        <button type="button" class="btn btn-danger" onClick={() => setAsk('delete')}>
          <Icon name="trash" size={16} /> Delete
        </button>
      </PageHeader>
      <section class="card panel" data-testid="webhook-facts">
        <dl class="kv">
          <dt>Status</dt>
          <dd>
            <EnabledStatus hook={h} />
          </dd>
          <dt>Events</dt>
          <dd>
            <EventTags events={h.events} />
            {props.ofBot ? <div class="faint">The messages of the bot's conversations, not its own.</div> : null}
          </dd>
          <dt>Description</dt>
          <dd>{h.description ?? <span class="faint">None</span>}</dd>
          <dt>Waiting</dt>
          <dd data-testid="webhook-queued">{count(h.queued)} queued or being sent</dd>
          <dt>Failed</dt>
          <dd data-testid="webhook-failed" class={h.failed > 0 ? 'danger-text' : ''}>
            {count(h.failed)} kept as failed
          </dd>
          <dt>Created</dt>
          <dd>{dateTime(h.created_at)}</dd>
          <dt>Changed</dt>
          <dd>{dateTime(h.updated_at)}</dd>
          <dt>Id</dt>
          <dd class="mono">{h.id}</dd>
        </dl>
      </section>
      <Deliveries hook={h} pings={pings} onChange={hook.reload} />
      {ask === 'edit' ? (
        <WebhookForm
          hook={h}
          onClose={() => setAsk(null)}
          onSaved={(saved) => {
            setAsk(null);
            hook.reload();
            toast('Webhook saved', hookName(saved));
          }}
        />
      ) : null}
      {ask === 'rotate' ? <RotateSecret hook={h} onClose={() => setAsk(null)} onRotated={(x) => setSecret(x)} /> : null}
      {ask === 'delete' ? (
        <DeleteWebhook hook={h} onClose={() => setAsk(null)} onDeleted={() => go(props.ofBot ? 'bots' : 'webhooks')} />
      ) : null}
      {secret ? <SecretOnce hook={secret} rotated onClose={() => setSecret(null)} /> : null}
    </div>
  );
}

function Deliveries(props: { hook: Webhook; pings: number; onChange: () => void }) {
  const id = props.hook.id;
  const [state, setState] = useState<DeliveryState | ''>('');
  const deliveries = usePaged((before) => listWebhookDeliveries(id, state, before, PAGE), `${id}:${state}`);
  const refreshes = useRef(0);
  const pending = deliveries.items.some((d) => d.state === 'queued' || d.state === 'sending');
  const wasPending = useRef(false);

  const refresh = () => {
    refreshes.current = 0;
    deliveries.reload();
    props.onChange();
  };

  // A ping from the header's button: its delivery shows at once, then moves on.
  useEffect(() => {
    if (props.pings > 0) refresh();
  }, [props.pings]);

  // The last one on its way arrived or failed: the webhook's counts changed with it.
  useEffect(() => {
    if (wasPending.current && !pending) props.onChange();
    wasPending.current = pending;
  }, [pending]);

  // Follow deliveries that are still on their way, as long as only the first page is shown.
  useEffect(() => {
    if (!pending || deliveries.loading || deliveries.error || deliveries.items.length > PAGE) return;
    if (refreshes.current >= MAX_REFRESHES) return;
    const t = setTimeout(() => {
      refreshes.current++;
      deliveries.reload();
      props.onChange();
    }, REFRESH_MS);
    return () => clearTimeout(t);
  }, [pending, deliveries.loading, deliveries.error, deliveries.items]);

  const retry = async (d: WebhookDelivery) => {
    try {
      const again = await retryWebhookDelivery(id, d.id);
      deliveries.update((x) => x.id === d.id, state === '' || state === again.state ? again : null);
      refreshes.current = 0;
      props.onChange();
      toast('Delivery queued again', `Delivery ${d.id} (${d.event}) is sent again now.`);
    } catch (err) {
      toast('Could not retry the delivery', errorText(err), true);
      if (err instanceof PipitError && err.status === 409) deliveries.reload(); // it moved on meanwhile
    }
  };

  return (
    <section class="webhook-deliveries">
      <div class="section-head deliveries-head">
        <h2>Deliveries</h2>
        <div class="toolbar">
          <label class="filter">
            <span class="faint">State</span>
            <select class="input" value={state} onChange={(e) => setState(e.currentTarget.value as DeliveryState | '')} data-testid="delivery-state">
              {STATES.map((s) => (
                <option key={s.value} value={s.value}>
                  {s.label}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="btn" onClick={refresh} aria-label="Refresh deliveries">
            <Icon name="refresh" size={16} />
          </button>
        </div>
      </div>
      <ListState
        list={deliveries}
        more={deliveries.next !== null ? deliveries.loadMore : null}
        empty={
          <Empty card icon="send" title={state ? `No ${state} deliveries` : 'No deliveries yet'}>
            {state
              ? 'Delivered and failed ones are kept for a while (webhook_keep, 7 days by default), then deleted.'
              : 'Each event the webhook subscribes to becomes a delivery. Send a ping to try it.'}
          </Empty>
        }
      >
        {(items) => (
          <DataTable
            testid="deliveries-table"
            columns={['Delivery', 'State', { label: 'Attempts', num: true }, 'Last answer', 'When', { label: 'Actions', hidden: true }]}
          >
            {items.map((d) => (
              <DeliveryRow key={d.id} delivery={d} onRetry={() => retry(d)} />
            ))}
          </DataTable>
        )}
      </ListState>
    </section>
  );
}

export function DeliveryPill(props: { state: DeliveryState }) {
  switch (props.state) {
    case 'queued':
      return <Status tone="warn">Queued</Status>;
    case 'sending':
      return <Status tone="accent">Sending</Status>;
    case 'delivered':
      return <Status tone="ok">Delivered</Status>;
    case 'failed':
      return <Status tone="danger">Failed</Status>;
    default:
      return <Status tone="muted">{props.state}</Status>;
  }
}

/** When it happened, or when it will: delivered or given up at, the next attempt, or now. */
function when(d: WebhookDelivery): { text: string; title: string } {
  const at = (ms: number) => dateTime(ms);
  if (d.state === 'delivered' && d.finished_at !== null) return { text: `Delivered ${ago(d.finished_at)}`, title: at(d.finished_at) };
  if (d.state === 'failed' && d.finished_at !== null) return { text: `Gave up ${ago(d.finished_at)}`, title: at(d.finished_at) };
  if (d.state === 'queued' && d.next_at !== null) {
    const soon = d.next_at <= Date.now() + 1000;
    return { text: soon ? (d.attempts > 0 ? 'Next attempt now' : 'Sending soon') : `Next attempt ${ago(d.next_at)}`, title: at(d.next_at) };
  }
  if (d.state === 'sending') return { text: 'Being sent now', title: '' };
  return { text: `Created ${ago(d.created_at)}`, title: at(d.created_at) };
}

function DeliveryRow(props: { delivery: WebhookDelivery; onRetry: () => Promise<void> }) {
  const d = props.delivery;
  const [busy, setBusy] = useState(false);
  const w = when(d);
  const answered = d.last_status !== null;
  const good = answered && d.last_status! >= 200 && d.last_status! < 300;
  // The server's error repeats the status ("HTTP 500: <the answer's start>"): the column shows it once.
  const detail = answered && d.last_error !== null ? d.last_error.replace(/^HTTP \d+:? ?/, '') : d.last_error;
  return (
    <tr class={d.state === 'failed' ? 'row-failed' : ''} data-id={d.id} data-state={d.state}>
      <td data-label="Delivery" class="cell-main">
        <div class="who-text">
          <strong class="mono">{d.event}</strong>
          <span class="faint mono">
            #{d.id} · {ago(d.created_at)}
          </span>
        </div>
      </td>
      <td data-label="State">
        <DeliveryPill state={d.state} />
      </td>
      <td data-label="Attempts" class="num">
        {count(d.attempts)}
      </td>
      <td data-label="Last answer" class="delivery-answer">
        {!answered && !detail ? (
          <span class="faint">–</span>
        ) : (
          <div class="who-text">
            {answered ? (
              <span class={`mono${good ? '' : ' danger-text'}`} data-testid="last-status">
                HTTP {d.last_status}
              </span>
            ) : null}
            {detail ? (
              <span class="faint break" data-testid="last-error">
                {detail}
              </span>
            ) : null}
          </div>
        )}
      </td>
      <td data-label="When" class="muted nowrap" title={w.title}>
        {w.text}
      </td>
      <td class="cell-actions">
        {d.state === 'failed' ? (
          <button
            type="button"
            class="btn btn-sm"
            disabled={busy}
            aria-label={`Retry delivery ${d.id}`}
            onClick={async () => {
              setBusy(true);
              await props.onRetry();
              setBusy(false);
            }}
          >
            <Icon name="refresh" size={15} /> {busy ? 'Retrying…' : 'Retry'}
          </button>
        ) : null}
      </td>
    </tr>
  );
}
