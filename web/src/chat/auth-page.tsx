/*
 * Sign in, or create an account where the server allows it. Whether it does is
 * only known by trying: a 403 `registration_closed` hides the link for the rest
 * of this tab's life (sessionStorage, so a later change on the server is seen).
 * After the password may come a code or an enrolment (shared/signin-steps.tsx).
 */
import { useRef, useState } from 'preact/hooks';
import { PipitError, type Client, type Session as SdkSession } from '@pipit/sdk';
import { CredentialFields } from '../shared/credentials';
import { deviceName, newClient, type Session } from '../shared/session';
import { SecondStep, afterPassword, type NextStep } from '../shared/signin-steps';
import { errorText } from './format';

const CLOSED_KEY = 'pipit.registrationClosed';

export function AuthPage(props: { notice: string | null; onSignedIn: (s: Session) => void }) {
  const [mode, setMode] = useState<'signin' | 'register'>('signin');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [closed, setClosed] = useState(() => sessionStorage.getItem(CLOSED_KEY) === '1');
  const [second, setSecond] = useState<{ step: Exclude<NextStep, { kind: 'done' }>; client: Client } | null>(null);
  const userRef = useRef<HTMLInputElement>(null);

  const finish = async (client: Client, s: SdkSession) => {
    // The role tells the admin console apart; a failure here only costs that.
    const role = await client.me().then((me) => me.role, () => 'user');
    props.onSignedIn({ token: s.token, userId: s.user.id, username: s.user.username, role });
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    const client = newClient();
    try {
      const next = await afterPassword(() =>
        mode === 'signin' ? client.login(username.trim(), password, { device: deviceName() }) : client.register(username.trim(), password),
      );
      if (next.kind === 'done') {
        await finish(client, next.session);
      } else {
        setSecond({ step: next, client });
        setBusy(false);
      }
    } catch (err) {
      if (err instanceof PipitError && err.code === 'registration_closed') {
        sessionStorage.setItem(CLOSED_KEY, '1');
        setClosed(true);
        setMode('signin');
      }
      setError(errorText(err));
      setBusy(false);
    }
  };

  const switchMode = () => {
    setMode(mode === 'signin' ? 'register' : 'signin');
    setError(null);
    userRef.current?.focus();
  };

  const registering = mode === 'register';
  if (second) {
    return (
      <div class="auth-page">
        <main class="card auth-card" data-testid="auth-page">
          <div class="brand">
            <img src="/favicon.svg" alt="" />
            <span>pipit</span>
          </div>
          <SecondStep
            step={second.step}
            client={second.client}
            username={username.trim()}
            password={password}
            device={deviceName()}
            wide="auth-submit"
            onSignedIn={(s) => finish(second.client, s)}
            onBack={(why) => {
              setSecond(null);
              setError(why ?? null);
            }}
          />
        </main>
      </div>
    );
  }
  return (
    <div class="auth-page">
      <main class="card auth-card" data-testid="auth-page">
        <div class="brand">
          <img src="/favicon.svg" alt="" />
          <span>pipit</span>
        </div>
        <h1 class="auth-title">{registering ? 'Create your account' : 'Sign in'}</h1>
        <p
          class="muted auth-sub">{registering ? 'Pick a username and a password of 8 characters or more.' : 'Welcome back. Sign in to your chats.'}</p
        >
        {props.notice && !error ? (
          <p class="auth-notice" role="status">
            {props.notice}
          </p>
        ) : null}
        <form onSubmit={submit} noValidate>
          <CredentialFields
            username={username}
            password={password}
            onUsername={setUsername}
            onPassword={setPassword}
            newPassword={registering}
            usernameRef={userRef}
          />
          {error ? (
            <p class="error-text auth-error" role="alert">
              {error}
            </p>
          ) : null}
          <button class="btn btn-primary auth-submit" type="submit" disabled={busy || !username.trim() || !password}>
            {busy ? <span class="spinner spinner-on-accent" aria-hidden="true" /> : null}
            {registering ? 'Create account' : 'Sign in'}
          </button>
        </form>
        {!closed || registering ? (
          <p class="auth-switch muted">
            {registering ? 'Already have an account?' : 'New here?'}{' '}
            <button type="button" class="link-btn" onClick={switchMode}>
              {registering ? 'Sign in' : 'Create an account'}
            </button>
          </p>
        ) : null}
      </main>
    </div>
  );
}
