/*
 * API keys for business servers: create (name + scopes), shown ONCE with a copy
 * button, list, revoke. The server keeps only a hash, so the modal says plainly
 * that the key cannot be shown again.
 */
import { useState } from 'preact/hooks';
import { Modal, toast } from '../shared/ui';
import { createKey, listKeys, revokeKey, type ApiKey, type Scope } from './api';
import { Confirm, FormDialog } from './dialogs';
import { ago, dateTime } from './format';
import { useAsync } from './hooks';
import { Icon } from './icons';
import { DataTable, ListState, asList } from './lists';
import { CopyField, Empty, PageHeader, Status } from './widgets';

const SCOPES: { scope: Scope; label: string; hint: string }[] = [
  { scope: 'push', label: 'push', hint: 'Send pushes and read their counts' },
  { scope: 'users', label: 'users', hint: 'Create users (role user only)' },
  { scope: 'admin', label: 'admin', hint: 'Everything an admin can do, including the two above' },
];

export function Keys() {
  const keys = useAsync(listKeys, []);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<(ApiKey & { key: string }) | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const active = keys.data?.filter((k) => k.revoked_at === null).length ?? 0;

  return (
    <div class="page">
      <PageHeader
        title="API keys"
        sub={
          keys.data && keys.data.length > 0
            ? `${active} active. Keys let your servers create users and send pushes.`
            : 'Keys let your servers create users and send pushes.'
        }
      >
        <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
          <Icon name="plus" size={16} /> New API key
        </button>
      </PageHeader>
      <ListState
        list={asList(keys)}
        empty={
          <Empty card icon="key" title="No API keys yet">
            A key lets a backend call pipit without a user's password.
            <div class="empty-action">
              <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
                Create a key
              </button>
            </div>
          </Empty>
        }
      >
        {(items) => (
          <DataTable testid="keys-table" columns={['Name', 'Scopes', 'Created', 'Last used', 'Status', { label: 'Actions', hidden: true }]}>
            {[...items].reverse().map((k) => (
              <KeyRow key={k.id} apiKey={k} onRevoke={() => setRevoking(k)} />
            ))}
          </DataTable>
        )}
      </ListState>
      {creating ? (
        <CreateKey
          onClose={() => setCreating(false)}
          onCreated={(k) => {
            setCreating(false);
            setCreated(k);
            keys.reload();
          }}
        />
      ) : null}
      {created ? <ShowKeyOnce created={created} onClose={() => setCreated(null)} /> : null}
      {revoking ? (
        <Confirm
          title={`Revoke “${revoking.name}”?`}
          confirm="Revoke key"
          danger
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await revokeKey(revoking.id);
            keys.reload();
            toast('Key revoked', `${revoking.name} stopped working.`);
          }}
        >
          Every request with this key fails from now on. A revoked key cannot be brought back: a server that still
          needs access gets a new key.
        </Confirm>
      ) : null}
    </div>
  );
}

function KeyRow(props: { apiKey: ApiKey; onRevoke: () => void }) {
  const k = props.apiKey;
  return (
    <tr class={k.revoked_at !== null ? 'row-dim' : ''}>
      <td data-label="Name" class="cell-main">
        <div class="who-text">
          <strong class="ellipsis">{k.name}</strong>
          <span class="faint mono">key {k.id}</span>
        </div>
      </td>
      <td data-label="Scopes">
        <span class="tags">
          {k.scopes.map((s) => (
            <span key={s} class={`tag mono${s === 'admin' ? ' tag-warn' : ''}`}>
              {s}
            </span>
          ))}
        </span>
      </td>
      <td data-label="Created" class="muted nowrap">
        {dateTime(k.created_at)}
      </td>
      <td data-label="Last used" class="muted nowrap">
        {k.last_used_at ? ago(k.last_used_at) : 'Never'}
      </td>
      <td data-label="Status">
        {k.revoked_at !== null ? <Status tone="muted">Revoked {ago(k.revoked_at)}</Status> : <Status tone="ok">Active</Status>}
      </td>
      <td class="cell-actions">
        {k.revoked_at === null ? (
          <button type="button" class="btn btn-sm btn-danger" onClick={props.onRevoke} aria-label={`Revoke ${k.name}`}>
            Revoke
          </button>
        ) : null}
      </td>
    </tr>
  );
}

function CreateKey(props: { onClose: () => void; onCreated: (k: ApiKey & { key: string }) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Set<Scope>>(new Set(['push']));

  const toggle = (s: Scope) => {
    const next = new Set(scopes);
    if (next.has(s)) next.delete(s);
    else next.add(s);
    setScopes(next);
  };

  const create = async () => {
    if (scopes.size === 0) throw new Error('Pick at least one scope.');
    props.onCreated(await createKey(name.trim(), SCOPES.map((x) => x.scope).filter((s) => scopes.has(s))));
  };

  return (
    <FormDialog title="New API key" onClose={props.onClose} onSubmit={create} action="Create key" busyLabel="Creating…" testid="create-key">
      <label class="field">
        <span>Name</span>
        <input
          class="input"
          required
          maxLength={100}
          placeholder="e.g. billing service"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <small class="faint">A label for people, to tell keys apart.</small>
      </label>
      <fieldset class="field checks">
        <legend>Scopes</legend>
        {SCOPES.map((s) => (
          <label key={s.scope} class="check">
            <input type="checkbox" checked={scopes.has(s.scope)} onChange={() => toggle(s.scope)} />
            <span>
              <strong class="mono">{s.label}</strong>
              <span class="faint"> — {s.hint}</span>
            </span>
          </label>
        ))}
      </fieldset>
    </FormDialog>
  );
}

function ShowKeyOnce(props: { created: ApiKey & { key: string }; onClose: () => void }) {
  return (
    <Modal title="Copy your new API key" onClose={props.onClose}>
      <div class="key-once" data-testid="key-once">
        <div class="warn-box" role="note">
          <Icon name="warn" />
          <span>
            This is the only time the key is shown. pipit keeps only a hash of it, so copy it now and store it like a
            password.
          </span>
        </div>
        <label class="field">
          <span>{props.created.name}</span>
          <CopyField value={props.created.key} label="API key" primary testid="key-value" />
        </label>
        <p class="faint">
          Send it as <span class="mono">Authorization: Bearer pk_…</span>. Scopes: {props.created.scopes.join(', ')}.
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
