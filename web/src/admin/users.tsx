/*
 * Users: search, a table with role, status and presence, create, and a drawer
 * per user for the rest (disable/enable, role, reset password, sessions).
 */
import { useState } from 'preact/hooks';
import { Avatar, toast } from '../shared/ui';
import { createUser, listUsers, type AdminUser } from './api';
import { FormDialog } from './dialogs';
import { ago, dateTime } from './format';
import { useDebounced, usePaged } from './hooks';
import { Icon } from './icons';
import { DataTable, ListState } from './lists';
import { PasswordField } from './password';
import { UserDrawer } from './user-drawer';
import { Empty, PageHeader, SearchBar, Status } from './widgets';

export function Users(props: { self: number }) {
  const [q, setQ] = useState('');
  const query = useDebounced(q.trim());
  const users = usePaged((after) => listUsers(query, after), query);
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<AdminUser | null>(null);

  return (
    <div class="page">
      <PageHeader title="Users" sub="Everyone with an account on this server.">
        <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
          <Icon name="plus" size={16} /> New user
        </button>
      </PageHeader>
      <SearchBar value={q} onInput={setQ} label="Search users" placeholder="Search by username or name" busy={users.loading && users.items.length > 0} />
      <ListState
        list={users}
        more={users.next !== null ? users.loadMore : null}
        empty={
          <Empty card icon="users" title={query ? `No user matches “${query}”` : 'No users yet'}>
            {query ? 'Try part of a username or a display name.' : 'Create the first one with “New user”.'}
          </Empty>
        }
      >
        {(items) => (
          <DataTable testid="users-table" columns={['User', 'Role', 'Status', 'Presence', 'Created', { label: 'Actions', hidden: true }]}>
            {items.map((u) => (
              <UserRow key={u.id} user={u} self={u.id === props.self} onOpen={() => setOpen(u)} />
            ))}
          </DataTable>
        )}
      </ListState>
      {creating ? (
        <CreateUser
          onClose={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            users.reload();
          }}
        />
      ) : null}
      {open ? (
        <UserDrawer
          user={open}
          self={open.id === props.self}
          onChange={(u) => {
            setOpen(u);
            users.update((x) => x.id === u.id, u);
          }}
          onClose={() => setOpen(null)}
        />
      ) : null}
    </div>
  );
}

function UserRow(props: { user: AdminUser; self: boolean; onOpen: () => void }) {
  const u = props.user;
  return (
    <tr class={u.disabled ? 'row-dim' : ''}>
      <td data-label="User" class="cell-main">
        <div class="who-cell">
          <Avatar name={u.display_name || u.username} size="sm" online={u.online} />
          <div class="who-text">
            <strong>
              {u.username}
              {props.self ? <span class="faint"> (you)</span> : null}
            </strong>
            {u.display_name ? <span class="faint">{u.display_name}</span> : null}
          </div>
        </div>
      </td>
      <td data-label="Role">{u.role === 'admin' ? <span class="tag tag-accent">Admin</span> : <span class="tag">User</span>}</td>
      <td data-label="Status">{u.disabled ? <Status tone="danger">Disabled</Status> : <Status tone="ok">Active</Status>}</td>
      <td data-label="Presence">
        {u.online ? (
          <Status tone="accent">Online</Status>
        ) : (
          <span class="muted">{u.last_seen ? `Seen ${ago(u.last_seen)}` : 'Never seen'}</span>
        )}
      </td>
      <td data-label="Created" class="muted nowrap">
        {dateTime(u.created_at)}
      </td>
      <td class="cell-actions">
        <button type="button" class="btn btn-sm" onClick={props.onOpen} aria-label={`Manage ${u.username}`}>
          Manage
        </button>
      </td>
    </tr>
  );
}

function CreateUser(props: { onClose: () => void; onCreated: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<'user' | 'admin'>('user');

  const create = async () => {
    const made = await createUser(username.trim(), password, role);
    toast('User created', `${made.username} can sign in now.`);
    props.onCreated();
  };

  return (
    <FormDialog title="New user" onClose={props.onClose} onSubmit={create} action="Create user" busyLabel="Creating…" testid="create-user">
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
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <small class="faint">1 to 64 letters, digits, “.”, “_” or “-”.</small>
      </label>
      <PasswordField label="Password" hint="At least 8 characters. Share it with the user over a safe channel." value={password} onInput={setPassword} />
      <label class="field">
        <span>Role</span>
        <select class="input" value={role} onChange={(e) => setRole(e.currentTarget.value as 'user' | 'admin')}>
          <option value="user">User — uses the chat app</option>
          <option value="admin">Admin — can also use this console</option>
        </select>
      </label>
    </FormDialog>
  );
}
