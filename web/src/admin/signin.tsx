/*
 * The sign-in page and the "admins only" page a signed-in non-admin sees.
 */
import { useState } from 'preact/hooks';
import { CredentialFields } from '../shared/credentials';
import { newClient, saveSession, type Session } from '../shared/session';
import { setClient } from './api';
import { useFocusOnMount, useSubmit } from './hooks';
import { Icon } from './icons';
import { Brand } from './widgets';
import { ErrorText } from '../shared/ui';

export function SignIn(props: { notice?: string | undefined; onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const first = useFocusOnMount<HTMLInputElement>();
  const { busy, error, submit } = useSubmit(async () => {
    const client = newClient();
    const s = await client.login(username.trim(), password);
    const me = await client.me();
    const session: Session = { token: s.token, userId: me.id, username: me.username, role: me.role };
    saveSession(session);
    setClient(client);
    props.onSignedIn(session);
  });

  return (
    <main class="auth-page">
      <form class="card auth-card" onSubmit={submit} aria-labelledby="signin-title">
        <Brand />
        <h1 id="signin-title" class="auth-title">Sign in to the console</h1>
        <p class="muted auth-sub">Manage users, conversations, API keys and pushes.</p>
        {props.notice && !error ? <p class="notice">{props.notice}</p> : null}
        <CredentialFields
          username={username}
          password={password}
          onUsername={setUsername}
          onPassword={setPassword}
          usernameRef={first}
        />
        <ErrorText error={error} />
        <button type="submit" class="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="faint auth-foot">
          Looking for your chats? <a href="/">Open the chat app</a>
        </p>
      </form>
    </main>
  );
}

export function NotAdmin(props: { session: Session; onSignOut: () => void }) {
  return (
    <main class="auth-page">
      <div class="card auth-card" data-testid="not-admin">
        <Brand />
        <span class="lock-badge">
          <Icon name="lock" size={22} />
        </span>
        <h1 class="auth-title">Admins only</h1>
        <p class="muted auth-sub">
          You are signed in as <strong>{props.session.username}</strong>, who is not an administrator of this
          server. The console is for admins; your chats are in the chat app.
        </p>
        <a class="btn btn-primary btn-block" href="/">
          Open the chat app
        </a>
        <button type="button" class="btn btn-ghost btn-block" onClick={props.onSignOut}>
          Sign out and use another account
        </button>
      </div>
    </main>
  );
}
