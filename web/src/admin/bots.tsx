/*
 * Bots: accounts the app's own programs sign in as, with an API key of their
 * own instead of a password; a bot joins conversations and sends like any
 * member. A list; create (username, name, an optional webhook), with the key,
 * and the new webhook's signing secret, shown ONCE like an API key's: the server
 * keeps only a hash of the key and gives the secret only in that answer. Edit
 * the name and the webhook's URL (or remove it), a new key, disable; each asks
 * first where something stops working. A bot's webhook is told of the messages
 * of its conversations; its deliveries are on the webhook's page
 * (#/webhooks/{id}/bot, webhook-detail.tsx).
 */
import { useState } from 'preact/hooks';
import { Avatar, Modal, toast } from '../shared/ui';
import { createBot, disableBot, listBots, newBotKey, patchBot, type Bot, type BotPatch } from './api';
import { Confirm, FormDialog } from './dialogs';
import { dateTime } from './format';
import { usePaged } from './hooks';
import { Icon } from './icons';
import { DataTable, ListState } from './lists';
import { CopyField, Empty, PageHeader, Status } from './widgets';

/** What the server shows once: a key (a new bot, a new key), a webhook's secret (a new webhook), or both. */
interface Once {
  bot: Bot;
  key?: string;
  secret?: string;
}

/** The bot's name for people: its display name, else its username. */
export function botName(b: Bot): string {
  return b.display_name || b.username;
}

export function Bots() {
  const bots = usePaged((after) => listBots(after), '');
  const [creating, setCreating] = useState(false);
  const [once, setOnce] = useState<Once | null>(null);
  const [editing, setEditing] = useState<Bot | null>(null);
  const [keying, setKeying] = useState<Bot | null>(null);
  const [disabling, setDisabling] = useState<Bot | null>(null);
  const replace = (b: Bot) => bots.update((x) => x.id === b.id, b);

  return (
    <div class="page">
      <PageHeader title="Bots" sub="Accounts your programs sign in as, with a key of their own: they join conversations and send like members.">
        <a class="btn" href="#/assistant">
          <Icon name="sparkle" size={16} /> AI assistant
        </a>
        <button type="button" class="btn" onClick={bots.reload} aria-label="Refresh">
          <Icon name="refresh" size={16} />
        </button>
        <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
          <Icon name="plus" size={16} /> New bot
        </button>
      </PageHeader>
      <ListState
        list={bots}
        more={bots.next !== null ? bots.loadMore : null}
        empty={
          <Empty card icon="bot" title="No bots yet">
            A bot signs in with an API key and takes part in conversations like a member: a help desk, a notifier, an
            integration.
            <div class="empty-action">
              <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
                Create a bot
              </button>
            </div>
          </Empty>
        }
      >
        {(items) => (
          <DataTable testid="bots-table" columns={['Bot', 'Webhook', 'Created', 'Status', { label: 'Actions', hidden: true }]}>
            {items.map((b) => (
              <BotRow
                key={b.id}
                bot={b}
                onEdit={() => setEditing(b)}
                onKey={() => setKeying(b)}
                onDisable={() => setDisabling(b)}
              />
            ))}
          </DataTable>
        )}
      </ListState>
      {creating ? (
        <BotForm
          onClose={() => setCreating(false)}
          onSaved={(made) => {
            setCreating(false);
            setOnce(made);
            bots.reload();
          }}
        />
      ) : null}
      {editing ? (
        <BotForm
          bot={editing}
          onClose={() => setEditing(null)}
          onSaved={(saved) => {
            setEditing(null);
            replace(saved.bot);
            if (saved.secret) setOnce(saved); // a new webhook: its secret, once
            else toast('Bot saved', botName(saved.bot));
          }}
        />
      ) : null}
      {once ? <ShowOnce once={once} onClose={() => setOnce(null)} /> : null}
      {keying ? (
        <Confirm
          title={`Make a new key for “${botName(keying)}”?`}
          confirm="Make a new key"
          danger
          onClose={() => setKeying(null)}
          onConfirm={async () => {
            const made = await newBotKey(keying.id);
            replace(made.bot);
            setOnce({ bot: made.bot, key: made.key });
          }}
        >
          A new key is made and shown once. The bot's current key stops working at once: the program that uses it is
          refused until it has the new one.
        </Confirm>
      ) : null}
      {disabling ? (
        <Confirm
          title={`Disable “${botName(disabling)}”?`}
          confirm="Disable bot"
          danger
          onClose={() => setDisabling(null)}
          onConfirm={async () => {
            await disableBot(disabling.id);
            replace({ ...disabling, disabled: true, webhook: null });
            toast('Bot disabled', `${botName(disabling)} is signed out and its key no longer works.`);
          }}
        >
          It is signed out at once and its key stops working.
          {disabling.webhook ? ' Its webhook is deleted, with its delivery history.' : ''} Its messages stay. To use it
          again, enable it on the Users page, then make it a new key here.
        </Confirm>
      ) : null}
    </div>
  );
}

