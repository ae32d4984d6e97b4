/*
 * The before-send hook (#/webhooks/before-send; GET/PUT/DELETE
 * /v1/admin/before-send): one URL of the app's asked about each new message
 * before it is stored, which allows it, refuses it with a reason or replaces
 * its text. Its own page rather than a panel of the Webhooks list: an app
 * without a hook answers 404, and the list should not log one on every visit.
 * Set up, edit (URL, time limit, fallback), rotate the secret, remove; the
 * signing secret is shown ONCE, after the first save and after a rotation, like
 * a webhook's.
 */
import { useState } from 'preact/hooks';
import { Modal, toast } from '../shared/ui';
import {
  deleteBeforeSend,
  getBeforeSend,
  putBeforeSend,
  rotateBeforeSendSecret,
  type BeforeSend,
  type BeforeSendFallback,
  type BeforeSendWithSecret,
} from './api';
import { Confirm, FormDialog } from './dialogs';
import { count, dateTime } from './format';
import { useAsync } from './hooks';
import { Icon } from './icons';
import { CopyField, Empty, ErrorBox, Loading, PageHeader, Status } from './widgets';

const FALLBACKS: { value: BeforeSendFallback; label: string; hint: string }[] = [
  {
    value: 'allow',
    label: 'Let messages through',
    hint: 'Unchecked while your server is away: the chat keeps working. For checks that help (a filter, a classifier).',
  },
  {
    value: 'reject',
    label: 'Refuse messages',
    hint: 'Every message is refused until your server answers again: the chat is down whenever it is. Only when an unchecked message must never be stored.',
  },
];

type Ask = 'edit' | 'rotate' | 'remove';

/** The hook's settings without the secret, which is only ever shown, never kept. */
function settings(h: BeforeSend & { secret?: string }): BeforeSend {
  return { url: h.url, timeout_ms: h.timeout_ms, fallback: h.fallback, updated_at: h.updated_at };
}

export function BeforeSendPage() {
  const load = useAsync(getBeforeSend, []);
  // After a save or a removal this page knows better than the first load.
  const [changed, setChanged] = useState<BeforeSend | null | undefined>(undefined);
  const [ask, setAsk] = useState<Ask | null>(null);
  const [secret, setSecret] = useState<{ hook: BeforeSendWithSecret; rotated: boolean } | null>(null);
  const hook = changed !== undefined ? changed : load.data;
  const ready = changed !== undefined || (!load.loading && load.error === null);

  return (
    <div class="page" data-testid="before-send">
      <PageHeader
        title="Before-send hook"
        back="#/webhooks"
        sub="Your server is asked about each new message before it is stored: let it through, refuse it with a reason, or replace its text."
      >
        {ready && hook ? (
          <>
            <button type="button" class="btn" onClick={() => setAsk('edit')}>
              Edit
            </button>
            <button type="button" class="btn" onClick={() => setAsk('rotate')}>
              <Icon name="key" size={16} /> Rotate secret
            </button>
            <button type="button" class="btn btn-danger" onClick={() => setAsk('remove')}>
              <Icon name="trash" size={16} /> Remove
            </button>
          </>
        ) : null}
      </PageHeader>
      {!ready ? (
        load.error ? (
          <ErrorBox message={load.error} onRetry={load.reload} />
        ) : (
          <Loading />
        )
      ) : hook ? (
        <section class="card panel" data-testid="before-send-facts">
          <dl class="kv">
            <dt>Status</dt>
            <dd>
              <Status tone="ok">Checking every new message</Status>
            </dd>
            <dt>URL</dt>
            <dd class="mono break" data-testid="before-send-url">
              {hook.url}
            </dd>
            <dt>Time limit</dt>
            <dd>{count(hook.timeout_ms)} ms</dd>
            <dt>If it cannot be asked</dt>
            <dd data-testid="before-send-fallback">
              {hook.fallback === 'reject' ? (
                <span class="danger-text">Messages are refused</span>
              ) : (
                'Messages go through unchecked'
              )}
            </dd>
            <dt>Changed</dt>
            <dd>{dateTime(hook.updated_at)}</dd>
          </dl>
          <p class="faint hook-note">
            Only new messages are asked about (not edits, recalls or streamed text), and each one waits for the answer: keep
            the hook close and quick. The request and answers are in docs/operations.md, “Before-send hook”.
          </p>
        </section>
      ) : (
        <Empty card icon="shield" title="No before-send hook">
          Every message is stored as sent. A hook lets your server keep phone numbers or customer data out of chats, or
          apply a rule pipit does not know, before anyone sees the message.
          <div class="empty-action">
            <button type="button" class="btn btn-primary" onClick={() => setAsk('edit')}>
              Set up the hook
            </button>
          </div>
        </Empty>
      )}
      {ask === 'edit' ? (
        <HookForm
          hook={hook ?? null}
          onClose={() => setAsk(null)}
          onSaved={(saved) => {
            setAsk(null);
            setChanged(settings(saved));
            if (saved.secret) setSecret({ hook: { ...settings(saved), secret: saved.secret }, rotated: false });
            else toast('Hook saved', saved.url);
          }}
        />
      ) : null}
      {ask === 'rotate' ? (
        <Confirm
          title="Rotate the hook’s secret?"
          confirm="Rotate secret"
          danger
          onClose={() => setAsk(null)}
          onConfirm={async () => {
            const rotated = await rotateBeforeSendSecret();
            setChanged(settings(rotated));
            setSecret({ hook: rotated, rotated: true });
          }}
        >
          A new secret is made and shown once. The current one stops signing at once: until your server has the new one, it
          should refuse the requests, and every message takes the fallback.
        </Confirm>
      ) : null}
      {ask === 'remove' ? (
        <Confirm
          title="Remove the before-send hook?"
          confirm="Remove hook"
          danger
          onClose={() => setAsk(null)}
          onConfirm={async () => {
            await deleteBeforeSend();
            setChanged(null);
            toast('Hook removed', 'Messages are no longer checked.');
          }}
        >
          Messages are no longer checked, from now on: each is stored as sent. Its secret goes too; setting a hook up again
          makes a new one.
        </Confirm>
      ) : null}
      {secret ? <HookSecretOnce hook={secret.hook} rotated={secret.rotated} onClose={() => setSecret(null)} /> : null}
    </div>
  );
}

