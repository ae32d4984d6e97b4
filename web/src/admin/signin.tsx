/*
 * The sign-in page, the enrolment a policy requires of an admin who has no
 * two-factor authentication yet, and the "admins only" page a signed-in
 * non-admin sees. What comes after the password (a code, an enrolment) is the
 * chat app's too: shared/signin-steps.tsx.
 */
import type { Client } from '@pipit/sdk';
import { useState } from 'preact/hooks';
import { CredentialFields } from '../shared/credentials';
import { deviceName, newClient, saveSession, type Session } from '../shared/session';
import { EnrolCard, SecondStep, afterPassword, type NextStep } from '../shared/signin-steps';
import { ErrorText } from '../shared/ui';
import { errorText, setClient } from './api';
import { useFocusOnMount } from './hooks';
import { Icon } from './icons';
import { Brand } from './widgets';

const DEVICE = `${deviceName()} (admin console)`;

export function SignIn(props: { notice?: string | undefined; onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [second, setSecond] = useState<{ step: Exclude<NextStep, { kind: 'done' }>; client: Client } | null>(null);
  const first = useFocusOnMount<HTMLInputElement>();

  const finish = async (client: Client) => {
    const me = await client.me();
    const session: Session = { token: client.token!, userId: me.id, username: me.username, role: me.role };
    saveSession(session);
    setClient(client);
    props.onSignedIn(session);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    const client = newClient();
    try {
      const next = await afterPassword(() => client.login(username.trim(), password, { device: DEVICE }));
      if (next.kind === 'done') {
        await finish(client);
        return; // the page goes; the button stays busy until then
      }
      setSecond({ step: next, client });
    } catch (err) {
      setError(errorText(err));
    }
    setBusy(false);
  };

  if (second) {
    return (
      <main class="auth-page">
        <div class="card auth-card">
          <Brand />
          <SecondStep
            step={second.step}
            client={second.client}
            username={username.trim()}
            password={password}
            device={DEVICE}
            wide="btn-block"
            onSignedIn={() => finish(second.client)}
            onBack={(why) => {
              setSecond(null);
              setError(why ?? null);
            }}
          />
        </div>
      </main>
    );
  }

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

/** A saved session of an admin the policy now requires to enrol. */
export function EnrolFirst(props: { client: Client; session: Session; onDone: () => void; onSignOut: () => void }) {
  return (
    <main class="auth-page">
      <div class="card auth-card">
        <Brand />
        <EnrolCard client={props.client} username={props.session.username} wide="btn-block" onSignOut={props.onSignOut} onDone={props.onDone} />
      </div>
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