function BotRow(props: { bot: Bot; onEdit: () => void; onKey: () => void; onDisable: () => void }) {
  const b = props.bot;
  const name = botName(b);
  return (
    <tr class={b.disabled ? 'row-dim' : ''} data-id={b.id}>
      <td data-label="Bot" class="cell-main">
        <div class="who-cell">
          <Avatar name={name} size="sm" />
          <div class="who-text">
            <strong class="ellipsis">{name}</strong>
            <span class="faint mono">@{b.username}</span>
          </div>
        </div>
      </td>
      <td data-label="Webhook">
        {b.webhook ? (
          <a href={`#/webhooks/${b.webhook.id}/bot`} class="mono ellipsis webhook-url" title={b.webhook.url} data-testid="bot-webhook">
            {b.webhook.url}
          </a>
        ) : (
          <span class="faint">None</span>
        )}
      </td>
      <td data-label="Created" class="muted nowrap">
        {dateTime(b.created_at)}
      </td>
      <td data-label="Status">{b.disabled ? <Status tone="muted">Disabled</Status> : <Status tone="ok">Active</Status>}</td>
      <td class="cell-actions">
        {b.disabled ? null : (
          <div class="row-actions">
            {b.webhook ? (
              <a class="btn btn-sm" href={`#/webhooks/${b.webhook.id}/bot`} aria-label={`Webhook deliveries of ${name}`}>
                Deliveries
              </a>
            ) : null}
            <button type="button" class="btn btn-sm" onClick={props.onEdit} aria-label={`Edit ${name}`}>
              Edit
            </button>
            <button type="button" class="btn btn-sm" onClick={props.onKey} aria-label={`New key for ${name}`}>
              <Icon name="key" size={15} /> New key
            </button>
            <button type="button" class="btn btn-sm btn-ghost danger-text" onClick={props.onDisable} aria-label={`Disable ${name}`}>
              Disable
            </button>
          </div>
        )}
      </td>
    </tr>
  );
}

/**
 * Create (no `bot`) or edit. Creating answers with the key (and the webhook's
 * secret, when a URL was given); an edit sends only what changed, and answers
 * with a secret only when it gave the bot a webhook it did not have.
 */