/** Set up (no `hook`) or edit: the URL always, with the time limit and the fallback. */
function HookForm(props: { hook: BeforeSend | null; onClose: () => void; onSaved: (h: BeforeSend & { secret?: string }) => void }) {
  const old = props.hook;
  const [url, setUrl] = useState(old?.url ?? '');
  const [timeout, setTimeoutMs] = useState(String(old?.timeout_ms ?? 2000));
  const [fallback, setFallback] = useState<BeforeSendFallback>(old?.fallback ?? 'allow');

  const save = async () => {
    props.onSaved(await putBeforeSend({ url: url.trim(), timeout_ms: Number(timeout), fallback }));
  };

  return (
    <FormDialog
      title={old ? 'Edit the before-send hook' : 'Set up the before-send hook'}
      onClose={props.onClose}
      onSubmit={save}
      action={old ? 'Save' : 'Set up hook'}
      busyLabel="Saving…"
      testid="before-send-form"
    >
      <label class="field">
        <span>URL</span>
        <input
          class="input mono"
          type="url"
          name="url"
          required
          maxLength={2048}
          placeholder="https://policy.example.com/pipit/before-send"
          value={url}
          onInput={(e) => setUrl(e.currentTarget.value)}
        />
        <small class="faint">
          Each new message is POSTed here, signed, and waits for the answer. <span class="mono">https://</span>, on a public
          address unless the server allows private ones.
        </small>
      </label>
      <label class="field">
        <span>Time limit (ms)</span>
        <input
          class="input narrow"
          type="number"
          name="timeout_ms"
          required
          min={100}
          max={10000}
          step={1}
          inputMode="numeric"
          value={timeout}
          onInput={(e) => setTimeoutMs(e.currentTarget.value)}
        />
        <small class="faint">100 to 10000, connecting included: a little above the hook's slowest normal answer.</small>
      </label>
      <fieldset class="field checks">
        <legend>When the hook cannot be asked (down, too slow, a bad answer)</legend>
        {FALLBACKS.map((f) => (
          <label key={f.value} class="check">
            <input type="radio" name="fallback" value={f.value} checked={fallback === f.value} onChange={() => setFallback(f.value)} />
            <span>
              <strong>{f.label}</strong>
              <span class="faint"> — {f.hint}</span>
            </span>
          </label>
        ))}
      </fieldset>
    </FormDialog>
  );
}

/** The secret, once: after the first save, or after a rotation. */
function HookSecretOnce(props: { hook: BeforeSendWithSecret; rotated: boolean; onClose: () => void }) {
  return (
    <Modal title={props.rotated ? 'Copy the new signing secret' : 'Copy the signing secret'} onClose={props.onClose}>
      <div class="key-once" data-testid="before-send-secret-once">
        <div class="warn-box" role="note">
          <Icon name="warn" />
          <span>
            This is the only time the secret is shown: copy it now and store it like a password.
            {props.rotated ? ' The old secret no longer signs requests: give your hook this one.' : ''}
          </span>
        </div>
        <label class="field">
          <span class="mono break">{props.hook.url}</span>
          <CopyField value={props.hook.secret} label="Signing secret" primary testid="before-send-secret" />
        </label>
        <p class="faint">
          Each request carries <span class="mono">X-Pipit-Signature: t=…,v1=…</span>, an HMAC-SHA256 with this secret of the
          timestamp, a dot and the body, made as a webhook's. The hook should refuse a request that fails the check.
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
