/*
 * One user: details, disable/enable, role, reset password, reset two-factor
 * authentication (for a lost phone), and their sessions (each a token, with the
 * device it was given, the address and when it was last used; revoke one or
 * all). Destructive actions ask first. An admin cannot lock themselves out, so
 * those buttons are off for "you" (the server refuses too).
 */
import { useState } from 'preact/hooks';
import { Avatar, toast } from '../shared/ui';
import {
  errorText,
  listSessions,
  patchUser,
  resetMfa,
  revokeAllSessions,
  revokeSession,
  setPassword,
  type AdminSession,
  type AdminUser,
} from './api';
import { Confirm, FormDialog } from './dialogs';
import { ago, dateTime } from './format';
import { useAsync } from './hooks';
import { ListState, asList } from './lists';
import { PasswordField } from './password';
import { Drawer, Status } from './widgets';

type Ask =
  | { kind: 'disable' }
  | { kind: 'role'; role: 'user' | 'admin' }
  | { kind: 'password' }
  | { kind: 'mfa' }
  | { kind: 'revoke'; session: AdminSession }
  | { kind: 'revoke-all' };

export function UserDrawer(props: { user: AdminUser; self: boolean; onChange: (u: AdminUser) => void; onClose: () => void }) {
  const u = props.user;
  const sessions = useAsync(() => listSessions(u.id), [u.id]);
  const [ask, setAsk] = useState<Ask | null>(null);
  const [busy, setBusy] = useState(false);

  const enable = async () => {
    setBusy(true);
    try {
      props.onChange(await patchUser(u.id, { disabled: false }));
      toast('User enabled', `${u.username} can sign in again.`);
    } catch (err) {
      toast('Could not enable the user', errorText(err), true);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Drawer
      title={u.username}
      sub={u.display_name ?? (u.role === 'admin' ? 'Administrator' : 'User')}
      onClose={props.onClose}
    >
      <div class="user-hero">
        <Avatar name={u.display_name || u.username} size="lg" online={u.online} />
        <div class="user-badges">
          {u.role === 'admin' ? <span class="tag tag-accent">Admin</span> : <span class="tag">User</span>}
          {u.disabled ? <Status tone="danger">Disabled</Status> : <Status tone="ok">Active</Status>}
          {u.online ? <Status tone="accent">Online</Status> : null}
        </div>
      </div>
      <dl class="kv">
        <dt>User id</dt>
        <dd class="mono">{u.id}</dd>
        <dt>Created</dt>
        <dd>{dateTime(u.created_at)}</dd>
        {u.disabled && u.disabled_at ? (
          <>
            <dt>Disabled since</dt>
            <dd>{dateTime(u.disabled_at)}</dd>
          </>
        ) : null}
        <dt>Last seen</dt>
        <dd>{u.online ? 'Online now' : u.last_seen ? `${dateTime(u.last_seen)} (${ago(u.last_seen)})` : 'Never'}</dd>
        {u.mfa_enabled !== undefined ? (
          <>
            <dt>Two-factor</dt>
            <dd data-testid="user-mfa">{u.mfa_enabled ? <Status tone="ok">MFA on</Status> : <Status tone="muted">MFA off</Status>}</dd>
          </>
        ) : null}
      </dl>

      <section class="drawer-section">
        <h3>Account</h3>
        {props.self ? <p class="faint">This is you: you cannot disable or demote yourself here.</p> : null}
        <div class="action-list">
          {u.disabled ? (
            <button type="button" class="btn" disabled={busy} onClick={enable}>
              Enable account
            </button>
          ) : (
            <button type="button" class="btn btn-danger" disabled={props.self} onClick={() => setAsk({ kind: 'disable' })}>
              Disable account
            </button>
          )}
          <button type="button" class="btn" onClick={() => setAsk({ kind: 'password' })}>
            Reset password
          </button>
          {u.mfa_enabled ? (
            <button type="button" class="btn" onClick={() => setAsk({ kind: 'mfa' })}>
              Reset MFA
            </button>
          ) : null}
          {u.role === 'admin' ? (
            <button type="button" class="btn" disabled={props.self} onClick={() => setAsk({ kind: 'role', role: 'user' })}>
              Remove admin role
            </button>
          ) : (
            <button type="button" class="btn" onClick={() => setAsk({ kind: 'role', role: 'admin' })}>
              Make admin
            </button>
          )}
        </div>
      </section>

      <section class="drawer-section">
        <div class="section-head">
          <h3>Sessions</h3>
          {sessions.data && sessions.data.length > 0 ? (
            <button type="button" class="btn btn-sm btn-danger" onClick={() => setAsk({ kind: 'revoke-all' })}>
              Revoke all
            </button>
          ) : null}
        </div>
        <ListState list={asList(sessions)} empty={<p class="muted">No active sessions: {u.username} is signed out everywhere.</p>}>
          {(items) => (
            <ul class="session-list" data-testid="sessions">
              {items.map((s) => (
                <li key={s.id} class="session">
                  <div class="session-text">
                    <strong>
                      {s.device ?? `Session ${s.id}`}
                      {s.online ? <span class="online-dot" title="connected now" /> : null}
                    </strong>
                    <div class="faint">
                      {[
                        s.ip,
                        s.online ? 'online now' : s.last_seen_at ? `last seen ${ago(s.last_seen_at)}` : null,
                        `signed in ${ago(s.created_at)}`,
                        `expires ${dateTime(s.expires_at)}`,
                      ]
                        .filter(Boolean)
                        .join(' · ')}
                    </div>
                  </div>
                  <button type="button" class="btn btn-sm" onClick={() => setAsk({ kind: 'revoke', session: s })}>
                    Revoke
                  </button>
                </li>
              ))}
            </ul>
          )}
        </ListState>
      </section>

      {ask?.kind === 'disable' ? (
        <Confirm
          title={`Disable ${u.username}?`}
          confirm="Disable account"
          danger
          onClose={() => setAsk(null)}
          onConfirm={async () => {
            props.onChange(await patchUser(u.id, { disabled: true }));
            sessions.reload();
            toast('User disabled', `${u.username} was signed out everywhere.`);
          }}
        >
          They are signed out on every device at once and cannot sign in until you enable the account again.
          Their messages and conversations stay.
        </Confirm>
      ) : null}
      {ask?.kind === 'role' ? (
        <Confirm
          title={ask.role === 'admin' ? `Make ${u.username} an admin?` : `Remove ${u.username}'s admin role?`}
          confirm={ask.role === 'admin' ? 'Make admin' : 'Remove admin role'}
          danger={ask.role === 'user'}
          onClose={() => setAsk(null)}
          onConfirm={async () => {
            props.onChange(await patchUser(u.id, { role: ask.role }));
            toast('Role changed', `${u.username} is now ${ask.role === 'admin' ? 'an admin' : 'a regular user'}.`);
          }}
        >
          {ask.role === 'admin'
            ? 'Admins can use this console: manage users, delete conversations, create API keys and send pushes.'
            : 'They keep their account and chats but can no longer use this console.'}
        </Confirm>
      ) : null}
      {ask?.kind === 'password' ? (
        <ResetPassword
          user={u}
          onClose={() => setAsk(null)}
          onDone={() => {
            setAsk(null);
            sessions.reload();
          }}
        />
      ) : null}
      {ask?.kind === 'mfa' ? (
        <Confirm
          title={`Reset ${u.username}'s two-factor authentication?`}
          confirm="Reset MFA"
          danger
          onClose={() => setAsk(null)}
          onConfirm={async () => {
            await resetMfa(u.id);
            props.onChange({ ...u, mfa_enabled: false });
            sessions.reload();
            toast('MFA reset', `${u.username} was signed out everywhere and signs in with the password alone.`);
          }}
        >
          For someone who lost their phone or authenticator app: two-factor authentication is turned off, their
          recovery codes stop working and they are signed out everywhere. They sign in again with their password alone
          and set it up anew (at once, where this server requires it). Make sure it is really them asking.
        </Confirm>
      ) : null}
      {ask?.kind === 'revoke' ? (
        <Confirm
          title="Revoke this session?"
          confirm="Revoke"
          danger
          onClose={() => setAsk(null)}
          onConfirm={async () => {
            await revokeSession(u.id, ask.session.id);
            sessions.reload();
            toast('Session revoked');
          }}
        >
          {ask.session.device ? `${ask.session.device} (session ${ask.session.id})` : `The device using session ${ask.session.id}`} is
          signed out at once.
        </Confirm>
      ) : null}
      {ask?.kind === 'revoke-all' ? (
        <Confirm
          title={`Sign ${u.username} out everywhere?`}
          confirm="Revoke all sessions"
          danger
          onClose={() => setAsk(null)}
          onConfirm={async () => {
            await revokeAllSessions(u.id);
            sessions.reload();
            toast('All sessions revoked', `${u.username} was signed out everywhere.`);
          }}
        >
          Every session of {u.username} ends now; open apps are disconnected. They can sign in again with their
          password.
        </Confirm>
      ) : null}
    </Drawer>
  );
}

function ResetPassword(props: { user: AdminUser; onClose: () => void; onDone: () => void }) {
  const [password, setPw] = useState('');
  const reset = async () => {
    await setPassword(props.user.id, password);
    toast('Password changed', `${props.user.username} was signed out everywhere.`);
    props.onDone();
  };
  return (
    <FormDialog
      title={`Reset ${props.user.username}'s password`}
      onClose={props.onClose}
      onSubmit={reset}
      action="Set password"
      busyLabel="Saving…"
      danger
    >
      <p class="muted confirm-text">Every session of theirs ends: they sign in again with the new password.</p>
      <PasswordField label="New password" hint="At least 8 characters." value={password} onInput={setPw} />
    </FormDialog>
  );
}