function BotForm(props: { bot?: Bot; onClose: () => void; onSaved: (o: Once) => void }) {
  const old = props.bot;
  const [username, setUsername] = useState('');
  const [display, setDisplay] = useState(old?.display_name ?? '');
  const [url, setUrl] = useState(old?.webhook?.url ?? '');
  const removing = old?.webhook != null && url.trim() === '';

  const save = async () => {
    const name = display.trim();
    const hook = url.trim();
    if (!old) {
      const made = await createBot({
        username: username.trim(),
        ...(name !== '' ? { display_name: name } : {}),
        ...(hook !== '' ? { webhook_url: hook } : {}),
      });
      props.onSaved({ bot: made.bot, key: made.key, ...(made.webhook_secret ? { secret: made.webhook_secret } : {}) });
      return;
    }
    const patch: BotPatch = {};
    if (name !== (old.display_name ?? '')) patch.display_name = name === '' ? null : name;
    if (old.webhook ? hook !== old.webhook.url : hook !== '') patch.webhook_url = hook === '' ? null : hook;
    if (Object.keys(patch).length === 0) {
      props.onSaved({ bot: old });
      return;
    }
    const saved = await patchBot(old.id, patch);
    props.onSaved({ bot: saved.bot, ...(saved.webhook_secret ? { secret: saved.webhook_secret } : {}) });
  };

  return (
    <FormDialog
      title={old ? `Edit ${botName(old)}` : 'New bot'}
      onClose={props.onClose}
      onSubmit={save}
      action={old ? 'Save' : 'Create bot'}
      busyLabel={old ? 'Saving…' : 'Creating…'}
      testid={old ? 'edit-bot' : 'create-bot'}
    >
      {old ? null : (
        <label class="field">
          <span>Username</span>
          <input
            class="input"
            name="username"
            required
            maxLength={64}
            pattern="[A-Za-z0-9._\-]+"
            title="Letters, digits, dot, underscore or dash"
            autocomplete="off"
            placeholder="e.g. helpdesk"
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
          <small class="faint">How members find and mention it: 1 to 64 letters, digits, “.”, “_” or “-”.</small>
        </label>
      )}
      <label class="field">
        <span>Display name (optional)</span>
        <input
          class="input"
          name="display_name"
          maxLength={256}
          placeholder="e.g. Help desk"
          value={display}
          onInput={(e) => setDisplay(e.currentTarget.value)}
        />
      </label>
      <div class="field">
        <span id="bot-webhook-label">Webhook URL (optional)</span>
        <div class="input-row">
          <input
            class="input mono"
            type="url"
            name="webhook_url"
            maxLength={2048}
            placeholder="https://helpdesk.example.com/pipit-bot"
            aria-labelledby="bot-webhook-label"
            value={url}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
          {old?.webhook && !removing ? (
            <button type="button" class="btn" onClick={() => setUrl('')} aria-label="Remove the webhook">
              Remove
            </button>
          ) : null}
        </div>
        {removing ? (
          <small class="danger-text" data-testid="webhook-removal">
            Saving removes the bot's webhook, with its delivery history.
          </small>
        ) : (
          <small class="faint">
            Where the messages of the bot's conversations are POSTed, signed (the bot's own are left out).{' '}
            <span class="mono">https://</span>, on a public address unless the server allows private ones.
          </small>
        )}
      </div>
    </FormDialog>
  );
}

/** The key and the webhook's secret, once: after a create, a new key, or a new webhook. */
function ShowOnce(props: { once: Once; onClose: () => void }) {
  const { bot, key, secret } = props.once;
  const both = key !== undefined && secret !== undefined;
  return (
    <Modal title={key !== undefined ? 'Copy the bot’s key' : 'Copy the webhook’s signing secret'} onClose={props.onClose}>
      <div class="key-once" data-testid="bot-once">
        <div class="warn-box" role="note">
          <Icon name="warn" />
          <span>
            {both ? 'The key and the signing secret are' : key !== undefined ? 'The key is' : 'The secret is'} shown only
            once: pipit cannot show {both ? 'them' : 'it'} again, so copy {both ? 'them' : 'it'} now and store{' '}
            {both ? 'them' : 'it'} like a password.
          </span>
        </div>
        {key !== undefined ? (
          <label class="field">
            <span>API key of @{bot.username}</span>
            <CopyField value={key} label="Bot API key" primary testid="bot-key" />
            <small class="faint">
              The bot signs in with it: <span class="mono">Authorization: Bearer pk_…</span> on REST, and as the token
              of the WebSocket's <span class="mono">auth</span>.
            </small>
          </label>
        ) : null}
        {secret !== undefined ? (
          <label class="field">
            <span>Webhook signing secret</span>
            <CopyField value={secret} label="Webhook signing secret" primary={key === undefined} testid="bot-webhook-secret" />
            <small class="faint">
              Each delivery carries <span class="mono">X-Pipit-Signature: t=…,v1=…</span>, an HMAC-SHA256 with this secret,
              checked like any webhook's.
            </small>
          </label>
        ) : null}
      </div>
      <div class="modal-actions">
        <button type="button" class="btn" onClick={props.onClose}>
          I have saved {both ? 'them' : 'it'}
        </button>
      </div>
    </Modal>
  );
}
